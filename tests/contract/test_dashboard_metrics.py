"""Every query of the Grafana dashboard parses as PromQL and names a metric that really exists: the runtime's, read
from its own registry (not a copy of its names), or the DCGM exporter's default counters (a dated list,
tests/contract/data)."""

from __future__ import annotations

import json

from metric_names import dcgm_metric_names, metrics_of, runtime_metric_names

from shardstack.k8s.dashboard import PANELS, UID, dashboard, dashboard_json


def test_every_query_names_a_metric_the_runtime_or_dcgm_exports() -> None:
    known = runtime_metric_names() | dcgm_metric_names()
    for panel in PANELS:
        for query in panel.queries:
            named = metrics_of(query.expr)
            assert named, f"{panel.title}: {query.expr} names no metric"
            unknown = [name for name in named if name not in known]
            assert not unknown, f"{panel.title}: {unknown} is exported by neither the runtime nor DCGM"


def test_the_dashboard_covers_what_operators_watch() -> None:
    queried = {name for panel in PANELS for q in panel.queries for name in metrics_of(q.expr)}
    assert {"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:time_to_first_token_seconds_bucket",
            "vllm:inter_token_latency_seconds_bucket", "vllm:generation_tokens_total",
            "shardstack_pipeline_bubble_fraction", "shardstack_weights_load_seconds", "DCGM_FI_DEV_GPU_UTIL",
            "DCGM_FI_DEV_FB_USED"} <= queried  # fmt: skip


def test_the_dashboard_is_grafana_json_with_one_panel_per_cell() -> None:
    model = json.loads(dashboard_json())
    assert model == dashboard() and model["uid"] == UID
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in model["panels"]]
    assert len(set(cells)) == len(cells) == len(PANELS)
    assert len({p["id"] for p in model["panels"]}) == len(PANELS)
    assert all(t["expr"] and t["refId"] for p in model["panels"] for t in p["targets"])
