"""VertexModelDeployment's provider against vertex_api_fake.py, a fake of the Vertex AI v1 REST API that checks each
request against Google's published definition: create, blue/green update, delete, diff, errors, pickling.

The fake runs as a process on a free 127.0.0.1 port (one per module); each test starts from an empty fake with
one endpoint. The provider is called as Pulumi's dynamic provider process calls it: props hold every number as
a float and the serialized provider under ``__provider``.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import pulumi.dynamic.dynamic
import pytest
from google.auth.credentials import AnonymousCredentials

from shardstack.gcp.vertex_deployment import (
    DEPLOYMENT_LABEL,
    DUTY_CYCLE_METRIC,
    VertexDeploymentError,
    VertexModelDeploymentProvider,
)

FAKE = Path(__file__).resolve().with_name("vertex_api_fake.py")
STARTUP_TIMEOUT_S = 60.0

PROJECT = "acme-ml"
REGION = "us-central1"
LOCATION = f"projects/{PROJECT}/locations/{REGION}"
ENDPOINT = f"{LOCATION}/endpoints/4242"
IMAGE = "us-central1-docker.pkg.dev/acme-ml/shardstack/runtime:0.1.0"
NEW_IMAGE = "us-central1-docker.pkg.dev/acme-ml/shardstack/runtime:0.2.0"
KEY = f"{LOCATION}/keyRings/ml/cryptoKeys/models"
RUNNER = "llm-runner@acme-ml.iam.gserviceaccount.com"

# As Pulumi hands them to the dynamic provider: numbers are floats.
PROPS: dict[str, Any] = {
    "__provider": "<the serialized provider>",
    "project": PROJECT,
    "region": REGION,
    "endpoint": ENDPOINT,
    "display_name": "llm",
    "image_uri": IMAGE,
    "env": {"SHARDSTACK_RANKS_HERE": "2", "HF_HOME": "/tmp/hf"},
    "port": 8080.0,
    "predict_route": "/predict",
    "health_route": "/health",
    "shared_memory_size_mb": 16384.0,
    "deployment_timeout_s": 1800.0,
    "startup_probe": {"path": "/health", "period_s": 10.0, "timeout_s": 10.0, "failure_threshold": 90.0},
    "machine_type": "g2-standard-24",
    "accelerator_type": "NVIDIA_L4",
    "accelerator_count": 2.0,
    "min_replica_count": 1.0,
    "max_replica_count": 3.0,
    "autoscaling_target_duty_cycle": 70.0,
    "service_account": RUNNER,
    "labels": {"team": "ml-platform"},
    "kms_key_name": KEY,
    "model": None,
    "deployed_model_id": None,
}


@dataclass
class FakeApi:
    """The fake Vertex AI API, running: plain HTTP to it, and its own /_fake/ routes."""

    url: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path = field(repr=False)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        assert status == 200, answer
        return answer

    def get(self, name: str) -> tuple[int, Any]:
        return self.call("GET", f"/v1/{name}")

    def requests(self) -> list[dict[str, Any]]:
        return self.ok("GET", "/_fake/requests")["requests"]

    def calls(self) -> list[str]:
        """The Google API calls received, as ``METHOD path`` (the path after the location)."""
        return [f"{r['method']} {r['path'].removeprefix(f'/v1/{LOCATION}/')}" for r in self.requests()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake(log_dir: Path) -> FakeApi:
    port = free_port()
    log = log_dir / "vertex_api_fake.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(FAKE), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    fake = FakeApi(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fake exited with {process.returncode} before answering; log:\n{log.read_text()}")
        try:
            fake.requests()
            return fake
        except OSError:
            time.sleep(0.1)
    fake.stop()
    raise RuntimeError(f"the fake did not answer on {fake.url} within {STARTUP_TIMEOUT_S} s; log:\n{log.read_text()}")


@pytest.fixture(scope="module")
def fake_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeApi]:
    fake = start_fake(tmp_path_factory.mktemp("vertex-fake"))
    yield fake
    fake.stop()


@pytest.fixture
def api(fake_api: FakeApi) -> FakeApi:
    fake_api.ok("POST", "/_fake/reset")
    fake_api.ok("POST", "/_fake/endpoints", {"name": ENDPOINT, "displayName": "llm"})
    return fake_api


@pytest.fixture
def provider(api: FakeApi) -> VertexModelDeploymentProvider:
    return VertexModelDeploymentProvider(api_endpoint=api.url, credentials=AnonymousCredentials)


def endpoint_state(api: FakeApi) -> dict[str, Any]:
    return api.ok("GET", f"/v1/{ENDPOINT}")


def upload_raw(api: FakeApi, display_name: str = "other", labels: dict[str, str] | None = None) -> str:
    """A model uploaded straight through the REST API (by someone else, unless it has this resource's label)."""
    body = {"model": {"displayName": display_name, "containerSpec": {"imageUri": IMAGE}, "labels": labels or {}}}
    return api.ok("POST", f"/v1/{LOCATION}/models:upload", body)["response"]["model"]


def deploy_raw(api: FakeApi, model: str, traffic: dict[str, int] | None = None, endpoint: str = ENDPOINT) -> str:
    body: dict[str, Any] = {
        "deployedModel": {
            "model": model,
            "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-4"}, "minReplicaCount": 1},
        }
    }
    if traffic is not None:
        body["trafficSplit"] = traffic
    return api.ok("POST", f"/v1/{endpoint}:deployModel", body)["response"]["deployedModel"]["id"]


# ---------------------------------------------------------------------------------------------
# create, update, delete
# ---------------------------------------------------------------------------------------------


def test_create_uploads_the_model_then_deploys_it_with_all_the_traffic(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    created = provider.create(dict(PROPS))
    outs = created.outs or {}
    assert api.calls() == ["POST models:upload", "POST endpoints/4242:deployModel"]

    model = api.ok("GET", f"/v1/{outs['model']}")
    spec = model["containerSpec"]
    assert spec["imageUri"] == IMAGE
    assert spec["env"] == [{"name": "HF_HOME", "value": "/tmp/hf"}, {"name": "SHARDSTACK_RANKS_HERE", "value": "2"}]
    assert spec["ports"] == [{"containerPort": 8080}]
    assert (spec["predictRoute"], spec["healthRoute"]) == ("/predict", "/health")
    assert spec["sharedMemorySizeMb"] == "16384"  # an int64: a string in JSON
    assert spec["deploymentTimeout"] == "1800s"
    assert spec["startupProbe"] == {
        "httpGet": {"path": "/health", "port": 8080},
        "periodSeconds": 10,
        "timeoutSeconds": 10,
        "failureThreshold": 90,
    }
    assert model["displayName"] == "llm"
    assert model["encryptionSpec"] == {"kmsKeyName": KEY}
    assert model["labels"]["team"] == "ml-platform"
    assert model["labels"][DEPLOYMENT_LABEL] == created.id

    endpoint = endpoint_state(api)
    (deployed,) = endpoint["deployedModels"]
    assert deployed["id"] == outs["deployed_model_id"]
    assert deployed["model"] == outs["model"]
    assert deployed["serviceAccount"] == RUNNER
    resources = deployed["dedicatedResources"]
    assert resources["machineSpec"] == {
        "machineType": "g2-standard-24",
        "acceleratorType": "NVIDIA_L4",
        "acceleratorCount": 2,
    }
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (1, 3)
    assert resources["autoscalingMetricSpecs"] == [{"metricName": DUTY_CYCLE_METRIC, "target": 70}]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}

    # The outputs are the inputs (whole numbers as ints, no __provider) and the two the API made.
    assert outs["port"] == 8080 and isinstance(outs["port"], int)
    assert "__provider" not in outs
    assert {k: v for k, v in outs.items() if k not in ("model", "deployed_model_id")} == {
        k: v for k, v in PROPS.items() if k not in ("__provider", "model", "deployed_model_id")
    }


def test_update_deploys_the_new_model_before_it_retires_the_old_one(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    created = provider.create(dict(PROPS))
    old = created.outs or {}
    updated = provider.update(created.id, {**PROPS, **old}, {**PROPS, "image_uri": NEW_IMAGE}).outs or {}
    calls = api.calls()[2:]

    assert updated["model"] != old["model"] and updated["deployed_model_id"] != old["deployed_model_id"]
    endpoint = endpoint_state(api)
    (deployed,) = endpoint["deployedModels"]
    assert (deployed["id"], deployed["model"]) == (updated["deployed_model_id"], updated["model"])
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}
    assert api.ok("GET", f"/v1/{updated['model']}")["containerSpec"]["imageUri"] == NEW_IMAGE
    status, error = api.get(old["model"])
    assert (status, error["error"]["status"]) == (404, "NOT_FOUND")

    # Blue/green: the new model serves before the old one goes.
    assert calls[:2] == ["POST models:upload", "POST endpoints/4242:deployModel"], calls
    assert calls[-2:] == ["POST endpoints/4242:undeployModel", f"DELETE models/{old['model'].split('/')[-1]}"], calls


def test_delete_undeploys_and_deletes_and_a_second_delete_finds_nothing_to_do(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    created = provider.create(dict(PROPS))
    outs = {**PROPS, **(created.outs or {})}

    provider.delete(created.id, outs)
    endpoint = endpoint_state(api)
    assert "deployedModels" not in endpoint and "trafficSplit" not in endpoint
    assert api.get(outs["model"])[0] == 404

    provider.delete(created.id, outs)  # what is gone stays gone: pulumi destroy converges
    assert endpoint_state(api)["name"] == ENDPOINT


def test_delete_hands_the_traffic_to_the_models_left_on_a_shared_endpoint(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    other = deploy_raw(api, upload_raw(api), traffic={"0": 100})
    created = provider.create(dict(PROPS))
    # "0": 100 overwrote the endpoint's split.
    assert endpoint_state(api)["trafficSplit"] == {(created.outs or {})["deployed_model_id"]: 100}

    provider.delete(created.id, {**PROPS, **(created.outs or {})})
    endpoint = endpoint_state(api)
    assert [d["id"] for d in endpoint["deployedModels"]] == [other]
    assert endpoint["trafficSplit"] == {other: 100}


def test_a_rerun_retires_what_an_interrupted_update_left_but_not_other_models(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    other = deploy_raw(api, upload_raw(api))
    created = provider.create(dict(PROPS))
    old = {**PROPS, **(created.outs or {})}
    # An update that deployed its model and stopped there: Pulumi still records the old one.
    leftover = upload_raw(api, "llm", labels={DEPLOYMENT_LABEL: created.id})
    deploy_raw(api, leftover, traffic={"0": 100})

    rerun = provider.update(created.id, old, {**PROPS, "image_uri": NEW_IMAGE}).outs or {}
    endpoint = endpoint_state(api)
    assert sorted(d["id"] for d in endpoint["deployedModels"]) == sorted([other, rerun["deployed_model_id"]])
    assert {k: v for k, v in endpoint["trafficSplit"].items() if v} == {rerun["deployed_model_id"]: 100}
    assert api.get(old["model"])[0] == api.get(leftover)[0] == 404


# ---------------------------------------------------------------------------------------------
# diff, check
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "changes", "replaces"),
    [
        ({}, False, []),
        ({"__provider": "<another serialization of the same provider>"}, False, []),
        ({"port": 8080}, False, []),  # the same number, as an int
        ({"image_uri": NEW_IMAGE}, True, []),
        ({"env": {"SHARDSTACK_RANKS_HERE": "4"}}, True, []),
        ({"max_replica_count": 5.0}, True, []),
        ({"region": "europe-west4"}, True, ["region"]),
        ({"project": "acme-ml-2"}, True, ["project"]),
        ({"endpoint": f"{LOCATION}/endpoints/7"}, True, ["endpoint"]),
    ],
)
def test_diff_replaces_on_a_new_place_and_updates_in_place_otherwise(
    change: dict[str, Any], changes: bool, replaces: list[str]
) -> None:
    olds = {**PROPS, "model": f"{LOCATION}/models/1", "deployed_model_id": "2"}
    diff = VertexModelDeploymentProvider().diff("id", olds, {**PROPS, **change})
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (changes, replaces, False)


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"image_uri": None}, "image_uri", "image_uri is required"),
        ({"endpoint": "projects/acme-ml/locations/europe-west4/endpoints/1"}, "endpoint", "is not in region"),
        ({"endpoint": "4242"}, "endpoint", "is not projects/*/locations/*/endpoints/*"),
        ({"accelerator_type": "L4"}, "accelerator_type", "'L4' is not one of"),
        ({"max_replica_count": 0.0}, "max_replica_count", "max_replica_count is 0"),
        ({"min_replica_count": 4.0}, "max_replica_count", "below min_replica_count"),
        ({"deployment_timeout_s": 3 * 3600.0}, "deployment_timeout_s", "between 1 and 7200"),
        ({"port": 8080.5}, "port", "8080.5 is not a whole number"),
        ({"startup_probe": {"period_s": 5}}, "startup_probe", "needs a path"),
    ],
)
def test_check_refuses_what_vertex_ai_would_before_any_call(change: dict[str, Any], key: str, reason: str) -> None:
    failures = VertexModelDeploymentProvider().check({}, {**PROPS, **change}).failures
    assert [f.property for f in failures if reason in f.reason] == [key], [(f.property, f.reason) for f in failures]


def test_check_passes_good_inputs_and_leaves_unknown_ones_to_later() -> None:
    from pulumi.runtime import rpc

    provider = VertexModelDeploymentProvider()
    assert provider.check({}, dict(PROPS)).failures == []
    assert provider.check({}, {**PROPS, "endpoint": rpc.UNKNOWN, "port": rpc.UNKNOWN}).failures == []


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def test_an_api_error_names_the_step_the_resource_and_the_apis_message(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    # Past the documented limit of 2 hours (check would refuse it first; the API refuses it too).
    with pytest.raises(VertexDeploymentError) as upload:
        provider.create({**PROPS, "deployment_timeout_s": 3 * 3600.0})
    assert "Vertex AI upload of model 'llm'" in str(upload.value)
    assert "400" in str(upload.value) and "exceeds 2 hours" in str(upload.value)

    missing = f"{LOCATION}/endpoints/999"
    with pytest.raises(VertexDeploymentError) as deploy:
        provider.create({**PROPS, "endpoint": missing})
    assert f"Vertex AI deploy of model {LOCATION}/models/" in str(deploy.value)
    assert f"to {missing} failed: 404" in str(deploy.value)
    assert f"Endpoint {missing} does not exist" in str(deploy.value)
    # The model uploaded for the failed deploy is deleted: Pulumi records nothing of a failed create.
    deleted = [c for c in api.calls() if c.startswith("DELETE models/")]
    assert len(deleted) == 1 and api.get(f"{LOCATION}/{deleted[0].split()[1]}")[0] == 404


def test_a_failure_to_retire_the_old_model_says_the_new_one_is_serving(
    api: FakeApi, provider: VertexModelDeploymentProvider
) -> None:
    created = provider.create(dict(PROPS))
    old = {**PROPS, **(created.outs or {})}
    # Someone deployed the old model on another endpoint too: Vertex AI refuses to delete it.
    elsewhere = f"{LOCATION}/endpoints/77"
    api.ok("POST", "/_fake/endpoints", {"name": elsewhere, "displayName": "elsewhere"})
    deploy_raw(api, old["model"], endpoint=elsewhere)
    with pytest.raises(VertexDeploymentError) as error:
        provider.update(created.id, old, {**PROPS, "image_uri": NEW_IMAGE})
    message = "\n".join([str(error.value), *getattr(error.value, "__notes__", [])])
    assert f"Vertex AI delete of model {old['model']} failed: 400" in message
    assert "is deployed as DeployedModel" in message
    assert "takes all the traffic" in message and "Run `pulumi up` again" in message


# ---------------------------------------------------------------------------------------------
# The fake refuses what Google refuses (so that the tests above can fail)
# ---------------------------------------------------------------------------------------------

UPLOAD = f"/v1/{LOCATION}/models:upload"
DEPLOY = f"/v1/{ENDPOINT}:deployModel"
UNDEPLOY = f"/v1/{ENDPOINT}:undeployModel"
SPEC = {"imageUri": IMAGE, "ports": [{"containerPort": 8080}]}
RESOURCES = {"machineSpec": {"machineType": "g2-standard-24"}, "minReplicaCount": 1}


def bad_requests(model: str, deployed: str) -> list[tuple[str, str, Any, int, str, str]]:
    """(method, path, body, HTTP status, Google's status, part of the message) of requests the API refuses."""
    unknown = f"{LOCATION}/models/31337"
    spec_without_image = {"ports": [{"containerPort": 8080}]}
    port_as_text = {"imageUri": IMAGE, "ports": [{"containerPort": "http"}]}
    no_min_replicas = {"machineSpec": {"machineType": "g2-standard-24"}}
    max_below_min = {**RESOURCES, "minReplicaCount": 3, "maxReplicaCount": 2}

    def upload(**model: Any) -> dict[str, Any]:
        return {"model": {"displayName": "m", "containerSpec": SPEC, **model}}

    def deploy(traffic: dict[str, int] | None = None, **deployed_model: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"deployedModel": {"model": model, "dedicatedResources": RESOURCES, **deployed_model}}
        return body if traffic is None else {**body, "trafficSplit": traffic}

    automatic = deploy(automaticResources={"minReplicaCount": 1})
    del automatic["deployedModel"]["dedicatedResources"]
    return [
        ("POST", UPLOAD, upload(containerSpec={**SPEC, "imageUrl": IMAGE}), 400, "INVALID_ARGUMENT", "imageUrl"),
        ("POST", UPLOAD, {**upload(), "extra": 1}, 400, "INVALID_ARGUMENT", "extra"),
        ("POST", UPLOAD, upload(containerSpec=port_as_text), 400, "INVALID_ARGUMENT", "containerPort"),
        ("POST", UPLOAD, upload(containerSpec=spec_without_image), 400, "INVALID_ARGUMENT",
         "model.containerSpec.imageUri"),
        ("POST", UPLOAD, upload(displayName=""), 400, "INVALID_ARGUMENT", "model.displayName"),
        ("POST", UPLOAD, upload(encryptionSpec={}), 400, "INVALID_ARGUMENT", "model.encryptionSpec.kmsKeyName"),
        ("POST", DEPLOY, deploy({"0": 90}), 400, "INVALID_ARGUMENT", "must add up to 100"),
        ("POST", DEPLOY, deploy({"0": 50, "77": 50}), 400, "INVALID_ARGUMENT", "not DeployedModels of the endpoint"),
        ("POST", DEPLOY, deploy(dedicatedResources=no_min_replicas), 400, "INVALID_ARGUMENT",
         "deployedModel.dedicatedResources.minReplicaCount"),
        ("POST", DEPLOY, deploy(dedicatedResources=max_below_min), 400, "INVALID_ARGUMENT",
         "max_replica_count (2) is less than min_replica_count (3)"),
        ("POST", DEPLOY, automatic, 400, "INVALID_ARGUMENT", "not automatic_resources"),
        ("POST", DEPLOY, deploy(model=unknown), 404, "NOT_FOUND", f"Model {unknown} does not exist"),
        ("POST", UNDEPLOY, {"deployedModelId": deployed, "trafficSplit": {"0": 100}}, 400, "INVALID_ARGUMENT",
         "not DeployedModels of the endpoint"),
        ("POST", UNDEPLOY, {}, 400, "INVALID_ARGUMENT", "deployedModelId"),
        ("DELETE", f"/v1/{model}", None, 400, "FAILED_PRECONDITION", "undeploy it before deleting the model"),
        ("GET", f"/v1/{unknown}", None, 404, "NOT_FOUND", f"Model {unknown} does not exist"),
        ("GET", f"/v1/{LOCATION}/endpoints/1", None, 404, "NOT_FOUND", "does not exist"),
        ("GET", f"/v1/{LOCATION}/models", None, 404, "NOT_FOUND", "was not found"),
    ]  # fmt: skip


def test_the_fake_refuses_what_the_published_api_refuses_in_googles_error_shape(api: FakeApi) -> None:
    model = upload_raw(api, "served")
    deployed = deploy_raw(api, model, traffic={"0": 100})
    before = endpoint_state(api), api.ok("GET", f"/v1/{model}")
    for method, path, body, status, reason, text in bad_requests(model, deployed):
        answer = api.call(method, path, body)
        assert answer[0] == status and set(answer[1]) == {"error"}, (method, path, body, answer)
        error = answer[1]["error"]
        assert set(error) == {"code", "message", "status"} and error["code"] == status, answer
        assert error["status"] == reason and text in error["message"], (method, path, body, answer)
    # Nothing refused changed anything.
    assert (endpoint_state(api), api.ok("GET", f"/v1/{model}")) == before


def test_the_fake_accepts_the_requests_it_refuses_once_they_are_fixed(api: FakeApi) -> None:
    # The refusals above are of the faults, not of the requests' shape.
    body = {"model": {"displayName": "m", "containerSpec": SPEC, "encryptionSpec": {"kmsKeyName": KEY}}}
    model = api.ok("POST", UPLOAD, body)
    assert model["done"] is True
    assert model["response"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse"
    name = model["response"]["model"]
    deployed = deploy_raw(api, name, traffic={"0": 100})
    operation = api.ok("POST", UNDEPLOY, {"deployedModelId": deployed})  # the last one: its traffic goes with it
    assert api.ok("GET", f"/v1/{operation['name']}") == operation
    api.ok("DELETE", f"/v1/{name}")


# ---------------------------------------------------------------------------------------------
# Pulumi's serialization
# ---------------------------------------------------------------------------------------------


def test_the_provider_pickles_as_pulumi_pickles_it_and_still_reaches_the_api(api: FakeApi) -> None:
    provider = VertexModelDeploymentProvider(api_endpoint=api.url, credentials=AnonymousCredentials)
    assert dill.loads(dill.dumps(provider)).__dict__ == provider.__dict__

    serialized = pulumi.dynamic.dynamic.serialize_provider(provider)
    loaded = dill.loads(base64.b64decode(serialized))
    assert isinstance(loaded, VertexModelDeploymentProvider)
    created = loaded.create(dict(PROPS))
    assert endpoint_state(api)["trafficSplit"] == {(created.outs or {})["deployed_model_id"]: 100}
    assert "authorization" not in {h for r in api.requests() for h in r["headers"]}  # anonymous, as given
