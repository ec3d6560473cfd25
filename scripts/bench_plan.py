#!/usr/bin/env python3
"""Benchmark `shardstack plan STACK` against the bare import time of the SDK modules it uses.

For each stack, in one run, alternating the two commands so that machine noise hits both:
  import floor = a fresh interpreter importing exactly the pulumi* modules that planning loads;
  plan         = a fresh interpreter running `shardstack plan STACK` end to end.
The ratio plan / import floor and the difference (the program's own overhead) are printed and,
with --write, stored in docs/BENCHMARKS.md between this benchmark's markers.

    .venv/bin/python scripts/bench_plan.py --repeat 5 --write
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench_plan:begin -->", "<!-- bench_plan:end -->"

# Runs a plan in-process and lists the SDK modules it loaded, so the import floor imports the same set.
LIST_MODULES = """
import json, sys
from shardstack.plan import plan_stack
plan_stack(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi'))))
"""


def _seconds(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_stack(stack: str, repeat: int) -> dict[str, float | str | int]:
    listing = subprocess.run([sys.executable, "-c", LIST_MODULES, stack], cwd=REPO, check=True,
                             capture_output=True, text=True)
    modules = json.loads(listing.stdout.strip().splitlines()[-1])
    import_cmd = [sys.executable, "-c", "\n".join(f"import {m}" for m in modules)]
    plan_cmd = [sys.executable, "-m", "shardstack.cli", "plan", stack]
    _seconds(import_cmd)  # warm the page cache for both before measuring
    _seconds(plan_cmd)
    imports, plans = [], []
    for _ in range(repeat):
        imports.append(_seconds(import_cmd))
        plans.append(_seconds(plan_cmd))
    floor, plan = statistics.median(imports), statistics.median(plans)
    return {"stack": stack, "modules": len(modules), "import_s": floor, "plan_s": plan,
            "ratio": plan / floor, "overhead_s": plan - floor}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", nargs="*", help="stacks to plan (default: every stacks/Pulumi.*.yaml)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per command (median reported)")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args()

    from shardstack.plan import find_project

    stacks = args.stacks or find_project(REPO).stacks()
    rows = []
    header = f"{'stack':<12} {'sdk modules':>11} {'import floor s':>14} {'plan s':>8} {'ratio':>6} {'overhead s':>10}"
    print(header)
    for stack in stacks:
        row = bench_stack(stack, args.repeat)
        rows.append(row)
        print(f"{row['stack']:<12} {row['modules']:>11} {row['import_s']:>14.2f} {row['plan_s']:>8.2f} "
              f"{row['ratio']:>6.2f} {row['overhead_s']:>10.2f}")

    if args.write:
        table = ["| stack | SDK modules imported | import floor (s) | `shardstack plan` (s) | ratio | overhead (s) |",
                 "|---|---:|---:|---:|---:|---:|"]
        table += [f"| {r['stack']} | {r['modules']} | {r['import_s']:.2f} | {r['plan_s']:.2f} | "
                  f"{r['ratio']:.2f} | {r['overhead_s']:.2f} |" for r in rows]
        section = "\n".join([
            BEGIN,
            "## Offline plan vs. SDK import time",
            "",
            f"Command: `.venv/bin/python scripts/bench_plan.py --repeat {args.repeat} --write` "
            f"({datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, medians of {args.repeat} alternating runs, each in a fresh "
            "interpreter).",
            "",
            "The import floor is a fresh interpreter importing exactly the `pulumi*` modules that planning "
            "the stack loads; the overhead is what the program, the mocks and the report add on top.",
            "",
            *table,
            END,
        ])
        text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n\n" \
            "Every number here comes from a script in `scripts/`, with the command that produced it.\n"
        if BEGIN in text:
            head, _, rest = text.partition(BEGIN)
            _, _, tail = rest.partition(END)
            text = head + section + tail
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        BENCHMARKS.parent.mkdir(exist_ok=True)
        BENCHMARKS.write_text(text)
        print(f"updated {BENCHMARKS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
