"""The metric names that really exist, for checking every query we generate: the runtime's (read from its own
registry, not a copy of its names), the DCGM exporter's default counters and kube-state-metrics' pod metrics (dated
lists in tests/contract/data), and Prometheus's own ``up``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
from prometheus_client.parser import text_string_to_metric_families

from shardstack_runtime.generation import EngineStats, StageStats
from shardstack_runtime.metrics import Metrics

DATA = Path(__file__).with_name("data")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$model_name": ".*"}
"""Grafana fills these in before Prometheus sees a dashboard query: a window and a regex."""


def metrics_of(expr: str) -> list[str]:
    """The metric names ``expr`` selects, read from its syntax tree as Prometheus parses it (a syntax error
    raises ValueError)."""
    return sorted({selector.name for selector in selectors_of(expr) if selector.name})


def selectors_of(expr: str) -> list[promql_parser.VectorSelector]:
    """Every series selector in ``expr``, as Prometheus parses it (Grafana's variables filled in)."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return list(_selectors(promql_parser.parse(expr)))


def matchers_of(selector: promql_parser.VectorSelector) -> list[tuple[str, str, str]]:
    """A selector's label matchers as (label, operator, value), the operator as PromQL writes it."""
    ops = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
    return [(m.name, ops[str(m.op).rsplit(".", 1)[-1]], m.value) for m in selector.matchers.matchers]


def _selectors(node: Any) -> Iterator[promql_parser.VectorSelector]:
    if isinstance(node, promql_parser.VectorSelector):
        yield node
        return
    for part in ("expr", "lhs", "rhs", "args", "vector_selector", "param"):
        child = getattr(node, part, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None and type(item).__module__.startswith("promql_parser"):
                yield from _selectors(item)


def runtime_metric_names() -> set[str]:
    """The sample names a leader of a two-stage pipeline exports, as Prometheus stores them."""
    metrics = Metrics("m")
    stages = [StageStats(rank=0, layers="0-2", compute_seconds=1.0), StageStats(rank=1, layers="2-4")]
    # The engine reports its slots among its extra stats (tests/runtime/test_engine.py checks it does).
    engine_stats = EngineStats(
        running=1, waiting=2, kv_cache_usage=0.5, stages=stages, busy_seconds=2, extra={"max_slots": 8.0}
    )
    metrics.observe_engine(lambda: engine_stats)
    metrics.record_weights_load(1.0, 10)
    metrics.http_requests.labels("/v1/completions", "POST", "200").inc()
    timer = metrics.start_request(arrival_time=0.0, prompt_tokens=3, max_tokens=4)
    timer.finish("stop", now=1.0)
    text = metrics.render().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def listed(file_name: str) -> set[str]:
    lines = (DATA / file_name).read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def dcgm_metric_names() -> set[str]:
    return listed("dcgm_exporter_default_counters.txt")


def known_metric_names() -> set[str]:
    return runtime_metric_names() | dcgm_metric_names() | listed("kube_state_metrics_pod_metrics.txt") | {"up"}
