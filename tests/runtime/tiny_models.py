"""Tiny random Llama checkpoints in Hugging Face layout, written by transformers itself.

    from tiny_models import write_tiny_model
    write_tiny_model(tmp_path, tokenizer_from=smollm2_dir, num_hidden_layers=2, tie_word_embeddings=True)

The session fixtures in conftest.py (``tiny_model_dir``, ``tiny_tied_model_dir``) are built with it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
SMOLLM2_VOCAB = 49152

TINY_CONFIG: Mapping[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": SMOLLM2_VOCAB,
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
}


FAMILY_CLASSES: Mapping[str, tuple[str, str, str]] = {
    "llama": ("transformers.models.llama", "LlamaConfig", "LlamaForCausalLM"),
    "mistral": ("transformers.models.mistral", "MistralConfig", "MistralForCausalLM"),
    "qwen2": ("transformers.models.qwen2", "Qwen2Config", "Qwen2ForCausalLM"),
    "qwen3": ("transformers.models.qwen3", "Qwen3Config", "Qwen3ForCausalLM"),
    "gemma2": ("transformers.models.gemma2", "Gemma2Config", "Gemma2ForCausalLM"),
    "gemma3_text": ("transformers.models.gemma3", "Gemma3TextConfig", "Gemma3ForCausalLM"),
    "phi3": ("transformers.models.phi3", "Phi3Config", "Phi3ForCausalLM"),
    "mixtral": ("transformers.models.mixtral", "MixtralConfig", "MixtralForCausalLM"),
    "qwen2_moe": ("transformers.models.qwen2_moe", "Qwen2MoeConfig", "Qwen2MoeForCausalLM"),
    "qwen3_moe": ("transformers.models.qwen3_moe", "Qwen3MoeConfig", "Qwen3MoeForCausalLM"),
}
"""Each family's transformers classes, by module path: the oracle the runtime's implementation is checked against."""


def family_classes(model_type: str) -> tuple[Any, Any]:
    """``model_type``'s (config class, causal LM class), imported by name (importing transformers' package itself
    makes pyright bind every family it has)."""
    import importlib

    module, config_class, model_class = FAMILY_CLASSES[model_type]
    loaded = importlib.import_module(module)
    return getattr(loaded, config_class), getattr(loaded, model_class)


def write_family_model(
    out: Path,
    model_type: str,
    config: Mapping[str, Any],
    *,
    seed: int = 0,
    dtype: str = "float32",
    tokenizer_from: Path | None = None,
) -> Path:
    """Write a seeded random model of ``model_type`` (transformers' own class, in ``dtype``) with ``config`` to
    ``out``; its norms are random too, so that a norm applied wrong cannot hide behind all-ones weights. With
    ``tokenizer_from`` the tokenizer files of that model directory are copied in."""
    import torch

    config_class, model_class = family_classes(model_type)
    torch.manual_seed(seed)
    model = model_class(config_class(**config)).to(getattr(torch, dtype))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    if tokenizer_from is not None:
        for name in TOKENIZER_FILES:
            shutil.copyfile(tokenizer_from / name, out / name)
        (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}) + "\n")
    return out


def write_tiny_model(
    out: Path,
    *,
    tokenizer_from: Path | None = None,
    seed: int = 0,
    dtype: str = "float32",
    initializer_range: float = 0.5,
    **overrides: Any,
) -> Path:
    """Write a seeded random ``LlamaForCausalLM`` in Hugging Face layout to ``out`` and return it.

    ``overrides`` replace keys of :data:`TINY_CONFIG`. A large ``initializer_range`` gives peaked,
    seed-dependent next-token distributions instead of the near-uniform ones of the default 0.02.
    With ``tokenizer_from`` the tokenizer files of that model directory are copied in.
    """
    config = {**TINY_CONFIG, "initializer_range": initializer_range, **overrides}
    return write_family_model(out, "llama", config, seed=seed, dtype=dtype, tokenizer_from=tokenizer_from)
