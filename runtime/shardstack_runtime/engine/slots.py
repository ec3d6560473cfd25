"""How many sequences decode together by default: the knee of the measured batch curve, within memory.

A decode step's time grows with its rows more slowly than its output does, until the products stop
being bound by reading the weights. Past that knee more slots add little throughput but make every
stream slower and the KV cache bigger. So the engine, unless told ``max_slots``, times one decode step
at 1, 2, 4 … rows on its own model and takes the smallest count whose tokens/s reach
:data:`KNEE_SHARE` of the best measured, among the counts whose KV cache fits in
:data:`CACHE_SHARE` of the memory left and whose step takes at most :data:`MAX_SLOWDOWN` times a
one-row step (so that a stream in a full batch still gets a quarter of its speed alone). The choice and
the curve go to the startup log.

Usage::

    choice = choose_slots(decode_step_timer(model), slot_bytes=model.cache_nbytes(1, max_len),
                          memory_left=available_memory(model.device))
    cache = model.new_cache(choice.slots, max_len)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..model.llama import ShardModel
from .batch import Batch

CANDIDATE_SLOTS = (1, 2, 4, 8, 16, 32, 64)
KNEE_SHARE = 0.9
"""The default slots reach this share of the best throughput measured."""
CACHE_SHARE = 0.5
"""The KV cache may take at most this share of the memory left once the weights are in."""
MAX_SLOWDOWN = 4.0
"""A full batch's step may take at most this many times a one-row step."""
MEASURE_CONTEXT = 32
"""Cached tokens per row while measuring: a short chat's worth."""

StepTimer = Callable[[int], float]
"""Seconds one decode step of ``rows`` rows takes; injected by tests."""


@dataclass(frozen=True)
class SlotChoice:
    """The default number of decode slots, why, and the measured curve (rows, tokens/s)."""

    slots: int
    reason: str
    curve: tuple[tuple[int, float], ...] = ()

    def describe(self) -> str:
        points = ", ".join(f"{rows}: {rate:.1f}" for rows, rate in self.curve)
        return f"{self.slots} decode slots ({self.reason})" + (f"; tokens/s by rows: {points}" if points else "")


def choose_slots(
    step_seconds: StepTimer,
    *,
    slot_bytes: int,
    memory_left: int | None,
    candidates: Sequence[int] = CANDIDATE_SLOTS,
    at_least: int = 1,
) -> SlotChoice:
    """The smallest candidate at the knee of the throughput curve whose cache fits; see the module doc.

    ``slot_bytes`` is one slot's KV cache at the engine's max_model_len; ``at_least`` a floor the engine
    needs (a pipeline keeps one lane of slots per pass in flight).
    """
    fits = [n for n in candidates if memory_left is None or n * slot_bytes <= CACHE_SHARE * memory_left]
    fits = [n for n in fits if n >= at_least] or [at_least]
    if memory_left is not None and at_least * slot_bytes > CACHE_SHARE * memory_left:
        return SlotChoice(
            at_least,
            f"even {at_least}'s KV cache ({at_least * slot_bytes / 2**30:.2f} GiB) exceeds "
            f"{CACHE_SHARE:.0%} of the {memory_left / 2**30:.2f} GiB left: lower max_model_len",
        )
    one_row = step_seconds(1)
    curve: list[tuple[int, float]] = []
    for rows in fits:
        seconds = one_row if rows == 1 else step_seconds(rows)
        curve.append((rows, rows / seconds))
        if seconds > MAX_SLOWDOWN * one_row:
            break  # larger batches only take longer
    quick = [(rows, rate) for rows, rate in curve if rows / rate <= MAX_SLOWDOWN * one_row] or curve[:1]
    best = max(rate for _, rate in quick)
    slots = next(rows for rows, rate in quick if rate >= KNEE_SHARE * best)
    reason = f"the first to reach {KNEE_SHARE:.0%} of the best tokens/s measured"
    if len(quick) < len(curve):
        reason += f" with a step at most {MAX_SLOWDOWN:g}x a one-row step"
    if len(fits) < len([n for n in candidates if n >= at_least]):
        reason += f", among the counts whose KV cache fits in {CACHE_SHARE:.0%} of the memory left"
    return SlotChoice(slots, reason, tuple(curve))


def decode_step_timer(model: ShardModel, repeat: int = 3) -> StepTimer:
    """Time one decode step of the whole ``model`` at a given row count, each row :data:`MEASURE_CONTEXT` deep.

    The cache it uses holds only that context, so measuring 64 rows costs little memory.
    """

    @torch.inference_mode()
    def step_seconds(rows: int) -> float:
        cache = model.new_cache(rows, MEASURE_CONTEXT + 1)
        batch = Batch.decode(range(rows), [MEASURE_CONTEXT] * rows)
        inputs = _step_inputs(model, rows)
        model.forward(inputs, batch, cache)  # first call: kernels built for this shape
        samples = []
        for _ in range(repeat):
            _synchronize(model.device)
            start = time.perf_counter()
            model.forward(inputs, batch, cache)
            _synchronize(model.device)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    return step_seconds


def _step_inputs(model: ShardModel, rows: int) -> torch.Tensor:
    if model.is_first:
        return torch.ones(rows, 1, dtype=torch.int64)
    return torch.zeros(rows, 1, model.config.hidden_size, dtype=model.dtype)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
