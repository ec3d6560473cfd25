"""Gemma 2: norms times (1 + weight), embeddings scaled by √hidden_size, norms around both the attention's and the
MLP's outputs, a GELU (tanh) MLP, scores scaled by 1/√query_pre_attn_scalar and soft-capped, soft-capped logits, and
local layers (a sliding window) alternating with global ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shardstack_runtime.model.family import Architecture, Family, activation, flag, positive, window

GELU_TANH = ("gelu_pytorch_tanh",)


def attention_layers(
    raw: Mapping[str, Any], problems: list[str], sliding_by_default: Callable[[int], bool]
) -> tuple[int | None, frozenset[int]]:
    """The sliding window and the global layers: config.json's ``layer_types`` ('sliding_attention' or
    'full_attention' per layer), or the family's own pattern where an older config has none."""
    layers = raw.get("num_hidden_layers")
    count = layers if isinstance(layers, int) and not isinstance(layers, bool) and layers > 0 else 0
    types = raw.get("layer_types")
    if types is None:
        types = ["sliding_attention" if sliding_by_default(i) else "full_attention" for i in range(count)]
    elif (
        not isinstance(types, list) or len(types) != count or not set(types) <= {"sliding_attention", "full_attention"}
    ):
        problems.append(
            f"layer_types: {types!r} is not a list of 'sliding_attention' or 'full_attention', one per layer ({count})"
        )
        types = []
    return window(raw, problems), frozenset(i for i, kind in enumerate(types) if kind == "full_attention")


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    return read_gemma(raw, problems, lambda layer: layer % 2 == 0)  # local, global, local, ...


def read_gemma(raw: Mapping[str, Any], problems: list[str], sliding_by_default: Callable[[int], bool]) -> Architecture:
    """A Gemma layer, its local layers where config.json's ``layer_types`` says (else ``sliding_by_default``)."""
    bias = flag(raw, "attention_bias", problems)
    sliding_window, global_layers = attention_layers(raw, problems, sliding_by_default)
    scalar = positive(raw, "query_pre_attn_scalar", problems, default=256)
    return Architecture(
        qkv_bias=bias,
        o_bias=bias,
        norm="gemma",
        embedding_scale=True,
        activation=activation(raw, problems, "hidden_activation", GELU_TANH),
        sandwich_norms=True,
        query_scale=scalar**-0.5 if scalar else None,
        attention_softcap=positive(raw, "attn_logit_softcapping", problems, optional=True),
        logit_softcap=positive(raw, "final_logit_softcapping", problems, optional=True),
        sliding_window=sliding_window,
        global_layers=global_layers,
    )


FAMILY = Family("gemma2", ("Gemma2ForCausalLM",), read)
