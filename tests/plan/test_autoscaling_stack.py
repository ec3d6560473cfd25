"""The `aws-scale-to-zero` stack planned from its real stack file: groups that follow the load down to none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shardstack.k8s import charts
from shardstack.k8s.prometheus_stack import prometheus_url
from shardstack.plan import plan_stack
from shardstack.testing import Graph

REPO = Path(__file__).resolve().parents[2]
STACK = "aws-scale-to-zero"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ROUTE = "kubernetes:http.keda.sh/v1beta1:InterceptorRoute"
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@pytest.fixture(scope="module")
def graph() -> Graph:
    return plan_stack(STACK, REPO).graph


@pytest.fixture(scope="module")
def autoscaling() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["config"]
    return config["shardstack:serving"]["autoscaling"]


def test_keda_scales_the_groups_between_the_stacks_bounds(graph: Graph, autoscaling: dict[str, Any]) -> None:
    spec = graph.one(SCALED_OBJECT).inputs["spec"]
    assert spec["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (autoscaling["min_groups"], autoscaling["max_groups"])
    assert spec["cooldownPeriod"] == autoscaling["scale_to_zero_after_s"]
    queue = {t["name"]: t for t in spec["triggers"]}["queue"]
    # The installation's own Prometheus, which scrapes the ranks.
    assert queue["metadata"]["serverAddress"] == prometheus_url(charts.KUBE_PROMETHEUS_STACK.namespace)
    assert float(queue["metadata"]["threshold"]) == autoscaling["target"]
    assert graph.one(LWS).inputs["spec"]["replicas"] == 0


def test_a_request_waits_the_stacks_wake_timeout_at_the_endpoint(graph: Graph, autoscaling: dict[str, Any]) -> None:
    assert graph.one(ROUTE).inputs["spec"]["timeouts"]["readiness"] == f"{autoscaling['wake_timeout_s']}s"
    assert graph.outputs["endpoint"].startswith(f"http://{STACK}-interceptor.")


def test_the_installation_installs_the_controllers_and_the_gpu_pool_starts_empty(graph: Graph) -> None:
    charts_released = {r.inputs["chart"] for r in graph.of_type(RELEASE)}
    assert charts_released == {c.name for c in (charts.LEADERWORKERSET, charts.KEDA, charts.HTTP_ADD_ON,
                                                charts.KUBE_PROMETHEUS_STACK)}  # fmt: skip
    gpu = [g for g in graph.of_type(NODE_GROUP) if g.inputs.get("labels", {}).get("shardstack.dev/gpu") == "true"]
    assert [g.inputs["scalingConfig"]["minSize"] for g in gpu] == [0]
    assert graph.outputs["gpu_usd_per_hour"]["at_min_nodes"] == 0
