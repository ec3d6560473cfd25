"""Shardstack as a multi-language component package: schema.json, and the provider spoken to over gRPC as the
Pulumi engine speaks to it (provider_harness.py)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from provider_harness import STACK_URN, Provider, running_provider
from pulumi.runtime.proto import provider_pb2

from shardstack.defaults import DEFAULT_IMAGE
from shardstack.package_components import MODULES, components

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schema.json").read_text())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def test_schema_declares_every_public_component_under_its_own_token() -> None:
    tokens = {}
    for module in MODULES:
        for component in components(module):
            tokens[importlib.import_module(component.__module__).TYPE_TOKEN] = component
    assert set(SCHEMA["resources"]) == set(tokens)
    assert {"shardstack:aws:AwsInstallation", "shardstack:gcp:GpuNodePool", "shardstack:k8s:ShardedInference",
            "shardstack:azure:WeightStore", "shardstack:k8s:LocalWeightsStore"} <= set(tokens)  # fmt: skip
    for token, component in tokens.items():
        resource = SCHEMA["resources"][token]
        assert resource["isComponent"] is True
        args = component.__init__.__annotations__["args"]
        assert set(resource.get("requiredInputs", [])) == {_camel(k) for k in args.__required_keys__}, token
        assert set(resource["inputProperties"]) == {_camel(k) for k in args.__annotations__}, token


def test_every_property_has_a_description_and_a_type() -> None:
    missing = []
    for token, owner in [*SCHEMA["resources"].items(), *SCHEMA["types"].items()]:
        for section in ("inputProperties", "properties"):
            for name, spec in (owner.get(section) or {}).items():
                if not spec.get("description") or not ({"type", "$ref", "oneOf"} & set(spec)):
                    missing.append(f"{token}.{name}")
    assert missing == []


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with running_provider(tmp_path_factory.mktemp("consumer")) as started:
        yield started


def test_provider_serves_the_checked_in_schema(provider: Provider) -> None:
    served = provider.stub.GetSchema(provider_pb2.GetSchemaRequest(version=0))
    assert json.loads(served.schema) == SCHEMA


def test_construct_sharded_inference_registers_its_objects(provider: Provider) -> None:
    response = provider.construct(
        "shardstack:k8s:ShardedInference", "llm", {"image": DEFAULT_IMAGE, "modelUri": "s3://w/m/", "shards": 2}
    )
    registered = provider.monitor.registered
    assert registered[0]["type"] == "shardstack:k8s:ShardedInference" and registered[0]["parent"] == STACK_URN
    (statefulset,) = [r for r in registered if r["type"] == "kubernetes:apps/v1:StatefulSet"]
    env = {e["name"]: e.get("value") for e in statefulset["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SHARDSTACK_WORLD_SIZE"] == "2"  # 2 over the wire is 2.0: the schema's integer made it whole again
    assert env["SHARDSTACK_MODEL_URI"] == "s3://w/m/"
    state = json_format.MessageToDict(response.state)
    assert response.urn == registered[0]["urn"]
    assert state["endpoint"] == "http://llm-api.shardstack.svc.cluster.local:8000"


def test_construct_aws_installation_registers_the_whole_installation(provider: Provider) -> None:
    response = provider.construct(
        "shardstack:aws:AwsInstallation",
        "prod",
        {
            "gpuPools": [{"name": "l4", "gpu": "l4", "maxNodes": 2}],
            "inference": {"image": DEFAULT_IMAGE, "shards": 2},
            "modelPath": "demo/m/",
        },
    )
    types = {r["type"] for r in provider.monitor.registered}
    assert {"shardstack:aws:Network", "shardstack:aws:Cluster", "shardstack:aws:GpuNodePool",
            "aws:eks/cluster:Cluster", "aws:s3/bucket:Bucket", "kubernetes:apps/v1:StatefulSet"} <= types  # fmt: skip
    (pool,) = [r for r in provider.monitor.registered if r["type"] == "shardstack:aws:GpuNodePool"]
    (group,) = [r for r in provider.monitor.registered if r["parent"] == pool["urn"] and "nodeGroup" in r["type"]]
    assert group["inputs"]["scalingConfig"]["maxSize"] == 2  # the pool's max_nodes, whole again
    state = json_format.MessageToDict(response.state)
    assert {"endpoint", "bucketUri", "modelUri", "kubeconfig", "clusterName"} <= set(state)


def test_bad_arguments_fail_construct_with_the_components_message(provider: Provider) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        provider.construct(
            "shardstack:k8s:ShardedInference", "bad", {"image": DEFAULT_IMAGE, "modelUri": "s3://w/m/", "shards": 0}
        )
    assert "shards=0 must be a whole number from 1 to 64" in str(refused.value.details())


def test_construct_a_managed_endpoint_sized_from_its_parameters(provider: Provider) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shardstack/runtime:0.1.0"
    response = provider.construct(
        "shardstack:aws:SageMakerEndpoint",
        "llm",
        {"gpu": "l4", "image": image, "modelUri": "s3://w/llama/", "params": 70e9, "maxInstances": 3},
    )
    registered = provider.monitor.registered
    (model,) = [r for r in registered if r["type"] == "aws:sagemaker/model:Model"]
    assert model["inputs"]["primaryContainer"]["environment"]["SHARDSTACK_RANKS_HERE"] == "8"
    (target,) = [r for r in registered if r["type"] == "aws:appautoscaling/target:Target"]
    assert target["inputs"]["maxCapacity"] == 3  # 3 over the wire is 3.0: whole again
    state = json_format.MessageToDict(response.state)
    assert state["instanceType"] == "ml.g6.48xlarge"
    assert state["hourlyUsdMax"] == pytest.approx(3 * state["hourlyUsdMin"])
