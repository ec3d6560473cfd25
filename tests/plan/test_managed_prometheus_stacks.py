"""Each cloud's dev stack, planned from its real stack file with ``shardstack:monitoring.managed_prometheus`` on and
its groups autoscaled: the stack config reaches the cloud's managed Prometheus, and a local stack refuses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from shardstack.k8s import charts
from shardstack.plan import plan_stack
from shardstack.testing import Graph

REPO = Path(__file__).resolve().parents[2]
MANAGED = {
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
AUTOSCALING = {"min_groups": 0, "max_groups": 1}  # what the dev stacks' GPU pools hold


def config_of(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def managed(stack: str) -> dict[str, Any]:
    config = config_of(stack)
    serving = {**config.get("shardstack:serving", {}), "replica_groups": None, "autoscaling": AUTOSCALING,
               "mode": "leaderworkerset"}  # fmt: skip
    return {
        **config,
        "shardstack:serving": {k: v for k, v in serving.items() if v is not None},
        "shardstack:monitoring": {"managed_prometheus": True},
    }


@pytest.fixture(scope="module", params=list(MANAGED))
def planned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Graph]:
    stack = request.param
    project = tmp_path_factory.mktemp(stack)
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {"name": "shardstack", "runtime": "python", "main": str(REPO / "infra"), "stackConfigDir": "stacks"}
        )
    )
    (project / "stacks").mkdir()
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": managed(stack)}))
    return stack, plan_stack(stack, project).graph


def test_the_stack_reports_to_its_clouds_managed_prometheus(planned: tuple[str, Graph]) -> None:
    stack, graph = planned
    assert MANAGED[stack] <= {r.type for r in graph.resources}
    released = {r.inputs["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    assert charts.KUBE_PROMETHEUS_STACK.name not in released and charts.KEDA.name in released
    assert graph.of_type("kubernetes:keda.sh/v1alpha1:TriggerAuthentication")


def test_a_local_stack_refuses_it(scratch_project: Any) -> None:
    config = {**config_of("local"), "shardstack:monitoring": {"managed_prometheus": True}}
    with pytest.raises(pulumi.RunError, match=r"monitoring.managed_prometheus: .* a local cluster has none"):
        plan_stack("local", scratch_project("local", config))
