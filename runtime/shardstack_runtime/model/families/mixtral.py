"""Mixtral: Mistral's layer with a mixture of expert MLPs: a router picks ``num_experts_per_tok`` of
``num_local_experts`` experts for each token (softmax, top-k, renormalised), whose outputs it weighs and sums."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardstack_runtime.model.families import mistral
from shardstack_runtime.model.family import Architecture, Family, count


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    experts = count(raw, "num_local_experts", problems)
    return replace(
        mistral.read(raw, problems),
        experts=experts,
        experts_per_token=min(count(raw, "num_experts_per_tok", problems), experts),
        expert_intermediate_size=count(raw, "intermediate_size", problems),
        expert_names=("block_sparse_moe", "w1", "w3", "w2"),
    )


FAMILY = Family("mixtral", ("MixtralForCausalLM",), read)
