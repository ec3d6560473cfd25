"""The stack configuration: every ``shardstack:`` key of ``stacks/Pulumi.<stack>.yaml``, typed and checked.

Usage, in the Pulumi program (``infra/`` is on ``sys.path`` when Pulumi runs it)::

    import config

    cfg = config.load(pulumi.Config("shardstack"), stack=pulumi.get_stack())
    cfg.gpu_pools[0].max_nodes

``load`` raises :class:`shardstack.errors.ConfigError` listing every problem at once, one line each,
naming the key as it is written in the YAML, the bad value and what is allowed::

    shardstack:gpu_pools[0].gpu: 'h100' is not a GPU in the catalogue; allowed: 'a10', ...
        (did you mean 'h100-80gb'?)
    shardstack:modle: unknown key (did you mean 'model'?)

The models in ``config.models`` are the reference for the keys: each field's description is its documentation.
Values set with ``pulumi config set`` arrive as strings; ``"3"`` and ``"true"`` are read as the number
and the boolean wherever the key expects one.
"""

__all__ = [
    "DEFAULT_API_KEY_SECRET_KEY",
    "DEFAULT_IMAGE",
    "DEFAULT_KUBERNETES_VERSION",
    "DEFAULT_NAMESPACE",
    "DEMO_MODEL_URI",
    "NAMESPACE",
    "SUPPORTED_KUBERNETES_VERSIONS",
    "ApiKeySecretRef",
    "ClusterConfig",
    "GpuPoolConfig",
    "LocalConfig",
    "LocalWeightsConfig",
    "ModelConfig",
    "NetworkConfig",
    "ServingConfig",
    "StackConfig",
    "SystemPoolConfig",
    "TaintConfig",
    "WeightStoreConfig",
    "format_errors",
    "load",
]

from shardstack.defaults import DEFAULT_IMAGE
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_KUBERNETES_VERSIONS

from .defaults import DEFAULT_API_KEY_SECRET_KEY, DEFAULT_NAMESPACE, DEMO_MODEL_URI, NAMESPACE
from .loading import load
from .messages import format_errors
from .models import StackConfig
from .sections import (
    ApiKeySecretRef,
    ClusterConfig,
    GpuPoolConfig,
    LocalConfig,
    LocalWeightsConfig,
    ModelConfig,
    NetworkConfig,
    ServingConfig,
    SystemPoolConfig,
    TaintConfig,
    WeightStoreConfig,
)
