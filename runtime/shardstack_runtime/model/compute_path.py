"""Which dtype the matrix products compute in, chosen per step by its number of rows, measured at start.

Weights stay in the checkpoint's dtype (bf16 by default: half the bytes of fp32 to read per token). On
a CPU without native bf16 arithmetic (no AVX512_BF16, no AMX), oneDNN converts every bf16 operand for
every row it multiplies, so a bf16 product costs about one row's work per row: one stream decodes
fastest in bf16, but a batch of 8 decodes or a prompt's prefill runs 2-5x faster in fp32. Where that
is so and memory allows, :func:`choose_compute_path` keeps an fp32 twin of each projection matrix and
steps with at least :attr:`ComputePath.wide_from_rows` rows compute in fp32 (activations are cast in
and out; the KV cache, norms and attention stay in the weights' dtype). Where bf16 is native (CUDA,
AVX512_BF16/AMX CPUs) the measurement finds no row count at which fp32 wins and nothing is copied.

The layout is measured too: oneDNN's packed layout wins batches, but at one row the plain layout can win
(MKL's fp32 product by far on the Xeon of docs/BENCHMARKS.md). The weights' own products take the layout that
wins at one row, the single stream; fp32 weights kept plain for it get packed fp32 twins for the row counts
where packing wins, by the same mechanism.

The choice comes from a short measurement rather than a table of CPU features because what decides it
is the product's speed on this machine with this torch build, which features only predict. It is
logged at start and exported on ``/metrics`` (``shardstack_compute_path_info``).

Usage::

    path = choose_compute_path(config, torch.bfloat16, torch.device("cpu"), twin_bytes=..., memory_left=...)
    model.pack_weights(path)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..memory import available_memory
from .config import ModelConfig

WIDE_DTYPE = torch.float32
MEASURED_ROWS = (1, 2, 4, 8, 16, 64)
"""Row counts timed at start: decode batches up to the usual slot counts, and a prefill chunk."""
WIN_MARGIN = 0.85
"""fp32 must take at most this fraction of the native time to be used: a twin costs memory."""
TWIN_SHARE = 0.5
"""At most this share of the memory left after the KV cache may go to the fp32 twins."""
_MEASURE_MAX_FEATURES = 2048
"""The measured matrices are one layer's projections, each side capped at this size, so that big models
measure in milliseconds."""

Timer = Callable[[int, torch.dtype, bool], float]
"""Seconds one product of ``rows`` rows takes in a dtype, with oneDNN's packed layout or the plain one; injected
by tests."""


@dataclass(frozen=True)
class RowTiming:
    """One measured row count: the product's time in the weights' dtype and in fp32."""

    rows: int
    native_s: float
    wide_s: float

    @property
    def wide_speedup(self) -> float:
        return self.native_s / self.wide_s


@dataclass(frozen=True)
class ComputePath:
    """How this process's matrix products compute: in the weights' dtype, or in fp32 from ``wide_from_rows``."""

    weights_dtype: torch.dtype
    reason: str
    wide_from_rows: int | None = None
    """Steps with at least this many rows (batch rows x tokens) compute in fp32; None: never."""
    measured: tuple[RowTiming, ...] = ()
    packed: bool = True
    """Whether the weights' own products use oneDNN's packed layout (on CPU) or the plain one, whichever is faster
    at one row, the single stream (the plain one won on the Xeon of docs/BENCHMARKS.md, in fp32 by far)."""

    @property
    def wide_dtype(self) -> torch.dtype | None:
        return WIDE_DTYPE if self.wide_from_rows is not None else None

    def runs_wide(self, rows: int) -> bool:
        """Whether a step of ``rows`` rows runs its products on the packed fp32 twins."""
        return self.wide_from_rows is not None and rows >= self.wide_from_rows

    def dtype_for(self, rows: int) -> torch.dtype:
        """The dtype a step of ``rows`` rows computes its products in."""
        return WIDE_DTYPE if self.runs_wide(rows) else self.weights_dtype

    def describe(self) -> str:
        """One line for the startup log: the choice, why, and the measurement behind it."""
        name = _dtype_name(self.weights_dtype)
        layout = "oneDNN-packed" if self.packed else "plain (packing measured slower at one row)"
        if self.wide_from_rows is None:
            choice = f"matrix products in {name} at every batch size"
        elif self.weights_dtype == WIDE_DTYPE:
            choice = f"plain float32 products below {self.wide_from_rows} rows, packed float32 twins from there"
            layout = "the weights plain"
        else:
            choice = f"matrix products in {name} below {self.wide_from_rows} rows, in float32 from there"
        timings = ", ".join(f"{t.rows} rows {t.wide_speedup:.2f}x" for t in self.measured)
        return f"{choice}, {layout} ({self.reason})" + (f"; float32 speed-up measured: {timings}" if timings else "")

    def labels(self) -> dict[str, str]:
        """The choice as metric labels."""
        return {
            "weights_dtype": _dtype_name(self.weights_dtype),
            "wide_dtype": _dtype_name(self.wide_dtype) if self.wide_dtype else "none",
            "wide_from_rows": str(self.wide_from_rows or 0),
            "layout": "packed" if self.packed else "plain",
            "reason": self.reason,
        }


def native(
    dtype: torch.dtype, reason: str, measured: tuple[RowTiming, ...] = (), *, packed: bool = True
) -> ComputePath:
    """Every product in the weights' dtype."""
    return ComputePath(weights_dtype=dtype, reason=reason, measured=measured, packed=packed)


def choose_compute_path(
    config: ModelConfig,
    dtype: torch.dtype,
    device: torch.device,
    *,
    twin_bytes: int,
    memory_left: int | None = None,
    timer: Timer | None = None,
) -> ComputePath:
    """Measure whether fp32 products beat ``dtype`` ones here, and from how many rows; see the module doc.

    ``twin_bytes`` is what the fp32 twins of the projections would take; ``memory_left`` the bytes
    available once the KV cache is allocated (default: :func:`~.memory.available_memory`).
    """
    if device.type != "cpu":
        return native(dtype, f"{device.type} computes {_dtype_name(dtype)} natively")
    timer = timer or product_timer(config, dtype)
    packed = onednn_linear_works(dtype) and timer(1, dtype, True) <= timer(1, dtype, False)
    if dtype == WIDE_DTYPE and packed:
        return native(dtype, "the weights are fp32 already, in the layout that wins at one row", packed=True)
    memory_left = available_memory(device) if memory_left is None else memory_left
    if memory_left is not None and twin_bytes > TWIN_SHARE * memory_left:
        return native(
            dtype,
            f"float32 twins would take {twin_bytes / 2**30:.1f} GiB, more than {TWIN_SHARE:.0%} of the "
            f"{memory_left / 2**30:.1f} GiB left",
            packed=packed,
        )
    # The twins serve batches, where the packed layout wins: they are always packed.
    measured = tuple(
        RowTiming(rows, timer(rows, dtype, packed), timer(rows, WIDE_DTYPE, True)) for rows in MEASURED_ROWS
    )
    wide_from = _first_lasting_win(measured)
    if wide_from is None:
        reason = f"packed float32 is not faster than {_dtype_name(dtype)} here at any batch size"
        return native(dtype, reason, measured, packed=packed)
    if dtype == WIDE_DTYPE:  # plain wins one row, packed wins batches: packed twins serve the batches
        reason = f"the plain layout wins one row, oneDNN's packed one from {wide_from} rows"
    else:
        reason = f"this CPU computes {_dtype_name(dtype)} products slower than float32 from {wide_from} rows"
    return ComputePath(
        weights_dtype=dtype,
        reason=reason,
        wide_from_rows=wide_from,
        measured=measured,
        packed=packed,
    )


def _first_lasting_win(measured: Sequence[RowTiming]) -> int | None:
    """The smallest row count at which the twins win by the margin and after which they never lose, if any.

    The margin pays for the twins' memory; past it, larger counts only need the twins not to be slower.
    """
    wide_from = None
    for timing in reversed(measured):
        if timing.wide_s > timing.native_s:
            break
        if timing.wide_s <= WIN_MARGIN * timing.native_s:
            wide_from = timing.rows
    return wide_from


def product_timer(config: ModelConfig, dtype: torch.dtype, repeat: int = 10) -> Timer:
    """Time one layer's four products (sides capped) as the engine runs them, packed for oneDNN or plain."""
    c = config
    q_size, kv_size = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    shapes = [
        (q_size + 2 * kv_size, c.hidden_size),
        (c.hidden_size, q_size),
        (2 * c.intermediate_size, c.hidden_size),
        (c.hidden_size, c.intermediate_size),
    ]
    generator = torch.Generator().manual_seed(0)
    plains = [
        torch.randn(min(out, _MEASURE_MAX_FEATURES), min(inner, _MEASURE_MAX_FEATURES), generator=generator)
        for out, inner in shapes
    ]
    weights = {
        (d, packed): [pack(w.to(d)) if packed else w.to(d) for w in plains]
        for d in (dtype, WIDE_DTYPE)
        for packed in (True, False)
    }

    @torch.inference_mode()
    def timer(rows: int, compute: torch.dtype, packed: bool) -> float:
        inputs = [torch.randn(rows, w.shape[1]).to(dtype) for w in plains]
        layer = weights[compute, packed]

        def run() -> None:
            for x, weight in zip(inputs, layer, strict=True):
                linear(x, weight, None)

        run()  # oneDNN builds its kernel for this shape on the first call
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
        # The fastest run: what the kernel costs, as free of the machine's other work as one can see it.
        return min(samples)

    return timer


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` in the weight's dtype, the result in ``x``'s; packed weights use oneDNN."""
    if x.dtype != weight.dtype:
        return linear(x.to(weight.dtype), weight, bias).to(x.dtype)
    if weight.is_mkldnn:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def pack(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` laid out for oneDNN's linear where this build has it for the dtype and the weight is on CPU."""
    if weight.device.type != "cpu" or not onednn_linear_works(weight.dtype):
        return weight
    return torch.ops.mkldnn._reorder_linear_weight(weight, 1)  # 1: the decode batch; serves any batch


_ONEDNN_WORKS: dict[torch.dtype, bool] = {}


def onednn_linear_works(dtype: torch.dtype) -> bool:
    """Whether this torch build has oneDNN's packed linear for ``dtype`` and it agrees with F.linear."""
    if dtype not in _ONEDNN_WORKS:
        _ONEDNN_WORKS[dtype] = _onednn_agrees(dtype)
    return _ONEDNN_WORKS[dtype]


def _onednn_agrees(dtype: torch.dtype) -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        weight = torch.randn(48, 32, generator=generator).to(dtype)
        bias = torch.randn(48, generator=generator).to(dtype)
        x = torch.randn(3, 32, generator=generator).to(dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
        got = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
    except (RuntimeError, AttributeError):
        return False
    return torch.allclose(got.float(), F.linear(x, weight, bias).float(), rtol=1e-2, atol=1e-2)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
