"""ShardedInference's ``autoscaling``: KEDA scales the LeaderWorkerSet's groups (whole groups, never ranks) on the
leaders' own metrics, and a deployment that scales to zero is reached through KEDA's HTTP interceptor, which holds a
request while a group wakes and then hands it to a fallback answering 503 with Retry-After."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest
from sharded_inference_parts import BASE, INSTANCE_SELECTOR, LWS, NETPOL, SVC, failure, policy, render, spec_of

from shardstack.k8s import ShardedInference, validate_sharded_inference_args
from shardstack.k8s.autoscaling_specs import DEFAULT_TARGETS, DEFAULT_WAKE_TIMEOUT_S
from shardstack.k8s.group_scaler import INTERCEPTOR_SELECTOR
from shardstack.testing import Graph, run_program

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ROUTE = "kubernetes:http.keda.sh/v1beta1:InterceptorRoute"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
AUTOSCALING: dict[str, Any] = {"max_groups": 4, "prometheus_url": PROMETHEUS}
LWS_MODE: dict[str, Any] = {"mode": "leaderworkerset"}


def scaled(**autoscaling: Any) -> Graph:
    return render(**LWS_MODE, autoscaling={**AUTOSCALING, **autoscaling})


def problems(**overrides: Any) -> list[str]:
    return validate_sharded_inference_args({**BASE, **LWS_MODE, **overrides}, name="llm")


def scaled_object(graph: Graph) -> dict[str, Any]:
    return spec_of(graph.one(SCALED_OBJECT))


def triggers(graph: Graph) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in scaled_object(graph)["triggers"]}


# --- the arguments -------------------------------------------------------------------------------------


def test_autoscaling_needs_leaderworkerset_mode_saying_why() -> None:
    (problem,) = validate_sharded_inference_args({**BASE, "autoscaling": AUTOSCALING}, name="llm")
    assert problem.startswith("autoscaling needs mode 'leaderworkerset' (got 'statefulset')")
    assert "scale subresource" in problem


def test_replica_groups_and_autoscaling_together_are_refused() -> None:
    (problem,) = problems(replica_groups=2, autoscaling=AUTOSCALING)
    assert problem.startswith("replica_groups=2 is given with autoscaling")


def test_scaling_to_zero_needs_a_private_api() -> None:
    (problem,) = problems(public=True, allowed_cidrs=["203.0.113.0/24"], autoscaling={**AUTOSCALING, "min_groups": 0})
    assert problem.startswith("autoscaling.min_groups=0 is 0 with public True")
    assert "interceptor" in problem


@pytest.mark.parametrize(
    ("autoscaling", "expected"),
    [
        ({"min_groups": 5}, "autoscaling.max_groups=4 is less than min_groups=5; max_groups must be ≥ min_groups"),
        ({"max_groups": 0}, "autoscaling.max_groups=0 must be a whole number from 1 to 256"),
        ({"metric": "gpu_utilization"}, "autoscaling.metric='gpu_utilization' must be one of"),
        ({"metric": "kv_cache_usage_perc", "target": 80}, "autoscaling.target=80 is above 1: kv_cache_usage_perc"),
        ({"target": 0}, "autoscaling.target=0 must be a number greater than 0, e.g. 4"),
        ({"scale_down_stabilization_s": 7200}, "autoscaling.scale_down_stabilization_s=7200 must be a whole number"),
        ({"scale_to_zero_after_s": 600}, "autoscaling.scale_to_zero_after_s only applies with min_groups 0 (got 1)"),
        ({"wake_timeout_s": 120}, "autoscaling.wake_timeout_s only applies with min_groups 0 (got 1)"),
        ({"prometheus_url": "prometheus:9090"}, "autoscaling.prometheus_url='prometheus:9090' is not an HTTP URL"),
        ({"prometheus_url": "http://u:p@prom:9090"}, "autoscaling.prometheus_url='http://u:p@prom:9090' carries"),
    ],
)
def test_each_bad_autoscaling_value_is_named_with_what_is_allowed(autoscaling: dict[str, Any], expected: str) -> None:
    found = problems(autoscaling={**AUTOSCALING, **autoscaling})
    assert any(p.startswith(expected) for p in found), found


def test_prometheus_url_and_max_groups_are_required() -> None:
    found = problems(autoscaling={})
    assert any(p.startswith("autoscaling.max_groups is required") for p in found), found
    assert any(p.startswith("autoscaling.prometheus_url is required") for p in found), found


def test_a_refused_autoscaling_registers_nothing() -> None:
    failure(**LWS_MODE, autoscaling={**AUTOSCALING, "min_groups": 9})


def test_the_name_must_leave_room_for_the_last_group_it_may_scale_to() -> None:
    name = "n" * 50  # "<name>-9" fits in 52 characters, "<name>-10" does not
    assert (
        validate_sharded_inference_args(
            {**BASE, **LWS_MODE, "autoscaling": {**AUTOSCALING, "max_groups": 10}}, name=name
        )
        == []
    )
    (problem,) = validate_sharded_inference_args(
        {**BASE, **LWS_MODE, "autoscaling": {**AUTOSCALING, "max_groups": 11}}, name=name
    )
    assert f"'{name}-10'" in problem


# --- what scales ---------------------------------------------------------------------------------------


def test_keda_scales_the_leaderworkerset_so_a_group_is_added_or_removed_whole() -> None:
    graph = scaled(min_groups=2, max_groups=6)
    spec = scaled_object(graph)
    lws = graph.one(LWS).inputs
    assert spec["scaleTargetRef"] == {
        "apiVersion": lws["apiVersion"],
        "kind": lws["kind"],
        "name": lws["metadata"]["name"],
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 6)
    assert graph.one(SCALED_OBJECT).inputs["metadata"]["namespace"] == lws["metadata"]["namespace"]


def test_the_leaderworkerset_starts_at_min_groups_and_pulumi_leaves_the_count_to_keda() -> None:
    graph = scaled(min_groups=2)
    lws = graph.one(LWS)
    assert lws.inputs["spec"]["replicas"] == 2
    assert lws.ignore_changes == ["spec.replicas"]
    assert render(**LWS_MODE, replica_groups=2).one(LWS).ignore_changes == []


def test_stabilisation_windows_and_one_group_removed_at_a_time() -> None:
    behavior = scaled_object(scaled(scale_up_stabilization_s=30, scale_down_stabilization_s=600))["advanced"][
        "horizontalPodAutoscalerConfig"
    ]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 30
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]


LEADERS = ["llm-0", "llm-11"]
WORKERS = ["llm-0-1", "llm-11-3", "other-0", "llm-canary-0"]
"""LeaderWorkerSet names a group's leader pod <lws>-<group> and its workers <lws>-<group>-<worker>."""


def _pod_pattern(query: str) -> re.Pattern[str]:
    (pattern,) = set(re.findall(r'pod=~"([^"]+)"', query))
    assert 'namespace="shardstack"' in query
    return re.compile(pattern)  # PromQL's =~ is anchored at both ends, as fullmatch is


def test_the_queue_adds_groups_and_the_running_requests_keep_them_reading_only_this_deployments_leaders() -> None:
    found = triggers(scaled())
    queue, running = found["queue"], found["running"]
    assert queue["type"] == running["type"] == "prometheus"
    assert queue["metadata"]["serverAddress"] == running["metadata"]["serverAddress"] == PROMETHEUS
    assert queue["metricType"] == running["metricType"] == "AverageValue"  # groups = ceil(metric / threshold)
    assert queue["metadata"]["query"].startswith("sum(vllm:num_requests_waiting{")
    assert float(queue["metadata"]["threshold"]) == DEFAULT_TARGETS["num_requests_waiting"]
    assert running["metadata"]["query"].startswith("sum(vllm:num_requests_running{")
    assert (
        "shardstack_engine_stat{" in running["metadata"]["query"] and 'stat="max_slots"' in running["metadata"]["query"]
    )
    assert float(running["metadata"]["threshold"]) == 1
    for trigger in (queue, running):
        pattern = _pod_pattern(trigger["metadata"]["query"])
        assert all(pattern.fullmatch(pod) for pod in LEADERS)
        assert not any(pattern.fullmatch(pod) for pod in WORKERS)


def test_the_kv_cache_signal_is_the_leaders_average_against_its_target() -> None:
    (trigger,) = scaled_object(scaled(metric="kv_cache_usage_perc", target=0.7))["triggers"]
    assert trigger["metricType"] == "Value"  # groups = ceil(groups * average / target)
    assert trigger["metadata"]["query"].startswith("avg(vllm:kv_cache_usage_perc{")
    assert trigger["metadata"]["threshold"] == "0.7"


def test_a_group_scaled_deployment_has_a_network_policy_for_every_group_it_may_have() -> None:
    graph = scaled(max_groups=3)
    for group in range(3):
        ranks = policy(graph, f"llm-{group}-ranks")
        assert ranks["podSelector"]["matchLabels"]["leaderworkerset.sigs.k8s.io/group-index"] == str(group)
    assert not any(r.inputs["metadata"]["name"] == "llm-3-ranks" for r in graph.of_type(NETPOL))


def test_without_scaling_to_zero_there_is_no_interceptor_and_the_endpoint_is_the_leaders_service() -> None:
    graph = scaled(min_groups=1)
    assert graph.of_type(ROUTE) == [] and graph.of_type(DEPLOYMENT) == []
    assert [t["type"] for t in scaled_object(graph)["triggers"]] == ["prometheus", "prometheus"]
    assert "cooldownPeriod" not in scaled_object(graph)


# --- scaling to zero -----------------------------------------------------------------------------------


def render_to_zero(**autoscaling: Any) -> Graph:
    arguments: Any = {**BASE, **LWS_MODE, "autoscaling": {**AUTOSCALING, "min_groups": 0, **autoscaling}}

    def program() -> None:
        llm = ShardedInference("llm", arguments)
        pulumi.export("endpoint", llm.endpoint)

    return run_program(program)


def test_at_zero_groups_the_interceptor_wakes_a_group_and_the_last_one_goes_after_the_idle_time() -> None:
    graph = render_to_zero(scale_to_zero_after_s=1200)
    spec = scaled_object(graph)
    assert spec["minReplicaCount"] == 0 and spec["cooldownPeriod"] == 1200
    assert graph.one(LWS).inputs["spec"]["replicas"] == 0
    interceptor = triggers(graph)["interceptor"]
    route = graph.one(ROUTE)
    assert interceptor["type"] == "external-push"
    assert interceptor["metadata"] == {
        "scalerAddress": "keda-add-ons-http-external-scaler.keda:9090",
        "interceptorRoute": route.inputs["metadata"]["name"],
    }
    # KEDA reads the route when the ScaledObject appears.
    assert route.urn in graph.one(SCALED_OBJECT).dependencies


def test_callers_reach_the_interceptor_which_routes_their_host_to_the_leaders() -> None:
    graph = render_to_zero()
    endpoint = graph.outputs["endpoint"]
    host, port = re.fullmatch(r"http://([^:/]+):(\d+)", endpoint).groups()  # type: ignore[union-attr]
    service_name, namespace = host.split(".")[:2]
    external = graph.one(SVC, service_name).inputs
    assert external["metadata"]["namespace"] == namespace
    assert external["spec"]["type"] == "ExternalName"
    assert external["spec"]["externalName"] == "keda-add-ons-http-interceptor-proxy.keda.svc.cluster.local"
    assert [p["port"] for p in external["spec"]["ports"]] == [int(port)]
    route = spec_of(graph.one(ROUTE))
    (rule,) = route["rules"]
    assert host in rule["hosts"] and service_name in rule["hosts"]  # the interceptor routes by the Host header
    leaders = graph.one(SVC, "llm-api").inputs
    assert route["target"] == {"service": leaders["metadata"]["name"], "port": leaders["spec"]["ports"][0]["port"]}


def test_a_request_is_held_up_to_the_wake_timeout_then_answered_by_the_cold_start_fallback() -> None:
    graph = render_to_zero(wake_timeout_s=420)
    route = spec_of(graph.one(ROUTE))
    assert route["timeouts"]["readiness"] == "420s"
    assert route["timeouts"]["responseHeader"] == "0s"  # a long completion is never cut by the interceptor
    fallback = route["coldStart"]["fallback"]["service"]
    service = graph.one(SVC, fallback["name"]).inputs
    assert service["spec"]["ports"][0]["port"] == fallback["port"]
    deployment = graph.one(DEPLOYMENT).inputs
    template = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    (container,) = template["spec"]["containers"]
    assert container["command"][:2] == ["shardstack-runtime", "cold-start"]
    assert container["command"][container["command"].index("--wake-timeout") + 1] == "420"
    assert container["image"] == BASE["image"]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]


def test_the_fallback_is_no_rank_the_deployments_budget_service_or_policies_select() -> None:
    graph = render_to_zero()
    labels = graph.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert not INSTANCE_SELECTOR.items() <= labels.items()


def test_only_the_interceptor_may_reach_the_fallback_and_it_may_reach_the_leaders() -> None:
    graph = render_to_zero()
    interceptor = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
        "podSelector": {"matchLabels": INTERCEPTOR_SELECTOR},
    }
    fallback = policy(graph, "llm-cold-start")
    (rule,) = fallback["ingress"]
    assert rule["from"] == [interceptor]
    assert interceptor in policy(graph, "llm-api")["ingress"][0]["from"]


def test_by_default_a_request_is_held_for_the_documented_wake_timeout() -> None:
    assert spec_of(render_to_zero().one(ROUTE))["timeouts"]["readiness"] == f"{DEFAULT_WAKE_TIMEOUT_S}s"
