"""The alerts hold wherever they run: every kube-state-metrics series they read is one each collector keeps (the
in-cluster kube-state-metrics, GKE's managed package, Azure's default keep list), and in a GKE ``Rules`` object,
which Google Cloud Managed Service for Prometheus scopes to its own namespace, every selector names that namespace
exactly (GMP refuses any other namespace matcher, and ``__name__`` regexes)."""

from __future__ import annotations

import re

import pytest
from metric_names import DATA, listed, matchers_of, metrics_of, selectors_of

from shardstack.k8s import monitoring
from shardstack.k8s.inference_specs import MODES

NAMESPACE = "serving"


def _inference_alerts(mode: str) -> list[monitoring.Alert]:
    return monitoring.inference_alerts(
        monitoring.RankPods(NAMESPACE, "llm", mode), shards=4, ttft_p99_slo_s=2.5, rank_not_ready_min=15,
        queue_growing_min=10,
    )  # fmt: skip


RANK_ALERTS = [alert for mode in MODES for alert in _inference_alerts(mode)]
KUBE_STATE = sorted({m for a in RANK_ALERTS for m in metrics_of(a.expr) if m.startswith("kube_")})


def _azure_keep_list() -> re.Pattern[str]:
    (regex,) = listed("azure_minimal_kube_state_metrics.txt")
    return re.compile(regex)


def test_the_rank_alerts_read_kube_state_metrics() -> None:
    assert KUBE_STATE, "the rank alerts read no kube-state-metrics series: this test would check nothing"


@pytest.mark.parametrize("metric", KUBE_STATE)
def test_every_collector_keeps_the_kube_state_series_the_alerts_read(metric: str) -> None:
    assert metric in listed("kube_state_metrics_pod_metrics.txt")  # kube-prometheus-stack's, and Amazon's scraper's
    assert metric in listed("gke_kube_state_metrics_pod_metrics.txt")
    assert _azure_keep_list().fullmatch(metric), f"Azure's default keep list drops {metric}"


def test_the_data_tells_a_kept_series_from_a_dropped_one() -> None:
    # What these lists say matters: the pod's own readiness, which the alerts once read, is kept by neither cloud.
    assert "kube_pod_status_ready" not in listed("gke_kube_state_metrics_pod_metrics.txt")
    assert not _azure_keep_list().fullmatch("kube_pod_status_ready")
    assert (DATA / "azure_minimal_kube_state_metrics.txt").read_text().count("\n") >= 4  # with its source


@pytest.mark.parametrize("alert", RANK_ALERTS, ids=lambda a: f"{a.name}")
def test_in_a_gke_rules_object_every_selector_names_its_namespace_exactly(alert: monitoring.Alert) -> None:
    for selector in selectors_of(alert.expr):
        matchers = matchers_of(selector)
        assert [m for m in matchers if m[0] == "namespace"] == [("namespace", "=", NAMESPACE)], selector
        assert not [m for m in matchers if m[0] == "__name__" and m[1] in ("=~", "!~")], selector
