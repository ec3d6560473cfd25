"""A local installation: Shardstack on a Kubernetes cluster you already have (kind, minikube, k3d), on CPU.

Usage::

    from shardstack.local import LocalInstallation

    install = LocalInstallation({"inference": {"image": "ghcr.io/shardstack/runtime:0.1.0", "shards": 2},
                                 "model_path": "smollm2-135m/"}, provider=k8s.Provider("local"))
"""

from shardstack.local.args import LocalInstallationArgs, LocalWeights
from shardstack.local.installation import LocalInstallation, validate_local_installation_args
from shardstack.local.specs import HOST_PATH, IN_CLUSTER_S3

__all__ = [
    "HOST_PATH",
    "IN_CLUSTER_S3",
    "LocalInstallation",
    "LocalInstallationArgs",
    "LocalWeights",
    "validate_local_installation_args",
]
