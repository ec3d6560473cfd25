"""How each step's matrix products run, chosen by its number of rows, measured at start.

Weights stay in the checkpoint's dtype (bf16 by default: half the bytes of fp32 to read per token). On
a CPU without native bf16 arithmetic (no AVX512_BF16, no AMX), oneDNN and aten convert bf16 operands
slowly: one row runs below the memory bandwidth and a batch costs about one row's work per row. Three
remedies are measured against the weights' own product, and each row count gets the fastest:

- **the bf16 kernel** (``bf16_linear.cpp``, :mod:`.cpu_kernel`): reads the plain bf16 weights once per
  step and multiplies every row in fp32; where it wins at one row the weights stay plain and it runs
  every step up to the first measured row count at which it loses (on the Xeon of docs/BENCHMARKS.md:
  all of them, prefill chunks aside).
- **fp32 twins**: where memory allows, a packed fp32 copy of each projection matrix serves the steps from
  :attr:`ComputePath.wide_from_rows` rows (activations are cast in and out; the KV cache, norms and
  attention stay in the weights' dtype), when it beats the method below it by a margin that pays for
  its memory.
- **the layout**: oneDNN's packed layout or the plain one, whichever runs one row faster (MKL's plain
  fp32 product of one row can win by far).

Where bf16 is native (CUDA, AVX512_BF16/AMX CPUs) nothing beats the weights' own product and nothing is
copied. The choice comes from a short measurement rather than a table of CPU features because what
decides it is the product's speed on this machine with this torch build, which features only predict.
It is logged at start and exported on ``/metrics`` (``shardstack_compute_path_info``).

Usage::

    path = choose_compute_path(config, torch.bfloat16, torch.device("cpu"), twin_bytes=..., memory_left=...)
    model.pack_weights(path)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..memory import available_memory
from . import cpu_kernel
from .config import ModelConfig

WIDE_DTYPE = torch.float32
MEASURED_ROWS = (1, 2, 4, 8, 16, 64, 512)
"""Row counts timed at start: decode batches up to the usual slot counts, and prefill chunks (512 is the default)."""
EVERY_ROW_COUNT = sys.maxsize
"""``kernel_below_rows`` where the kernel won at every measured row count: it serves every step."""
WIN_MARGIN = 0.85
"""fp32 must take at most this fraction of the native time to be used: a twin costs memory."""
TWIN_SHARE = 0.5
"""At most this share of the memory left after the KV cache may go to the fp32 twins."""
_MEASURE_MAX_FEATURES = 2048
"""The measured matrices are one layer's projections, each side capped at this size, so that big models
measure in milliseconds."""
_MEASURE_WORKING_SET = 64 << 20
"""Bytes of weights each timed run streams through (copies of the layer, at most 16): more than a CPU's
last-level cache holds for one core's share, so the products read their weights from memory as a whole
model's do, not from a cache that a single layer would fit in."""

_MEASURE_BUDGET_S = 0.2
"""Each (row count, method) is timed ``repeat`` times or for this long, whichever ends first (at least twice):
big prefill chunks of big models must not hold the start up."""

Method = Literal["packed", "plain", "kernel", "wide"]
"""How a product runs: the weights' dtype in oneDNN's packed layout, in the plain layout (aten / MKL), with
the bf16 kernel on the plain layout (cpu_kernel.py), or on packed fp32 twins ("wide")."""

Timer = Callable[[int, Method], float]
"""Seconds one layer's products of ``rows`` rows take with a method; injected by tests."""


@dataclass(frozen=True)
class RowTiming:
    """One measured row count: the product's time in the weights' dtype, with the kernel and in fp32."""

    rows: int
    native_s: float
    wide_s: float | None = None
    kernel_s: float | None = None


@dataclass(frozen=True)
class ComputePath:
    """How this process's matrix products compute, by a step's number of rows."""

    weights_dtype: torch.dtype
    reason: str
    wide_from_rows: int | None = None
    """Steps with at least this many rows (batch rows x tokens) compute in fp32; None: never."""
    measured: tuple[RowTiming, ...] = ()
    packed: bool = True
    """Whether the weights' own products use oneDNN's packed layout (on CPU) or the plain one, whichever is faster
    at one row, the single stream (the plain one won on the Xeon of docs/BENCHMARKS.md, in fp32 by far)."""
    kernel_below_rows: int | None = None
    """Steps with fewer rows than this (and not wide) run the bf16 kernel; None: never. A measured row count stands
    for the counts up to the next one."""

    @property
    def wide_dtype(self) -> torch.dtype | None:
        return WIDE_DTYPE if self.wide_from_rows is not None else None

    def runs_wide(self, rows: int) -> bool:
        """Whether a step of ``rows`` rows runs its products on the packed fp32 twins."""
        return self.wide_from_rows is not None and rows >= self.wide_from_rows

    def runs_kernel(self, rows: int) -> bool:
        """Whether a step of ``rows`` rows runs its products with the bf16 kernel."""
        return self.kernel_below_rows is not None and rows < self.kernel_below_rows and not self.runs_wide(rows)

    def method_for(self, rows: int) -> Method:
        if self.runs_wide(rows):
            return "wide"
        if self.runs_kernel(rows):
            return "kernel"
        return "packed" if self.packed else "plain"

    def dtype_for(self, rows: int) -> torch.dtype:
        """The dtype a step of ``rows`` rows computes its products in."""
        return WIDE_DTYPE if self.runs_wide(rows) else self.weights_dtype

    def describe(self) -> str:
        """One line for the startup log: the method for each range of row counts, why, and the measurement behind it."""
        bounds = sorted({1} | {b for b in (self.kernel_below_rows, self.wide_from_rows) if b and b != EVERY_ROW_COUNT})
        ranges: list[tuple[int, int | None, Method]] = []
        for low, high in zip(bounds, [*bounds[1:], None], strict=True):
            method = self.method_for(low)
            if ranges and ranges[-1][2] == method:
                low = ranges.pop()[0]
            ranges.append((low, high, method))
        choice = "; ".join(f"{_rows_text(low, high)}: {self._method_text(method)}" for low, high, method in ranges)
        timings = ", ".join(_timing_text(t) for t in self.measured)
        return f"{choice} ({self.reason})" + (f"; measured ms per layer: {timings}" if timings else "")

    def _method_text(self, method: Method) -> str:
        name = _dtype_name(self.weights_dtype)
        return {
            "kernel": f"the bf16 kernel ({kernel_instruction_set()}) on the plain weights",
            "wide": "packed float32 twins of the weights",
            "packed": f"{name} products, weights oneDNN-packed",
            "plain": f"{name} products, weights plain (packing measured slower at one row)",
        }[method]

    def labels(self) -> dict[str, str]:
        """The choice as metric labels."""
        return {
            "weights_dtype": _dtype_name(self.weights_dtype),
            "wide_dtype": _dtype_name(self.wide_dtype) if self.wide_dtype else "none",
            "wide_from_rows": str(self.wide_from_rows or 0),
            "kernel_below_rows": _kernel_label(self.kernel_below_rows),
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
    kernel: bool | None = None,
) -> ComputePath:
    """Measure which method runs each batch size fastest here; see the module doc.

    ``twin_bytes`` is what the fp32 twins of the projections would take; ``memory_left`` the bytes
    available once the KV cache is allocated (default: :func:`~.memory.available_memory`); ``kernel``
    whether the bf16 kernel may run (default: for bf16 weights where :func:`cpu_kernel.load` builds it).
    """
    if device.type != "cpu":
        return native(dtype, f"{device.type} computes {_dtype_name(dtype)} natively")
    if kernel is None:
        kernel = dtype == torch.bfloat16 and cpu_kernel.load() is not None
    timer = timer or product_timer(config, dtype)
    # The single stream decides the weights' layout: the kernel and aten read it plain.
    # Ties go to the first: oneDNN's packed layout, then aten's plain one.
    one_row: dict[Method, float] = {"packed": timer(1, "packed")} if onednn_linear_works(dtype) else {}
    one_row["plain"] = timer(1, "plain")
    if kernel:
        one_row["kernel"] = timer(1, "kernel")
    fastest = min(one_row, key=one_row.__getitem__)
    packed, kernel = fastest == "packed", fastest == "kernel"
    own: Method = "packed" if packed else "plain"
    if dtype == WIDE_DTYPE and packed:
        return native(dtype, "the weights are fp32 already, in the layout that wins at one row", packed=True)
    memory_left = available_memory(device) if memory_left is None else memory_left
    no_twins = ""
    if memory_left is not None and twin_bytes > TWIN_SHARE * memory_left:
        no_twins = (
            f"float32 twins would take {twin_bytes / 2**30:.1f} GiB, more than {TWIN_SHARE:.0%} of the "
            f"{memory_left / 2**30:.1f} GiB left"
        )
    twins_fit = not no_twins
    if not twins_fit and not kernel:
        return native(dtype, no_twins, packed=packed)
    measured = tuple(
        RowTiming(
            rows,
            timer(rows, own),
            wide_s=timer(rows, "wide") if twins_fit else None,
            kernel_s=timer(rows, "kernel") if kernel else None,
        )
        for rows in MEASURED_ROWS
    )
    kernel_below = _kernel_rows(measured) if kernel else None
    wide_from = _first_lasting_win(measured, kernel_below) if twins_fit else None
    reason = _reason(dtype, kernel_below, wide_from, no_twins)
    return ComputePath(
        weights_dtype=dtype,
        reason=reason,
        wide_from_rows=wide_from,
        measured=measured,
        packed=packed,
        kernel_below_rows=kernel_below,
    )


def _reason(dtype: torch.dtype, kernel_below: int | None, wide_from: int | None, no_twins: str) -> str:
    parts = []
    if kernel_below is not None:
        parts.append(f"the bf16 kernel beats oneDNN and aten {_kernel_range(kernel_below)}")
    if wide_from is None:
        parts.append(no_twins or f"packed float32 is not faster than {_dtype_name(dtype)} here at any batch size")
    elif dtype == WIDE_DTYPE:  # plain wins one row, packed wins batches: packed twins serve the batches
        parts.append(f"the plain layout wins one row, oneDNN's packed one from {wide_from} rows")
    else:
        parts.append(f"this CPU computes {_dtype_name(dtype)} products slower than float32 from {wide_from} rows")
    return "; ".join(parts)


def _own_s(timing: RowTiming, kernel_below: int | None) -> float:
    """What a step of this many rows costs without twins: the kernel below its limit, else the weights' own product."""
    if kernel_below is not None and timing.rows < kernel_below and timing.kernel_s is not None:
        return timing.kernel_s
    return timing.native_s


def _kernel_rows(measured: Sequence[RowTiming]) -> int | None:
    """The first measured row count at which the kernel is slower than the weights' own product (every count where
    it never is; None where it is slower at one row)."""
    for timing in measured:
        if timing.kernel_s is None or timing.kernel_s > timing.native_s:
            return timing.rows if timing.rows > 1 else None
    return EVERY_ROW_COUNT


def _first_lasting_win(measured: Sequence[RowTiming], kernel_below: int | None = None) -> int | None:
    """The smallest row count at which the twins win by the margin and after which they never lose, if any.

    The margin pays for the twins' memory; past it, larger counts only need the twins not to be slower.
    """
    wide_from = None
    for timing in reversed(measured):
        own_s = _own_s(timing, kernel_below)
        if timing.wide_s is None or timing.wide_s > own_s:
            break
        if timing.wide_s <= WIN_MARGIN * own_s:
            wide_from = timing.rows
    return wide_from


def _rows_text(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+ rows" if low > 1 else "every batch size"
    return f"{low} row" if high == low + 1 == 2 else f"{low}-{high - 1} rows"


def _kernel_range(below: int) -> str:
    return "at every batch size" if below == EVERY_ROW_COUNT else f"below {below} rows"


def _kernel_label(below: int | None) -> str:
    return "all" if below == EVERY_ROW_COUNT else str(below or 0)


def _timing_text(timing: RowTiming) -> str:
    methods = {"own": timing.native_s, "kernel": timing.kernel_s, "fp32": timing.wide_s}
    return f"{timing.rows} rows " + "/".join(f"{name} {s * 1e3:.2f}" for name, s in methods.items() if s is not None)


def product_timer(config: ModelConfig, dtype: torch.dtype, repeat: int = 10) -> Timer:
    """Time one layer's four products (sides capped) as the engine runs them, with each method.

    Each run goes through copies of the layer that add up to ``_MEASURE_WORKING_SET`` bytes, so that the
    weights come from memory as in a whole model's step.
    """
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
    copies = min(16, -(-_MEASURE_WORKING_SET // (sum(w.numel() for w in plains) * dtype.itemsize)))
    layouts: dict[Method, Callable[[torch.Tensor], torch.Tensor]] = {
        "packed": lambda w: pack(w.to(dtype)),
        "plain": lambda w: w.to(dtype),
        "wide": lambda w: pack(w.to(WIDE_DTYPE)),
    }
    weights: dict[Method, list[torch.Tensor]] = {}

    def layer_copies(method: Method) -> list[torch.Tensor]:
        layout: Method = "plain" if method == "kernel" else method
        if layout not in weights:  # made when first asked: a path that is never measured takes no memory
            weights[layout] = [layouts[layout](w) for _ in range(copies) for w in plains]
        return weights[layout]

    @torch.inference_mode()
    def timer(rows: int, method: Method) -> float:
        inputs = {w.shape[1]: torch.randn(rows, w.shape[1]).to(dtype) for w in plains}
        product = kernel_linear if method == "kernel" else linear
        matrices = layer_copies(method)

        def run() -> None:
            for weight in matrices:
                product(inputs[weight.shape[1]], weight, None)

        run()  # oneDNN builds its kernel for this shape on the first call
        samples: list[float] = []
        while len(samples) < repeat and (len(samples) < 2 or sum(samples) < _MEASURE_BUDGET_S):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
        # The fastest run, per layer: what the products cost, as free of the machine's other work as one can see it.
        return min(samples) / copies

    return timer


def kernel_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` with the bf16 kernel (plain bf16 weights on CPU); the result in ``x``'s dtype."""
    module = cpu_kernel.load()
    assert module is not None, "kernel_linear runs only where choose_compute_path found the kernel"
    return module.bf16_linear(x, weight, bias)


def kernel_instruction_set() -> str:
    module = cpu_kernel.load()
    return module.instruction_set() if module is not None else "not built"


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
