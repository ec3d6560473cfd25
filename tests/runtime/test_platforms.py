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
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_harness import API_KEY, REPLY_TEXT, SETTINGS, FakeEngine, assert_openai_error, serve

from shardstack_runtime.http import create_app
from shardstack_runtime.local import free_ports, gpu_sets
from shardstack_runtime.settings import from_env

CHAT = {"model": "fake-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
COMPLETION = {"model": "fake-llama", "prompt": "hi", "max_tokens": 8}
KEY = {"Authorization": f"Bearer {API_KEY}"}
DOCKERFILE = Path(__file__).resolve().parents[2] / "runtime" / "Dockerfile"
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


@pytest.mark.parametrize("ranks", [1, 2], ids=["one-rank", "a-group-in-one-container"])
def test_the_image_starts_as_sagemaker_starts_it(tiny_model_dir: Path, tmp_path: Path, ranks: int) -> None:
    # `docker run <image> serve`: the image's ENTRYPOINT, then the word. Only the env a SageMaker Model of ours sets
    # (with SHARDSTACK_RANKS_HERE, a whole replica group on one instance), plus the address to bind here (tests
    # listen on 127.0.0.1) and free metrics ports.
    declared = re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE.read_text(), re.M)
    assert declared is not None
    entrypoint = json.loads(declared.group(1))
    command = [str(Path(sys.executable).parent / entrypoint[0]), *entrypoint[1:], "serve"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARDSTACK_", "AIP_"))}
    env |= {"SHARDSTACK_PLATFORM": "sagemaker", "SHARDSTACK_MODEL_URI": str(tiny_model_dir), "SHARDSTACK_DTYPE": "fp32",
            "SHARDSTACK_HOST": "127.0.0.1", "SHARDSTACK_METRICS_PORT": str(free_ports(ranks)),
            "SHARDSTACK_RANKS_HERE": str(ranks)}  # fmt: skip
    log = tmp_path / "sagemaker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline, ping = time.monotonic() + 180, 0
        while ping != 200:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                ping = httpx.get(f"{SAGEMAKER_URL}/ping", timeout=2).status_code  # SageMaker's 2 s per ping
            time.sleep(0.2)
        answer = httpx.post(f"{SAGEMAKER_URL}/invocations", json={**COMPLETION, "model": tiny_model_dir.name},
                            headers={"Content-Type": "application/json"}, timeout=60)  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["completion_tokens"] == 8
        assert "as a sagemaker container on http://127.0.0.1:8080" in log.read_text()
        if ranks > 1:
            assert f"ready: {ranks} ranks serving http://127.0.0.1:8080/v1" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
