"""The Shardstack Pulumi program: one validated stack config becomes one complete installation.

    pulumi up -s local        # ShardedInference on your current kubeconfig context, on CPU
    pulumi up -s aws-dev      # a VPC, an EKS cluster, GPU pools, an S3 weight store and ECR, then the same
    pulumi up -s gcp-dev      # a VPC, a GKE cluster, GPU pools, a GCS weight store and Artifact Registry, the same
    pulumi up -s azure-dev    # a VNet, an AKS cluster, GPU pools, a Blob weight store and ACR, the same
    pulumi up -s aws-managed  # an S3 weight store, ECR and a SageMaker endpoint (gcp-managed: Vertex AI,
                              # azure-managed: Azure ML), no cluster
    shardstack plan local     # the same program, offline, under recording mocks

Each cloud's module (`<cloud>_installation.py`) turns the config into its installation's arguments; only the
stack's own cloud is imported, so a stack never loads another cloud's SDK.
"""

from __future__ import annotations

from typing import Any

import config
import pulumi
from model_sizing import ModelSizing, size_for_stack

from shardstack.errors import ConfigError


def load_config() -> config.StackConfig:
    try:
        return config.load(pulumi.Config("shardstack"), stack=pulumi.get_stack())
    except ConfigError as error:
        # RunError ends the program with just this message: no traceback reaches the user.
        raise pulumi.RunError(str(error)) from None


def install(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """The stack's one installation, with ``sizing.shards`` ranks per replica group; its stack outputs."""
    if cfg.managed:
        import managed_installation

        return managed_installation.install(cfg, sizing)
    if cfg.cloud == "local":
        import local_installation

        return local_installation.install(cfg, sizing)
    if cfg.cloud == "aws":
        import aws_installation

        return aws_installation.install(cfg, sizing)
    if cfg.cloud == "gcp":
        import gcp_installation

        return gcp_installation.install(cfg, sizing)
    import azure_installation

    return azure_installation.install(cfg, sizing)


def main() -> None:
    cfg = load_config()
    for key, value in install(cfg, size_for_stack(cfg)).items():
        pulumi.export(key, value)


main()
