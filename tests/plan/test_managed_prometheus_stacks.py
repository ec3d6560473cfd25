"""Each cloud's dev stack, planned from its real stack file with ``shardstack:monitoring.managed_prometheus`` on and
its groups autoscaled: the stack config reaches the cloud's managed Prometheus, and a local stack refuses it."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from managed_prometheus_stacks import STACKS, config_of, managed_project

from shardstack.k8s import charts
from shardstack.plan import plan_stack
from shardstack.testing import Graph

MADE = {
    # stack: what its cloud makes for its managed Prometheus
    "aws-dev": {
        "aws:amp/workspace:Workspace",
        "aws:amp/scraper:Scraper",
        "aws:amp/ruleGroupNamespace:RuleGroupNamespace",
    },
    "gcp-dev": {
        "kubernetes:monitoring.googleapis.com/v1:PodMonitoring",
        "kubernetes:monitoring.googleapis.com/v1:Rules",
    },
    "azure-dev": {
        "azure-native:monitor:AzureMonitorWorkspace",
        "azure-native:monitor:DataCollectionRuleAssociation",
        "azure-native:alertsmanagement:PrometheusRuleGroup",
    },
}


@pytest.fixture(scope="module", params=STACKS)
def planned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Graph]:
    stack = request.param
    return stack, plan_stack(stack, managed_project(tmp_path_factory.mktemp(stack), stack)).graph


def test_every_cloud_has_a_managed_variant_checked() -> None:
    assert set(MADE) == set(STACKS)


def test_the_stack_reports_to_its_clouds_managed_prometheus(planned: tuple[str, Graph]) -> None:
    stack, graph = planned
    assert MADE[stack] <= {r.type for r in graph.resources}
    released = {r.inputs["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    assert charts.KUBE_PROMETHEUS_STACK.name not in released and charts.KEDA.name in released
    assert graph.of_type("kubernetes:keda.sh/v1alpha1:TriggerAuthentication")


def test_a_local_stack_refuses_it(scratch_project: Any) -> None:
    config = {**config_of("local"), "shardstack:monitoring": {"managed_prometheus": True}}
    with pytest.raises(pulumi.RunError, match=r"monitoring.managed_prometheus: .* a local cluster has none"):
        plan_stack("local", scratch_project("local", config))
