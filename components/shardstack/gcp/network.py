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

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Required, TypedDict

import pulumi
import pulumi_gcp as gcp

from shardstack.cidr import sized_ipv4_block
from shardstack.errors import ArgumentError, did_you_mean
from shardstack.gcp.labels import label_problems

TYPE_TOKEN = "shardstack:gcp:Network"

DEFAULT_SUBNET_CIDR = "10.0.0.0/20"
"""4,094 node addresses."""
DEFAULT_PODS_CIDR = "10.16.0.0/14"
"""GKE gives each node a /24 of the pod range (110 pods per node): a /14 serves 1,024 nodes."""
DEFAULT_SERVICES_CIDR = "10.20.0.0/20"
"""4,096 Service cluster IPs."""

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

CIDR_ARGS: Mapping[str, tuple[str, int, int, str]] = {
    "subnet_cidr": (DEFAULT_SUBNET_CIDR, 16, 24, "every node takes one address of it"),
    "pods_cidr": (DEFAULT_PODS_CIDR, 9, 21, "GKE gives every node a /24 of it for its pods"),
    "services_cidr": (DEFAULT_SERVICES_CIDR, 16, 24, "every Kubernetes Service takes one address of it"),
}
"""Each range argument: (default, largest prefix, smallest prefix, what the range holds)."""
CREATION_ARGS = ("subnet_cidr", "pods_cidr", "services_cidr", "nat", "flow_logs")
"""Arguments that shape a network this component creates, meaningless with ``existing``."""
THIS_NETWORK_ZERO = ipaddress.IPv4Network("0.0.0.0/8")
"""'This network' (RFC 1122): GCP refuses subnetwork ranges in it."""

CHILD_SUFFIXES = ("-vpc", "-subnet", "-router", "-nat", "-internal")
AUTONAME_SUFFIX_LENGTH = 8
"""Pulumi names a GCP resource '<resource name>-<7 hex digits>' unless a name is given."""
GCP_NAME_LENGTH = 63
MAX_NAME_LENGTH = GCP_NAME_LENGTH - max(map(len, CHILD_SUFFIXES)) - AUTONAME_SUFFIX_LENGTH
"""The longest component name whose children's GCP names stay within GCP's 63 characters."""

# A region such as 'us-central1' or 'northamerica-northeast2' (the same shape infra/config.py checks).
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")
# RFC 1035 labels, as GCP names networks, subnetworks and secondary ranges.
GCP_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
COMPONENT_NAME = re.compile(r"^[a-z][-a-z0-9]*$")
_LINK_PREFIX = r"^(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta)/)?"
NETWORK_LINK = re.compile(_LINK_PREFIX + r"projects/(?P<project>[^/]+)/global/networks/(?P<name>[^/]+)$")
SUBNETWORK_LINK = re.compile(
    _LINK_PREFIX + r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)$"
)


class ExistingNetwork(TypedDict, total=False):
    """A VPC network and subnetwork created elsewhere (e.g. a Shared VPC), used as they are."""

    network: Required[pulumi.Input[str]]
    """The VPC network: its name (in the provider's project) or its self-link, e.g.
    'projects/host-project/global/networks/shared-vpc' (required for a Shared VPC)."""
    subnetwork: Required[pulumi.Input[str]]
    """The subnetwork for the nodes, in ``region``: its name or its self-link, e.g.
    'projects/host-project/regions/us-central1/subnetworks/gke'."""
    pods_range_name: Required[pulumi.Input[str]]
    """Name of the subnetwork's secondary range for pods, e.g. 'gke-pods'."""
    services_range_name: Required[pulumi.Input[str]]
    """Name of the subnetwork's secondary range for Services, e.g. 'gke-services'."""


class NetworkArgs(TypedDict, total=False):
    """Arguments of Network."""

    region: Required[str]
    """GCP region of the subnetwork, router and NAT (and of the cluster that uses them), e.g.
    'us-central1'."""
    subnet_cidr: str
    """IPv4 range of the subnetwork, for the nodes: a /16 to a /24. Default: '10.0.0.0/20'
    (4,094 nodes)."""
    pods_cidr: str
    """IPv4 range of the secondary range 'pods': a /9 to a /21. GKE gives every node a /24 of it
    (110 pods per node). Default: '10.16.0.0/14' (1,024 nodes)."""
    services_cidr: str
    """IPv4 range of the secondary range 'services', for Service cluster IPs: a /16 to a /24.
    Default: '10.20.0.0/20' (4,096 Services)."""
    nat: bool
    """Create a Cloud Router and Cloud NAT so that the nodes, which have no public IPs, reach the
    internet (image registries outside Google, package mirrors). Google APIs are reached through
    Private Google Access either way. Default: True."""
    flow_logs: bool
    """Record the subnetwork's flows (every flow, 5-second aggregation, all metadata) in Cloud
    Logging. Default: False."""
    existing: ExistingNetwork
    """Use a network and subnetwork created elsewhere: nothing is created and the outputs are these
    names. Cannot be combined with subnet_cidr, pods_cidr, services_cidr, nat or flow_logs.
    Default: a new network is created."""
    labels: Mapping[str, str]
    """GCP labels for the resources this component creates that take labels; keys and values use
    lowercase letters, digits, '_' and '-' (at most 63 characters). VPC networks, subnetworks,
    routers, NATs and firewall rules take no labels, so today they are only checked; their
    descriptions name the component instead. Default: none."""


def validate_network_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Network arguments, one line each."""
    if not isinstance(args, Mapping):
        return [f"arguments must be a mapping of argument names to values; got {args!r}"]
    problems: list[str] = []
    for key in sorted(set(args) - set(NetworkArgs.__annotations__)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, NetworkArgs.__annotations__)}")
    problems.extend(_name_problems(name, creates="existing" not in args))
    problems.extend(_region_problems(args))

    if "existing" in args:
        for key in CREATION_ARGS:
            if key in args:
                problems.append(
                    f"existing and {key} cannot be combined: existing uses a network as it is, so "
                    f"{key}={args[key]!r} would be ignored; drop one of them"
                )
        problems.extend(_existing_problems(args["existing"], args.get("region")))
    # With existing, the ranges given are still checked (every problem at once), but defaults are not.
    problems.extend(_range_problems(args, with_defaults="existing" not in args))

    for flag in ("nat", "flow_logs"):
        if flag in args and not isinstance(args[flag], bool):
            problems.append(f"{flag} must be True or False; got {args[flag]!r}")
    problems.extend(label_problems(args.get("labels")))
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


def _region_problems(args: Mapping[str, Any]) -> list[str]:
    if "region" not in args:
        return ["region is required: the GCP region of the subnetwork and its NAT, e.g. 'us-central1'"]
    region = args["region"]
    if isinstance(region, str) and REGION.fullmatch(region):
        return []
    zone = ZONE.fullmatch(region) if isinstance(region, str) else None
    hint = f" ({region!r} is a zone; its region is {zone['region']!r})" if zone else ""
    return [f"region={region!r} is not a GCP region name such as 'us-central1' or 'europe-west4'{hint}"]


def _range_problems(args: Mapping[str, Any], with_defaults: bool) -> list[str]:
    """Problems with the node, pod and service ranges, each alone and together; ``with_defaults``
    checks the defaults of the ranges not given against those given."""
    problems: list[str] = []
    ranges: dict[str, ipaddress.IPv4Network] = {}
    for key, (default, largest, smallest, holds) in CIDR_ARGS.items():
        if key not in args and not with_defaults:
            continue
        value = args.get(key, default)
        block = sized_ipv4_block(key, value, default, (largest, smallest), holds)
        if isinstance(block, str):
            problems.append(block)
        elif (
            block.is_loopback
            or block.is_link_local
            or block.is_multicast
            or block.is_reserved
            or block.overlaps(THIS_NETWORK_ZERO)
        ):
            problems.append(
                f"{key}={value!r} lies in a reserved range GCP refuses for a subnetwork: use a private "
                f"range such as {default!r}"
            )
        else:
            ranges[key] = block

    keys = list(ranges)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            if ranges[first].overlaps(ranges[second]):
                problems.append(
                    f"{_shown(args, first)} and {_shown(args, second)} overlap: the node, pod and "
                    "service ranges of a subnetwork must be disjoint; move one of them"
                )
    return problems


def _shown(args: Mapping[str, Any], key: str) -> str:
    if key in args:
        return f"{key}={args[key]!r}"
    return f"{key}={CIDR_ARGS[key][0]!r} (the default)"


def _existing_problems(existing: Any, region: Any) -> list[str]:
    fields = ExistingNetwork.__annotations__
    if not isinstance(existing, Mapping):
        return [f"existing must be a mapping with {', '.join(fields)}; got {existing!r}"]
    problems: list[str] = []
    for key in sorted(set(existing) - set(fields)):
        problems.append(f"existing has unknown field {key!r}{did_you_mean(key, fields)}")
    for key in fields:
        if key not in existing:
            problems.append(f"existing[{key!r}] is required: {_EXISTING_FIELD_HELP[key]}")

    network = existing.get("network")
    network_link = None
    if isinstance(network, str):
        network_link = NETWORK_LINK.fullmatch(network)
        network_name = network_link["name"] if network_link else network
        if not GCP_NAME.fullmatch(network_name):
            problems.append(
                f"existing['network']={network!r} is neither a network name nor a self-link such as "
                "'projects/my-project/global/networks/my-vpc'"
            )
    subnetwork = existing.get("subnetwork")
    if isinstance(subnetwork, str):
        subnetwork_link = SUBNETWORK_LINK.fullmatch(subnetwork)
        subnetwork_name = subnetwork_link["name"] if subnetwork_link else subnetwork
        if not GCP_NAME.fullmatch(subnetwork_name):
            problems.append(
                f"existing['subnetwork']={subnetwork!r} is neither a subnetwork name nor a self-link such as "
                "'projects/my-project/regions/us-central1/subnetworks/my-subnet'"
            )
        elif (
            subnetwork_link
            and isinstance(region, str)
            and REGION.fullmatch(region)
            and subnetwork_link["region"] != region
        ):
            problems.append(
                f"existing['subnetwork']={subnetwork!r} is in region {subnetwork_link['region']!r}, "
                f"not in region={region!r}: the cluster's nodes must be in its region's subnetwork"
            )
        elif subnetwork_link and network_link and subnetwork_link["project"] != network_link["project"]:
            problems.append(
                f"existing['subnetwork'] is in project {subnetwork_link['project']!r} but existing['network'] "
                f"in project {network_link['project']!r}: a subnetwork belongs to its network's project"
            )
    for key in ("pods_range_name", "services_range_name"):
        value = existing.get(key)
        if isinstance(value, str) and not GCP_NAME.fullmatch(value):
            problems.append(
                f"existing[{key!r}]={value!r} is not a secondary range name: 1 to 63 lowercase letters, "
                "digits and '-', starting with a letter"
            )
    pods, services = existing.get("pods_range_name"), existing.get("services_range_name")
    if isinstance(pods, str) and pods == services:
        problems.append(
            f"existing['pods_range_name'] and existing['services_range_name'] are both {pods!r}: "
            "pods and Services need separate secondary ranges"
        )
    return problems


_EXISTING_FIELD_HELP = {
    "network": "the VPC network's name or self-link",
    "subnetwork": "the name or self-link of the subnetwork for the nodes",
    "pods_range_name": "the name of the subnetwork's secondary range for pods",
    "services_range_name": "the name of the subnetwork's secondary range for Services",
}


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
