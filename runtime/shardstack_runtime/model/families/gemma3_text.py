"""Gemma 3 (text): Gemma 2's layer with an RMSNorm over every query and key head (``q_norm``, ``k_norm``, times
1 + weight) instead of soft-capping, five local layers to each global one, and a rotary base of their own for the
local layers (``rope_parameters.sliding_attention``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardstack_runtime.model.families import gemma2
from shardstack_runtime.model.family import Architecture, Family

DEFAULT_PATTERN = 6
"""An older config's ``sliding_window_pattern``: every sixth layer is global."""


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    pattern = raw.get("sliding_window_pattern", raw.get("_sliding_window_pattern", DEFAULT_PATTERN))
    if isinstance(pattern, bool) or not isinstance(pattern, int) or pattern <= 0:
        problems.append(f"sliding_window_pattern: {pattern!r} is not a positive integer")
        pattern = DEFAULT_PATTERN
    return replace(gemma2.read_gemma(raw, problems, lambda layer: (layer + 1) % pattern != 0), qk_norm=True)


FAMILY = Family("gemma3_text", ("Gemma3ForCausalLM",), read)
