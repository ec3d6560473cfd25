"""Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen2's layer with a mixture of experts (softmax, top-k,
renormalised only with ``norm_topk_prob``) plus a shared expert every token takes, gated by
sigmoid(``shared_expert_gate``); ``mlp_only_layers`` and ``decoder_sparse_step`` keep some layers dense."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardstack_runtime.model.families import qwen2
from shardstack_runtime.model.family import Architecture, Family, count, flag


def experts(raw: Mapping[str, Any], problems: list[str], *, norm_default: bool) -> Architecture:
    """What Qwen's MoE families declare alike: the experts, the router's normalisation and the dense layers."""
    # The hub's configs say num_experts; transformers 5 writes the same number as num_local_experts.
    key = "num_experts" if "num_experts" in raw or "num_local_experts" not in raw else "num_local_experts"
    total = count(raw, key, problems)
    layers = raw.get("num_hidden_layers")
    step = count(raw, "decoder_sparse_step", problems, default=1)
    only_mlp = raw.get("mlp_only_layers") or []
    if not isinstance(only_mlp, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in only_mlp):
        problems.append(f"mlp_only_layers: {only_mlp!r} is not a list of layer indices")
        only_mlp = []
    dense = set(only_mlp)
    if isinstance(layers, int):
        dense |= {i for i in range(layers) if (i + 1) % step != 0}
    return Architecture(
        experts=total,
        experts_per_token=min(count(raw, "num_experts_per_tok", problems), total),
        expert_intermediate_size=count(raw, "moe_intermediate_size", problems),
        normalize_top_k=flag(raw, "norm_topk_prob", problems, default=norm_default),
        dense_layers=frozenset(dense),
    )


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    shared = count(raw, "shared_expert_intermediate_size", problems)
    return replace(
        experts(raw, problems, norm_default=False),
        qkv_bias=qwen2.read(raw, problems).qkv_bias,
        shared_expert_intermediate_size=shared,
    )


FAMILY = Family("qwen2_moe", ("Qwen2MoeForCausalLM",), read)
