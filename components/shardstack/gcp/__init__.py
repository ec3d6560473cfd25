"""GCP components: the network, the GKE cluster, GPU node pools, the GCS weight store, the Artifact
Registry, GcpInstallation, which composes them with the Kubernetes layer, and VertexEndpoint, the runtime image on
a managed Vertex AI endpoint instead of a cluster.

Usage::

    from shardstack.gcp import Cluster, GpuNodePool, Network

    network = Network("llm", {"region": "us-central1"})
    cluster = Cluster("llm", {"region": "us-central1", "network": network.network_self_link,
                              "subnetwork": network.subnetwork_self_link,
                              "pods_range_name": network.pods_range_name,
                              "services_range_name": network.services_range_name})
    GpuNodePool("l4", {"gpu": "l4", "spot": True, "max_nodes": 2, "cluster": cluster.cluster_name,
                       "location": "us-central1", "node_service_account": cluster.node_service_account_email})
"""

from typing import TYPE_CHECKING

from shardstack.lazy import module_getattr

# The components load on first use: importing this package (say, for its specs) loads no cloud SDK.
if TYPE_CHECKING:
    from shardstack.gcp.cluster import Cluster, ClusterArgs, SystemPool, validate_cluster_args
    from shardstack.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, validate_gpu_node_pool_args
    from shardstack.gcp.installation import (
        GcpInstallation,
        GcpInstallationArgs,
        InstallationCluster,
        InstallationNetwork,
        NamedGpuPool,
        validate_gcp_installation_args,
    )
    from shardstack.gcp.network import ExistingNetwork, Network, NetworkArgs, validate_network_args
    from shardstack.gcp.registry import Registry, RegistryArgs, validate_registry_args
    from shardstack.gcp.vertex_endpoint import VertexEndpoint, VertexEndpointArgs, validate_vertex_endpoint_args
    from shardstack.gcp.weight_store import ReadGrant, WeightStore, WeightStoreArgs, validate_weight_store_args

__all__ = [
    "Cluster",
    "ClusterArgs",
    "ExistingNetwork",
    "GcpInstallation",
    "GcpInstallationArgs",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "InstallationCluster",
    "InstallationNetwork",
    "NamedGpuPool",
    "Network",
    "NetworkArgs",
    "ReadGrant",
    "Registry",
    "RegistryArgs",
    "SystemPool",
    "VertexEndpoint",
    "VertexEndpointArgs",
    "WeightStore",
    "WeightStoreArgs",
    "validate_cluster_args",
    "validate_gcp_installation_args",
    "validate_gpu_node_pool_args",
    "validate_network_args",
    "validate_registry_args",
    "validate_vertex_endpoint_args",
    "validate_weight_store_args",
]

__getattr__ = module_getattr(__name__, __file__)
