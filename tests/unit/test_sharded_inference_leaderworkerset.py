"""ShardedInference in LeaderWorkerSet mode: one LeaderWorkerSet instead of a StatefulSet per group, the
same pods otherwise, and the ranks, Services, policies and outputs keyed by LWS's own labels."""

from __future__ import annotations

from typing import Any

from sharded_inference_parts import (
    INSTANCE_SELECTOR,
    LWS,
    STS,
    SVC,
    env_of,
    pod_spec,
    policy,
    render,
    render_with_outputs,
    spec_of,
)

from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph


def lws_spec(graph: Graph) -> dict[str, Any]:
    return spec_of(graph.one(LWS))


def test_leaderworkerset_mode_creates_one_lws_and_no_statefulsets() -> None:
    graph = render(mode="leaderworkerset", shards=4, replica_groups=2)
    assert graph.of_type(STS) == []
    lws = graph.one(LWS).inputs
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert lws["kind"] == "LeaderWorkerSet"
    assert lws["metadata"]["name"] == "llm"
    spec = lws["spec"]
    assert spec["replicas"] == 2
    assert spec["leaderWorkerTemplate"]["size"] == 4
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert spec["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["startupPolicy"] == "LeaderCreated"
    assert spec["networkConfig"] == {"subdomainPolicy": "Shared"}
    # LWS makes its own headless Service (named after the LWS); ours is only the API Service.
    assert [r.inputs["metadata"]["name"] for r in graph.of_type(SVC)] == ["llm-api"]


def test_leaderworkerset_ranks_read_the_variables_lws_injects() -> None:
    template = lws_spec(render(mode="leaderworkerset", shards=4))["leaderWorkerTemplate"]["workerTemplate"]
    env = env_of(template["spec"]["containers"][0])
    assert env[rc.ENV_LEADER_ADDR]["value"] == "$(LWS_LEADER_ADDRESS)"
    assert env[rc.ENV_RANK]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']"}
    }
    assert env[rc.ENV_WORLD_SIZE]["value"] == "4"


def test_leaderworkerset_pod_template_matches_the_statefulset_one_otherwise() -> None:
    sts_pod = pod_spec(render())
    lws_pod = lws_spec(render(mode="leaderworkerset"))["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    for key in (
        "securityContext",
        "volumes",
        "tolerations",
        "nodeSelector",
        "serviceAccountName",
        "terminationGracePeriodSeconds",
        "automountServiceAccountToken",
    ):
        assert lws_pod[key] == sts_pod[key], key
    sts_c, lws_c = sts_pod["containers"][0], lws_pod["containers"][0]
    for key in (
        "image",
        "ports",
        "resources",
        "securityContext",
        "startupProbe",
        "readinessProbe",
        "livenessProbe",
        "volumeMounts",
        "imagePullPolicy",
    ):
        assert lws_c[key] == sts_c[key], key


def test_leaderworkerset_groups_stay_in_one_zone_by_group_key() -> None:
    affinity = lws_spec(render(mode="leaderworkerset"))["leaderWorkerTemplate"]["workerTemplate"]["spec"]["affinity"]
    (same,) = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert same["matchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"]
    assert same["topologyKey"] == "topology.kubernetes.io/zone"
    (other,) = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert other["podAffinityTerm"]["mismatchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"]


def test_leaderworkerset_services_and_policies_use_lws_labels() -> None:
    graph = render(mode="leaderworkerset", replica_groups=2)
    assert spec_of(graph.one(SVC, "llm-api"))["selector"] == {
        **INSTANCE_SELECTOR,
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    for g in (0, 1):
        selector = {"matchLabels": {**INSTANCE_SELECTOR, "leaderworkerset.sigs.k8s.io/group-index": str(g)}}
        assert policy(graph, f"llm-{g}-ranks")["ingress"] == [{"from": [{"podSelector": selector}]}]


def test_leaderworkerset_claims_per_rank_for_a_persistent_cache() -> None:
    graph = render(mode="leaderworkerset", weights_cache={"size_gib": 50, "storage_class": "premium"})
    (claim,) = lws_spec(graph)["leaderWorkerTemplate"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "premium"


def test_leaderworkerset_outputs_name_groups_after_their_leaders() -> None:
    outputs = render_with_outputs(mode="leaderworkerset", replica_groups=2).outputs
    assert outputs["group_names"] == ["llm-0", "llm-1"]
    assert outputs["service_name"] == "llm-api"
