"""The arguments of the GCP Cluster, declared once (see :mod:`shardstack.specs`): the GKE cluster, its network
wiring, API access and its system pool (the neutral system pool with GKE's machine types).

Generated into ``shardstack/gcp/args.py`` through :data:`shardstack.gcp.specs.ARGS`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from shardstack.api_access import PUBLIC_API_NEEDS_NETWORKS, authorized_networks, private_endpoint
from shardstack.cidr import WHOLE_INTERNET_REFUSED
from shardstack.gcp.labels import GCP_LABELS
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, KubernetesVersion
from shardstack.specs.kinds import Choice, Flag, Input, Record, Text
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values
from shardstack.specs.system_pool import system_pool_spec

RELEASE_CHANNELS: tuple[str, ...] = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
DEFAULT_RELEASE_CHANNEL = "REGULAR"
"""Versions reach REGULAR after they have proven themselves in RAPID: current, but not first."""
DEFAULT_MASTER_IPV4_CIDR = "172.16.0.0/28"
MASTER_IPV4_PREFIX_LENGTH = 28
"""GKE gives the control plane of a private cluster exactly a /28."""

DEFAULT_SYSTEM_INSTANCE_TYPE = "e2-standard-4"
"""4 vCPU, 16 GiB, x86_64: room for the GKE system pods, CoreDNS and Shardstack's own services."""
GPU_MACHINE_FAMILIES: tuple[str, ...] = ("a2", "a3", "a4", "a4x", "g2", "g4")
"""Machine families whose every type carries GPUs (N1 types only get GPUs when some are attached)."""
ARM_MACHINE_FAMILIES: tuple[str, ...] = ("t2a", "c4a", "n4a")
"""Arm machine families: GKE taints their nodes kubernetes.io/arch=arm64, which cluster services do not tolerate."""

_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_RANGE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MACHINE_TYPE = re.compile(r"^([a-z][a-z0-9]*)-[a-z0-9]+(-[a-z0-9]+)*$")
_MAX_RANGE_NAME_LENGTH = 63


def _region(value: str) -> str | None:
    if zone := _ZONE.match(value):
        return (
            "is a zone; the cluster is regional (its control plane and nodes span the region's zones): use the "
            f"region {zone.group(1)!r}"
        )
    return None if _REGION.match(value) else "is not a GCP region like 'us-central1'"


REGION = Text("a GCP region like 'us-central1'", _region)
"""A GCP region, by name."""


def _network_reference(description: str) -> Text:
    return Text(description, lambda value: f"is not {description}" if any(c.isspace() for c in value) else None)


def _range_name(value: str) -> str | None:
    if _RANGE_NAME.match(value) and len(value) <= _MAX_RANGE_NAME_LENGTH:
        return None
    return (
        "is not a secondary range name: use at most 63 lowercase letters, digits and '-', starting with a letter "
        "and ending with a letter or digit"
    )


def _separate_ranges(values: Values) -> Iterator[Problem]:
    pods, services = values["pods_range_name"], values["services_range_name"]
    if isinstance(pods, str) and pods == services:
        yield Problem(
            ("pods_range_name",),
            f"and services_range_name are both {pods!r}; pods and Services need separate secondary ranges",
        )


def _master_ipv4_cidr(value: str) -> str | None:
    try:
        if "/" not in value:
            raise ValueError(value)
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return f"is not an IPv4 CIDR block like {DEFAULT_MASTER_IPV4_CIDR!r}"
    if network.prefixlen != MASTER_IPV4_PREFIX_LENGTH:
        return (
            f"is a /{network.prefixlen}; GKE gives the control plane exactly a /{MASTER_IPV4_PREFIX_LENGTH}, e.g. "
            f"{DEFAULT_MASTER_IPV4_CIDR!r}"
        )
    if network.with_prefixlen != value:
        return f"has host bits set; the network it is in is {network.with_prefixlen!r}"
    return None


def _machine_type(value: str) -> str | None:
    match = _MACHINE_TYPE.match(value)
    if match is None:
        return f"is not a Compute Engine machine type like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
    if match.group(1) in GPU_MACHINE_FAMILIES:
        return (
            "has GPUs; the system pool runs cluster services on CPU nodes: use a type like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r} and a GPU node pool for GPUs"
        )
    if match.group(1) in ARM_MACHINE_FAMILIES:
        return (
            "is an Arm type; GKE taints Arm nodes, which cluster services do not tolerate: use an x86_64 type like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    return None


GKE_MACHINE_TYPE = Arg(
    "instance_type",
    Text("a Compute Engine machine type, x86_64 without GPUs", _machine_type),
    "Compute Engine machine type, x86_64 without GPUs.",
    default=DEFAULT_SYSTEM_INSTANCE_TYPE,
)
"""The system pool's machine type on GKE."""

SYSTEM_POOL = system_pool_spec(GKE_MACHINE_TYPE).without(
    (),
    name="SystemPool",
    doc="The node pool of CPU nodes that runs cluster services (no GPUs). The cluster is regional, so GKE puts the "
    "pool's nodes in each of the region's zones (usually three): node counts are per zone.",
)
"""A GKE cluster's system pool."""


CLUSTER = Spec(
    "ClusterArgs",
    "Arguments of Cluster.",
    (
        Arg(
            "region",
            Input(REGION),
            "Region of the cluster, e.g. 'us-central1'. The control plane and the nodes are spread over the "
            "region's zones.",
            required=True,
        ),
        Arg(
            "network",
            Input(_network_reference("the VPC network's name or self-link")),
            "The VPC network, by name or self-link.",
            required=True,
        ),
        Arg(
            "subnetwork",
            Input(_network_reference("the name or self-link of the subnetwork in the cluster's region")),
            "The subnetwork in ``region`` for the nodes, by name or self-link; it holds the two secondary ranges "
            "below.",
            required=True,
        ),
        Arg(
            "pods_range_name",
            Input(Text("the name of the subnetwork's secondary range that pod IPs come from", _range_name)),
            "Name of the subnetwork's secondary range that pod IPs come from.",
            required=True,
        ),
        Arg(
            "services_range_name",
            Input(Text("the name of the subnetwork's secondary range that Service IPs come from", _range_name)),
            "Name of the subnetwork's secondary range that Service IPs come from.",
            required=True,
        ),
        Arg(
            "kubernetes_version",
            KubernetesVersion(service="GKE"),
            "Kubernetes minor version, '1.30' to '1.34'; GKE picks the patch release and keeps the cluster on "
            "``release_channel`` from there.",
            default=DEFAULT_KUBERNETES_VERSION,
        ),
        Arg(
            "release_channel",
            Choice(RELEASE_CHANNELS),
            "GKE release channel that upgrades the control plane and the nodes.",
            default=DEFAULT_RELEASE_CHANNEL,
        ),
        private_endpoint("on its private IP address, from inside the VPC"),
        authorized_networks(
            "CIDR blocks allowed to reach the Kubernetes API, e.g. ['203.0.113.0/24']. Required when "
            "private_endpoint is off; with a private endpoint, the internal ranges (a VPN, a bastion's "
            "subnetwork) that may reach it besides the nodes' subnetwork. " + WHOLE_INTERNET_REFUSED
        ),
        Arg(
            "master_ipv4_cidr",
            Text(f"a /{MASTER_IPV4_PREFIX_LENGTH} IPv4 CIDR block", _master_ipv4_cidr),
            "The /28 block for the control plane's private endpoint; it must not overlap any range in the VPC.",
            default=DEFAULT_MASTER_IPV4_CIDR,
        ),
        Arg(
            "system_pool",
            Record(SYSTEM_POOL),
            "The CPU node pool for cluster services.",
            default_doc=f"1 to 3 {DEFAULT_SYSTEM_INSTANCE_TYPE} nodes per zone with 50 GiB disks",
        ),
        Arg(
            "deletion_protection",
            Flag(),
            "Refuse to delete the cluster (``pulumi destroy`` fails until this is set to False and applied).",
            default=True,
        ),
        Arg(
            "managed_prometheus",
            Flag(),
            "Run GKE's managed collection for Google Cloud Managed Service for Prometheus (it reads PodMonitoring and "
            "Rules objects) and its kube-state-metrics package for pods (the rank alerts read their readiness); "
            "billed per sample ingested.",
            default=False,
            default_doc="False: the managed collection is left as GKE sets it, and no pod metrics are exported",
        ),
        Arg(
            "labels",
            GCP_LABELS,
            "GCP labels added to the cluster and its nodes, next to ``shardstack-component: <name>``; keys and "
            "values are lowercase letters, digits, '_' and '-', at most 63 characters.",
            default_doc="none",
        ),
    ),
    rules=(
        Rule(("pods_range_name", "services_range_name"), _separate_ranges),
        PUBLIC_API_NEEDS_NETWORKS,
    ),
)
"""Cluster's arguments."""

WIRED_CLUSTER_ARGS = (
    "region",
    "network",
    "subnetwork",
    "pods_range_name",
    "services_range_name",
    "managed_prometheus",  # the installation's monitoring.managed_prometheus
)
"""What GcpInstallation sets on its cluster itself."""

INSTALLATION_CLUSTER = CLUSTER.without(
    WIRED_CLUSTER_ARGS,
    name="InstallationCluster",
    doc="Cluster arguments (see :class:`~shardstack.gcp.cluster.Cluster`) without the region and the network.",
)
"""A GcpInstallation's cluster."""
