"""AwsInstallation: a complete Shardstack installation on AWS from one set of arguments.

Usage::

    from shardstack.aws import AwsInstallation

    install = AwsInstallation("llm", {
        "cluster": {"private_endpoint": False, "authorized_networks": ["203.0.113.0/24"]},
        "network": {"nat_gateways": "single"},
        "gpu_pools": [{"name": "l4", "gpu": "l4", "spot": True, "max_nodes": 2}],
        "inference": {"image": "ghcr.io/shardstack/runtime:0.1.0", "shards": 2},
        "model_path": "llama-3.1-8b/",
    }, opts=pulumi.ResourceOptions(providers={"aws": aws_provider}))
    pulumi.export("endpoint", install.endpoint)

It composes the AWS components (Network, Cluster, one GpuNodePool per pool, WeightStore, Registry, and the
ClusterAutoscaler that grows the pools from zero) with the Kubernetes layer (GpuEnablement for the NVIDIA
device plugin, which EKS does not install, and ShardedInference). The ranks read the weights from the
store's bucket through EKS Pod Identity: the store grants read access to exactly the inference service
account, and no key ever reaches a pod.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from shardstack.aws.args import (
    AwsInstallationArgs,
    InstallationAutoscaler,
    InstallationCluster,
    InstallationNetwork,
    NamedGpuPool,
)
from shardstack.aws.cluster import Cluster, ClusterArgs, cluster_name_problem
from shardstack.aws.cluster_autoscaler import (
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
)
from shardstack.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from shardstack.aws.managed_prometheus import MANAGED_COLLECTION, amazon_managed_prometheus
from shardstack.aws.network import Network, NetworkArgs
from shardstack.aws.registry import Registry, RegistryArgs, validate_registry_args
from shardstack.aws.specs import (
    AWS_INSTALLATION,
    CLUSTER,
    CLUSTER_AUTOSCALER,
    GPU_NODE_POOL,
    NETWORK,
    WIRED_AUTOSCALER_ARGS,
    WIRED_CLUSTER_ARGS,
    WIRED_NETWORK_ARGS,
    WIRED_POOL_ARGS,
)
from shardstack.aws.weight_store import WeightStore, WeightStoreArgs, validate_weight_store_args
from shardstack.errors import ArgumentError
from shardstack.installation import (
    GpuPools,
    InstallationChecks,
    KubernetesTarget,
    ManagedPrometheus,
    Monitoring,
    Serving,
    WeightAccess,
    autoscaling_keda_namespace,
    inference_identity,
    install,
    part,
    pool_tolerations,
    register_outputs,
    reporting,
    with_common,
    with_monitoring,
    with_tolerations,
)
from shardstack.k8s import GpuEnablement, GpuEnablementArgs, Toleration
from shardstack.k8s.gpu_enablement import validate_gpu_enablement_args
from shardstack.k8s.monitoring_specs import PROMETHEUS
from shardstack.k8s.specs import GPU_ENABLEMENT_NAMESPACE
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION
from shardstack.specs.spec import arguments_first

TYPE_TOKEN = "shardstack:aws:AwsInstallation"

__all__ = [  # the argument types stay importable from here, where they were declared before being generated
    "AwsInstallation",
    "AwsInstallationArgs",
    "InstallationAutoscaler",
    "InstallationCluster",
    "InstallationNetwork",
    "NamedGpuPool",
    "validate_aws_installation_args",
]


@arguments_first
def validate_aws_installation_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with AwsInstallation arguments, each prefixed with the part it belongs to."""
    checks = InstallationChecks(args, AWS_INSTALLATION)

    # The installation's name is the network's cluster_name and the EKS cluster's name: known, so checked.
    named = {"cluster_name": name} if name is not None else {}
    checks.spec_part("network", NETWORK, WIRED_NETWORK_ARGS, known=named)
    checks.spec_part("cluster", CLUSTER, WIRED_CLUSTER_ARGS)
    if name is not None and (problem := cluster_name_problem(name)):
        checks.prefixed("cluster", [problem])
    checks.gpu_pools(WIRED_POOL_ARGS, GPU_NODE_POOL)

    checks.prefixed(
        "weight_store", validate_weight_store_args(part(args, "weight_store"), f"{name or 'shardstack'}-weights")
    )
    if args.get("create_registry", True) is not False:
        checks.prefixed("registry", validate_registry_args(part(args, "registry")))
    version = part(args, "cluster").get("kubernetes_version", DEFAULT_KUBERNETES_VERSION)
    checks.spec_part(
        "cluster_autoscaler", CLUSTER_AUTOSCALER, WIRED_AUTOSCALER_ARGS, known={**named, "kubernetes_version": version}
    )
    checks.prefixed("gpu_enablement", validate_gpu_enablement_args(part(args, "gpu_enablement")))
    checks.inference(name)
    return checks.problems


class AwsInstallation(pulumi.ComponentResource):
    """Network, EKS cluster, GPU pools, weight store, registry and the sharded inference deployment."""

    endpoint: pulumi.Output[str]
    """The API endpoint: the load balancer's URL when public, else the in-cluster Service URL."""
    bucket_uri: pulumi.Output[str]
    """``s3://<bucket>/``: push checkpoints here with ``shardstack-runtime weights push``."""
    model_uri: pulumi.Output[str]
    """The checkpoint the ranks serve."""
    registry_url: pulumi.Output[str]
    """The ECR repository URL for the runtime image ('' when ``create_registry`` is False)."""
    kubeconfig: pulumi.Output[str]
    """A kubeconfig for the cluster (secret)."""
    cluster_name: pulumi.Output[str]
    """The EKS cluster's name (for ``aws eks update-kubeconfig --name``)."""
    gpu_usd_per_hour_min: float
    """List price of every GPU pool at its minimum size, $/hour."""
    gpu_usd_per_hour_max: float
    """List price of every GPU pool at its maximum size, $/hour."""

    def __init__(self, name: str, args: AwsInstallationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_aws_installation_args(args, name)
        if problems:
            raise ArgumentError(f"AwsInstallation {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, None, opts)
        watched = with_monitoring(args, dcgm=True, collection=_AwsParts.collection)
        register_outputs(self, install(_AwsParts(self, name, watched), self, name, watched))


class _AwsParts:
    """AwsInstallation's parts, for :func:`shardstack.installation.install`; all children of the installation."""

    _network: Network
    _cluster: Cluster
    _pools: list[GpuNodePool]
    _store: WeightStore
    _registry_url: pulumi.Output[str]

    def __init__(self, owner: AwsInstallation, name: str, args: AwsInstallationArgs) -> None:
        self.owner, self.name, self.args = owner, name, args
        self.child = pulumi.ResourceOptions(parent=owner)
        self.tags = dict(args.get("tags") or {})

    def tagged(self, part_args: Mapping[str, Any]) -> dict[str, Any]:
        return with_common(part_args, self.tags, "tags")

    def network(self) -> None:
        self._network = Network(
            self.name,
            NetworkArgs(**self.tagged({**part(self.args, "network"), "cluster_name": self.name})),
            opts=self.child,
        )

    def cluster(self) -> KubernetesTarget:
        self._cluster = Cluster(
            self.name,
            ClusterArgs(
                **self.tagged(
                    {
                        **part(self.args, "cluster"),
                        "vpc_id": self._network.vpc_id,
                        "subnet_ids": self._network.private_subnet_ids,
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
                    GpuNodePoolArgs(
                        **self.tagged(
                            {
                                **pool_args,
                                "cluster_name": self._cluster.cluster_name,
                                "node_role_arn": self._cluster.node_role_arn,
                                "subnet_ids": self._network.private_subnet_ids,
                            }
                        )
                    ),
                    opts=self.child,
                )
            )
        return GpuPools(self._pools, self._pools)

    def weight_store(self) -> pulumi.Input[str]:
        store_args = WeightStoreArgs(**self.tagged(part(self.args, "weight_store")))
        self._store = WeightStore(f"{self.name}-weights", store_args, opts=self.child)
        return self._store.model_uri_prefix

    def registry(self) -> None:
        self._registry_url = pulumi.Output.from_input("")
        if self.args.get("create_registry", True):
            registry = Registry(
                f"{self.name}-registry", RegistryArgs(**self.tagged(part(self.args, "registry"))), opts=self.child
            )
            self._registry_url = registry.repository_url

    def gpu_enablement(self, monitoring: Monitoring) -> Sequence[Toleration]:
        cluster_args = part(self.args, "cluster")
        ClusterAutoscaler(
            f"{self.name}-autoscaler",
            ClusterAutoscalerArgs(
                **self.tagged(
                    {
                        **part(self.args, "cluster_autoscaler"),
                        "cluster_name": self._cluster.cluster_name,
                        "kubernetes_version": cluster_args.get("kubernetes_version", DEFAULT_KUBERNETES_VERSION),
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self.owner, provider=self._cluster.provider),
        )
        # The device plugin must run on every pool, tainted or not, or its GPUs are never advertised.
        tolerations = pool_tolerations(self.args["gpu_pools"])
        # Kubernetes objects go through the cluster's own provider, and only once a GPU pool exists.
        GpuEnablement(
            f"{self.name}-gpu",
            GpuEnablementArgs(
                **reporting(with_tolerations(part(self.args, "gpu_enablement"), tolerations), monitoring)
            ),
            opts=pulumi.ResourceOptions(
                parent=self.owner, provider=self._cluster.provider, depends_on=[*self._pools, *monitoring.resources]
            ),
        )
        return tolerations

    collection = MANAGED_COLLECTION

    def managed_prometheus(self, rule_groups: Sequence[Mapping[str, Any]]) -> ManagedPrometheus:
        inference = part(self.args, "inference")
        namespaces = [inference_identity(self.name, self.args)[0]]
        if part(self.args, "gpu_enablement").get("dcgm_exporter"):
            namespaces.append(part(self.args, "gpu_enablement").get("namespace", GPU_ENABLEMENT_NAMESPACE))
        scrape = PROMETHEUS.resolved(part(inference, "prometheus"))
        return amazon_managed_prometheus(
            self.owner,
            self.name,
            cluster_arn=self._cluster.cluster_arn,
            cluster_name=self._cluster.cluster_name,
            security_group_id=self._cluster.cluster_security_group_id,
            subnet_ids=self._network.private_subnet_ids,
            vpc_cidr=self._network.cidr_block,
            provider=self._cluster.provider,
            namespaces=namespaces,
            interval_s=scrape["interval_s"],
            rule_groups=rule_groups,
            keda_namespace=autoscaling_keda_namespace(self.args),
            tags=self.tags,
        )

    def read_grant(self, namespace: str, service_account: str) -> WeightAccess:
        grant = self._store.grant_read(
            namespace,
            service_account,
            cluster_name=self._cluster.cluster_name,
            opts=pulumi.ResourceOptions(parent=self._store),
        )
        return WeightAccess(grant.service_account_annotations, grant.resources)

    def outputs(self, serving: Serving) -> Mapping[str, Any]:
        return {
            "bucket_uri": self._store.model_uri_prefix,
            "registry_url": self._registry_url,
            "kubeconfig": self._cluster.kubeconfig,
            "cluster_name": self._cluster.cluster_name,
        }
