"""Network: a VPC for a private GKE cluster, one subnetwork with secondary ranges for pods and services.

Usage::

    from shardstack.gcp.network import Network

    network = Network("net", {"region": "us-central1"})       # 10.0.0.0/20 nodes, /14 pods, /20 services
    network = Network("net", {"region": "europe-west4", "nat": False})   # no internet egress at all
    network = Network("net", {                                 # a VPC someone else manages
        "region": "us-central1",
        "existing": {
            "network": "projects/host-project/global/networks/shared-vpc",
            "subnetwork": "projects/host-project/regions/us-central1/subnetworks/gke",
            "pods_range_name": "gke-pods",
            "services_range_name": "gke-services",
        },
    })

Nodes get addresses from the subnetwork's primary range and no public IPs; pods and Services get
theirs from the secondary ranges ``pods`` and ``services`` (a VPC-native cluster). Private Google
Access lets the nodes reach Google APIs (GCS weights, Artifact Registry images) without public IPs
and without Cloud NAT, and Cloud NAT gives them the rest of the internet (other registries). The
only firewall rule this component adds lets nodes and pods reach each other; everything else
arriving from outside is refused by GCP's implied deny-ingress rule.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp

from shardstack.errors import ArgumentError
from shardstack.gcp.args import ExistingNetwork, NetworkArgs
from shardstack.gcp.network_specs import (
    CIDR_ARGS,
    CREATION_ARGS,
    DEFAULT_PODS_CIDR,
    DEFAULT_SERVICES_CIDR,
    DEFAULT_SUBNET_CIDR,
    GCP_NAME,
    NETWORK,
    NETWORK_LINK,
    REGION,
    SUBNETWORK_LINK,
    THIS_NETWORK_ZERO,
    ZONE,
)
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:gcp:Network"

__all__ = [
    "CIDR_ARGS",
    "CREATION_ARGS",
    "DEFAULT_PODS_CIDR",
    "DEFAULT_SERVICES_CIDR",
    "DEFAULT_SUBNET_CIDR",
    "GCP_NAME",
    "MAX_NAME_LENGTH",
    "NETWORK_LINK",
    "REGION",
    "SUBNETWORK_LINK",
    "THIS_NETWORK_ZERO",
    "ZONE",
    "ExistingNetwork",
    "Network",
    "NetworkArgs",
    "validate_network_args",
]


PODS_RANGE_NAME = "pods"
SERVICES_RANGE_NAME = "services"

COMPUTE_API = "https://www.googleapis.com/compute/v1/"
"""Prefix of full self-links, the form GCP returns and GKE accepts everywhere."""

NAT_IP_ALLOCATION = "AUTO_ONLY"
"""Google allocates the NAT's external addresses as the nodes need them: nothing to reserve or keep."""
NAT_SOURCE_RANGES = "ALL_SUBNETWORKS_ALL_IP_RANGES"
"""Nodes (primary range) and pods (secondary range) both leave through the NAT, in every subnetwork
of the region, so a subnetwork added later needs no NAT change."""
NAT_LOG_FILTER = "ERRORS_ONLY"
"""Dropped connections (port exhaustion, ...) are what one investigates; logging every translation
costs much and says little."""

FLOW_LOG_CONFIG = {
    "aggregation_interval": "INTERVAL_5_SEC",
    "flow_sampling": 1.0,
    "metadata": "INCLUDE_ALL_METADATA",
}
"""Every flow, at the finest interval, with all metadata: what CIS GCP 3.8 asks for, and what an
incident investigation needs."""

INTERNAL_PROTOCOLS = ("tcp", "udp", "icmp")
"""What nodes and pods exchange: HTTP, DNS, torch.distributed rendezvous and NCCL/gloo on arbitrary
ports, and ICMP for path MTU discovery."""

CHILD_SUFFIXES = ("-vpc", "-subnet", "-router", "-nat", "-internal")
AUTONAME_SUFFIX_LENGTH = 8
"""Pulumi names a GCP resource '<resource name>-<7 hex digits>' unless a name is given."""
GCP_NAME_LENGTH = 63
MAX_NAME_LENGTH = GCP_NAME_LENGTH - max(map(len, CHILD_SUFFIXES)) - AUTONAME_SUFFIX_LENGTH
"""The longest component name whose children's GCP names stay within GCP's 63 characters."""

COMPONENT_NAME = re.compile(r"^[a-z][-a-z0-9]*$")


def validate_network_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Network arguments, one line each (``name``: the component's, which prefixes
    the names of what it creates)."""
    problems = as_arguments(NETWORK.check(args))
    if isinstance(args, Mapping):
        problems += _name_problems(name, creates="existing" not in args)
    return problems


def _name_problems(name: Any, creates: bool) -> list[str]:
    if name is None:
        return []
    if not isinstance(name, str) or not name.strip():
        return [f"name={name!r} must be a non-empty string: child resources are named after it"]
    if creates and (not COMPONENT_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH):
        return [
            f"name={name!r} cannot prefix GCP resource names: use lowercase letters, digits and '-', "
            f"starting with a letter, at most {MAX_NAME_LENGTH} characters (the network, subnetwork, "
            f"router, NAT and firewall rule are named '<name>-<role>-<7 random characters>', "
            f"at most {GCP_NAME_LENGTH})"
        ]
    return []


class Network(pulumi.ComponentResource):
    """Creates a VPC network for a private GKE cluster: subnetwork with pod and service ranges, Cloud NAT."""

    network_name: pulumi.Output[str]
    """Name of the VPC network."""
    network_self_link: pulumi.Output[str]
    """Self-link of the VPC network (https://www.googleapis.com/compute/v1/projects/...)."""
    subnetwork_name: pulumi.Output[str]
    """Name of the subnetwork for the nodes."""
    subnetwork_self_link: pulumi.Output[str]
    """Self-link of the subnetwork for the nodes."""
    pods_range_name: pulumi.Output[str]
    """Name of the subnetwork's secondary range for pods (the cluster's
    ``cluster_secondary_range_name``)."""
    services_range_name: pulumi.Output[str]
    """Name of the subnetwork's secondary range for Services (the cluster's
    ``services_secondary_range_name``)."""
    region: pulumi.Output[str]
    """Region of the subnetwork."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_network_args(args, name=name)
        if problems:
            raise ArgumentError(f"Network {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        if "existing" in args:
            self._use_existing(args["existing"], args["region"])
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "network_name": self.network_name,
                "network_self_link": self.network_self_link,
                "subnetwork_name": self.subnetwork_name,
                "subnetwork_self_link": self.subnetwork_self_link,
                "pods_range_name": self.pods_range_name,
                "services_range_name": self.services_range_name,
                "region": self.region,
            }
        )

    def _use_existing(self, existing: ExistingNetwork, region: str) -> None:
        network = pulumi.Output.from_input(existing["network"])
        subnetwork = pulumi.Output.from_input(existing["subnetwork"])
        # A bare name lives in the provider's project; only then is that project looked up.
        given = (existing["network"], existing["subnetwork"])
        if all(isinstance(v, str) and "/" in v for v in given):
            project: pulumi.Output[str] = pulumi.Output.from_input("")
        else:
            client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
            project = client.project

        def network_link(values: list[str]) -> str:
            value, project_id = values
            if value.startswith("https://"):
                return value
            return COMPUTE_API + (value if "/" in value else f"projects/{project_id}/global/networks/{value}")

        def subnetwork_link(values: list[str]) -> str:
            value, project_id = values
            if value.startswith("https://"):
                return value
            if "/" in value:
                return COMPUTE_API + value
            return f"{COMPUTE_API}projects/{project_id}/regions/{region}/subnetworks/{value}"

        self.network_name = network.apply(_last_segment)
        self.network_self_link = pulumi.Output.all(network, project).apply(network_link)
        self.subnetwork_name = subnetwork.apply(_last_segment)
        self.subnetwork_self_link = pulumi.Output.all(subnetwork, project).apply(subnetwork_link)
        self.pods_range_name = pulumi.Output.from_input(existing["pods_range_name"])
        self.services_range_name = pulumi.Output.from_input(existing["services_range_name"])
        self.region = pulumi.Output.from_input(region)

    def _create(self, name: str, args: NetworkArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        region = args["region"]
        subnet_cidr = args.get("subnet_cidr", DEFAULT_SUBNET_CIDR)
        pods_cidr = args.get("pods_cidr", DEFAULT_PODS_CIDR)
        services_cidr = args.get("services_cidr", DEFAULT_SERVICES_CIDR)

        network = gcp.compute.Network(
            f"{name}-vpc",
            description=f"Shardstack network {name}: private GKE nodes, pods and Services",
            # Custom mode: only the subnetwork below exists, with ranges the cluster was planned for,
            # instead of a /20 in every region from the auto-mode plan.
            auto_create_subnetworks=False,
            # The cluster is regional, and its routes need not be advertised to other regions.
            routing_mode="REGIONAL",
            # Keep the default route to the internet gateway: Cloud NAT and Private Google Access
            # both send their traffic through it.
            delete_default_routes_on_create=False,
            opts=child,
        )
        subnetwork_args: dict[str, Any] = {}
        if args.get("flow_logs", False):
            subnetwork_args["log_config"] = gcp.compute.SubnetworkLogConfigArgs(**FLOW_LOG_CONFIG)
        subnetwork = gcp.compute.Subnetwork(
            f"{name}-subnet",
            description=f"Shardstack network {name}: nodes, with secondary ranges for pods and Services",
            network=network.self_link,
            region=region,
            ip_cidr_range=subnet_cidr,
            stack_type="IPV4_ONLY",
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE_NAME, ip_cidr_range=pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE_NAME, ip_cidr_range=services_cidr),
            ],
            # Private Google Access: nodes without public IPs reach Google APIs (GCS, Artifact
            # Registry, GKE) over Google's network, without the NAT and its per-gigabyte charge.
            private_ip_google_access=True,
            opts=child,
            **subnetwork_args,
        )
        # GCP's implied rules deny every ingress and allow every egress; a custom-mode network has
        # no other rules. GKE adds its own rules for its control plane and its node tags when a
        # cluster is created; this one is the network's own minimal contract: nodes and pods reach
        # each other (torch.distributed between shards on arbitrary ports) from the node and pod
        # ranges only. Service IPs never appear as a source: kube-proxy rewrites them on the node.
        gcp.compute.Firewall(
            f"{name}-internal",
            description=f"Shardstack network {name}: traffic between nodes and pods of the network",
            network=network.self_link,
            direction="INGRESS",
            source_ranges=[subnet_cidr, pods_cidr],
            allows=[gcp.compute.FirewallAllowArgs(protocol=protocol) for protocol in INTERNAL_PROTOCOLS],
            opts=child,
        )
        if args.get("nat", True):
            router = gcp.compute.Router(
                f"{name}-router",
                description=f"Shardstack network {name}: holds the Cloud NAT of the private nodes",
                network=network.self_link,
                region=region,
                opts=child,
            )
            gcp.compute.RouterNat(
                f"{name}-nat",
                router=router.name,
                region=region,
                nat_ip_allocate_option=NAT_IP_ALLOCATION,
                source_subnetwork_ip_ranges_to_nat=NAT_SOURCE_RANGES,
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter=NAT_LOG_FILTER),
                opts=child,
            )

        self.network_name = network.name
        self.network_self_link = network.self_link
        self.subnetwork_name = subnetwork.name
        self.subnetwork_self_link = subnetwork.self_link
        self.pods_range_name = pulumi.Output.from_input(PODS_RANGE_NAME)
        self.services_range_name = pulumi.Output.from_input(SERVICES_RANGE_NAME)
        self.region = subnetwork.region


def _last_segment(reference: str) -> str:
    """Return the name in a name or self-link ('projects/p/global/networks/vpc' → 'vpc')."""
    return reference.rsplit("/", 1)[-1]
