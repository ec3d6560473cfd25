"""The arguments of the Azure Network, declared once (see :mod:`shardstack.specs`): the resource group, the VNet
and node subnet it creates, or the ones created elsewhere it uses. Generated into ``shardstack/azure/args.py`` with
the other Azure specs (:data:`shardstack.azure.specs.ARGS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from shardstack.azure.arm import SUBNET_ID, SUBNET_ID_EXAMPLE, parent_vnet_id
from shardstack.azure.kinds import (
    GROUP_NAME,
    REGION,
    RESOURCE_GROUP,
    SUBNET,
    TAGS,
    VNET,
    PrivateRange,
    range_block,
    shown_range,
)
from shardstack.specs.kinds import Record
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

DEFAULT_CIDR_BLOCK = "10.224.0.0/12"
"""The address space AKS gives the VNets it manages itself: clear of AKS's default pod and service ranges."""
DEFAULT_NODE_SUBNET_CIDR = "10.224.0.0/20"
"""4,091 node addresses (Azure keeps 5 of every subnet): plenty with overlay pod addresses, and most of the
VNet stays free for other subnets (private endpoints, a bastion)."""
CIDR_BLOCK_PREFIXES = (8, 24)
"""Largest and smallest VNet address space accepted."""
NODE_SUBNET_PREFIXES = (16, 27)
"""Largest and smallest node subnet: a /27 (27 usable addresses) still holds a few nodes and their surge
nodes during upgrades; a /16 is more than the 5,000 nodes an overlay cluster may have."""
CREATION_ARGS = ("resource_group_name", "cidr_block", "node_subnet_cidr")
"""Arguments that shape a network the Network creates, meaningless with ``existing``."""


def _subnet_in_vnet(values: Values) -> Iterator[Problem]:
    vnet_id, subnet_id = values.get("vnet_id"), values.get("node_subnet_id")
    if not (isinstance(vnet_id, str) and isinstance(subnet_id, str) and SUBNET_ID.fullmatch(subnet_id)):
        return
    if parent_vnet_id(subnet_id).lower() != vnet_id.lower():
        yield Problem(
            ("node_subnet_id",),
            f"is in virtual network {parent_vnet_id(subnet_id)!r}, not in vnet_id={vnet_id!r}: give the subnet's "
            "own VNet, or leave vnet_id out",
        )


EXISTING_NETWORK = Spec(
    "ExistingNetwork",
    "A resource group and a node subnet created elsewhere (e.g. a hub-and-spoke VNet), used as they are.",
    (
        Arg(
            "resource_group_name",
            RESOURCE_GROUP,
            "The resource group the cluster and the other Shardstack resources go in, e.g. 'shardstack-prod'. It may "
            "differ from the subnet's own group.",
            required=True,
        ),
        Arg(
            "vnet_id",
            VNET,
            "Resource ID of the subnet's virtual network.",
            default_doc="derived from ``node_subnet_id``",
        ),
        Arg(
            "node_subnet_id",
            SUBNET,
            f"Resource ID of the subnet for the AKS nodes, e.g. {SUBNET_ID_EXAMPLE}. It needs the "
            "``Microsoft.Storage`` service endpoint when a weight store's firewall admits it (AzureInstallation's "
            "does): Azure refuses a storage network rule for a subnet without it.",
            required=True,
        ),
    ),
    rules=(Rule(("vnet_id", "node_subnet_id"), _subnet_in_vnet),),
)
"""A Network's ``existing``."""


def _not_with_existing(key: str) -> Callable[[Values], Iterator[Problem]]:
    def check(values: Values) -> Iterator[Problem]:
        if values.present("existing") and values.given(key):
            yield Problem(
                (key,),
                "cannot be combined with existing, which uses a subnet as it is (this would be ignored); drop one "
                "of them",
                values[key],
            )

    return check


def _node_subnet_in_vnet(values: Values) -> Iterator[Problem]:
    # With existing, ranges left out are not the network's: only two given ranges are compared.
    if values.given("existing") and not (values.given("cidr_block") and values.given("node_subnet_cidr")):
        return
    vnet, subnet = range_block(values, "cidr_block"), range_block(values, "node_subnet_cidr")
    if vnet and subnet and not subnet.subnet_of(vnet):
        default = "" if values.given("node_subnet_cidr") else "(the default) "
        yield Problem(
            ("node_subnet_cidr",),
            f"{default}is not inside {shown_range(values, 'cidr_block')}: the node subnet takes its addresses from "
            "the VNet's address space",
            values["node_subnet_cidr"],
        )


NETWORK = Spec(
    "NetworkArgs",
    "Arguments of Network.",
    (
        Arg(
            "location",
            REGION,
            "Azure region of the resource group and the VNet (and of the cluster that uses them), e.g. 'eastus'.",
            required=True,
        ),
        Arg(
            "resource_group_name",
            GROUP_NAME,
            "Name of the resource group to create: 1 to 90 letters, digits, '_', '-', '.', '(' and ')'.",
            default_doc="'<name>-rg' plus a random suffix",
        ),
        Arg(
            "cidr_block",
            PrivateRange(DEFAULT_CIDR_BLOCK, CIDR_BLOCK_PREFIXES, "the VNet's address space"),
            "IPv4 address space of the VNet, a private (RFC 1918 or RFC 6598) /8 to /24 outside AKS's reserved "
            "ranges; it must not overlap the cluster's pod and service ranges.",
            default=DEFAULT_CIDR_BLOCK,
        ),
        Arg(
            "node_subnet_cidr",
            PrivateRange(DEFAULT_NODE_SUBNET_CIDR, NODE_SUBNET_PREFIXES, "every node takes one address of it"),
            "IPv4 range of the node subnet, a /16 to a /27 inside ``cidr_block``; every node takes one address (pods "
            "take theirs from the cluster's overlay pod range).",
            default=DEFAULT_NODE_SUBNET_CIDR,
            default_doc=f"{DEFAULT_NODE_SUBNET_CIDR!r} (4,091 nodes)",
        ),
        Arg(
            "existing",
            Record(EXISTING_NETWORK),
            "Use a resource group and subnet created elsewhere: nothing is created and the outputs are these IDs "
            "(``network_security_group_id`` is then empty: the subnet's NSG belongs to whoever manages it). Cannot be "
            "combined with resource_group_name, cidr_block or node_subnet_cidr.",
            default_doc="a new resource group, VNet, node subnet and NSG are created",
        ),
        Arg(
            "tags",
            TAGS,
            "Azure tags for the resource group, the VNet and the NSG, next to ``shardstack-component: <name>``. "
            "Nothing is tagged with ``existing``.",
            default_doc="none",
        ),
    ),
    rules=(
        *(Rule((key,), _not_with_existing(key), present=("existing",)) for key in CREATION_ARGS),
        Rule(("existing", "cidr_block", "node_subnet_cidr"), _node_subnet_in_vnet),
    ),
)
"""Network's arguments."""
