"""Arguments of :class:`~shardstack.k8s.ShardedInference` with their defaults applied, and the name check only
the component can make (its arguments are declared in :mod:`shardstack.k8s.specs`)."""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from shardstack.k8s import labels as lbl
from shardstack.k8s import names
from shardstack.k8s.args import SecretKeyRef, ShardedInferenceArgs, Toleration, WeightsCache
from shardstack.k8s.autoscaling_specs import AUTOSCALING
from shardstack.k8s.group_scaler import GroupScaling, resolve_group_scaling
from shardstack.k8s.inference_specs import (
    DEFAULT_CPU,
    DEFAULT_GPU_RESOURCE_NAME,
    DEFAULT_GPUS_PER_SHARD,
    DEFAULT_MEMORY,
    DEFAULT_REPLICA_GROUPS,
    DEFAULT_SHM_SIZE_GIB,
    DEFAULT_WEIGHTS_CACHE_GIB,
    MODE_LEADERWORKERSET,
    MODE_STATEFULSET,
    MODES,
    SHARDED_INFERENCE,
)
from shardstack.k8s.inference_specs import INFERENCE_NAMESPACE as DEFAULT_NAMESPACE
from shardstack.k8s.monitoring_specs import PROMETHEUS
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import arguments_first

__all__ = [
    "DEFAULT_CPU",
    "DEFAULT_GPUS_PER_SHARD",
    "DEFAULT_GPU_RESOURCE_NAME",
    "DEFAULT_MEMORY",
    "DEFAULT_NAMESPACE",
    "DEFAULT_REPLICA_GROUPS",
    "DEFAULT_SHM_SIZE_GIB",
    "DEFAULT_WEIGHTS_CACHE_GIB",
    "EPHEMERAL_HEADROOM_GIB",
    "MAX_OBJECT_NAME_LENGTH",
    "MODES",
    "MODE_LEADERWORKERSET",
    "MODE_STATEFULSET",
    "TMP_SIZE_GIB",
    "SecretKeyRef",
    "ShardedInferenceArgs",
    "ShardedInferenceSettings",
    "WeightsCache",
    "group_object_name",
    "resolve_sharded_inference_args",
    "validate_sharded_inference_args",
]

EPHEMERAL_HEADROOM_GIB = 2
"""Logs, /tmp and the writable layer, on top of an emptyDir weights cache."""
TMP_SIZE_GIB = 1

MAX_OBJECT_NAME_LENGTH = 52
"""StatefulSet (and LeaderWorkerSet) names longer than 52 characters break: the controller-revision-hash
label it adds to pods is ``<name>-<10-char hash>`` and labels hold at most 63 characters."""


@dataclass(frozen=True)
class ShardedInferenceSettings:
    """ShardedInferenceArgs with every default applied; built only from validated args."""

    image: pulumi.Input[str]
    model_uri: pulumi.Input[str]
    shards: int
    replica_groups: int
    dtype: str
    gpus_per_shard: int
    gpu_resource_name: str
    node_selector: dict[str, str]
    namespace: str
    create_namespace: bool
    service_account_annotations: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None
    service_account_labels: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None
    env: dict[str, pulumi.Input[str]]
    env_from_secrets: dict[str, SecretKeyRef]
    secret_files: dict[str, pulumi.Input[str]]
    cpu: str
    memory: str
    shm_size_gib: int
    weights_cache_gib: int
    weights_cache_storage_class: str | None
    weights_volume_claim: str | None
    api_port: int
    rendezvous_port: int
    metrics_port: int
    public: bool
    allowed_cidrs: list[str]
    api_allowed_namespaces: list[str]
    monitoring_namespace_selector: dict[str, str] | None
    monitoring_cidrs: pulumi.Input[Sequence[str]] | None
    grafana_dashboard: bool
    api_key_secret: SecretKeyRef | None
    api_service_annotations: dict[str, pulumi.Input[str]]
    mode: str
    zone_spread: bool
    wait_until_ready: bool = True
    autoscaling: GroupScaling | None = None
    prometheus: dict[str, Any] | None = None
    """``prometheus`` with its defaults applied; None when not given."""
    labels: dict[str, str] = field(default_factory=dict)
    tolerations: list[Toleration] = field(default_factory=list)

    @property
    def uses_gpus(self) -> bool:
        return self.gpus_per_shard > 0

    @property
    def groups_at_most(self) -> int:
        """The most groups there can be: ``max_groups`` when autoscaled, else ``replica_groups``."""
        return self.autoscaling.max_groups if self.autoscaling else self.replica_groups


def resolve_sharded_inference_args(args: ShardedInferenceArgs) -> ShardedInferenceSettings:
    """Apply the defaults to already validated arguments: the spec's, and those computed from other arguments."""
    values = SHARDED_INFERENCE.resolved(args)
    gpus = values["gpus_per_shard"]
    default_selector = {lbl.GPU_NODE_LABEL: lbl.GPU_NODE_LABEL_VALUE} if gpus > 0 else {}
    cache = values.get("weights_cache") or WeightsCache(size_gib=DEFAULT_WEIGHTS_CACHE_GIB)
    monitoring = values.get("monitoring_namespace_selector")
    return ShardedInferenceSettings(
        image=values["image"],
        model_uri=values["model_uri"],
        shards=values["shards"],
        replica_groups=values["replica_groups"],
        dtype=values["dtype"],
        gpus_per_shard=gpus,
        gpu_resource_name=values["gpu_resource_name"],
        node_selector=dict(values.get("node_selector", default_selector)),
        namespace=values["namespace"],
        create_namespace=values["create_namespace"],
        service_account_annotations=values.get("service_account_annotations"),
        service_account_labels=values.get("service_account_labels"),
        env=dict(values.get("env") or {}),
        env_from_secrets=dict(values.get("env_from_secrets") or {}),
        secret_files=dict(values.get("secret_files") or {}),
        cpu=values["cpu"],
        memory=values["memory"],
        shm_size_gib=values["shm_size_gib"],
        weights_cache_gib=cache["size_gib"],
        weights_cache_storage_class=cache.get("storage_class"),
        weights_volume_claim=values.get("weights_volume_claim"),
        api_port=values["api_port"],
        rendezvous_port=values["rendezvous_port"],
        metrics_port=values["metrics_port"],
        public=values["public"],
        allowed_cidrs=list(values.get("allowed_cidrs") or []),
        api_allowed_namespaces=list(values.get("api_allowed_namespaces") or []),
        monitoring_namespace_selector=dict(monitoring) if monitoring is not None else None,
        monitoring_cidrs=values.get("monitoring_cidrs"),
        grafana_dashboard=values["grafana_dashboard"],
        api_key_secret=values.get("api_key_secret"),
        api_service_annotations=dict(values.get("api_service_annotations") or {}),
        mode=values["mode"],
        zone_spread=values["zone_spread"],
        wait_until_ready=values["wait_until_ready"],
        autoscaling=resolve_group_scaling(AUTOSCALING.resolved(values["autoscaling"]))
        if values.get("autoscaling") is not None
        else None,
        prometheus=PROMETHEUS.resolved(values["prometheus"]) if values.get("prometheus") is not None else None,
        labels=dict(values.get("labels") or {}),
        tolerations=list(values.get("tolerations") or []),
    )


def group_object_name(name: str, mode: str, group: int) -> str:
    """Return the Kubernetes name of a replica group: its StatefulSet, or its LWS leader pod."""
    return f"{name}-g{group}" if mode == MODE_STATEFULSET else f"{name}-{group}"


@arguments_first
def validate_sharded_inference_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with ShardedInference arguments (and its resource ``name``), one line each."""
    problems = as_arguments(SHARDED_INFERENCE.check(args))
    if name is not None:
        problems += name_problems(args, name)
    return problems


def name_problems(args: Mapping[str, Any], name: str) -> list[str]:
    """The resource name becomes part of every group object's name: it must be a DNS label that leaves room."""
    problem = names.service_name_problem("name", name)
    if problem:
        return [problem]
    autoscaling = args.get("autoscaling")
    groups = (
        autoscaling.get("max_groups", DEFAULT_REPLICA_GROUPS)
        if isinstance(autoscaling, Mapping)
        else args.get("replica_groups", DEFAULT_REPLICA_GROUPS)
    )
    last_group = groups - 1 if isinstance(groups, int) and groups >= 1 else 0
    mode = args.get("mode", MODE_STATEFULSET)
    longest = group_object_name(name, mode if mode in MODES else MODE_STATEFULSET, last_group)
    if len(longest) > MAX_OBJECT_NAME_LENGTH:
        return [
            f"name={name!r} is too long: the group objects it names (e.g. {longest!r}) may have at most "
            f"{MAX_OBJECT_NAME_LENGTH} characters"
        ]
    return []
