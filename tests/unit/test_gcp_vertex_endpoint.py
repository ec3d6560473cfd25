"""VertexEndpoint under recording mocks: the service account and its grants, the dedicated endpoint, and the
model deployment with the catalogue's machine, the runtime contract and the sizing; and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shardstack.errors import ArgumentError
from shardstack.gcp.vertex_endpoint import VertexEndpoint
from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph, run_program, run_refused

ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET_READER = "gcp:storage/bucketIAMMember:BucketIAMMember"
REPOSITORY_READER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
DEPLOYMENT = "pulumi-python:dynamic/shardstack:VertexModelDeployment"

IMAGE = "us-central1-docker.pkg.dev/acme-ml/shardstack/runtime:0.1.0"
BASE: dict[str, Any] = {
    "project": "acme-ml",
    "region": "us-central1",
    "gpu": "l4",
    "image": IMAGE,
    "model_uri": "gs://acme-weights/llama/",
}


def render(**args: Any) -> Graph:
    return run_program(lambda: VertexEndpoint("llm", {**BASE, **args}))  # type: ignore[typeddict-item]


def failure(**args: Any) -> ArgumentError:
    return run_refused(lambda: VertexEndpoint("llm", {**BASE, **args}), ArgumentError)  # type: ignore[typeddict-item]


def test_the_model_runs_as_its_own_account_which_reads_only_the_weights_bucket() -> None:
    graph = render()
    account = graph.one(ACCOUNT)
    (reader,) = graph.of_type(BUCKET_READER)
    assert reader.inputs == {**reader.inputs, "bucket": "acme-weights", "role": "roles/storage.objectViewer"}
    assert reader.inputs["member"] == account.outputs["member"]
    deployment = graph.one(DEPLOYMENT).inputs
    assert deployment["service_account"] == account.outputs["email"]


def test_the_vertex_service_agent_reads_only_the_image_repository() -> None:
    (puller,) = render().of_type(REPOSITORY_READER)
    assert (puller.inputs["project"], puller.inputs["location"], puller.inputs["repository"]) == (
        "acme-ml",
        "us-central1",
        "shardstack",
    )
    assert puller.inputs["role"] == "roles/artifactregistry.reader"
    assert puller.inputs["member"].endswith("@gcp-sa-aiplatform.iam.gserviceaccount.com")


def test_the_endpoint_is_dedicated_and_encrypted_with_the_given_key() -> None:
    key = "projects/acme-ml/locations/us-central1/keyRings/ml/cryptoKeys/endpoints"
    graph = render(kms_key_name=key)
    endpoint = graph.one(ENDPOINT).inputs
    assert endpoint["dedicatedEndpointEnabled"] is True
    assert endpoint["encryptionSpec"] == {"kmsKeyName": key}
    deployment = graph.one(DEPLOYMENT).inputs
    assert deployment["kms_key_name"] == key
    assert deployment["endpoint"] == f"projects/acme-ml/locations/us-central1/endpoints/{endpoint['name']}"


def test_the_deployment_has_the_catalogue_machine_the_contract_and_the_sizing() -> None:
    deployment = render(params=70e9, max_instances=3).one(DEPLOYMENT).inputs
    # 140 GB of bf16 weights: 8 L4s; Vertex AI's 8 x L4 machine.
    assert (deployment["machine_type"], deployment["accelerator_type"]) == ("g2-standard-96", "NVIDIA_L4")
    assert deployment["accelerator_count"] == 8
    assert (deployment["min_replica_count"], deployment["max_replica_count"]) == (1, 3)
    assert deployment["env"][rc.ENV_PLATFORM] == "vertex" and deployment["env"][rc.ENV_RANKS_HERE] == "8"
    assert (deployment["port"], deployment["health_route"], deployment["predict_route"]) == (
        8080,
        "/health",
        "/predict",
    )
    assert deployment["deployment_timeout_s"] == 600 + 1336
    assert deployment["shared_memory_size_mb"] == 8 * 1024


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"gpu": "a10g"}, "gpu='a10g' is not offered on vertex"),
        ({"image": "ghcr.io/acme/runtime:1"}, "is not an image in an Artifact Registry repository"),
        ({"model_uri": "s3://weights/llama/"}, "cannot be read by Vertex AI's instances"),
        ({"region": "us-central1-a"}, "region='us-central1-a'"),
        ({"target_duty_cycle": 0}, "target_duty_cycle=0"),
    ],
)
def test_bad_arguments_are_refused_before_anything_registers(args: dict[str, Any], expected: str) -> None:
    assert expected in str(failure(**args))
