"""How many decode slots the engine takes by default (shardstack_runtime.engine.slots)."""

from __future__ import annotations

from pathlib import Path

from test_model import load_model

from shardstack_runtime.engine.slots import CANDIDATE_SLOTS, choose_slots, decode_step_timer

MIB = 2**20


def saturating(knee_rows: int, one_row_s: float = 0.04):
    """A decode step that costs the same up to ``knee_rows`` rows (bound by reading the weights), then grows."""
    asked: list[int] = []

    def step_seconds(rows: int) -> float:
        asked.append(rows)
        return one_row_s * max(1.0, rows / knee_rows)

    step_seconds.asked = asked  # type: ignore[attr-defined]
    return step_seconds


def test_the_default_is_the_knee_of_the_measured_curve() -> None:
    timer = saturating(knee_rows=16)
    choice = choose_slots(timer, slot_bytes=MIB, memory_left=100 * 1024 * MIB)
    assert choice.slots == 16
    assert [rows for rows, _ in choice.curve] == list(CANDIDATE_SLOTS) == timer.asked  # type: ignore[attr-defined]
    assert "16 decode slots" in choice.describe() and "64: " in choice.describe()


def test_a_machine_that_gains_nothing_from_batching_gets_one_slot() -> None:
    choice = choose_slots(lambda rows: 0.01 * rows, slot_bytes=MIB, memory_left=None)
    assert choice.slots == 1


def test_only_counts_whose_cache_fits_in_memory_are_measured() -> None:
    # 100 MiB per slot, 1 GiB left: at most half of it for the cache, i.e. 5 slots -> 1, 2 or 4.
    timer = saturating(knee_rows=64)
    choice = choose_slots(timer, slot_bytes=100 * MIB, memory_left=1024 * MIB)
    assert choice.slots == 4 and timer.asked == [1, 2, 4]  # type: ignore[attr-defined]
    assert "fits" in choice.reason


def test_a_pipeline_gets_at_least_one_slot_per_pass_in_flight() -> None:
    timer = saturating(knee_rows=1)
    choice = choose_slots(timer, slot_bytes=MIB, memory_left=None, at_least=3)
    assert choice.slots == 4 and choice.curve[0][0] == 4


def test_batches_that_slow_each_stream_past_the_bound_are_not_taken() -> None:
    # Throughput keeps growing (compute is cheap next to reading the weights) but a step of 32 rows
    # takes 5x a one-row step: every stream would run at a fifth of its speed alone.
    step = {1: 0.04, 2: 0.05, 4: 0.06, 8: 0.08, 16: 0.12, 32: 0.20, 64: 0.30}
    asked: list[int] = []

    def step_seconds(rows: int) -> float:
        asked.append(rows)
        return step[rows]

    choice = choose_slots(step_seconds, slot_bytes=MIB, memory_left=None)
    assert choice.slots == 16 and "4x a one-row step" in choice.reason
    assert asked == [1, 2, 4, 8, 16, 32]  # 64 is not measured: it could only be slower


def test_a_cache_too_big_for_even_the_minimum_says_what_to_lower() -> None:
    choice = choose_slots(saturating(8), slot_bytes=2048 * MIB, memory_left=1024 * MIB)
    assert choice.slots == 1 and "max_model_len" in choice.reason and choice.curve == ()


def test_the_measurement_runs_real_decode_steps(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    model.pack_weights()
    timer = decode_step_timer(model, repeat=1)
    assert timer(1) > 0 and timer(4) > 0
    assert model.cache_nbytes(3, 40) == model.new_cache(3, 40).nbytes
