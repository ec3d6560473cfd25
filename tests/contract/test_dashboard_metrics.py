"""Every query of the Grafana dashboard names a metric that really exists: the runtime's, read from its own
registry (not a copy of its names), or the DCGM exporter's default counters (a dated list, tests/contract/data)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from shardstack.k8s.dashboard import PANELS, UID, dashboard, dashboard_json
from shardstack_runtime.generation import EngineStats, StageStats
from shardstack_runtime.metrics import Metrics

DCGM_COUNTERS = Path(__file__).with_name("data") / "dcgm_exporter_default_counters.txt"
# A name in a query: vLLM's (with ':'), Shardstack's own, or DCGM's.
METRIC_NAME = re.compile(r"\b(vllm:[a-z_:]+|shardstack_[a-z_]+|DCGM_FI_[A-Z_]+)\b")


def runtime_metric_names() -> set[str]:
    """The sample names a leader of a two-stage pipeline exports, as Prometheus stores them."""
    metrics = Metrics("m")
    stages = [StageStats(rank=0, layers="0-2", compute_seconds=1.0), StageStats(rank=1, layers="2-4")]
    metrics.observe_engine(lambda: EngineStats(running=1, waiting=2, kv_cache_usage=0.5, stages=stages, busy_seconds=2))
    metrics.record_weights_load(1.0, 10)
    metrics.http_requests.labels("/v1/completions", "POST", "200").inc()
    timer = metrics.start_request(arrival_time=0.0, prompt_tokens=3, max_tokens=4)
    timer.finish("stop", now=1.0)
    text = metrics.render().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def dcgm_metric_names() -> set[str]:
    lines = DCGM_COUNTERS.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_every_query_names_a_metric_the_runtime_or_dcgm_exports() -> None:
    known = runtime_metric_names() | dcgm_metric_names()
    for panel in PANELS:
        for query in panel.queries:
            named = METRIC_NAME.findall(query.expr)
            assert named, f"{panel.title}: {query.expr} names no metric"
            unknown = [name for name in named if name not in known]
            assert not unknown, f"{panel.title}: {unknown} is exported by neither the runtime nor DCGM"


def test_the_dashboard_covers_what_operators_watch() -> None:
    queried = {name for panel in PANELS for q in panel.queries for name in METRIC_NAME.findall(q.expr)}
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
