"""Tolerations as pod spec entries (GpuEnablement and ShardedInference take them; their spec is in
:mod:`shardstack.k8s.specs`)."""

import pulumi_kubernetes as k8s

from shardstack.k8s.args import Toleration
from shardstack.k8s.inference_specs import TAINT_EFFECTS, TOLERATION_OPERATORS

__all__ = ["TAINT_EFFECTS", "TOLERATION_OPERATORS", "Toleration", "toleration_args"]


def toleration_args(toleration: Toleration) -> k8s.core.v1.TolerationArgs:
    """A checked toleration as a pod spec's entry; empty fields are left out, as Kubernetes does."""
    return k8s.core.v1.TolerationArgs(
        key=toleration.get("key") or None,
        operator=toleration.get("operator", "Equal"),
        value=toleration.get("value") or None,
        effect=toleration.get("effect") or None,
    )
