"""Malformed requests: 4xx in OpenAI's error shape naming the field, and the server keeps serving.

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from api_harness import MODEL, SETTINGS, VOCAB_SIZE, assert_openai_error, good_completion

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""


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
    "prompt token id outside the vocabulary": (C, _completion(prompt=[3, VOCAB_SIZE]), 400, "prompt", "invalid_value"),
    "prompt lone surrogate": (C, b'{"prompt": "a\\ud800b"}', 400, "prompt", "invalid_value"),
    "prompts lone surrogate": (C, b'{"prompt": ["ok", "\\udfff"]}', 400, "prompt", "invalid_value"),
    "chat content lone surrogate": (
        CHAT,
        b'{"messages": [{"role": "user", "content": "\\udc00"}]}',
        400,
        "messages[0].content",
        "invalid_value",
    ),
    "stop lone surrogate": (C, b'{"prompt": "hi", "stop": ["\\ud800"]}', 400, "stop", "invalid_value"),
    "model lone surrogate": (C, b'{"prompt": "hi", "model": "\\ud800"}', 400, "model", "invalid_value"),
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
    "logprobs over 5": (C, _completion(logprobs=6), 400, "logprobs", "invalid_value"),
    "logprobs negative": (C, _completion(logprobs=-1), 400, "logprobs", "invalid_value"),
    "logprobs a boolean": (C, _completion(logprobs=True), 400, "logprobs", "invalid_type"),
    "echo": (C, _completion(echo=True), 400, "echo", "unsupported_parameter"),
    "echo with logprobs": (C, _completion(echo=True, logprobs=1), 400, "echo", "unsupported_parameter"),
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
    "chat logprobs a number": (CHAT, _chat(logprobs=5), 400, "logprobs", "invalid_type"),
    "top_logprobs without logprobs": (CHAT, _chat(top_logprobs=3), 400, "top_logprobs", "invalid_value"),
    "top_logprobs with logprobs false": (
        CHAT,
        _chat(logprobs=False, top_logprobs=0),
        400,
        "top_logprobs",
        "invalid_value",
    ),
    "top_logprobs over 20": (CHAT, _chat(logprobs=True, top_logprobs=21), 400, "top_logprobs", "invalid_value"),
    "top_logprobs negative": (CHAT, _chat(logprobs=True, top_logprobs=-1), 400, "top_logprobs", "invalid_value"),
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


def test_what_the_model_cannot_read_is_refused_saying_what_and_where(http: httpx.Client, client: openai.OpenAI) -> None:
    # Refused at the door: inside a batch an id the model can't embed would fail every request batched with it.
    error = assert_openai_error(http.post(C, json=_completion(prompt=[[5], [3, 4, VOCAB_SIZE + 7]])), 400, "prompt")
    assert f"(prompt 1): token id {VOCAB_SIZE + 7} at position 2 is outside the model's vocabulary" in error["message"]
    assert f"(0 to {VOCAB_SIZE - 1})" in error["message"]
    surrogate = http.post(C, content=b'{"prompt": "ab\\ud800"}', headers={"Content-Type": "application/json"})
    error = assert_openai_error(surrogate, 400, "prompt")
    assert "lone UTF-16 surrogate (U+D800 at character 2)" in error["message"], error
    # A surrogate pair is one character beyond U+FFFF, and welcome.
    ok = http.post(
        C, content=b'{"prompt": "\\ud83d\\ude00", "max_tokens": 2}', headers={"Content-Type": "application/json"}
    )
    assert ok.status_code == 200, ok.text
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
