"""`shardstack:cloud: local`: the stack config as LocalInstallation's arguments, on the kubeconfig's context."""

from __future__ import annotations

from typing import Any

import config
import pulumi_kubernetes as k8s
from installation_args import DEMO_MODEL_PATH, gpu_usd_per_hour, serving_args
from model_sizing import ModelSizing

from shardstack.local import LocalInstallation, LocalInstallationArgs, LocalWeights


def install(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """ShardedInference on the current kubeconfig context, on CPU, weights in-cluster or on the host; its outputs."""
    serving = serving_args(cfg, sizing.shards)
    serving["inference"]["cpu"] = cfg.local.cpu_per_shard
    serving["inference"]["memory"] = cfg.local.memory_per_shard
    if "model_path" in serving:
        # Without the trailing '/' the cloud stacks use: local ranks have always read this exact URI.
        serving["model_path"] = DEMO_MODEL_PATH
    weights = LocalWeights(store=cfg.local.weights.store, storage_gib=cfg.local.weights.storage_gib)
    if cfg.local.weights.host_path is not None:
        weights["host_path"] = str(cfg.local.weights.host_path)
    install = LocalInstallation(
        LocalInstallationArgs(**serving, weights=weights),
        provider=k8s.Provider("local", context=cfg.local.kube_context),
    )
    outputs: dict[str, Any] = {}
    if install.weights_store_endpoint is not None:
        outputs.update(weights_store_endpoint=install.weights_store_endpoint, weights_bucket=install.weights_bucket)
    return {
        **outputs,
        "endpoint": install.endpoint,
        "namespace": install.namespace,
        "model_uri": install.model_uri,
        "sizing": sizing.report,
        "gpu_usd_per_hour": gpu_usd_per_hour(install),
    }
