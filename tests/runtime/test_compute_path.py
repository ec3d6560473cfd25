"""How the runtime picks the dtype its matrix products compute in (shardstack_runtime.model.compute_path)."""

from __future__ import annotations

import torch

from shardstack_runtime.model import cpu_kernel
from shardstack_runtime.model.compute_path import (
    MEASURED_ROWS,
    ComputePath,
    Method,
    Timer,
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
    """A measurement that answers the given seconds per row count and method, and records what it was asked.

    The packed layout takes ``native_s``, the plain one ``plain_s`` (where given; else ``plain_one_row_s`` at any
    row count), the kernel ``kernel_s`` (where given), the fp32 twins ``wide_s``.
    """

    def __init__(
        self,
        native_s: dict[int, float],
        wide_s: dict[int, float],
        plain_one_row_s: float = 2.0,
        kernel_s: dict[int, float] | None = None,
        plain_s: dict[int, float] | None = None,
    ) -> None:
        self.native_s, self.wide_s, self.plain_one_row_s = native_s, wide_s, plain_one_row_s
        self.kernel_s, self.plain_s = kernel_s or {}, plain_s
        self.asked: list[tuple[int, Method]] = []

    def __call__(self, rows: int, method: Method) -> float:
        self.asked.append((rows, method))
        if method == "plain":
            return self.plain_s[rows] if self.plain_s else self.plain_one_row_s
        return {"packed": self.native_s, "wide": self.wide_s, "kernel": self.kernel_s}[method][rows]


def per_rows(**given: float) -> dict[int, float]:
    """Seconds for every measured row count from some of them (``r8=2.0``): each count takes the given time of the
    largest given count at or below it."""
    known = sorted((int(key.removeprefix("r")), value) for key, value in given.items())
    return {rows: [value for count, value in known if count <= rows][-1] for rows in MEASURED_ROWS}


def never_measure(rows: int, method: Method) -> float:
    raise AssertionError("no measurement was needed")


def choose(
    timer: Timer,
    *,
    dtype: torch.dtype = torch.bfloat16,
    kernel: bool = False,
    memory_left: int = 100 * GIB,
    twin_bytes: int = GIB,
) -> ComputePath:
    """The compute path a CPU with plenty of memory gets from ``timer`` (the kernel only where asked)."""
    return choose_compute_path(
        config(), dtype, CPU, twin_bytes=twin_bytes, memory_left=memory_left, timer=timer, kernel=kernel
    )


def test_fp32_weights_packed_and_gpus_compute_in_their_own_dtype() -> None:
    one_row = {rows: 1.0 for rows in MEASURED_ROWS}
    fp32 = choose(RecordedTimer(one_row, one_row), dtype=torch.float32)
    cuda = choose_compute_path(
        config(), torch.bfloat16, torch.device("cuda"), twin_bytes=GIB, memory_left=100 * GIB, timer=never_measure
    )
    for path in (fp32, cuda):
        assert path.methods == () and path.wide_dtype is None
        assert path.dtype_for(1) == path.dtype_for(512) == path.weights_dtype
    assert "fp32 already" in fp32.reason and "cuda" in cuda.reason


def test_a_cpu_slow_at_bf16_batches_computes_them_in_fp32_from_the_measured_row_count() -> None:
    # One row: bf16 reads half the bytes and wins; from 4 rows fp32 wins by far (no native bf16).
    native_s = {rows: 1e-3 * rows for rows in MEASURED_ROWS}
    wide_s = {rows: 1e-3 * (1.6 + 0.25 * rows) for rows in MEASURED_ROWS}
    timer = RecordedTimer(native_s, wide_s)
    path = choose(timer)
    assert path.methods == ((1, "packed"), (4, "wide")) and path.wide_dtype == torch.float32
    assert [path.dtype_for(rows) for rows in (1, 3, 4, 64, 4096)] == [torch.bfloat16] * 2 + [torch.float32] * 3
    assert {rows for rows, _ in timer.asked} == set(MEASURED_ROWS)
    described = path.describe()
    assert "1-3 rows: bfloat16 products" in described and "4+ rows: packed float32" in described, described
    assert "8 rows own 8.00/fp32 3.60" in described, described  # the measurement behind it, ms per layer
    assert path.labels()["methods"] == "1-3 rows:packed 4+ rows:wide" and path.labels()["wide_dtype"] == "float32"


def test_each_measured_row_count_gets_its_fastest_method_up_to_the_next_one() -> None:
    # fp32 wins at 2 rows, loses at 4, wins from 8 on: each range runs what was measured fastest for it.
    native_s = per_rows(r1=1.0, r2=2.0, r4=2.0, r8=8.0, r16=16.0, r64=64.0, r512=512.0)
    wide_s = per_rows(r1=2.0, r2=1.0, r4=2.5, r8=2.0, r16=3.0, r64=5.0, r512=40.0)
    path = choose(RecordedTimer(native_s, wide_s))
    assert path.methods == ((1, "packed"), (2, "wide"), (4, "packed"), (8, "wide"))
    assert [path.method_for(rows) for rows in (1, 3, 4, 7, 8, 100)] == ["packed", "wide", "packed", "packed"] + [
        "wide"
    ] * 2


def test_once_made_the_twins_serve_every_count_they_win_even_without_the_margin() -> None:
    # fp32 wins by far at 8 and 16 rows, barely at 64 and loses at 512 (both compute-bound there).
    native_s = per_rows(r1=1.0, r2=1.0, r4=1.0, r8=4.0, r16=8.0, r64=10.0, r512=80.0)
    wide_s = per_rows(r1=2.0, r2=2.0, r4=1.5, r8=2.0, r16=3.0, r64=9.9, r512=81.0)
    path = choose(RecordedTimer(native_s, wide_s))
    assert path.methods == ((1, "packed"), (8, "wide"), (512, "packed"))
    assert path.runs_wide(64) and path.runs_wide(511) and not path.runs_wide(512)


def test_where_bf16_is_as_fast_nothing_is_copied() -> None:
    # A CPU with native bf16 (AMX, AVX512_BF16): fp32 never wins by the margin a twin's memory asks.
    native_s = {rows: 1.0 for rows in MEASURED_ROWS}
    wide_s = {rows: 0.95 for rows in MEASURED_ROWS}
    path = choose(RecordedTimer(native_s, wide_s))
    assert path.wide_dtype is None and len(path.measured) == len(MEASURED_ROWS)
    assert "not enough faster" in path.reason


def test_twins_that_do_not_fit_in_memory_are_not_made() -> None:
    one_row = {rows: 1.0 for rows in MEASURED_ROWS}
    timer = RecordedTimer(one_row, one_row)
    path = choose(timer, memory_left=10 * GIB, twin_bytes=6 * GIB)
    assert {rows for rows, _ in timer.asked} == {1}  # the layout only: no twin would fit
    assert path.wide_dtype is None
    assert "6.0 GiB" in path.reason and "10.0 GiB" in path.reason, path.reason


def test_the_single_stream_keeps_whichever_layout_is_faster_at_one_row() -> None:
    # MKL's plain fp32 product of one row can beat oneDNN's packed one: then the weights stay plain, and
    # packed fp32 twins serve the row counts where packing wins (here from 4 rows).
    packed_s = {rows: 1.0 if rows < 4 else 0.2 * rows for rows in MEASURED_ROWS}
    plain_s = {rows: 0.5 * rows if rows < 4 else rows for rows in MEASURED_ROWS}

    def timer(rows: int, method: Method) -> float:
        return (plain_s if method == "plain" else packed_s)[rows]

    plain_wins = choose(timer, dtype=torch.float32)
    assert not plain_wins.packed and plain_wins.labels()["layout"] == "plain"
    assert plain_wins.methods == ((1, "plain"), (4, "wide"))
    assert "1-3 rows: float32 products, weights plain" in plain_wins.describe()

    always_packed = choose(lambda rows, method: 1.0, dtype=torch.float32)
    assert always_packed.packed and always_packed.methods == () and "fp32 already" in always_packed.reason


def test_the_measurement_times_real_products_with_every_method() -> None:
    timer = product_timer(config(), torch.bfloat16, repeat=2)
    methods: list[Method] = ["packed", "plain", "wide"]
    if cpu_kernel.load() is not None:
        methods.append("kernel")
    assert all(timer(4, method) > 0 for method in methods)


def test_where_the_kernel_wins_one_row_it_runs_the_steps_it_wins_and_the_weights_stay_plain() -> None:
    # The kernel beats the plain bf16 product up to 16 rows and loses from 64. fp32 twins would beat the bf16
    # product at 8 and 16 rows, but not the kernel: they serve from 64 on.
    plain_s = per_rows(r1=1.0, r2=2.0, r4=4.0, r8=8.0, r16=16.0, r64=64.0, r512=512.0)
    kernel_s = per_rows(r1=0.5, r2=0.6, r4=0.8, r8=1.2, r16=2.0, r64=70.0, r512=600.0)
    wide_s = per_rows(r1=2.0, r2=2.2, r4=2.4, r8=2.8, r16=3.5, r64=9.0, r512=60.0)
    packed_one_row = {1: 1.5}
    timer = RecordedTimer(packed_one_row, wide_s, kernel_s=kernel_s, plain_s=plain_s)
    path = choose(timer, kernel=True)
    assert not path.packed and path.methods == ((1, "kernel"), (64, "wide"))
    assert [path.method_for(rows) for rows in (1, 8, 63, 64, 600)] == ["kernel"] * 3 + ["wide"] * 2
    # The rows the kernel won are measured against the layout the weights keep (plain), not the packed one.
    assert (8, "plain") in timer.asked and (8, "packed") not in timer.asked
    assert path.labels()["methods"] == "1-63 rows:kernel 64+ rows:wide"
    assert path.describe().startswith("1-63 rows: the bf16 kernel")


def test_a_kernel_that_always_wins_serves_every_step_and_costs_no_twins() -> None:
    rows_s = {rows: float(rows) for rows in MEASURED_ROWS}
    half = {rows: seconds / 2 for rows, seconds in rows_s.items()}
    path = choose(RecordedTimer(rows_s, rows_s, kernel_s=half, plain_s=rows_s), kernel=True)
    assert path.methods == ((1, "kernel"),) and path.wide_dtype is None
    assert path.runs_kernel(100_000) and path.labels()["methods"] == "every batch size:kernel"
    assert "every batch size: the bf16 kernel" in path.describe()


def test_a_kernel_slower_at_one_row_is_not_used() -> None:
    rows_s = {rows: float(rows) for rows in MEASURED_ROWS}
    double = {rows: seconds * 2 for rows, seconds in rows_s.items()}
    path = choose(RecordedTimer(rows_s, double, kernel_s=double), kernel=True)
    assert not path.uses("kernel") and path.packed and path.method_for(1) == "packed"
