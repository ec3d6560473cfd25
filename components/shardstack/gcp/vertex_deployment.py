"""VertexModelDeployment: a custom-container model uploaded to Vertex AI and deployed to an endpoint.

Usage::

    import pulumi_gcp as gcp
    from shardstack.gcp.vertex_deployment import VertexModelDeployment

    endpoint = gcp.vertex.AiEndpoint("llm", name="4242", location="us-central1", display_name="llm")
    deployment = VertexModelDeployment("llm", {
        "project": "my-project",
        "region": "us-central1",
        "endpoint": endpoint.id,  # projects/my-project/locations/us-central1/endpoints/4242
        "display_name": "llm",
        "image_uri": "us-central1-docker.pkg.dev/my-project/shardstack/runtime:0.1.0",
        "port": 8000,
        "predict_route": "/v1/completions",
        "health_route": "/healthz",
        "shared_memory_size_mb": 16384,
        "deployment_timeout_s": 3600,
        "startup_probe": {"path": "/healthz", "period_s": 10, "timeout_s": 10, "failure_threshold": 60},
        "machine_type": "g2-standard-24",
        "accelerator_type": "NVIDIA_L4",
        "accelerator_count": 2,
        "max_replica_count": 2,
        "autoscaling_target_duty_cycle": 70,
        "service_account": runner.email,
    })
    pulumi.export("deployed_model_id", deployment.deployed_model_id)

pulumi-gcp has ``gcp.vertex.AiEndpoint`` but nothing that uploads a custom-container Model or deploys one, so
this is a dynamic resource over Vertex AI's official client (``google.cloud.aiplatform_v1``, REST, the regional
endpoint ``{region}-aiplatform.googleapis.com``, Application Default Credentials):

- **create** uploads the Model and deploys it to ``endpoint``, where it takes all of the endpoint's traffic;
- **update** (any change but project, region or endpoint) is blue/green: a new Model is uploaded and deployed
  with all the traffic, then the old one is undeployed and deleted, so the endpoint serves throughout;
- a change of ``project``, ``region`` or ``endpoint`` **replaces** it: the new one is created first;
- **delete** undeploys it, hands its traffic to the models left on the endpoint (in proportion to their
  share, evenly if none had any) and deletes the Model. What is already gone is no error, so
  ``pulumi destroy`` converges.

Vertex AI gives the container ``AIP_HTTP_PORT`` (``port``) and the other ``AIP_*`` variables itself. ``env``
is passed sorted by name: Pulumi does not keep a map's order, and a value that refers to another variable
(``$(OTHER)``) is expanded only if that one comes first.

Every Model it uploads carries ``labels``, ``shardstack-component: VertexModelDeployment`` (unless ``labels``
names the component) and ``shardstack-deployment: <the resource's id>``. The last lets the next run finish an
update or delete that a failure interrupted (it retires every deployed model of this resource but the current
one), and ``gcloud ai models list --filter=labels.shardstack-deployment=<id>`` lists them.

Failures name the step (upload, deploy, undeploy, delete, read), the resource and the API's message.

For tests, the provider takes the API's address and a credentials factory::

    provider = VertexModelDeploymentProvider(api_endpoint="http://127.0.0.1:8123", credentials=AnonymousCredentials)
    VertexModelDeployment("llm", {...}, provider=provider)
"""

import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Required, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.runtime import rpc

from shardstack.gcp.labels import COMPONENT_LABEL

if TYPE_CHECKING:
    # Only for annotations: the client library loads inside the provider's methods (see _clients).
    from google.auth.credentials import Credentials

__all__ = [
    "StartupProbe",
    "VertexDeploymentError",
    "VertexModelDeployment",
    "VertexModelDeploymentArgs",
    "VertexModelDeploymentProvider",
]

DEPLOYMENT_LABEL = "shardstack-deployment"
"""On every Model this resource uploads: the resource's id, which finds its models on a shared endpoint."""
COMPONENT_NAME = "VertexModelDeployment"

DUTY_CYCLE_METRIC = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"

# How long each long-running operation is awaited. Past it the provider gives up, and the operation goes on in
# Vertex AI (its name is in the error).
UPLOAD_TIMEOUT_S = 30 * 60
"""Upload takes minutes; half an hour leaves room for a busy region."""
MAX_DEPLOYMENT_TIMEOUT_S = 2 * 3600
"""ModelContainerSpec.deployment_timeout's documented limit; a deploy without one is awaited this long."""
DEPLOY_MARGIN_S = 30 * 60
"""On top of the deployment timeout: a deploy also provisions the machines and pulls the image."""
UNDEPLOY_TIMEOUT_S = 30 * 60
"""Undeploy stops the replicas and releases their machines."""
DELETE_TIMEOUT_S = 10 * 60
"""Deleting a Model removes only its registration."""

REQUIRED_INPUTS = ("project", "region", "endpoint", "display_name", "image_uri", "port", "machine_type")
INPUTS = (
    *REQUIRED_INPUTS,
    "env",
    "predict_route",
    "health_route",
    "shared_memory_size_mb",
    "deployment_timeout_s",
    "startup_probe",
    "accelerator_type",
    "accelerator_count",
    "min_replica_count",
    "max_replica_count",
    "autoscaling_target_duty_cycle",
    "service_account",
    "labels",
    "kms_key_name",
)
"""Every input key, as the resource's args and the provider's props spell them."""
REPLACING_INPUTS = ("project", "region", "endpoint")
"""A Model and its deployment cannot move: a change of these creates a new one and deletes the old."""
INTEGER_INPUTS = (
    "port",
    "shared_memory_size_mb",
    "deployment_timeout_s",
    "accelerator_count",
    "min_replica_count",
    "max_replica_count",
    "autoscaling_target_duty_cycle",
)
PROBE_KEYS = ("path", "period_s", "timeout_s", "failure_threshold")
ENDPOINT_NAME = re.compile(r"projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/endpoints/(?P<id>[^/]+)")

CredentialsFactory = Callable[[], "Credentials"]


class StartupProbe(TypedDict, total=False):
    """An HTTP startup probe on the container's port: Vertex AI sends no traffic until it succeeds."""

    path: Required[pulumi.Input[str]]
    period_s: pulumi.Input[int]
    timeout_s: pulumi.Input[int]
    failure_threshold: pulumi.Input[int]


class VertexModelDeploymentArgs(TypedDict, total=False):
    """The inputs of a VertexModelDeployment (see the module's docstring)."""

    project: Required[pulumi.Input[str]]
    region: Required[pulumi.Input[str]]
    endpoint: Required[pulumi.Input[str]]
    """``projects/{project}/locations/{region}/endpoints/{id}``, as ``gcp.vertex.AiEndpoint``'s ``id``."""
    display_name: Required[pulumi.Input[str]]
    image_uri: Required[pulumi.Input[str]]
    port: Required[pulumi.Input[int]]
    """The container's HTTP port; Vertex AI sends it requests and health checks there."""
    machine_type: Required[pulumi.Input[str]]
    env: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    predict_route: pulumi.Input[str]
    health_route: pulumi.Input[str]
    shared_memory_size_mb: pulumi.Input[int]
    """/dev/shm, through which the ranks on one machine talk."""
    deployment_timeout_s: pulumi.Input[int]
    """At most 2 hours (7200)."""
    startup_probe: pulumi.Input[StartupProbe]
    accelerator_type: pulumi.Input[str]
    """An ``aiplatform_v1.AcceleratorType`` name, e.g. ``NVIDIA_L4``."""
    accelerator_count: pulumi.Input[int]
    min_replica_count: pulumi.Input[int]
    """1 unless given."""
    max_replica_count: pulumi.Input[int]
    """``min_replica_count`` unless given."""
    autoscaling_target_duty_cycle: pulumi.Input[int]
    """The accelerators' duty cycle (percent) autoscaling aims at; Vertex AI's default is 60."""
    service_account: pulumi.Input[str]
    """The email of the service account the container runs as."""
    labels: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    kms_key_name: pulumi.Input[str]
    """A Cloud KMS key the Model is encrypted with."""


class VertexDeploymentError(RuntimeError):
    """A Vertex AI call failed; the message names the step, the resource and the API's message."""


def _int(value: Any) -> int:
    # Pulumi hands a dynamic provider every number as a float.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not a whole number")


def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs in ``props`` (no outputs, no ``__provider``), whole numbers as ints, unset ones left out."""
    inputs = {key: props[key] for key in INPUTS if props.get(key) is not None}
    for key in INTEGER_INPUTS:
        if key in inputs:
            inputs[key] = _int(inputs[key])
    if "startup_probe" in inputs:
        probe = dict(inputs["startup_probe"])
        inputs["startup_probe"] = {k: (v if k == "path" else _int(v)) for k, v in probe.items() if v is not None}
    return inputs


def _comparable(value: Any) -> Any:
    # An empty map and no map deploy the same thing.
    return None if value in (None, {}) else value


def _unversioned(model: str) -> str:
    return model.split("@", 1)[0]


def traffic_without(split: Mapping[str, int], removed: str, remaining: list[str]) -> dict[str, int]:
    """The endpoint's traffic split once ``removed`` is undeployed and ``remaining`` are left.

    Its share goes to the others in proportion to theirs (evenly when none has any); the split is empty when
    no model is left or nothing had traffic (an empty split leaves the endpoint's as it is). UndeployModel
    refuses to remove a model that still has traffic unless it is the last one.
    """
    kept = {key: int(split.get(key, 0)) for key in remaining}
    if not remaining or not split:
        return {}
    if not int(split.get(removed, 0)):
        return kept
    weights = kept if sum(kept.values()) else dict.fromkeys(remaining, 1)
    total = sum(weights.values())
    shares = {key: 100 * weight // total for key, weight in weights.items()}
    # Largest remainders first, so the shares add up to exactly 100.
    by_remainder = sorted(remaining, key=lambda key: (-(100 * weights[key] % total), key))
    for key in by_remainder[: 100 - sum(shares.values())]:
        shares[key] += 1
    return shares


def _call(step: str, subject: str, start: Callable[[], Any], timeout_s: int | None, missing_ok: bool = False) -> Any:
    """Run one API call (and await its long-running operation when ``timeout_s`` is given).

    Returns the call's result, or None when ``missing_ok`` and the resource is gone (404).
    """
    from google.api_core import exceptions

    operation = None
    try:
        operation = start()
        return operation if timeout_s is None else operation.result(timeout=timeout_s)
    except exceptions.GoogleAPICallError as error:
        if missing_ok and isinstance(error, exceptions.NotFound):
            return None
        raise VertexDeploymentError(f"Vertex AI {step} of {subject} failed: {error}") from error
    except TimeoutError as error:  # concurrent.futures.TimeoutError is TimeoutError since Python 3.11
        name = getattr(getattr(operation, "operation", None), "name", "?")
        raise VertexDeploymentError(
            f"Vertex AI {step} of {subject} did not finish within {timeout_s} s; "
            f"its operation {name} goes on in Vertex AI"
        ) from error


class VertexModelDeploymentProvider(pulumi.dynamic.ResourceProvider):
    """Creates, updates and deletes a VertexModelDeployment through Vertex AI's REST API.

    ``api_endpoint`` replaces ``{region}-aiplatform.googleapis.com`` (an ``http://`` address works), and
    ``credentials``, a module-level callable returning google.auth credentials, replaces Application Default
    Credentials. Pulumi pickles the provider into the state (dill), so it keeps only these two.
    """

    def __init__(self, api_endpoint: str | None = None, credentials: CredentialsFactory | None = None) -> None:
        super().__init__()
        self.api_endpoint = api_endpoint
        self.credentials = credentials

    # The client library loads here and not at import: it makes `shardstack plan` slow, and its protos clash with
    # others that some processes load.
    def _clients(self, region: str) -> tuple[Any, Any]:
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1

        options = ClientOptions(api_endpoint=self.api_endpoint or f"{region}-aiplatform.googleapis.com")
        credentials = self.credentials() if self.credentials is not None else None
        return (
            aiplatform_v1.ModelServiceClient(credentials=credentials, client_options=options, transport="rest"),
            aiplatform_v1.EndpointServiceClient(credentials=credentials, client_options=options, transport="rest"),
        )

    # ---- Pulumi's calls ------------------------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures = [pulumi.dynamic.CheckFailure(key, reason) for key, reason in _problems(news)]
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in INPUTS if _comparable(_olds.get(key)) != _comparable(_news.get(key))]
        replaces = [key for key in changed if key in REPLACING_INPUTS]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        inputs = _inputs(props)
        key = uuid.uuid4().hex
        models, endpoints = self._clients(inputs["region"])
        model, deployed_model_id = self._upload_and_deploy(models, endpoints, inputs, key)
        return pulumi.dynamic.CreateResult(key, {**inputs, "model": model, "deployed_model_id": deployed_model_id})

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        inputs = _inputs(_news)
        models, endpoints = self._clients(inputs["region"])
        model, deployed_model_id = self._upload_and_deploy(models, endpoints, inputs, _id)
        try:
            self._retire(models, endpoints, inputs, _id, _olds.get("model"), _olds.get("deployed_model_id"), model)
        except VertexDeploymentError as error:
            error.add_note(
                f"The new model {model} is deployed as {deployed_model_id} and takes all the traffic; Pulumi still "
                "records the old one. Run `pulumi up` again: it retires every deployment of this resource but "
                "the newest."
            )
            raise
        return pulumi.dynamic.UpdateResult({**inputs, "model": model, "deployed_model_id": deployed_model_id})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        inputs = _inputs(_props)
        models, endpoints = self._clients(inputs["region"])
        self._retire(models, endpoints, inputs, _id, _props.get("model"), _props.get("deployed_model_id"), None)

    # ---- Steps ---------------------------------------------------------------------------------------------------

    def _upload_and_deploy(self, models: Any, endpoints: Any, inputs: dict[str, Any], key: str) -> tuple[str, str]:
        model = self._upload(models, inputs, key)
        try:
            deployed_model_id = self._deploy(endpoints, inputs, model)
        except VertexDeploymentError as error:
            # Pulumi records nothing of a failed create or update, so the model just uploaded would be left over.
            try:
                _call("delete", f"model {model}", lambda: models.delete_model(name=model), DELETE_TIMEOUT_S, True)
            except VertexDeploymentError as cleanup:
                error.add_note(f"The uploaded model {model} was left in place: {cleanup}")
            raise
        return model, deployed_model_id

    def _upload(self, models: Any, inputs: dict[str, Any], key: str) -> str:
        from google.cloud import aiplatform_v1
        from google.protobuf import duration_pb2

        container: dict[str, Any] = {
            "image_uri": inputs["image_uri"],
            "env": [aiplatform_v1.EnvVar(name=name, value=str(v)) for name, v in sorted(inputs.get("env", {}).items())],
            "ports": [aiplatform_v1.Port(container_port=inputs["port"])],
        }
        for key_ in ("predict_route", "health_route", "shared_memory_size_mb"):
            if key_ in inputs:
                container[key_] = inputs[key_]
        if "deployment_timeout_s" in inputs:
            container["deployment_timeout"] = duration_pb2.Duration(seconds=inputs["deployment_timeout_s"])
        if "startup_probe" in inputs:
            probe = inputs["startup_probe"]
            container["startup_probe"] = aiplatform_v1.Probe(
                http_get=aiplatform_v1.Probe.HttpGetAction(path=probe["path"], port=inputs["port"]),
                period_seconds=probe.get("period_s", 0),
                timeout_seconds=probe.get("timeout_s", 0),
                failure_threshold=probe.get("failure_threshold", 0),
            )
        # A caller's own shardstack-component label (a component that made this resource) is kept.
        labels = {COMPONENT_LABEL: COMPONENT_NAME, **inputs.get("labels", {}), DEPLOYMENT_LABEL: key}
        model = aiplatform_v1.Model(
            display_name=inputs["display_name"],
            container_spec=aiplatform_v1.ModelContainerSpec(**container),
            labels=labels,
        )
        if "kms_key_name" in inputs:
            model.encryption_spec = aiplatform_v1.EncryptionSpec(kms_key_name=inputs["kms_key_name"])
        parent = f"projects/{inputs['project']}/locations/{inputs['region']}"
        response = _call(
            "upload",
            f"model {inputs['display_name']!r} ({inputs['image_uri']}) to {parent}",
            lambda: models.upload_model(request=aiplatform_v1.UploadModelRequest(parent=parent, model=model)),
            UPLOAD_TIMEOUT_S,
        )
        return response.model

    def _deploy(self, endpoints: Any, inputs: dict[str, Any], model: str) -> str:
        from google.cloud import aiplatform_v1

        machine = aiplatform_v1.MachineSpec(machine_type=inputs["machine_type"])
        if "accelerator_type" in inputs:
            machine.accelerator_type = aiplatform_v1.AcceleratorType[inputs["accelerator_type"]]
            machine.accelerator_count = inputs.get("accelerator_count", 1)
        min_replicas = inputs.get("min_replica_count", 1)
        resources = aiplatform_v1.DedicatedResources(
            machine_spec=machine,
            min_replica_count=min_replicas,
            max_replica_count=inputs.get("max_replica_count", min_replicas),
        )
        if "autoscaling_target_duty_cycle" in inputs:
            resources.autoscaling_metric_specs = [
                aiplatform_v1.AutoscalingMetricSpec(
                    metric_name=DUTY_CYCLE_METRIC, target=inputs["autoscaling_target_duty_cycle"]
                )
            ]
        deployed = aiplatform_v1.DeployedModel(
            model=model, display_name=inputs["display_name"], dedicated_resources=resources
        )
        if "service_account" in inputs:
            deployed.service_account = inputs["service_account"]
        # "0" is the model being deployed: it takes all the traffic, and any other model on the endpoint none.
        request = aiplatform_v1.DeployModelRequest(
            endpoint=inputs["endpoint"], deployed_model=deployed, traffic_split={"0": 100}
        )
        wait_s = inputs.get("deployment_timeout_s", MAX_DEPLOYMENT_TIMEOUT_S) + DEPLOY_MARGIN_S
        response = _call(
            "deploy",
            f"model {model} to {inputs['endpoint']}",
            lambda: endpoints.deploy_model(request=request),
            wait_s,
        )
        return response.deployed_model.id

    def _retire(
        self,
        models: Any,
        endpoints: Any,
        inputs: dict[str, Any],
        key: str,
        model: str | None,
        deployed_model_id: str | None,
        keep: str | None,
    ) -> None:
        """Undeploy this resource's deployed models from the endpoint, but ``keep`` (a model), and delete them.

        This resource's are the one Pulumi records and any whose model carries its label: a run that failed
        halfway may have left one.
        """
        from google.cloud import aiplatform_v1

        endpoint_name = inputs["endpoint"]
        endpoint = _call(
            "read", f"endpoint {endpoint_name}", lambda: endpoints.get_endpoint(name=endpoint_name), None, True
        )
        retired = {model} if model and model != keep else set()
        if endpoint is not None:
            deployed = list(endpoint.deployed_models)
            split = dict(endpoint.traffic_split)
            remaining = [d.id for d in deployed]
            for item in deployed:
                if _unversioned(item.model) == keep:
                    continue
                if item.id != deployed_model_id and not self._labelled(models, inputs, item.model, key):
                    continue
                remaining.remove(item.id)
                split = traffic_without(split, item.id, remaining)
                request = aiplatform_v1.UndeployModelRequest(
                    endpoint=endpoint_name, deployed_model_id=item.id, traffic_split=split
                )
                _call(
                    "undeploy",
                    f"deployed model {item.id} ({item.model}) from {endpoint_name}",
                    lambda request=request: endpoints.undeploy_model(request=request),
                    UNDEPLOY_TIMEOUT_S,
                    missing_ok=True,
                )
                retired.add(_unversioned(item.model))
        for name in sorted(retired):
            _call("delete", f"model {name}", lambda name=name: models.delete_model(name=name), DELETE_TIMEOUT_S, True)

    def _labelled(self, models: Any, inputs: dict[str, Any], model: str, key: str) -> bool:
        # A model in another region is not this resource's (and this region's client cannot read it).
        if f"/locations/{inputs['region']}/models/" not in model:
            return False
        found = _call("read", f"model {model}", lambda: models.get_model(name=_unversioned(model)), None, True)
        return found is not None and found.labels.get(DEPLOYMENT_LABEL) == key


def _unknown(value: Any) -> bool:
    # In a preview, Pulumi hands a dynamic provider a value it does not know yet as this string.
    if isinstance(value, Mapping):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_unknown(v) for v in value)
    return value == rpc.UNKNOWN


def _problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with the inputs, by key; values still unknown (in a preview) are not judged."""
    from google.cloud import aiplatform_v1

    known = {key: value for key, value in props.items() if value is not None and not _unknown(value)}
    problems = [(key, f"{key} is required") for key in REQUIRED_INPUTS if props.get(key) is None]
    for key in INTEGER_INPUTS:
        if key in known:
            try:
                known[key] = _int(known[key])
            except ValueError as error:
                problems.append((key, f"{key}: {error}"))
                del known[key]
    bounds = {
        "port": (1, 65535),
        "shared_memory_size_mb": (1, None),
        "deployment_timeout_s": (1, MAX_DEPLOYMENT_TIMEOUT_S),
        "accelerator_count": (1, None),
        "min_replica_count": (1, None),
        "max_replica_count": (1, None),
        "autoscaling_target_duty_cycle": (1, 100),
    }
    for key, (low, high) in bounds.items():
        value = known.get(key)
        if value is not None and (value < low or (high is not None and value > high)):
            limit = f"between {low} and {high}" if high is not None else f"at least {low}"
            problems.append((key, f"{key} is {value}: it must be {limit}"))
    if known.get("max_replica_count", known.get("min_replica_count", 1)) < known.get("min_replica_count", 1):
        problems.append(("max_replica_count", "max_replica_count is below min_replica_count"))
    if "endpoint" in known:
        found = ENDPOINT_NAME.fullmatch(str(known["endpoint"]))
        if not found:
            problems.append(("endpoint", f"endpoint {known['endpoint']!r} is not projects/*/locations/*/endpoints/*"))
        elif "region" in known and found["region"] != known["region"]:
            problems.append(("endpoint", f"endpoint {known['endpoint']!r} is not in region {known['region']!r}"))
    accelerator = known.get("accelerator_type")
    if accelerator is not None and (
        accelerator not in aiplatform_v1.AcceleratorType.__members__ or accelerator == "ACCELERATOR_TYPE_UNSPECIFIED"
    ):
        names = ", ".join(n for n in aiplatform_v1.AcceleratorType.__members__ if n != "ACCELERATOR_TYPE_UNSPECIFIED")
        problems.append(("accelerator_type", f"accelerator_type {accelerator!r} is not one of {names}"))
    if "accelerator_count" in known and props.get("accelerator_type") is None:
        problems.append(("accelerator_count", "accelerator_count needs accelerator_type"))
    probe = known.get("startup_probe")
    if probe is not None:
        if not isinstance(probe, Mapping) or "path" not in probe:
            problems.append(("startup_probe", "startup_probe needs a path"))
        else:
            unknown = sorted(set(probe) - set(PROBE_KEYS))
            if unknown:
                problems.append(("startup_probe", f"startup_probe has unknown keys {unknown}: use {PROBE_KEYS}"))
            for name in PROBE_KEYS[1:]:
                if name in probe:
                    try:
                        if _int(probe[name]) < 1:
                            problems.append(("startup_probe", f"startup_probe.{name} must be at least 1"))
                    except ValueError as error:
                        problems.append(("startup_probe", f"startup_probe.{name}: {error}"))
    return problems


class VertexModelDeployment(pulumi.dynamic.Resource, module="shardstack", name="VertexModelDeployment"):
    """A custom-container model uploaded to Vertex AI and deployed to an endpoint (see the module's docstring)."""

    model: pulumi.Output[str]
    """The Model's resource name: ``projects/{project}/locations/{region}/models/{id}``."""
    deployed_model_id: pulumi.Output[str]
    """The DeployedModel's id on the endpoint."""

    def __init__(
        self,
        name: str,
        args: VertexModelDeploymentArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: VertexModelDeploymentProvider | None = None,
    ) -> None:
        # None marks the outputs: Pulumi fills them from what create and update return.
        props: dict[str, Any] = {**args, "model": None, "deployed_model_id": None}
        super().__init__(provider or VertexModelDeploymentProvider(), name, props, opts)
