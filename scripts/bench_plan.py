#!/usr/bin/env python3
"""Benchmark `shardstack plan STACK` against the bare import time of the SDKs that stack needs.

For each stack, in one run, alternating the two commands so that machine noise hits both:
  import floor = a fresh interpreter importing the pulumi* modules that planning loads, kept to the SDKs a
                 stack of its cloud needs (pulumi itself plus the packages `shardstack.offline.fakes.PROVIDERS`
                 declares for every cloud and for the stack's own);
  plan         = a fresh interpreter running `shardstack plan STACK` end to end.
The ratio plan / import floor (target: at most 1.5) and the difference (the program's own overhead) are
printed and, with --write, stored in docs/BENCHMARKS.md between this benchmark's markers, with the CPU.
An SDK that planning loads but the stack's cloud does not need is printed loudly: it is pure overhead.

    .venv/bin/python scripts/bench_plan.py --repeat 3 --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_machine import cpu

from shardstack.offline.fakes import sdk_packages
from shardstack.plan import find_project

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench_plan:begin -->", "<!-- bench_plan:end -->"
# `shardstack plan` may take at most this many times the import time of the SDKs its stack needs.
TARGET_RATIO = 1.5

# Runs a plan in-process and lists the SDK modules it loaded; the floor imports those its cloud needs.
LIST_MODULES = """
import json, sys
from shardstack.plan import plan_stack
plan_stack(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi'))))
"""


def _seconds(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return its wall-clock seconds and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@dataclass(frozen=True)
class StackTiming:
    """One stack's plan against the import floor of the SDKs its cloud needs (medians, seconds)."""

    stack: str
    sdks: list[str]
    modules: int
    import_s: float
    plan_s: float
    import_cpu_s: float
    plan_cpu_s: float
    unneeded: list[str]

    @property
    def ratio(self) -> float:
        return self.plan_s / self.import_s

    @property
    def cpu_ratio(self) -> float:
        return self.plan_cpu_s / self.import_cpu_s

    @property
    def overhead_s(self) -> float:
        return self.plan_s - self.import_s


def bench_stack(stack: str, repeat: int) -> StackTiming:
    cloud = str(find_project(REPO).stack_config(stack)["shardstack:cloud"])
    listing = subprocess.run(
        [sys.executable, "-c", LIST_MODULES, stack], cwd=REPO, check=True, capture_output=True, text=True
    )
    loaded = json.loads(listing.stdout.strip().splitlines()[-1])
    needed = {"pulumi", *sdk_packages(cloud)}
    modules = [m for m in loaded if m.split(".")[0] in needed]
    unneeded = sorted({m.split(".")[0] for m in loaded} - needed)
    if unneeded:
        print(
            f"!!! {stack}: planning a {cloud} stack loaded {', '.join(unneeded)}, which it does not need "
            "(see shardstack.offline.fakes.PROVIDERS)",
            file=sys.stderr,
        )
    import_cmd = [sys.executable, "-c", "\n".join(f"import {m}" for m in modules)]
    plan_cmd = [sys.executable, "-m", "shardstack.cli", "plan", stack]
    _seconds(import_cmd)  # warm the page cache for both before measuring
    _seconds(plan_cmd)
    imports, plans = [], []
    for _ in range(repeat):
        imports.append(_seconds(import_cmd))
        plans.append(_seconds(plan_cmd))
    return StackTiming(
        stack=stack,
        sdks=sorted({m.split(".")[0] for m in modules}),
        modules=len(modules),
        import_s=statistics.median(w for w, _ in imports),
        plan_s=statistics.median(w for w, _ in plans),
        import_cpu_s=statistics.median(c for _, c in imports),
        plan_cpu_s=statistics.median(c for _, c in plans),
        unneeded=unneeded,
    )


def section(rows: list[StackTiming], repeat: int, machine: dict[str, str], load: tuple[float, float]) -> str:
    """Return this benchmark's section of docs/BENCHMARKS.md."""
    table = [
        "| stack | SDKs it needs | SDK modules imported | import floor (s) | `shardstack plan` (s) | ratio "
        f"| ≤ {TARGET_RATIO}x | CPU s: floor / plan (ratio) | SDKs loaded but not needed |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    table += [
        f"| {r.stack} | {', '.join(r.sdks)} | {r.modules} | {r.import_s:.2f} | {r.plan_s:.2f} | "
        f"{r.ratio:.2f} | {'yes' if r.ratio <= TARGET_RATIO else '**no**'} | "
        f"{r.import_cpu_s:.2f} / {r.plan_cpu_s:.2f} ({r.cpu_ratio:.2f}) | {', '.join(r.unneeded) or 'none'} |"
        for r in rows
    ]
    return "\n".join(
        [
            BEGIN,
            "## Offline plan vs. SDK import time",
            "",
            f"Command: `.venv/bin/python scripts/bench_plan.py --repeat {repeat} --write` "
            f"({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {machine['cpus']} CPUs, Python "
            f"{platform.python_version()}, medians of {repeat} alternating runs, each in a fresh interpreter).",
            "",
            f"CPU: {machine['model']}; flags: {machine['flags']}. Load average (1 min) {load[0]:.1f} at the start, "
            f"{load[1]:.1f} at the end: the CPU seconds beside the wall-clock ones are what other work on the machine "
            "does not inflate.",
            "",
            "The import floor is a fresh interpreter importing the `pulumi*` modules that planning the stack loads, "
            "kept to the SDKs a stack of its cloud needs (`pulumi`, the Kubernetes and random providers, and its "
            "own cloud's packages as `shardstack.offline.fakes.PROVIDERS` declares them); the ratio is the plan "
            f"over that floor (target: at most {TARGET_RATIO}x). The last column lists any SDK the plan loaded "
            "that its cloud does not need.",
            "",
            *table,
            END,
        ]
    )


def write_section(text_of_section: str) -> None:
    text = (
        BENCHMARKS.read_text()
        if BENCHMARKS.exists()
        else "# Benchmarks\n\nEvery number here comes from a script in `scripts/`, with the command that produced it.\n"
    )
    if BEGIN in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + text_of_section + tail
    else:
        text = text.rstrip() + "\n\n" + text_of_section + "\n"
    BENCHMARKS.parent.mkdir(exist_ok=True)
    BENCHMARKS.write_text(text)
    print(f"updated {BENCHMARKS.relative_to(REPO)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", nargs="*", help="stacks to plan (default: every stacks/Pulumi.*.yaml)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per command (median reported)")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args()

    machine = cpu()
    load_at_start = os.getloadavg()[0]
    print(f"CPU: {machine['model']} ({machine['cpus']} CPUs); flags: {machine['flags']}")
    stacks = args.stacks or find_project(REPO).stacks()
    rows = []
    print(
        f"{'stack':<12} {'sdk modules':>11} {'import floor s':>14} {'plan s':>8} {'ratio':>6} {'overhead s':>10} "
        f"{'cpu ratio':>9}",
        flush=True,
    )
    for stack in stacks:
        row = bench_stack(stack, args.repeat)
        rows.append(row)
        over = "" if row.ratio <= TARGET_RATIO else f"  over {TARGET_RATIO}x"
        print(
            f"{row.stack:<12} {row.modules:>11} {row.import_s:>14.2f} {row.plan_s:>8.2f} {row.ratio:>6.2f} "
            f"{row.overhead_s:>10.2f} {row.cpu_ratio:>9.2f}{over}",
            flush=True,
        )
    if args.write:
        write_section(section(rows, args.repeat, machine, (load_at_start, os.getloadavg()[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
