"""What the Prometheus Operator needs to watch a deployment: PodMonitors (what to scrape) and PrometheusRules (what
to alert on), for ShardedInference's ranks and GpuEnablement's DCGM exporter (their ``prometheus`` argument).

Every alert reads metrics that exist: the runtime's (its vLLM-named and ``shardstack_*`` metrics), DCGM's default
counters, and kube-state-metrics' container readiness (kube-prometheus-stack runs it; so do GKE's and AKS's managed
Prometheus); a contract test checks each name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shardstack.k8s.inference_pod import CONTAINER_NAME as RANK_CONTAINER
from shardstack.k8s.inference_specs import MODE_STATEFULSET
from shardstack.k8s.monitoring_specs import AZURE_API, GOOGLE_API, OPERATOR_API

GPU_MEMORY_FULL = 0.97
"""GPU memory share above which the alert fires: the runtime preallocates its KV cache within the memory left after
the weights, so 90% in use is normal; above 97% the next allocation (a longer prompt, a CUDA graph) may fail."""
LOST_RANK_LOOKBACK_MIN = 30
"""A group counts as having lost a rank when it had all its ranks ready within this many minutes: a group still
loading after a scale-up is not reported."""


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_min: int
    severity: str
    summary: str
    """One line, with the labels Prometheus fills in ({{ $labels.pod }})."""


@dataclass(frozen=True)
class RankPods:
    """The pods of one ShardedInference, by name: what a query selects them with, and how it tells their groups."""

    namespace: str
    name: str
    mode: str

    @property
    def pattern(self) -> str:
        """Every rank's pod name: StatefulSet ``<name>-g<group>-<rank>``; LWS ``<name>-<group>[-<worker>]``."""
        if self.mode == MODE_STATEFULSET:
            return f"{self.name}-g([0-9]+)-[0-9]+"
        return f"{self.name}-([0-9]+)(-[0-9]+)?"

    def selector(self, **labels: str) -> str:
        matchers = [
            f'namespace="{self.namespace}"',
            f'pod=~"{self.pattern}"',
            *(f'{k}="{v}"' for k, v in labels.items()),
        ]
        return "{" + ",".join(matchers) + "}"

    def by_group(self, query: str) -> str:
        """``query``'s series with a ``group`` label taken from the pod's name."""
        return f'label_replace({query}, "group", "$1", "pod", "{self.pattern}")'


def inference_alerts(
    pods: RankPods, *, shards: int, ttft_p99_slo_s: float, rank_not_ready_min: int, queue_growing_min: int
) -> list[Alert]:
    """The alerts of one deployment's ranks."""
    # The runtime container's readiness, not the pod's: GKE's managed kube-state-metrics and Azure's default keep
    # list export only the container's, and a rank's pod is ready exactly when its one container is.
    ready = f"kube_pod_container_status_ready{pods.selector(container=RANK_CONTAINER)}"
    ready_per_group = f"count by (group) ({pods.by_group(f'{ready} == 1')})"
    waiting = f"sum(vllm:num_requests_waiting{pods.selector()})"
    ttft = f"histogram_quantile(0.99, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{pods.selector()}[5m])))"
    where = f"{pods.namespace}/{pods.name}"
    return [
        Alert(
            "ShardstackGroupLostRank",
            f"({ready_per_group} < {shards}) and on (group) "
            f"(max_over_time({ready_per_group}[{LOST_RANK_LOOKBACK_MIN}m:1m]) >= {shards})",
            1,
            "critical",
            f"{where}: replica group {{{{ $labels.group }}}} lost a rank and cannot serve until it is whole again",
        ),
        Alert(
            "ShardstackRankNotReady",
            f"{ready} == 0",
            rank_not_ready_min,
            "warning",
            f"{where}: rank {{{{ $labels.pod }}}} has not been ready for {rank_not_ready_min} minutes",
        ),
        Alert(
            "ShardstackQueueGrowing",
            f"{waiting} > 0 and deriv(({waiting})[5m:30s]) > 0",
            queue_growing_min,
            "warning",
            f"{where}: requests have been queueing more and more for {queue_growing_min} minutes: add replica groups "
            "(or raise autoscaling.max_groups)",
        ),
        Alert(
            "ShardstackTimeToFirstTokenOverSLO",
            f"{ttft} > {ttft_p99_slo_s:g}",
            5,
            "warning",
            f"{where}: time to first token p99 is {{{{ $value | humanizeDuration }}}}, "
            f"over the {ttft_p99_slo_s:g} s SLO",
        ),
    ]


def gpu_alerts() -> list[Alert]:
    """The alerts of the GPU nodes, from the DCGM exporter."""
    used = "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"
    return [
        Alert(
            "ShardstackGpuMemoryNearFull",
            f"{used} > {GPU_MEMORY_FULL:g}",
            10,
            "warning",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} has used over "
            f"{GPU_MEMORY_FULL:.0%} of its memory for 10 minutes",
        ),
        Alert(
            "ShardstackGpuXidError",
            "DCGM_FI_DEV_XID_ERRORS > 0",
            0,
            "critical",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID error {{ $value }}: see NVIDIA's XID "
            "catalogue; the node may need a reset",
        ),
    ]


@dataclass(frozen=True)
class ScrapeKinds:
    """The custom resources one Prometheus reads its scrape targets and alert rules from (a ``prometheus.api``)."""

    api_version: str
    monitor_kind: str
    rule_kind: str | None
    """None: its alert rules are not Kubernetes objects (Azure's are Azure resources)."""

    def monitor_spec(self, selector: Mapping[str, str], namespace: str, port: str, interval_s: int) -> dict[str, Any]:
        """Scrape ``port`` (a container port's name) of the pods ``selector`` selects in ``namespace``."""
        endpoint = {"port": port, "path": "/metrics", "interval": f"{interval_s}s"}
        if self.monitor_kind == GOOGLE_MONITOR_KIND:
            # A PodMonitoring selects the pods of its own namespace only: it has no namespace selector.
            return {"selector": {"matchLabels": dict(selector)}, "endpoints": [endpoint]}
        return {
            "selector": {"matchLabels": dict(selector)},
            "namespaceSelector": {"matchNames": [namespace]},
            "podMetricsEndpoints": [endpoint],
        }


GOOGLE_MONITOR_KIND = "PodMonitoring"
SCRAPE_KINDS = {
    OPERATOR_API: ScrapeKinds(f"{OPERATOR_API}/v1", "PodMonitor", "PrometheusRule"),
    GOOGLE_API: ScrapeKinds(f"{GOOGLE_API}/v1", GOOGLE_MONITOR_KIND, "Rules"),
    # ama-metrics reads the Prometheus Operator's PodMonitor schema under its own group, so that both can run.
    AZURE_API: ScrapeKinds(f"{AZURE_API}/v1", "PodMonitor", None),
}
"""Each ``prometheus.api``'s kinds."""


def rule_spec(group: str, alerts: Sequence[Alert]) -> dict[str, Any]:
    """One rule group of ``alerts``, as a PrometheusRule's spec."""
    return {
        "groups": [
            {
                "name": group,
                "rules": [
                    {
                        "alert": a.name,
                        "expr": a.expr,
                        "for": f"{a.for_min}m",
                        "labels": {"severity": a.severity},
                        "annotations": {"summary": a.summary},
                    }
                    for a in alerts
                ],
            }
        ]
    }
