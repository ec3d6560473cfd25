"""Every model family the runtime serves computes what transformers computes for it: transformers' own class is the
oracle. For each family a tiny random checkpoint (4 layers, grouped-query heads, head dims as released models have
them, seeded weights and norms) written by transformers: the prompt's logits match in fp32 (read at once, and in two
chunks through the KV cache), and a 32-token greedy
generation is token for token transformers' own, unsharded and split over 2 and 3 ranks (each rank its own
ShardModel and KV cache, chained as the pipeline chains them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_models import FAMILY_CLASSES, family_classes, write_family_model

from shardstack_runtime.engine.batch import Batch
from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.families import FAMILIES
from shardstack_runtime.model.llama import LayerRange, ShardModel
from shardstack_runtime.model.partition import balanced_layer_ranges, rank_bytes
from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.loader import load_tensors

# fp32 on both sides: a fresh pass gives transformers' logits exactly here; through the KV cache (SDPA with a mask)
# the sums run in another order, measured at under 1e-6 of the largest logit alone and up to 1.1e-4 of it while
# another process loaded the machine (the BLAS then blocks its sums differently). A wrong norm, bias, scale or head
# moves logits by whole units. The bound, relative to the largest logit: 10x the worst measured.
RELATIVE_ATOL = 1e-3
PROMPT = 40
NEW_TOKENS = 32
VOCAB = 512
SHAPE: dict[str, Any] = {
    "vocab_size": VOCAB,
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-6,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
    # Large weights give peaked next-token distributions: greedy choices that a rounding difference can't flip.
    "initializer_range": 0.5,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {"rope_theta": 500000.0},
    "mistral": {"sliding_window": 12, "rope_theta": 1000000.0},  # far shorter than the 72 positions generated
    "qwen2": {"rope_theta": 1000000.0, "tie_word_embeddings": True},  # as Qwen2.5's small models
    "qwen3": {"rope_theta": 1000000.0, "head_dim": 128},  # wider than hidden / heads, as Qwen3's
    # Gemma: soft-capped scores and logits, a query scale of its own, local and global layers alternating. Untied:
    # a random Gemma with tied embeddings repeats one token, which would check little.
    "gemma2": {
        "sliding_window": 12,
        "query_pre_attn_scalar": 96,
        "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0,
        "initializer_range": 0.2,
    },
    # Gemma 3: q/k norms, a global layer among local ones, and the local layers' own rotary base.
    "gemma3_text": {
        "sliding_window": 12,
        "query_pre_attn_scalar": 96,
        "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
        "rope_parameters": {
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
        },
    },
    # Phi-3's 128k checkpoints: fused q/k/v and gate/up tensors, LongRoPE (within the original context: see phi3.py).
    "phi3": {
        "rope_parameters": {
            "rope_type": "longrope",
            "rope_theta": 10000.0,
            "short_factor": [1.0 + i / 16 for i in range(32)],
            "long_factor": [2.0 + i / 4 for i in range(32)],
            "original_max_position_embeddings": 128,
        },
        "max_position_embeddings": 1024,
        "sliding_window": 48,
        "pad_token_id": 0,  # Phi3Config's default (32000) is past this vocabulary
    },
    # Mixtures of experts: a few experts, two per token, so that tokens take different ones.
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None},
    # Qwen2-MoE: a shared expert, and a dense layer among sparse ones (mlp_only_layers).
    "qwen2_moe": {
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 128,
        "shared_expert_intermediate_size": 384,
        "mlp_only_layers": [1],
        "norm_topk_prob": False,
    },
    "qwen3_moe": {
        "num_experts": 6,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 128,
        "norm_topk_prob": True,
        "head_dim": 128,
    },
}


def test_every_family_is_checked_against_transformers() -> None:
    assert set(CONFIGS) == set(FAMILIES) == set(FAMILY_CLASSES)


@pytest.fixture(scope="module", params=list(CONFIGS))
def family(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    model_type = request.param
    config = {**SHAPE, **CONFIGS[model_type]}
    return model_type, write_family_model(tmp_path_factory.mktemp(model_type), model_type, config, seed=11)


def shards(model_dir: Path, ranks: int) -> list[ShardModel]:
    """The ranks' models of a split into ``ranks`` (the server's own balanced split), each loaded from the
    checkpoint with only its own tensors."""
    checkpoint = open_checkpoint(str(model_dir))
    config = ModelConfig.from_hf(checkpoint.config)
    ranges = [LayerRange.full(config.num_layers)] if ranks == 1 else balanced_layer_ranges(config, ranks)
    models = []
    for layer_range in ranges:
        model = ShardModel(config, layer_range, dtype=torch.float32, max_positions=PROMPT + NEW_TOKENS)
        load_tensors(checkpoint, model.checkpoint_targets(), verify=False)
        models.append(model)
    return models


def forward(models: list[ShardModel], caches: list[Any], ids: torch.Tensor, batch: Batch, **kw: Any) -> torch.Tensor:
    out = ids
    for model, cache in zip(models, caches, strict=True):
        out = model.forward(out, batch, cache, **kw)
    return out


def reference(model_type: str, model_dir: Path) -> Any:
    return family_classes(model_type)[1].from_pretrained(str(model_dir), dtype=torch.float32).eval()


def prompt_ids() -> torch.Tensor:
    return torch.randint(3, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(5))


def test_the_prompts_logits_match_transformers(family: tuple[str, Path]) -> None:
    model_type, model_dir = family
    (model,) = shards(model_dir, 1)
    ids = prompt_ids()
    cache = model.new_cache(1)
    ours = model.forward(ids, Batch.prefill(0, 0, PROMPT), cache, all_logits=True)
    with torch.no_grad():
        expected = reference(model_type, model_dir)(ids).logits.float()
    atol = RELATIVE_ATOL * float(expected.abs().max())
    torch.testing.assert_close(ours, expected, atol=atol, rtol=0)
    assert expected.abs().max() > 1  # logits that a wrong layer would visibly move
    # The same prompt read in two chunks, as a long prompt is: the second attends through the KV cache.
    cache = model.new_cache(1)
    half = PROMPT // 2
    model.forward(ids[:, :half], Batch.prefill(0, 0, half), cache)
    second = model.forward(ids[:, half:], Batch.prefill(0, half, PROMPT - half), cache, all_logits=True)
    torch.testing.assert_close(second, expected[:, half:], atol=atol, rtol=0)


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_greedy_generation_is_transformers_token_for_token(family: tuple[str, Path], ranks: int) -> None:
    model_type, model_dir = family
    hf = reference(model_type, model_dir)
    ids = prompt_ids()
    expected = ids
    with torch.no_grad():  # transformers' greedy choice, recomputing the whole sequence each step
        for _ in range(NEW_TOKENS):
            next_id = hf(expected).logits[:, -1].argmax(-1, keepdim=True)
            expected = torch.cat([expected, next_id], dim=1)

    models = shards(model_dir, ranks)
    assert len(models) == ranks
    caches = [m.new_cache(1) for m in models]
    logits = forward(models, caches, ids, Batch.prefill(0, 0, PROMPT))
    generated = [int(logits.argmax(-1))]
    for position in range(PROMPT, PROMPT + NEW_TOKENS - 1):
        logits = forward(models, caches, torch.tensor([[generated[-1]]]), Batch.decode([0], [position]))
        generated.append(int(logits.argmax(-1)))
    assert generated == expected[0, PROMPT:].tolist()
    assert len(set(generated)) > 4  # a real continuation, not one token repeated


def test_longrope_turns_positions_past_the_original_context_by_the_long_factors(tmp_path: Path) -> None:
    """Past the original context transformers recomputes a whole pass with the long factors (phi3.py says why this
    runtime turns each position by its own); the frequencies and cos/sin scale there are still transformers' own."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from shardstack_runtime.model.rope import RotaryTable

    config_class, _ = family_classes("phi3")
    hf_config = config_class(**{**SHAPE, **CONFIGS["phi3"]})
    ours = ModelConfig.from_hf(hf_config.to_dict())
    original = ours.rope.original_max_position_embeddings
    assert original is not None
    table = RotaryTable(ours.rope, ours.head_dim, 2 * original, dtype=torch.float32, device="cpu")
    for seq_len, position in ((original, original - 1), (original + 1, original)):
        inv_freq, scale = ROPE_INIT_FUNCTIONS["longrope"](hf_config, None, seq_len=seq_len)
        angles = position * inv_freq
        expected = torch.cat((angles, angles)).cos() * scale
        torch.testing.assert_close(table.cos[position], expected, atol=1e-6, rtol=0)
    assert ours.rope.attention_factor == pytest.approx(scale)


@pytest.mark.parametrize("ranks", [1, 3])
def test_each_rank_holds_the_bytes_the_split_weighs_it_by(family: tuple[str, Path], ranks: int) -> None:
    models = shards(family[1], ranks)
    config = models[0].config
    # The balanced split weighs each rank by rank_bytes: it must be what the rank really allocates.
    assert rank_bytes(config, [m.layer_range for m in models], 4) == [m.nbytes for m in models]


def test_a_head_rotating_in_part_matches_transformers(tmp_path: Path) -> None:
    """Phi-4-mini rotates 3/4 of each head (``partial_rotary_factor``) and passes the rest through."""
    config = {**SHAPE, "partial_rotary_factor": 0.75, "pad_token_id": 0, "rope_theta": 10000.0}
    model_dir = write_family_model(tmp_path, "phi3", config, seed=11)
    (model,) = shards(model_dir, 1)
    assert model.config.rope.rotary_dims(model.config.head_dim) == 48
    ids = prompt_ids()
    ours = model.forward(ids, Batch.prefill(0, 0, PROMPT), model.new_cache(1), all_logits=True)
    with torch.no_grad():
        expected = reference("phi3", model_dir)(ids).logits.float()
    torch.testing.assert_close(ours, expected, atol=RELATIVE_ATOL * float(expected.abs().max()), rtol=0)
