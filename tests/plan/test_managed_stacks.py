"""The `aws-managed`, `gcp-managed` and `azure-managed` stacks planned from their real stack files: a weight store,
a registry and the cloud's managed endpoint, no cluster; the endpoint reads the demo model from the stack's store
and runs the image from the stack's registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardstack import catalog
from shardstack.cli import main
from shardstack.k8s import runtime_contract as rc
from shardstack.plan import plan_stack
from shardstack.testing import Graph

REPO = Path(__file__).resolve().parents[2]

ENDPOINTS: dict[str, tuple[str, catalog.Platform]] = {
    "aws-managed": ("shardstack:aws:SageMakerEndpoint", "sagemaker"),
    "gcp-managed": ("shardstack:gcp:VertexEndpoint", "vertex"),
    "azure-managed": ("shardstack:azure:MlOnlineEndpoint", "azureml"),
}
CLUSTERS = ("aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster", "azure-native:containerservice:ManagedCluster")


@pytest.fixture(scope="module", params=sorted(ENDPOINTS))
def planned(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    return request.param, plan_stack(request.param, REPO, preview=False).graph


def container_env(stack: str, graph: Graph) -> dict[str, str]:
    if stack == "aws-managed":
        return graph.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["environment"]
    if stack == "gcp-managed":
        return graph.one("pulumi-python:dynamic/shardstack:VertexModelDeployment").inputs["env"]
    return graph.one("azure-native:machinelearningservices:OnlineDeployment").inputs["properties"][
        "environmentVariables"
    ]


def test_a_managed_stack_has_its_endpoint_a_store_and_a_registry_and_no_cluster(planned: tuple[str, Graph]) -> None:
    stack, graph = planned
    component, _ = ENDPOINTS[stack]
    cloud = stack.split("-")[0]
    assert graph.of_type(component)
    assert graph.of_type(f"shardstack:{cloud}:WeightStore") and graph.of_type(f"shardstack:{cloud}:Registry")
    assert not [r for r in graph if r.type in CLUSTERS or r.type.startswith("kubernetes:")]


def test_the_endpoint_serves_the_demo_model_from_the_stack_store(planned: tuple[str, Graph]) -> None:
    stack, graph = planned
    env = container_env(stack, graph)
    assert env[rc.ENV_PLATFORM] == ENDPOINTS[stack][1]
    assert env[rc.ENV_MODEL_URI] == graph.outputs["model_uri"]
    assert env[rc.ENV_MODEL_URI].startswith(graph.outputs["bucket_uri"])
    assert env[rc.ENV_MODEL_URI].endswith("demo/smollm2-135m-instruct/")
    assert env[rc.ENV_RANKS_HERE] == "1"


def test_the_plan_reports_the_endpoint_price_at_min_and_max_instances(planned: tuple[str, Graph]) -> None:
    stack, graph = planned
    _, platform = ENDPOINTS[stack]
    offer = next(
        o
        for m in catalog.GPUS.values()
        for o in m.managed_offers_on(platform)
        if o.instance_type == graph.outputs["instance_type"]
    )
    prices = graph.outputs["gpu_usd_per_hour"]
    assert prices == {"at_min_instances": offer.usd_per_hour, "at_max_instances": round(2 * offer.usd_per_hour, 4)}


def test_shardstack_plan_prints_the_graph_and_price(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "aws-managed", "--project-dir", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert "shardstack:aws:SageMakerEndpoint" in out and "aws:sagemaker/endpoint:Endpoint" in out
    assert "at_max_instances: 2.444" in out
