"""Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): Qwen3's layer (per-head q/k norms) with a mixture of experts
(softmax, top-k, renormalised with ``norm_topk_prob``) and no shared expert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardstack_runtime.model.families import qwen2_moe, qwen3
from shardstack_runtime.model.family import Architecture, Family


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    dense = qwen3.read(raw, problems)
    moe = qwen2_moe.experts(raw, problems, norm_default=False)
    return replace(moe, qkv_bias=dense.qkv_bias, o_bias=dense.o_bias, qk_norm=True)


FAMILY = Family("qwen3_moe", ("Qwen3MoeForCausalLM",), read)
