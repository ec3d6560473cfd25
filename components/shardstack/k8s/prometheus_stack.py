"""PrometheusStack: a Prometheus for the cluster, watching what Shardstack's components declare.

Usage::

    from shardstack.k8s import PrometheusStack

    stack = PrometheusStack("monitoring", {}, opts=pulumi.ResourceOptions(providers=[k8s_provider]))
    pulumi.export("prometheus_url", stack.prometheus_url)

kube-prometheus-stack as a pinned Helm release (:mod:`shardstack.k8s.charts`): the Prometheus Operator, one
Prometheus, Alertmanager, kube-state-metrics (the rank-readiness alerts read it), node-exporter and, optionally,
Grafana. Its Prometheus picks up every PodMonitor and PrometheusRule in the cluster, not only those labelled for the
chart's release, so ShardedInference's and GpuEnablement's ``prometheus`` objects need no extra label; Grafana's
sidecar loads every ConfigMap labelled ``grafana_dashboard: "1"`` (ShardedInference's ``grafana_dashboard``).

It runs on the cluster's nodes and costs no cloud service: the in-cluster default. KEDA's autoscaling reads its
``prometheus_url``.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping
from typing import Any

import pulumi

from shardstack.errors import ArgumentError
from shardstack.k8s import charts, names
from shardstack.k8s.args import PrometheusStackArgs
from shardstack.k8s.helm import release
from shardstack.k8s.specs import PROMETHEUS_STACK
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import arguments_first

__all__ = [
    "PROMETHEUS_SERVICE",
    "PrometheusStack",
    "PrometheusStackArgs",
    "prometheus_url",
    "validate_prometheus_stack_args",
]

TYPE_TOKEN = "shardstack:k8s:PrometheusStack"
PROMETHEUS_SERVICE = "prometheus-operated"
"""The Service the Prometheus Operator puts in front of every Prometheus it runs, in that Prometheus's namespace."""
PROMETHEUS_PORT = 9090


def prometheus_url(namespace: str) -> str:
    """The in-cluster URL of the Prometheus a PrometheusStack in ``namespace`` runs."""
    return f"http://{PROMETHEUS_SERVICE}.{namespace}.svc:{PROMETHEUS_PORT}"


@arguments_first
def validate_prometheus_stack_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with PrometheusStack arguments (and its resource ``name``), one line each."""
    problems = as_arguments(PROMETHEUS_STACK.check(args))
    if name is not None and (problem := names.dns_label_problem("name", name)):
        problems.append(problem)
    return problems


def chart_values(grafana: bool, retention_days: int) -> dict[str, Any]:
    """The chart's values: every PodMonitor, ServiceMonitor and PrometheusRule of the cluster, whatever its labels."""
    return {
        "prometheus": {
            "prometheusSpec": {
                "podMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "retention": f"{retention_days}d",
            }
        },
        "grafana": {"enabled": grafana},
    }


class PrometheusStack(pulumi.ComponentResource):
    """Installs kube-prometheus-stack, picking up every PodMonitor, PrometheusRule and dashboard ConfigMap."""

    namespace: pulumi.Output[str]
    """Namespace of Prometheus: what ShardedInference's ``monitoring_namespace_selector`` admits."""
    prometheus_url: pulumi.Output[str]
    """In-cluster URL of Prometheus: ShardedInference's ``autoscaling.prometheus_url``."""

    def __init__(self, name: str, args: PrometheusStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_prometheus_stack_args(args, name=name)
        if problems:
            raise ArgumentError(f"PrometheusStack {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        values = PROMETHEUS_STACK.resolved(args)
        installed = release(
            self,
            f"{name}-kube-prometheus-stack",
            charts.KUBE_PROMETHEUS_STACK,
            values["namespace"],
            values=chart_values(values["grafana"], values["retention_days"]),
        )
        self.namespace = installed.namespace.apply(lambda n: n or values["namespace"])
        self.prometheus_url = self.namespace.apply(prometheus_url)
        self.register_outputs({"namespace": self.namespace, "prometheus_url": self.prometheus_url})
