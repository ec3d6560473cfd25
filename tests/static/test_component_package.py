"""Shardstack as a multi-language component package: schema.json, and the provider spoken to over gRPC as the
Pulumi engine speaks to it.

The provider is started exactly as the Python language host starts a plugin with a buildable pyproject.toml
(``python -m pulumi.run.plugin shardstack <engine address>``, printing its port), and a resource monitor served over
gRPC here records what the components register; invokes and cloud-computed outputs come from the same fakes as
``shardstack plan`` (:class:`~shardstack.offline.mocks.RecordingMocks`).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import (
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

from shardstack.defaults import DEFAULT_IMAGE
from shardstack.offline.mocks import RecordingMocks
from shardstack.provider import MODULES, components

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schema.json").read_text())
PROJECT, STACK = "consumer", "dev"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"


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


@dataclass
class RecordingMonitor(resource_pb2_grpc.ResourceMonitorServicer):
    """The engine's resource monitor, as a component provider sees it during ``pulumi preview``."""

    registered: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    mocks: RecordingMocks = field(default_factory=lambda: RecordingMocks(preview=True))
    types: dict[str, str] = field(default_factory=lambda: {STACK_URN: "pulumi:pulumi:Stack"})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:
        features = [resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,
                    resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES,
                    resource_pb2.RESOURCE_MONITOR_FEATURE_OUTPUT_VALUES,
                    resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS,
                    resource_pb2.RESOURCE_MONITOR_FEATURE_DELETED_WITH]  # fmt: skip
        return resource_pb2.DeploymentInfo(project=PROJECT, stack=STACK, dryRun=True, supportedFeatures=features)

    def SupportsFeature(self, request: Any, context: Any) -> Any:
        supported = ("secrets", "resourceReferences", "outputValues", "aliasSpecs", "deletedWith")
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in supported)

    def RegisterResource(self, request: Any, context: Any) -> Any:
        with self.lock:
            parent_type = self.types.get(request.parent, "pulumi:pulumi:Stack")
            qualified = request.type if parent_type == "pulumi:pulumi:Stack" else f"{parent_type}${request.type}"
            urn = f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{request.name}"
            self.types[urn] = qualified
            inputs = json_format.MessageToDict(request.object)
            self.registered.append({"type": request.type, "name": request.name, "urn": urn,
                                    "parent": request.parent, "custom": request.custom, "inputs": inputs})  # fmt: skip
        if not request.custom:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _, state = self.mocks.new_resource(
            pulumi_mocks.MockResourceArgs(request.type, request.name, inputs, request.provider, "", False)
        )
        result = struct_pb2.Struct()
        result.update(json.loads(json.dumps(state, default=str)))
        return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=result)

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
        self.outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: Any) -> Any:
        args = json_format.MessageToDict(request.args)
        result, _ = self.mocks.call(pulumi_mocks.MockCallArgs(request.tok, args, request.provider))
        response = provider_pb2.InvokeResponse()
        getattr(response, "return").update(result)  # `return` is a Python keyword: the field is reached by name
        return response


class Engine(engine_pb2_grpc.EngineServicer):
    def Log(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


@dataclass
class Provider:
    stub: provider_pb2_grpc.ResourceProviderStub
    monitor: RecordingMonitor
    address: str

    def construct(self, token: str, name: str, inputs: dict[str, Any]) -> Any:
        self.monitor.registered.clear()
        values = struct_pb2.Struct()
        values.update(inputs)
        request = provider_pb2.ConstructRequest(
            project=PROJECT, stack=STACK, dryRun=True, parallel=16, monitorEndpoint=self.address,
            type=token, name=name, parent=STACK_URN, inputs=values, accepts_output_values=True,
        )  # fmt: skip
        return self.stub.Construct(request, timeout=120)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    monitor = RecordingMonitor()
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(Engine(), server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    # What pulumi-language-python's RunPlugin runs for a plugin with a buildable pyproject.toml and no __main__.py,
    # from the consumer's directory.
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.run.plugin", "shardstack", address],
        cwd=tmp_path_factory.mktemp("consumer"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"no port in the handshake: {port!r}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield Provider(provider_pb2_grpc.ResourceProviderStub(channel), monitor, address)
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
        server.stop(0)


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
