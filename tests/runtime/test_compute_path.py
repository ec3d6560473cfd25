"""How the runtime picks the dtype its matrix products compute in (shardstack_runtime.model.compute_path)."""

from __future__ import annotations

import torch

from shardstack_runtime.model.compute_path import (
    MEASURED_ROWS,
    WIDE_DTYPE,
    choose_compute_path,
    product_timer,
)
from shardstack_runtime.model.config import ModelConfig

CPU = torch.device("cpu")
GIB = 2**30


def config() -> ModelConfig:
    return ModelConfig.from_hf(
        {
            "model_type": "llama",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 256,
            "max_position_embeddings": 128,
        }
    )


class RecordedTimer:
    """A measurement that answers the given seconds per row count, and records what it was asked.

    The packed layout takes the given seconds, the plain one ``plain_one_row_s`` (only asked at one row).
    """

    def __init__(self, native_s: dict[int, float], wide_s: dict[int, float], plain_one_row_s: float = 2.0) -> None:
        self.native_s, self.wide_s, self.plain_one_row_s = native_s, wide_s, plain_one_row_s
        self.asked: list[tuple[int, torch.dtype, bool]] = []

    def __call__(self, rows: int, dtype: torch.dtype, packed: bool) -> float:
        self.asked.append((rows, dtype, packed))
        if not packed:
            return self.plain_one_row_s
        return (self.wide_s if dtype == WIDE_DTYPE else self.native_s)[rows]


def never_measure(rows: int, dtype: torch.dtype, packed: bool) -> float:
    raise AssertionError("no measurement was needed")


def test_fp32_weights_packed_and_gpus_compute_in_their_own_dtype() -> None:
    one_row = {rows: 1.0 for rows in MEASURED_ROWS}
    fp32 = choose_compute_path(
        config(), torch.float32, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=RecordedTimer(one_row, one_row)
    )
    cuda = choose_compute_path(
        config(), torch.bfloat16, torch.device("cuda"), twin_bytes=GIB, memory_left=100 * GIB, timer=never_measure
    )
    for path in (fp32, cuda):
        assert path.wide_from_rows is None and path.wide_dtype is None
        assert path.dtype_for(1) == path.dtype_for(512) == path.weights_dtype
    assert "fp32 already" in fp32.reason and "cuda" in cuda.reason


def test_a_cpu_slow_at_bf16_batches_computes_them_in_fp32_from_the_measured_row_count() -> None:
    # One row: bf16 reads half the bytes and wins; from 4 rows fp32 wins by far (no native bf16).
    native_s = {rows: 1.0 * rows for rows in MEASURED_ROWS}
    wide_s = {rows: 1.6 + 0.1 * rows for rows in MEASURED_ROWS}
    timer = RecordedTimer(native_s, wide_s)
    path = choose_compute_path(config(), torch.bfloat16, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=timer)
    assert path.wide_from_rows == 4 and path.wide_dtype == torch.float32
    assert [path.dtype_for(rows) for rows in (1, 3, 4, 64)] == [torch.bfloat16] * 2 + [torch.float32] * 2
    assert {rows for rows, _, _ in timer.asked} == set(MEASURED_ROWS)
    described = path.describe()
    assert "below 4 rows" in described and "8 rows" in described, described
    assert path.labels()["wide_from_rows"] == "4" and path.labels()["wide_dtype"] == "float32"


def test_a_win_that_does_not_last_to_the_largest_batches_is_not_taken_below_them() -> None:
    # fp32 wins at 2 rows by chance, loses at 4, wins from 8 on: the threshold is 8, not 2.
    native_s = {1: 1.0, 2: 2.0, 4: 2.0, 8: 8.0, 16: 16.0, 64: 64.0}
    wide_s = {1: 2.0, 2: 1.0, 4: 2.5, 8: 2.0, 16: 3.0, 64: 5.0}
    path = choose_compute_path(
        config(), torch.bfloat16, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=RecordedTimer(native_s, wide_s)
    )
    assert path.wide_from_rows == 8


def test_past_the_first_clear_win_the_twins_need_only_not_lose() -> None:
    # fp32 wins by far at 8 and 16 rows and merely ties at 64: the twins serve every step from 8 rows.
    native_s = {1: 1.0, 2: 1.0, 4: 1.0, 8: 4.0, 16: 8.0, 64: 10.0}
    wide_s = {1: 2.0, 2: 2.0, 4: 1.5, 8: 2.0, 16: 3.0, 64: 9.9}
    path = choose_compute_path(
        config(), torch.bfloat16, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=RecordedTimer(native_s, wide_s)
    )
    assert path.wide_from_rows == 8 and path.runs_wide(64)


def test_where_bf16_is_as_fast_nothing_is_copied() -> None:
    # A CPU with native bf16 (AMX, AVX512_BF16): fp32 never wins by the margin a twin's memory asks.
    native_s = {rows: 1.0 for rows in MEASURED_ROWS}
    wide_s = {rows: 0.95 for rows in MEASURED_ROWS}
    path = choose_compute_path(
        config(), torch.bfloat16, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=RecordedTimer(native_s, wide_s)
    )
    assert path.wide_from_rows is None and len(path.measured) == len(MEASURED_ROWS)
    assert "not faster" in path.reason


def test_twins_that_do_not_fit_in_memory_are_not_made() -> None:
    one_row = {rows: 1.0 for rows in MEASURED_ROWS}
    timer = RecordedTimer(one_row, one_row)
    path = choose_compute_path(config(), torch.bfloat16, CPU, twin_bytes=6 * GIB, memory_left=10 * GIB, timer=timer)
    assert {rows for rows, _, _ in timer.asked} == {1}  # the layout only: no twin would fit
    assert path.wide_from_rows is None
    assert "6.0 GiB" in path.reason and "10.0 GiB" in path.reason, path.reason


def test_the_single_stream_keeps_whichever_layout_is_faster_at_one_row() -> None:
    # MKL's plain fp32 product of one row can beat oneDNN's packed one: then the weights stay plain, and
    # packed fp32 twins serve the row counts where packing wins (here from 4 rows).
    packed_s = {rows: 1.0 if rows < 4 else 0.2 * rows for rows in MEASURED_ROWS}
    plain_s = {rows: 0.5 * rows if rows < 4 else rows for rows in MEASURED_ROWS}

    def timer(rows: int, dtype: torch.dtype, packed: bool) -> float:
        return (packed_s if packed else plain_s)[rows]

    plain_wins = choose_compute_path(config(), torch.float32, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=timer)
    assert not plain_wins.packed and plain_wins.labels()["layout"] == "plain"
    assert plain_wins.wide_from_rows == 4 and [plain_wins.runs_wide(rows) for rows in (1, 3, 4)] == [False, False, True]
    assert "packed float32 twins from there" in plain_wins.describe()

    always_packed = choose_compute_path(
        config(), torch.float32, CPU, twin_bytes=GIB, memory_left=100 * GIB, timer=lambda rows, dtype, packed: 1.0
    )
    assert always_packed.packed and always_packed.wide_from_rows is None and "fp32 already" in always_packed.reason


def test_the_measurement_times_real_products_in_both_dtypes_and_layouts() -> None:
    timer = product_timer(config(), torch.bfloat16, repeat=2)
    assert all(timer(4, dtype, packed) > 0 for dtype in (torch.bfloat16, torch.float32) for packed in (True, False))
