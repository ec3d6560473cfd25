"""The pod template of one ShardedInference rank: contract env, probes, volumes, placement, security."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s import labels as lbl
from shardstack.k8s import pod_security
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.sharded_inference_args import (
    EPHEMERAL_HEADROOM_GIB,
    TMP_SIZE_GIB,
    ShardedInferenceSettings,
)
from shardstack.k8s.tolerations import toleration_args

CONTAINER_NAME = "runtime"
CACHE_VOLUME = "weights-cache"
TMP_VOLUME = "tmp"
SHM_VOLUME = "shm"
SECRET_FILES_VOLUME = "secret-files"
WEIGHTS_VOLUME = "weights"

LEAVE_GROUP_S = 25
"""After the drain: the leader's shutdown message to the workers, and every rank leaving the process group."""
TERMINATION_GRACE_PERIOD_S = rc.PRE_STOP_SLEEP_S + rc.DRAIN_TIMEOUT_S + LEAVE_GROUP_S
"""Time for the Service to stop routing to the pod, the leader to finish its running requests (the workers keep
the pipeline up meanwhile) and the ranks to leave the process group, before the kubelet kills them."""

STARTUP_PERIOD_S = 10
STARTUP_FAILURE_THRESHOLD = 180
"""Startup probe: up to 180 x 10 s = 30 min before the first /health answer, covering image pull
leftovers, CUDA initialisation and a runtime that downloads its shard before serving HTTP (20 GB at
~15 MB/s). Liveness only starts after it, so a slow download never gets a rank killed."""
READINESS_PERIOD_S = 5
READINESS_FAILURE_THRESHOLD = 3
"""Readiness: out of the Service within 15 s of /ready failing (e.g. a peer rank left the group)."""
LIVENESS_PERIOD_S = 10
LIVENESS_FAILURE_THRESHOLD = 6
"""Liveness: restarted after 60 s without /health, long enough to ride out a GC pause or a long
collective, short enough that a hung rank does not hold its group down for long."""
PROBE_TIMEOUT_S = 5

TOPOLOGY_SPREAD_MAX_SKEW = 1
ANTI_AFFINITY_WEIGHT = 100


@dataclass(frozen=True)
class RankPod:
    """What differs between the pods of one group and another, and between the two modes."""

    labels: dict[str, pulumi.Input[str]]
    """All labels on the pod template (selector labels included)."""
    group_selector: dict[str, str] | None
    """Labels that select exactly this group's pods (StatefulSet mode); None in LeaderWorkerSet mode."""
    instance_selector: dict[str, str]
    """Labels that select every rank of the instance, all groups."""
    group_label: str | None
    """Label key whose value differs between groups (for anti-affinity between groups)."""
    group_value: str | None
    leader_addr: pulumi.Input[str]
    rank_field_path: str
    namespace: pulumi.Input[str]
    service_account_name: pulumi.Input[str]
    secret_files_secret: pulumi.Input[str] | None


def quantity_gib(gib: int) -> str:
    return f"{gib}Gi"


def ephemeral_storage_gib(settings: ShardedInferenceSettings) -> int:
    """Ephemeral storage per rank: the emptyDir cache (it counts against the pod) plus headroom."""
    cache = 0 if settings.weights_cache_storage_class else settings.weights_cache_gib
    return cache + TMP_SIZE_GIB + EPHEMERAL_HEADROOM_GIB


def _env(settings: ShardedInferenceSettings, pod: RankPod) -> list[k8s.core.v1.EnvVarArgs]:
    def plain(name: str, value: pulumi.Input[str]) -> k8s.core.v1.EnvVarArgs:
        return k8s.core.v1.EnvVarArgs(name=name, value=value)

    def field(name: str, path: str) -> k8s.core.v1.EnvVarArgs:
        return k8s.core.v1.EnvVarArgs(
            name=name,
            value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)),
        )

    def secret(name: str, secret_name: str, key: str) -> k8s.core.v1.EnvVarArgs:
        return k8s.core.v1.EnvVarArgs(
            name=name,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key, optional=False)
            ),
        )

    env = [
        plain(rc.ENV_MODEL_URI, settings.model_uri),
        plain(rc.ENV_WORLD_SIZE, str(settings.shards)),
        field(rc.ENV_RANK, pod.rank_field_path),
        field(rc.ENV_POD_NAME, "metadata.name"),
        plain(rc.ENV_LEADER_ADDR, pod.leader_addr),
        plain(rc.ENV_API_PORT, str(settings.api_port)),
        plain(rc.ENV_RENDEZVOUS_PORT, str(settings.rendezvous_port)),
        plain(rc.ENV_METRICS_PORT, str(settings.metrics_port)),
        plain(rc.ENV_DTYPE, settings.dtype),
        plain(rc.ENV_CACHE_DIR, rc.CACHE_DIR),
        # The root filesystem is read-only: library caches (torch, triton, NCCL) go under /tmp.
        plain("HOME", rc.TMP_DIR),
    ]
    if settings.api_key_secret is not None:
        env.append(secret(rc.ENV_API_KEY, settings.api_key_secret["name"], settings.api_key_secret["key"]))
    env.extend(plain(name, value) for name, value in sorted(settings.env.items()))
    env.extend(secret(name, ref["name"], ref["key"]) for name, ref in sorted(settings.env_from_secrets.items()))
    return env


def _probe(path: str, period_s: int, failure_threshold: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=rc.METRICS_PORT_NAME, scheme="HTTP"),
        period_seconds=period_s,
        failure_threshold=failure_threshold,
        timeout_seconds=PROBE_TIMEOUT_S,
        success_threshold=1,
    )


def _resources(settings: ShardedInferenceSettings) -> k8s.core.v1.ResourceRequirementsArgs:
    # Requests equal limits: Guaranteed QoS, so ranks are the last evicted under node pressure
    # and the CPU manager may pin them; a rank slower than its peers slows its whole group.
    amounts: dict[str, str] = {
        "cpu": settings.cpu,
        "memory": settings.memory,
        "ephemeral-storage": quantity_gib(ephemeral_storage_gib(settings)),
    }
    if settings.uses_gpus:
        amounts[settings.gpu_resource_name] = str(settings.gpus_per_shard)
    return k8s.core.v1.ResourceRequirementsArgs(requests=dict(amounts), limits=dict(amounts))


def _volumes(settings: ShardedInferenceSettings, pod: RankPod) -> list[k8s.core.v1.VolumeArgs]:
    volumes = [
        k8s.core.v1.VolumeArgs(
            name=TMP_VOLUME,
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=quantity_gib(TMP_SIZE_GIB)),
        ),
        k8s.core.v1.VolumeArgs(
            name=SHM_VOLUME,
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                medium="Memory", size_limit=quantity_gib(settings.shm_size_gib)
            ),
        ),
    ]
    if settings.weights_cache_storage_class is None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=CACHE_VOLUME,
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=quantity_gib(settings.weights_cache_gib)),
            )
        )
    if settings.weights_volume_claim is not None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=WEIGHTS_VOLUME,
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=settings.weights_volume_claim, read_only=True
                ),
            )
        )
    if pod.secret_files_secret is not None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=SECRET_FILES_VOLUME,
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=pod.secret_files_secret,
                    # Owner and fsGroup may read; nobody may write.
                    default_mode=0o440,
                ),
            )
        )
    return volumes


def _volume_mounts(settings: ShardedInferenceSettings, pod: RankPod) -> list[k8s.core.v1.VolumeMountArgs]:
    mounts = [
        k8s.core.v1.VolumeMountArgs(name=CACHE_VOLUME, mount_path=rc.CACHE_DIR),
        k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path=rc.TMP_DIR),
        k8s.core.v1.VolumeMountArgs(name=SHM_VOLUME, mount_path=rc.SHM_DIR),
    ]
    if settings.weights_volume_claim is not None:
        # Read-only: a rank must never be able to alter the checkpoint its peers load.
        mounts.append(k8s.core.v1.VolumeMountArgs(name=WEIGHTS_VOLUME, mount_path=rc.WEIGHTS_DIR, read_only=True))
    if pod.secret_files_secret is not None:
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name=SECRET_FILES_VOLUME, mount_path=rc.SECRET_FILES_DIR, read_only=True)
        )
    return mounts


def _tolerations(settings: ShardedInferenceSettings) -> list[k8s.core.v1.TolerationArgs] | None:
    gpu = [k8s.core.v1.TolerationArgs(key=lbl.GPU_TAINT_KEY, operator="Exists", effect=lbl.GPU_TAINT_EFFECT)]
    extra = [toleration_args(t) for t in settings.tolerations]
    return [*(gpu if settings.uses_gpus else []), *extra] or None


def _affinity(settings: ShardedInferenceSettings, pod: RankPod) -> k8s.core.v1.AffinityArgs | None:
    if not settings.zone_spread:
        return None
    if pod.group_selector is not None:
        # StatefulSet mode: each group's pods carry a group label we chose.
        same_group = k8s.core.v1.PodAffinityTermArgs(
            topology_key=lbl.ZONE,
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod.group_selector),
        )
        other_groups = k8s.core.v1.PodAffinityTermArgs(
            topology_key=lbl.ZONE,
            label_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels=pod.instance_selector,
                match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(
                        key=str(pod.group_label), operator="NotIn", values=[str(pod.group_value)]
                    )
                ],
            ),
        )
    else:
        # LeaderWorkerSet mode: one template for all groups, so the group is told apart by the
        # group-key label LWS adds (matchLabelKeys: beta and on by default from Kubernetes 1.31).
        same_group = k8s.core.v1.PodAffinityTermArgs(
            topology_key=lbl.ZONE,
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod.instance_selector),
            match_label_keys=[lbl.LWS_GROUP_KEY],
        )
        other_groups = k8s.core.v1.PodAffinityTermArgs(
            topology_key=lbl.ZONE,
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod.instance_selector),
            mismatch_label_keys=[lbl.LWS_GROUP_KEY],
        )
    return k8s.core.v1.AffinityArgs(
        # A group's ranks talk on every token: keep them in one zone (latency, cross-zone cost).
        pod_affinity=k8s.core.v1.PodAffinityArgs(required_during_scheduling_ignored_during_execution=[same_group]),
        # Copies of the model survive a zone outage only if they sit in different zones.
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.core.v1.WeightedPodAffinityTermArgs(weight=ANTI_AFFINITY_WEIGHT, pod_affinity_term=other_groups)
            ]
        ),
    )


def _topology_spread(
    settings: ShardedInferenceSettings, pod: RankPod
) -> list[k8s.core.v1.TopologySpreadConstraintArgs] | None:
    if not settings.zone_spread:
        return None
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=TOPOLOGY_SPREAD_MAX_SKEW,
            topology_key=lbl.ZONE,
            # Soft: the required same-zone affinity of a group's ranks must win over spreading.
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod.instance_selector),
        )
    ]


def rank_pod_template(settings: ShardedInferenceSettings, pod: RankPod) -> k8s.core.v1.PodTemplateSpecArgs:
    """Return the pod template every rank of a group (StatefulSet) or of all groups (LWS) runs."""
    container = k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=settings.image,
        image_pull_policy="IfNotPresent",
        env=_env(settings, pod),
        ports=[
            k8s.core.v1.ContainerPortArgs(name=rc.API_PORT_NAME, container_port=settings.api_port, protocol="TCP"),
            k8s.core.v1.ContainerPortArgs(
                name=rc.RENDEZVOUS_PORT_NAME, container_port=settings.rendezvous_port, protocol="TCP"
            ),
            k8s.core.v1.ContainerPortArgs(
                name=rc.METRICS_PORT_NAME, container_port=settings.metrics_port, protocol="TCP"
            ),
        ],
        resources=_resources(settings),
        startup_probe=_probe(rc.HEALTH_PATH, STARTUP_PERIOD_S, STARTUP_FAILURE_THRESHOLD),
        readiness_probe=_probe(rc.READY_PATH, READINESS_PERIOD_S, READINESS_FAILURE_THRESHOLD),
        liveness_probe=_probe(rc.HEALTH_PATH, LIVENESS_PERIOD_S, LIVENESS_FAILURE_THRESHOLD),
        security_context=pod_security.restricted_container_security_context(),
        volume_mounts=_volume_mounts(settings, pod),
        termination_message_policy="FallbackToLogsOnError",
        # The image has no shell; the kubelet sleeps itself (Kubernetes 1.30+).
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=rc.PRE_STOP_SLEEP_S))
        ),
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=pod.labels,
            annotations={"kubectl.kubernetes.io/default-container": CONTAINER_NAME},
        ),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=pod.service_account_name,
            # The runtime never calls the Kubernetes API; cloud identity webhooks (IRSA, Azure
            # Workload Identity) mount their own projected tokens, and GKE uses the metadata server.
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=pod_security.restricted_pod_security_context(),
            containers=[container],
            volumes=_volumes(settings, pod),
            node_selector=settings.node_selector or None,
            tolerations=_tolerations(settings),
            affinity=_affinity(settings, pod),
            topology_spread_constraints=_topology_spread(settings, pod),
            termination_grace_period_seconds=TERMINATION_GRACE_PERIOD_S,
            restart_policy="Always",
        ),
    )


def statefulset_rank_field_path() -> str:
    return f"metadata.labels['{lbl.POD_INDEX}']"


def lws_rank_field_path() -> str:
    return f"metadata.labels['{lbl.LWS_WORKER_INDEX}']"


def leader_dns_name(group_object: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    """Return the rank-0 pod's DNS name, ``<sts>-0.<headless svc>.<ns>.svc.cluster.local``.

    The headless Service of a group has the same name as its StatefulSet.
    """
    return pulumi.Output.concat(group_object, "-0.", group_object, ".", namespace, ".svc.cluster.local")
