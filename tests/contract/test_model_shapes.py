"""The sizing catalogue's models (shardstack.model_shapes) weigh what the runtime would hold for them: each shape,
written back as the config.json it came from, is parsed by the runtime, whose layer split counts the same
parameters; and those counts are the model cards' published sizes."""

from __future__ import annotations

from typing import Any

import pytest

from shardstack.model_shapes import MODELS, ModelShape
from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.llama import LayerRange
from shardstack_runtime.model.partition import rank_bytes

PUBLISHED = {
    # name: (total, active) parameters in billions, as each model card states them
    "llama-3.1-8b": (8.03, None),
    "llama-3.1-70b": (70.6, None),
    "mistral-7b-v0.3": (7.25, None),
    "qwen2.5-72b": (72.7, None),
    "qwen3-32b": (32.8, None),
    "qwen3-30b-a3b": (30.5, 3.3),
    "gemma-3-27b": (27.0, None),  # the card's 27B with the vision encoder's 0.4B left out: text only here
    "mixtral-8x7b": (46.7, 12.9),
    "phi-4": (14.7, None),
}


def config_json(shape: ModelShape) -> dict[str, Any]:
    """The shape as its config.json says it (the keys its family reads)."""
    config: dict[str, Any] = {
        "model_type": shape.model_type,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "head_dim": shape.head_dim,
        "vocab_size": shape.vocab_size,
        "max_position_embeddings": shape.context,
        "tie_word_embeddings": shape.tied,
    }
    if shape.model_type == "mixtral":
        config |= {"num_local_experts": shape.experts, "num_experts_per_tok": shape.experts_per_token}
    elif shape.experts:
        config |= {"num_experts": shape.experts, "num_experts_per_tok": shape.experts_per_token,
                   "moe_intermediate_size": shape.expert_intermediate_size}  # fmt: skip
    if shape.model_type.startswith("gemma"):
        config |= {"hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 168, "sliding_window": 1024}
    return config


def test_every_catalogued_model_has_its_published_size() -> None:
    assert set(PUBLISHED) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_runtime_would_hold_what_the_catalogue_counts(name: str) -> None:
    shape = MODELS[name]
    config = ModelConfig.from_hf(config_json(shape))
    assert rank_bytes(config, [LayerRange.full(config.num_layers)], 1) == [shape.params]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_counts_are_the_model_cards(name: str) -> None:
    total, active = PUBLISHED[name]
    shape = MODELS[name]
    assert shape.params / 1e9 == pytest.approx(total, rel=0.01)
    assert shape.active_params / 1e9 == pytest.approx(active if active is not None else total, rel=0.02)
