"""Llama 2 and 3 (and SmolLM2): the decoder itself; ``attention_bias`` puts biases on q, k, v and o."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardstack_runtime.model.family import Architecture, Family, activation, flag


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    activation(raw, problems, "hidden_act", ("silu",))
    bias = flag(raw, "attention_bias", problems)
    return Architecture(qkv_bias=bias, o_bias=bias, mlp_bias=flag(raw, "mlp_bias", problems))


FAMILY = Family("llama", ("LlamaForCausalLM",), read)
