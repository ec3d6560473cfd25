"""The harness of the API tests (``test_api_*.py``): a fake engine, a uvicorn server, shared checks.

The engine is a fake that implements generation.Engine with a one-token-per-character tokenizer
and a scripted reply, so the API tests need no torch model. Its behaviour is chosen by the prompt:
``[slow]`` streams thousands of tokens 20 ms apart, ``[abort]`` ends with finish_reason "abort",
``[crash]`` raises mid-generation, ``[eos-event]`` ends with a separate token-less event, ``[held]`` holds
back the text of every other token and sends it with the next one (as the detokenizer does with part of a
character). The reply's tokens are ids 101, 102, …, each standing for one piece of REPLY; the n-th has
logprob ``-n / 4`` and, when a request asks for its likeliest tokens, comes first among them, followed by
ids 1001, 1002, … (``"#1"``, ``"#2"``, …), one logprob lower each.

The fixtures serving it (``engine``, ``app``, ``base_url``, ``client``, ``http``, ``engine_ready``) are in
conftest.py, one server per test module.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager

import httpx
import openai
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from shardstack_runtime.generation import (
    ChatTokenizer,
    EngineStats,
    EngineUnavailableError,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
)
from shardstack_runtime.server_settings import ServerSettings

API_KEY = "sk-shardstack-test"
MODEL = "fake-llama"
MAX_MODEL_LEN = 256
REPLY = ("Hello", ",", " world", "!", " I", " am", " fake", ".")
REPLY_TEXT = "".join(REPLY)
FIRST_REPLY_TOKEN = 101
FIRST_ALTERNATIVE = 1001
BOS = 1
VOCAB_SIZE = 0x110000 + 3  # every code point, one token each (FakeTokenizer)
SLOW_TOKEN_S = 0.02


class FakeTokenizer:
    """One token per character (code point + 3); BOS is 1. The chat template writes its own "<s>"."""

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        return ([BOS] if add_special_tokens else []) + [ord(c) + 3 for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i - 3) for i in ids if i >= 3)

    def token_bytes(self, token_id: int) -> bytes:
        if FIRST_REPLY_TOKEN <= token_id < FIRST_REPLY_TOKEN + len(REPLY):
            return REPLY[token_id - FIRST_REPLY_TOKEN].encode()
        if token_id >= FIRST_ALTERNATIVE:
            return f"#{token_id - FIRST_ALTERNATIVE + 1}".encode()
        return self.decode([token_id]).encode()

    def apply_chat_template(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        if any(m["content"] == "[reject]" for m in messages):
            raise ValueError("Conversation roles must alternate user/assistant/user/assistant/...")
        text = "<s>" + "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
        return text + "<|assistant|>" if add_generation_prompt else text


class FakeEngine:
    """A scripted engine: deterministic replies, and a record of what it was asked and what it aborted."""

    model_name = MODEL
    max_model_len = MAX_MODEL_LEN
    vocab_size = VOCAB_SIZE

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
        return EngineStats(running=self.running, waiting=0, kv_cache_usage=0.25, extra={"max_slots": 4.0})

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
        held = ""

        def event(i: int, token: int | None, text: str, reason: FinishReason | None) -> GenerationEvent:
            logprob = None if token is None else -i / 4
            top: tuple[tuple[int, float], ...] = ()
            if token is not None and logprob is not None and request.params.top_logprobs:
                others = range(request.params.top_logprobs - 1)
                top = ((token, logprob), *((FIRST_ALTERNATIVE + j, logprob - 1 - j) for j in others))
            return GenerationEvent(
                request_id=request.request_id,
                token_id=token,
                text=text,
                finish_reason=reason,
                prompt_tokens=len(request.prompt_token_ids),
                completion_tokens=i,
                first_scheduled_time=scheduled if i <= 1 else None,
                logprob=logprob,
                top_logprobs=top,
            )

        try:
            for i, piece in enumerate(emitted, start=1):
                await asyncio.sleep(delay)
                if "[crash]" in prompt and i == 3:
                    raise RuntimeError("CUDA error: an illegal memory access was encountered")
                if "[unavailable]" in prompt:
                    raise EngineUnavailableError("the waiting queue is full")
                last = i == len(emitted)
                text, held = (held + piece, "") if "[held]" not in prompt or i % 2 == 0 or last else ("", held + piece)
                yield event(i, FIRST_REPLY_TOKEN + i - 1, text, finish if last and not separate_end else None)
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


SETTINGS = ServerSettings(api_key=SecretStr(API_KEY), max_tokens_limit=128, max_n=4, max_body_bytes=64 * 1024)


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
