"""The ``prometheus`` argument of ShardedInference and GpuEnablement: what scrapes the pods (a PodMonitor) and
alerts on them (a PrometheusRule), in the custom resources of the Prometheus that reads them: the Prometheus
Operator's, Google Cloud Managed Service for Prometheus' or Azure Monitor's. The objects are built in
:mod:`shardstack.k8s.monitoring`."""

from __future__ import annotations

from collections.abc import Iterator

from shardstack.cidr import CIDR_BLOCK
from shardstack.specs.kinds import Choice, Count, Flag, Input, Labels, ListOf, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

DEFAULT_INTERVAL_S = 15
"""The Prometheus Operator's own default scrape interval is 30 s; a queue that builds is seen twice as fast."""
DEFAULT_TTFT_P99_SLO_S = 5.0
"""A pipeline of large-model stages answering its first token within 5 s at p99, queueing included: a bound most
chat products keep; set your own."""
DEFAULT_RANK_NOT_READY_MIN = 15
"""A rank loads its shard before it is ready: 15 minutes covers a large shard's first download (tens of GB)."""
DEFAULT_QUEUE_GROWING_MIN = 10
"""Longer than a scale-up (KEDA adds a group within a minute; its node and load take a few more)."""

OPERATOR_API = "monitoring.coreos.com"
"""The Prometheus Operator's (kube-prometheus-stack): PodMonitor and PrometheusRule."""
GOOGLE_API = "monitoring.googleapis.com"
"""Google Cloud Managed Service for Prometheus' managed collection on GKE: PodMonitoring and Rules."""
AZURE_API = "azmonitoring.coreos.com"
"""Azure Monitor managed Prometheus' agent (ama-metrics) on AKS: a PodMonitor of its own group; its alert rules are
Azure resources (prometheusRuleGroups), not Kubernetes objects."""
SCRAPE_APIS = (OPERATOR_API, GOOGLE_API, AZURE_API)

MONITORING_CIDRS = Arg(
    "monitoring_cidrs",
    Input(ListOf(CIDR_BLOCK)),
    "Address blocks allowed to scrape the metrics port, for a scraper that is no pod of the cluster: Amazon "
    "Managed Service for Prometheus' scraper reaches the pods from network interfaces in the cluster's subnets.",
    default_doc="none",
)
"""ShardedInference's and GpuEnablement's ``monitoring_cidrs``, beside their ``monitoring_namespace_selector``."""

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
    Arg(
        "api",
        Choice(SCRAPE_APIS),
        f"The API group of the objects, which says which Prometheus reads them: '{OPERATOR_API}' (the Prometheus "
        f"Operator: PodMonitor and PrometheusRule), '{GOOGLE_API}' (GKE's managed collection for Google Cloud "
        f"Managed Service for Prometheus: PodMonitoring and Rules) or '{AZURE_API}' (AKS's Azure Monitor agent: a "
        "PodMonitor; its alerts are Azure rule groups, so ``alerts`` must be False).",
        default=OPERATOR_API,
    ),
)
"""What every ``prometheus`` argument takes: how often, which Prometheus, and whether to alert."""


def _alerts_have_a_kind(values: Values) -> Iterator[Problem]:
    if values["api"] == AZURE_API and values["alerts"]:
        yield Problem(
            ("alerts",),
            f"is True with api {AZURE_API!r}, which has no rule kind: Azure Monitor reads alert rules from Azure "
            "prometheusRuleGroups (AzureInstallation creates them from the same alerts); set alerts False",
            True,
        )


SCRAPE_RULES = (Rule(("api", "alerts"), _alerts_have_a_kind),)

PROMETHEUS = Spec(
    "PrometheusScrape",
    "Prometheus objects for the ranks: a PodMonitor scraping every rank's metrics port, and a "
    "PrometheusRule alerting when a group lost a rank, a rank stays not ready, the queue keeps growing or the time "
    "to first token's p99 is over its SLO. Needs the CRDs of ``api`` (e.g. kube-prometheus-stack's) and, for the "
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
    rules=SCRAPE_RULES,
)
"""ShardedInference's ``prometheus``."""

GPU_PROMETHEUS = Spec(
    "GpuPrometheusScrape",
    "Prometheus objects for the DCGM exporter: a PodMonitor scraping it, and a PrometheusRule alerting on "
    "GPU memory near full and on XID errors. Needs ``dcgm_exporter`` and the CRDs of ``api``.",
    SCRAPE_ARGS,
    rules=SCRAPE_RULES,
)
"""GpuEnablement's ``prometheus``."""
