"""`shardstack-runtime serve` as a pod runs it: a real process, real HTTP, real weights.

Each server is started on free 127.0.0.1 ports by the test and stopped by PID at the end.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from storage_emulators import free_port

from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.cli import push_checkpoint

READY_TIMEOUT_S = 180
RUNTIME = [sys.executable, "-m", "shardstack_runtime.cli"]


@dataclass
class Server:
    process: subprocess.Popen
    api: str
    probes: str
    log: Path

    def client(self, **kwargs: object) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.api}/v1", api_key=str(kwargs.pop("api_key", "unused")), max_retries=0, timeout=120
        )


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _start(model_uri: str, log: Path, env: dict[str, str] | None = None, *extra: str) -> Server:
    api_port, metrics_port = free_port(), free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *RUNTIME,
                "serve",
                "--model-uri",
                model_uri,
                "--host",
                "127.0.0.1",
                "--api-port",
                str(api_port),
                "--metrics-port",
                str(metrics_port),
                "--dtype",
                "fp32",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    return Server(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}", log)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if _get(f"{server.probes}/ready") == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready within {READY_TIMEOUT_S} s:\n{server.log.read_text()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def smollm2_server(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # No --max-slots: the server measures its batch curve and chooses (a short max_model_len keeps the cache small).
    server = _start(
        str(smollm2_dir),
        tmp_path_factory.mktemp("serve") / "smollm2.log",
        None,
        *("--model-name", "smollm2", "--max-model-len", "1024"),
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(server)


def test_health_answers_and_ready_turns_true_after_loading(smollm2_server: Server) -> None:
    assert _get(f"{smollm2_server.probes}/health") == 200
    assert _get(f"{smollm2_server.probes}/ready") == 200
    with urllib.request.urlopen(f"{smollm2_server.probes}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert "shardstack_weights_load_bytes" in metrics
    loaded = [line for line in metrics.splitlines() if line.startswith("shardstack_weights_load_bytes")]
    assert float(loaded[0].split()[-1]) > 200e6  # SmolLM2's ~270 MB of bf16 weights were read
    # What the server chose at start, and why, is on /metrics: its compute path and its decode slots.
    (path,) = [line for line in metrics.splitlines() if line.startswith("shardstack_compute_path_info{")]
    assert 'weights_dtype="float32"' in path and ('layout="packed"' in path or 'layout="plain"' in path), path
    (slots,) = [line for line in metrics.splitlines() if 'stat="max_slots"' in line and not line.startswith("#")]
    assert float(slots.split()[-1]) >= 1


def test_the_official_client_chats_with_smollm2(smollm2_server: Server) -> None:
    with smollm2_server.client() as client:
        reply = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=20,
            temperature=0,
        )
        models = [m.id for m in client.models.list()]

    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert models == ["smollm2"]


CAPITAL_OF_FRANCE = {
    "model": "smollm2",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "max_tokens": 20,
    "temperature": 0,
}


def test_the_official_client_streams_the_same_answer(smollm2_server: Server) -> None:
    request = CAPITAL_OF_FRANCE
    with smollm2_server.client() as client:
        whole = client.chat.completions.create(**request).choices[0].message.content
        with client.chat.completions.create(**request, stream=True) as stream:
            chunks = list(stream)

    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_smollm2s_logprobs_whole_and_streamed(smollm2_server: Server) -> None:
    request = {**CAPITAL_OF_FRANCE, "logprobs": True, "top_logprobs": 3}
    with smollm2_server.client() as client:
        whole = client.chat.completions.create(**request)
        with client.chat.completions.create(**request, stream=True) as stream:
            chunks = list(stream)
        completion = client.completions.create(model="smollm2", prompt="The sea is", max_tokens=6, logprobs=2)

    [choice] = whole.choices
    assert choice.logprobs is not None and choice.logprobs.content is not None
    content = choice.logprobs.content
    assert whole.usage is not None and len(content) == whole.usage.completion_tokens  # EOS included
    text = bytes(b for token in content for b in token.bytes).decode()
    assert text == (choice.message.content or "") + ("<|im_end|>" if choice.finish_reason == "stop" else "")
    for token in content:  # greedy: the chosen token is the likeliest
        likeliest = [(t.token, t.logprob) for t in token.top_logprobs]
        assert likeliest[0] == (token.token, token.logprob) and len(likeliest) == 3
        assert [lp for _, lp in likeliest] == sorted((lp for _, lp in likeliest), reverse=True)
    streamed = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content or []]
    assert [t.token for t in streamed] == [t.token for t in content]
    assert [t.logprob for t in streamed] == pytest.approx([t.logprob for t in content], abs=1e-4)

    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None and logprobs.top_logprobs is not None
    assert "".join(logprobs.tokens) == completion.choices[0].text and len(logprobs.tokens) == 6
    for token, top in zip(logprobs.tokens, logprobs.top_logprobs, strict=True):
        assert len(top) in (2, 3) and token in top  # the 2 likeliest, and always the chosen one


def test_64_concurrent_clients_times_20_requests_all_succeed(tiny_model_dir: Path, tmp_path: Path) -> None:
    server = _start(str(tiny_model_dir), tmp_path / "tiny.log", None, "--max-slots", "16")
    try:
        _wait_ready(server)
        with server.client() as client:
            model = client.models.list().data[0].id

        def one_client(index: int) -> int:
            # Each client its own connection pool, as 64 separate processes would have.
            ok = 0
            with server.client() as client:
                for request in range(20):
                    if (index + request) % 2:
                        text = client.completions.create(
                            model=model, prompt=f"client {index} request {request}", max_tokens=4
                        )
                        ok += len(text.choices) == 1 and text.choices[0].finish_reason in ("length", "stop")
                    else:
                        with client.completions.create(
                            model=model, prompt=f"client {index} stream {request}", max_tokens=4, stream=True
                        ) as stream:
                            ok += any(c.choices and c.choices[0].finish_reason for c in stream)
            return ok

        with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
            results = list(pool.map(one_client, range(64)))

        assert results == [20] * 64
        assert server.process.poll() is None  # still serving
    finally:
        _stop(server)


def test_64_clients_chat_with_smollm2_at_once_and_every_answer_is_a_reply_or_a_documented_refusal(
    smollm2_server: Server,
) -> None:
    # The issue-16 load: 64 clients at once, 2 chats each, on the demo model with its default (measured) slots and
    # queue. Bounded in time by each request's timeout; the only refusal allowed is 429/503 with Retry-After.
    def one_client(index: int) -> list[str]:
        outcomes = []
        with httpx.Client(base_url=smollm2_server.api, timeout=120) as http:
            for request in range(2):
                body = {
                    "model": "smollm2",
                    "messages": [{"role": "user", "content": f"Client {index}, question {request}: name a colour."}],
                    "max_tokens": 8,
                }
                response = http.post("/v1/chat/completions", json=body)
                if response.status_code == 200:
                    outcomes.append(response.json()["choices"][0]["finish_reason"])
                elif response.status_code in (429, 503) and response.headers.get("retry-after"):
                    outcomes.append("refused")
                else:
                    outcomes.append(f"{response.status_code}: {response.text[:200]}")
        return outcomes

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        outcomes = [o for client in pool.map(one_client, range(64)) for o in client]
    assert len(outcomes) == 128
    assert not [o for o in outcomes if o not in ("stop", "length", "refused")], outcomes
    assert outcomes.count("refused") < len(outcomes)  # refusals are for a full queue, not the rule


def test_a_flipped_byte_makes_the_server_refuse_to_start(tiny_model_dir: Path, tmp_path: Path) -> None:
    stored = tmp_path / "stored"
    push_checkpoint(str(tiny_model_dir), f"file://{stored}", progress=False)
    checkpoint = open_checkpoint(f"file://{stored}")
    victim = "model.layers.1.mlp.down_proj.weight"
    location = checkpoint.locate(victim)
    with (stored / location.file).open("r+b") as f:
        f.seek(location.start + 7)
        byte = f.read(1)
        f.seek(location.start + 7)
        f.write(bytes([byte[0] ^ 0x01]))

    server = _start(f"file://{stored}", tmp_path / "corrupt.log")
    try:
        code = server.process.wait(timeout=READY_TIMEOUT_S)
    finally:
        _stop(server)

    output = server.log.read_text()
    assert code != 0
    assert victim in output and location.file in output


def test_bad_settings_exit_with_the_variable_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RUNTIME, "serve"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SHARDSTACK_")},
    )

    assert result.returncode == 2
    assert "SHARDSTACK_MODEL_URI: is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_weights_push_then_verify_round_trip_through_the_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    dest = f"file://{tmp_path / 'pushed'}"
    push = subprocess.run([*RUNTIME, "weights", "push", str(tiny_model_dir), dest], capture_output=True, text=True)
    verify = subprocess.run([*RUNTIME, "weights", "verify", dest], capture_output=True, text=True)

    assert push.returncode == 0, push.stderr
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert (tmp_path / "pushed" / "shardstack-manifest.json").is_file()
    shutil.rmtree(tmp_path / "pushed")
