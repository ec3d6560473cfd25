"""GcpInstallation: a complete Shardstack installation on GCP from one set of arguments.

Usage::

    from shardstack.gcp import GcpInstallation

    install = GcpInstallation("llm", {
        "region": "us-central1",
        "cluster": {"private_endpoint": False, "authorized_networks": ["203.0.113.0/24"]},
        "gpu_pools": [{"name": "l4", "gpu": "l4", "spot": True, "max_nodes": 2}],
        "inference": {"image": "us-central1-docker.pkg.dev/acme/shardstack/runtime:0.1.0", "shards": 2},
        "model_path": "llama-3.1-8b/",
    }, opts=pulumi.ResourceOptions(providers={"gcp": gcp_provider}))
    pulumi.export("endpoint", install.endpoint)

It composes the GCP components (Network, Cluster, one GpuNodePool per pool, WeightStore and Registry) with
the Kubernetes layer (ShardedInference). GKE installs the NVIDIA driver and device plugin on GPU nodes and
grows the pools from zero with its built-in cluster autoscaler, so neither Shardstack's device plugin nor a
cluster-autoscaler is deployed (``gpu_enablement`` may still add the DCGM exporter). The ranks read the
weights from the store's bucket through Workload Identity Federation for GKE: the store grants
``roles/storage.objectViewer`` on that bucket to exactly the inference service account, and no key ever
reaches a pod. The nodes' service account may pull from the registry and nothing else of it.

The project is the provider's (``gcp:project``, or ``GOOGLE_CLOUD_PROJECT`` in the environment).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from shardstack.errors import ArgumentError
from shardstack.gcp.args import (
    GcpInstallationArgs,
    InstallationCluster,
    InstallationNetwork,
    InstallationRegistry,
    InstallationWeightStore,
    NamedGpuPool,
)
from shardstack.gcp.cluster import Cluster, ClusterArgs, cluster_name_problem
from shardstack.gcp.cluster_specs import CLUSTER, REGION, WIRED_CLUSTER_ARGS
from shardstack.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from shardstack.gcp.installation_specs import GCP_INSTALLATION
from shardstack.gcp.managed_prometheus import MANAGED_COLLECTION, google_managed_prometheus
from shardstack.gcp.network import Network, NetworkArgs, validate_network_args
from shardstack.gcp.network_specs import WIRED_NETWORK_ARGS
from shardstack.gcp.registry import Registry, RegistryArgs, validate_registry_args
from shardstack.gcp.specs import GPU_NODE_POOL, WIRED_POOL_ARGS
from shardstack.gcp.weight_store import WeightStore, WeightStoreArgs, validate_weight_store_args
from shardstack.installation import (
    GpuPools,
    InstallationChecks,
    KubernetesTarget,
    ManagedPrometheus,
    Monitoring,
    Serving,
    WeightAccess,
    autoscaling_keda_namespace,
    install,
    part,
    pool_tolerations,
    register_outputs,
    reporting,
    watched_by_managed,
    with_common,
    with_monitoring,
    with_tolerations,
)
from shardstack.k8s import GpuEnablement, GpuEnablementArgs, Toleration
from shardstack.k8s.gpu_enablement import validate_gpu_enablement_args
from shardstack.specs.spec import arguments_first

TYPE_TOKEN = "shardstack:gcp:GcpInstallation"

__all__ = [  # the argument types stay importable from here, where they were declared before being generated
    "GcpInstallation",
    "GcpInstallationArgs",
    "InstallationCluster",
    "InstallationNetwork",
    "InstallationRegistry",
    "InstallationWeightStore",
    "NamedGpuPool",
    "validate_gcp_installation_args",
]


def _location_default(part_args: Mapping[str, Any], region: str, upper: bool) -> dict[str, Any]:
    """A part's arguments with ``location`` defaulting to the installation's region."""
    location = region.upper() if upper else region
    return {"location": location, **part_args}


@arguments_first
def validate_gcp_installation_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GcpInstallation arguments, each prefixed with the part it belongs to."""
    checks = InstallationChecks(args, GCP_INSTALLATION)
    region = args.get("region")
    if not isinstance(region, str) or REGION.reason(region) is not None:
        region = "us-central1"  # reported above; judge the parts as if it were valid

    network = dict(part(args, "network"))
    checks.wired("network", network, WIRED_NETWORK_ARGS)
    checks.prefixed("network", validate_network_args({**network, "region": region}, name))
    checks.spec_part("cluster", CLUSTER, WIRED_CLUSTER_ARGS, known={"region": region})
    if name is not None and (problem := cluster_name_problem(name)):
        checks.prefixed("cluster", [problem])
    checks.gpu_pools(WIRED_POOL_ARGS, GPU_NODE_POOL, known={"location": region})
    checks.prefixed(
        "weight_store",
        validate_weight_store_args(
            _location_default(part(args, "weight_store"), region, upper=True), f"{name or 'shardstack'}-weights"
        ),
    )
    if args.get("create_registry", True) is not False:
        checks.prefixed(
            "registry", validate_registry_args(_location_default(part(args, "registry"), region, upper=False))
        )
    enablement = part(args, "gpu_enablement")
    if enablement.get("device_plugin") is True:
        checks.problems.append(
            "gpu_enablement.device_plugin is True, but GKE installs the NVIDIA device plugin on "
            "GPU nodes itself and a second one would fight it; remove device_plugin"
        )
    elif enablement:
        # GKE's device plugin stands in for ours: what is left to enable is the DCGM exporter.
        checks.prefixed("gpu_enablement", validate_gpu_enablement_args({**enablement, "device_plugin": False}))
    checks.inference(name)
    return checks.problems


class GcpInstallation(pulumi.ComponentResource):
    """Network, GKE cluster, GPU pools, weight store, registry and the sharded inference deployment."""

    endpoint: pulumi.Output[str]
    """The API endpoint: the load balancer's URL when public, else the in-cluster Service URL."""
    bucket_uri: pulumi.Output[str]
    """``gs://<bucket>/``: push checkpoints here with ``shardstack-runtime weights push``."""
    model_uri: pulumi.Output[str]
    """The checkpoint the ranks serve."""
    registry_url: pulumi.Output[str]
    """The Artifact Registry repository URL for the runtime image ('' when ``create_registry`` is False)."""
    kubeconfig: pulumi.Output[str]
    """A kubeconfig for the cluster (secret); it runs ``gke-gcloud-auth-plugin`` for a token."""
    cluster_name: pulumi.Output[str]
    """The GKE cluster's name (for ``gcloud container clusters get-credentials``)."""
    gpu_usd_per_hour_min: float
    """List price of every GPU pool at its minimum size, $/hour."""
    gpu_usd_per_hour_max: float
    """List price of every GPU pool at its maximum size, $/hour."""

    def __init__(self, name: str, args: GcpInstallationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_gcp_installation_args(args, name)
        if problems:
            raise ArgumentError(f"GcpInstallation {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, None, opts)
        watched = with_monitoring(args, dcgm=False, collection=_GcpParts.collection)
        register_outputs(self, install(_GcpParts(self, name, watched), self, name, watched))


class _GcpParts:
    """GcpInstallation's parts, for :func:`shardstack.installation.install`; all children of the installation."""

    _network: Network
    _cluster: Cluster
    _pools: list[GpuNodePool]
    _store: WeightStore
    _registry_url: pulumi.Output[str]

    def __init__(self, owner: GcpInstallation, name: str, args: GcpInstallationArgs) -> None:
        self.owner, self.name, self.args = owner, name, args
        self.child = pulumi.ResourceOptions(parent=owner)
        self.labels = dict(args.get("labels") or {})
        self.region = args["region"]

    def labelled(self, part_args: Mapping[str, Any], key: str = "labels") -> dict[str, Any]:
        return with_common(part_args, self.labels, key)

    def network(self) -> None:
        self._network = Network(
            self.name,
            NetworkArgs(**self.labelled({**part(self.args, "network"), "region": self.region})),
            opts=self.child,
        )

    def cluster(self) -> KubernetesTarget:
        network = self._network
        self._cluster = Cluster(
            self.name,
            ClusterArgs(
                **self.labelled(
                    {
                        **part(self.args, "cluster"),
                        "region": self.region,
                        "network": network.network_self_link,
                        "subnetwork": network.subnetwork_self_link,
                        "pods_range_name": network.pods_range_name,
                        "services_range_name": network.services_range_name,
                        "managed_prometheus": watched_by_managed(self.args),
                    }
                )
            ),
            opts=self.child,
        )
        return KubernetesTarget(self._cluster.provider)

    def gpu_pools(self) -> GpuPools:
        self._pools = []
        for pool in self.args["gpu_pools"]:
            pool_args = {k: v for k, v in pool.items() if k != "name"}
            self._pools.append(
                GpuNodePool(
                    pool["name"],  # the component's name is the nodes' shardstack.dev/pool label
                    # GCP labels on a pool go on its VMs (resource_labels); its `labels` are Kubernetes node labels.
                    GpuNodePoolArgs(
                        **self.labelled(
                            {
                                **pool_args,
                                "cluster": self._cluster.cluster_name,
                                "location": self.region,
                                "node_service_account": self._cluster.node_service_account_email,
                            },
                            "resource_labels",
                        )
                    ),
                    opts=self.child,
                )
            )
        return GpuPools(self._pools, self._pools)

    def weight_store(self) -> pulumi.Input[str]:
        store_args = WeightStoreArgs(
            **self.labelled(_location_default(part(self.args, "weight_store"), self.region, upper=True))
        )
        self._store = WeightStore(f"{self.name}-weights", store_args, opts=self.child)
        return self._store.model_uri_prefix

    def registry(self) -> None:
        self._registry_url = pulumi.Output.from_input("")
        if self.args.get("create_registry", True):
            registry_args = _location_default(part(self.args, "registry"), self.region, upper=False)
            # The nodes pull the runtime image with their own service account (the kubelet's, not the pods').
            readers = [*registry_args.get("reader_service_accounts", []), self._cluster.node_service_account_email]
            registry = Registry(
                f"{self.name}-registry",
                RegistryArgs(**self.labelled({**registry_args, "reader_service_accounts": readers})),
                opts=self.child,
            )
            self._registry_url = registry.repository_url

    def gpu_enablement(self, monitoring: Monitoring) -> Sequence[Toleration]:
        tolerations = pool_tolerations(self.args["gpu_pools"])
        enablement = part(self.args, "gpu_enablement")
        if enablement:
            GpuEnablement(
                f"{self.name}-gpu",
                GpuEnablementArgs(
                    **reporting(with_tolerations({**enablement, "device_plugin": False}, tolerations), monitoring)
                ),
                opts=pulumi.ResourceOptions(
                    parent=self.owner, provider=self._cluster.provider, depends_on=[*self._pools, *monitoring.resources]
                ),
            )
        return tolerations

    collection = MANAGED_COLLECTION

    def managed_prometheus(self, rule_groups: Sequence[Mapping[str, Any]]) -> ManagedPrometheus:
        del rule_groups  # GKE's rule evaluator reads the Rules objects beside the PodMonitorings
        return google_managed_prometheus(
            self.owner,
            self.name,
            after=[self._cluster],
            keda_namespace=autoscaling_keda_namespace(self.args),
        )

    def read_grant(self, namespace: str, service_account: str) -> WeightAccess:
        # The principal names the cluster's workload identity pool, which exists once the cluster does.
        grant = self._store.grant_read(
            namespace, service_account, opts=pulumi.ResourceOptions(parent=self._store, depends_on=[self._cluster])
        )
        return WeightAccess(grant.service_account_annotations, grant.resources)

    def outputs(self, serving: Serving) -> Mapping[str, Any]:
        return {
            "bucket_uri": self._store.model_uri_prefix,
            "registry_url": self._registry_url,
            "kubeconfig": self._cluster.kubeconfig,
            "cluster_name": self._cluster.cluster_name,
        }
