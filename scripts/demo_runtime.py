#!/usr/bin/env python3
"""Serve the demo model split across ranks, ask it one chat question, print the answer and timings, stop.

    .venv/bin/python scripts/demo_runtime.py                 # SmolLM2 in 2 shards (2 local ranks)
    .venv/bin/python scripts/demo_runtime.py --shards 1 --question "Name three primary colours." --dtype fp32

It runs `shardstack-runtime local --shards N`: one `shardstack-runtime serve` process per rank, exactly
what the pods of a replica group run, on 127.0.0.1, each rank on its own CPUs. It talks to rank 0 with
the official `openai` client, prints the pipeline's per-stage numbers from rank 0's /metrics, and stops
the group by PID.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

READY_TIMEOUT_S = 300


def _pipeline_summary(metrics_url: str) -> str:
    """Per-stage compute time, bytes over each hop and the bubble fraction, from rank 0's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    samples = [
        s
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("shardstack_pipeline_")
    ]
    lines = []
    for sample in samples:
        labels = sample.labels
        if sample.name == "shardstack_pipeline_stage_compute_seconds_total":
            lines.append(
                f"  stage {labels['stage']} (layers {labels['layers']}): {sample.value * 1000:.0f} ms computing"
            )
        elif sample.name == "shardstack_pipeline_p2p_bytes_total":
            size = f"{sample.value / 1024:.0f} KiB" if sample.value >= 10240 else f"{sample.value:.0f} bytes"
            lines.append(f"  rank {labels['src']} -> rank {labels['dst']}: {size}")
        elif sample.name == "shardstack_pipeline_bubble_fraction":
            lines.append(f"  bubble fraction: {sample.value:.2f} (one request keeps one stage busy at a time)")
    return "\n".join(lines)


def _parse_args() -> argparse.Namespace:
    """Return the command line's options: the question, dtype, answer length and shard count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--question", default="What is the capital of France? Answer in one sentence.")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--shards", type=int, default=2, help="ranks the model is split across (default 2)")
    return parser.parse_args()


def _runtime_command(args: argparse.Namespace, model_dir: Path, api_port: int, metrics_port: int) -> list[str]:
    """Return the `shardstack-runtime local` command line that serves the demo model on 127.0.0.1."""
    return [
        sys.executable,
        "-m",
        "shardstack_runtime.cli",
        "local",
        "--shards",
        str(args.shards),
        "--model-uri",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--api-port",
        str(api_port),
        "--metrics-port",
        str(metrics_port),
        "--dtype",
        args.dtype,
        "--model-name",
        "smollm2-135m-instruct",
    ]


def _wait_until_ready(server: subprocess.Popen, metrics_port: int, launched: float) -> bool:
    """Return True once rank 0 reports ready; False when the runtime exits or READY_TIMEOUT_S passes first."""
    from shardstack_runtime.local import is_ready

    while not is_ready(f"http://127.0.0.1:{metrics_port}/ready"):
        if server.poll() is not None or time.monotonic() - launched > READY_TIMEOUT_S:
            return False
        time.sleep(0.2)
    return True


def _ask(question: str, max_tokens: int, api_port: int) -> None:
    """Stream the answer to ``question`` from the runtime as it comes, then print the token timings."""
    import openai

    print(f"\nuser: {question}\nassistant: ", end="", flush=True)
    sent = time.monotonic()
    first = None
    tokens = 0
    with (
        openai.OpenAI(base_url=f"http://127.0.0.1:{api_port}/v1", api_key="unused", max_retries=0) as client,
        client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        ) as stream,
    ):
        for chunk in stream:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.monotonic()
                print(chunk.choices[0].delta.content, end="", flush=True)
    done = time.monotonic()
    ttft = (first or done) - sent
    rate = (tokens - 1) / (done - first) if first and tokens > 1 and done > first else float("nan")
    print(
        f"\n\n{tokens} tokens; time to first token {ttft * 1000:.0f} ms; {rate:.1f} tokens/s after it; "
        f"{done - sent:.2f} s in all"
    )


def _stop(server: subprocess.Popen, log: Path) -> None:
    """Stop the runtime by its PID (SIGTERM, then SIGKILL after 60 s) and print how it ended."""
    if server.poll() is None:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"runtime stopped, exit code {server.returncode} (log: {log})")


def main() -> int:
    args = _parse_args()

    from shardstack_runtime.demo_model import prepare_demo_model
    from shardstack_runtime.local import free_ports

    started = time.monotonic()
    model_dir: Path = prepare_demo_model()
    print(f"demo model: SmolLM2-135M-Instruct at {model_dir} ({time.monotonic() - started:.1f} s)")

    api_port, metrics_port = free_ports(), free_ports(args.shards)
    log = model_dir.parent / "demo-runtime.log"
    command = _runtime_command(args, model_dir, api_port, metrics_port)
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        launched = time.monotonic()
        if not _wait_until_ready(server, metrics_port, launched):
            print(f"error: the runtime did not become ready; its log:\n{log.read_text()}", file=sys.stderr)
            return 1
        print(
            f"runtime ready on http://127.0.0.1:{api_port}: {args.shards} rank(s) in "
            f"{time.monotonic() - launched:.1f} s (pid {server.pid})"
        )
        _ask(args.question, args.max_tokens, api_port)
        if args.shards > 1:
            print("pipeline (rank 0's /metrics):\n" + _pipeline_summary(f"http://127.0.0.1:{metrics_port}/metrics"))
        return 0
    finally:
        _stop(server, log)


if __name__ == "__main__":
    sys.exit(main())
