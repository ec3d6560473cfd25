"""What every managed endpoint gives the runtime image, whichever platform runs it.

The container is the same image as a Kubernetes rank; its environment says which platform's contract to serve
(``SHARDSTACK_PLATFORM``), and how many ranks to start on the instance's GPUs (``SHARDSTACK_RANKS_HERE``), one
replica group per instance. Each platform's component (``SageMakerEndpoint``, ``VertexEndpoint``,
``MlOnlineEndpoint``) adds its own routes and ports; the names below are the runtime contract's
(:mod:`shardstack.k8s.runtime_contract`), which the runtime's settings read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from shardstack import catalog
from shardstack.k8s import runtime_contract as rc
from shardstack.specs.managed_endpoint import ManagedShape


def container_env(
    platform: catalog.Platform, args: Mapping[str, Any], shape: ManagedShape, **contract: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    """The container's environment: the caller's ``env``, then the contract's variables (which it may not set).

    ``contract`` adds the platform's own contract variables by name (e.g. ``SHARDSTACK_API_PORT``).
    """
    return {
        **dict(args.get("env") or {}),
        rc.ENV_PLATFORM: platform,
        rc.ENV_MODEL_URI: args["model_uri"],
        rc.ENV_DTYPE: args.get("dtype", rc.DEFAULT_DTYPE),
        rc.ENV_RANKS_HERE: str(shape.shards),
        **contract,
    }


def shape_outputs(
    component: pulumi.ComponentResource, shape: ManagedShape, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Set what every managed endpoint reports of its shape on ``component`` (``instance_type``, ``shards``,
    ``startup_timeout_s``, ``hourly_usd_min``/``_max``); return them for ``register_outputs``."""
    price = shape.offer.usd_per_hour
    outputs = {
        "instance_type": pulumi.Output.from_input(shape.offer.instance_type),
        "shards": pulumi.Output.from_input(shape.shards),
        "startup_timeout_s": pulumi.Output.from_input(shape.startup_timeout_s),
        "hourly_usd_min": round(values["min_instances"] * price, 4),
        "hourly_usd_max": round(values["max_instances"] * price, 4),
    }
    for name, value in outputs.items():
        setattr(component, name, value)
    return outputs
