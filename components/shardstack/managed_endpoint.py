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
