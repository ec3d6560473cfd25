"""The Helm charts Shardstack installs, pinned: what autoscaling whole replica groups needs in a cluster.

Each pin is a released chart version, with where it is published; `pulumi up` installs exactly that version
(Helm fetches it at deploy time), and a new version is a change to this file, reviewed and tested like any other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repository: str
    """A Helm repository URL, or '' when ``name`` is itself an OCI reference."""
    namespace: str
    """The namespace it is installed in by default (the project's own documented one)."""


LEADERWORKERSET = Chart("oci://registry.k8s.io/lws/charts/lws", "0.10.0", "", "lws-system")
"""The LeaderWorkerSet controller v0.10.0 (kubernetes-sigs/lws): the groups' workload, with the scale subresource
KEDA scales whole groups through."""
KEDA = Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda")
"""KEDA v2.20.2: ScaledObjects, driving an HPA from Prometheus queries, and scaling from and to zero."""
KEDA_OPERATOR_SERVICE_ACCOUNT = "keda-operator"
"""The chart's ``serviceAccount.operator.name``: the identity that queries Prometheus, which a cloud's workload
identity binds to."""
HTTP_ADD_ON = Chart("keda-add-ons-http", "0.15.0", "https://kedacore.github.io/charts", "keda")
"""KEDA's HTTP add-on v0.15.0: the interceptor that holds requests while a group scaled to zero wakes
(InterceptorRoute, http.keda.sh/v1beta1)."""
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "monitoring"
)
"""kube-prometheus-stack 88.5.3 (prometheus-operator v0.93.1): the Prometheus Operator, a Prometheus, Alertmanager,
kube-state-metrics, node-exporter and Grafana with its dashboard sidecar."""
KUBE_STATE_METRICS = Chart(
    "kube-state-metrics", "8.4.0", "https://prometheus-community.github.io/helm-charts", "kube-state-metrics"
)
"""kube-state-metrics chart 8.4.0 (v2.20.0, the one kube-prometheus-stack 88.5.3 bundles): the pods' readiness the
rank alerts read, where no kube-prometheus-stack runs it (Amazon Managed Service for Prometheus' scraper)."""
