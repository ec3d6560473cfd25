"""Cluster: a private AKS cluster for Shardstack, with Entra ID access, its system node pool and a Kubernetes provider.

Usage::

    from shardstack.azure.cluster import Cluster

    cluster = Cluster("llm", {
        "resource_group_name": network.resource_group_name,
        "location": "eastus",
        "node_subnet_id": network.node_subnet_id,
        "zones": ["1", "2", "3"],
    })
    GpuEnablement("gpu", {...}, opts=pulumi.ResourceOptions(providers=[cluster.provider]))

What it creates: an AKS cluster whose API server is reachable only through a private endpoint in the
VNet (by default; with ``private_endpoint=False`` a public one open to ``authorized_networks`` only);
Microsoft Entra ID authentication with Azure RBAC for Kubernetes authorization and local accounts
disabled, so there is no static admin kubeconfig anywhere and every access is an Entra identity with a
role assignment; the OIDC issuer and Workload Identity, through which pods get Azure access (never from
the nodes' identity); Azure CNI Overlay powered by Cilium, so pods take addresses from an overlay range
and NetworkPolicy is enforced by Cilium's eBPF dataplane; patch upgrades of Kubernetes and weekly node
image upgrades; a system node pool of CPU nodes in the node subnet; and a Kubernetes provider.

Identities: the control plane runs as a user-assigned managed identity created here, which gets
"Network Contributor" on the node subnet only, before the cluster exists. AKS needs that role on a
subnet it did not create (to join nodes and internal load balancers to it); a system-assigned identity
would only exist once the cluster does, too late for its own creation. The kubelet identity (the nodes'
one, e.g. for AcrPull) is the one AKS creates in the node resource group: ``kubelet_identity_object_id``.

Kubernetes access: with Azure RBAC even the cluster's creator has no Kubernetes rights of its own, so by
default the deployer (the identity Pulumi runs as) gets "Azure Kubernetes Service RBAC Cluster Admin" on
this cluster, and so does every principal in ``admin_principal_ids``. Azure refuses a role assignment whose
principal type is wrong, so a deployer that is a service principal or managed identity (CI) passes
``deployer_principal_type='ServicePrincipal'``. The kubeconfig has no credential: its user runs
``kubelogin get-token --login azurecli``, which takes the token of the Azure CLI's signed-in identity. So
the deployer needs ``az`` (signed in as that identity) and ``kubelogin`` on its PATH (``az aks
install-cli``), network access to the API server (for a private cluster: from the VNet, a peered network
or a VPN), the right to list the cluster's user credentials (for its CA certificate; Contributor or "Azure
Kubernetes Service Cluster User Role"), and, to create the role assignments, the right to assign roles
(Owner, User Access Administrator or Role Based Access Control Administrator on the resource group and the
node subnet). Pass ``grant_deployer_admin=False`` where someone else grants Kubernetes access. Azure RBAC
role assignments take up to five minutes to reach the API server, so the Kubernetes provider waits that long
after they are created (once; again only when one is replaced).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import base64
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_time
import yaml
from pulumi_azure_native import authorization, containerservice, managedidentity

from shardstack.api_access import api_access_problems
from shardstack.azure import roles
from shardstack.azure.arm import placement_problems, subnet_id_problem, zones_problems
from shardstack.azure.network import RangeSpec, range_problems, shown_range
from shardstack.azure.tags import component_tags, tag_problems
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.k8s import names
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, kubernetes_version_problem
from shardstack.system_pool import DEFAULT_DISK_SIZE_GIB, DEFAULT_MAX_NODES, DEFAULT_MIN_NODES, system_pool_problems

TYPE_TOKEN = "shardstack:azure:Cluster"

AUTO_UPGRADE_CHANNELS: tuple[str, ...] = ("patch", "stable", "rapid", "none")
DEFAULT_AUTO_UPGRADE_CHANNEL = "patch"
"""AKS applies every patch release of the minor version given as ``kubernetes_version`` and never moves to
another minor on its own: the version stays the one the program declares."""
MINOR_UPGRADE_CHANNELS = ("stable", "rapid")
"""Channels that move the cluster to newer minor versions by themselves."""
NODE_OS_UPGRADE_CHANNEL = "NodeImage"
"""AKS replaces the nodes' image weekly with one carrying the latest OS security patches."""
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
RANGES = {
    "pod_cidr": RangeSpec(DEFAULT_POD_CIDR, POD_CIDR_PREFIXES, "every node takes a /24 of it"),
    "service_cidr": RangeSpec(DEFAULT_SERVICE_CIDR, SERVICE_CIDR_PREFIXES, "every Service takes one address of it"),
}
"""The overlay pod range and the Service range."""

NETWORK_PLUGIN = "azure"
NETWORK_PLUGIN_MODE = "overlay"
"""Azure CNI Overlay: pods take addresses from ``pod_cidr``, not from the VNet."""
NETWORK_DATAPLANE = "cilium"
NETWORK_POLICY = "cilium"
"""Azure CNI powered by Cilium enforces NetworkPolicy in eBPF without a separate policy engine (Calico or
Azure NPM), and is what AKS Automatic runs; its known limit (ipBlock cannot select pod or node IPs) does
not affect Shardstack's policies, whose ipBlocks are outside clients."""
OUTBOUND_TYPE = "loadBalancer"
"""Nodes reach the internet through the cluster's standard load balancer, the egress AKS manages."""

DEFAULT_SYSTEM_INSTANCE_TYPE = "Standard_D4s_v5"
"""4 vCPU, 16 GiB, x86_64: AKS's minimum for a system pool (4 vCPUs), room for CoreDNS, Cilium and
Shardstack's own services."""
RBAC_PROPAGATION_WAIT = "5m"
"""How long Kubernetes objects wait after the admin role assignments: the propagation time Microsoft documents."""

SYSTEM_POOL_NAME = "system"
"""AKS name of the system node pool: lowercase letters and digits, at most 12."""
SYSTEM_POOL_LABEL = "shardstack.dev/pool"
SYSTEM_POOL_LABEL_VALUE = "system"
SYSTEM_OS_SKU = "AzureLinux"
"""Microsoft's minimal, hardened container host: fewer packages to patch than Ubuntu."""
SYSTEM_MAX_SURGE = "1"
"""Upgrades add one node before draining one, so capacity never drops below min_nodes."""
MIN_SYSTEM_VCPUS = 4
MIN_OS_DISK_GIB = 30
MAX_OS_DISK_GIB = 2048
"""The OS disk sizes AKS accepts."""

DEPLOYER_PRINCIPAL_TYPES: tuple[str, ...] = ("User", "ServicePrincipal")
"""A person signed in with ``az login``, or a service principal or managed identity (CI)."""
DEFAULT_PRINCIPAL_TYPE = "User"

AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The AKS Microsoft Entra server application: the audience of every token an AKS API server accepts."""
KUBELOGIN = "kubelogin"
KUBELOGIN_INSTALL_HINT = (
    "kubelogin is not installed; it gets Microsoft Entra tokens for AKS. Install it with `az aks install-cli` "
    "(https://azure.github.io/kubelogin/) and sign in with `az login`."
)

MAX_AUTHORIZED_NETWORKS = 200
"""The most authorized IP ranges AKS accepts on a public API server."""
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_MAX_CLUSTER_NAME_LENGTH = 54
"""The cluster name is also its DNS prefix, which AKS limits to 54 characters."""
# Standard_<family><vCPUs>[-<active vCPUs>]<feature letters>[_<accelerator or version>...], e.g.
# Standard_D4s_v5, Standard_M64-32ms, Standard_NC24ads_A100_v4, Standard_D4ps_v5.
_VM_SIZE = re.compile(
    r"^Standard_(?P<family>[A-Z]+)(?P<vcpus>\d+)(?:-(?P<active>\d+))?(?P<features>[a-z]*)(?:_[A-Za-z0-9]+)*$"
)


class SystemPool(TypedDict, total=False):
    """The node pool of CPU nodes that runs cluster services (no GPUs). With ``zones``, AKS spreads its
    nodes over them; node counts are for the whole pool."""

    instance_type: str
    """Azure VM size, x86_64 with at least 4 vCPUs, no GPUs, not burstable (B-series). Default:
    'Standard_D4s_v5'."""
    min_nodes: int
    """Fewest nodes, ≥ 1 (CoreDNS and the controllers need somewhere to run). Default: 1."""
    max_nodes: int
    """Most nodes, ≥ min_nodes. Default: 3."""
    disk_size_gib: int
    """OS disk per node, GiB, 30 to 2048 (ephemeral where the VM size's cache holds it, else managed).
    Default: 50."""


class ClusterArgs(TypedDict, total=False):
    """Arguments of Cluster."""

    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the cluster (its nodes go in AKS's own node resource group). Required."""
    location: Required[str]
    """Azure region of the cluster, e.g. 'eastus'. Required."""
    node_subnet_id: Required[pulumi.Input[str]]
    """Resource ID of the subnet for the nodes (Network's ``node_subnet_id``). Required."""
    kubernetes_version: str
    """Kubernetes minor version, '1.30' to '1.34'; AKS picks the patch release and ``auto_upgrade_channel``
    keeps it patched. Default: '1.33'."""
    auto_upgrade_channel: str
    """How AKS upgrades Kubernetes by itself: 'patch' (the latest patch of the declared minor), 'stable'
    or 'rapid' (newer minors too; the declared version is then only the starting one) or 'none'. The
    nodes' OS image is upgraded weekly either way. Default: 'patch'."""
    private_endpoint: bool
    """Reach the Kubernetes API only through its private endpoint in the VNet (a private cluster). When
    False the API server is public, open to ``authorized_networks`` only. Nodes are private either way.
    Default: True."""
    authorized_networks: Sequence[str]
    """Public CIDR blocks allowed to reach a public API server, e.g. ['203.0.113.0/24'], at most 200 (AKS
    adds the cluster's own egress IP). Required when private_endpoint is False; AKS does not apply them to
    a private cluster, so they cannot be given with one. 0.0.0.0/0 is refused. Default: none."""
    pod_cidr: str
    """Overlay range pods take addresses from, a private /8 to /22; every node takes a /24 of it. It must
    not overlap the VNet, peered networks or ``service_cidr``. Default: '10.244.0.0/14' (1,024 nodes)."""
    service_cidr: str
    """Range of Service cluster IPs, a private /13 to /24 that overlaps neither the VNet nor ``pod_cidr``.
    Default: '10.0.0.0/16'."""
    dns_service_ip: str
    """Cluster IP of CoreDNS, inside ``service_cidr`` but not its first address (the kubernetes Service's).
    Default: the 10th address of ``service_cidr`` ('10.0.0.10')."""
    system_pool: SystemPool
    """The CPU node pool for cluster services. Default: 1 to 3 Standard_D4s_v5 nodes with 50 GiB disks."""
    zones: Sequence[str]
    """Availability zones of the system nodes, e.g. ['1', '2', '3'] (the region and VM size must offer
    them). Default: none, AKS places the nodes without zone guarantees."""
    admin_group_object_ids: Sequence[pulumi.Input[str]]
    """Object IDs of Microsoft Entra groups whose members are Kubernetes cluster-admins (through
    Kubernetes RBAC). Default: none."""
    admin_principal_ids: Sequence[pulumi.Input[str]]
    """Object IDs of Entra users, groups or service principals given "Azure Kubernetes Service RBAC Cluster
    Admin" on this cluster. Do not repeat the deployer here while ``grant_deployer_admin`` is True (Azure
    allows one such assignment). Default: none."""
    admin_principal_type: str
    """What every one of ``admin_principal_ids`` is: 'User', 'Group' or 'ServicePrincipal' (also managed
    identities); Azure refuses a role assignment whose type does not match. Default: 'User'."""
    grant_deployer_admin: bool
    """Give the identity Pulumi runs as "Azure Kubernetes Service RBAC Cluster Admin" on this cluster, so
    that the Kubernetes provider can manage the cluster. Default: True."""
    deployer_principal_type: str
    """What the identity Pulumi runs as is: 'User' (signed in with ``az login``) or 'ServicePrincipal' (a
    service principal or managed identity, e.g. CI). Default: 'User'."""
    sku_tier: str
    """AKS pricing tier: 'Free' (no SLA, for trials), 'Standard' (API server SLA) or 'Premium' (the tier
    long-term support needs; this component does not enroll in that support plan). Default: 'Standard'."""
    protect: bool
    """Protect the AKS cluster: ``pulumi destroy`` fails until this is set to False and applied.
    Default: True."""
    tags: Mapping[str, str]
    """Azure tags for the cluster, its nodes and its control plane identity, next to
    ``shardstack-component: <name>``. Default: none."""


def validate_cluster_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Cluster arguments, one line each."""
    if not isinstance(args, Mapping):
        return [f"arguments must be a mapping of argument names to values; got {args!r}"]
    problems: list[str] = []
    known = ClusterArgs.__annotations__
    for key in sorted(set(args) - set(known)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, known)}")
    if name is not None and (
        not isinstance(name, str) or not _CLUSTER_NAME.match(name) or len(name) > _MAX_CLUSTER_NAME_LENGTH
    ):
        problems.append(
            f"name={name!r} cannot name an AKS cluster (it is also its DNS prefix): use at most "
            f"{_MAX_CLUSTER_NAME_LENGTH} letters, digits and '-', starting and ending with a letter or digit"
        )
    problems.extend(_required_problems(args))
    problems.extend(_version_problems(args))
    problems.extend(_endpoint_problems(args))
    problems.extend(_range_problems(args))
    problems.extend(_system_pool_problems(args.get("system_pool")))
    problems.extend(zones_problems(args.get("zones")))
    problems.extend(_principal_problems(args))
    for flag in ("grant_deployer_admin", "protect"):
        if flag in args and (problem := names.bool_problem(flag, args[flag])):
            problems.append(problem)
    if "sku_tier" in args and args["sku_tier"] not in SKU_TIERS:
        problems.append(
            f"sku_tier={args['sku_tier']!r} is not an AKS pricing tier; use {one_of(SKU_TIERS)}"
            f"{did_you_mean(str(args['sku_tier']).capitalize(), SKU_TIERS)}"
        )
    problems.extend(tag_problems(args.get("tags")))
    return problems


def _required_problems(args: Mapping[str, Any]) -> list[str]:
    problems = placement_problems(args, "the cluster")
    if "node_subnet_id" not in args:
        problems.append("node_subnet_id is required: the resource ID of the subnet for the nodes")
    elif problem := subnet_id_problem("node_subnet_id", args["node_subnet_id"]):
        problems.append(problem)
    return problems


def _version_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "kubernetes_version" in args and (problem := kubernetes_version_problem(args["kubernetes_version"], "AKS")):
        problems.append(problem)
    channel = args.get("auto_upgrade_channel", DEFAULT_AUTO_UPGRADE_CHANNEL)
    if channel not in AUTO_UPGRADE_CHANNELS:
        problems.append(
            f"auto_upgrade_channel={channel!r} is not an AKS auto-upgrade channel; use {one_of(AUTO_UPGRADE_CHANNELS)}"
            f"{did_you_mean(str(channel).lower(), AUTO_UPGRADE_CHANNELS)}"
        )
    return problems


def _endpoint_problems(args: Mapping[str, Any]) -> list[str]:
    problems = api_access_problems(args)
    networks = args.get("authorized_networks", [])
    if args.get("private_endpoint", True) is True and isinstance(networks, Sequence) and networks:
        problems.append(
            f"authorized_networks={list(networks)!r} cannot be combined with a private API server: AKS applies "
            "authorized IP ranges to a public API server only, and a private one is reached from the VNet, "
            "peered networks or a VPN; drop authorized_networks or set private_endpoint False"
        )
    if isinstance(networks, Sequence) and len(networks) > MAX_AUTHORIZED_NETWORKS:
        problems.append(
            f"authorized_networks lists {len(networks)} blocks; AKS accepts at most {MAX_AUTHORIZED_NETWORKS}"
        )
    return problems


def _range_problems(args: Mapping[str, Any]) -> list[str]:
    """Problems with the pod and Service ranges and the DNS Service IP, alone and together (defaults included)."""
    problems, blocks = range_problems(args, RANGES)
    pods, services = blocks.get("pod_cidr"), blocks.get("service_cidr")
    if pods and services and pods.overlaps(services):
        problems.append(
            f"{shown_range(args, 'pod_cidr', RANGES)} and {shown_range(args, 'service_cidr', RANGES)} "
            "overlap: pod and Service addresses must be disjoint; move one of them"
        )
    if "dns_service_ip" in args:
        problem = _dns_service_ip_problem(args["dns_service_ip"], services, shown_range(args, "service_cidr", RANGES))
        if problem:
            problems.append(problem)
    return problems


def _dns_service_ip_problem(value: Any, services: ipaddress.IPv4Network | None, shown: str) -> str | None:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return f"dns_service_ip={value!r} is not an IPv4 address like '10.0.0.10'"
    if services is None:
        return None  # the Service range has its own problem
    if address not in services:
        return f"dns_service_ip={value!r} is not inside {shown}: CoreDNS takes its address from the Service range"
    if address in (services.network_address, services.network_address + 1, services.broadcast_address):
        return (
            f"dns_service_ip={value!r} is the network, first or broadcast address of {shown}; the first one is "
            f"the kubernetes Service's: use e.g. {str(services.network_address + DNS_SERVICE_IP_OFFSET)!r}"
        )
    return None


def _instance_type_problem(instance_type: Any) -> str | None:
    arg = f"system_pool['instance_type']={instance_type!r}"
    match = _VM_SIZE.match(instance_type) if isinstance(instance_type, str) else None
    if match is None:
        return f"{arg} is not an Azure VM size like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
    vcpus = int(match["active"] or match["vcpus"])
    if match["family"].startswith("N"):
        return (
            f"{arg} has GPUs; the system pool runs cluster services on CPU nodes: use a size like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r} and a GPU node pool for GPUs"
        )
    if "p" in match["features"]:
        return (
            f"{arg} is an Arm size; cluster services need x86_64 nodes: use a size like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    if match["family"] == "B":
        return (
            f"{arg} is burstable (B-series), which AKS refuses for system pools: use e.g. "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    if vcpus < MIN_SYSTEM_VCPUS:
        return (
            f"{arg} has {vcpus} vCPUs; AKS wants at least {MIN_SYSTEM_VCPUS} on a system pool: use e.g. "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    return None


def _system_pool_problems(pool: Any) -> list[str]:
    problems = system_pool_problems(pool, SystemPool.__annotations__, DEFAULT_SYSTEM_INSTANCE_TYPE,
                                    _instance_type_problem)
    disk = pool.get("disk_size_gib") if isinstance(pool, Mapping) else None
    # Below 20 GiB the shared check already reports it.
    if isinstance(disk, int) and not isinstance(disk, bool) and disk >= 20 and not (
        MIN_OS_DISK_GIB <= disk <= MAX_OS_DISK_GIB
    ):
        problems.append(
            f"system_pool['disk_size_gib']={disk!r} is outside what AKS accepts for an OS disk: "
            f"{MIN_OS_DISK_GIB} to {MAX_OS_DISK_GIB} GiB"
        )
    return problems


def _principal_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in ("admin_group_object_ids", "admin_principal_ids"):
        problems.extend(roles.principal_ids_problems(key, args.get(key)))
    types = {"admin_principal_type": roles.PRINCIPAL_TYPES, "deployer_principal_type": DEPLOYER_PRINCIPAL_TYPES}
    for key, allowed in types.items():
        if key in args and (problem := roles.principal_type_problem(key, args[key], allowed)):
            problems.append(problem)
    return problems


def _certificate_authority(kubeconfigs: Sequence[Any]) -> str:
    """Return the base64 CA certificate from the kubeconfig listManagedClusterUserCredentials returns."""
    if not kubeconfigs:
        raise ValueError("AKS returned no user kubeconfig for the cluster")
    config = yaml.safe_load(base64.b64decode(kubeconfigs[0].value))
    return config["clusters"][0]["cluster"]["certificate-authority-data"]


def _api_server(fqdn: str | None, private_fqdn: str | None) -> str:
    """Return the API server URL: the FQDN (public DNS; for a private cluster it resolves to the private
    endpoint's address, so clients need only a route to the VNet, not its private DNS zone), else the
    private FQDN."""
    host = fqdn or private_fqdn
    if not host:
        raise ValueError("AKS reported neither an FQDN nor a private FQDN for the cluster")
    return f"https://{host}:443"


def _kubeconfig(resource_group: str, cluster_name: str, server: str, ca: str) -> str:
    """Return a kubeconfig whose user gets a Microsoft Entra token from kubelogin's Azure CLI login (no
    credential stored in it): what ``kubelogin convert-kubeconfig -l azurecli`` makes of AKS's own."""
    # The entry names `az aks get-credentials` uses, so that the config merges cleanly with its output.
    user = f"clusterUser_{resource_group}_{cluster_name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": user,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": KUBELOGIN,
                            "args": ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID],
                            "installHint": KUBELOGIN_INSTALL_HINT,
                            "provideClusterInfo": False,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


class Cluster(pulumi.ComponentResource):
    """Creates a private AKS cluster with Entra ID access, a system node pool and a Kubernetes provider.

    ``provider`` (a plain attribute, not an output) is the ``pulumi_kubernetes.Provider`` for the
    cluster: pass it to the Kubernetes components. It is ready once the cluster, its system pool and the
    admin role assignments are. GPU node pools attach to ``cluster_name`` in ``resource_group_name``.
    """

    cluster_name: pulumi.Output[str]
    """AKS cluster name (the component's name)."""
    cluster_id: pulumi.Output[str]
    """Resource ID of the AKS cluster: the scope of Kubernetes role assignments."""
    resource_group_name: pulumi.Output[str]
    """Resource group of the cluster."""
    node_resource_group: pulumi.Output[str]
    """Resource group AKS keeps the nodes, load balancers and kubelet identity in ('MC_<group>_<name>_<region>')."""
    oidc_issuer_url: pulumi.Output[str]
    """URL of the cluster's OIDC issuer, which federated identity credentials trust (Workload Identity)."""
    kubelet_identity_object_id: pulumi.Output[str]
    """Object (principal) ID of the nodes' kubelet identity: give it AcrPull on image registries."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (JSON) whose user runs ``kubelogin get-token --login azurecli``; a secret."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_cluster_args(args, name=name)
        if problems:
            raise ArgumentError(f"Cluster {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = component_tags(name, args.get("tags"))
        resource_group = args["resource_group_name"]
        location = args["location"]
        private = args.get("private_endpoint", True)
        pool: SystemPool = args.get("system_pool", {})
        channel = args.get("auto_upgrade_channel", DEFAULT_AUTO_UPGRADE_CHANNEL)
        service_cidr = args.get("service_cidr", DEFAULT_SERVICE_CIDR)
        dns_service_ip = args.get(
            "dns_service_ip", str(ipaddress.IPv4Network(service_cidr).network_address + DNS_SERVICE_IP_OFFSET)
        )

        control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane",
            resource_group_name=resource_group,
            location=location,
            tags=tags,
            opts=child,
        )
        # Before the cluster exists: AKS joins nodes and internal load balancers to the subnet as it creates them.
        subnet_role = roles.role_assignment(
            f"{name}-control-plane-network",
            scope=args["node_subnet_id"],
            principal_id=control_plane.principal_id,
            role=roles.NETWORK_CONTRIBUTOR,
            # A new identity may not have replicated through Entra yet; the type lets ARM skip that lookup.
            principal_type="ServicePrincipal",
            opts=child,
        )

        min_nodes = pool.get("min_nodes", DEFAULT_MIN_NODES)
        zones = args.get("zones")
        system_pool = containerservice.ManagedClusterAgentPoolProfileArgs(
            name=SYSTEM_POOL_NAME,
            mode="System",
            type="VirtualMachineScaleSets",
            os_type="Linux",
            os_sku=SYSTEM_OS_SKU,
            vm_size=pool.get("instance_type", DEFAULT_SYSTEM_INSTANCE_TYPE),
            os_disk_size_gb=pool.get("disk_size_gib", DEFAULT_DISK_SIZE_GIB),
            vnet_subnet_id=args["node_subnet_id"],
            enable_auto_scaling=True,
            count=min_nodes,
            min_count=min_nodes,
            max_count=pool.get("max_nodes", DEFAULT_MAX_NODES),
            availability_zones=list(zones) if zones else None,
            enable_node_public_ip=False,
            # No CriticalAddonsOnly taint: this is the cluster's only CPU pool, and Shardstack's own CPU
            # services (controllers, an in-cluster weight store) run here next to AKS's. GPU pools are
            # tainted, so nothing lands on GPUs by accident.
            node_labels={SYSTEM_POOL_LABEL: SYSTEM_POOL_LABEL_VALUE},
            upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(max_surge=SYSTEM_MAX_SURGE),
            tags=tags,
        )
        if private:
            api_access = containerservice.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=True,
                # AKS creates and links the private DNS zone in the node resource group.
                private_dns_zone="system",
                # A public DNS name that resolves to the private endpoint's address (no public endpoint):
                # clients with a route to the VNet need not resolve its private DNS zone.
                enable_private_cluster_public_fqdn=True,
            )
        else:
            api_access = containerservice.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=False,
                authorized_ip_ranges=list(args.get("authorized_networks", [])),
            )
        # The autoscaler owns the node count after creation; a minor-version channel owns the version.
        ignored = ["agentPoolProfiles[0].count"]
        if channel in MINOR_UPGRADE_CHANNELS:
            ignored.append("kubernetesVersion")

        cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            # A fixed name: kubeconfigs, node pools and role assignments refer to the cluster by it.
            resource_name_=name,
            resource_group_name=resource_group,
            location=location,
            dns_prefix=name,
            kubernetes_version=args.get("kubernetes_version", DEFAULT_KUBERNETES_VERSION),
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=args.get("sku_tier", DEFAULT_SKU_TIER)),
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[control_plane.id],
            ),
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                admin_group_object_ids=list(args.get("admin_group_object_ids") or []),
            ),
            enable_rbac=True,
            # No static client certificate or admin kubeconfig: every caller is an Entra identity.
            disable_local_accounts=True,
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
            ),
            api_server_access_profile=api_access,
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=channel,
                node_os_upgrade_channel=NODE_OS_UPGRADE_CHANNEL,
            ),
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=NETWORK_PLUGIN,
                network_plugin_mode=NETWORK_PLUGIN_MODE,
                network_dataplane=NETWORK_DATAPLANE,
                network_policy=NETWORK_POLICY,
                pod_cidr=args.get("pod_cidr", DEFAULT_POD_CIDR),
                service_cidr=service_cidr,
                dns_service_ip=dns_service_ip,
                outbound_type=OUTBOUND_TYPE,
                load_balancer_sku="standard",
            ),
            agent_pool_profiles=[system_pool],
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.get("protect", True),
                depends_on=[subnet_role],
                ignore_changes=ignored,
            ),
        )

        admins = [
            roles.role_assignment(
                # Named after the principal where it is known, so that reordering the list replaces nothing.
                roles.principal_resource_name(f"{name}-admin", i, principal, lowercase=True),
                scope=cluster.id,
                principal_id=principal,
                role=roles.AKS_RBAC_CLUSTER_ADMIN,
                principal_type=args.get("admin_principal_type", DEFAULT_PRINCIPAL_TYPE),
                opts=child,
            )
            for i, principal in enumerate(args.get("admin_principal_ids") or [])
        ]
        if args.get("grant_deployer_admin", True):
            deployer = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
            admins.append(
                roles.role_assignment(
                    f"{name}-admin-deployer",
                    scope=cluster.id,
                    principal_id=deployer.object_id,
                    role=roles.AKS_RBAC_CLUSTER_ADMIN,
                    principal_type=args.get("deployer_principal_type", DEFAULT_PRINCIPAL_TYPE),
                    opts=child,
                )
            )

        # Local accounts are off, so the user kubeconfig is the only one AKS hands out; only its CA is used.
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=resource_group,
            resource_name=cluster.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        ca = credentials.kubeconfigs.apply(_certificate_authority)
        server = pulumi.Output.all(cluster.fqdn, cluster.private_fqdn).apply(lambda hosts: _api_server(*hosts))
        kubeconfig_parts = pulumi.Output.all(pulumi.Output.from_input(resource_group), cluster.name, server, ca)
        self.kubeconfig = pulumi.Output.secret(kubeconfig_parts.apply(lambda values: _kubeconfig(*values)))
        # ARM returns a role assignment before the API server honours it (Microsoft documents up to five
        # minutes). Kubernetes objects created in that window get 403 and leave a half-applied stack, so they
        # wait; the wait runs again only when an assignment is replaced.
        propagated: list[pulumi.Resource] = []
        if admins:
            propagated.append(pulumiverse_time.Sleep(
                f"{name}-rbac-propagation",
                create_duration=RBAC_PROPAGATION_WAIT,
                triggers={"assignments": pulumi.Output.all(*[a.id for a in admins]).apply(
                    lambda ids: ",".join(sorted(ids)))},
                opts=pulumi.ResourceOptions(parent=self, depends_on=admins),
            ))
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *admins, *propagated]),
        )

        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.resource_group_name = pulumi.Output.from_input(resource_group)
        self.node_resource_group = cluster.node_resource_group.apply(lambda group: group or "")
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(
            lambda profile: (profile.issuer_url or "") if profile else ""
        )
        self.kubelet_identity_object_id = cluster.identity_profile.apply(
            lambda profile: (profile["kubeletidentity"].object_id or "")
            if profile and "kubeletidentity" in profile
            else ""
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "resource_group_name": self.resource_group_name,
                "node_resource_group": self.node_resource_group,
                "oidc_issuer_url": self.oidc_issuer_url,
                "kubelet_identity_object_id": self.kubelet_identity_object_id,
                "kubeconfig": self.kubeconfig,
            }
        )
