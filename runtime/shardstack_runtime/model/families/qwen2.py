"""Qwen2 and Qwen2.5: biases on the query, key and value projections (not on o); the sliding window only where
``use_sliding_window`` turns it on, which no released checkpoint does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardstack_runtime.model.family import Architecture, Family, activation, flag


def sliding_window(raw: Mapping[str, Any], problems: list[str]) -> None:
    """Qwen's window applies to the layers from ``max_window_layers`` on, when ``use_sliding_window`` is set: a
    per-layer window this runtime does not run, so such a config is refused rather than served inexactly."""
    if flag(raw, "use_sliding_window", problems):
        problems.append(
            "use_sliding_window: True is not supported (a window on some layers only); released Qwen checkpoints "
            "set it False"
        )


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    activation(raw, problems, "hidden_act", ("silu",))
    sliding_window(raw, problems)
    return Architecture(qkv_bias=True)


FAMILY = Family("qwen2", ("Qwen2ForCausalLM",), read)
