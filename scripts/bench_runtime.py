#!/usr/bin/env python3
"""Benchmark the runtime on SmolLM2-135M-Instruct, everything measured side by side in one run.

  1. single-stream decode tokens/s: our engine vs transformers `generate`, same dtype, same prompt;
  2. our single-stream time per token vs the bandwidth floor (weight bytes / memory read bandwidth,
     the bandwidth measured in this run);
  3. aggregate tokens/s of our engine at 1, 4 and 8 concurrent streams;
  4. weight load GiB/s (loader, verify off and on) vs the raw read ceiling of the same file (bench_load.py).

    .venv/bin/python scripts/bench_runtime.py --dtypes fp32 bf16 --write
    .venv/bin/python scripts/bench_runtime.py --only load --repeat 7      # item 4 alone, under a minute
    .venv/bin/python scripts/bench_runtime.py --check                     # the goals: exit 1 on a FAIL

Ratios are what to read: absolute numbers drift with the machine's load. After every run the goals of
scripts/bench_goals.py are printed as PASS, FAIL or "not measured" (a goal this run's options left out, never
a failure); the written sections list those measured. With --check the run exits 1 when a goal failed, and
without --write it measures only what the goals read: bf16 decode (unless --dtypes is given) and the BLAKE3
load from disk. Run it on an idle machine before calling a runtime change done.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

import torch
from bench_doc import BENCHMARKS, REPO, write_section
from bench_goals import RUNTIME_GOALS, check, exit_status, goals_markdown, report
from bench_load import LOAD_BEGIN, LOAD_CASES, LOAD_END, load_ratio, load_section, load_summary
from bench_machine import cpu, cpu_line, vector_units

from shardstack_runtime.threads import compute_here, leave_cores_to_compute

BEGIN, END = "<!-- bench_runtime:begin -->", "<!-- bench_runtime:end -->"
AVX2_BEGIN, AVX2_END = "<!-- bench_runtime_avx2:begin -->", "<!-- bench_runtime_avx2:end -->"
AVX2_CODE_PATHS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorized kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN: without AVX-512 it has no bf16 products, as on an AVX2-only CPU
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL's fp32 products
    "SHARDSTACK_KERNEL_ISA": "avx2",  # the runtime's bf16 kernel
}
"""What ``--code-paths avx2`` sets: every library's code path capped at AVX2, on both sides of the comparison."""
PARTS = ("decode", "load")
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
T = TypeVar("T")
DEFAULT_DTYPES = ["fp32", "bf16"]


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def read_bandwidth_gib_s(repeat: int) -> float:
    """Memory read bandwidth: a reduction over 1 GiB that no cache holds."""
    x = torch.ones(256 << 20, dtype=torch.float32)  # 1 GiB, touched
    seconds = median_time(lambda: x.sum(), repeat)
    return 1.0 / seconds


def matmul_chain_ms(config, dtype: torch.dtype, repeat: int) -> float:
    """Time of the bare matrix products of one decode step (batch 1): the model's compute, nothing else."""
    c = config
    shapes = [
        (c.num_heads * c.head_dim + 2 * c.num_kv_heads * c.head_dim, c.hidden_size),
        (c.hidden_size, c.num_heads * c.head_dim),
        (2 * c.intermediate_size, c.hidden_size),
        (c.hidden_size, c.intermediate_size),
    ] * c.num_layers
    weights = [torch.randn(shape, dtype=dtype) for shape in [*shapes, (c.vocab_size, c.hidden_size)]]
    x = {w.shape[1]: torch.randn(1, w.shape[1], dtype=dtype) for w in weights}

    def step() -> None:
        with torch.inference_mode():
            for w in weights:
                torch.nn.functional.linear(x[w.shape[1]], w)

    step()
    return median_time(lambda: [step() for _ in range(10)], repeat) * 100  # ms per step


def transformers_generate(model_dir: Path, dtype: torch.dtype, threads: int) -> Callable[[int], None]:
    """Return ``run(n)``: transformers' greedy ``generate`` of exactly n new tokens for the prompt.

    transformers runs in a process of its own, with ``threads`` cores: in this one, the engine thread's
    OpenMP pool would slow it down, as its pool would the engine's (runtime/shardstack_runtime/threads.py).
    The pipe's round trip is in both ``run(n)`` and ``run(1)`` and cancels out of the decode rate.
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_transformers_child, args=(theirs, str(model_dir), dtype, threads), daemon=True)
    child.start()
    ours.recv()  # loaded

    def run(n: int) -> None:
        ours.send(n)
        ours.recv()

    weakref.finalize(run, ours.send, None)  # the child ends once nothing runs it any more
    return run


def _transformers_child(pipe: Connection, model_dir: str, dtype: torch.dtype, threads: int) -> None:
    """Load the model with transformers, then generate as many tokens as each message asks until told None."""
    # transformers' names from their defining modules: importing the package itself makes pyright bind
    # every model family it has (about a minute of each type check).
    from transformers.models.auto.tokenization_auto import AutoTokenizer
    from transformers.models.llama import LlamaForCausalLM

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    pipe.send("loaded")
    while (n := pipe.recv()) is not None:
        with torch.inference_mode():
            # transformers types `generate`'s self as a Protocol written for the `ty` checker, which its
            # own models do not satisfy under pyright (a property `device` against a mutable attribute).
            model.generate(  # pyright: ignore[reportAttributeAccessIssue]
                ids, max_new_tokens=n, min_new_tokens=n, do_sample=False
            )
        pipe.send(n)


def on_all_cores(fn: Callable[[], T], threads: int) -> T:
    """Run ``fn`` in a thread of its own on ``threads`` cores; the thread and its OpenMP pool end with it.

    The bench's main thread keeps torch single-threaded, as a serving process does (threads.py), so that
    at most one thread holds an OpenMP pool at a time.
    """
    result: list[T] = []
    worker = threading.Thread(target=lambda: (compute_here(threads), result.append(fn())))
    worker.start()
    worker.join()
    return result[0]


def decode_rates(runs: dict[str, Callable[[int], None]], new_tokens: int, repeat: int) -> dict[str, float]:
    """Single-stream decode tokens/s of each ``run(n)``: (n - 1) / (time(n) - time(1)), prefill cancelled out.

    The runs alternate inside each repetition, so that machine noise hits every side alike.
    """
    for run in runs.values():
        run(new_tokens)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            long = median_time(lambda run=run: run(new_tokens), 1)
            short = median_time(lambda run=run: run(1), 1)
            rates[name].append((new_tokens - 1) / (long - short))
    return {name: statistics.median(values) for name, values in rates.items()}


async def _generate(engine, prompt_ids: list[int], new_tokens: int) -> int:
    from shardstack_runtime.generation import GenerationRequest, SamplingParams

    request = GenerationRequest(
        request_id=uuid.uuid4().hex,
        prompt_token_ids=prompt_ids,
        params=SamplingParams(max_tokens=new_tokens, temperature=0.0, ignore_eos=True),
        arrival_time=time.monotonic(),
    )
    count = 0
    async for event in engine.generate(request):
        count += event.token_id is not None
    return count


def engine_tokens_per_s(engine, prompt_ids: list[int], streams: int, new_tokens: int, repeat: int) -> float:
    """Aggregate generated tokens per second with ``streams`` concurrent requests (prefill included)."""

    async def once() -> int:
        counts = await asyncio.gather(*(_generate(engine, prompt_ids, new_tokens) for _ in range(streams)))
        return sum(counts)

    asyncio.run(once())  # warm-up
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = asyncio.run(once())
        rates.append(tokens / (time.perf_counter() - start))
    return statistics.median(rates)


def _parse_args() -> argparse.Namespace:
    """Return the command line's options: dtypes, tokens per generation, repetitions, parts, write, check."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    goal_dtypes, goal_loads = _goal_cases()
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=sorted(DTYPES),
        help=f"default: {' '.join(DEFAULT_DTYPES)}; with --check and no --write, those the goals read "
        f"({' '.join(goal_dtypes)})",
    )
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=PARTS,
        help="measure one part: decode (items 1-3) or load (item 4, under a minute); default: both",
    )
    parser.add_argument(
        "--code-paths",
        choices=("native", "avx2"),
        default="native",
        help="avx2: run the decode part with torch, oneDNN, MKL and the bf16 kernel capped at AVX2 (the process "
        "restarts with " + " ".join(f"{k}={v}" for k, v in AVX2_CODE_PATHS.items()) + "): an AVX2-only CPU's "
        "code on this one, written to a section of its own",
    )
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md (the parts measured)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a goal of scripts/bench_goals.py failed (goals not measured do not fail); without "
        f"--write, measure only what the goals read: {' and '.join(goal_dtypes)} decode, the load of "
        f"{' and '.join(f'a {h} manifest from {_where(c)}' for h, c in goal_loads)}. The load goal reads the "
        "disk (evicted) row, not the page-cache one: from the page cache the raw read is itself CPU work and "
        "the read+hash ceiling bounds a verified load (about 0.47x on 2 cores; docs/BENCHMARKS.md, 'Verified "
        "loads')",
    )
    args = parser.parse_args()
    if args.code_paths == "avx2" and args.only != "decode":
        parser.error("--code-paths avx2 measures decode: add --only decode")
    args.dtypes = args.dtypes or (goal_dtypes if _goals_only(args) else DEFAULT_DTYPES)
    return args


def _goals_only(args: argparse.Namespace) -> bool:
    """Whether this run measures only what the goals read: ``--check`` without ``--write`` (no section to fill)."""
    return args.check and not args.write


def _where(cold: bool) -> str:
    """Return where a load case reads from, as in the measurements' keys."""
    return "disk" if cold else "page_cache"


def _goal_cases() -> tuple[list[str], list[tuple[str, bool]]]:
    """Return the dtypes and load cases that :data:`RUNTIME_GOALS` read: what ``--check`` alone measures."""
    keys = [goal.reads.split(".") for goal in RUNTIME_GOALS]
    dtypes = [name for name in DTYPES if ["decode", name] in (key[:2] for key in keys)]
    loads = [case for case in LOAD_CASES if ["load", case[0], _where(case[1])] in (key[:3] for key in keys)]
    return dtypes, loads


def _decode_measured(rows: list[dict[str, str | float]]) -> dict[str, float]:
    """Return the decode rows as the goals' keys: ``decode.<dtype>.<metric>``."""
    return {
        f"decode.{row['dtype']}.{key}": value for row in rows for key, value in row.items() if isinstance(value, float)
    }


def _load_measured(loads: dict[tuple[str, bool], dict[str, float]]) -> dict[str, float]:
    """Return the load measurements as the goals' keys: ``load.<hash>.<disk|page_cache>.<metric>``."""
    return {
        f"load.{hash_name}.{_where(cold)}.{key}": value
        for (hash_name, cold), load in loads.items()
        for key, value in load.items()
    }


def _dtype_row(
    name: str, model_dir: Path, bandwidth: float, threads: int, args: argparse.Namespace
) -> dict[str, str | float]:
    """Return one dtype's measurements: decode rates vs transformers, the floors, and the streams' scaling."""
    from shardstack_runtime.engine.engine import Engine

    dtype = DTYPES[name]
    engine = Engine.from_uri(str(model_dir), dtype=dtype, max_slots=8, threads=threads)
    engine.wait_ready(timeout=600)
    prompt_ids = engine.tokenizer.encode(PROMPT)
    weight_bytes = engine.shard.model.nbytes  # every tensor a decode step reads, once

    def ours_run(n: int, engine=engine, prompt_ids=prompt_ids) -> None:
        asyncio.run(_generate(engine, prompt_ids, n))

    rates = decode_rates(
        {"ours": ours_run, "transformers": transformers_generate(model_dir, dtype, threads)},
        args.new_tokens,
        args.repeat,
    )
    ours, theirs = rates["ours"], rates["transformers"]
    streams = {n: engine_tokens_per_s(engine, prompt_ids, n, args.new_tokens, args.repeat) for n in (1, 4, 8)}
    engine.shutdown()
    floor_ms = weight_bytes / (bandwidth * (1 << 30)) * 1000
    chain_ms = on_all_cores(lambda: matmul_chain_ms(engine.shard.config, dtype, args.repeat), threads)
    return {
        "dtype": name,
        "ours": ours,
        "transformers": theirs,
        "vs_transformers": ours / theirs,
        "ms_per_token": 1000 / ours,
        "floor_ms": floor_ms,
        "vs_floor": floor_ms / (1000 / ours),
        "chain_ms": chain_ms,
        "vs_chain": chain_ms / (1000 / ours),
        **{f"streams_{n}": rate for n, rate in streams.items()},
        "scale_8": streams[8] / streams[1],
    }


def _row_summary(row: dict[str, str | float]) -> str:
    """Return one dtype's measurements as the line printed while the benchmark runs."""
    return (
        f"{row['dtype']}: ours {row['ours']:.1f} tok/s vs transformers {row['transformers']:.1f} tok/s = "
        f"{row['vs_transformers']:.2f}x; "
        f"{row['ms_per_token']:.1f} ms/token vs floor {row['floor_ms']:.1f} ms = {row['vs_floor']:.2f}x of floor "
        f"(bare matmul chain {row['chain_ms']:.1f} ms = {row['vs_chain']:.2f}x); "
        f"streams 1/4/8: {row['streams_1']:.1f}/{row['streams_4']:.1f}/{row['streams_8']:.1f} tok/s "
        f"(8 streams = {row['scale_8']:.2f}x one)"
    )


def _section(
    args: argparse.Namespace,
    rows: list[dict[str, str | float]],
    threads: int,
    bandwidth: float,
    machine: dict[str, str],
    goals: list[str],
) -> str:
    """Return this run's decode section of docs/BENCHMARKS.md, between its begin and end markers."""
    table = [
        "| dtype | ours tok/s | transformers tok/s | ours / transformers | ms/token | bandwidth floor ms "
        "| floor / ours | matmul chain ms | chain / ours | 1 / 4 / 8 streams tok/s | 8 streams / 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table += [
        f"| {r['dtype']} | {r['ours']:.1f} | {r['transformers']:.1f} | {r['vs_transformers']:.2f} | "
        f"{r['ms_per_token']:.1f} | {r['floor_ms']:.1f} | {r['vs_floor']:.2f} | {r['chain_ms']:.1f} | "
        f"{r['vs_chain']:.2f} | "
        f"{r['streams_1']:.1f} / {r['streams_4']:.1f} / {r['streams_8']:.1f} | {r['scale_8']:.2f} |"
        for r in rows
    ]
    avx2 = args.code_paths == "avx2"
    return "\n".join(
        [
            AVX2_BEGIN if avx2 else BEGIN,
            "## Runtime on SmolLM2-135M-Instruct (one rank, CPU" + (", AVX2 code paths only)" if avx2 else ")"),
            "",
            *(
                [
                    "Every library capped at AVX2 on this CPU, on both sides ("
                    + ", ".join(f"`{k}={v}`" for k, v in AVX2_CODE_PATHS.items())
                    + "): the code an AVX2-only CPU runs, not its memory system or clocks.",
                    "",
                ]
                if avx2
                else []
            ),
            f"Command: `.venv/bin/python scripts/bench_runtime.py --dtypes {' '.join(args.dtypes)} "
            f"--new-tokens {args.new_tokens} --repeat {args.repeat}{_flags(args)} --write` "
            f"({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{threads} threads).",
            "",
            cpu_line(machine),
            "",
            "Decode tokens/s are single-stream, greedy, a long generation minus a 1-token one (prefill) on both "
            "sides. The floor is the weight bytes over the memory read bandwidth measured in the same run "
            f"({bandwidth:.1f} GiB/s): 'floor / ours' is the fraction of the floor reached. The matmul chain "
            "is the bare matrix products of one batch-1 decode step in the same dtype (the compute a step "
            "cannot avoid): 'chain / ours' is the fraction of it reached. Streams are "
            "aggregate generated tokens/s with that many concurrent requests, prefill included.",
            "",
            *table,
            *goals,
            AVX2_END if avx2 else END,
        ]
    )


def _goals_block(goals: list[str]) -> list[str]:
    """Return a section's goal table with the sentence that introduces it, or nothing when it has none."""
    if not goals:
        return []
    return ["", "Goals (`--check` exits 1 on a FAIL; read a FAIL against the CPU above):", "", *goals]


def _flags(args: argparse.Namespace) -> str:
    """Return the options besides dtypes, tokens and repeat that the written command line repeats."""
    return (
        (f" --only {args.only}" if args.only else "")
        + (f" --code-paths {args.code_paths}" if args.code_paths != "native" else "")
        + (" --check" if args.check else "")
    )


def main() -> int:
    args = _parse_args()
    if args.code_paths == "avx2" and any(os.environ.get(k) != v for k, v in AVX2_CODE_PATHS.items()):
        # The libraries read these when they load: start again with them set.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2_CODE_PATHS})
    threads = leave_cores_to_compute()  # as a serving process does: only the engine thread runs parallel kernels
    parts = [args.only] if args.only else list(PARTS)

    from shardstack_runtime.demo_model import prepare_demo_model

    machine = cpu()
    print(f"CPU: {machine['model']} ({machine['cpus']} CPUs; {vector_units(machine)})")
    model_dir = prepare_demo_model()
    measured: dict[str, float] = {}
    if "decode" in parts:
        bandwidth = on_all_cores(lambda: read_bandwidth_gib_s(args.repeat), threads)
        print(
            f"SmolLM2-135M-Instruct at {model_dir}; torch {torch.__version__}, {threads} threads; "
            f"memory read bandwidth {bandwidth:.1f} GiB/s"
        )
        rows = []
        for name in args.dtypes:
            row = _dtype_row(name, model_dir, bandwidth, threads, args)
            rows.append(row)
            print(_row_summary(row))
        measured |= _decode_measured(rows)
        if args.write:
            goals = _goals_block(goals_markdown(check(RUNTIME_GOALS, _decode_measured(rows))))
            section = _section(args, rows, threads, bandwidth, machine, goals)
            if args.code_paths == "avx2":
                write_section(section, AVX2_BEGIN, AVX2_END, after=LOAD_END)
            else:
                write_section(section, BEGIN, END)
    if "load" in parts:
        loads = {}
        cases = _goal_cases()[1] if _goals_only(args) else LOAD_CASES
        with tempfile.TemporaryDirectory() as scratch:
            for hash_name, cold in cases:
                load = loads[hash_name, cold] = load_ratio(
                    model_dir, Path(scratch), args.repeat, hash_name=hash_name, cold=cold
                )
                where = "disk (evicted)" if cold else "page cache"
                print(
                    f"load, {hash_name} manifest, {where} (load average {os.getloadavg()[0]:.1f}): {load_summary(load)}"
                )
        measured |= _load_measured(loads)
        if args.write:
            command = f".venv/bin/python scripts/bench_runtime.py --repeat {args.repeat}{_flags(args)} --write"
            goals = _goals_block(goals_markdown(check(RUNTIME_GOALS, _load_measured(loads))))
            section = load_section(command, args.repeat, loads, machine, goals)
            write_section(section, LOAD_BEGIN, LOAD_END, after=END)
    if args.write:
        print(f"updated {BENCHMARKS.relative_to(REPO)}")
    verdicts = check(RUNTIME_GOALS, measured)
    print(report(verdicts))
    return exit_status(verdicts) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
