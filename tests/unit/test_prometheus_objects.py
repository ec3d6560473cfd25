"""``prometheus`` on ShardedInference and GpuEnablement: a PodMonitor that scrapes exactly the ranks' (or the DCGM
exporter's) metrics port, which their NetworkPolicy opens to Prometheus's namespace, and a PrometheusRule with the
alerts, at the thresholds given."""

from __future__ import annotations

from typing import Any

import pytest
from sharded_inference_parts import BASE, INSTANCE_SELECTOR, render

from shardstack.k8s import GpuEnablement, validate_gpu_enablement_args, validate_sharded_inference_args
from shardstack.k8s.monitoring_specs import DEFAULT_INTERVAL_S
from shardstack.testing import Graph, run_program

POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MONITORING_NS = {"kubernetes.io/metadata.name": "monitoring"}


def scraped(**prometheus: Any) -> Graph:
    return render(prometheus=prometheus, monitoring_namespace_selector=MONITORING_NS)


def alerts(graph: Graph, resource: str | None = None) -> dict[str, dict[str, Any]]:
    (group,) = graph.one(RULE, resource).inputs["spec"]["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_the_pod_monitor_scrapes_every_ranks_metrics_port_that_prometheus_may_reach() -> None:
    graph = scraped(labels={"release": "kube-prometheus-stack"})
    monitor = graph.one(POD_MONITOR).inputs
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # for Prometheus's selector
    spec = monitor["spec"]
    assert spec["selector"] == {"matchLabels": INSTANCE_SELECTOR}
    assert spec["namespaceSelector"] == {"matchNames": ["shardstack"]}
    (endpoint,) = spec["podMetricsEndpoints"]
    statefulset = graph.of_type("kubernetes:apps/v1:StatefulSet")[0].inputs
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    port = next(p for p in container["ports"] if p["name"] == endpoint["port"])
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == f"{DEFAULT_INTERVAL_S}s"
    access = next(r for r in graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                  if r.inputs["metadata"]["name"] == "llm-metrics").inputs["spec"]  # fmt: skip
    assert access["ingress"][0]["ports"][0]["port"] == port["containerPort"]
    assert access["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == MONITORING_NS


def test_the_alerts_use_the_given_thresholds() -> None:
    found = alerts(scraped(ttft_p99_slo_s=1.5, rank_not_ready_min=20, queue_growing_min=7, interval_s=30))
    assert found["ShardstackTimeToFirstTokenOverSLO"]["expr"].endswith("> 1.5")
    assert found["ShardstackRankNotReady"]["for"] == "20m"
    assert found["ShardstackQueueGrowing"]["for"] == "7m"
    assert found["ShardstackGroupLostRank"]["labels"]["severity"] == "critical"
    assert "< 2)" in found["ShardstackGroupLostRank"]["expr"]  # BASE has 2 shards: a group with fewer lost one


def test_alerts_can_be_left_to_your_own_rules() -> None:
    graph = scraped(alerts=False)
    assert graph.of_type(RULE) == [] and len(graph.of_type(POD_MONITOR)) == 1


def test_without_prometheus_nothing_needs_the_operators_crds() -> None:
    graph = render()
    assert graph.of_type(POD_MONITOR) == graph.of_type(RULE) == []


def test_a_scrape_that_its_network_policy_would_block_is_refused() -> None:
    (problem,) = validate_sharded_inference_args({**BASE, "prometheus": {}}, name="llm")
    assert problem.startswith("prometheus needs monitoring_namespace_selector")


# --- GpuEnablement -------------------------------------------------------------------------------------


def gpus(**args: Any) -> Graph:
    return run_program(lambda: GpuEnablement("gpu", args))  # type: ignore[arg-type]


def test_the_dcgm_exporter_is_scraped_and_the_gpus_alerted_on() -> None:
    graph = gpus(dcgm_exporter=True, prometheus={}, monitoring_namespace_selector=MONITORING_NS)
    spec = graph.one(POD_MONITOR).inputs["spec"]
    daemonset = next(r for r in graph.of_type("kubernetes:apps/v1:DaemonSet") if "dcgm" in r.name).inputs
    template = daemonset["spec"]["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    (container,) = template["spec"]["containers"]
    assert spec["podMetricsEndpoints"][0]["port"] in {p["name"] for p in container["ports"]}
    assert set(alerts(graph)) == {"ShardstackGpuMemoryNearFull", "ShardstackGpuXidError"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"prometheus": {}, "monitoring_namespace_selector": MONITORING_NS}, "prometheus needs dcgm_exporter True"),
        ({"prometheus": {}, "dcgm_exporter": True}, "prometheus needs monitoring_namespace_selector"),
        ({"prometheus": {"interval_s": 1}, "dcgm_exporter": True, "monitoring_namespace_selector": MONITORING_NS},
         "prometheus.interval_s=1 must be a whole number from 5 to 300"),
    ],
)  # fmt: skip
def test_a_gpu_scrape_without_what_it_needs_is_refused(args: dict[str, Any], expected: str) -> None:
    found = validate_gpu_enablement_args(args)
    assert any(p.startswith(expected) for p in found), found
