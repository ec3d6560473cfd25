"""How each step's matrix products run, chosen by its number of rows, measured at start.

Weights stay in the checkpoint's dtype (bf16 by default: half the bytes of fp32 to read per token). On
a CPU without native bf16 arithmetic (no AVX512_BF16, no AMX), oneDNN and aten convert bf16 operands
slowly: one row runs below the memory bandwidth and a batch costs about one row's work per row. At
start one layer's products are timed at a few row counts (1 row, decode batches, prefill chunks) with
each method below, and each measured count, and the counts up to the next one, gets the fastest:

- **the weights' own product**, in oneDNN's packed layout or the plain one, whichever runs one row faster
  (MKL's plain fp32 product of one row can win by far).
- **the bf16 kernel** (``bf16_linear.cpp``, :mod:`.cpu_kernel`): reads the plain bf16 weights once per
  step and multiplies every row in fp32. Where it wins at one row the weights stay plain for it.
- **fp32 twins**: a packed fp32 copy of each projection matrix, made only where memory allows and they
  win somewhere by a margin that pays for that memory (activations are cast in and out; the KV cache,
  norms and attention stay in the weights' dtype).

Where bf16 is native (CUDA, AVX512_BF16/AMX CPUs) nothing beats the weights' own product and nothing is
copied. The choice comes from a short measurement rather than a table of CPU features because what
decides it is the product's speed on this machine with this torch build, which features only predict.
It is logged at start and exported on ``/metrics`` (``shardstack_compute_path_info``).

Usage::

    path = choose_compute_path(config, torch.bfloat16, torch.device("cpu"), twin_bytes=..., memory_left=...)
    model.pack_weights(path)
"""

from __future__ import annotations

import statistics
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
MEASURED_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
"""Row counts timed at start: decode batches up to the usual slot counts, and prefill chunks (512 is the default)."""
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

_MEASURE_BUDGET_S = 0.03
"""Each (row count, method) is timed for about this long (``repeat`` passes over the copies at most, three layers
at least): big prefill chunks of big models must not hold the start up."""

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
    """How this process's matrix products compute, by a step's number of rows (batch rows x tokens)."""

    weights_dtype: torch.dtype
    reason: str
    methods: tuple[tuple[int, Method], ...] = ()
    """``(from_rows, method)`` in ascending order: steps of at least ``from_rows`` rows, up to the next entry's,
    run with ``method``; below the first entry (and where empty) the weights' own product runs."""
    measured: tuple[RowTiming, ...] = ()
    packed: bool = True
    """Whether the weights' own products use oneDNN's packed layout (on CPU) or the plain one, whichever is faster
    at one row, the single stream (the plain one won on the Xeon of docs/BENCHMARKS.md, in fp32 by far)."""

    @property
    def own(self) -> Method:
        """The weights' own product, in their layout."""
        return "packed" if self.packed else "plain"

    @property
    def wide_dtype(self) -> torch.dtype | None:
        """The dtype of the twins where some steps run on them (they are made at start), else None."""
        return WIDE_DTYPE if self.uses("wide") else None

    def uses(self, method: Method) -> bool:
        return any(used == method for _, used in self.methods)

    def method_for(self, rows: int) -> Method:
        """How a step of ``rows`` rows runs its products."""
        method = self.own
        for from_rows, used in self.methods:
            if rows < from_rows:
                break
            method = used
        return method

    def runs_wide(self, rows: int) -> bool:
        """Whether a step of ``rows`` rows runs its products on the packed fp32 twins."""
        return self.method_for(rows) == "wide"

    def runs_kernel(self, rows: int) -> bool:
        """Whether a step of ``rows`` rows runs its products with the bf16 kernel."""
        return self.method_for(rows) == "kernel"

    def dtype_for(self, rows: int) -> torch.dtype:
        """The dtype a step of ``rows`` rows computes its products in."""
        return WIDE_DTYPE if self.runs_wide(rows) else self.weights_dtype

    def ranges(self) -> list[tuple[int, int | None, Method]]:
        """``(first_row, last_row or None, method)`` for each range of row counts that runs one method."""
        table = list(self.methods) if self.methods and self.methods[0][0] == 1 else [(1, self.own), *self.methods]
        merged: list[tuple[int, Method]] = []
        for from_rows, method in table:
            if not merged or merged[-1][1] != method:
                merged.append((from_rows, method))
        return [
            (low, None if i + 1 == len(merged) else merged[i + 1][0] - 1, method)
            for i, (low, method) in enumerate(merged)
        ]

    def describe(self) -> str:
        """One line for the startup log: the method for each range of row counts, why, and the measurement behind it."""
        choice = "; ".join(
            f"{_rows_text(low, high)}: {self._method_text(method)}" for low, high, method in self.ranges()
        )
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
            "methods": " ".join(f"{_rows_text(low, high)}:{method}" for low, high, method in self.ranges()),
            "layout": self.own,
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
    # The single stream decides the weights' layout: the kernel and aten read it plain. Ties go to the first.
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
    if no_twins and not kernel:
        return native(dtype, no_twins, packed=packed)
    measured = tuple(
        RowTiming(
            rows,
            timer(rows, own),
            wide_s=None if no_twins else timer(rows, "wide"),
            kernel_s=timer(rows, "kernel") if kernel else None,
        )
        for rows in MEASURED_ROWS
    )
    methods = _fastest_methods(measured, own)
    return ComputePath(
        weights_dtype=dtype,
        reason=_reason(dtype, methods, no_twins),
        methods=methods,
        measured=measured,
        packed=packed,
    )


def _fastest_methods(measured: Sequence[RowTiming], own: Method) -> tuple[tuple[int, Method], ...]:
    """The fastest method at each measured row count, which then serves the counts up to the next one.

    The twins are made only where they win somewhere by ``WIN_MARGIN``, which pays for their memory; once made
    they serve every measured count where they are the fastest.
    """

    def fastest(timing: RowTiming, with_twins: bool) -> Method:
        times: dict[Method, float] = {own: timing.native_s}
        if timing.kernel_s is not None:
            times["kernel"] = timing.kernel_s
        best = min(times, key=times.__getitem__)
        if with_twins and timing.wide_s is not None and timing.wide_s < times[best]:
            return "wide"
        return best

    def twins_pay(timing: RowTiming) -> bool:
        best_s = min(s for s in (timing.native_s, timing.kernel_s) if s is not None)
        return timing.wide_s is not None and timing.wide_s <= WIN_MARGIN * best_s

    with_twins = any(twins_pay(timing) for timing in measured)
    table: list[tuple[int, Method]] = []
    for timing in measured:
        method = fastest(timing, with_twins)
        if not table or table[-1][1] != method:
            table.append((timing.rows, method))
    return tuple(table)


def _reason(dtype: torch.dtype, methods: Sequence[tuple[int, Method]], no_twins: str) -> str:
    used = {method for _, method in methods}
    parts = []
    if "kernel" in used:
        parts.append("the bf16 kernel measured faster than oneDNN and aten where it runs")
    if "wide" in used and dtype == WIDE_DTYPE:
        parts.append("oneDNN's packed layout measured faster than the plain one where the twins run")
    elif "wide" in used:
        parts.append(f"this CPU computes {_dtype_name(dtype)} products slower than float32 where the twins run")
    else:
        parts.append(no_twins or f"packed float32 is not enough faster than {_dtype_name(dtype)} here to pay for twins")
    return "; ".join(parts)


def _rows_text(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+ rows" if low > 1 else "every batch size"
    return f"{low} row" if high == low == 1 else f"{low}-{high} rows"


def _timing_text(timing: RowTiming) -> str:
    methods = {"own": timing.native_s, "kernel": timing.kernel_s, "fp32": timing.wide_s}
    return f"{timing.rows} rows " + "/".join(f"{name} {s * 1e3:.2f}" for name, s in methods.items() if s is not None)


def product_timer(config: ModelConfig, dtype: torch.dtype, repeat: int = 10) -> Timer:
    """Time one layer's four products (sides capped) as the engine runs them, with each method.

    The layer is copied until the copies add up to ``_MEASURE_WORKING_SET`` bytes and they are timed in turn, so
    that the weights come from memory as in a whole model's step.
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
        layers = [matrices[i : i + len(plains)] for i in range(0, len(matrices), len(plains))]

        def run(layer: list[torch.Tensor]) -> float:
            start = time.perf_counter()
            for weight in layer:
                product(inputs[weight.shape[1]], weight, None)
            return time.perf_counter() - start

        run(layers[0])  # oneDNN builds its kernel for this shape on the first call
        # The copies in turn, each one's weights long out of the caches when it comes round again.
        samples = [run(layers[i % len(layers)]) for i in range(1, 4)]
        while len(samples) < repeat * len(layers) and sum(samples) < _MEASURE_BUDGET_S:
            samples.append(run(layers[(len(samples) + 1) % len(layers)]))
        # The median layer: robust to the machine's other work and to a layer that a cache happened to keep.
        return statistics.median(samples)

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
