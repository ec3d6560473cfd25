"""Prometheus metrics of one runtime process, under vLLM's names so that existing dashboards work.

Each :class:`Metrics` owns its registry (no global state), so a test can build many apps::

    metrics = Metrics("smollm2-135m")
    metrics.record_weights_load(seconds=4.2, num_bytes=270_000_000)
    app = create_app(engine, settings, metrics=metrics)   # GET /metrics renders metrics.registry

The server times each engine request with :meth:`Metrics.start_request`; running and waiting
counts are read from ``engine.stats()`` when Prometheus scrapes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .generation import EngineStats, GenerationEvent

__all__ = ["CONTENT_TYPE", "Metrics", "RequestTimer"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Buckets as vLLM's PrometheusStatLogger has them, so quantiles line up across a mixed fleet.
TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
TOKEN_LATENCY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST_LATENCY_BUCKETS = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
FINISH_REASONS = ("stop", "length", "abort")


def _token_count_buckets(max_value: int) -> tuple[int, ...]:
    """1, 2, 5, 10, 20, 50, … up to ``max_value`` (vLLM's build_1_2_5_buckets)."""
    buckets: list[int] = []
    scale = 1
    while True:
        for mantissa in (1, 2, 5):
            if mantissa * scale > max_value:
                return tuple(buckets) or (1,)
            buckets.append(mantissa * scale)
        scale *= 10


class Metrics:
    """The runtime's metrics: request latencies and token counts, engine load, weight loading."""

    def __init__(self, model_name: str, *, max_model_len: int = 131072) -> None:
        """Metrics labelled ``model_name``; ``max_model_len`` bounds the token-count histograms' buckets."""
        self.model_name = model_name
        self.registry = CollectorRegistry()
        self._declare_tokens(max_model_len)
        self._declare_latencies()
        self._declare_rank_and_http()
        self._engine_stats = _EngineStatsCollector(model_name)
        self.registry.register(self._engine_stats)

    # Children bound to the model label once: the hot path then skips the label lookup.

    def _counter(self, name: str, doc: str) -> Counter:
        return Counter(name, doc, ("model_name",), registry=self.registry).labels(self.model_name)

    def _histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, doc, ("model_name",), registry=self.registry, buckets=buckets).labels(self.model_name)

    def _gauge(self, name: str, doc: str) -> Gauge:
        return Gauge(name, doc, ("model_name",), registry=self.registry).labels(self.model_name)

    def _declare_tokens(self, max_model_len: int) -> None:
        """Token counts: vLLM's names, so that its dashboards work unchanged."""
        self.prompt_tokens = self._counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        self.generation_tokens = self._counter("vllm:generation_tokens", "Number of generation tokens processed.")
        success = Counter(
            "vllm:request_success",
            "Count of finished requests by finish reason.",
            ("model_name", "finished_reason"),
            registry=self.registry,
        )
        self.request_success = {reason: success.labels(self.model_name, reason) for reason in FINISH_REASONS}
        token_buckets = _token_count_buckets(max_model_len)
        self.request_prompt_tokens = self._histogram(
            "vllm:request_prompt_tokens", "Number of prefill tokens processed.", token_buckets
        )
        self.request_generation_tokens = self._histogram(
            "vllm:request_generation_tokens", "Number of generation tokens processed.", token_buckets
        )
        self.request_max_tokens = self._histogram(
            "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", token_buckets
        )

    def _declare_latencies(self) -> None:
        """Per-token and per-request times: vLLM's names."""
        self.time_to_first_token = self._histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS
        )
        self.inter_token_latency = self._histogram(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", TOKEN_LATENCY_BUCKETS
        )
        # vLLM's older name for the same per-token interval; dashboards built before v0.11 still query it.
        self.time_per_output_token = self._histogram(
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds (same samples as vllm:inter_token_latency_seconds).",
            TOKEN_LATENCY_BUCKETS,
        )
        self.request_time_per_output_token = self._histogram(
            "vllm:request_time_per_output_token_seconds",
            "Histogram of a request's mean time per output token after the first, in seconds.",
            TOKEN_LATENCY_BUCKETS,
        )

        def phase(name: str, doc: str) -> Histogram:
            return self._histogram(name, doc, REQUEST_LATENCY_BUCKETS)

        self.e2e_request_latency = phase(
            "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."
        )
        self.request_queue_time = phase(
            "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request."
        )
        self.request_inference_time = phase(
            "vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request."
        )
        self.request_prefill_time = phase(
            "vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request."
        )
        self.request_decode_time = phase(
            "vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request."
        )

    def _declare_rank_and_http(self) -> None:
        """Shardstack's own: this rank's weight load, and the HTTP responses."""
        self.weights_load_seconds = self._gauge(
            "shardstack_weights_load_seconds", "Seconds this rank took to load its shard's weights."
        )
        self.weights_load_bytes = self._gauge(
            "shardstack_weights_load_bytes", "Bytes of weights this rank loaded for its shard."
        )
        self.compute_path = Info(
            "shardstack_compute_path",
            "How this rank computes its matrix products: the weights' dtype, the method for each range of row "
            "counts (own product, bf16 kernel, fp32 twins), and why (measured at start).",
            ("model_name",),
            registry=self.registry,
        ).labels(self.model_name)
        self.http_requests = Counter(
            "shardstack_http_requests",
            "HTTP responses by route, method and status code.",
            ("route", "method", "status"),
            registry=self.registry,
        )

    def observe_engine(self, stats: Callable[[], EngineStats]) -> None:
        """Read running/waiting requests (and the engine's extra stats) from ``stats()`` at each scrape."""
        self._engine_stats.source = stats

    def record_weights_load(self, seconds: float, num_bytes: int) -> None:
        """Record how long this rank took to load its weights, and how many bytes it read."""
        self.weights_load_seconds.set(seconds)
        self.weights_load_bytes.set(num_bytes)

    def record_compute_path(self, labels: dict[str, str]) -> None:
        """Record the rank's compute path (``ComputePath.labels()``)."""
        self.compute_path.info(labels)

    def start_request(self, arrival_time: float, prompt_tokens: int, max_tokens: int) -> RequestTimer:
        """Time one engine request from ``arrival_time`` (``time.monotonic()`` when the server got it)."""
        self.request_max_tokens.observe(max_tokens)
        return RequestTimer(self, arrival_time, prompt_tokens)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (serve it with :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str = "0.0.0.0") -> tuple[WSGIServer, threading.Thread]:
        """Serve these metrics on their own port from a daemon thread, for ranks that run no HTTP API.

        Returns the server and its thread; ``server.shutdown()`` stops it.
        """
        return start_http_server(port, addr, registry=self.registry)


class RequestTimer:
    """Latencies of one engine request, computed from when its events reached the server."""

    __slots__ = (
        "_arrival",
        "_finished",
        "_first_token",
        "_last_token",
        "_metrics",
        "_prompt_tokens",
        "_scheduled",
        "_tokens",
    )

    def __init__(self, metrics: Metrics, arrival_time: float, prompt_tokens: int) -> None:
        self._metrics = metrics
        self._arrival = arrival_time
        self._prompt_tokens = prompt_tokens
        self._scheduled: float | None = None
        self._first_token: float | None = None
        self._last_token: float | None = None
        self._tokens = 0
        self._finished = False

    def on_event(self, event: GenerationEvent, now: float) -> None:
        """Account for one engine event that reached the server at ``now`` (``time.monotonic()``)."""
        if self._scheduled is None and event.first_scheduled_time is not None:
            self._scheduled = event.first_scheduled_time
        if event.token_id is None:
            return
        m = self._metrics
        if self._first_token is None:
            self._first_token = now
            m.time_to_first_token.observe(now - self._arrival)
            m.prompt_tokens.inc(self._prompt_tokens)
        else:
            gap = now - (self._last_token or now)
            m.inter_token_latency.observe(gap)
            m.time_per_output_token.observe(gap)
        self._last_token = now
        self._tokens += 1
        m.generation_tokens.inc()

    def finish(self, reason: str, now: float) -> None:
        """Close the request: count it under ``reason`` and, unless aborted, record its latencies.

        Only the first call counts, so callers may close every request in a ``finally``.
        """
        if self._finished:
            return
        self._finished = True
        m = self._metrics
        m.request_success.get(reason, m.request_success["abort"]).inc()
        if reason == "abort":
            # A client that left early would drag every latency histogram down; count it, don't time it.
            return
        m.e2e_request_latency.observe(now - self._arrival)
        m.request_prompt_tokens.observe(self._prompt_tokens)
        m.request_generation_tokens.observe(self._tokens)
        if self._scheduled is not None:
            m.request_queue_time.observe(max(0.0, self._scheduled - self._arrival))
            m.request_inference_time.observe(max(0.0, now - self._scheduled))
            if self._first_token is not None:
                m.request_prefill_time.observe(max(0.0, self._first_token - self._scheduled))
        if self._first_token is not None and self._last_token is not None:
            m.request_decode_time.observe(self._last_token - self._first_token)
            if self._tokens > 1:
                m.request_time_per_output_token.observe((self._last_token - self._first_token) / (self._tokens - 1))


class _EngineStatsCollector(Collector):
    """Engine load read at scrape time, so it is never stale between requests."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.source: Callable[[], EngineStats] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        try:
            stats = self.source()
        except Exception:
            # A failing stats call must not take the whole scrape (and the latency histograms) down with it.
            logger.exception("engine.stats() failed during a metrics scrape")
            return
        running = GaugeMetricFamily(
            "vllm:num_requests_running", "Number of requests in model execution batches.", labels=["model_name"]
        )
        running.add_metric([self.model_name], stats.running)
        waiting = GaugeMetricFamily(
            "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels=["model_name"]
        )
        waiting.add_metric([self.model_name], stats.waiting)
        # vLLM's name and meaning (0 to 1, despite "perc"), so that its dashboards and autoscaling rules read it.
        kv_cache = GaugeMetricFamily(
            "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels=["model_name"]
        )
        kv_cache.add_metric([self.model_name], stats.kv_cache_usage)
        yield running
        yield waiting
        yield kv_cache
        if stats.extra:
            extra = GaugeMetricFamily(
                "shardstack_engine_stat", "Engine-specific statistics, by name.", labels=["model_name", "stat"]
            )
            for name, value in sorted(stats.extra.items()):
                extra.add_metric([self.model_name, name], value)
            yield extra
        if stats.stages:
            yield from self._pipeline(stats)

    def _pipeline(self, stats: EngineStats) -> Iterator[Metric]:
        """Per-stage compute and transfer, p2p volume, load speed and the bubble of a pipelined engine."""
        model, stages = self.model_name, stats.stages
        labels = ["model_name", "stage", "layers"]
        compute = CounterMetricFamily(
            "shardstack_pipeline_stage_compute_seconds",
            "Seconds each stage spent running its layers (the last also samples).",
            labels=labels,
        )
        transfer = CounterMetricFamily(
            "shardstack_pipeline_stage_transfer_seconds",
            "Seconds each stage spent receiving its inputs once the sender started: "
            "point-to-point latency (rank 0's results are not timed).",
            labels=labels,
        )
        load = GaugeMetricFamily(
            "shardstack_pipeline_stage_load_bytes_per_second",
            "How fast each stage loaded its own weights.",
            labels=labels,
        )
        p2p_bytes = CounterMetricFamily(
            "shardstack_pipeline_p2p_bytes",
            "Bytes sent between consecutive ranks (activations, metadata, results).",
            labels=["model_name", "src", "dst"],
        )
        p2p_messages = CounterMetricFamily(
            "shardstack_pipeline_p2p_messages",
            "Micro-batches sent between consecutive ranks.",
            labels=["model_name", "src", "dst"],
        )
        for stage in stages:
            stage_labels = [model, str(stage.rank), stage.layers]
            compute.add_metric(stage_labels, stage.compute_seconds)
            transfer.add_metric(stage_labels, stage.transfer_seconds)
            load.add_metric(stage_labels, stage.load_bytes / stage.load_seconds if stage.load_seconds > 0 else 0.0)
            hop = [model, str((stage.rank - 1) % len(stages)), str(stage.rank)]
            p2p_bytes.add_metric(hop, stage.received_bytes)
            p2p_messages.add_metric(hop, stage.received_messages)
        busy = CounterMetricFamily(
            "shardstack_pipeline_busy_seconds",
            "Wall seconds with at least one micro-batch in the pipeline.",
            labels=["model_name"],
        )
        busy.add_metric([model], stats.busy_seconds)
        bubble = GaugeMetricFamily(
            "shardstack_pipeline_bubble_fraction",
            "Share of the stages' time idle while the pipeline had work: "
            "1 - sum(stage compute) / (stages x busy seconds).",
            labels=["model_name"],
        )
        bubble.add_metric([model], stats.bubble_fraction or 0.0)
        yield from (compute, transfer, load, p2p_bytes, p2p_messages, busy, bubble)
