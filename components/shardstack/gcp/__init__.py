"""GCP components: the network, the GKE cluster and GPU node pools (the weight store, the registry and the
whole installation follow).

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

from shardstack.gcp.cluster import Cluster, ClusterArgs, SystemPool, validate_cluster_args
from shardstack.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, validate_gpu_node_pool_args
from shardstack.gcp.network import ExistingNetwork, Network, NetworkArgs, validate_network_args

__all__ = [
    "Cluster",
    "ClusterArgs",
    "ExistingNetwork",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "Network",
    "NetworkArgs",
    "SystemPool",
    "validate_cluster_args",
    "validate_gpu_node_pool_args",
    "validate_network_args",
]
