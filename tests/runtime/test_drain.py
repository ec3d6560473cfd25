"""Draining: a replica group told to stop (SIGTERM, as Kubernetes stops pods on a scale-down) finishes the request
it is streaming, refuses new ones with 503 and Retry-After, then exits 0.

The group runs as a managed endpoint's container runs it (`serve` with SHARDSTACK_RANKS_HERE=2): the leader and a
worker in their own processes, stopped together, so the worker must keep the pipeline up while the leader drains.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from shardstack_runtime.local import free_ports

PROCESS_LIMIT_S = 180  # a bound on a hang, not a performance threshold
STREAMED_TOKENS = 480
"""Long enough (a tiny model's context holds 512) to be still streaming when the signal arrives."""


def test_a_stopping_group_finishes_its_stream_refuses_new_requests_and_exits_0(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    api_port, metrics_port = free_ports(1), free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARDSTACK_")}
    env |= {"SHARDSTACK_MODEL_URI": str(tiny_model_dir), "SHARDSTACK_DTYPE": "fp32", "SHARDSTACK_HOST": "127.0.0.1",
            "SHARDSTACK_API_PORT": str(api_port), "SHARDSTACK_METRICS_PORT": str(metrics_port),
            "SHARDSTACK_RANKS_HERE": "2"}  # fmt: skip
    command = [str(Path(sys.executable).parent / "shardstack-runtime"), "serve"]
    log = tmp_path / "group.log"
    api, ready = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}/ready"
    model = tiny_model_dir.name
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + PROCESS_LIMIT_S
        while not _answers(ready):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        chunks: list[str] = []
        first = threading.Event()

        def stream() -> None:
            body = {"model": model, "prompt": "Once", "max_tokens": STREAMED_TOKENS, "ignore_eos": True,
                    "stream": True, "temperature": 0}  # fmt: skip
            with httpx.stream("POST", f"{api}/v1/completions", json=body, timeout=PROCESS_LIMIT_S) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        chunks.append(line.removeprefix("data: "))
                        first.set()

        streaming = threading.Thread(target=stream)
        streaming.start()
        assert first.wait(PROCESS_LIMIT_S), log.read_text()
        process.send_signal(signal.SIGTERM)  # the group's container (or, on Kubernetes, its pods) told to stop

        # Kubernetes stops sending once /ready says no; a request that comes anyway is refused, to be retried.
        while _answers(ready):
            time.sleep(0.05)
        refused = httpx.post(
            f"{api}/v1/completions", json={"model": model, "prompt": "Hi", "max_tokens": 4}, timeout=10
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "server_shutting_down"

        streaming.join(PROCESS_LIMIT_S)
        assert chunks[-1] == "[DONE]", chunks[-3:]
        finals = [json.loads(c)["choices"][0].get("finish_reason") for c in chunks[:-1]]
        assert finals[-1] == "length" and len([c for c in chunks[:-1] if json.loads(c)["choices"]]) >= 2
        usage = [json.loads(c).get("usage") for c in chunks[:-1] if json.loads(c).get("usage")]
        assert not usage or usage[-1]["completion_tokens"] == STREAMED_TOKENS
        assert process.wait(timeout=PROCESS_LIMIT_S) == 0, log.read_text()
        assert "draining: 1 requests running" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
