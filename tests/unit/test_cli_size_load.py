"""`shardstack size` in load mode: the groups, GPUs and $/hour a load needs, from the capacity model."""

from __future__ import annotations

import json

import pytest

from shardstack.cli import EXIT_INPUT_ERROR, main
from shardstack.performance import Load, plan_capacity

MODEL = ["--params", "70e9", "--gpu", "h100-80gb", "--cloud", "aws"]
LOAD = ["--requests-per-s", "12", "--prompt-tokens", "800", "--output-tokens", "300", "--ttft-slo-s", "1.5"]


def test_load_mode_answers_groups_gpus_and_price(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["size", *MODEL, *LOAD, "--slots", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    capacity = plan_capacity(Load(12, 800, 300, 1.5), params=70e9, dtype_bytes=2, gpu="h100-80gb",
                             shards=report["shards"], slots=32)  # fmt: skip
    assert report["capacity"]["groups"] == report["replica_groups"] == capacity.groups
    assert report["total_gpus"] == capacity.groups * report["shards"]
    assert report["usd_per_hour"] == pytest.approx(report["nodes"] * report["offer"]["usd_per_hour"])
    assert report["capacity"]["ttft_p99_s"] <= 1.5


def test_the_report_says_the_load_and_what_one_group_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["size", *MODEL, *LOAD]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Load:      12 requests/s of 800 prompt + 300 output tokens")
    assert "One group: 16 slots" in out and "Groups:" in out and "Cost:" in out


def test_a_partial_load_is_refused_naming_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["size", *MODEL, "--requests-per-s", "5", "--replica-groups", "2"]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert "--prompt-tokens is required with --requests-per-s" in err and "--ttft-slo-s is required" in err
    assert "--replica-groups: the load mode answers how many groups; drop it" in err


def test_a_non_positive_load_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["size", *MODEL, *LOAD[:-1], "0"])
    assert "'0' must be above 0" in capsys.readouterr().err
