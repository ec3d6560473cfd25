"""AWS components: the network, the EKS cluster, GPU node pools and their cluster-autoscaler, the S3 weight
store and the ECR registry, AwsInstallation, which composes them with the Kubernetes layer, and
SageMakerEndpoint, the runtime image on a managed SageMaker endpoint instead of a cluster.

Usage::

    from shardstack.aws import Cluster, GpuNodePool, Network, Registry, WeightStore

    network = Network("llm", {"cluster_name": "llm"})
    cluster = Cluster("llm", {"vpc_id": network.vpc_id, "subnet_ids": network.private_subnet_ids})
    GpuNodePool("l4", {"gpu": "l4", "spot": True, "max_nodes": 2, "cluster_name": cluster.cluster_name,
                       "node_role_arn": cluster.node_role_arn, "subnet_ids": network.private_subnet_ids})
    store = WeightStore("weights", {})
    store.grant_read("shardstack", "shardstack-inference", cluster_name=cluster.cluster_name)
"""

from typing import TYPE_CHECKING

from shardstack.lazy import module_getattr

# The components load on first use: importing this package (say, for its specs) loads no cloud SDK.
if TYPE_CHECKING:
    from shardstack.aws.cluster import Cluster, ClusterArgs, SystemPool, validate_cluster_args
    from shardstack.aws.cluster_autoscaler import (
        ClusterAutoscaler,
        ClusterAutoscalerArgs,
        validate_cluster_autoscaler_args,
    )
    from shardstack.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, validate_gpu_node_pool_args
    from shardstack.aws.installation import (
        AwsInstallation,
        AwsInstallationArgs,
        InstallationAutoscaler,
        InstallationCluster,
        InstallationNetwork,
        NamedGpuPool,
        validate_aws_installation_args,
    )
    from shardstack.aws.network import ExistingNetwork, Network, NetworkArgs, validate_network_args
    from shardstack.aws.registry import Registry, RegistryArgs, validate_registry_args
    from shardstack.aws.sagemaker_endpoint import (
        SageMakerEndpoint,
        SageMakerEndpointArgs,
        validate_sagemaker_endpoint_args,
    )
    from shardstack.aws.weight_store import ReadGrant, WeightStore, WeightStoreArgs, validate_weight_store_args

__all__ = [
    "AwsInstallation",
    "AwsInstallationArgs",
    "Cluster",
    "ClusterArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "ExistingNetwork",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "InstallationAutoscaler",
    "InstallationCluster",
    "InstallationNetwork",
    "NamedGpuPool",
    "Network",
    "NetworkArgs",
    "ReadGrant",
    "Registry",
    "RegistryArgs",
    "SageMakerEndpoint",
    "SageMakerEndpointArgs",
    "SystemPool",
    "WeightStore",
    "WeightStoreArgs",
    "validate_aws_installation_args",
    "validate_cluster_args",
    "validate_cluster_autoscaler_args",
    "validate_gpu_node_pool_args",
    "validate_network_args",
    "validate_registry_args",
    "validate_sagemaker_endpoint_args",
    "validate_weight_store_args",
]

__getattr__ = module_getattr(__name__, __file__)
