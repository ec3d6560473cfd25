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

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_time
from pulumi_azure_native import authorization, containerservice, managedidentity

from shardstack.azure import roles
from shardstack.azure.args import ClusterArgs, SystemPool
from shardstack.azure.cluster_specs import (
    AUTO_UPGRADE_CHANNELS,
    CLUSTER,
    DEFAULT_AUTO_UPGRADE_CHANNEL,
    DEFAULT_POD_CIDR,
    DEFAULT_PRINCIPAL_TYPE,
    DEFAULT_SERVICE_CIDR,
    DEFAULT_SKU_TIER,
    DEFAULT_SYSTEM_INSTANCE_TYPE,
    DEPLOYER_PRINCIPAL_TYPES,
    DNS_SERVICE_IP_OFFSET,
    MAX_AUTHORIZED_NETWORKS,
    MAX_OS_DISK_GIB,
    MIN_OS_DISK_GIB,
    MIN_SYSTEM_VCPUS,
    POD_CIDR_PREFIXES,
    SERVICE_CIDR_PREFIXES,
    SKU_TIERS,
)

# The kubelogin constants are re-exported: they were defined here before the kubeconfig moved to its own module.
from shardstack.azure.kubeconfig import AKS_SERVER_ID as AKS_SERVER_ID
from shardstack.azure.kubeconfig import KUBELOGIN as KUBELOGIN
from shardstack.azure.kubeconfig import KUBELOGIN_INSTALL_HINT as KUBELOGIN_INSTALL_HINT
from shardstack.azure.kubeconfig import aks_kubeconfig
from shardstack.azure.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION
from shardstack.specs.problem import as_arguments
from shardstack.system_pool import DEFAULT_DISK_SIZE_GIB, DEFAULT_MAX_NODES, DEFAULT_MIN_NODES

TYPE_TOKEN = "shardstack:azure:Cluster"

MINOR_UPGRADE_CHANNELS = ("stable", "rapid")
"""Channels that move the cluster to newer minor versions by themselves."""
NODE_OS_UPGRADE_CHANNEL = "NodeImage"
"""AKS replaces the nodes' image weekly with one carrying the latest OS security patches."""

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

_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_MAX_CLUSTER_NAME_LENGTH = 54
"""The cluster name is also its DNS prefix, which AKS limits to 54 characters."""

__all__ = [
    "AUTO_UPGRADE_CHANNELS",
    "DEFAULT_AUTO_UPGRADE_CHANNEL",
    "DEFAULT_POD_CIDR",
    "DEFAULT_PRINCIPAL_TYPE",
    "DEFAULT_SERVICE_CIDR",
    "DEFAULT_SKU_TIER",
    "DEFAULT_SYSTEM_INSTANCE_TYPE",
    "DEPLOYER_PRINCIPAL_TYPES",
    "DNS_SERVICE_IP_OFFSET",
    "MAX_AUTHORIZED_NETWORKS",
    "MAX_OS_DISK_GIB",
    "MIN_OS_DISK_GIB",
    "MIN_SYSTEM_VCPUS",
    "POD_CIDR_PREFIXES",
    "SERVICE_CIDR_PREFIXES",
    "SKU_TIERS",
    "SYSTEM_POOL_NAME",
    "Cluster",
    "ClusterArgs",
    "SystemPool",
    "validate_cluster_args",
]


def validate_cluster_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Cluster arguments (and its name, when given), one line each."""
    problems = as_arguments(CLUSTER.check(args))
    if name is not None and (problem := cluster_name_problem(name)):
        problems.append(problem)
    return problems


def cluster_name_problem(name: Any) -> str | None:
    """Why the component's name cannot name an AKS cluster (it is also its DNS prefix), or None."""
    if isinstance(name, str) and _CLUSTER_NAME.match(name) and len(name) <= _MAX_CLUSTER_NAME_LENGTH:
        return None
    return (
        f"name={name!r} cannot name an AKS cluster (it is also its DNS prefix): use at most "
        f"{_MAX_CLUSTER_NAME_LENGTH} letters, digits and '-', starting and ending with a letter or digit"
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
        tags = component_tags(name, args.get("tags"))
        resource_group = args["resource_group_name"]

        control_plane, subnet_role = self._control_plane_identity(name, args, tags)
        cluster = self._managed_cluster(name, args, tags, control_plane, subnet_role)
        admins = self._admin_role_assignments(name, args, cluster)
        self.kubeconfig = aks_kubeconfig(resource_group, cluster, parent=self)
        self.provider = self._kubernetes_provider(name, cluster, admins, self.kubeconfig)

        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.resource_group_name = pulumi.Output.from_input(resource_group)
        self.node_resource_group = cluster.node_resource_group.apply(lambda group: group or "")
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(
            lambda profile: (profile.issuer_url or "") if profile else ""
        )
        self.kubelet_identity_object_id = cluster.identity_profile.apply(
            lambda profile: (
                (profile["kubeletidentity"].object_id or "") if profile and "kubeletidentity" in profile else ""
            )
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

    def _control_plane_identity(
        self, name: str, args: ClusterArgs, tags: dict[str, str]
    ) -> tuple[managedidentity.UserAssignedIdentity, authorization.RoleAssignment]:
        """Create the control plane's user-assigned identity and its Network Contributor role on the node subnet."""
        child = pulumi.ResourceOptions(parent=self)
        control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane",
            resource_group_name=args["resource_group_name"],
            location=args["location"],
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
        return control_plane, subnet_role

    def _managed_cluster(
        self,
        name: str,
        args: ClusterArgs,
        tags: dict[str, str],
        control_plane: managedidentity.UserAssignedIdentity,
        subnet_role: authorization.RoleAssignment,
    ) -> containerservice.ManagedCluster:
        """Create the AKS cluster: Entra ID with Azure RBAC, Workload Identity, Cilium overlay, the system pool."""
        channel = args.get("auto_upgrade_channel", DEFAULT_AUTO_UPGRADE_CHANNEL)
        # The autoscaler owns the node count after creation; a minor-version channel owns the version.
        ignored = ["agentPoolProfiles[0].count"]
        if channel in MINOR_UPGRADE_CHANNELS:
            ignored.append("kubernetesVersion")

        return containerservice.ManagedCluster(
            f"{name}-cluster",
            # A fixed name: kubeconfigs, node pools and role assignments refer to the cluster by it.
            resource_name_=name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
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
            # The metrics add-on: without a data collection rule naming a workspace, it sends nothing.
            azure_monitor_profile=containerservice.ManagedClusterAzureMonitorProfileArgs(
                metrics=containerservice.ManagedClusterAzureMonitorProfileMetricsArgs(enabled=True)
            )
            if args.get("managed_prometheus", False)
            else None,
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
            ),
            api_server_access_profile=_api_server_access(args),
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=channel,
                node_os_upgrade_channel=NODE_OS_UPGRADE_CHANNEL,
            ),
            network_profile=_network_profile(args),
            agent_pool_profiles=[_system_pool_profile(args, tags)],
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.get("protect", True),
                depends_on=[subnet_role],
                ignore_changes=ignored,
            ),
        )

    def _admin_role_assignments(
        self, name: str, args: ClusterArgs, cluster: containerservice.ManagedCluster
    ) -> list[authorization.RoleAssignment]:
        """Create the "AKS RBAC Cluster Admin" role assignments: each admin principal's, then the deployer's."""
        child = pulumi.ResourceOptions(parent=self)
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
        return admins

    def _kubernetes_provider(
        self,
        name: str,
        cluster: containerservice.ManagedCluster,
        admins: list[authorization.RoleAssignment],
        kubeconfig: pulumi.Output[str],
    ) -> k8s.Provider:
        """Create the Kubernetes provider, ready once the cluster is and the admin role assignments have propagated."""
        # ARM returns a role assignment before the API server honours it (Microsoft documents up to five
        # minutes). Kubernetes objects created in that window get 403 and leave a half-applied stack, so they
        # wait; the wait runs again only when an assignment is replaced.
        propagated: list[pulumi.Resource] = []
        if admins:
            propagated.append(
                pulumiverse_time.Sleep(
                    f"{name}-rbac-propagation",
                    create_duration=RBAC_PROPAGATION_WAIT,
                    triggers={
                        "assignments": pulumi.Output.all(*[a.id for a in admins]).apply(
                            lambda ids: ",".join(sorted(ids))
                        )
                    },
                    opts=pulumi.ResourceOptions(parent=self, depends_on=admins),
                )
            )
        return k8s.Provider(
            f"{name}-provider",
            kubeconfig=kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *admins, *propagated]),
        )


def _system_pool_profile(
    args: ClusterArgs, tags: dict[str, str]
) -> containerservice.ManagedClusterAgentPoolProfileArgs:
    """Return the system node pool's profile: autoscaling CPU nodes in the node subnet, without public IPs."""
    pool: SystemPool = args.get("system_pool", {})
    min_nodes = pool.get("min_nodes", DEFAULT_MIN_NODES)
    zones = args.get("zones")
    return containerservice.ManagedClusterAgentPoolProfileArgs(
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


def _api_server_access(args: ClusterArgs) -> containerservice.ManagedClusterAPIServerAccessProfileArgs:
    """Return the API server's access profile: a private endpoint, or a public one open to authorized_networks."""
    if args.get("private_endpoint", True):
        return containerservice.ManagedClusterAPIServerAccessProfileArgs(
            enable_private_cluster=True,
            # AKS creates and links the private DNS zone in the node resource group.
            private_dns_zone="system",
            # A public DNS name that resolves to the private endpoint's address (no public endpoint):
            # clients with a route to the VNet need not resolve its private DNS zone.
            enable_private_cluster_public_fqdn=True,
        )
    return containerservice.ManagedClusterAPIServerAccessProfileArgs(
        enable_private_cluster=False,
        authorized_ip_ranges=list(args.get("authorized_networks", [])),
    )


def _network_profile(args: ClusterArgs) -> containerservice.ContainerServiceNetworkProfileArgs:
    """Return the network profile: Azure CNI Overlay powered by Cilium, egress through the standard load balancer."""
    service_cidr = args.get("service_cidr", DEFAULT_SERVICE_CIDR)
    dns_service_ip = args.get(
        "dns_service_ip", str(ipaddress.IPv4Network(service_cidr).network_address + DNS_SERVICE_IP_OFFSET)
    )
    return containerservice.ContainerServiceNetworkProfileArgs(
        network_plugin=NETWORK_PLUGIN,
        network_plugin_mode=NETWORK_PLUGIN_MODE,
        network_dataplane=NETWORK_DATAPLANE,
        network_policy=NETWORK_POLICY,
        pod_cidr=args.get("pod_cidr", DEFAULT_POD_CIDR),
        service_cidr=service_cidr,
        dns_service_ip=dns_service_ip,
        outbound_type=OUTBOUND_TYPE,
        load_balancer_sku="standard",
    )
