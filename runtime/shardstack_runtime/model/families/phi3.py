"""Phi-3 and Phi-4 (``model_type`` phi3): Llama's layer with q/k/v fused into one checkpoint tensor (``qkv_proj``)
and gate/up into another (``gate_up_proj``), a sliding window on every layer, and LongRoPE (``longrope``, at first
``su``) for the 128k-context checkpoints; Phi-4-mini rotates part of each head (``partial_rotary_factor``).

LongRoPE here turns each position by the short factors within the original context and by the long ones past it,
as vLLM does; transformers switches a whole forward pass to the long factors once its sequence passes the original
context, so the two agree within the original context and differ past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardstack_runtime.model.family import Architecture, Family, activation, window


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    activation(raw, problems, "hidden_act", ("silu",))
    return Architecture(fused_checkpoint=True, sliding_window=window(raw, problems))


FAMILY = Family("phi3", ("Phi3ForCausalLM",), read)
