"""`shardstack-runtime serve` refuses bad serving flags before it loads anything, naming the flag, value and rule."""

from __future__ import annotations

import pytest

from shardstack_runtime.cli import main


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--max-slots", "0"], "--max-slots 0: must be at least 1"),
        (["--max-waiting", "-1"], "--max-waiting -1: must be 0 or more"),
        (["--max-slots", "2", "--micro-batches", "3"], "--micro-batches 3: must be between 1 and --max-slots (2)"),
    ],
)
def test_bad_serving_flags_are_refused_by_name(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHARDSTACK_MODEL_URI", "/nonexistent/model")  # never opened: the flags fail first
    assert main(["serve", *flags]) != 0
    assert expected in capsys.readouterr().err
