"""Network: a resource group and a virtual network for a private AKS cluster, with one node subnet and its NSG.

Usage::

    from shardstack.azure.network import Network

    network = Network("net", {"location": "eastus"})        # VNet 10.224.0.0/12, node subnet 10.224.0.0/20
    network = Network("net", {                              # a named group and smaller ranges
        "location": "westeurope",
        "resource_group_name": "shardstack-prod",
        "cidr_block": "10.30.0.0/16",
        "node_subnet_cidr": "10.30.0.0/22",
    })
    network = Network("net", {                              # a subnet someone else manages (e.g. a hub team)
        "location": "eastus",
        "existing": {
            "resource_group_name": "shardstack-prod",
            "node_subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/network"
                              "/providers/Microsoft.Network/virtualNetworks/spoke/subnets/aks-nodes",
        },
    })
    cluster = Cluster("llm", {"resource_group_name": network.resource_group_name, "location": "eastus",
                              "node_subnet_id": network.node_subnet_id})

The cluster uses Azure CNI Overlay: nodes take addresses from the node subnet, pods take theirs from the
cluster's own pod range (not from the VNet), so one node costs one subnet address and the node subnet can
be small. The cluster's pod and service ranges (by default 10.244.0.0/14 and 10.0.0.0/16) must not overlap
the VNet: the defaults here (10.224.0.0/12) leave them free, as AKS's own managed VNet does.

The node subnet has the ``Microsoft.Storage`` service endpoint, so that a storage account's firewall can
admit exactly this subnet (the WeightStore's ``allowed_subnet_ids``), and it is a private subnet (no
default outbound access): nodes leave through the cluster's load balancer, the explicit egress AKS sets up,
and nothing else placed in the subnet gets an implicit public address.

The network security group on the node subnet carries no rules of its own, only Azure's defaults:
inbound, traffic from the virtual network (nodes, the cluster's private API endpoint, peered networks and
VPNs) and Azure Load Balancer health probes is allowed, and everything else, the whole internet included,
is denied (``DenyAllInBound``); outbound is open. That is all AKS needs (it documents extra rules only for
NSGs that add deny rules), and NetworkPolicy (Cilium) filters between pods. AKS never edits a subnet's NSG:
a public LoadBalancer Service (ShardedInference with ``public=True``) is only reachable once a security
rule added to ``network_security_group_id`` allows its clients' CIDRs on its port.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, Required, TypedDict

import pulumi
from pulumi_azure_native import network as azure_network
from pulumi_azure_native import resources

from shardstack.azure.arm import (
    SUBNET_ID,
    SUBNET_ID_EXAMPLE,
    VNET_ID,
    VNET_ID_EXAMPLE,
    placement_problems,
    resource_group_name_problem,
    subnet_id_problem,
)
from shardstack.azure.tags import component_tags, tag_problems
from shardstack.cidr import sized_ipv4_block
from shardstack.errors import ArgumentError, did_you_mean

TYPE_TOKEN = "shardstack:azure:Network"

DEFAULT_CIDR_BLOCK = "10.224.0.0/12"
"""The address space AKS gives the VNets it manages itself: clear of AKS's default pod and service ranges."""
DEFAULT_NODE_SUBNET_CIDR = "10.224.0.0/20"
"""4,091 node addresses (Azure keeps 5 of every subnet): plenty with overlay pod addresses, and most of the
VNet stays free for other subnets (private endpoints, a bastion)."""
NODE_SUBNET_NAME = "nodes"
"""Name of the node subnet inside its VNet (subnet names are scoped to their VNet)."""
STORAGE_SERVICE_ENDPOINT = "Microsoft.Storage"
"""Lets storage account firewalls admit this subnet; covers the region and its pair, where the weights live."""

CIDR_BLOCK_PREFIXES = (8, 24)
"""Largest and smallest VNet address space accepted."""
NODE_SUBNET_PREFIXES = (16, 27)
"""Largest and smallest node subnet: a /27 (27 usable addresses) still holds a few nodes and their surge
nodes during upgrades; a /16 is more than the 5,000 nodes an overlay cluster may have."""
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""RFC 1918 private and RFC 6598 shared address space: ranges that route nowhere outside the network."""
AKS_RESERVED_RANGES = tuple(
    ipaddress.IPv4Network(block) for block in ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")
)
"""Ranges AKS refuses in a cluster's VNet, pod and service ranges."""

CREATION_ARGS = ("resource_group_name", "cidr_block", "node_subnet_cidr")
"""Arguments that shape a network this component creates, meaningless with ``existing``."""
CHILD_SUFFIXES = ("-rg", "-vnet", "-nodes-nsg")
AUTONAME_SUFFIX_LENGTH = 8
"""Pulumi appends up to 8 random characters to the Azure name of a resource it names."""
VNET_NAME_LENGTH = 64
MAX_NAME_LENGTH = VNET_NAME_LENGTH - len("-vnet") - AUTONAME_SUFFIX_LENGTH
"""The longest component name whose VNet name stays within Azure's 64 characters (the tightest limit)."""

COMPONENT_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")


class RangeSpec(NamedTuple):
    """How one IPv4 range argument of a VNet or an AKS cluster is checked."""

    default: str
    """The range used when the argument is not given (also the example in messages)."""
    prefixes: tuple[int, int]
    """The largest and smallest prefix length accepted."""
    holds: str
    """What the range holds, to explain its size limits."""


RANGES = {
    "cidr_block": RangeSpec(DEFAULT_CIDR_BLOCK, CIDR_BLOCK_PREFIXES, "the VNet's address space"),
    "node_subnet_cidr": RangeSpec(DEFAULT_NODE_SUBNET_CIDR, NODE_SUBNET_PREFIXES, "every node takes one address of it"),
}
"""The VNet's and the node subnet's ranges."""


class ExistingNetwork(TypedDict, total=False):
    """A resource group and a node subnet created elsewhere (e.g. a hub-and-spoke VNet), used as they are."""

    resource_group_name: Required[pulumi.Input[str]]
    """The resource group the cluster and the other Shardstack resources go in, e.g. 'shardstack-prod'.
    It may differ from the subnet's own group."""
    vnet_id: pulumi.Input[str]
    """Resource ID of the subnet's virtual network. Default: derived from ``node_subnet_id``."""
    node_subnet_id: Required[pulumi.Input[str]]
    """Resource ID of the subnet for the AKS nodes, e.g. '/subscriptions/<subscription id>/resourceGroups/
    <group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'. It needs the
    ``Microsoft.Storage`` service endpoint when a weight store's firewall admits it (AzureInstallation's
    does): Azure refuses a storage network rule for a subnet without it."""


class NetworkArgs(TypedDict, total=False):
    """Arguments of Network."""

    location: Required[str]
    """Azure region of the resource group and the VNet (and of the cluster that uses them), e.g. 'eastus'."""
    resource_group_name: str
    """Name of the resource group to create: 1 to 90 letters, digits, '_', '-', '.', '(' and ')'.
    Default: '<name>-rg' plus a random suffix."""
    cidr_block: str
    """IPv4 address space of the VNet, a private (RFC 1918 or RFC 6598) /8 to /24 outside AKS's reserved
    ranges; it must not overlap the cluster's pod and service ranges. Default: '10.224.0.0/12'."""
    node_subnet_cidr: str
    """IPv4 range of the node subnet, a /16 to a /27 inside ``cidr_block``; every node takes one address
    (pods take theirs from the cluster's overlay pod range). Default: '10.224.0.0/20' (4,091 nodes)."""
    existing: ExistingNetwork
    """Use a resource group and subnet created elsewhere: nothing is created and the outputs are these
    IDs (``network_security_group_id`` is then empty: the subnet's NSG belongs to whoever manages it).
    Cannot be combined with resource_group_name, cidr_block or node_subnet_cidr. Default: a new
    resource group, VNet, node subnet and NSG are created."""
    tags: Mapping[str, str]
    """Azure tags for the resource group, the VNet and the NSG, next to ``shardstack-component: <name>``.
    Nothing is tagged with ``existing``. Default: none."""


def validate_network_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Network arguments, one line each."""
    if not isinstance(args, Mapping):
        return [f"arguments must be a mapping of argument names to values; got {args!r}"]
    problems: list[str] = []
    for key in sorted(set(args) - set(NetworkArgs.__annotations__)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, NetworkArgs.__annotations__)}")
    creates = "existing" not in args
    problems.extend(_name_problems(name, creates=creates))
    problems.extend(placement_problems(args, "the network", resource_group=False))

    if not creates:
        for key in CREATION_ARGS:
            if key in args:
                problems.append(
                    f"existing and {key} cannot be combined: existing uses a subnet as it is, so "
                    f"{key}={args[key]!r} would be ignored; drop one of them"
                )
        problems.extend(_existing_problems(args["existing"]))
    if "resource_group_name" in args and (problem := resource_group_name_problem(args["resource_group_name"])):
        problems.append(problem)
    # With existing, the ranges given are still checked (every problem at once), but defaults are not.
    problems.extend(_range_problems(args, with_defaults=creates))
    problems.extend(tag_problems(args.get("tags")))
    return problems


def private_range_problem(arg: str, block: ipaddress.IPv4Network, value: str, example: str) -> str | None:
    """Why the IPv4 ``block`` (given as ``arg=value``) cannot be a VNet, pod or service range, or None."""
    if not any(block.subnet_of(private) for private in PRIVATE_RANGES):
        return (
            f"{arg}={value!r} is not a private range: use RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) "
            f"or RFC 6598 (100.64.0.0/10) space, e.g. {example!r}"
        )
    reserved = [str(r) for r in AKS_RESERVED_RANGES if block.overlaps(r)]
    if reserved:
        return f"{arg}={value!r} overlaps {', '.join(reserved)}, which AKS reserves; use e.g. {example!r}"
    return None


def range_problems(
    args: Mapping[str, Any], specs: Mapping[str, RangeSpec], with_defaults: bool = True
) -> tuple[list[str], dict[str, ipaddress.IPv4Network]]:
    """Check each range of ``specs`` alone: an IPv4 block without host bits, of an accepted size, private and
    clear of AKS's reserved ranges. Return the problems and the blocks that passed, by argument, to check
    together. ``with_defaults`` checks the default of a range not given; otherwise it is skipped."""
    problems: list[str] = []
    blocks: dict[str, ipaddress.IPv4Network] = {}
    for key, spec in specs.items():
        if key not in args and not with_defaults:
            continue
        value = args.get(key, spec.default)
        block = sized_ipv4_block(key, value, spec.default, spec.prefixes, spec.holds)
        if isinstance(block, str):
            problems.append(block)
        elif problem := private_range_problem(key, block, value, spec.default):
            problems.append(problem)
        else:
            blocks[key] = block
    return problems, blocks


def shown_range(args: Mapping[str, Any], key: str, specs: Mapping[str, RangeSpec]) -> str:
    """Return ``key=<value>`` as given, or ``key=<default> (the default)``, for a message about two ranges."""
    if key in args:
        return f"{key}={args[key]!r}"
    return f"{key}={specs[key].default!r} (the default)"


def _name_problems(name: Any, creates: bool) -> list[str]:
    if name is None:
        return []
    if not isinstance(name, str) or not name.strip():
        return [f"name={name!r} must be a non-empty string: child resources are named after it"]
    if creates and (not COMPONENT_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH):
        return [
            f"name={name!r} cannot prefix Azure resource names: use letters, digits, '-', '_' and '.', starting "
            f"with a letter or digit, at most {MAX_NAME_LENGTH} characters (the VNet is named "
            f"'<name>-vnet<random suffix>', at most {VNET_NAME_LENGTH})"
        ]
    return []


def _range_problems(args: Mapping[str, Any], with_defaults: bool) -> list[str]:
    """Problems with the VNet and node subnet ranges, each alone and together; ``with_defaults`` checks
    the default of a range not given against the one given."""
    problems, blocks = range_problems(args, RANGES, with_defaults)
    vnet, subnet = blocks.get("cidr_block"), blocks.get("node_subnet_cidr")
    if vnet and subnet and not subnet.subnet_of(vnet):
        problems.append(
            f"{shown_range(args, 'node_subnet_cidr', RANGES)} is not inside {shown_range(args, 'cidr_block', RANGES)}: "
            "the node subnet takes its addresses from the VNet's address space"
        )
    return problems


def _existing_problems(existing: Any) -> list[str]:
    fields = ExistingNetwork.__annotations__
    if not isinstance(existing, Mapping):
        return [f"existing must be a mapping with {', '.join(fields)}; got {existing!r}"]
    problems: list[str] = []
    for key in sorted(set(existing) - set(fields)):
        problems.append(f"existing has unknown field {key!r}{did_you_mean(str(key), fields)}")
    for key, help_text in _EXISTING_REQUIRED.items():
        if key not in existing:
            problems.append(f"existing[{key!r}] is required: {help_text}")
    if "resource_group_name" in existing:
        problem = resource_group_name_problem(existing["resource_group_name"], arg="existing['resource_group_name']")
        if problem:
            problems.append(problem)
    subnet_id = existing.get("node_subnet_id")
    if "node_subnet_id" in existing and (problem := subnet_id_problem("existing['node_subnet_id']", subnet_id)):
        problems.append(problem)
    vnet_id = existing.get("vnet_id")
    if "vnet_id" in existing and not isinstance(vnet_id, pulumi.Output):
        if not isinstance(vnet_id, str) or not VNET_ID.fullmatch(vnet_id):
            problems.append(
                f"existing['vnet_id']={vnet_id!r} is not a virtual network resource ID: use {VNET_ID_EXAMPLE}"
            )
        elif (
            isinstance(subnet_id, str)
            and SUBNET_ID.fullmatch(subnet_id)
            and _parent_vnet_id(subnet_id).lower() != vnet_id.lower()
        ):
            problems.append(
                f"existing['node_subnet_id'] is in virtual network {_parent_vnet_id(subnet_id)!r}, not in "
                f"existing['vnet_id']={vnet_id!r}: give the subnet's own VNet, or leave vnet_id out"
            )
    return problems


_EXISTING_REQUIRED = {
    "resource_group_name": "the resource group the cluster and the other Shardstack resources go in",
    "node_subnet_id": f"the resource ID of the subnet for the AKS nodes, {SUBNET_ID_EXAMPLE}",
}


def _parent_vnet_id(subnet_id: str) -> str:
    """Return the VNet ID of a subnet ID ('.../virtualNetworks/v/subnets/s' → '.../virtualNetworks/v')."""
    index = subnet_id.lower().rfind("/subnets/")
    return subnet_id[:index] if index >= 0 else subnet_id


def _last_segment(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


class Network(pulumi.ComponentResource):
    """Creates a resource group, a VNet and a node subnet with its NSG for a private AKS cluster."""

    resource_group_name: pulumi.Output[str]
    """Name of the resource group for the cluster and the other Shardstack resources."""
    location: pulumi.Output[str]
    """Azure region of the network."""
    vnet_id: pulumi.Output[str]
    """Resource ID of the virtual network."""
    vnet_name: pulumi.Output[str]
    """Name of the virtual network."""
    node_subnet_id: pulumi.Output[str]
    """Resource ID of the node subnet (with the ``Microsoft.Storage`` service endpoint): the cluster's and
    the GPU node pools' ``node_subnet_id``, and an ``allowed_subnet_ids`` entry of the weight store."""
    network_security_group_id: pulumi.Output[str]
    """Resource ID of the NSG on the node subnet (empty with ``existing``): add security rules to it, e.g.
    for a public LoadBalancer Service."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_network_args(args, name=name)
        if problems:
            raise ArgumentError(f"Network {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        if "existing" in args:
            self._use_existing(args["existing"], args["location"])
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "location": self.location,
                "vnet_id": self.vnet_id,
                "vnet_name": self.vnet_name,
                "node_subnet_id": self.node_subnet_id,
                "network_security_group_id": self.network_security_group_id,
            }
        )

    def _use_existing(self, existing: ExistingNetwork, location: str) -> None:
        subnet_id = pulumi.Output.from_input(existing["node_subnet_id"])
        vnet_id = existing.get("vnet_id")
        self.vnet_id = pulumi.Output.from_input(vnet_id) if vnet_id is not None else subnet_id.apply(_parent_vnet_id)
        self.vnet_name = self.vnet_id.apply(_last_segment)
        self.node_subnet_id = subnet_id
        self.resource_group_name = pulumi.Output.from_input(existing["resource_group_name"])
        self.location = pulumi.Output.from_input(location)
        self.network_security_group_id = pulumi.Output.from_input("")

    def _create(self, name: str, args: NetworkArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        location = args["location"]
        tags = component_tags(name, args.get("tags"))
        group_args: dict[str, Any] = {}
        if "resource_group_name" in args:
            group_args["resource_group_name"] = args["resource_group_name"]

        group = resources.ResourceGroup(f"{name}-rg", location=location, tags=tags, opts=child, **group_args)
        vnet = azure_network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=group.name,
            location=location,
            address_space=azure_network.AddressSpaceArgs(
                address_prefixes=[args.get("cidr_block", DEFAULT_CIDR_BLOCK)]
            ),
            # No inline subnets: the node subnet is its own resource below. Left unset, `subnets` keeps
            # whatever subnets exist when the VNet is updated; an empty list would delete them.
            tags=tags,
            opts=child,
        )
        # Only Azure's default rules (see the module docstring): the internet cannot reach the nodes.
        # security_rules stays unset so that rules added as separate SecurityRule resources are kept.
        nsg = azure_network.NetworkSecurityGroup(
            f"{name}-nodes-nsg",
            resource_group_name=group.name,
            location=location,
            tags=tags,
            opts=child,
        )
        subnet = azure_network.Subnet(
            f"{name}-nodes",
            resource_group_name=group.name,
            virtual_network_name=vnet.name,
            subnet_name=NODE_SUBNET_NAME,
            address_prefix=args.get("node_subnet_cidr", DEFAULT_NODE_SUBNET_CIDR),
            service_endpoints=[azure_network.ServiceEndpointPropertiesFormatArgs(service=STORAGE_SERVICE_ENDPOINT)],
            network_security_group=azure_network.NetworkSecurityGroupArgs(id=nsg.id),
            # A private subnet: nodes reach the internet only through the cluster's load balancer.
            default_outbound_access=False,
            opts=child,
        )

        self.resource_group_name = group.name
        self.location = group.location
        self.vnet_id = vnet.id
        self.vnet_name = vnet.name
        self.node_subnet_id = subnet.id
        self.network_security_group_id = nsg.id
