"""A fake of the Vertex AI v1 REST API: models, endpoints and their deployed models, for tests.

Run it as a process, listening on 127.0.0.1 only::

    python tests/cloud_apis/vertex_api_fake.py --port 8123

and point a client at it: ``aiplatform_v1.ModelServiceClient(transport="rest",
client_options={"api_endpoint": "http://127.0.0.1:8123"}, credentials=AnonymousCredentials())``.

It serves ModelService.UploadModel, GetModel and DeleteModel, EndpointService.DeployModel, UndeployModel
and GetEndpoint, and google.longrunning.Operations.GetOperation. Long-running operations finish at once:
the call answers with an Operation that is already ``done``, and GET serves it again.

Its checks come from Google's published definition of the API, not from what our code happens to send:

- **Routes** (HTTP method, URL template, body field) are the ``google.api.http`` bindings as the generated
  client in ``google.cloud.aiplatform_v1`` carries them (its REST transports' ``_get_http_options``). That
  package ships its messages as proto-plus classes whose descriptors carry no options at all, so the
  bindings cannot be read from descriptors; the client's copy is generated from the same annotations.
- **Bodies** are parsed strictly into the request message (``json_format.ParseDict``, unknown fields
  refused), so an unknown field or a value of the wrong type is a 400.
- **REQUIRED fields**: a field counts as REQUIRED where its descriptor carries the
  ``google.api.field_behavior = REQUIRED`` annotation, or, for the proto-plus messages that lost their
  options, where the generated documentation of the field starts with "Required." (the proto comment
  that accompanies the annotation in googleapis). Only messages present in the request are checked.
- **Semantic rules** the API reference states for these calls: DeployModel's ``traffic_split`` sums to
  100 and names only "0" (the model being deployed) or models deployed on the endpoint;
  ``dedicated_resources.min_replica_count`` is at least 1 and ``max_replica_count``, when set, not below
  it; the model exists and supports the kind of resources asked for; UndeployModel leaves no traffic on
  the model it removes unless it is the last one; a model still deployed cannot be deleted
  (FAILED_PRECONDITION); container ports lie in 1..65535, the deployment timeout is at most 2 hours and a
  probe's timeout is not shorter than its period; an unknown resource is 404 NOT_FOUND.

Errors have Google's JSON shape: ``{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}``.

The fake's own routes, which Google's API does not have, live under ``/_fake/``:

- ``POST /_fake/endpoints`` with an Endpoint (``name``, ``displayName``) creates an endpoint to deploy to;
- ``GET /_fake/requests`` lists every request received: method, path, query, headers, body, status;
- ``POST /_fake/reset`` forgets every model, endpoint, operation and request.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import proto
from google.api import field_behavior_pb2
from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1 import types as aiplatform_types
from google.cloud.aiplatform_v1.services.endpoint_service.transports.rest_base import (
    _BaseEndpointServiceRestTransport as EndpointRest,
)
from google.cloud.aiplatform_v1.services.model_service.transports.rest_base import (
    _BaseModelServiceRestTransport as ModelRest,
)
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2, json_format, timestamp_pb2
from google.protobuf.message import Message

FAKE_PREFIX = "/_fake/"
"""The fake's own routes; nothing under it is part of Google's API."""

SYSTEM_PARAMETERS = {"$alt", "alt", "$prettyPrint", "prettyPrint"}
"""Query parameters every Google REST API accepts besides the request's fields; the REST transport sends
``$alt=json;enum-encoding=int``."""

MAX_DEPLOYMENT_TIMEOUT_S = 2 * 3600
"""ModelContainerSpec.deployment_timeout: "Limit for deployment timeout is 2 hours"."""

DEDICATED = aiplatform_v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES
"""What a model with a custom container supports: DeployedModel.dedicated_resources."""


class ApiError(Exception):
    """An error the fake answers with, in Google's JSON shape."""

    def __init__(self, status: HTTPStatus, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": int(self.status), "message": self.message, "status": self.reason}}


def invalid(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "INVALID_ARGUMENT", message)


def not_found(message: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "NOT_FOUND", message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "FAILED_PRECONDITION", message)


# ---------------------------------------------------------------------------------------------
# The published definition: routes and REQUIRED fields
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC: ``POST /v1/{parent=projects/*/locations/*}/models:upload`` (body ``*``)."""

    rpc: str
    method: str
    template: str
    body: str | None
    request: type[Message]
    pattern: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def compile_template(template: str) -> re.Pattern[str]:
    """The regex of a ``google.api.http`` path template: ``{name=projects/*/models/*}`` captures ``name``."""
    parts = []
    for piece in re.split(r"(\{[^}]*\})", template):
        if not piece.startswith("{"):
            parts.append(re.escape(piece))
            continue
        variable, _, segments = piece[1:-1].partition("=")
        inner = "/".join(
            "[^/]+" if s == "*" else ".+" if s == "**" else re.escape(s) for s in (segments or "*").split("/")
        )
        parts.append(f"(?P<{variable.replace('.', '__')}>{inner})")
    return re.compile("".join(parts))


# The RPCs the fake serves: the generated REST transport's copy of each one's google.api.http bindings, and the
# request message its body parses into.
RPCS: dict[str, tuple[Callable[[], list[dict[str, str]]], type[Message]]] = {
    "UploadModel": (ModelRest._BaseUploadModel._get_http_options, aiplatform_v1.UploadModelRequest.pb()),
    "GetModel": (ModelRest._BaseGetModel._get_http_options, aiplatform_v1.GetModelRequest.pb()),
    "DeleteModel": (ModelRest._BaseDeleteModel._get_http_options, aiplatform_v1.DeleteModelRequest.pb()),
    "DeployModel": (EndpointRest._BaseDeployModel._get_http_options, aiplatform_v1.DeployModelRequest.pb()),
    "UndeployModel": (EndpointRest._BaseUndeployModel._get_http_options, aiplatform_v1.UndeployModelRequest.pb()),
    "GetEndpoint": (EndpointRest._BaseGetEndpoint._get_http_options, aiplatform_v1.GetEndpointRequest.pb()),
    "GetOperation": (ModelRest._BaseGetOperation._get_http_options, operations_pb2.GetOperationRequest),
}


def published_routes() -> list[Route]:
    routes = []
    for rpc, (http_options, request) in RPCS.items():
        for option in http_options():
            routes.append(
                Route(
                    rpc,
                    option["method"].upper(),
                    option["uri"],
                    option.get("body"),
                    request,
                    compile_template(option["uri"]),
                )
            )
    return routes


def _proto_plus_classes() -> Iterator[type[proto.Message]]:
    def nested(cls: type[proto.Message]) -> Iterator[type[proto.Message]]:
        yield cls
        for value in vars(cls).values():
            if inspect.isclass(value) and issubclass(value, proto.Message):
                yield from nested(value)

    for name in aiplatform_types.__all__:
        value = getattr(aiplatform_types, name)
        if inspect.isclass(value) and issubclass(value, proto.Message):
            yield from nested(value)


def _documented_required(cls: type[proto.Message]) -> set[str]:
    """The fields whose generated documentation starts with "Required." (the Attributes section of the class)."""
    lines = (inspect.getdoc(cls) or "").splitlines()
    required = set()
    for line, following in itertools.pairwise(lines):
        attribute = re.fullmatch(r" {4}(\w+) \(.*\):", line)
        if attribute and following.strip().startswith("Required."):
            required.add(attribute.group(1))
    return required


def required_fields() -> dict[str, frozenset[str]]:
    """REQUIRED fields (proto names) by message full name, for every aiplatform v1 message."""
    table: dict[str, frozenset[str]] = {}
    for cls in _proto_plus_classes():
        descriptor = cls.pb().DESCRIPTOR
        names = set()
        for attribute in _documented_required(cls):
            # proto-plus appends "_" to a field named like a Python keyword ("exec" becomes "exec_").
            name = attribute if attribute in descriptor.fields_by_name else attribute.rstrip("_")
            if name not in descriptor.fields_by_name:
                raise RuntimeError(f"{descriptor.full_name}: documented field {attribute!r} is not in the descriptor")
            names.add(name)
        table[descriptor.full_name] = frozenset(names)
    return table


REQUIRED = required_fields()

FIELD_BEHAVIOR: Any = field_behavior_pb2.field_behavior
"""The ``google.api.field_behavior`` extension (typed loosely: the stubs do not know it is an extension)."""


def _annotated_required(descriptor: Any) -> set[str]:
    """REQUIRED fields as annotated, where the descriptor kept its options (the plain protobuf messages)."""
    return {
        f.name for f in descriptor.fields if field_behavior_pb2.REQUIRED in f.GetOptions().Extensions[FIELD_BEHAVIOR]
    }


def _is_set(message: Message, field: Any) -> bool:
    if field.is_repeated:
        return len(getattr(message, field.name)) > 0
    if field.has_presence:
        return message.HasField(field.name)
    return getattr(message, field.name) != field.default_value


def missing_required(message: Message, path: str = "") -> list[str]:
    """The REQUIRED fields not set in ``message`` and in every sub-message it sets, by JSON path."""
    descriptor = message.DESCRIPTOR
    required = REQUIRED.get(descriptor.full_name, frozenset()) | _annotated_required(descriptor)
    missing = [f"{path}{f.json_name}" for f in descriptor.fields if f.name in required and not _is_set(message, f)]
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}{field.json_name}"
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    missing += missing_required(item, f"{where}[{key!r}].")
        elif field.is_repeated:
            for index, item in enumerate(value):
                missing += missing_required(item, f"{where}[{index}].")
        else:
            missing += missing_required(value, f"{where}.")
    return missing


# ---------------------------------------------------------------------------------------------
# State and the RPCs
# ---------------------------------------------------------------------------------------------

Model = aiplatform_v1.Model.pb()
Endpoint = aiplatform_v1.Endpoint.pb()
DeployedModel = aiplatform_v1.DeployedModel.pb()


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _location_of(name: str) -> str:
    return "/".join(name.split("/")[:4])


def check_traffic_split(split: dict[str, int], allowed: set[str], rpc: str) -> None:
    if not split:
        return
    unknown = sorted(set(split) - allowed)
    if unknown:
        raise invalid(f"{rpc}: traffic_split names {unknown}, which are not DeployedModels of the endpoint")
    if any(value < 0 for value in split.values()):
        raise invalid(f"{rpc}: traffic_split percentages must not be negative: {dict(split)}")
    if sum(split.values()) != 100:
        raise invalid(f"{rpc}: traffic_split percentages must add up to 100, not {sum(split.values())}")


def check_container(spec: Any) -> None:
    for port in [*spec.ports, *spec.grpc_ports]:
        if not 1 <= port.container_port <= 65535:
            raise invalid(f"UploadModel: container port {port.container_port} is not between 1 and 65535")
    if spec.HasField("deployment_timeout") and spec.deployment_timeout.seconds > MAX_DEPLOYMENT_TIMEOUT_S:
        raise invalid(f"UploadModel: deployment_timeout {spec.deployment_timeout.seconds}s exceeds 2 hours")
    for name in ("startup_probe", "health_probe", "liveness_probe"):
        if not spec.HasField(name):
            continue
        probe = getattr(spec, name)
        for field in ("period_seconds", "timeout_seconds", "failure_threshold", "success_threshold"):
            if getattr(probe, field) < 0:
                raise invalid(f"UploadModel: {name}.{field} must be at least 1")
        if probe.period_seconds and probe.timeout_seconds and probe.timeout_seconds < probe.period_seconds:
            raise invalid(f"UploadModel: {name}.timeout_seconds must be greater or equal to period_seconds")


def check_dedicated(resources: Any) -> None:
    if resources.min_replica_count < 1:
        raise invalid("DeployModel: dedicated_resources.min_replica_count must be greater than or equal to 1")
    if resources.max_replica_count and resources.max_replica_count < resources.min_replica_count:
        raise invalid(
            f"DeployModel: dedicated_resources.max_replica_count ({resources.max_replica_count}) is less than "
            f"min_replica_count ({resources.min_replica_count})"
        )
    metrics = [spec.metric_name for spec in resources.autoscaling_metric_specs]
    if len(metrics) != len(set(metrics)):
        raise invalid(f"DeployModel: at most one autoscaling_metric_specs entry is allowed per metric: {metrics}")


class Fake:
    """The fake's state: models, endpoints (with their deployed models and traffic split), operations."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.models: dict[str, Any] = {}
        self.endpoints: dict[str, Any] = {}
        self.operations: dict[str, operations_pb2.Operation] = {}
        self.requests: list[dict[str, Any]] = []
        self.ids = itertools.count(1000)

    def _operation(self, parent: str, response: Message) -> operations_pb2.Operation:
        operation = operations_pb2.Operation(name=f"{_location_of(parent)}/operations/{next(self.ids)}", done=True)
        packed = any_pb2.Any()
        packed.Pack(response)
        operation.response.CopyFrom(packed)
        self.operations[operation.name] = operation
        return operation

    def _endpoint(self, name: str) -> Any:
        if name not in self.endpoints:
            raise not_found(f"Endpoint {name} does not exist")
        return self.endpoints[name]

    def _model(self, name: str) -> Any:
        if name.split("@")[0] not in self.models:
            raise not_found(f"Model {name} does not exist")
        return self.models[name.split("@")[0]]

    def create_endpoint(self, endpoint: Any) -> Message:
        if not re.fullmatch(r"projects/[^/]+/locations/[^/]+/endpoints/[^/]+", endpoint.name):
            raise invalid(f"endpoint name {endpoint.name!r} is not projects/*/locations/*/endpoints/*")
        if endpoint.name in self.endpoints:
            raise ApiError(HTTPStatus.CONFLICT, "ALREADY_EXISTS", f"Endpoint {endpoint.name} already exists")
        endpoint.create_time.CopyFrom(_now())
        self.endpoints[endpoint.name] = endpoint
        return endpoint

    def UploadModel(self, request: Any) -> Message:
        check_container(request.model.container_spec)
        model = Model()
        model.CopyFrom(request.model)
        model.name = f"{request.parent}/models/{next(self.ids)}"
        model.version_id = "1"
        model.create_time.CopyFrom(_now())
        model.ClearField("supported_deployment_resources_types")
        if model.HasField("container_spec"):
            model.supported_deployment_resources_types.append(DEDICATED)
        self.models[model.name] = model
        response = aiplatform_v1.UploadModelResponse.pb()(model=model.name, model_version_id=model.version_id)
        return self._operation(request.parent, response)

    def GetModel(self, request: Any) -> Message:
        return self._model(request.name)

    def DeleteModel(self, request: Any) -> Message:
        model = self._model(request.name)
        for endpoint in self.endpoints.values():
            for deployed in endpoint.deployed_models:
                if deployed.model.split("@")[0] == model.name:
                    raise failed_precondition(
                        f"Model {model.name} is deployed as DeployedModel {deployed.id} on {endpoint.name}: "
                        "undeploy it before deleting the model"
                    )
        del self.models[model.name]
        return self._operation(model.name, empty_pb2.Empty())

    def GetEndpoint(self, request: Any) -> Message:
        return self._endpoint(request.name)

    def GetOperation(self, request: Any) -> Message:
        if request.name not in self.operations:
            raise not_found(f"Operation {request.name} does not exist")
        return self.operations[request.name]

    def DeployModel(self, request: Any) -> Message:
        endpoint = self._endpoint(request.endpoint)
        wanted = request.deployed_model
        if not wanted.model:
            raise invalid("DeployModel: deployed_model.model is not set")
        model = self._model(wanted.model)
        resources = wanted.WhichOneof("prediction_resources")
        if resources != "dedicated_resources" or DEDICATED not in model.supported_deployment_resources_types:
            raise invalid(
                f"DeployModel: Model {model.name} supports {list(model.supported_deployment_resources_types)} "
                f"deployment resources, not {resources}"
            )
        check_dedicated(wanted.dedicated_resources)
        deployed_ids = {d.id for d in endpoint.deployed_models}
        check_traffic_split(dict(request.traffic_split), {"0", *deployed_ids}, "DeployModel")
        deployed = DeployedModel()
        deployed.CopyFrom(wanted)
        if deployed.id and (not re.fullmatch(r"[0-9]{1,10}", deployed.id) or deployed.id in deployed_ids):
            raise invalid(f"DeployModel: deployed_model.id {deployed.id!r} is not 1-10 digits or is taken")
        deployed.id = deployed.id or str(next(self.ids))
        deployed.display_name = deployed.display_name or model.display_name
        deployed.model_version_id = model.version_id
        deployed.create_time.CopyFrom(_now())
        endpoint.deployed_models.append(deployed)
        if request.traffic_split:
            split = {deployed.id if key == "0" else key: value for key, value in request.traffic_split.items()}
            endpoint.traffic_split.clear()
            endpoint.traffic_split.update(split)
        response = aiplatform_v1.DeployModelResponse.pb()(deployed_model=deployed)
        return self._operation(endpoint.name, response)

    def UndeployModel(self, request: Any) -> Message:
        endpoint = self._endpoint(request.endpoint)
        deployed_ids = [d.id for d in endpoint.deployed_models]
        if request.deployed_model_id not in deployed_ids:
            raise not_found(f"DeployedModel {request.deployed_model_id} is not deployed on {endpoint.name}")
        check_traffic_split(dict(request.traffic_split), set(deployed_ids), "UndeployModel")
        split = dict(request.traffic_split) or dict(endpoint.traffic_split)
        if split.get(request.deployed_model_id, 0) > 0 and len(deployed_ids) > 1:
            raise failed_precondition(
                f"UndeployModel: DeployedModel {request.deployed_model_id} still receives "
                f"{split[request.deployed_model_id]}% of the traffic; give it to other DeployedModels in traffic_split"
            )
        split.pop(request.deployed_model_id, None)
        index = deployed_ids.index(request.deployed_model_id)
        del endpoint.deployed_models[index]
        endpoint.traffic_split.clear()
        if endpoint.deployed_models:
            endpoint.traffic_split.update(split)
        return self._operation(endpoint.name, aiplatform_v1.UndeployModelResponse.pb()())


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

ROUTES = published_routes()


def parse_request(route: Route, variables: dict[str, str], query: list[tuple[str, str]], body: Any) -> Message:
    """The request message of one call: the body parsed strictly, the path variables, the query's fields."""
    request = route.request()
    if route.body is None:
        if body is not None:
            raise invalid(f"{route.rpc} takes no request body")
    elif route.body == "*":
        if not isinstance(body, dict):
            raise invalid(f"{route.rpc}: the request body must be a JSON object")
        try:
            json_format.ParseDict(body, request, ignore_unknown_fields=False)
        except json_format.ParseError as error:
            raise invalid(f"Invalid JSON payload received. {error}") from error
    else:
        raise RuntimeError(f"{route.rpc}: body {route.body!r} is not supported by the fake")
    for variable, value in variables.items():
        setattr(request, variable.replace("__", "."), value)
    fields = {}
    for key, value in query:
        if key in SYSTEM_PARAMETERS:
            continue
        fields[key] = value
    if fields:
        try:
            json_format.ParseDict(fields, request, ignore_unknown_fields=False)
        except json_format.ParseError as error:
            raise invalid(f"Invalid query parameters received. {error}") from error
    missing = missing_required(request)
    if missing:
        raise invalid(f"{route.rpc}: required field(s) not set: {', '.join(missing)}")
    return request


class Handler(BaseHTTPRequestHandler):
    fake: Fake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.handle_call()

    def do_POST(self) -> None:
        self.handle_call()

    def do_DELETE(self) -> None:
        self.handle_call()

    def do_PATCH(self) -> None:
        self.handle_call()

    def handle_call(self) -> None:
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record: dict[str, Any] = {
            "method": self.command,
            "path": url.path,
            "query": query,
            "headers": {key.lower(): value for key, value in self.headers.items()},
            "body": None,
        }
        integers = any(k in {"$alt", "alt"} and "enum-encoding=int" in v for k, v in query)
        try:
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as error:
                    raise invalid(f"Invalid JSON payload received. {error}") from error
            record["body"] = body
            status, answer = self.dispatch(url.path, query, body, integers)
        except ApiError as error:
            status, answer = error.status, error.body()
        record["status"] = int(status)
        with self.fake.lock:
            if not url.path.startswith(FAKE_PREFIX):
                self.fake.requests.append(record)
        self.reply(status, answer)

    def dispatch(self, path: str, query: list[tuple[str, str]], body: Any, integers: bool) -> tuple[HTTPStatus, Any]:
        with self.fake.lock:
            if path.startswith(FAKE_PREFIX):
                return self.fake_route(path, body)
            for route in ROUTES:
                variables = route.match(self.command, path)
                if variables is None:
                    continue
                request = parse_request(route, variables, query, body)
                response = getattr(self.fake, route.rpc)(request)
                return HTTPStatus.OK, json_format.MessageToDict(response, use_integers_for_enums=integers)
        raise not_found(f"The requested URL {self.command} {path} was not found on this server.")

    def fake_route(self, path: str, body: Any) -> tuple[HTTPStatus, Any]:
        if self.command == "GET" and path == "/_fake/requests":
            return HTTPStatus.OK, {"requests": self.fake.requests}
        if self.command == "POST" and path == "/_fake/reset":
            self.fake.reset()
            return HTTPStatus.OK, {}
        if self.command == "POST" and path == "/_fake/endpoints":
            endpoint = Endpoint()
            try:
                json_format.ParseDict(body or {}, endpoint, ignore_unknown_fields=False)
            except json_format.ParseError as error:
                raise invalid(f"Invalid JSON payload received. {error}") from error
            missing = missing_required(endpoint)
            if missing:
                raise invalid(f"CreateEndpoint: required field(s) not set: {', '.join(missing)}")
            return HTTPStatus.OK, json_format.MessageToDict(self.fake.create_endpoint(endpoint))
        raise not_found(f"The fake has no route {self.command} {path}")

    def reply(self, status: HTTPStatus, answer: Any) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve(port: int) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"fake": Fake()})
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the port to listen on, on 127.0.0.1")
    server = serve(parser.parse_args().port)
    print(f"vertex_api_fake listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
