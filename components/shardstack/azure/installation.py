"""AzureInstallation: a complete Shardstack installation on Azure from one set of arguments.

Usage::

    from shardstack.azure import AzureInstallation

    install = AzureInstallation("llm", {
        "location": "eastus",
        "cluster": {"private_endpoint": False, "authorized_networks": ["203.0.113.0/24"]},
        "gpu_pools": [{"name": "t4", "gpu": "t4", "spot": True, "max_nodes": 2}],
        "weight_store": {"allowed_ip_ranges": ["203.0.113.0/24"]},
        "inference": {"image": "ghcr.io/shardstack/runtime:0.1.0", "shards": 2},
        "model_path": "llama-3.1-8b/",
    }, opts=pulumi.ResourceOptions(providers={"azure-native": azure_provider}))
    pulumi.export("endpoint", install.endpoint)

It composes the Azure components (Network, Cluster, one GpuNodePool per pool, WeightStore and Registry) with
the Kubernetes layer: GpuEnablement for the NVIDIA device plugin, which AKS does not install, and
ShardedInference. AKS grows the GPU pools from zero with its own cluster autoscaler. The ranks read the
weights from the store's container through Azure Workload Identity: a managed identity that trusts exactly
the inference service account's tokens holds "Storage Blob Data Reader" on that container, and no key ever
reaches a pod (shared-key access is off on the account). The kubelet identity may pull from the registry.

Uploading the weights needs a data-plane role too: unless ``weight_store.writer_principal_ids`` names the
writers, the identity that runs ``pulumi up`` gets "Storage Blob Data Contributor" on the container (of
``cluster.deployer_principal_type``). The storage firewall admits the cluster's subnet and
``weight_store.allowed_ip_ranges`` only: list the public address you push from there.

The subscription is the provider's (``azure-native:subscriptionId``, ``ARM_SUBSCRIPTION_ID`` or ``az login``'s).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization
from pulumi_azure_native import network as azure_network

from shardstack.azure.args import (
    AzureInstallationArgs,
    InstallationCluster,
    InstallationNetwork,
    InstallationRegistry,
    InstallationWeightStore,
    NamedGpuPool,
)
from shardstack.azure.cluster import SYSTEM_POOL_NAME, Cluster, ClusterArgs, cluster_name_problem
from shardstack.azure.cluster_specs import CLUSTER
from shardstack.azure.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, agent_pool_name
from shardstack.azure.installation_specs import AZURE_INSTALLATION
from shardstack.azure.kinds import REGION
from shardstack.azure.managed_prometheus import MANAGED_COLLECTION, azure_managed_prometheus
from shardstack.azure.network import Network, NetworkArgs
from shardstack.azure.network import name_problems as network_name_problems
from shardstack.azure.network_specs import NETWORK
from shardstack.azure.registry import Registry, RegistryArgs
from shardstack.azure.registry import name_problems as registry_name_problems
from shardstack.azure.specs import (
    GPU_NODE_POOL,
    REGISTRY,
    WIRED_CLUSTER_ARGS,
    WIRED_NETWORK_ARGS,
    WIRED_POOL_ARGS,
    WIRED_REGISTRY_ARGS,
    WIRED_STORE_ARGS,
)
from shardstack.azure.weight_store import WeightStore, WeightStoreArgs
from shardstack.azure.weight_store import name_problems as store_name_problems
from shardstack.azure.weight_store_specs import WEIGHT_STORE
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
    install,
    part,
    register_outputs,
    reporting,
    watched_by_managed,
    with_common,
    with_monitoring,
    with_tolerations,
)
from shardstack.k8s import GpuEnablement, GpuEnablementArgs, Toleration
from shardstack.k8s import labels as lbl
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.gpu_enablement import validate_gpu_enablement_args
from shardstack.specs.spec import arguments_first

TYPE_TOKEN = "shardstack:azure:AzureInstallation"

__all__ = [  # the argument types stay importable from here, where they were declared before being generated
    "AzureInstallation",
    "AzureInstallationArgs",
    "InstallationCluster",
    "InstallationNetwork",
    "InstallationRegistry",
    "InstallationWeightStore",
    "NamedGpuPool",
    "validate_azure_installation_args",
]

PUBLIC_API_RULE_PRIORITY = 200
"""Subnet NSG rules are read lowest first; Azure's own default rules start at 65000."""


def _located(part_args: Mapping[str, Any], location: str) -> dict[str, Any]:
    return {"location": location, **part_args}


def _pool_name_problems(pools: Any) -> list[str]:
    """AKS names the pools without their '-' and in 12 characters: two pools, or a pool and the system pool,
    must not end up with one name."""
    if not isinstance(pools, Sequence) or isinstance(pools, str):
        return []
    named = [
        (f"gpu_pools[{i}]", p["name"])
        for i, p in enumerate(pools)
        if isinstance(p, Mapping) and isinstance(p.get("name"), str) and p["name"]
    ]
    seen = {SYSTEM_POOL_NAME: "the system pool"}
    problems: list[str] = []
    for where, pool_name in named:
        aks_name = agent_pool_name(pool_name)
        if aks_name in seen:
            problems.append(
                f"{where}: name {pool_name!r} becomes the AKS node pool name {aks_name!r}, which is "
                f"already {seen[aks_name]}'s (AKS drops '-' and keeps 12 characters); rename the pool"
            )
        else:
            seen[aks_name] = where
    return problems


@arguments_first
def validate_azure_installation_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with AzureInstallation arguments, each prefixed with the part it belongs to."""
    checks = InstallationChecks(args, AZURE_INSTALLATION)
    location = args.get("location")
    if not isinstance(location, str) or REGION.reason(location) is not None:
        location = "eastus"  # reported above; judge the parts as if it were valid

    checks.spec_part("network", NETWORK, WIRED_NETWORK_ARGS, known={"location": location})
    if isinstance(args.get("network", {}), Mapping):
        checks.prefixed("network", network_name_problems(name, creates="existing" not in part(args, "network")))
    checks.spec_part("cluster", CLUSTER, WIRED_CLUSTER_ARGS, known={"location": location})
    if name is not None and (problem := cluster_name_problem(name)):
        checks.prefixed("cluster", [problem])
    checks.gpu_pools(WIRED_POOL_ARGS, GPU_NODE_POOL)
    checks.problems += _pool_name_problems(args.get("gpu_pools"))

    store = _located(part(args, "weight_store"), location)
    checks.spec_part("weight_store", WEIGHT_STORE, WIRED_STORE_ARGS, given=store)
    checks.prefixed("weight_store", store_name_problems(store, f"{name or 'shardstack'}-weights"))
    if args.get("create_registry", True) is not False:
        registry = _located(part(args, "registry"), location)
        checks.spec_part("registry", REGISTRY, WIRED_REGISTRY_ARGS, given=registry)
        checks.prefixed("registry", registry_name_problems(registry, f"{name or 'shardstack'}-registry"))
    checks.prefixed("gpu_enablement", validate_gpu_enablement_args(part(args, "gpu_enablement")))
    checks.inference(name)
    return checks.problems


class AzureInstallation(pulumi.ComponentResource):
    """Network, AKS cluster, GPU pools, weight store, registry and the sharded inference deployment."""

    endpoint: pulumi.Output[str]
    """The API endpoint: the load balancer's URL when public, else the in-cluster Service URL."""
    bucket_uri: pulumi.Output[str]
    """``az://<container>@<account>.blob.core.windows.net/``: push checkpoints here with
    ``shardstack-runtime weights push``."""
    model_uri: pulumi.Output[str]
    """The checkpoint the ranks serve."""
    registry_url: pulumi.Output[str]
    """The registry's login server for the runtime image ('' when ``create_registry`` is False)."""
    kubeconfig: pulumi.Output[str]
    """A kubeconfig for the cluster (secret); it runs ``kubelogin`` with the Azure CLI's sign-in for a token."""
    cluster_name: pulumi.Output[str]
    """The AKS cluster's name (for ``az aks get-credentials --name``)."""
    resource_group_name: pulumi.Output[str]
    """The resource group of the cluster and the other parts (for ``az aks get-credentials --resource-group``)."""
    gpu_usd_per_hour_min: float
    """List price of every GPU pool at its minimum size, $/hour."""
    gpu_usd_per_hour_max: float
    """List price of every GPU pool at its maximum size, $/hour."""

    def __init__(self, name: str, args: AzureInstallationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_azure_installation_args(args, name)
        if problems:
            raise ArgumentError(f"AzureInstallation {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, None, opts)
        watched = with_monitoring(args, dcgm=True, collection=_AzureParts.collection)
        register_outputs(self, install(_AzureParts(self, name, watched), self, name, watched))


class _AzureParts:
    """AzureInstallation's parts, for :func:`shardstack.installation.install`; all children of the installation."""

    _network: Network
    _cluster: Cluster
    _pools: list[GpuNodePool]
    _store: WeightStore
    _registry_url: pulumi.Output[str]

    def __init__(self, owner: AzureInstallation, name: str, args: AzureInstallationArgs) -> None:
        self.owner, self.name, self.args = owner, name, args
        self.child = pulumi.ResourceOptions(parent=owner)
        self.tags = dict(args.get("tags") or {})
        self.location = args["location"]

    def tagged(self, part_args: Mapping[str, Any]) -> dict[str, Any]:
        return with_common(part_args, self.tags, "tags")

    def network(self) -> None:
        self._network = Network(
            self.name,
            NetworkArgs(**self.tagged({**part(self.args, "network"), "location": self.location})),
            opts=self.child,
        )

    def cluster(self) -> KubernetesTarget:
        self._cluster = Cluster(
            self.name,
            ClusterArgs(
                **self.tagged(
                    {
                        **part(self.args, "cluster"),
                        "resource_group_name": self._network.resource_group_name,
                        "location": self.location,
                        "node_subnet_id": self._network.node_subnet_id,
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
                    GpuNodePoolArgs(
                        **self.tagged(
                            {
                                **pool_args,
                                "cluster_name": self._cluster.cluster_name,
                                "resource_group_name": self._cluster.resource_group_name,
                                "node_subnet_id": self._network.node_subnet_id,
                            }
                        )
                    ),
                    opts=self.child,
                )
            )
        return GpuPools(self._pools, self._pools)

    def weight_store(self) -> pulumi.Input[str]:
        store_args = _located(part(self.args, "weight_store"), self.location)
        if not store_args.get("writer_principal_ids"):
            # Shared-key access is off: without a data-plane role nobody could push the weights.
            deployer = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self.owner))
            store_args["writer_principal_ids"] = [deployer.object_id]
            store_args["writer_principal_type"] = part(self.args, "cluster").get("deployer_principal_type", "User")
        self._store = WeightStore(
            f"{self.name}-weights",
            WeightStoreArgs(
                **self.tagged(
                    {
                        **store_args,
                        "resource_group_name": self._network.resource_group_name,
                        "allowed_subnet_ids": [self._network.node_subnet_id, *store_args.get("allowed_subnet_ids", [])],
                    }
                )
            ),
            opts=self.child,
        )
        return self._store.model_uri_prefix

    def registry(self) -> None:
        self._registry_url = pulumi.Output.from_input("")
        if self.args.get("create_registry", True):
            registry_args = _located(part(self.args, "registry"), self.location)
            # The kubelet pulls the runtime image with its own identity (the nodes', not the pods').
            # First, so that its resource name ('-reader-0') stays put when readers are added: a renamed
            # assignment would be written again under its fixed Azure name and then deleted with the old one.
            readers = [self._cluster.kubelet_identity_object_id, *registry_args.get("reader_principal_ids", [])]
            registry = Registry(
                f"{self.name}-registry",
                RegistryArgs(
                    **self.tagged(
                        {
                            **registry_args,
                            "resource_group_name": self._network.resource_group_name,
                            "reader_principal_ids": readers,
                        }
                    )
                ),
                opts=self.child,
            )
            self._registry_url = registry.registry_url

    def gpu_enablement(self, monitoring: Monitoring) -> Sequence[Toleration]:
        # Every pool's taints, AKS's Spot taint included: the device plugin and the ranks run on each pool.
        tolerations: list[Toleration] = []
        for gpu_pool in self._pools:
            # The GPU taint is tolerated by both already.
            tolerations += [
                t for t in gpu_pool.required_tolerations if t not in tolerations and t.get("key") != lbl.GPU_TAINT_KEY
            ]
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
        return azure_managed_prometheus(
            self.owner,
            self.name,
            resource_group_name=self._cluster.resource_group_name,
            location=self.location,
            cluster_id=self._cluster.cluster_id,
            cluster_name=self._cluster.cluster_name,
            oidc_issuer_url=self._cluster.oidc_issuer_url,
            rule_groups=rule_groups,
            keda_namespace=autoscaling_keda_namespace(self.args),
            tags=self.tags,
        )

    def read_grant(self, namespace: str, service_account: str) -> WeightAccess:
        grant = self._store.grant_read(
            namespace,
            service_account,
            oidc_issuer_url=self._cluster.oidc_issuer_url,
            opts=pulumi.ResourceOptions(parent=self._store),
        )
        return WeightAccess(grant.service_account_annotations, grant.resources, grant.pod_labels)

    def outputs(self, serving: Serving) -> Mapping[str, Any]:
        inference: Mapping[str, Any] = self.args["inference"]
        if inference.get("public") and "existing" not in part(self.args, "network"):
            # AKS opens the load balancer, but never the subnet's NSG: without this rule the clients'
            # packets (their source address kept) stop at the subnet's default DenyAllInBound.
            azure_network.SecurityRule(
                f"{self.name}-public-api",
                resource_group_name=self._network.resource_group_name,
                network_security_group_name=self._network.network_security_group_id.apply(
                    lambda i: i.rsplit("/", 1)[-1]
                ),
                priority=PUBLIC_API_RULE_PRIORITY,
                direction="Inbound",
                access="Allow",
                protocol="Tcp",
                source_address_prefixes=list(inference.get("allowed_cidrs") or []),
                source_port_range="*",
                destination_address_prefix="*",
                destination_port_range=str(inference.get("api_port", rc.DEFAULT_API_PORT)),
                description=f"Clients of the Shardstack API ({self.name}): inference.allowed_cidrs",
                opts=self.child,
            )
        return {
            "bucket_uri": self._store.model_uri_prefix,
            "registry_url": self._registry_url,
            "kubeconfig": self._cluster.kubeconfig,
            "cluster_name": self._cluster.cluster_name,
            "resource_group_name": self._cluster.resource_group_name,
        }
