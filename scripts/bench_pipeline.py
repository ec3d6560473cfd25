#!/usr/bin/env python3
"""Benchmark the model split across ranks: 1 rank vs 2 ranks on the same cores, measured in one run.

For P = 1 and P = 2 ranks, each a replica group started with ``shardstack-runtime local --shards P`` on
every CPU of this machine (P = 1: one rank with all of them; P = 2: each rank on its own half), serving
SmolLM2-135M-Instruct over HTTP; P = 2 with the default split (``--balance bytes``), with the split that
evens out the work of a pass (``--balance compute``), and with that split and 4 micro-batches in flight
instead of one per rank:

  1. tokens/s at 1 stream and at 8 concurrent streams (greedy, ``--new-tokens`` each, EOS ignored);
  2. the bubble fraction at 8 streams, from rank 0's /metrics over exactly that window:
     1 - sum(stage compute) / (stages x busy time); and the ceiling it leaves: the tokens over
     sum(stage compute) / stages, what the ranks would reach if no stage ever waited, against 1 rank;
  3. the seed's Master-Worker model, Total Time = N*T/P with T one request's time alone on one rank:
     the measured time for N requests (all at once) through P ranks against N*T/P;
  4. the point-to-point latency of a pass (rank 1's receive time per message) and the bytes per pass.

The groups take turns for ``--rounds`` rounds (in a rotating order) and medians are reported, so drift
hits them alike. The CPU model and its vector units are printed and written with the results.

    .venv/bin/python scripts/bench_pipeline.py --write
    .venv/bin/python scripts/bench_pipeline.py --check      # the goals: exit 1 on a FAIL

Ratios are what to read: absolute numbers drift with the machine's load. After every run the goals of
scripts/bench_goals.py (the bubble and 2 ranks vs 1 at 8 streams, default split) are printed as PASS, FAIL or
"not measured" (another --streams), and written under the table. With --check the run exits 1 when a goal
failed, and without --write it starts only the groups the goals compare (1 rank; 2 ranks split by bytes), half
the time. Run it on an idle machine before calling a runtime change done.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_doc import BENCHMARKS, write_section
from bench_goals import PIPELINE_GOALS, check, exit_status, goals_markdown, report
from bench_machine import cpu, cpu_line, vector_units

from shardstack_runtime.local import free_ports, is_ready

BEGIN, END = "<!-- bench_pipeline:begin -->", "<!-- bench_pipeline:end -->"
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
READY_TIMEOUT_S = 300


@dataclass(frozen=True)
class Config:
    """A replica group to measure: ``key`` names it in the goals' keys (``pipeline.<key>.<metric>``)."""

    key: str
    label: str
    shards: int
    balance: str = "bytes"
    micro_batches: int | None = None


CONFIGS = (
    Config("1-rank", "1 rank", 1),
    Config("2-ranks-bytes", "2 ranks, split by bytes (default)", 2, "bytes"),
    Config("2-ranks-compute", "2 ranks, split by compute", 2, "compute"),
    Config("2-ranks-compute-4mb", "2 ranks, split by compute, 4 micro-batches", 2, "compute", 4),
)
"""The first is the baseline every other group is compared with."""


@dataclass
class Group:
    """A running replica group of ``shards`` local ranks."""

    shards: int
    process: subprocess.Popen
    api: str
    metrics: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_group(config: Config, model_dir: Path, args: argparse.Namespace, log: Path) -> Group:
    shards = config.shards
    api_port, metrics_port = free_ports(), free_ports(shards)
    command = [
        sys.executable,
        "-m",
        "shardstack_runtime.cli",
        "local",
        "--shards",
        str(shards),
        "--balance",
        config.balance,
        *(["--micro-batches", str(config.micro_batches)] if config.micro_batches else []),
        "--model-uri",
        str(model_dir),
        "--api-port",
        str(api_port),
        "--metrics-port",
        str(metrics_port),
        "--dtype",
        args.dtype,
        "--max-slots",
        str(args.streams),
        "--max-model-len",
        "1024",
        "--model-name",
        "bench",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    group = Group(shards, process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}", log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not is_ready(f"{group.metrics}/ready"):
        if process.poll() is not None or time.monotonic() > deadline:
            group.stop()
            raise SystemExit(f"the {shards}-rank group did not become ready; its log:\n{log.read_text()}")
        time.sleep(0.2)
    return group


def complete(api: str, new_tokens: int) -> int:
    """One greedy completion of exactly ``new_tokens`` tokens; returns the tokens generated."""
    body = json.dumps(
        {"model": "bench", "prompt": PROMPT, "max_tokens": new_tokens, "temperature": 0, "ignore_eos": True}
    ).encode()
    request = urllib.request.Request(f"{api}/v1/completions", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())["usage"]["completion_tokens"]


def timed_batch(api: str, n: int, new_tokens: int) -> tuple[float, int]:
    """``n`` requests at once; the wall time until the last finished and the tokens generated."""
    with ThreadPoolExecutor(n) as pool:
        start = time.perf_counter()
        tokens = sum(pool.map(lambda _: complete(api, new_tokens), range(n)))
        return time.perf_counter() - start, tokens


def pipeline_counters(metrics_url: str) -> dict[str, float]:
    """Sum of stage compute, busy time, rank 1's transfer time, messages and bytes, from rank 0's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {"compute": 0.0, "busy": 0.0, "transfer": 0.0, "messages": 0.0, "bytes": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            stage = sample.labels.get("stage")
            if sample.name == "shardstack_pipeline_stage_compute_seconds_total":
                out["compute"] += sample.value
            elif sample.name == "shardstack_pipeline_busy_seconds_total":
                out["busy"] = sample.value
            elif sample.name == "shardstack_pipeline_stage_transfer_seconds_total" and stage == "1":
                out["transfer"] = sample.value
            elif sample.name == "shardstack_pipeline_p2p_messages_total" and sample.labels.get("dst") == "1":
                out["messages"] = sample.value
            elif sample.name == "shardstack_pipeline_p2p_bytes_total" and sample.labels.get("dst") == "1":
                out["bytes"] = sample.value
    return out


def measure(group: Group, args: argparse.Namespace) -> dict[str, float]:
    complete(group.api, 4)  # first request: everything warm
    one = statistics.median(timed_batch(group.api, 1, args.new_tokens)[0] for _ in range(args.repeat))
    before = pipeline_counters(group.metrics) if group.shards > 1 else None
    many, tokens = timed_batch(group.api, args.streams, args.new_tokens)
    result = {"T1": one, "tps1": args.new_tokens / one, "TN": many, "tpsN": tokens / many}
    if before is not None:
        after = pipeline_counters(group.metrics)
        delta = {k: after[k] - before[k] for k in after}
        result["bubble"] = 1 - delta["compute"] / (group.shards * delta["busy"])
        # The same tokens if no stage ever waited: every stage computing all the time, the work evenly split.
        result["tpsN_no_wait"] = tokens / (delta["compute"] / group.shards)
        result["latency_ms"] = 1000 * delta["transfer"] / max(delta["messages"], 1)
        result["kib_per_pass"] = delta["bytes"] / max(delta["messages"], 1) / 1024
    return result


def _parse_args() -> argparse.Namespace:
    """Return the command line's options: dtype, tokens per request, streams, repetitions, rounds, write, check."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="single-request timings per round (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every configuration (median)")
    parser.add_argument("--write", action="store_true", help=f"write the results into {BENCHMARKS.name}")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a goal of scripts/bench_goals.py failed (goals not measured, e.g. with --streams other "
        "than 8, do not fail); without --write, start only the groups the goals compare: "
        f"{'; '.join(config.label for config in _goal_configs())}",
    )
    return parser.parse_args()


def _goal_configs() -> tuple[Config, ...]:
    """Return the groups :data:`PIPELINE_GOALS` read, after the baseline: what ``--check`` alone starts."""
    keys = {goal.reads.split(".")[1] for goal in PIPELINE_GOALS}
    return tuple(config for index, config in enumerate(CONFIGS) if index == 0 or config.key in keys)


def _measured(med: dict[Config, dict[str, float]], streams: int) -> dict[str, float]:
    """Return each 2-rank group's bubble and throughput against 1 rank at ``streams`` streams, as the goals' keys."""
    one = med[CONFIGS[0]]
    out = {}
    for config, m in med.items():
        if config.shards > 1:
            out[f"pipeline.{config.key}.bubble_at_{streams}_streams"] = m["bubble"]
            out[f"pipeline.{config.key}.tps_{streams}_streams_vs_1_rank"] = m["tpsN"] / one["tpsN"]
    return out


def _run_rounds(
    model_dir: Path, args: argparse.Namespace, configs: tuple[Config, ...]
) -> dict[Config, list[dict[str, float]]]:
    """Return every round's measurements of each configuration, the groups started in a rotating order."""
    runs: dict[Config, list[dict[str, float]]] = {config: [] for config in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            order = configs[round_ % len(configs) :] + configs[: round_ % len(configs)]
            for config in order:
                group = start_group(config, model_dir, args, Path(tmp) / f"group-{config.shards}-{round_}.log")
                try:
                    runs[config].append(measure(group, args))
                finally:
                    group.stop()
                print(f"round {round_ + 1}/{args.rounds}, {config.label}: {runs[config][-1]}", file=sys.stderr)
    return runs


def _section(
    med: dict[Config, dict[str, float]], args: argparse.Namespace, cpus: int, machine: dict[str, str], goals: list[str]
) -> str:
    """Return the results as docs/BENCHMARKS.md's section: the groups' throughput, then the Master-Worker model."""
    one = med[CONFIGS[0]]
    n = args.streams
    t = one["T1"]

    lines = [
        "## Pipeline: 1 rank vs 2 ranks on the same cores (SmolLM2-135M-Instruct, CPU)",
        "",
        f"Command: `.venv/bin/python scripts/bench_pipeline.py --dtype {args.dtype} --new-tokens {args.new_tokens} "
        f"--streams {n} --repeat {args.repeat} --rounds {args.rounds}{' --check' if args.check else ''} --write` "
        f"({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {cpus} CPUs, {args.dtype}, medians of {args.rounds} "
        "rounds).",
        "",
        cpu_line(machine),
        "",
        f"Each group is `shardstack-runtime local --shards P` over HTTP on all {cpus} CPUs: 1 rank with {cpus} "
        f"threads, or 2 ranks each pinned to its own {max(cpus // 2, 1)} CPU(s). Requests are greedy "
        f"completions of {args.new_tokens} tokens, prefill included; the {n} streams are sent at once. The "
        "bubble is measured over the streams' window from rank 0's /metrics; 'if no stage waited' is the same "
        "tokens over the stages' summed compute time divided by the stages (the bubble removed and the work "
        "evenly split), the most the pipeline could reach with its passes as they are; the p2p latency is rank "
        "1's receive time per pass once rank 0 started sending.",
        "",
        f"| group | 1 stream tok/s | {n} streams tok/s | vs 1 rank, 1 / {n} streams | bubble at {n} streams | "
        f"{n} streams vs 1 rank if no stage waited | p2p latency per pass | bytes per pass |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config, m in med.items():
        if config.shards == 1:
            lines.append(f"| {config.label} | {m['tps1']:.1f} | {m['tpsN']:.1f} | 1 / 1 | n/a | n/a | n/a | n/a |")
            continue
        lines.append(
            f"| {config.label} | {m['tps1']:.1f} | {m['tpsN']:.1f} | {m['tps1'] / one['tps1']:.2f} / "
            f"**{m['tpsN'] / one['tpsN']:.2f}** | {m['bubble']:.1%} | {m['tpsN_no_wait'] / one['tpsN']:.2f} | "
            f"{m['latency_ms']:.2f} ms | "
            f"{m['kib_per_pass']:.1f} KiB |"
        )
    if goals:
        lines += ["", "Goals (`--check` exits 1 on a FAIL; read a FAIL against the CPU above):", "", *goals]
    lines += [
        "",
        f"Master-Worker model, Total Time = N·T/P with T = {t:.2f} s (one request alone on 1 rank); N requests "
        "are sent at once:",
        "",
        "| group | P | N | measured (s) | N·T/P (s) | measured / model |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for config, m in med.items():
        p = config.shards
        for count, measured in ((1, m["T1"]), (n, m["TN"])):
            model = count * t / p
            lines.append(f"| {config.label} | {p} | {count} | {measured:.2f} | {model:.2f} | {measured / model:.2f} |")
    return "\n".join(lines)


def main() -> int:
    args = _parse_args()

    from shardstack_runtime.demo_model import prepare_demo_model

    machine = cpu()
    print(f"CPU: {machine['model']} ({machine['cpus']} CPUs; {vector_units(machine)})", file=sys.stderr)
    model_dir = prepare_demo_model()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    runs = _run_rounds(model_dir, args, _goal_configs() if args.check and not args.write else CONFIGS)
    med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}
    verdicts = check(PIPELINE_GOALS, _measured(med, args.streams))
    section = _section(med, args, cpus, machine, goals_markdown(verdicts))
    print(section)
    if args.write:
        write_section(f"{BEGIN}\n{section}\n{END}", BEGIN, END)
        print(f"written to {BENCHMARKS}", file=sys.stderr)
    print(report(verdicts))
    return exit_status(verdicts) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
