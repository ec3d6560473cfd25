"""MlOnlineEndpoint under recording mocks: the workspace and what it requires, the identity's least privilege,
the environment's routes, the deployment's shape and probes, traffic, autoscale, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shardstack.azure import roles
from shardstack.azure.ml_online_endpoint import MlOnlineEndpoint
from shardstack.errors import ArgumentError
from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph, run_program, run_refused

WORKSPACE = "azure-native:machinelearningservices:Workspace"
ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
ENVIRONMENT = "azure-native:machinelearningservices:EnvironmentVersion"
ACCOUNT = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
ROLE = "azure-native:authorization:RoleAssignment"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/llm/providers"
REGISTRY = f"{SUB}/Microsoft.ContainerRegistry/registries/llmacr"
WEIGHTS = f"{SUB}/Microsoft.Storage/storageAccounts/llmweights"
BASE: dict[str, Any] = {
    "gpu": "a100-80gb",
    "resource_group_name": "llm",
    "location": "eastus",
    "image": "llmacr.azurecr.io/shardstack/runtime:0.1.0",
    "registry_id": REGISTRY,
    "model_uri": "az://weights@llmweights.blob.core.windows.net/llama/",
    "weights_account_id": WEIGHTS,
}


def render(**args: Any) -> Graph:
    return run_program(lambda: MlOnlineEndpoint("llm", {**BASE, **args}))  # type: ignore[typeddict-item]


def failure(**args: Any) -> ArgumentError:
    return run_refused(lambda: MlOnlineEndpoint("llm", {**BASE, **args}), ArgumentError)  # type: ignore[typeddict-item]


def grants(graph: Graph) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for assignment in graph.of_type(ROLE):
        role = assignment.inputs["roleDefinitionId"].rsplit("/", 1)[1]
        found.setdefault(role, set()).add(assignment.inputs["scope"])
    return found


def test_a_workspace_is_created_with_private_storage_and_a_protected_key_vault() -> None:
    graph = render()
    workspace = graph.one(WORKSPACE).inputs
    account = graph.one(ACCOUNT).inputs
    assert account["allowSharedKeyAccess"] is False and account["allowBlobPublicAccess"] is False
    assert workspace["systemDatastoresAuthMode"] == "identity"
    vault = graph.one(VAULT).inputs["properties"]
    assert vault["enableRbacAuthorization"] is True and vault["enablePurgeProtection"] is True
    assert workspace["containerRegistry"] == REGISTRY
    # The weight store's firewall admits no public caller: the managed network reaches it privately.
    (rule,) = workspace["managedNetwork"]["outboundRules"].values()
    assert rule["destination"]["serviceResourceId"] == WEIGHTS and rule["destination"]["subresourceTarget"] == "blob"


def test_an_existing_workspace_is_used_as_it_is() -> None:
    graph = render(workspace_name="team-ml")
    assert not graph.of_type(WORKSPACE) and not graph.of_type(ACCOUNT)
    assert {d.inputs["workspaceName"] for d in graph.of_type(DEPLOYMENT)} == {"team-ml"}


def test_the_identity_pulls_the_registry_and_reads_only_the_model_container() -> None:
    found = grants(render())
    assert found[roles.ACR_PULL] == {REGISTRY}
    readers = found[roles.STORAGE_BLOB_DATA_READER]
    assert f"{WEIGHTS}/blobServices/default/containers/weights" in readers
    assert WEIGHTS not in readers  # the container, not the whole account
    assert len(found) == 2


def test_the_environment_routes_the_runtime_serves_on_one_port() -> None:
    config = render().one(ENVIRONMENT).inputs["properties"]["inferenceConfig"]
    assert {r["port"] for r in config.values()} == {rc.DEFAULT_API_PORT}
    assert (config["livenessRoute"]["path"], config["readinessRoute"]["path"]) == (rc.HEALTH_PATH, rc.READY_PATH)
    assert config["scoringRoute"]["path"] == "/"


def test_the_deployment_runs_the_catalogue_shape_with_the_runtime_contract_and_gets_all_traffic() -> None:
    graph = render(params=70e9)
    deployment = graph.one(DEPLOYMENT).inputs
    properties = deployment["properties"]
    # 140 GB of bf16 weights: 3 A100 80GB; Azure ML's smallest shape with room has 4.
    assert properties["instanceType"] == "Standard_NC96ads_A100_v4"
    env = properties["environmentVariables"]
    assert env[rc.ENV_PLATFORM] == "azureml" and env[rc.ENV_RANKS_HERE] == "3"
    assert env[rc.ENV_API_PORT] == str(rc.DEFAULT_API_PORT)
    assert properties["startupProbe"]["failureThreshold"] * 10 >= 600 + 1336
    assert deployment["sku"] == {"name": "Default", "capacity": 1}
    traffic = [e for e in graph.of_type(ENDPOINT) if e.inputs["properties"].get("traffic")]
    assert [e.inputs["properties"]["traffic"] for e in traffic] == [{"primary": 100}]
    assert {e.inputs["identity"]["type"] for e in graph.of_type(ENDPOINT)} == {"UserAssigned"}
    assert not graph.of_type(AUTOSCALE)


def test_autoscale_follows_gpu_utilization_between_min_and_max() -> None:
    setting = render(min_instances=1, max_instances=3).one(AUTOSCALE).inputs
    (profile,) = setting["profiles"]
    assert profile["capacity"] == {"minimum": "1", "maximum": "3", "default": "1"}
    assert {r["metricTrigger"]["metricName"] for r in profile["rules"]} == {"GpuUtilizationPercentage"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"gpu": "l4"}, "gpu='l4' is not offered on azureml"),
        ({"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/r:1"}, "is not an image in an Azure Container"),
        ({"registry_id": "llmacr"}, "registry_id='llmacr' is not the resource ID of an Azure Container Registry"),
        ({"model_uri": "s3://weights/llama/"}, "model_uri='s3://weights/llama/' cannot be read by Azure ML"),
        ({"auth_mode": "key"}, "auth_mode='key' must be one of 'Key', 'AMLToken', 'AADToken'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_registers(args: dict[str, Any], expected: str) -> None:
    assert expected in str(failure(**args))


def test_an_az_model_needs_the_account_its_identity_reads() -> None:
    without = {k: v for k, v in BASE.items() if k != "weights_account_id"}
    error = run_refused(lambda: MlOnlineEndpoint("llm", without), ArgumentError)  # type: ignore[arg-type]
    assert "weights_account_id is required with an az:// model_uri" in str(error)
