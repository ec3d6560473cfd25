"""Qwen3: an RMSNorm over every query and key head before the rotary embedding (``q_norm``, ``k_norm``), no q/k/v
biases unless ``attention_bias``, and a ``head_dim`` of its own (wider than ``hidden_size / heads``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardstack_runtime.model.families import qwen2
from shardstack_runtime.model.family import Architecture, Family, activation, flag


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    activation(raw, problems, "hidden_act", ("silu",))
    qwen2.sliding_window(raw, problems)
    bias = flag(raw, "attention_bias", problems)
    return Architecture(qkv_bias=bias, o_bias=bias, qk_norm=True)


FAMILY = Family("qwen3", ("Qwen3ForCausalLM",), read)
