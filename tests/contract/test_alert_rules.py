"""Every PromQL expression Shardstack generates besides the dashboard's, the alerts and the autoscaling triggers,
parses as Prometheus parses it and reads metrics that really exist (tests/contract/metric_names.py); and their pod
patterns select exactly one deployment's ranks, as each mode names them."""

from __future__ import annotations

import re

import pytest
from metric_names import known_metric_names, metrics_of, runtime_metric_names

from shardstack.k8s import monitoring
from shardstack.k8s.autoscaling_specs import AUTOSCALING, METRICS
from shardstack.k8s.group_scaler import resolve_group_scaling, triggers
from shardstack.k8s.inference_specs import MODES
from shardstack.k8s.sharded_inference_args import group_object_name


def _inference_alerts(mode: str) -> list[monitoring.Alert]:
    return monitoring.inference_alerts(
        monitoring.RankPods("serving", "llm", mode), shards=4, ttft_p99_slo_s=2.5, rank_not_ready_min=15,
        queue_growing_min=10,
    )  # fmt: skip


ALERTS = [*_inference_alerts(MODES[0]), *_inference_alerts(MODES[1]), *monitoring.gpu_alerts()]


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a.name)
def test_every_alert_parses_and_reads_metrics_that_exist(alert: monitoring.Alert) -> None:
    named = metrics_of(alert.expr)
    assert named, alert.expr
    assert set(named) <= known_metric_names(), set(named) - known_metric_names()


def test_the_alerts_cover_what_operators_are_paged_for() -> None:
    assert {a.name for a in ALERTS} == {
        "ShardstackGroupLostRank", "ShardstackRankNotReady", "ShardstackQueueGrowing",
        "ShardstackTimeToFirstTokenOverSLO", "ShardstackGpuMemoryNearFull", "ShardstackGpuXidError",
    }  # fmt: skip


@pytest.mark.parametrize("metric", METRICS)
def test_every_autoscaling_query_parses_and_reads_the_runtimes_metrics(metric: str) -> None:
    scaling = resolve_group_scaling(
        AUTOSCALING.resolved({"max_groups": 2, "metric": metric, "prometheus_url": "http://p:9090", "min_groups": 0})
    )
    queries = [
        t["metadata"]["query"] for t in triggers(scaling, "serving", "llm", "llm", None) if t["type"] == "prometheus"
    ]
    assert queries
    for query in queries:
        assert metrics_of(query) and set(metrics_of(query)) <= runtime_metric_names(), query


@pytest.mark.parametrize("mode", MODES)
def test_the_rank_pattern_selects_every_rank_of_this_deployment_and_no_other(mode: str) -> None:
    pods = monitoring.RankPods("serving", "llm", mode)
    pattern = re.compile(pods.pattern)  # PromQL's =~ is anchored at both ends, as fullmatch is
    leaders = [group_object_name("llm", mode, g) for g in (0, 7, 12)]
    # A StatefulSet names its pods <sts>-<ordinal>; LeaderWorkerSet its leader <lws>-<group>, workers <leader>-<n>.
    ranks = [f"{leaders[0]}-0", f"{leaders[1]}-3"] if mode == "statefulset" else [*leaders, f"{leaders[1]}-3"]
    assert all(pattern.fullmatch(pod) for pod in ranks), ranks
    others = ["llm2-0", "llm-canary-0", "other-llm-0", "llm-cold-start-5d9f-x2x", "llm"]
    assert not any(pattern.fullmatch(pod) for pod in others)
    # The group a query reads from a rank's name is the group it belongs to.
    assert pattern.fullmatch(ranks[-1]).group(1) == "7"  # type: ignore[union-attr]
