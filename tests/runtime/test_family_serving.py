"""A family that differs most from Llama serves through the whole runtime: ``shardstack-runtime local`` with two
ranks (two processes over torch.distributed, the weights laid out for serving, the engine's batching) answers a
greedy completion with transformers' own greedy continuation, for Gemma 3 (local and global layers, q/k norms,
soft norms) and Qwen3-MoE (experts on both ranks)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from test_local import STOP_BOUND_S, _children, _free_port_pair
from test_serve import READY_TIMEOUT_S, RUNTIME, Server
from tiny_models import SMOLLM2_VOCAB, family_classes, write_family_model

from shardstack_runtime.tokenizer import Tokenizer
from shardstack_runtime.weights.checkpoint import open_checkpoint

NEW_TOKENS = 16
PROMPT = [504, 3458, 282, 4649, 314, 3575, 30, 378, 3458, 282, 4649, 314]  # token ids, SmolLM2's vocabulary
SHAPE: dict[str, Any] = {
    "vocab_size": SMOLLM2_VOCAB,  # SmolLM2's tokenizer decodes the replies
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "max_position_embeddings": 512,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
    "initializer_range": 0.5,
}
FAMILIES: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "sliding_window": 8,
        "query_pre_attn_scalar": 48,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention"],
    },
    "qwen3_moe": {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 64, "norm_topk_prob": True},
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    model_type = request.param
    config = {**SHAPE, **FAMILIES[model_type]}
    return write_family_model(tmp_path_factory.mktemp(model_type), model_type, config, tokenizer_from=smollm2_dir)


def transformers_greedy(model_dir: Path) -> list[int]:
    model_type = open_checkpoint(str(model_dir)).config["model_type"]
    model = family_classes(model_type)[1].from_pretrained(str(model_dir), dtype=torch.float32).eval()
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[0, len(PROMPT) :].tolist()


def test_two_ranks_serve_transformers_greedy_continuation(model_dir: Path, tmp_path: Path) -> None:
    api_port, metrics_port = _free_port_pair(), _free_port_pair()
    log = tmp_path / "local.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [*RUNTIME, "local", "--shards", "2", "--model-uri", str(model_dir), "--dtype", "fp32",
             "--api-port", str(api_port), "--metrics-port", str(metrics_port), "--max-model-len", "128"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith(("SHARDSTACK_", "LWS_"))},
        )  # fmt: skip
    leader = Server(launcher, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}", log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "ready: 2 ranks serving" not in log.read_text():
            assert launcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with leader.client() as client:
            reply = client.completions.create(
                model=model_dir.name, prompt=PROMPT, max_tokens=NEW_TOKENS, temperature=0,
                extra_body={"ignore_eos": True},
            )  # fmt: skip
        expected = transformers_greedy(model_dir)
        assert len(set(expected)) > 3  # a real continuation, not one token repeated
        tokenizer = Tokenizer.from_checkpoint(open_checkpoint(str(model_dir)))
        assert reply.usage is not None and reply.usage.completion_tokens == NEW_TOKENS
        assert reply.choices[0].text == tokenizer.decode(expected)
        os.kill(launcher.pid, signal.SIGTERM)
        assert launcher.wait(timeout=STOP_BOUND_S) == 0, log.read_text()
    finally:
        if launcher.poll() is None:
            ranks = _children(launcher.pid)  # the launcher's ranks go down with it, not orphaned
            launcher.kill()
            launcher.wait()
            for pid in ranks:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
