"""Disconnects and engine failures: the engine requests are aborted, the client gets an error, serving goes on.

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from api_harness import API_KEY, MODEL, FakeEngine, good_completion, wait_for

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""


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
    # A load balancer or client waits and sends it again: the refusal says when.
    assert excinfo.value.response.headers["retry-after"] == "1"
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
