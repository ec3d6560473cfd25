"""Every installation runs its own Prometheus by default (kube-prometheus-stack, on the cluster's nodes) and points
everything at it: the ranks' PodMonitor, alerts and dashboard, the DCGM exporter's scrape where the installation
runs the exporter, and autoscaling's Prometheus; the objects that need its CRDs wait for it."""

from __future__ import annotations

from typing import Any

import pytest
from installation_parts import refused_installation, render_installation

from shardstack.aws import AwsInstallation
from shardstack.azure import AzureInstallation
from shardstack.gcp import GcpInstallation
from shardstack.k8s import charts
from shardstack.testing import Graph

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
INSTALLATIONS: dict[str, tuple[Any, dict[str, Any], bool]] = {
    # cloud: (installation, its own required arguments, whether it runs the DCGM exporter by default)
    "aws": (AwsInstallation, {}, True),
    "gcp": (GcpInstallation, {"region": "us-central1"}, False),
    "azure": (AzureInstallation, {"location": "eastus"}, True),
}
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
RELEASE = "kubernetes:helm.sh/v3:Release"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def args(cloud: str, inference: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    return {**INSTALLATIONS[cloud][1], "gpu_pools": [{"name": "t4", "gpu": "t4", "max_nodes": 4}],
            "inference": inference or {"image": IMAGE, "shards": 2}, "model_path": "m/", **overrides}  # fmt: skip


def render(cloud: str, inference: dict[str, Any] | None = None, **overrides: Any) -> Graph:
    return render_installation(INSTALLATIONS[cloud][0], "llm", args(cloud, inference, **overrides))


def monitors(graph: Graph) -> dict[str, Any]:
    return {r.name: r for r in graph.of_type(POD_MONITOR)}


@pytest.mark.parametrize("cloud", INSTALLATIONS)
def test_by_default_the_installation_runs_prometheus_and_the_ranks_report_to_it(cloud: str) -> None:
    graph = render(cloud)
    (stack,) = [r for r in graph.of_type(RELEASE) if r.inputs["chart"] == charts.KUBE_PROMETHEUS_STACK.name]
    assert stack.inputs["version"] == charts.KUBE_PROMETHEUS_STACK.version
    namespace = stack.inputs["namespace"]
    found = monitors(graph)
    assert "llm-pod-monitor" in found and len(graph.of_type(RULE)) == (2 if INSTALLATIONS[cloud][2] else 1)
    assert ("gpu-dcgm-pod-monitor" in {n.removeprefix("llm-") for n in found}) is INSTALLATIONS[cloud][2]
    # Prometheus's namespace may scrape the ranks.
    access = next(r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == "llm-metrics").inputs["spec"]
    assert access["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": namespace
    }
    assert any("grafana_dashboard" in (r.inputs["metadata"].get("labels") or {}) for r in graph.of_type(CONFIG_MAP))
    # What needs the Prometheus Operator's CRDs waits for the release that brings them.
    for monitor in found.values():
        assert stack.urn in monitor.dependencies or stack.urn in _ancestor_dependencies(graph, monitor)


def _ancestor_dependencies(graph: Graph, resource: Any) -> set[str]:
    found: set[str] = set()
    parent = resource.parent
    while parent is not None:
        owner = next((r for r in graph.resources if r.urn == parent), None)
        if owner is None:
            break
        found |= set(owner.dependencies)
        parent = owner.parent
    return found


def test_autoscaling_reads_the_installations_prometheus_unless_told_otherwise() -> None:
    inference = {"image": IMAGE, "shards": 2, "mode": "leaderworkerset", "autoscaling": {"max_groups": 2}}
    triggers = render("aws", inference).one(SCALED_OBJECT).inputs["spec"]["triggers"]
    assert {t["metadata"]["serverAddress"] for t in triggers} == {"http://prometheus-operated.monitoring.svc:9090"}
    mine = {**inference, "autoscaling": {"max_groups": 2, "prometheus_url": "https://amp.example/workspaces/w"}}
    triggers = render("aws", mine).one(SCALED_OBJECT).inputs["spec"]["triggers"]
    assert {t["metadata"]["serverAddress"] for t in triggers} == {"https://amp.example/workspaces/w"}


def test_monitoring_can_be_left_to_your_own_prometheus() -> None:
    graph = render("azure", monitoring={"prometheus": False})
    assert graph.of_type(POD_MONITOR) == [] and graph.of_type(RULE) == []
    assert charts.KUBE_PROMETHEUS_STACK.name not in {r.inputs["chart"] for r in graph.of_type(RELEASE)}


def test_without_its_prometheus_autoscaling_must_name_one() -> None:
    inference = {"image": IMAGE, "shards": 2, "mode": "leaderworkerset", "autoscaling": {"max_groups": 2}}
    error = refused_installation(AwsInstallation, "llm", args("aws", inference, monitoring={"prometheus": False}))
    assert any(p.startswith("inference.autoscaling.prometheus_url is required with monitoring.prometheus False")
               for p in error.problems), error.problems  # fmt: skip


def test_a_bad_monitoring_value_is_named() -> None:
    error = refused_installation(AwsInstallation, "llm", args("aws", monitoring={"retention_days": 0}))
    assert any(
        p.startswith("monitoring: retention_days=0 must be a whole number from 1 to 365") for p in error.problems
    )
