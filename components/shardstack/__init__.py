"""Shardstack: Pulumi components for sharded model inference on your own Kubernetes and cloud.

The public surface, by module:

- ``shardstack.k8s``: ``ShardedInference``, ``GpuEnablement``, ``LocalWeightsStore`` and their args.
- ``shardstack.catalog``: the GPU catalogue (memory, instance types, dated list prices).
- ``shardstack.sizing``: ``size_model`` — shards, nodes and $/hour for a model on a GPU.
- ``shardstack.testing``: ``run_program`` — recording mocks for your own Pulumi tests.
- ``shardstack.plan``: ``plan_stack`` — a stack planned offline, as ``shardstack plan`` does.
- ``shardstack.errors``: ``ArgumentError``, ``ConfigError``, ``InputError``.

Submodules load on first use, so importing ``shardstack`` pulls in no cloud SDK.
"""

from importlib.metadata import version

from shardstack.errors import ArgumentError, ConfigError, InputError

__version__ = version("shardstack")

__all__ = ["ArgumentError", "ConfigError", "InputError", "__version__"]
