"""The API's probes (/health, /ready), its models (/v1/models) and its Prometheus metrics (/metrics).

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness, called with the official client.
"""

from __future__ import annotations

import socket
import urllib.request

import httpx
import openai
import pytest
from api_harness import MAX_MODEL_LEN, MODEL, REPLY, FakeEngine, FakeTokenizer, assert_openai_error, metric
from fastapi import FastAPI

from shardstack_runtime.metrics import Metrics

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""


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
    assert metric(after, "vllm:kv_cache_usage_perc", **labels) == 0.25
    assert metric(after, "shardstack_engine_stat", stat="max_slots") == 4.0
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
