"""The installation arguments every cloud takes alike, from the stack config, and the stack outputs they share."""

from __future__ import annotations

from typing import Any, Protocol, cast

import config
import pulumi
from config.specs import SERVING_KEYS
from model_sizing import ModelSizing

from shardstack.defaults import DEMO_MODEL_PATH
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES, GpuPoolArgs
from shardstack.installation_args import (
    ClusterAccess,
    InstallationInference,
    InstallationMonitoring,
    InstallationServing,
)
from shardstack.specs.installation import CLUSTER_ACCESS


def serving_args(cfg: config.StackConfig, shards: int) -> InstallationServing:
    """The deployment, where its model is, and the API key, as every installation takes them."""
    # The serving keys are ShardedInference's own arguments (infra/config/specs.py takes them over): they pass
    # through by name. An empty list is the component's default, left out as the key itself would be.
    serving = {k: v for k, v in cfg.serving.model_dump(exclude_none=True).items() if v != [] and k in SERVING_KEYS}
    if cfg.serving.autoscaling is not None:
        # The keys the stack sets, as given: the component fills in the rest (and refuses the zero-only ones at a
        # floor above zero); the number of groups is the autoscaler's, not replica_groups'.
        serving["autoscaling"] = cfg.serving.autoscaling.model_dump(exclude_unset=True)
        del serving["replica_groups"]
    inference = cast(InstallationInference, {**serving, "shards": shards, "dtype": cfg.model.dtype})
    args = InstallationServing(inference=inference)
    if cfg.model.uri == config.DEMO_MODEL_URI:
        args["model_path"] = f"{DEMO_MODEL_PATH}/"  # the installation points model_uri at it in its store
    else:
        inference["model_uri"] = cfg.model.uri
    if cfg.serving.api_key_secret is None and cfg.api_key is not None:
        args["api_key"] = pulumi.Output.secret(cfg.api_key.get_secret_value())
    # The keys the stack sets: the installation's defaults are the monitoring section's own.
    args["monitoring"] = cast(InstallationMonitoring, cfg.monitoring.model_dump(exclude_unset=True))
    return args


def gpu_pool_args(pool: config.GpuPoolConfig) -> GpuPoolArgs:
    """A GPU pool's cloud-neutral arguments, as every cloud's installation takes them (beside its name).

    The stack config's pool keys are the pool's own arguments, declared once in ``shardstack.specs.gpu_pool``
    (``config.GpuPoolConfig`` is generated from it): they pass through by name, so a new pool argument needs no
    wiring here.
    """
    return cast(GpuPoolArgs, pool.model_dump(include=set(GPU_POOL_ARG_NAMES), exclude_none=True))


def cluster_access(cfg: config.StackConfig) -> ClusterAccess:
    """The cluster arguments every cloud shares: version, API access and the system pool."""
    # The stack config's keys are these arguments' own (shardstack.specs.installation.CLUSTER_ACCESS): by name.
    given = {
        "kubernetes_version": cfg.kubernetes_version,
        **cfg.cluster.model_dump(),
        "system_pool": cfg.system_pool.model_dump(exclude_none=True),
    }
    return cast(ClusterAccess, {k: v for k, v in given.items() if k in CLUSTER_ACCESS.names})


class PricedInstallation(Protocol):
    gpu_usd_per_hour_min: float
    gpu_usd_per_hour_max: float


def gpu_usd_per_hour(install: PricedInstallation) -> dict[str, float]:
    """The `gpu_usd_per_hour` stack output: the GPU pools' list price at their smallest and largest."""
    return {"at_min_nodes": install.gpu_usd_per_hour_min, "at_max_nodes": install.gpu_usd_per_hour_max}


class CloudInstallation(PricedInstallation, Protocol):
    """What AwsInstallation, GcpInstallation and AzureInstallation all have."""

    endpoint: pulumi.Output[str]
    bucket_uri: pulumi.Output[str]
    model_uri: pulumi.Output[str]
    registry_url: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    cluster_name: pulumi.Output[str]


def cloud_outputs(install: CloudInstallation, sizing: ModelSizing) -> dict[str, Any]:
    """The stack outputs every cloud exports."""
    return {
        "endpoint": install.endpoint,
        "bucket_uri": install.bucket_uri,
        "model_uri": install.model_uri,
        "registry_url": install.registry_url,
        "cluster_name": install.cluster_name,
        "kubeconfig": install.kubeconfig,
        "sizing": sizing.report,
        "gpu_usd_per_hour": gpu_usd_per_hour(install),
    }
