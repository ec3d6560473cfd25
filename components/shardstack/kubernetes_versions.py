"""The Kubernetes minor versions Shardstack's clusters run, the same on every cloud."""

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.30", "1.31", "1.32", "1.33", "1.34")
"""Kubernetes minor versions the components are tested against, oldest first."""

DEFAULT_KUBERNETES_VERSION = "1.33"
"""The newest minor version that EKS, GKE and AKS all offer in their standard support windows."""
