"""How many shards serve one copy of the model: the one place `shardstack:model.shards: auto` is resolved.

The installation deploys that many ranks per replica group, and the `sizing` stack output reports the same
number with what it was derived from.
"""

from __future__ import annotations

from dataclasses import dataclass

import config

from shardstack.sizing import DTYPE_BYTES, GIB, size_model

DEMO_MODEL_PARAMS = 135e6
"""The demo model, SmolLM2-135M-Instruct: the stack config needs no `params` for it."""
LOCAL_AUTO_SHARDS = 1
"""`shards: auto` on a CPU cluster: the model fits in host memory, so one rank serves it."""


@dataclass(frozen=True)
class ModelSizing:
    shards: int
    """Shards (ranks) per replica group."""
    report: dict[str, object]
    """The `sizing` stack output: the device, the GPU, the model's size and the shards."""


def serving_gpu(cfg: config.StackConfig) -> str | None:
    """The GPU a replica group runs on: the managed endpoint's, else the first GPU pool's (None on local)."""
    if cfg.managed and cfg.endpoint is not None:
        return cfg.endpoint.gpu
    return cfg.gpu_pools[0].gpu if cfg.gpu_pools else None


def size_for_stack(cfg: config.StackConfig) -> ModelSizing:
    """The shards per replica group (sized on the first GPU pool's GPU, or the managed endpoint's, when 'auto') and
    the sizing to report."""
    params = DEMO_MODEL_PARAMS if cfg.model.uri == config.DEMO_MODEL_URI else cfg.model.params
    local = cfg.cloud == "local"
    gpu = serving_gpu(cfg)
    if cfg.model.shards != "auto":
        shards = cfg.model.shards
    elif local:
        shards = LOCAL_AUTO_SHARDS
    else:
        assert params is not None and gpu is not None  # config requires params for 'auto', and a GPU, on clouds
        shards = size_model(params=params, dtype=cfg.model.dtype, gpu=gpu).shards
    scaling = cfg.serving.autoscaling
    groups = (
        {"replica_groups": cfg.serving.replica_groups}
        if scaling is None
        else {"min_groups": scaling.min_groups, "max_groups": scaling.max_groups}
    )
    model: dict[str, object] = {**groups, "dtype": cfg.model.dtype}
    if params:
        model.update(params=params, weights_gib=round(params * DTYPE_BYTES[cfg.model.dtype] / GIB, 2))
    if local:
        return ModelSizing(shards, {"device": "cpu", "shards": shards, **model})
    return ModelSizing(shards, {"device": "gpu", "gpu": gpu, **model, "shards": shards})
