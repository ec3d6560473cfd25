"""The Shardstack provider spoken to over gRPC as the Pulumi engine speaks to it, for the tests beside this file.

The provider is started exactly as the Python language host starts a plugin with a buildable pyproject.toml
(``python -m pulumi.run.plugin shardstack <engine address>``, printing its port), and a resource monitor served over
gRPC here records what the components register; invokes and cloud-computed outputs come from the same fakes as
``shardstack plan`` (:class:`~shardstack.offline.mocks.RecordingMocks`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import engine_pb2_grpc, provider_pb2, provider_pb2_grpc, resource_pb2, resource_pb2_grpc

from shardstack.offline.mocks import RecordingMocks

PROJECT, STACK = "consumer", "dev"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"


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


@contextmanager
def running_provider(workdir: Path) -> Iterator[Provider]:
    """The provider started as the engine starts it, from ``workdir``, with a recording monitor to register with."""
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
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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
