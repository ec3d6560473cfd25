"""Azure components: the network, the AKS cluster, GPU node pools, the Blob weight store, the container
registry, AzureInstallation, which composes them with the Kubernetes layer, and MlOnlineEndpoint, the runtime
image on a managed Azure Machine Learning online endpoint instead of a cluster.

Usage::

    from shardstack.azure import Cluster, GpuNodePool, Network

    network = Network("llm", {"location": "eastus"})
    cluster = Cluster("llm", {"resource_group_name": network.resource_group_name, "location": "eastus",
                              "node_subnet_id": network.node_subnet_id})
    GpuNodePool("t4", {"gpu": "t4", "spot": True, "max_nodes": 2, "cluster_name": cluster.cluster_name,
                       "resource_group_name": cluster.resource_group_name,
                       "node_subnet_id": network.node_subnet_id})
"""

from typing import TYPE_CHECKING

from shardstack.lazy import module_getattr

# The components load on first use: importing this package (say, for its specs) loads no cloud SDK.
if TYPE_CHECKING:
    from shardstack.azure.cluster import Cluster, ClusterArgs, SystemPool, validate_cluster_args
    from shardstack.azure.gpu_node_pool import (
        GpuNodePool,
        GpuNodePoolArgs,
        agent_pool_name,
        validate_gpu_node_pool_args,
    )
    from shardstack.azure.installation import (
        AzureInstallation,
        AzureInstallationArgs,
        InstallationCluster,
        InstallationNetwork,
        InstallationRegistry,
        InstallationWeightStore,
        NamedGpuPool,
        validate_azure_installation_args,
    )
    from shardstack.azure.ml_online_endpoint import (
        MlOnlineEndpoint,
        MlOnlineEndpointArgs,
        validate_ml_online_endpoint_args,
    )
    from shardstack.azure.network import ExistingNetwork, Network, NetworkArgs, validate_network_args
    from shardstack.azure.registry import Registry, RegistryArgs, validate_registry_args
    from shardstack.azure.weight_store import ReadGrant, WeightStore, WeightStoreArgs, validate_weight_store_args

__all__ = [
    "AzureInstallation",
    "AzureInstallationArgs",
    "Cluster",
    "ClusterArgs",
    "ExistingNetwork",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "InstallationCluster",
    "InstallationNetwork",
    "InstallationRegistry",
    "InstallationWeightStore",
    "MlOnlineEndpoint",
    "MlOnlineEndpointArgs",
    "NamedGpuPool",
    "Network",
    "NetworkArgs",
    "ReadGrant",
    "Registry",
    "RegistryArgs",
    "SystemPool",
    "WeightStore",
    "WeightStoreArgs",
    "agent_pool_name",
    "validate_azure_installation_args",
    "validate_cluster_args",
    "validate_gpu_node_pool_args",
    "validate_ml_online_endpoint_args",
    "validate_network_args",
    "validate_registry_args",
    "validate_weight_store_args",
]

__getattr__ = module_getattr(__name__, __file__)
