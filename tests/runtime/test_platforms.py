"""The managed platforms' container contracts (http/platforms.py), with the requests each platform sends.

Each platform's app is served by a real uvicorn over the fake engine of api_harness; the last test starts the
runtime as SageMaker does (the image's entrypoint, then ``serve``; port 8080; only the env our components set).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import API_KEY, REPLY_TEXT, SETTINGS, FakeEngine, assert_openai_error, serve
from storage_emulators import Emulator, azure_emulator, gcs_emulator, s3_emulator  # noqa: F401 (fixtures)

from shardstack.testing import Graph, run_program
from shardstack_runtime.http import create_app
from shardstack_runtime.local import free_ports, gpu_sets
from shardstack_runtime.settings import from_env
from shardstack_runtime.weights.cli import push_checkpoint

CHAT = {"model": "fake-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
COMPLETION = {"model": "fake-llama", "prompt": "hi", "max_tokens": 8}
KEY = {"Authorization": f"Bearer {API_KEY}"}
DOCKERFILE = Path(__file__).resolve().parents[2] / "runtime" / "Dockerfile"
DEPLOYMENT = "pulumi-python:dynamic/shardstack:VertexModelDeployment"
SAGEMAKER_URL = "http://127.0.0.1:8080"
"""SageMaker's contract: the container answers on port 8080."""


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


def _client(engine: FakeEngine, **platform: str) -> Iterator[httpx.Client]:
    app = create_app(engine, SETTINGS.model_copy(update=platform))
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def sagemaker(engine: FakeEngine) -> Iterator[httpx.Client]:
    yield from _client(engine, platform="sagemaker")


@pytest.fixture(scope="module")
def vertex(engine: FakeEngine) -> Iterator[httpx.Client]:
    yield from _client(engine, platform="vertex", health_route="/v1/health", predict_route="/v1/models/m:predict")


@pytest.fixture(scope="module")
def azureml(engine: FakeEngine) -> Iterator[httpx.Client]:
    yield from _client(engine, platform="azureml")


@pytest.fixture(autouse=True)
def ready(engine: FakeEngine) -> None:
    engine.is_ready = True


def test_the_platform_comes_from_our_variable_or_vertex_ais_own_environment() -> None:
    base = {"SHARDSTACK_MODEL_URI": "s3://w/m/"}
    assert from_env(base).platform == "kubernetes" and from_env(base).api_port == 8000
    sagemaker = from_env({**base, "SHARDSTACK_PLATFORM": "sagemaker"})
    assert (sagemaker.platform, sagemaker.api_port) == ("sagemaker", 8080)
    vertex = from_env({**base, "AIP_MODE": "PREDICTION", "AIP_HTTP_PORT": "7080", "AIP_HEALTH_ROUTE": "/h",
                       "AIP_PREDICT_ROUTE": "/v1/endpoints/1/deployedModels/2:predict"})  # fmt: skip
    assert (vertex.platform, vertex.api_port, vertex.health_route) == ("vertex", 7080, "/h")
    assert vertex.predict_route == "/v1/endpoints/1/deployedModels/2:predict"


def test_sagemaker_ping_says_ready_only_once_the_model_serves(sagemaker: httpx.Client, engine: FakeEngine) -> None:
    engine.is_ready = False
    assert sagemaker.get("/ping").status_code == 503  # no key: SageMaker's health checker carries none
    engine.is_ready = True
    ping = sagemaker.get("/ping")
    assert (ping.status_code, ping.content) == (200, b"")


@pytest.mark.parametrize(("body", "kind"), [(CHAT, "chat.completion"), (COMPLETION, "text_completion")])
def test_sagemaker_invocations_dispatch_on_the_bodys_shape(sagemaker: httpx.Client, body: dict, kind: str) -> None:
    # InvokeEndpoint's request: the body, Content-Type and Accept; SageMaker drops other headers but its own.
    headers = {**KEY, "Content-Type": "application/json", "Accept": "application/json",
               "X-Amzn-SageMaker-Custom-Attributes": "trace=1"}  # fmt: skip
    answer = sagemaker.post("/invocations", content=json.dumps(body), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["object"] == kind


def test_sagemaker_streams_when_the_body_asks(sagemaker: httpx.Client) -> None:
    with sagemaker.stream("POST", "/invocations", json={**CHAT, "stream": True}, headers=KEY) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = [line for line in answer.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == REPLY_TEXT


@pytest.mark.parametrize(
    ("body", "param"),
    [({"inputs": "hello"}, "messages"), ({"messages": "hi"}, "messages"), ([CHAT], None)],
    ids=["no-known-shape", "bad-messages", "not-an-object"],
)
def test_a_body_that_fits_no_schema_is_a_400(sagemaker: httpx.Client, body: object, param: str | None) -> None:
    answer = sagemaker.post("/invocations", json=body, headers=KEY)
    assert_openai_error(answer, 400, param)


def test_vertex_health_route_and_predict_instances(vertex: httpx.Client, engine: FakeEngine) -> None:
    engine.is_ready = False
    assert vertex.get("/v1/health").status_code == 503
    engine.is_ready = True
    assert vertex.get("/v1/health").status_code == 200
    # :predict's body: instances, and parameters applied to each.
    body = {"instances": [{"messages": CHAT["messages"]}, {"prompt": "hi"}],
            "parameters": {"model": "fake-llama", "max_tokens": 8}}  # fmt: skip
    answer = vertex.post("/v1/models/m:predict", json=body, headers=KEY)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["object"] for p in predictions] == ["chat.completion", "text_completion"]
    assert predictions[0]["choices"][0]["message"]["content"] == REPLY_TEXT


def test_vertex_raw_predict_passes_an_openai_body_through(vertex: httpx.Client) -> None:
    answer = vertex.post("/v1/models/m:predict", json=CHAT, headers=KEY)
    assert answer.status_code == 200 and answer.json()["object"] == "chat.completion"


def test_vertex_refuses_instances_that_are_not_requests(vertex: httpx.Client) -> None:
    assert_openai_error(vertex.post("/v1/models/m:predict", json={"instances": []}, headers=KEY), 400, "instances")
    bad = vertex.post("/v1/models/m:predict", json={"instances": ["hi"]}, headers=KEY)
    assert_openai_error(bad, 400, "instances[0]")


def test_azureml_scoring_route_and_probes(azureml: httpx.Client, engine: FakeEngine) -> None:
    engine.is_ready = False
    assert azureml.get("/health").status_code == 200  # liveness: the process
    assert azureml.get("/ready").status_code == 503  # readiness: the model
    engine.is_ready = True
    assert azureml.get("/ready").status_code == 200
    answer = azureml.post("/", json=COMPLETION, headers=KEY)
    assert answer.status_code == 200 and answer.json()["choices"][0]["text"] == REPLY_TEXT
    # The OpenAI routes stay as they are.
    assert azureml.post("/v1/completions", json=COMPLETION, headers=KEY).status_code == 200


def test_each_rank_of_a_group_in_one_container_gets_its_own_gpus() -> None:
    assert gpu_sets(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert gpu_sets(8, 3) == [[0, 1], [2, 3], [4, 5]]  # an equal share; the rest stay idle
    assert gpu_sets(1, 2) is None  # fewer GPUs than ranks: they run on the CPUs


def test_kubernetes_has_no_platform_routes(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=KEY) as client:
        assert client.get("/ping").status_code == 404
        assert client.post("/invocations", json=CHAT).status_code == 404


@dataclass(frozen=True)
class Started:
    """A platform's container as our component configures it: its env, and where the platform talks to it."""

    env: dict[str, str]
    health_url: str
    predict_url: str
    body: Callable[[str], dict[str, Any]]
    """The body of one prediction request as the platform sends it, for the served model's name."""
    answer: Callable[[dict[str, Any]], dict[str, Any]]
    """The completion inside the platform's response."""


def _component(component: Callable[[], Any], resource_type: str) -> Graph:
    graph = run_program(component)
    assert graph.of_type(resource_type)
    return graph


def as_sagemaker_starts_it(model_uri: str, shards: int) -> Started:
    """SageMakerEndpoint's Model: the env it sets; SageMaker sends GET /ping and POST /invocations to port 8080."""
    from shardstack.aws.sagemaker_endpoint import SageMakerEndpoint

    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shardstack/runtime:0.1.0"
    args = {"gpu": "l4", "image": image, "model_uri": model_uri, "dtype": "fp32", "shards": shards}
    model = _component(lambda: SageMakerEndpoint("llm", args), "aws:sagemaker/model:Model")  # type: ignore[arg-type]
    env = model.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["environment"]
    return Started(
        env, f"{SAGEMAKER_URL}/ping", f"{SAGEMAKER_URL}/invocations", lambda name: {**COMPLETION, "model": name}, dict
    )


def as_vertex_starts_it(model_uri: str, shards: int) -> Started:
    """VertexEndpoint's deployment: the env it sets, plus the AIP_* variables Vertex AI sets from its container spec
    (port and routes); Vertex AI sends GET to the health route and {"instances": [...]} to the predict route."""
    from shardstack.gcp.vertex_endpoint import VertexEndpoint

    image = "us-central1-docker.pkg.dev/acme/shardstack/runtime:0.1.0"
    args = {"gpu": "l4", "region": "us-central1", "image": image, "model_uri": model_uri, "dtype": "fp32",
            "shards": shards}  # fmt: skip
    graph = _component(lambda: VertexEndpoint("llm", args), DEPLOYMENT)  # type: ignore[arg-type]
    spec = graph.one(DEPLOYMENT).inputs
    url = f"http://127.0.0.1:{spec['port']}"
    env = {**spec["env"], "AIP_MODE": "PREDICTION", "AIP_HTTP_PORT": str(spec["port"]),
           "AIP_HEALTH_ROUTE": spec["health_route"], "AIP_PREDICT_ROUTE": spec["predict_route"]}  # fmt: skip
    return Started(
        env,
        url + spec["health_route"],
        url + spec["predict_route"],
        lambda name: {"instances": [{"model": name, "prompt": "hi"}], "parameters": {"max_tokens": 8}},
        lambda response: response["predictions"][0],
    )


def as_azureml_starts_it(model_uri: str, shards: int) -> Started:
    """MlOnlineEndpoint's deployment: the env it sets; Azure ML probes the environment's readiness route and posts
    to its scoring route, on the port the routes name."""
    from shardstack.azure.ml_online_endpoint import MlOnlineEndpoint

    ids = "/subscriptions/0/resourceGroups/llm/providers"
    args = {"gpu": "t4", "resource_group_name": "llm", "location": "eastus", "image": "llmacr.azurecr.io/rt:1",
            "registry_id": f"{ids}/Microsoft.ContainerRegistry/registries/llmacr", "model_uri": model_uri,
            "weights_account_id": f"{ids}/Microsoft.Storage/storageAccounts/w", "dtype": "fp32",
            "shards": shards}  # fmt: skip
    kinds = "azure-native:machinelearningservices"
    graph = _component(lambda: MlOnlineEndpoint("llm", args), f"{kinds}:OnlineDeployment")  # type: ignore[arg-type]
    env = graph.one(f"{kinds}:OnlineDeployment").inputs["properties"]["environmentVariables"]
    routes = graph.one(f"{kinds}:EnvironmentVersion").inputs["properties"]["inferenceConfig"]

    def url(route: str) -> str:
        return f"http://127.0.0.1:{routes[route]['port']}{routes[route]['path']}"

    return Started(env, url("readinessRoute"), url("scoringRoute"), lambda name: {**CHAT, "model": name}, dict)


PLATFORM_STARTS = {"sagemaker": as_sagemaker_starts_it, "vertex": as_vertex_starts_it, "azureml": as_azureml_starts_it}
EMULATORS = {"sagemaker": "s3_emulator", "vertex": "gcs_emulator", "azureml": "azure_emulator"}
"""Where each platform's instances read weights from: its cloud's object storage, here an emulator of it."""


# aiohttp (under gcsfs and adlfs) warns that a tokenizer file's bytes are a large body to send at once.
@pytest.mark.filterwarnings("ignore:Sending a large body directly with raw bytes:ResourceWarning")
@pytest.mark.parametrize(
    ("platform", "ranks"),
    [("sagemaker", 1), ("sagemaker", 2), ("vertex", 2), ("azureml", 1)],
    ids=["sagemaker", "sagemaker-a-group-in-one-container", "vertex-a-group", "azureml"],
)
def test_the_image_starts_as_each_platform_starts_it(
    tiny_model_dir: Path,
    tmp_path: Path,
    platform: str,
    ranks: int,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The image's ENTRYPOINT with `serve` after it (`docker run <image> serve`, as SageMaker starts a container),
    # with exactly the env our component gives the platform's container: a whole replica group of `ranks` on one
    # instance, the weights in the cloud's object storage. Besides it, only what points this machine's process at
    # its stand-ins: the storage emulator (in the cloud, the endpoint's identity), the address to bind (tests listen
    # on 127.0.0.1) and free metrics ports.
    store: Emulator = request.getfixturevalue(EMULATORS[platform])
    store.apply(monkeypatch)
    name = f"{platform}-{ranks}"
    model_uri = store.uri(f"{name}/")
    push_checkpoint(str(tiny_model_dir), model_uri, progress=False)
    started = PLATFORM_STARTS[platform](model_uri, ranks)
    declared = re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE.read_text(), re.M)
    assert declared is not None
    entrypoint = json.loads(declared.group(1))
    command = [str(Path(sys.executable).parent / entrypoint[0]), *entrypoint[1:], "serve"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARDSTACK_", "AIP_"))}
    env |= started.env
    env |= {"SHARDSTACK_HOST": "127.0.0.1", "SHARDSTACK_METRICS_PORT": str(free_ports(ranks))}
    log = tmp_path / f"{platform}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline, health = time.monotonic() + 180, 0
        while health != 200:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(started.health_url, timeout=2).status_code  # SageMaker's 2 s per ping
            time.sleep(0.2)
        answer = httpx.post(started.predict_url, json=started.body(name), timeout=60)
        assert answer.status_code == 200, answer.text
        assert started.answer(answer.json())["usage"]["completion_tokens"] == 8
        port = started.predict_url.split(":")[2].split("/")[0]
        assert f"as a {platform} container on http://127.0.0.1:{port}" in log.read_text()
        if ranks > 1:
            assert f"ready: {ranks} ranks serving" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
