"""The cold-start fallback: while a model scaled to zero wakes, a request that waited the interceptor's bound is
answered 503 with Retry-After in OpenAI's error shape (never dropped), and the official client reads it as a
retryable error."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from shardstack_runtime.http.cold_start import CODE, RETRY_AFTER_S
from shardstack_runtime.local import free_ports

START_LIMIT_S = 60  # a bound on a hang, not a performance threshold


@pytest.fixture
def cold_start_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_ports(1)
    command = [str(Path(sys.executable).parent / "shardstack-runtime"), "cold-start", "--host", "127.0.0.1",
               "--port", str(port), "--wake-timeout", "300"]  # fmt: skip
    log = tmp_path / "cold-start.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/chat/completions"), ("POST", "/v1/completions"),
                                              ("GET", "/v1/models")])  # fmt: skip
def test_every_api_request_is_answered_503_with_retry_after(cold_start_url: str, method: str, path: str) -> None:
    response = httpx.request(method, f"{cold_start_url}{path}", json={"model": "m", "prompt": "Hi"}, timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    error = response.json()["error"]
    assert error["code"] == CODE and error["type"] == "server_error"
    assert "300 s" in error["message"] and f"Retry in {RETRY_AFTER_S} s" in error["message"]


def test_the_openai_client_sees_a_retryable_service_unavailable(cold_start_url: str) -> None:
    client = openai.OpenAI(base_url=f"{cold_start_url}/v1", api_key="unused", max_retries=0)
    with client, pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.status_code == 503
    assert raised.value.response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert raised.value.code == CODE
