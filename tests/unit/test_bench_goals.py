"""The benchmarks' goal check (scripts/bench_goals.py) on given numbers: pass, fail, not measured.

Nothing here times anything: the goals are benchmarks, run by hand with ``--check`` on an idle machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

# scripts/ is not a package: `python scripts/bench_runtime.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(_SCRIPTS))

from bench_goals import (  # noqa: E402
    GOALS,
    PIPELINE_GOALS,
    RUNTIME_GOALS,
    SERVING_GOALS,
    check,
    exit_status,
    goals_markdown,
    report,
)

MET = {
    "decode.bf16.scale_8": 6.96,
    "decode.bf16.vs_transformers": 1.67,
    "load.blake3.disk.ratio_verified": 0.84,
    "pipeline.2-ranks-bytes.bubble_at_8_streams": 0.08,
    "pipeline.2-ranks-bytes.tps_8_streams_vs_1_rank": 0.97,
    "serving.load.p99_over_bound": 0.9,
    "serving.load.unanswered": 0,
}


def test_every_goal_met_passes_and_exits_0() -> None:
    verdicts = check(GOALS, MET)
    assert [v.status for v in verdicts] == ["PASS"] * len(GOALS)
    assert exit_status(verdicts) == 0
    assert report(verdicts).splitlines()[-1] == f"  {len(GOALS)} PASS, 0 FAIL, 0 not measured"


def test_a_goal_missed_fails_with_its_value_and_bound_and_exits_1() -> None:
    verdicts = check(PIPELINE_GOALS, MET | {"pipeline.2-ranks-bytes.bubble_at_8_streams": 0.148})
    assert [(v.goal.name, v.status) for v in verdicts] == [("pipeline_bubble", "FAIL"), ("two_ranks_vs_one", "PASS")]
    assert exit_status(verdicts) == 1
    line = report(verdicts).splitlines()[1]
    assert line.split()[0] == "FAIL" and "pipeline_bubble: 14.8%, goal ≤ 10.0%" in line


def test_a_goal_not_measured_is_reported_so_and_does_not_fail() -> None:
    only_load = {"load.blake3.disk.ratio_verified": 0.84, "load.blake3.page_cache.ratio_verified": 0.43}
    verdicts = check(RUNTIME_GOALS, only_load)
    assert [v.status for v in verdicts] == ["not measured", "not measured", "PASS"]
    assert exit_status(verdicts) == 0
    assert "not measured  streams_8_vs_1: —, goal ≥ 5.00x" in report(verdicts)
    assert exit_status(check(GOALS, {})) == 0


def test_bounds_are_inclusive_both_ways() -> None:
    at_bounds = {goal.reads: goal.bound for goal in GOALS}
    assert {v.goal.name: v.status for v in check(GOALS, at_bounds)} == {
        "streams_8_vs_1": "PASS",
        "single_stream_vs_transformers": "PASS",
        "verified_load_from_disk": "PASS",
        "pipeline_bubble": "PASS",
        "two_ranks_vs_one": "PASS",
        "load_waits_for_its_work_only": "PASS",
        "load_all_answered": "PASS",
    }
    beyond = {"serving.load.p99_over_bound": 1.01, "serving.load.unanswered": 1}
    assert [v.status for v in check(SERVING_GOALS, beyond)] == ["FAIL", "FAIL"]


def test_the_docs_table_lists_measured_goals_only() -> None:
    table = goals_markdown(check(RUNTIME_GOALS, {"decode.bf16.scale_8": 4.2}))
    assert len(table) == 3
    assert table[2].endswith("| 4.20x | ≥ 5.00x | **FAIL** |")
    assert goals_markdown(check(RUNTIME_GOALS, {})) == []


def test_each_goal_belongs_to_a_benchmark_that_exists() -> None:
    assert set(RUNTIME_GOALS) | set(PIPELINE_GOALS) | set(SERVING_GOALS) == set(GOALS)
    assert all((_SCRIPTS / goal.benchmark).is_file() for goal in GOALS)
