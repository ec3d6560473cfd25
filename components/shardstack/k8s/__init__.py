"""Kubernetes components: GPU enablement, sharded inference, group autoscaling, a Prometheus stack, and a local
weights store."""

from typing import TYPE_CHECKING

from shardstack.lazy import module_getattr

# The components load on first use: importing one module of this package (its specs, names or labels, which
# every cloud's specs read) loads neither pulumi_kubernetes nor the components.
if TYPE_CHECKING:
    from shardstack.k8s.gpu_enablement import (
        GpuEnablement,
        GpuEnablementArgs,
        validate_gpu_enablement_args,
    )
    from shardstack.k8s.group_autoscaling import (
        GroupAutoscaling,
        GroupAutoscalingArgs,
        validate_group_autoscaling_args,
    )
    from shardstack.k8s.local_weights_store import (
        LocalWeightsStore,
        LocalWeightsStoreArgs,
        validate_local_weights_store_args,
    )
    from shardstack.k8s.prometheus_stack import (
        PrometheusStack,
        PrometheusStackArgs,
        validate_prometheus_stack_args,
    )
    from shardstack.k8s.sharded_inference import ShardedInference
    from shardstack.k8s.sharded_inference_args import (
        SecretKeyRef,
        ShardedInferenceArgs,
        WeightsCache,
        validate_sharded_inference_args,
    )
    from shardstack.k8s.tolerations import Toleration

__all__ = [
    "GpuEnablement",
    "GpuEnablementArgs",
    "GroupAutoscaling",
    "GroupAutoscalingArgs",
    "LocalWeightsStore",
    "LocalWeightsStoreArgs",
    "PrometheusStack",
    "PrometheusStackArgs",
    "SecretKeyRef",
    "ShardedInference",
    "ShardedInferenceArgs",
    "Toleration",
    "WeightsCache",
    "validate_gpu_enablement_args",
    "validate_group_autoscaling_args",
    "validate_local_weights_store_args",
    "validate_prometheus_stack_args",
    "validate_sharded_inference_args",
]

__getattr__ = module_getattr(__name__, __file__)
