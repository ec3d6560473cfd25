"""The ``prometheus`` argument of ShardedInference and GpuEnablement: scraping by the Prometheus Operator (a
PodMonitor) and alert rules (a PrometheusRule). The objects are built in :mod:`shardstack.k8s.monitoring`."""

from __future__ import annotations

from shardstack.specs.kinds import Count, Flag, Labels, Whole
from shardstack.specs.spec import Arg, Spec

DEFAULT_INTERVAL_S = 15
"""The Prometheus Operator's own default scrape interval is 30 s; a queue that builds is seen twice as fast."""
DEFAULT_TTFT_P99_SLO_S = 5.0
"""A pipeline of large-model stages answering its first token within 5 s at p99, queueing included: a bound most
chat products keep; set your own."""
DEFAULT_RANK_NOT_READY_MIN = 15
"""A rank loads its shard before it is ready: 15 minutes covers a large shard's first download (tens of GB)."""
DEFAULT_QUEUE_GROWING_MIN = 10
"""Longer than a scale-up (KEDA adds a group within a minute; its node and load take a few more)."""

MINUTES = Whole(1, 1440, why="a day is the longest an alert can usefully wait")

SCRAPE_ARGS = (
    Arg(
        "interval_s",
        Whole(5, 300, why="under 5 s costs Prometheus more than it shows; over 5 minutes loses the queue's shape"),
        "Seconds between scrapes.",
        default=DEFAULT_INTERVAL_S,
    ),
    Arg(
        "labels",
        Labels(),
        "Labels on the PodMonitor and PrometheusRule, for a Prometheus that selects them by label (e.g. "
        "``release: kube-prometheus-stack``, the chart's default selector).",
    ),
    Arg("alerts", Flag(), "Create the PrometheusRule with the alerts.", default=True),
)
"""What every ``prometheus`` argument takes: how often, which Prometheus, and whether to alert."""

PROMETHEUS = Spec(
    "PrometheusScrape",
    "Prometheus Operator objects for the ranks: a PodMonitor scraping every rank's metrics port, and a "
    "PrometheusRule alerting when a group lost a rank, a rank stays not ready, the queue keeps growing or the time "
    "to first token's p99 is over its SLO. Needs the Prometheus Operator's CRDs (kube-prometheus-stack) and, for the "
    "rank alerts, kube-state-metrics.",
    (
        *SCRAPE_ARGS,
        Arg(
            "ttft_p99_slo_s",
            Count(example="2.5"),
            "The time to first token's p99 over 5 minutes above which the SLO alert fires.",
            default=DEFAULT_TTFT_P99_SLO_S,
        ),
        Arg(
            "rank_not_ready_min",
            MINUTES,
            "Minutes a rank may stay not ready (loading included) before its alert fires.",
            default=DEFAULT_RANK_NOT_READY_MIN,
        ),
        Arg(
            "queue_growing_min",
            MINUTES,
            "Minutes of a growing queue before its alert fires.",
            default=DEFAULT_QUEUE_GROWING_MIN,
        ),
    ),
)
"""ShardedInference's ``prometheus``."""

GPU_PROMETHEUS = Spec(
    "GpuPrometheusScrape",
    "Prometheus Operator objects for the DCGM exporter: a PodMonitor scraping it, and a PrometheusRule alerting on "
    "GPU memory near full and on XID errors. Needs ``dcgm_exporter`` and the Prometheus Operator's CRDs.",
    SCRAPE_ARGS,
)
"""GpuEnablement's ``prometheus``."""
