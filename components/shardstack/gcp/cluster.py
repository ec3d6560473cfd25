"""Cluster: a regional GKE Standard cluster for Shardstack, with its system node pool and a Kubernetes provider.

Usage::

    from shardstack.gcp.cluster import Cluster

    cluster = Cluster("shardstack", {
        "region": "us-central1",
        "network": network.network_self_link, "subnetwork": network.subnetwork_self_link,
        "pods_range_name": network.pods_range_name, "services_range_name": network.services_range_name,
    })
    GpuEnablement("gpu", {"device_plugin": False}, opts=pulumi.ResourceOptions(providers=[cluster.provider]))

What it creates: a VPC-native cluster with private nodes (the Kubernetes API private too, by
default), Dataplane V2 (so NetworkPolicy is enforced), Workload Identity, shielded nodes, a release
channel that keeps control plane and nodes patched, deletion protection; a node service account
with only the roles GKE nodes need (logs, metrics), shared by every node pool; a node pool of CPU
"system" nodes; and a Kubernetes provider whose kubeconfig gets a token from
``gke-gcloud-auth-plugin`` (it must be on the deployer's PATH: ``gcloud components install
gke-gcloud-auth-plugin``).

Pods get Google Cloud access through Workload Identity (``workload_pool``), never through the node
service account: the nodes run the GKE metadata server, which hides the node's credentials from pods.

The deployer needs, besides the rights to create the resources, ``iam.serviceAccounts.actAs`` on the
node service account (Service Account User; project owners and editors have it).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from shardstack.errors import ArgumentError
from shardstack.gcp.args import ClusterArgs, SystemPool
from shardstack.gcp.cluster_specs import (
    ARM_MACHINE_FAMILIES,
    CLUSTER,
    DEFAULT_MASTER_IPV4_CIDR,
    DEFAULT_RELEASE_CHANNEL,
    DEFAULT_SYSTEM_INSTANCE_TYPE,
    GPU_MACHINE_FAMILIES,
    MASTER_IPV4_PREFIX_LENGTH,
    RELEASE_CHANNELS,
)
from shardstack.gcp.labels import COMPONENT_LABEL
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION
from shardstack.specs.problem import as_arguments
from shardstack.specs.system_pool import DEFAULT_DISK_SIZE_GIB, DEFAULT_MAX_NODES, DEFAULT_MIN_NODES

TYPE_TOKEN = "shardstack:gcp:Cluster"

__all__ = [
    "ARM_MACHINE_FAMILIES",
    "DEFAULT_MASTER_IPV4_CIDR",
    "DEFAULT_RELEASE_CHANNEL",
    "DEFAULT_SYSTEM_INSTANCE_TYPE",
    "GPU_MACHINE_FAMILIES",
    "MASTER_IPV4_PREFIX_LENGTH",
    "RELEASE_CHANNELS",
    "Cluster",
    "ClusterArgs",
    "SystemPool",
    "known_project",
    "node_service_account_id",
    "validate_cluster_args",
]

SYSTEM_POOL_NAME = "system"
"""GKE name of the system node pool; node pool names are scoped to their cluster."""
SYSTEM_POOL_LABEL = "shardstack.dev/pool"
SYSTEM_POOL_LABEL_VALUE = "system"
SYSTEM_DISK_TYPE = "pd-balanced"
SYSTEM_IMAGE_TYPE = "COS_CONTAINERD"


NODE_SERVICE_ACCOUNT_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",  # node and container logs to Cloud Logging
    "roles/monitoring.metricWriter",  # system metrics to Cloud Monitoring
    "roles/monitoring.viewer",  # read metric descriptors the metrics agents write against
    "roles/stackdriver.resourceMetadata.writer",  # metadata of the monitored resources (nodes, pods)
    "roles/autoscaling.metricsWriter",  # metrics the cluster autoscaler and HPA read
)
"""The least-privilege roles GKE documents for a node service account; images from Artifact Registry
are granted on each repository by the registry component, never project-wide."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""With the broad scope, IAM alone decides what the nodes may do; narrower scopes are a legacy
mechanism that IAM already makes redundant."""

LOGGING_COMPONENTS: tuple[str, ...] = ("SYSTEM_COMPONENTS", "WORKLOADS")
MONITORING_COMPONENTS: tuple[str, ...] = ("SYSTEM_COMPONENTS",)
MANAGED_PROMETHEUS_COMPONENTS: tuple[str, ...] = ("POD",)
"""With managed Prometheus, GKE's kube-state-metrics package for pods (kube_pod_container_status_ready, which the
rank alerts read): ``enable_components`` is the whole set, so it goes beside the system components."""
DATAPATH_PROVIDER = "ADVANCED_DATAPATH"
"""Dataplane V2 (eBPF): NetworkPolicy is enforced without a separate add-on."""
_SHIELDED = {"enable_secure_boot": True, "enable_integrity_monitoring": True}
"""Secure Boot and integrity monitoring, on the short-lived default pool and the system pool alike."""
_GKE_METADATA = {"mode": "GKE_METADATA"}
"""Pods see the GKE metadata server, which serves their Workload Identity and hides the node's."""

"""GCP label set on every labelled resource to the name of the component that made it."""

GKE_AUTH_PLUGIN = "gke-gcloud-auth-plugin"

_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MAX_CLUSTER_NAME_LENGTH = 40
_MAX_ACCOUNT_ID_LENGTH = 30


def validate_cluster_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Cluster arguments, one line each (``name``: the component's, the GKE cluster's
    name)."""
    problems = as_arguments(CLUSTER.check(args))
    if name is not None and (problem := cluster_name_problem(name)):
        problems.append(problem)
    return problems


def cluster_name_problem(name: str) -> str | None:
    """Why the component's name cannot name a GKE cluster, or None."""
    if not _CLUSTER_NAME.match(name) or len(name) > _MAX_CLUSTER_NAME_LENGTH:
        return (
            f"name={name!r} cannot name a GKE cluster: use at most {_MAX_CLUSTER_NAME_LENGTH} lowercase "
            "letters, digits and '-', starting with a letter and ending with a letter or digit"
        )
    return None


def node_service_account_id(name: str) -> str:
    """Return the account ID (6 to 30 characters) of the node service account of cluster ``name``."""
    return service_account_id(name, "-nodes")


def service_account_id(name: str, suffix: str) -> str:
    """Return a service account ID (6 to 30 characters): the component ``name`` and the account's ``suffix``."""
    account_id = f"{name}{suffix}"
    if len(account_id) <= _MAX_ACCOUNT_ID_LENGTH:
        return account_id
    # Long cluster names keep a readable prefix and a hash, so that two clusters never share an ID.
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    prefix = name[: _MAX_ACCOUNT_ID_LENGTH - len(suffix) - len(digest) - 1].rstrip("-")
    return f"{prefix}-{digest}{suffix}"


def _monitoring_config(managed_prometheus: bool) -> gcp.container.ClusterMonitoringConfigArgs:
    """System metrics to Cloud Monitoring; with ``managed_prometheus``, GKE's managed collection (set, not left to
    GKE's default for the cluster's version) and the pods' kube-state-metrics."""
    if not managed_prometheus:
        return gcp.container.ClusterMonitoringConfigArgs(enable_components=list(MONITORING_COMPONENTS))
    return gcp.container.ClusterMonitoringConfigArgs(
        enable_components=[*MONITORING_COMPONENTS, *MANAGED_PROMETHEUS_COMPONENTS],
        managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
    )


def known_project(project: str | None) -> str:
    """The provider's project; an unset one stops the program here, not at the first resource GCP refuses."""
    if not project:
        raise ArgumentError(
            "the GCP provider",
            [
                "it has no project: run `pulumi config set gcp:project <project id>` (or give the provider `project`), "
                "or export GOOGLE_CLOUD_PROJECT"
            ],
        )
    return project


def _kubeconfig(project: str, location: str, cluster_name: str, endpoint: str, ca: str) -> str:
    """Return a kubeconfig that gets a token from gke-gcloud-auth-plugin (no credential stored in it)."""
    # The names gcloud gives the entries, so that the config merges cleanly with `gcloud container
    # clusters get-credentials` output.
    entry = f"gke_{project}_{location}_{cluster_name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": entry, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca}}
            ],
            "contexts": [{"name": entry, "context": {"cluster": entry, "user": entry}}],
            "current-context": entry,
            "users": [
                {
                    "name": entry,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": GKE_AUTH_PLUGIN,
                            "installHint": (
                                "Install gke-gcloud-auth-plugin: `gcloud components install gke-gcloud-auth-plugin` "
                                "(https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)"
                            ),
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


class Cluster(pulumi.ComponentResource):
    """Creates a regional GKE Standard cluster with a system node pool and a Kubernetes provider.

    ``provider`` (a plain attribute, not an output) is the ``pulumi_kubernetes.Provider`` for the
    cluster: pass it to the Kubernetes components. It is ready once the system nodes are, so
    workloads never wait on a cluster without nodes. GPU node pools attach to ``cluster_name`` in
    ``location`` and run as ``node_service_account_email``.
    """

    cluster_name: pulumi.Output[str]
    """GKE cluster name (the component's name)."""
    location: pulumi.Output[str]
    """Region of the cluster; node pools are created there."""
    endpoint: pulumi.Output[str]
    """IP address of the Kubernetes API (the private one when private_endpoint is True)."""
    certificate_authority: pulumi.Output[str]
    """Base64-encoded certificate of the cluster's certificate authority."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (JSON) that gets a token from ``gke-gcloud-auth-plugin``; a secret."""
    node_service_account_email: pulumi.Output[str]
    """Email of the service account every node pool runs as; give it read access to image
    repositories, never to workload data (workloads use Workload Identity)."""
    workload_pool: pulumi.Output[str]
    """Workload Identity pool, '<project>.svc.id.goog': Kubernetes service accounts appear in IAM as
    'serviceAccount:<pool>[<namespace>/<name>]'. Known once the cluster exists, so that IAM bindings
    on it wait for the pool."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_cluster_args(args, name=name)
        if problems:
            raise ArgumentError(f"Cluster {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        labels = {**dict(args.get("labels", {})), COMPONENT_LABEL: name}
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        project = client.project.apply(known_project)

        node_account, node_roles = self._node_service_account(name, project)
        cluster = self._gke_cluster(name, args, labels, project, node_account)
        system_nodes = self._system_node_pool(name, args, labels, cluster, node_account, node_roles)

        certificate_authority = cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate or "")
        kubeconfig_parts = pulumi.Output.all(
            cluster.project, cluster.location, cluster.name, cluster.endpoint, certificate_authority
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig_parts.apply(lambda values: _kubeconfig(*values)))
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[system_nodes]),
        )

        self.cluster_name = cluster.name
        self.location = cluster.location.apply(lambda location: location or "")
        self.endpoint = cluster.endpoint
        self.certificate_authority = certificate_authority
        self.node_service_account_email = node_account.email
        self.workload_pool = cluster.workload_identity_config.apply(
            lambda config: (config.workload_pool or "") if config else ""
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "location": self.location,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "kubeconfig": self.kubeconfig,
                "node_service_account_email": self.node_service_account_email,
                "workload_pool": self.workload_pool,
            }
        )

    def _node_service_account(
        self, name: str, project: pulumi.Output[str]
    ) -> tuple[gcp.serviceaccount.Account, list[gcp.projects.IAMMember]]:
        """Create the service account every node pool runs as, and its project roles (logs and metrics only)."""
        child = pulumi.ResourceOptions(parent=self)
        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=node_service_account_id(name),
            display_name=f"GKE nodes of cluster {name}",
            description=f"Node pools of GKE cluster {name}; pods use Workload Identity instead",
            opts=child,
        )
        node_roles = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.removeprefix('roles/').replace('.', '-')}",
                project=project,
                role=role,
                member=node_account.member,
                opts=child,
            )
            for role in NODE_SERVICE_ACCOUNT_ROLES
        ]
        return node_account, node_roles

    def _gke_cluster(
        self,
        name: str,
        args: ClusterArgs,
        labels: dict[str, str],
        project: pulumi.Output[str],
        node_account: gcp.serviceaccount.Account,
    ) -> gcp.container.Cluster:
        """Create the GKE cluster: VPC-native, private nodes, Dataplane V2, Workload Identity, shielded nodes."""
        return gcp.container.Cluster(
            f"{name}-cluster",
            # A fixed name: kubeconfigs, node pools and IAM conditions refer to the cluster by it.
            name=name,
            description=f"Shardstack cluster {name}",
            location=args["region"],
            network=args["network"],
            subnetwork=args["subnetwork"],
            min_master_version=args.get("kubernetes_version", DEFAULT_KUBERNETES_VERSION),
            release_channel=gcp.container.ClusterReleaseChannelArgs(
                channel=args.get("release_channel", DEFAULT_RELEASE_CHANNEL)
            ),
            # Node pools are separate resources: GKE insists on creating a default pool, which is
            # deleted as soon as the cluster exists. While it lives it runs as the node service
            # account, never the Compute Engine default one (which often holds Editor).
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(**_SHIELDED),
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(**_GKE_METADATA),
                resource_labels=labels,
            ),
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args["pods_range_name"],
                services_secondary_range_name=args["services_range_name"],
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                # Nodes have internal IPs only; they reach the internet through the network's Cloud NAT.
                enable_private_nodes=True,
                enable_private_endpoint=args.get("private_endpoint", True),
                master_ipv4_cidr_block=args.get("master_ipv4_cidr", DEFAULT_MASTER_IPV4_CIDR),
            ),
            master_authorized_networks_config=_master_authorized_networks(args),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=pulumi.Output.concat(project, ".svc.id.goog")
            ),
            datapath_provider=DATAPATH_PROVIDER,
            enable_shielded_nodes=True,
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=list(LOGGING_COMPONENTS)),
            monitoring_config=_monitoring_config(args.get("managed_prometheus", False)),
            deletion_protection=args.get("deletion_protection", True),
            resource_labels=labels,
            opts=pulumi.ResourceOptions(
                parent=self,
                # Both describe only the short-lived default pool; GKE later reports the first
                # remaining pool's settings there, which must not look like a change (a replacement).
                ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )

    def _system_node_pool(
        self,
        name: str,
        args: ClusterArgs,
        labels: dict[str, str],
        cluster: gcp.container.Cluster,
        node_account: gcp.serviceaccount.Account,
        node_roles: list[gcp.projects.IAMMember],
    ) -> gcp.container.NodePool:
        """Create the autoscaling node pool of CPU "system" nodes, running as the node service account."""
        pool: SystemPool = args.get("system_pool", {})
        min_nodes = pool.get("min_nodes", DEFAULT_MIN_NODES)
        return gcp.container.NodePool(
            f"{name}-system",
            name=SYSTEM_POOL_NAME,
            cluster=cluster.name,
            location=cluster.location,
            project=cluster.project,
            # Per zone: a regional pool has this many nodes in each of its zones.
            initial_node_count=min_nodes,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                min_node_count=min_nodes,
                max_node_count=pool.get("max_nodes", DEFAULT_MAX_NODES),
            ),
            # The release channel upgrades the nodes after the control plane; auto-repair replaces broken ones.
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(max_surge=1, max_unavailable=0),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.get("instance_type", DEFAULT_SYSTEM_INSTANCE_TYPE),
                image_type=SYSTEM_IMAGE_TYPE,
                disk_size_gb=pool.get("disk_size_gib", DEFAULT_DISK_SIZE_GIB),
                disk_type=SYSTEM_DISK_TYPE,
                service_account=node_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(**_GKE_METADATA),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(**_SHIELDED),
                # GKE sets this itself; stating it keeps the pool from showing a diff that would replace it.
                metadata={"disable-legacy-endpoints": "true"},
                labels={SYSTEM_POOL_LABEL: SYSTEM_POOL_LABEL_VALUE},
                resource_labels=labels,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The nodes write logs and metrics from their first boot, and until they are gone.
                depends_on=node_roles,
                # initial_node_count only matters on create (a change would replace the pool); the
                # autoscaler owns the count afterwards.
                ignore_changes=["initialNodeCount"],
            ),
        )


def _master_authorized_networks(args: ClusterArgs) -> gcp.container.ClusterMasterAuthorizedNetworksConfigArgs:
    """Return the networks the Kubernetes API admits: the listed ones (and, when private, the nodes' subnetwork)."""
    # Always on: with a public endpoint it admits only the listed networks (not even other
    # Google Cloud customers' IPs); with a private one, the nodes' subnetwork plus the listed ones.
    return gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        cidr_blocks=[
            gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                cidr_block=cidr, display_name=f"authorized_networks[{i}]"
            )
            for i, cidr in enumerate(args.get("authorized_networks", []))
        ],
        gcp_public_cidrs_access_enabled=False,
    )
