"""The Grafana dashboard of a Shardstack deployment, generated from code: requests, the queue, latencies, tokens,
the pipeline's stages and bubble, the weight load, and the GPUs (DCGM exporter).

Usage::

    from shardstack.k8s.dashboard import dashboard_json

    Path("shardstack.json").write_text(dashboard_json())   # Grafana: Dashboards > Import

Every query reads a metric the runtime exports (its vLLM-named request metrics and its own ``shardstack_*``) or
the DCGM exporter's default counters (GpuEnablement's ``dcgm_exporter``); a test checks each name against the
runtime's registry and the exporter's counter list. The data source is a variable, so the same dashboard works on
any Prometheus-compatible source (the Prometheus Operator's, or a cloud's managed Prometheus).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

UID = "shardstack-inference"
"""The dashboard's uid: a re-import replaces the dashboard instead of adding a copy."""
TITLE = "Shardstack inference"
SCHEMA_VERSION = 39
"""Grafana 11's dashboard schema."""

MODEL = '{model_name=~"$model_name"}'
"""The selector every runtime query shares: the models picked in the dashboard's variable."""
WINDOW = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str


def _quantiles(metric: str, what: str) -> tuple[Query, ...]:
    return tuple(
        Query(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{MODEL}[{WINDOW}])))", f"{what} p{p}")
        for q, p in ((0.5, 50), (0.99, 99))
    )


PANELS: tuple[Panel, ...] = (
    Panel(
        "Requests per second",
        "reqps",
        (
            Query(
                f"sum by (finished_reason) (rate(vllm:request_success_total{MODEL}[{WINDOW}]))", "{{finished_reason}}"
            ),
        ),
        "Finished requests, by why they finished (stop, length, abort).",
    ),
    Panel(
        "Queue and running",
        "short",
        (
            Query(f"sum(vllm:num_requests_waiting{MODEL})", "waiting"),
            Query(f"sum(vllm:num_requests_running{MODEL})", "running"),
        ),
        "Requests waiting for a decode slot, and those decoding. A queue that grows is the signal to add a group.",
    ),
    Panel(
        "KV cache usage",
        "percentunit",
        (Query(f"max(vllm:kv_cache_usage_perc{MODEL})", "KV cache"),),
        "Share of the KV cache the running sequences hold (every stage's, as the leader counts it).",
    ),
    Panel(
        "Time to first token",
        "s",
        _quantiles("vllm:time_to_first_token_seconds", "TTFT"),
        "From arrival to the first token, which takes the queueing and the prefill through every stage.",
    ),
    Panel(
        "Inter-token latency",
        "s",
        _quantiles("vllm:inter_token_latency_seconds", "ITL"),
        "Between consecutive tokens of one request: one decode pass through the pipeline.",
    ),
    Panel(
        "Tokens per second",
        "short",
        (
            Query(f"sum(rate(vllm:generation_tokens_total{MODEL}[{WINDOW}]))", "generated"),
            Query(f"sum(rate(vllm:prompt_tokens_total{MODEL}[{WINDOW}]))", "prompt"),
        ),
        "Tokens generated and prompt tokens read, across the replica groups.",
    ),
    Panel(
        "Stage compute",
        "percentunit",
        (
            Query(
                f"sum by (stage, layers) (rate(shardstack_pipeline_stage_compute_seconds_total{MODEL}[{WINDOW}]))",
                "stage {{stage}} ({{layers}})",
            ),
        ),
        "Share of wall time each stage spends running its layers: an even split means a balanced pipeline.",
    ),
    Panel(
        "Pipeline bubble",
        "percentunit",
        (Query(f"max(shardstack_pipeline_bubble_fraction{MODEL})", "bubble"),),
        "Share of the stages' time idle while the pipeline had work.",
    ),
    Panel(
        "Weight load",
        "s",
        (Query(f"max by (pod) (shardstack_weights_load_seconds{MODEL})", "{{pod}}"),),
        "Seconds each rank took to load its shard's weights: the part of a new group's start that is ours.",
    ),
    Panel(
        "GPU utilization",
        "percent",
        (Query("avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}} GPU {{gpu}}"),),
        "From the DCGM exporter on the GPU nodes.",
    ),
    Panel(
        "GPU memory used",
        "percentunit",
        (
            Query(
                "sum by (Hostname, gpu) (DCGM_FI_DEV_FB_USED) / "
                "(sum by (Hostname, gpu) (DCGM_FI_DEV_FB_USED) + sum by (Hostname, gpu) (DCGM_FI_DEV_FB_FREE))",
                "{{Hostname}} GPU {{gpu}}",
            ),
        ),
        "Framebuffer memory in use: weights, the KV cache and the CUDA context.",
    ),
)
"""The panels, in order, two to a row."""

WIDTH, HEIGHT = 12, 8
"""Each panel's size on Grafana's 24-column grid."""


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": (index % 2) * WIDTH, "y": (index // 2) * HEIGHT, "w": WIDTH, "h": HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": q.expr, "legendFormat": q.legend} for i, q in enumerate(panel.queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    """Return the dashboard as Grafana's JSON model."""
    return {
        "uid": UID,
        "title": TITLE,
        "tags": ["shardstack", "llm"],
        "schemaVersion": SCHEMA_VERSION,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
                {
                    "name": "model_name",
                    "label": "Model",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": "label_values(vllm:num_requests_running, model_name)",
                    "includeAll": True,
                    "multi": True,
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": [_panel(i, p) for i, p in enumerate(PANELS)],
    }


def dashboard_json() -> str:
    """Return the dashboard as the JSON text Grafana imports (and its sidecar reads from a ConfigMap)."""
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"
