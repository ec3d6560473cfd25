"""The OpenAI-compatible API, served by a real uvicorn on 127.0.0.1 and called with the official client.

The engine is a fake that implements generation.Engine with a one-token-per-character tokenizer
and a scripted reply, so these tests need no torch model. Its behaviour is chosen by the prompt:
``[slow]`` streams thousands of tokens 20 ms apart, ``[abort]`` ends with finish_reason "abort",
``[crash]`` raises mid-generation, ``[eos-event]`` ends with a separate token-less event.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from shardstack_runtime.api import create_app
from shardstack_runtime.generation import (
    ChatTokenizer,
    EngineStats,
    EngineUnavailableError,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    SamplingParams,
)
from shardstack_runtime.metrics import Metrics
from shardstack_runtime.server_settings import ServerSettings

API_KEY = "sk-shardstack-test"
MODEL = "fake-llama"
MAX_MODEL_LEN = 256
REPLY = ("Hello", ",", " world", "!", " I", " am", " fake", ".")
REPLY_TEXT = "".join(REPLY)
BOS = 1
SLOW_TOKEN_S = 0.02


class FakeTokenizer:
    """One token per character (code point + 3); BOS is 1. The chat template writes its own "<s>"."""

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        return ([BOS] if add_special_tokens else []) + [ord(c) + 3 for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i - 3) for i in ids if i >= 3)

    def apply_chat_template(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        if any(m["content"] == "[reject]" for m in messages):
            raise ValueError("Conversation roles must alternate user/assistant/user/assistant/...")
        text = "<s>" + "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
        return text + "<|assistant|>" if add_generation_prompt else text


class FakeEngine:
    """A scripted engine: deterministic replies, and a record of what it was asked and what it aborted."""

    model_name = MODEL
    max_model_len = MAX_MODEL_LEN

    def __init__(self) -> None:
        self.tokenizer: ChatTokenizer = FakeTokenizer()
        self.is_ready = True
        self.requests: list[GenerationRequest] = []
        self.aborted: list[str] = []
        self.running = 0
        self.peak_running = 0

    @property
    def ready(self) -> bool:
        return self.is_ready

    def stats(self) -> EngineStats:
        return EngineStats(running=self.running, waiting=0, extra={"kv_cache_usage_perc": 0.25})

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        self.requests.append(request)
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        prompt = FakeTokenizer().decode(request.prompt_token_ids)
        scheduled = time.monotonic()
        pieces: Sequence[str] = [" tick"] * 10_000 if "[slow]" in prompt else REPLY
        delay = SLOW_TOKEN_S if "[slow]" in prompt else 0.0
        budget = request.params.max_tokens
        # The reply ends with EOS after its last piece, if max_tokens leaves room for it.
        finish: FinishReason = "stop" if len(pieces) < budget else "length"
        if "[abort]" in prompt:
            finish = "abort"
        separate_end = "[eos-event]" in prompt
        emitted = pieces[:budget]

        def event(i: int, token: int | None, text: str, reason: FinishReason | None) -> GenerationEvent:
            return GenerationEvent(
                request_id=request.request_id,
                token_id=token,
                text=text,
                finish_reason=reason,
                prompt_tokens=len(request.prompt_token_ids),
                completion_tokens=i,
                first_scheduled_time=scheduled if i <= 1 else None,
            )

        try:
            for i, piece in enumerate(emitted, start=1):
                await asyncio.sleep(delay)
                if "[crash]" in prompt and i == 3:
                    raise RuntimeError("CUDA error: an illegal memory access was encountered")
                if "[unavailable]" in prompt:
                    raise EngineUnavailableError("the waiting queue is full")
                last = i == len(emitted)
                yield event(i, 100 + i, piece, finish if last and not separate_end else None)
            if separate_end:
                yield event(len(emitted), None, "", finish)
        except (asyncio.CancelledError, GeneratorExit):
            self.aborted.append(request.request_id)
            raise
        finally:
            self.running -= 1


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free 127.0.0.1 port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([^\s{]+)(?:\{(.*)\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


# ---------------------------------------------------------------------------------------------
# Fixtures: one server for the module, clients per test
# ---------------------------------------------------------------------------------------------

SETTINGS = ServerSettings(api_key=SecretStr(API_KEY), max_tokens_limit=128, max_n=4, max_body_bytes=64 * 1024)


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def app(engine: FakeEngine) -> FastAPI:
    return create_app(engine, SETTINGS)


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(autouse=True)
def engine_ready(engine: FakeEngine) -> None:
    engine.is_ready = True


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as c:
        yield c


def assert_openai_error(response: httpx.Response, status: int, param: str | None, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["type"] in ("invalid_request_error", "server_error"), error
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def good_completion(client: openai.OpenAI) -> None:
    response = client.completions.create(model=MODEL, prompt="still there?", max_tokens=4)
    assert response.choices[0].text == "".join(REPLY[:4])


# ---------------------------------------------------------------------------------------------
# Probes, models, metrics
# ---------------------------------------------------------------------------------------------


def test_health_is_open_and_ready_follows_the_engine(base_url: str, engine: FakeEngine, client: openai.OpenAI) -> None:
    engine.is_ready = False
    with httpx.Client(base_url=base_url) as anonymous:  # probes carry no key
        assert anonymous.get("/health").status_code == 200
        assert_openai_error(anonymous.get("/ready"), 503, None, "model_not_ready")
        with pytest.raises(openai.InternalServerError) as excinfo:
            client.completions.create(model=MODEL, prompt="too early")
        assert excinfo.value.status_code == 503
        engine.is_ready = True
        ready = anonymous.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_models_and_openapi(client: openai.OpenAI, http: httpx.Client) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/completions", "/v1/chat/completions", "/v1/models"} <= set(paths)
    card = client.models.retrieve(MODEL)
    assert card.id == MODEL and card.owned_by == "shardstack"
    assert card.model_extra == {"max_model_len": MAX_MODEL_LEN}
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


VLLM_METRICS = (
    "vllm:time_to_first_token_seconds_count",
    "vllm:inter_token_latency_seconds_count",
    "vllm:time_per_output_token_seconds_count",
    "vllm:request_time_per_output_token_seconds_count",
    "vllm:e2e_request_latency_seconds_count",
    "vllm:request_queue_time_seconds_count",
    "vllm:request_inference_time_seconds_count",
    "vllm:request_prefill_time_seconds_count",
    "vllm:request_decode_time_seconds_count",
    "vllm:request_prompt_tokens_count",
    "vllm:request_generation_tokens_count",
    "vllm:request_params_max_tokens_count",
)


def test_metrics_names_and_counters_move(
    base_url: str, app: FastAPI, engine: FakeEngine, client: openai.OpenAI
) -> None:
    app.state.metrics.record_weights_load(seconds=2.5, num_bytes=270_000_000)
    with httpx.Client(base_url=base_url) as anonymous:  # Prometheus carries no key
        before = anonymous.get("/metrics").text
        client.completions.create(model=MODEL, prompt="abc")  # 4 prompt tokens with BOS, 8 generated
        for _ in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True):
            pass
        response = anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    chat_prompt = len(
        FakeTokenizer().encode(
            FakeTokenizer().apply_chat_template([{"role": "user", "content": "hi"}]), add_special_tokens=False
        )
    )
    labels = {"model_name": MODEL}
    assert (
        metric(after, "vllm:prompt_tokens_total", **labels) - metric(before, "vllm:prompt_tokens_total", **labels)
        == 4 + chat_prompt
    )
    assert metric(after, "vllm:generation_tokens_total", **labels) - metric(
        before, "vllm:generation_tokens_total", **labels
    ) == 2 * len(REPLY)
    success = {"finished_reason": "stop", **labels}
    assert (
        metric(after, "vllm:request_success_total", **success) - metric(before, "vllm:request_success_total", **success)
        == 2
    )
    for name in VLLM_METRICS:
        assert metric(after, name, **labels) - metric(before, name, **labels) >= 2, name
    # 7 gaps between 8 tokens, for each of the two requests
    assert (
        metric(after, "vllm:inter_token_latency_seconds_count", **labels)
        - metric(before, "vllm:inter_token_latency_seconds_count", **labels)
        == 14
    )
    assert metric(after, "vllm:num_requests_running", **labels) == engine.running == 0
    assert "vllm:num_requests_waiting{" in after
    assert metric(after, "shardstack_engine_stat", stat="kv_cache_usage_perc") == 0.25
    assert metric(after, "shardstack_weights_load_seconds", **labels) == 2.5
    assert metric(after, "shardstack_weights_load_bytes", **labels) == 270_000_000
    assert metric(after, "shardstack_http_requests_total", route="/v1/completions", method="POST", status="200") >= 1


def test_metrics_have_their_own_registry_and_port() -> None:
    first, second = Metrics("a"), Metrics("b")  # no clash: nothing goes to prometheus_client's global registry
    first.record_weights_load(1.0, 10)
    assert b"shardstack_weights_load_bytes" in first.render()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, thread = second.serve(port, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b'vllm:prompt_tokens_total{model_name="b"} 0.0' in response.read()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# Completions and chat, through the official client
# ---------------------------------------------------------------------------------------------


def test_completion(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.completions.create(model=MODEL, prompt="Say hi")
    assert response.id.startswith("cmpl-") and response.object == "text_completion"
    assert response.model == MODEL
    [choice] = response.choices
    assert (choice.index, choice.text, choice.finish_reason) == (0, REPLY_TEXT, "stop")
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (7, 8, 15)
    request = engine.requests[-1]
    assert list(request.prompt_token_ids) == FakeTokenizer().encode("Say hi")
    assert request.params == SamplingParams(max_tokens=16)  # OpenAI's defaults
    assert request.request_id.startswith(response.id)


def test_completion_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(model=MODEL, prompt="Say hi", stream=True, stream_options={"include_usage": True})
    )
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("cmpl-")
    text = "".join(choice.text for c in chunks for choice in c.choices)
    assert text == REPLY_TEXT
    finishes = [choice.finish_reason for c in chunks for choice in c.choices if choice.finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8 and chunks[-1].usage.prompt_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])


def test_chat(client: openai.OpenAI, engine: FakeEngine) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "hi"}]},
    ]
    response = client.chat.completions.create(model=MODEL, messages=messages, user="alice")
    assert response.id.startswith("chatcmpl-") and response.object == "chat.completion"
    [choice] = response.choices
    assert choice.message.role == "assistant" and choice.message.content == REPLY_TEXT
    assert choice.finish_reason == "stop"
    tokenizer = FakeTokenizer()
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say\nhi"}]
    )
    # The template wrote "<s>" itself: encoding adds no second BOS.
    expected = tokenizer.encode(rendered, add_special_tokens=False)
    assert list(engine.requests[-1].prompt_token_ids) == expected
    assert response.usage is not None and response.usage.prompt_tokens == len(expected)
    # No max_tokens: as many as fit, up to the server's limit.
    assert engine.requests[-1].params.max_tokens == min(128, MAX_MODEL_LEN - len(expected))


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(choice.delta.content or "" for c in chunks for choice in c.choices)
    assert text == REPLY_TEXT
    assert [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8


def test_developer_role_is_rendered_as_system(client: openai.OpenAI, engine: FakeEngine) -> None:
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}]
    )
    assert FakeTokenizer().decode(engine.requests[-1].prompt_token_ids).startswith("<s><|system|>x\n")


def test_n_choices_with_seed(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], n=3, seed=7)
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert all(c.message.content == REPLY_TEXT for c in response.choices)
    assert [r.params.seed for r in engine.requests[-3:]] == [7, 8, 9]
    assert response.usage is not None
    assert response.usage.completion_tokens == 3 * 8
    assert response.usage.prompt_tokens == len(engine.requests[-1].prompt_token_ids)  # the prompt counts once


def test_n_choices_stream(client: openai.OpenAI) -> None:
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in client.completions.create(model=MODEL, prompt="hi", n=2, stream=True):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: REPLY_TEXT, 1: REPLY_TEXT}
    assert finishes == {0: "stop", 1: "stop"}


def test_batch_of_prompts(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.completions.create(model=MODEL, prompt=["a", "bc"], n=2, max_tokens=2)
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    prompts = [FakeTokenizer().decode(r.prompt_token_ids) for r in engine.requests[-4:]]
    assert prompts == ["a", "a", "bc", "bc"]
    assert response.usage is not None and response.usage.prompt_tokens == 2 + 3


def test_token_id_prompt(client: openai.OpenAI, engine: FakeEngine) -> None:
    client.completions.create(model=MODEL, prompt=[5, 6, 7], max_tokens=1)
    assert list(engine.requests[-1].prompt_token_ids) == [5, 6, 7]


def test_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="hi", max_tokens=3)
    assert completion.choices[0].text == "Hello, world" and completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    chat = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=2
    )
    assert chat.choices[0].message.content == "Hello," and chat.choices[0].finish_reason == "length"


def test_token_less_final_event(client: openai.OpenAI) -> None:
    response = client.completions.create(model=MODEL, prompt="[eos-event]")
    assert response.choices[0].text == REPLY_TEXT and response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.completion_tokens == 8


def test_sampling_parameters_reach_the_engine(client: openai.OpenAI, engine: FakeEngine) -> None:
    client.completions.create(
        model=MODEL,
        prompt="hi",
        max_tokens=5,
        temperature=0.5,
        top_p=0.9,
        seed=3,
        stop=["x", "y"],
        extra_body={"top_k": 40, "stop_token_ids": [2], "ignore_eos": True},
    )
    assert engine.requests[-1].params == SamplingParams(
        max_tokens=5,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        seed=3,
        stop=("x", "y"),
        stop_token_ids=(2,),
        ignore_eos=True,
    )
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], top_p=0.0, stop="\n", extra_body={"top_k": -1}
    )
    params = engine.requests[-1].params
    assert (params.temperature, params.top_p, params.top_k, params.stop) == (0.0, 1.0, 0, ("\n",))


def test_many_concurrent_streams_run_together(base_url: str, engine: FakeEngine) -> None:
    async def one(client: openai.AsyncOpenAI) -> str:
        stream = await client.completions.create(model=MODEL, prompt="[slow]", max_tokens=10, stream=True)
        return "".join([choice.text async for chunk in stream for choice in chunk.choices])

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30) as client:
            return await asyncio.gather(*(one(client) for _ in range(32)))

    engine.peak_running = 0
    texts = asyncio.run(run())
    assert texts == [" tick" * 10] * 32
    assert engine.peak_running == 32  # every request was in the engine at once: nothing serialized them


# ---------------------------------------------------------------------------------------------
# Access control
# ---------------------------------------------------------------------------------------------


def test_api_key_required_accepted_and_rejected(base_url: str) -> None:
    with (
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as excinfo,
    ):
        wrong.models.list()
    assert excinfo.value.code == "invalid_api_key"
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0) as right:
        assert [m.id for m in right.models.list()] == [MODEL]
    with httpx.Client(base_url=base_url) as anonymous:
        for path in ("/v1/models", "/v1/models/" + MODEL):
            response = anonymous.get(path)
            assert_openai_error(response, 401, None, "invalid_api_key")
            assert response.headers["www-authenticate"].startswith("Bearer")
        body = {"model": MODEL, "prompt": "hi"}
        assert_openai_error(anonymous.post("/v1/completions", json=body), 401, None, "invalid_api_key")
        assert_openai_error(
            anonymous.post("/v1/completions", json=body, headers={"Authorization": f"Basic {API_KEY}"}),
            401,
            None,
            "invalid_api_key",
        )
        assert_openai_error(
            anonymous.post("/v1/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}x"}),
            401,
            None,
            "invalid_api_key",
        )
        # An unauthenticated oversized body is refused for the key, before its size matters.
        assert_openai_error(anonymous.post("/v1/completions", content=b"x" * 100_000), 401, None)
        for path in ("/health", "/ready", "/metrics"):
            assert anonymous.get(path).status_code == 200, path


def test_settings_open_api_model_alias_cors_and_shared_metrics() -> None:
    engine = FakeEngine()
    metrics = Metrics("alias")
    settings = ServerSettings(model_name="alias", cors_allow_origins=("https://ui.example",))
    app = create_app(engine, settings, metrics=metrics)
    assert app.state.metrics is metrics and app.state.engine is engine and app.state.settings is settings
    with serve(app) as url, httpx.Client(base_url=url) as anonymous:
        models = anonymous.get("/v1/models")  # no key configured: no key needed
        assert [m["id"] for m in models.json()["data"]] == ["alias"]
        ok = anonymous.post("/v1/completions", json={"model": "alias", "prompt": "hi", "max_tokens": 1})
        assert ok.status_code == 200 and ok.json()["model"] == "alias"
        no_model = anonymous.post("/v1/completions", json={"prompt": "hi", "max_tokens": 1})
        assert no_model.status_code == 200  # model may be left out: there is one
        assert_openai_error(
            anonymous.post("/v1/completions", json={"model": MODEL, "prompt": "hi"}), 404, "model", "model_not_found"
        )
        preflight = anonymous.options(
            "/v1/chat/completions",
            headers={
                "Origin": "https://ui.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
        assert b'vllm:generation_tokens_total{model_name="alias"} 2.0' in metrics.render()


# ---------------------------------------------------------------------------------------------
# Malformed requests: 4xx in OpenAI's error shape naming the field, and the server keeps serving
# ---------------------------------------------------------------------------------------------

C = "/v1/completions"
CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]


def _completion(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": "hi", **fields}


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": USER, **fields}


# (route, JSON body or raw bytes, status, param, code or None)
MALFORMED: dict[str, tuple[str, Any, int, str | None, str | None]] = {
    "invalid JSON": (C, b'{"model": "fake-llama", "prompt": ', 400, None, "invalid_json"),
    "JSON array body": (C, b"[1, 2]", 400, None, "invalid_json"),
    "JSON string body": (C, b'"hello"', 400, None, "invalid_json"),
    "NaN temperature": (C, b'{"prompt": "hi", "temperature": NaN}', 400, "temperature", "invalid_value"),
    "too deeply nested": (C, b'{"prompt": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, None, None),
    "missing prompt": (C, {"model": MODEL}, 400, "prompt", "missing_required_parameter"),
    "prompt a number": (C, _completion(prompt=5), 400, "prompt", "invalid_type"),
    "prompt an object": (C, _completion(prompt={"text": "hi"}), 400, "prompt", "invalid_type"),
    "prompt mixed array": (C, _completion(prompt=[1, "a"]), 400, "prompt", "invalid_type"),
    "prompt empty array": (C, _completion(prompt=[]), 400, "prompt", "invalid_value"),
    "prompt empty token array": (C, _completion(prompt=[[1], []]), 400, "prompt", "invalid_value"),
    "prompt negative token id": (C, _completion(prompt=[3, -1]), 400, "prompt", "invalid_value"),
    "prompt booleans": (C, _completion(prompt=[True, False]), 400, "prompt", "invalid_type"),
    "max_tokens zero": (C, _completion(max_tokens=0), 400, "max_tokens", "invalid_value"),
    "max_tokens negative": (C, _completion(max_tokens=-5), 400, "max_tokens", "invalid_value"),
    "max_tokens a string": (C, _completion(max_tokens="10"), 400, "max_tokens", "invalid_type"),
    "max_tokens a float": (C, _completion(max_tokens=1.5), 400, "max_tokens", "invalid_type"),
    "max_tokens over the limit": (C, _completion(max_tokens=100_000), 400, "max_tokens", "invalid_value"),
    "prompt over the context": (C, _completion(prompt="x" * 300), 400, "prompt", "context_length_exceeded"),
    "prompt plus max_tokens over the context": (
        C,
        _completion(prompt="x" * 200, max_tokens=100),
        400,
        "max_tokens",
        "context_length_exceeded",
    ),
    "temperature too high": (C, _completion(temperature=2.5), 400, "temperature", "invalid_value"),
    "temperature negative": (C, _completion(temperature=-0.1), 400, "temperature", "invalid_value"),
    "temperature a string": (C, _completion(temperature="hot"), 400, "temperature", "invalid_type"),
    "top_p above 1": (C, _completion(top_p=1.5), 400, "top_p", "invalid_value"),
    "top_k below -1": (C, _completion(top_k=-2), 400, "top_k", "invalid_value"),
    "n zero": (C, _completion(n=0), 400, "n", "invalid_value"),
    "n over the limit": (C, _completion(n=5), 400, "n", "invalid_value"),
    "n a string": (C, _completion(n="2"), 400, "n", "invalid_type"),
    "batch over the choice limit": (C, _completion(prompt=["a", "b", "c"], n=2), 400, "prompt", "invalid_value"),
    "stream a string": (C, _completion(stream="yes"), 400, "stream", "invalid_type"),
    "stream an integer": (C, _completion(stream=1), 400, "stream", "invalid_type"),
    "stream_options without stream": (
        C,
        _completion(stream_options={"include_usage": True}),
        400,
        "stream_options",
        "invalid_value",
    ),
    "stream_options.include_usage a string": (
        C,
        _completion(stream=True, stream_options={"include_usage": "y"}),
        400,
        "stream_options.include_usage",
        "invalid_type",
    ),
    "five stop sequences": (C, _completion(stop=["a", "b", "c", "d", "e"]), 400, "stop", "invalid_value"),
    "stop numbers": (C, _completion(stop=[1, 2]), 400, "stop", "invalid_type"),
    "stop empty string": (C, _completion(stop=[""]), 400, "stop", "invalid_value"),
    "stop_token_ids negative": (C, _completion(stop_token_ids=[-1]), 400, "stop_token_ids", "invalid_value"),
    "seed a string": (C, _completion(seed="abc"), 400, "seed", "invalid_type"),
    "seed beyond int64": (C, _completion(seed=2**70), 400, "seed", "invalid_value"),
    "logprobs": (C, _completion(logprobs=1), 400, "logprobs", "unsupported_parameter"),
    "echo": (C, _completion(echo=True), 400, "echo", "unsupported_parameter"),
    "suffix": (C, _completion(suffix="end"), 400, "suffix", "unsupported_parameter"),
    "best_of above n": (C, _completion(best_of=3), 400, "best_of", "unsupported_parameter"),
    "presence_penalty": (C, _completion(presence_penalty=0.5), 400, "presence_penalty", "unsupported_parameter"),
    "logit_bias": (C, _completion(logit_bias={"50256": -100}), 400, "logit_bias", "unsupported_parameter"),
    "user a number": (C, _completion(user=5), 400, "user", "invalid_type"),
    "unknown model": (C, _completion(model="gpt-4o"), 404, "model", "model_not_found"),
    "model a number": (C, _completion(model=123), 400, "model", "invalid_type"),
    "missing messages": (CHAT, {"model": MODEL}, 400, "messages", "missing_required_parameter"),
    "empty messages": (CHAT, _chat(messages=[]), 400, "messages", "invalid_value"),
    "messages a string": (CHAT, _chat(messages="hi"), 400, "messages", "invalid_type"),
    "message a string": (CHAT, _chat(messages=["hi"]), 400, "messages[0]", "invalid_type"),
    "unknown role": (
        CHAT,
        _chat(messages=[{"role": "robot", "content": "hi"}]),
        400,
        "messages[0].role",
        "invalid_value",
    ),
    "tool role": (
        CHAT,
        _chat(messages=[*USER, {"role": "tool", "content": "42"}]),
        400,
        "messages[1].role",
        "invalid_value",
    ),
    "missing role": (CHAT, _chat(messages=[{"content": "hi"}]), 400, "messages[0].role", "missing_required_parameter"),
    "missing content": (
        CHAT,
        _chat(messages=[{"role": "user"}]),
        400,
        "messages[0].content",
        "missing_required_parameter",
    ),
    "content a number": (
        CHAT,
        _chat(messages=[{"role": "user", "content": 5}]),
        400,
        "messages[0].content",
        "invalid_type",
    ),
    "content null": (
        CHAT,
        _chat(messages=[{"role": "user", "content": None}]),
        400,
        "messages[0].content",
        "invalid_type",
    ),
    "image content part": (
        CHAT,
        _chat(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}],
                }
            ]
        ),
        400,
        "messages[0].content",
        "unsupported_parameter",
    ),
    "text part without text": (
        CHAT,
        _chat(messages=[{"role": "user", "content": [{"type": "text"}]}]),
        400,
        "messages[0].content",
        "invalid_type",
    ),
    "template rejects the messages": (
        CHAT,
        _chat(messages=[{"role": "user", "content": "[reject]"}]),
        400,
        "messages",
        "invalid_value",
    ),
    "chat over the context": (
        CHAT,
        _chat(messages=[{"role": "user", "content": "x" * 300}]),
        400,
        "messages",
        "context_length_exceeded",
    ),
    "max_completion_tokens zero": (CHAT, _chat(max_completion_tokens=0), 400, "max_completion_tokens", "invalid_value"),
    "max_completion_tokens over the limit": (
        CHAT,
        _chat(max_completion_tokens=129),
        400,
        "max_completion_tokens",
        "invalid_value",
    ),
    "chat n over the limit": (CHAT, _chat(n=9), 400, "n", "invalid_value"),
    "tools": (
        CHAT,
        _chat(tools=[{"type": "function", "function": {"name": "f"}}]),
        400,
        "tools",
        "unsupported_parameter",
    ),
    "tool_choice required": (CHAT, _chat(tool_choice="required"), 400, "tool_choice", "unsupported_parameter"),
    "chat logprobs": (CHAT, _chat(logprobs=True), 400, "logprobs", "unsupported_parameter"),
    "top_logprobs": (CHAT, _chat(top_logprobs=3), 400, "top_logprobs", "unsupported_parameter"),
    "JSON mode": (
        CHAT,
        _chat(response_format={"type": "json_object"}),
        400,
        "response_format",
        "unsupported_parameter",
    ),
    "unknown response_format": (
        CHAT,
        _chat(response_format={"type": "yaml"}),
        400,
        "response_format.type",
        "invalid_value",
    ),
}


@pytest.mark.parametrize("case", MALFORMED.keys())
def test_malformed_request_is_a_4xx_naming_the_field(case: str, http: httpx.Client, client: openai.OpenAI) -> None:
    path, body, status, param, code = MALFORMED[case]
    if isinstance(body, bytes):
        response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = http.post(path, json=body)
    assert_openai_error(response, status, param, code)
    good_completion(client)


def test_at_least_thirty_malformed_shapes() -> None:
    assert len(MALFORMED) >= 30


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nowhere", 404), ("GET", "/v1/completions", 405), ("DELETE", "/v1/models", 405)],
)
def test_unknown_routes_and_methods(http: httpx.Client, method: str, path: str, status: int) -> None:
    assert_openai_error(http.request(method, path), status, None)


def test_body_not_sent_as_json(http: httpx.Client, client: openai.OpenAI) -> None:
    response = http.post(C, content=json.dumps(_completion()), headers={"Content-Type": "text/plain"})
    assert_openai_error(response, 400, None, "invalid_json")
    no_type = http.post(C, content=json.dumps(_completion(max_tokens=1)), headers={"Content-Type": ""})
    assert no_type.status_code == 200  # curl -d without -H: still JSON
    good_completion(client)


def test_oversized_body_is_413_before_parsing(http: httpx.Client, client: openai.OpenAI) -> None:
    huge = json.dumps(_completion(prompt="x" * 80_000)).encode()
    assert len(huge) > SETTINGS.max_body_bytes
    assert_openai_error(
        http.post(C, content=huge, headers={"Content-Type": "application/json"}), 413, None, "request_too_large"
    )

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for i in range(0, len(huge), 16 * 1024):
            yield huge[i : i + 16 * 1024]

    response = http.post(C, content=chunked(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_openai_error(response, 413, None, "request_too_large")
    good_completion(client)


# ---------------------------------------------------------------------------------------------
# Disconnects and engine failures
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["completions", "chat"])
def test_client_disconnect_mid_stream_aborts_the_engine_request(
    route: str, client: openai.OpenAI, engine: FakeEngine
) -> None:
    if route == "completions":
        stream: Any = client.completions.create(model=MODEL, prompt="[slow]", max_tokens=100, stream=True)
    else:
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[slow]"}], max_tokens=100, stream=True
        )
    for received, _ in enumerate(stream, start=1):
        if received == 3:
            break
    request_id = engine.requests[-1].request_id
    stream.close()
    assert wait_for(lambda: request_id in engine.aborted), "the engine request was not cancelled"
    assert wait_for(lambda: engine.running == 0), "the engine slot was not freed"
    good_completion(client)


def test_client_gone_before_a_non_streamed_answer_aborts_the_engine_request(
    base_url: str, engine: FakeEngine, client: openai.OpenAI
) -> None:
    with (
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0, timeout=0.3) as impatient,
        pytest.raises(openai.APITimeoutError),
    ):
        impatient.completions.create(model=MODEL, prompt="[slow]", max_tokens=100)
    request_id = engine.requests[-1].request_id
    assert wait_for(lambda: request_id in engine.aborted), "the engine request was not cancelled"
    assert wait_for(lambda: engine.running == 0)
    good_completion(client)


def test_an_unavailable_engine_is_a_503_to_retry(client: openai.OpenAI, engine: FakeEngine) -> None:
    with pytest.raises(openai.InternalServerError) as excinfo:
        client.completions.create(model=MODEL, prompt="[unavailable]")
    assert excinfo.value.status_code == 503 and "queue is full" in excinfo.value.message
    good_completion(client)


def test_engine_abort_and_crash(client: openai.OpenAI, engine: FakeEngine) -> None:
    with pytest.raises(openai.InternalServerError) as excinfo:
        client.completions.create(model=MODEL, prompt="[abort]")
    assert excinfo.value.status_code == 503 and excinfo.value.code == "engine_error"
    with pytest.raises(openai.InternalServerError) as excinfo:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[crash]"}])
    assert excinfo.value.status_code == 500 and "illegal memory access" in excinfo.value.message
    for prompt in ("[abort]", "[crash]"):
        with pytest.raises(openai.APIError, match="engine"):
            for _ in client.completions.create(model=MODEL, prompt=prompt, stream=True):
                pass
    with pytest.raises(openai.APIError, match="engine"):
        for _ in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[crash]"}], stream=True, n=2
        ):
            pass
    assert wait_for(lambda: engine.running == 0)
    good_completion(client)
