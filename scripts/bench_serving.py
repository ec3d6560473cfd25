#!/usr/bin/env python3
"""Benchmark the runtime's HTTP server under many clients against its own 8-stream throughput, in one run.

    .venv/bin/python scripts/bench_serving.py --write                     # 64 clients x 2 requests (issue 15)
    .venv/bin/python scripts/bench_serving.py --clients 4 --requests 1    # a smoke run, about a minute
    .venv/bin/python scripts/bench_serving.py --check                     # exit 1 unless p99 / bound <= 1.0

It serves SmolLM2-135M-Instruct on the CPU with `shardstack-runtime serve` on 127.0.0.1 (free ports, the
runtime's own defaults unless --max-slots / --dtype say otherwise), then measures, side by side:

  1. the S-stream throughput (--streams, 8 by default, the issue's measure): S concurrent chat requests of
     --stream-tokens tokens each (`ignore_eos`), completion tokens from `usage` over the wall time, prefill
     included; once before the load and once after it, the bound taking their median;
  2. the load: --clients clients started together, each sending --requests chat requests one after the other
     (max_tokens 8, `ignore_eos`, a distinct short prompt each): each request's latency, the completion tokens
     from `usage`, the wall time.

The bound is the load's completion tokens / the S-stream tokens/s: how long the load's whole work takes at the
throughput S concurrent streams get (a server with more slots than S may beat it). The goal (issue 15) is p99
latency / bound <= 1.0: no request waits longer than all the work ahead of it. Requests refused (HTTP 429/503)
or failed are counted and shown, and kept out of the latencies; --check fails on any. The server is stopped by
its PID at the end, also on error; its log is ~/.cache/shardstack/demo-models/bench-serving.log. The clients
share the machine's CPUs with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import httpx
from bench_doc import BENCHMARKS, REPO, write_section
from bench_goals import SERVING_GOALS, check, exit_status, goals_markdown, report
from bench_machine import cpu, cpu_line, vector_units

__all__ = ["ServingResult", "bound_s", "measure_serving", "measured", "percentile"]

BEGIN, END = "<!-- bench_serving:begin -->", "<!-- bench_serving:end -->"
DEFAULT_CLIENTS = 64
DEFAULT_REQUESTS = 2
"""Issue 15's load: 64 clients sending 2 chat requests each, max_tokens 8."""
LOAD_MAX_TOKENS = 8
DEFAULT_STREAM_TOKENS = 64
DEFAULT_STREAMS = 8
"""The issue's bound: the load's tokens over the measured 8-stream throughput."""
MODEL_NAME = "smollm2-135m-instruct"
READY_TIMEOUT_S = 300
REQUEST_TIMEOUT_S = 900
"""Generous: a request of the load may wait for everything queued ahead of it on two cores."""
STOP_TIMEOUT_S = 60
REFUSED = frozenset({429, 503})
"""Statuses of a server that turns work away (overloaded, not ready): counted apart from failures."""
THROUGHPUT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle, number {}."
LOAD_SUBJECTS = ("river", "mountain", "garden", "library", "harbour", "forest", "market", "bridge")
LOAD_ASKS = ("Describe a {} in one sentence", "Name one thing found near a {}", "Give a {} a short name")


class ServingResult(TypedDict):
    """One run's measurements: what `--check` and docs/BENCHMARKS.md read."""

    clients: int
    requests: int
    dtype: str
    slots: int
    """The server's decode slots (its measured choice unless --max-slots said)."""
    streams: int
    stream_tokens: int
    stream_tok_s: float
    """The median of the S-stream rates measured before and after the load."""
    stream_tok_s_before: float
    stream_tok_s_after: float
    completed: int
    refused: int
    failed: int
    errors: str
    """Each status that was not 200, with its count (``503 x 3, ReadTimeout x 1``), or "none"."""
    total_tokens: int
    wall_s: float
    p50_s: float
    p90_s: float
    p99_s: float
    bound_s: float
    p99_over_bound: float
    """The goal: at most 1 (scripts/bench_goals.py)."""


@dataclass(frozen=True)
class Reply:
    """One chat request's outcome: its latency, HTTP status (0: no answer, -1: an answer without `usage`), tokens."""

    latency_s: float
    status: int
    completion_tokens: int = 0
    error: str = ""


def percentile(values: list[float], percent: int) -> float:
    """Return the nearest-rank ``percent``-th percentile: the smallest value at least ``percent``% of values reach.

    Always a measured value, never an interpolation (the p99 of 128 latencies is the 127th smallest); NaN when
    there are none.
    """
    if not values:
        return math.nan
    rank = -(-percent * len(values) // 100)  # ceil(percent% of the count), in integers
    return sorted(values)[max(rank, 1) - 1]


def bound_s(total_tokens: int, stream_tok_s: float) -> float:
    """Return how long ``total_tokens`` take at the measured streams' rate: the longest any request should wait."""
    return total_tokens / stream_tok_s


def _chat_body(prompt: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,  # every request generates max_tokens: the same work whatever the model says
    }


async def _chat(http: httpx.AsyncClient, prompt: str, max_tokens: int) -> Reply:
    """Send one chat request and return its outcome; errors become a :class:`Reply`, never an exception."""
    sent = time.perf_counter()
    try:
        response = await http.post("/v1/chat/completions", json=_chat_body(prompt, max_tokens))
    except httpx.HTTPError as error:
        return Reply(time.perf_counter() - sent, 0, error=type(error).__name__)
    latency = time.perf_counter() - sent
    if response.status_code != 200:
        return Reply(latency, response.status_code, error=str(response.status_code))
    try:
        return Reply(latency, 200, int(response.json()["usage"]["completion_tokens"]))
    except (ValueError, KeyError, TypeError):
        return Reply(latency, -1, error="200 without usage")


async def _stream_rate(http: httpx.AsyncClient, streams: int, tokens: int) -> float:
    """Return the completion tokens/s of ``streams`` concurrent requests of ``tokens`` tokens, prefill included."""
    started = time.perf_counter()
    replies = await asyncio.gather(*(_chat(http, THROUGHPUT_PROMPT.format(i), tokens) for i in range(streams)))
    wall = time.perf_counter() - started
    if bad := [r for r in replies if r.status != 200]:
        raise RuntimeError(f"the {streams}-stream throughput requests failed: {_error_counts(bad)}")
    return sum(r.completion_tokens for r in replies) / wall


def _load_prompt(index: int) -> str:
    """Return the load's ``index``-th prompt: a few words and the number differ, so no two are alike."""
    ask = LOAD_ASKS[index % len(LOAD_ASKS)]
    subject = LOAD_SUBJECTS[index // len(LOAD_ASKS) % len(LOAD_SUBJECTS)]
    return f"{ask.format(subject)} (question {index + 1})."


async def _load(http: httpx.AsyncClient, clients: int, requests: int) -> tuple[list[Reply], float]:
    """Start ``clients`` clients at once, each sending ``requests`` requests in turn; return replies and wall time."""
    start = asyncio.Event()

    async def client(number: int) -> list[Reply]:
        await start.wait()
        return [await _chat(http, _load_prompt(number * requests + turn), LOAD_MAX_TOKENS) for turn in range(requests)]

    tasks = [asyncio.create_task(client(number)) for number in range(clients)]
    await asyncio.sleep(0)  # every client is waiting on `start`
    started = time.perf_counter()
    start.set()
    replies = [reply for per_client in await asyncio.gather(*tasks) for reply in per_client]
    return replies, time.perf_counter() - started


def _error_counts(replies: list[Reply]) -> str:
    counts = Counter(r.error for r in replies if r.status != 200)
    return ", ".join(f"{error} x {count}" for error, count in sorted(counts.items())) or "none"


@dataclass(frozen=True)
class Run:
    """What one run measured: the S-stream rates before and after the load, the load's replies and wall time."""

    before_tok_s: float
    after_tok_s: float
    replies: list[Reply]
    wall_s: float


async def _measure(api: str, clients: int, requests: int, streams: int, stream_tokens: int) -> Run:
    connections = clients + streams  # every request in flight at once gets its own: none queues in the client
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=60)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=timeout, trust_env=False) as http:
        warm_up = await _chat(http, THROUGHPUT_PROMPT.format(0), 2)
        if warm_up.status != 200:
            raise RuntimeError(f"the warm-up request failed: {warm_up.error}")
        before = await _stream_rate(http, streams, stream_tokens)
        replies, wall = await _load(http, clients, requests)
        after = await _stream_rate(http, streams, stream_tokens)
    return Run(before, after, replies, wall)


def _served_slots(metrics_url: str) -> int:
    """Return the decode slots the running server took (measured at its start unless --max-slots said); print the
    compute path it chose."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    slots = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "shardstack_engine_stat" and sample.labels.get("stat") == "max_slots":
                slots = int(sample.value)
            if sample.name == "shardstack_compute_path_info":
                print(f"compute path: {sample.labels.get('methods')} ({sample.labels.get('reason')})")
    if slots is None:
        raise RuntimeError(f"{metrics_url}/metrics has no max_slots stat")
    return slots


@contextlib.contextmanager
def _served(model_dir: Path, dtype: str, max_slots: int | None, log: Path) -> Iterator[tuple[str, int]]:
    """Run `shardstack-runtime serve` on 127.0.0.1 until the block ends; once ready, yield its API's URL and slots."""
    from shardstack_runtime.local import free_ports, is_ready

    api_port, metrics_port = free_ports(), free_ports()
    command = [
        *(sys.executable, "-m", "shardstack_runtime.cli", "serve", "--model-uri", str(model_dir)),
        *("--host", "127.0.0.1", "--api-port", str(api_port), "--metrics-port", str(metrics_port)),
        *("--device", "cpu", "--dtype", dtype, "--model-name", MODEL_NAME),
        *(("--max-slots", str(max_slots)) if max_slots is not None else ()),
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        launched = time.monotonic()
        while not is_ready(f"http://127.0.0.1:{metrics_port}/ready"):
            if server.poll() is not None or time.monotonic() - launched > READY_TIMEOUT_S:
                raise RuntimeError(
                    f"the runtime did not become ready (exit code {server.poll()}); its log:\n{log.read_text()}"
                )
            time.sleep(0.2)
        print(
            f"runtime ready on 127.0.0.1:{api_port} in {time.monotonic() - launched:.1f} s "
            f"(pid {server.pid}, log {log})"
        )
        yield f"http://127.0.0.1:{api_port}", _served_slots(f"http://127.0.0.1:{metrics_port}")
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        print(f"runtime stopped, exit code {server.returncode}")


def measure_serving(
    *,
    clients: int = DEFAULT_CLIENTS,
    requests: int = DEFAULT_REQUESTS,
    dtype: str = "bf16",
    max_slots: int | None = None,
    streams: int = DEFAULT_STREAMS,
    stream_tokens: int = DEFAULT_STREAM_TOKENS,
) -> ServingResult:
    """Serve the demo model, measure its S-stream throughput and the load side by side; return both.

    ``max_slots`` None keeps the runtime's default (its measured choice). Raises RuntimeError when the server
    does not become ready or the throughput requests fail; the load's refused and failed requests are counted
    in the result.
    """
    from shardstack_runtime.demo_model import prepare_demo_model

    model_dir = prepare_demo_model()
    with _served(model_dir, dtype, max_slots, model_dir.parent / "bench-serving.log") as (api, slots):
        run = asyncio.run(_measure(api, clients, requests, streams, stream_tokens))
    done = [r for r in run.replies if r.status == 200]
    latencies = [r.latency_s for r in done]
    rate = statistics.median([run.before_tok_s, run.after_tok_s])
    tokens = sum(r.completion_tokens for r in done)
    bound = bound_s(tokens, rate)
    p99 = percentile(latencies, 99)
    return ServingResult(
        clients=clients,
        requests=requests,
        dtype=dtype,
        slots=slots,
        streams=streams,
        stream_tokens=stream_tokens,
        stream_tok_s=rate,
        stream_tok_s_before=run.before_tok_s,
        stream_tok_s_after=run.after_tok_s,
        completed=len(done),
        refused=sum(r.status in REFUSED for r in run.replies),
        failed=sum(r.status != 200 and r.status not in REFUSED for r in run.replies),
        errors=_error_counts(run.replies),
        total_tokens=tokens,
        wall_s=run.wall_s,
        p50_s=percentile(latencies, 50),
        p90_s=percentile(latencies, 90),
        p99_s=p99,
        bound_s=bound,
        p99_over_bound=p99 / bound if tokens else math.nan,
    )


def measured(result: ServingResult) -> dict[str, float]:
    """Return what the goals of scripts/bench_goals.py read from this run (``SERVING_GOALS``)."""
    return {
        "serving.load.p99_over_bound": result["p99_over_bound"],
        "serving.load.unanswered": result["refused"] + result["failed"],
    }


def _command(args: argparse.Namespace) -> str:
    slots = f" --max-slots {args.max_slots}" if args.max_slots is not None else ""
    return (
        f".venv/bin/python scripts/bench_serving.py --clients {args.clients} --requests {args.requests} "
        f"--dtype {args.dtype}{slots} --streams {args.streams} --stream-tokens {args.stream_tokens} --write"
    )


def _result_lines(r: ServingResult) -> list[str]:
    """Return the run's numbers as printed while it runs."""
    return [
        f"{r['streams']}-stream throughput ({r['slots']} slots): {r['stream_tok_s']:.1f} tok/s (before the load "
        f"{r['stream_tok_s_before']:.1f}, after {r['stream_tok_s_after']:.1f}; {r['stream_tokens']} tokens a stream)",
        f"load: {r['clients']} clients x {r['requests']} requests, max_tokens {LOAD_MAX_TOKENS}: {r['completed']} "
        f"answered, {r['refused']} refused (429/503), {r['failed']} failed; errors: {r['errors']}",
        f"  {r['total_tokens']} completion tokens in {r['wall_s']:.2f} s; latency median {r['p50_s']:.2f} s, "
        f"p90 {r['p90_s']:.2f} s, p99 {r['p99_s']:.2f} s",
        f"  bound = {r['total_tokens']} tokens / {r['stream_tok_s']:.1f} tok/s = {r['bound_s']:.2f} s; "
        f"p99 / bound = {r['p99_over_bound']:.2f}",
    ]


def _section(args: argparse.Namespace, r: ServingResult, machine: dict[str, str]) -> str:
    """Return this run's section of docs/BENCHMARKS.md, between its begin and end markers."""
    torch_version = importlib.metadata.version("torch")
    verdicts = check(SERVING_GOALS, measured(r))
    return "\n".join(
        [
            BEGIN,
            "## Serving under load vs the 8-stream throughput (SmolLM2-135M-Instruct, one rank, CPU, HTTP)",
            "",
            f"Command: `{_command(args)}` ({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} "
            f"CPUs, torch {torch_version}, {r['dtype']}, {r['slots']} slots).",
            "",
            cpu_line(machine),
            "",
            f"`shardstack-runtime serve` on 127.0.0.1, the clients (httpx, one connection each) on the same CPUs. "
            f"The {r['streams']}-stream rate is {r['streams']} concurrent chat requests of {r['stream_tokens']} tokens "
            "(`ignore_eos`), completion tokens from `usage` over the wall time, prefill included: the median of one "
            "round before the load and one after it. The load: all clients start together, each sends its requests "
            f"one after the other (max_tokens {LOAD_MAX_TOKENS}, `ignore_eos`, distinct short prompts). The bound "
            f"is the load's completion tokens over the {r['streams']}-stream rate, how long its whole work takes at "
            "that throughput; the goal (issue 15) is p99 / bound ≤ 1: no request waits longer than "
            "all the work ahead of it. Latencies are end to end, of the requests answered with 200.",
            "",
            f"| {r['streams']}-stream tok/s (before / after) | clients x requests | completion tokens | wall s "
            "| median s | p90 s | p99 s | bound s | p99 ÷ bound | refused (429/503) | failed |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r['stream_tok_s']:.1f} ({r['stream_tok_s_before']:.1f} / {r['stream_tok_s_after']:.1f}) | "
            f"{r['clients']} x {r['requests']} | {r['total_tokens']} | {r['wall_s']:.2f} | {r['p50_s']:.2f} | "
            f"{r['p90_s']:.2f} | {r['p99_s']:.2f} | {r['bound_s']:.2f} | "
            f"{r['p99_over_bound']:.2f} | {r['refused']} | {r['failed']} |",
            "",
            *goals_markdown(verdicts),
            END,
        ]
    )


def _parse_args() -> argparse.Namespace:
    """Return the command line's options: the load, the server's slots and dtype, whether to write or check."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help=f"default {DEFAULT_CLIENTS}")
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help=f"each client's, in turn (default {DEFAULT_REQUESTS})"
    )
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16", help="default bf16")
    parser.add_argument("--max-slots", type=int, help="the server's slots (default: the runtime's)")
    parser.add_argument(
        "--streams",
        type=int,
        default=DEFAULT_STREAMS,
        help=f"concurrent requests of the throughput the bound uses (default {DEFAULT_STREAMS}, the issue's)",
    )
    parser.add_argument(
        "--stream-tokens",
        type=int,
        default=DEFAULT_STREAM_TOKENS,
        help=f"tokens of each throughput request (default {DEFAULT_STREAM_TOKENS})",
    )
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a goal of scripts/bench_goals.py (SERVING_GOALS) fails"
    )
    args = parser.parse_args()
    for name in ("clients", "requests", "streams", "stream_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    return args


def main() -> int:
    args = _parse_args()
    machine = cpu()
    print(f"CPU: {machine['model']} ({machine['cpus']} CPUs; {vector_units(machine)})")
    try:
        result = measure_serving(
            clients=args.clients,
            requests=args.requests,
            dtype=args.dtype,
            max_slots=args.max_slots,
            streams=args.streams,
            stream_tokens=args.stream_tokens,
        )
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(_result_lines(result)))
    print(cpu_line(machine))
    if args.write:
        write_section(_section(args, result, machine), BEGIN, END)
        print(f"updated {BENCHMARKS.relative_to(REPO)}")
    verdicts = check(SERVING_GOALS, measured(result))
    print(report(verdicts))
    return exit_status(verdicts) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
