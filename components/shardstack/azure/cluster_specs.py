"""The arguments of the Azure Cluster, declared once (see :mod:`shardstack.specs`): the AKS cluster, its API
access, address ranges, system pool and admins. Generated into ``shardstack/azure/args.py`` with the other Azure
specs (:data:`shardstack.azure.specs.ARGS`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from shardstack.api_access import PUBLIC_API_NEEDS_NETWORKS, authorized_networks, private_endpoint
from shardstack.azure.kinds import (
    AVAILABILITY_ZONES,
    PRINCIPAL_IDS,
    PRINCIPAL_TYPES,
    REGION,
    RESOURCE_GROUP,
    SUBNET,
    TAGS,
    PrivateRange,
    range_block,
    shown_range,
)
from shardstack.cidr import WHOLE_INTERNET_REFUSED
from shardstack.kubernetes_versions import (
    DEFAULT_KUBERNETES_VERSION,
    SUPPORTED_KUBERNETES_VERSIONS,
    KubernetesVersion,
)
from shardstack.specs.kinds import Choice, Flag, Kind, Record, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values
from shardstack.specs.system_pool import system_pool_spec

AUTO_UPGRADE_CHANNELS: tuple[str, ...] = ("patch", "stable", "rapid", "none")
DEFAULT_AUTO_UPGRADE_CHANNEL = "patch"
"""AKS applies every patch release of the minor version given as ``kubernetes_version`` and never moves to
another minor on its own: the version stays the one the program declares."""
SKU_TIERS: tuple[str, ...] = ("Free", "Standard", "Premium")
DEFAULT_SKU_TIER = "Standard"
"""A financially backed API server SLA and a control plane sized for production; 'Free' is for trials."""

DEFAULT_POD_CIDR = "10.244.0.0/14"
"""AKS's default overlay pod range, widened to a /14: every node takes a /24 of it, so 1,024 nodes."""
DEFAULT_SERVICE_CIDR = "10.0.0.0/16"
"""AKS's default Service range: 65,536 Service cluster IPs."""
DNS_SERVICE_IP_OFFSET = 10
"""CoreDNS gets the 10th address of the Service range ('10.0.0.10' by default), as AKS does."""
POD_CIDR_PREFIXES = (8, 22)
"""Largest and smallest pod range: a /22 holds four nodes' /24s."""
SERVICE_CIDR_PREFIXES = (13, 24)
"""AKS wants the Service range smaller than a /12."""

DEFAULT_SYSTEM_INSTANCE_TYPE = "Standard_D4s_v5"
"""4 vCPU, 16 GiB, x86_64: AKS's minimum for a system pool (4 vCPUs), room for CoreDNS, Cilium and
Shardstack's own services."""
MIN_SYSTEM_VCPUS = 4
MIN_OS_DISK_GIB = 30
MAX_OS_DISK_GIB = 2048
"""The OS disk sizes AKS accepts."""

DEPLOYER_PRINCIPAL_TYPES: tuple[str, ...] = ("User", "ServicePrincipal")
"""A person signed in with ``az login``, or a service principal or managed identity (CI)."""
DEFAULT_PRINCIPAL_TYPE = "User"

MAX_AUTHORIZED_NETWORKS = 200
"""The most authorized IP ranges AKS accepts on a public API server."""

# Standard_<family><vCPUs>[-<active vCPUs>]<feature letters>[_<accelerator or version>...], e.g.
# Standard_D4s_v5, Standard_M64-32ms, Standard_NC24ads_A100_v4, Standard_D4ps_v5.
_VM_SIZE = re.compile(
    r"^Standard_(?P<family>[A-Z]+)(?P<vcpus>\d+)(?:-(?P<active>\d+))?(?P<features>[a-z]*)(?:_[A-Za-z0-9]+)*$"
)


class SystemVmSize(Kind):
    """An Azure VM size for AKS's system pool: x86_64, at least 4 vCPUs, no GPUs, not burstable."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return f"an Azure VM size like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}"

    def reason(self, value: Any) -> str | None:
        match = _VM_SIZE.match(value) if isinstance(value, str) else None
        if match is None:
            return f"is not {self.allowed}"
        example = f"use a size like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        vcpus = int(match["active"] or match["vcpus"])
        if match["family"].startswith("N"):
            return (
                f"has GPUs; the system pool runs cluster services on CPU nodes: {example} and a GPU node pool for GPUs"
            )
        if "p" in match["features"]:
            return f"is an Arm size; cluster services need x86_64 nodes: {example}"
        if match["family"] == "B":
            return f"is burstable (B-series), which AKS refuses for system pools: {example}"
        if vcpus < MIN_SYSTEM_VCPUS:
            return f"has {vcpus} vCPUs; AKS wants at least {MIN_SYSTEM_VCPUS} on a system pool: {example}"
        return None


SYSTEM_POOL = (
    system_pool_spec(
        Arg(
            "instance_type",
            SystemVmSize(),
            "Azure VM size, x86_64 with at least 4 vCPUs, no GPUs, not burstable (B-series).",
            default=DEFAULT_SYSTEM_INSTANCE_TYPE,
        )
    )
    .extend(
        "SystemPool",
        "The node pool of CPU nodes that runs cluster services (no GPUs). With ``zones``, AKS spreads its nodes over "
        "them; node counts are for the whole pool.",
    )
    .with_arg(
        "disk_size_gib",
        kind=Whole(MIN_OS_DISK_GIB, MAX_OS_DISK_GIB, why="what AKS accepts for an OS disk"),
        doc=f"OS disk per node, GiB, {MIN_OS_DISK_GIB} to {MAX_OS_DISK_GIB} (ephemeral where the VM size's cache "
        "holds it, else managed).",
    )
)
"""A Cluster's ``system_pool``: the neutral system pool with the AKS VM size and OS disk limits."""


class IPv4Address(Kind):
    """An IPv4 address such as '10.0.0.10'."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return "an IPv4 address like '10.0.0.10'"

    def reason(self, value: Any) -> str | None:
        try:
            ipaddress.IPv4Address(value if isinstance(value, str) else "")
        except ValueError:
            return f"is not {self.allowed}"
        return None


def _no_networks_on_private_api(values: Values) -> Iterator[Problem]:
    networks = values.get("authorized_networks", [])
    if values["private_endpoint"] is True and networks:
        yield Problem(
            ("authorized_networks",),
            "cannot be combined with a private API server: AKS applies authorized IP ranges to a public API "
            "server only, and a private one is reached from the VNet, peered networks or a VPN; drop "
            "authorized_networks or turn private_endpoint off",
            list(networks),
        )


def _authorized_network_count(values: Values) -> Iterator[Problem]:
    networks = values.get("authorized_networks", [])
    if len(networks) > MAX_AUTHORIZED_NETWORKS:
        reason = f"lists {len(networks)} blocks; AKS accepts at most {MAX_AUTHORIZED_NETWORKS}"
        yield Problem(("authorized_networks",), reason)


def _disjoint_pods_and_services(values: Values) -> Iterator[Problem]:
    pods, services = range_block(values, "pod_cidr"), range_block(values, "service_cidr")
    if pods and services and pods.overlaps(services):
        default = "" if values.given("pod_cidr") else "(the default) "
        yield Problem(
            ("pod_cidr",),
            f"{default}overlaps {shown_range(values, 'service_cidr')}: pod and Service addresses must be disjoint; "
            "move one of them",
            values["pod_cidr"],
        )


def _dns_in_services(values: Values) -> Iterator[Problem]:
    services = range_block(values, "service_cidr")
    if not values.given("dns_service_ip") or services is None:
        return
    value = values["dns_service_ip"]
    address, shown = ipaddress.IPv4Address(value), shown_range(values, "service_cidr")
    if address not in services:
        reason = f"is not inside {shown}: CoreDNS takes its address from the Service range"
        yield Problem(("dns_service_ip",), reason, value)
    elif address in (services.network_address, services.network_address + 1, services.broadcast_address):
        yield Problem(
            ("dns_service_ip",),
            f"is the network, first or broadcast address of {shown}; the first one is the kubernetes Service's: "
            f"use e.g. {str(services.network_address + DNS_SERVICE_IP_OFFSET)!r}",
            value,
        )


CLUSTER = Spec(
    "ClusterArgs",
    "Arguments of Cluster.",
    (
        Arg(
            "resource_group_name",
            RESOURCE_GROUP,
            "Resource group of the cluster (its nodes go in AKS's own node resource group).",
            required=True,
        ),
        Arg("location", REGION, "Azure region of the cluster, e.g. 'eastus'.", required=True),
        Arg(
            "node_subnet_id",
            SUBNET,
            "Resource ID of the subnet for the nodes (Network's ``node_subnet_id``).",
            required=True,
        ),
        Arg(
            "kubernetes_version",
            KubernetesVersion(service="AKS"),
            f"Kubernetes minor version, {SUPPORTED_KUBERNETES_VERSIONS[0]!r} to {SUPPORTED_KUBERNETES_VERSIONS[-1]!r}; "
            "AKS picks the patch release and ``auto_upgrade_channel`` keeps it patched.",
            default=DEFAULT_KUBERNETES_VERSION,
        ),
        Arg(
            "auto_upgrade_channel",
            Choice(AUTO_UPGRADE_CHANNELS),
            "How AKS upgrades Kubernetes by itself: 'patch' (the latest patch of the declared minor), 'stable' or "
            "'rapid' (newer minors too; the declared version is then only the starting one) or 'none'. The nodes' OS "
            "image is upgraded weekly either way.",
            default=DEFAULT_AUTO_UPGRADE_CHANNEL,
        ),
        private_endpoint("through its private endpoint in the VNet (a private cluster)"),
        authorized_networks(
            "Public CIDR blocks allowed to reach a public API server, e.g. ['203.0.113.0/24'], at most 200 (AKS adds "
            "the cluster's own egress IP). Required when private_endpoint is off; AKS does not apply them to a "
            "private cluster, so they cannot be given with one. " + WHOLE_INTERNET_REFUSED
        ),
        Arg(
            "pod_cidr",
            PrivateRange(DEFAULT_POD_CIDR, POD_CIDR_PREFIXES, "every node takes a /24 of it"),
            "Overlay range pods take addresses from, a private /8 to /22; every node takes a /24 of it. It must not "
            "overlap the VNet, peered networks or ``service_cidr``.",
            default=DEFAULT_POD_CIDR,
            default_doc=f"{DEFAULT_POD_CIDR!r} (1,024 nodes)",
        ),
        Arg(
            "service_cidr",
            PrivateRange(DEFAULT_SERVICE_CIDR, SERVICE_CIDR_PREFIXES, "every Service takes one address of it"),
            "Range of Service cluster IPs, a private /13 to /24 that overlaps neither the VNet nor ``pod_cidr``.",
            default=DEFAULT_SERVICE_CIDR,
        ),
        Arg(
            "dns_service_ip",
            IPv4Address(),
            "Cluster IP of CoreDNS, inside ``service_cidr`` but not its first address (the kubernetes Service's).",
            default_doc="the 10th address of ``service_cidr`` ('10.0.0.10')",
        ),
        Arg(
            "system_pool",
            Record(SYSTEM_POOL),
            "The CPU node pool for cluster services.",
            default_doc="1 to 3 Standard_D4s_v5 nodes with 50 GiB disks",
        ),
        Arg(
            "zones",
            AVAILABILITY_ZONES,
            "Availability zones of the system nodes, e.g. ['1', '2', '3'] (the region and VM size must offer them).",
            default_doc="none, AKS places the nodes without zone guarantees",
        ),
        Arg(
            "admin_group_object_ids",
            PRINCIPAL_IDS,
            "Object IDs of Microsoft Entra groups whose members are Kubernetes cluster-admins (through Kubernetes "
            "RBAC).",
            default_doc="none",
        ),
        Arg(
            "admin_principal_ids",
            PRINCIPAL_IDS,
            'Object IDs of Entra users, groups or service principals given "Azure Kubernetes Service RBAC Cluster '
            'Admin" on this cluster. Do not repeat the deployer here while ``grant_deployer_admin`` is True (Azure '
            "allows one such assignment).",
            default_doc="none",
        ),
        Arg(
            "admin_principal_type",
            Choice(PRINCIPAL_TYPES),
            "What every one of ``admin_principal_ids`` is: 'User', 'Group' or 'ServicePrincipal' (also managed "
            "identities); Azure refuses a role assignment whose type does not match.",
            default=DEFAULT_PRINCIPAL_TYPE,
        ),
        Arg(
            "grant_deployer_admin",
            Flag(),
            'Give the identity Pulumi runs as "Azure Kubernetes Service RBAC Cluster Admin" on this cluster, so that '
            "the Kubernetes provider can manage the cluster.",
            default=True,
        ),
        Arg(
            "deployer_principal_type",
            Choice(DEPLOYER_PRINCIPAL_TYPES),
            "What the identity Pulumi runs as is: 'User' (signed in with ``az login``) or 'ServicePrincipal' (a "
            "service principal or managed identity, e.g. CI).",
            default=DEFAULT_PRINCIPAL_TYPE,
        ),
        Arg(
            "sku_tier",
            Choice(SKU_TIERS),
            "AKS pricing tier: 'Free' (no SLA, for trials), 'Standard' (API server SLA) or 'Premium' (the tier "
            "long-term support needs; this component does not enroll in that support plan).",
            default=DEFAULT_SKU_TIER,
        ),
        Arg(
            "protect",
            Flag(),
            "Protect the AKS cluster: ``pulumi destroy`` fails until this is set to False and applied.",
            default=True,
        ),
        Arg(
            "managed_prometheus",
            Flag(),
            "Run AKS's metrics add-on (the Azure Monitor agent, ama-metrics) for Azure Monitor managed Prometheus: it "
            "scrapes the cluster and the pods its azmonitoring.coreos.com PodMonitors select, into the workspace a "
            "data collection rule on the cluster names (AzureInstallation creates them); billed per sample.",
            default=False,
        ),
        Arg(
            "tags",
            TAGS,
            "Azure tags for the cluster, its nodes and its control plane identity, next to "
            "``shardstack-component: <name>``.",
            default_doc="none",
        ),
    ),
    rules=(
        PUBLIC_API_NEEDS_NETWORKS,
        Rule(("private_endpoint", "authorized_networks"), _no_networks_on_private_api),
        Rule(("authorized_networks",), _authorized_network_count),
        Rule(("pod_cidr", "service_cidr"), _disjoint_pods_and_services),
        Rule(("dns_service_ip", "service_cidr"), _dns_in_services),
    ),
)
"""Cluster's arguments."""
