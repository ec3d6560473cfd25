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

import re
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import network as azure_network
from pulumi_azure_native import resources

from shardstack.azure.args import ExistingNetwork, NetworkArgs
from shardstack.azure.arm import parent_vnet_id
from shardstack.azure.kinds import AKS_RESERVED_RANGES, PRIVATE_RANGES
from shardstack.azure.network_specs import (
    CIDR_BLOCK_PREFIXES,
    CREATION_ARGS,
    DEFAULT_CIDR_BLOCK,
    DEFAULT_NODE_SUBNET_CIDR,
    NETWORK,
    NODE_SUBNET_PREFIXES,
)
from shardstack.azure.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:azure:Network"

NODE_SUBNET_NAME = "nodes"
"""Name of the node subnet inside its VNet (subnet names are scoped to their VNet)."""
STORAGE_SERVICE_ENDPOINT = "Microsoft.Storage"
"""Lets storage account firewalls admit this subnet; covers the region and its pair, where the weights live."""

CHILD_SUFFIXES = ("-rg", "-vnet", "-nodes-nsg")
AUTONAME_SUFFIX_LENGTH = 8
"""Pulumi appends up to 8 random characters to the Azure name of a resource it names."""
VNET_NAME_LENGTH = 64
MAX_NAME_LENGTH = VNET_NAME_LENGTH - len("-vnet") - AUTONAME_SUFFIX_LENGTH
"""The longest component name whose VNet name stays within Azure's 64 characters (the tightest limit)."""

COMPONENT_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")

__all__ = [
    "AKS_RESERVED_RANGES",
    "CIDR_BLOCK_PREFIXES",
    "CREATION_ARGS",
    "DEFAULT_CIDR_BLOCK",
    "DEFAULT_NODE_SUBNET_CIDR",
    "MAX_NAME_LENGTH",
    "NODE_SUBNET_PREFIXES",
    "PRIVATE_RANGES",
    "ExistingNetwork",
    "Network",
    "NetworkArgs",
    "validate_network_args",
]


def validate_network_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Network arguments (and its name, when given), one line each."""
    problems = as_arguments(NETWORK.check(args))
    if isinstance(args, Mapping):
        problems.extend(name_problems(name, creates="existing" not in args))
    return problems


def name_problems(name: Any, creates: bool) -> list[str]:
    """Why the component's name cannot name what it creates, if it can't."""
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
        self.vnet_id = pulumi.Output.from_input(vnet_id) if vnet_id is not None else subnet_id.apply(parent_vnet_id)
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
            address_space=azure_network.AddressSpaceArgs(address_prefixes=[args.get("cidr_block", DEFAULT_CIDR_BLOCK)]),
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
