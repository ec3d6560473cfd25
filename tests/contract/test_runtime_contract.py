"""The env a ShardedInference pod gets is exactly what the runtime's settings module reads.

The IaC side renders the pod template; a small stand-in for the kubelet resolves the downward API
and `$(VAR)` references; the runtime side parses the result. A renamed variable on either side
fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shardstack.k8s import ShardedInference, ShardedInferenceArgs
from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph, run_program
from shardstack_runtime import settings

ARGS: ShardedInferenceArgs = {
    "image": "runtime:1",
    "model_uri": "s3://weights/llama/",
    "shards": 3,
    "dtype": "fp16",
    "api_key_secret": {"name": "api", "key": "token"},
}
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _pod_template(graph: Graph) -> dict[str, Any]:
    (workload,) = [r for r in graph if r.type.endswith(("StatefulSet", "LeaderWorkerSet"))][:1]
    spec = workload.inputs["spec"]
    template = spec.get("template") or spec["leaderWorkerTemplate"]["workerTemplate"]
    return template


def _kubelet_env(
    container: dict[str, Any], pod: dict[str, str], injected: dict[str, str], secrets: dict[tuple[str, str], str]
) -> dict[str, str]:
    """Resolve a container's env as the kubelet would: injected vars first, fieldRefs, secretKeyRefs, $(VAR)."""
    env = dict(injected)
    for item in container["env"]:
        if "value" in item:
            value = _REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), item["value"])
        elif "fieldRef" in item["valueFrom"]:
            value = pod[item["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[(ref["name"], ref["key"])]
        env[item["name"]] = value
    return env


def test_every_contract_variable_is_read_by_the_runtime() -> None:
    read = {v for variables in settings._SOURCES.values() for v in variables}
    assert set(rc.CONTRACT_ENV) - {rc.ENV_POD_NAME} | set(rc.MANAGED_ENV) <= read
    assert {rc.LWS_LEADER_ADDRESS, rc.LWS_GROUP_SIZE, rc.LWS_WORKER_INDEX} <= read


@pytest.mark.parametrize("index", [0, 2])
def test_a_statefulset_rank_reads_its_place_in_the_group(index: int) -> None:
    graph = run_program(lambda: ShardedInference("llm", ARGS))
    (container,) = _pod_template(graph)["spec"]["containers"]
    pod = {"metadata.name": f"llm-g0-{index}", f"metadata.labels['{'apps.kubernetes.io/pod-index'}']": str(index)}

    env = _kubelet_env(container, pod, injected={}, secrets={("api", "token"): "s3cret"})
    rank = settings.from_env(env)

    assert rank.rank == index and rank.world_size == 3 and rank.is_leader == (index == 0)
    assert rank.model_uri == "s3://weights/llama/"
    assert rank.leader_addr == "llm-g0-0.llm-g0.shardstack.svc.cluster.local"
    assert (rank.api_port, rank.rendezvous_port, rank.metrics_port) == (
        rc.DEFAULT_API_PORT,
        rc.DEFAULT_RENDEZVOUS_PORT,
        rc.DEFAULT_METRICS_PORT,
    )
    assert rank.dtype == "fp16"
    assert rank.cache_dir == rc.CACHE_DIR
    assert rank.api_key is not None and rank.api_key.get_secret_value() == "s3cret"


def test_a_leaderworkerset_rank_reads_what_the_controller_injects() -> None:
    graph = run_program(lambda: ShardedInference("llm", {**ARGS, "mode": "leaderworkerset"}))
    (container,) = _pod_template(graph)["spec"]["containers"]
    injected = {"LWS_LEADER_ADDRESS": "llm-1.llm.shardstack", "LWS_GROUP_SIZE": "3", "LWS_WORKER_INDEX": "1"}
    pod = {"metadata.name": "llm-1-1", "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']": "1"}

    rank = settings.from_env(_kubelet_env(container, pod, injected, secrets={("api", "token"): "k"}))

    assert (rank.rank, rank.world_size, rank.leader_addr) == (1, 3, "llm-1.llm.shardstack")


def test_the_pod_waits_for_the_runtime_to_drain() -> None:
    from shardstack.k8s.inference_pod import TERMINATION_GRACE_PERIOD_S
    from shardstack_runtime import serve, timeouts

    assert rc.DRAIN_TIMEOUT_S == timeouts.DRAIN_TIMEOUT_S
    # SIGTERM comes after the preStop sleep; the workers hold on for the leader's drain and its margin.
    assert TERMINATION_GRACE_PERIOD_S > rc.PRE_STOP_SLEEP_S + timeouts.DRAIN_TIMEOUT_S + serve.WORKER_DRAIN_MARGIN_S
