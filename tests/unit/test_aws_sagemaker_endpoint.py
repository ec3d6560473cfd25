"""SageMakerEndpoint under recording mocks: the model, its configuration, the execution role's least privilege,
autoscaling, the sizing it derives, and what it refuses before anything registers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shardstack.aws.sagemaker_endpoint import SageMakerEndpoint
from shardstack.errors import ArgumentError
from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph, run_program, run_refused

MODEL = "aws:sagemaker/model:Model"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shardstack/runtime:0.1.0"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BASE: dict[str, Any] = {"gpu": "l4", "image": IMAGE, "model_uri": "s3://weights/models/llama/"}


def render(**args: Any) -> Graph:
    return run_program(lambda: SageMakerEndpoint("llm", {**BASE, **args}))  # type: ignore[typeddict-item]


def failure(**args: Any) -> ArgumentError:
    return run_refused(lambda: SageMakerEndpoint("llm", {**BASE, **args}), ArgumentError)  # type: ignore[typeddict-item]


def statements(graph: Graph) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(graph.one(ROLE_POLICY).inputs["policy"])["Statement"]}


def test_the_endpoint_serves_the_model_from_its_configuration() -> None:
    graph = render()
    (component,) = graph.of_type("shardstack:aws:SageMakerEndpoint")
    assert all(r.parent == component.urn for r in graph if r.custom)
    config = graph.one(CONFIG).inputs
    (variant,) = config["productionVariants"]
    assert variant["modelName"] == graph.one(MODEL).outputs["name"]
    assert variant["instanceType"] == "ml.g6.2xlarge"
    assert variant["initialInstanceCount"] == 1
    assert graph.one(ENDPOINT).inputs["endpointConfigName"] == graph.one(CONFIG).outputs["name"]
    assert not graph.of_type(SCALING_TARGET)


def test_the_container_gets_the_runtime_contract_for_sagemaker() -> None:
    container = render(shards=1, env={"HF_HUB_OFFLINE": "1"}).one(MODEL).inputs["primaryContainer"]
    assert container["image"] == IMAGE
    assert container["environment"] == {
        "HF_HUB_OFFLINE": "1",
        rc.ENV_PLATFORM: "sagemaker",
        rc.ENV_MODEL_URI: BASE["model_uri"],
        rc.ENV_DTYPE: "bf16",
        rc.ENV_RANKS_HERE: "1",
    }


def test_a_model_sized_from_its_parameters_gets_an_instance_that_holds_its_shards() -> None:
    graph = render(gpu="l4", params=70e9)
    (variant,) = graph.one(CONFIG).inputs["productionVariants"]
    # 140 GB of bf16 weights need 8 L4s of 22 GiB usable each: SageMaker's 8 x L4 shape.
    assert variant["instanceType"] == "ml.g6.48xlarge"
    assert graph.one(MODEL).inputs["primaryContainer"]["environment"][rc.ENV_RANKS_HERE] == "8"
    # 600 s to start plus 140 GB at 100 MiB/s, within SageMaker's 3600 s ceiling.
    assert variant["containerStartupHealthCheckTimeoutInSeconds"] == 600 + 1336


def test_the_execution_role_reads_only_the_model_prefix_and_pulls_only_the_image_repository() -> None:
    found = statements(render(weights_kms_key_arn=KEY))
    assert found["ReadWeights"]["Resource"] == ["arn:aws:s3:::weights/models/llama/*"]
    assert found["ListWeights"]["Condition"] == {"StringLike": {"s3:prefix": ["models/llama/*"]}}
    assert found["PullImage"]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/shardstack/runtime"]
    assert "ecr:PutImage" not in found["PullImage"]["Action"]
    assert found["DecryptWeights"]["Resource"] == [KEY]
    assert "DecryptWeights" not in statements(render())


def test_autoscaling_tracks_invocations_per_instance_between_min_and_max() -> None:
    graph = render(min_instances=2, max_instances=5, target_invocations_per_instance=30)
    target = graph.one(SCALING_TARGET).inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 5)
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["resourceId"].startswith("endpoint/") and target["resourceId"].endswith("/variant/primary")
    tracking = graph.one(SCALING_POLICY).inputs["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 30
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    (variant,) = graph.one(CONFIG).inputs["productionVariants"]
    assert variant["initialInstanceCount"] == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"gpu": "a10"}, "gpu='a10' is not offered on sagemaker in the catalogue (it is on: azureml)"),
        ({"shards": 9}, "shards=9 needs 9 GPUs, but SageMaker's largest l4 shape has 8"),
        ({"shards": 2, "gpus_per_instance": 1}, "shards=2 needs 2 GPUs, but this instance has 1"),
        ({"gpus_per_instance": 3}, "gpus_per_instance=3 is not an instance size for 'l4' on SageMaker; allowed: 1, 4"),
        ({"instance_type": "ml.g5.xlarge"}, "instance_type='ml.g5.xlarge' is not a SageMaker shape with l4"),
        ({"model_uri": "gs://weights/llama/"}, "model_uri='gs://weights/llama/' cannot be read by SageMaker"),
        ({"image": "ghcr.io/acme/runtime:1"}, "image='ghcr.io/acme/runtime:1' is not an image in a private ECR"),
        ({"min_instances": 3}, "max_instances=1 is less than min_instances=3"),
        ({"params": 405e9, "gpu": "h100-80gb"}, "params=405000000000.0 needs 12 GPUs (sized from params=4.05e+11"),
    ],
)
def test_bad_arguments_are_refused_before_anything_registers(args: dict[str, Any], expected: str) -> None:
    assert expected in str(failure(**args))
