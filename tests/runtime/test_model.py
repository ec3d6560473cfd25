"""The shard model against transformers' LlamaForCausalLM: logits, KV-cache decoding, layer splits, rope scaling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_models import write_tiny_model

from shardstack_runtime.engine.batch import Batch, SlotMove
from shardstack_runtime.model import cpu_kernel
from shardstack_runtime.model.compute_path import ComputePath
from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.llama import LayerRange, ShardModel, projection_matrices
from shardstack_runtime.shard import open_shard
from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.loader import load_tensors

# fp32 tolerances. A prompt's first pass uses the same kernels as transformers and matches to
# rounding. Through the cache (another attention kernel) or oneDNN's packed products the float sums
# run in another order; the tiny models' residual stream reaches ~500 and their logits ~25, so
# those differences reach ~2e-4 (1e-5 relative): the bound leaves 5x headroom.
FIRST_PASS_ATOL = 1e-5
TINY_ATOL = 1e-3
# SmolLM2 (30 layers, logits up to ~30) in fp32 through the cache and packed weights: measured
# differences stay below 2e-4; the bound leaves 10x headroom.
SMOLLM2_FP32_ATOL = 2e-3
# The tiny model's bf16 logits summed in fp32 instead of bf16 products move by a rounding step or two
# (measured: at most 0.016 over 3 rows); the bound leaves 6x headroom.
BF16_LOGITS_ATOL = 0.1


def load_model(
    model_dir: Path, layer_range: LayerRange | None = None, *, dtype=torch.float32, max_positions: int = 256
) -> ShardModel:
    checkpoint = open_checkpoint(str(model_dir))
    config = ModelConfig.from_hf(checkpoint.config)
    model = ShardModel(
        config, layer_range or LayerRange.full(config.num_layers), dtype=dtype, max_positions=max_positions
    )
    load_tensors(checkpoint, model.checkpoint_targets(), verify=False)
    return model


def hf_model(model_dir: Path, dtype=torch.float32):
    # transformers' names from their defining modules: importing the package itself makes pyright bind
    # every model family it has (about a minute of each type check).
    from transformers.models.llama import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(str(model_dir), dtype=dtype).eval()


def hf_logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits.float()


def random_ids(rows: int, length: int, seed: int = 0, vocab: int = 49152) -> torch.Tensor:
    return torch.randint(0, vocab, (rows, length), generator=torch.Generator().manual_seed(seed))


def load_state_dict(model: ShardModel, state: dict[str, torch.Tensor]) -> None:
    for name, target in model.checkpoint_targets().items():
        target.copy_(state[name])


@pytest.fixture(scope="module")
def tiny_hf(tiny_model_dir: Path):
    return hf_model(tiny_model_dir)


# ---------------------------------------------------------------------------- the whole model


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_tied_model_dir"])
def test_prompt_logits_equal_transformers_in_fp32(fixture: str, request: pytest.FixtureRequest) -> None:
    model_dir = request.getfixturevalue(fixture)
    model, reference = load_model(model_dir), hf_model(model_dir)
    ids = random_ids(1, 24)
    ours = model.forward(ids, Batch.prefill(0, 0, 24), model.new_cache(1), all_logits=True)
    torch.testing.assert_close(ours, hf_logits(reference, ids), atol=FIRST_PASS_ATOL, rtol=0)


def test_decoding_through_the_cache_equals_one_full_pass(tiny_model_dir: Path, tiny_hf) -> None:
    model = load_model(tiny_model_dir)
    ids = random_ids(1, 20, seed=1)
    cache = model.new_cache(2)
    pieces = [model.forward(ids[:, :7], Batch.prefill(1, 0, 7), cache, all_logits=True)]  # chunked prefill
    pieces.append(model.forward(ids[:, 7:12], Batch.prefill(1, 7, 5), cache, all_logits=True))
    for position in range(12, 20):  # then one token at a time
        pieces.append(model.forward(ids[:, position : position + 1], Batch.decode([1], [position]), cache)[:, None])
    torch.testing.assert_close(torch.cat(pieces, dim=1), hf_logits(tiny_hf, ids), atol=TINY_ATOL, rtol=0)


def test_packed_weights_give_the_same_logits(tiny_model_dir: Path, tiny_hf) -> None:
    model = load_model(tiny_model_dir)
    if not model.pack_weights():
        pytest.skip("this torch build has no oneDNN packed linear")
    ids = random_ids(1, 16, seed=2)
    cache = model.new_cache(1)
    prompt = model.forward(ids[:, :15], Batch.prefill(0, 0, 15), cache, all_logits=True)
    last = model.forward(ids[:, 15:], Batch.decode([0], [15]), cache)
    reference = hf_logits(tiny_hf, ids)
    torch.testing.assert_close(prompt, reference[:, :15], atol=TINY_ATOL, rtol=0)
    torch.testing.assert_close(last, reference[:, 15], atol=TINY_ATOL, rtol=0)
    with pytest.raises(RuntimeError, match="before pack_weights"):
        model.checkpoint_targets()


def test_a_compute_path_that_measured_plain_faster_keeps_the_weights_plain(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    plain = ComputePath(weights_dtype=torch.float32, reason="test", packed=False)
    assert model.pack_weights(plain) is False and model.packed  # laid out: no more loading into it
    assert not any(t.is_mkldnn for layer in model.layers for t in projection_matrices(layer))
    reference = load_model(tiny_model_dir)
    ids = random_ids(1, 6, seed=5)
    ours = model.forward(ids, Batch.prefill(0, 0, 6), model.new_cache(1))
    assert torch.equal(ours, reference.forward(ids, Batch.prefill(0, 0, 6), reference.new_cache(1)))


def test_a_wide_compute_path_runs_batches_in_fp32_and_single_rows_as_before(tiny_model_dir: Path) -> None:
    # bf16 weights; steps of 2+ rows compute in fp32 from fp32 twins, as on a CPU without native bf16.
    wide = load_model(tiny_model_dir, dtype=torch.bfloat16)
    wide.pack_weights(ComputePath(weights_dtype=torch.bfloat16, reason="test", methods=((2, "wide"),)))
    plain = load_model(tiny_model_dir, dtype=torch.bfloat16)
    plain.pack_weights()
    config = plain.config
    projections = sum(m.numel() for layer in plain.layers for m in projection_matrices(layer))
    assert wide.twin_nbytes == (projections + config.vocab_size * config.hidden_size) * 4

    ids = random_ids(3, 9, seed=4)
    one_token = [m.forward(ids[:1, :1], Batch.prefill(0, 0, 1), m.new_cache(1)) for m in (wide, plain)]
    assert torch.equal(*one_token)  # one row: the weights' own dtype, the same products

    batched = {}
    for model in (wide, plain):
        cache = model.new_cache(3)
        for row in range(3):  # 8 prompt tokens: wide too
            model.forward(ids[row : row + 1, :8], Batch.prefill(row, 0, 8), cache)
        batched[model] = model.forward(ids[:, 8:], Batch.decode([0, 1, 2], [8, 8, 8]), cache)
        assert batched[model].dtype == torch.bfloat16  # activations and the cache stay in the weights' dtype
    # Other products (fp32 sums of the same bf16 weights), the same predictions within bf16's rounding.
    assert not torch.equal(batched[wide], batched[plain])
    torch.testing.assert_close(batched[wide].float(), batched[plain].float(), atol=BF16_LOGITS_ATOL, rtol=0)
    assert torch.equal(batched[wide].argmax(-1), batched[plain].argmax(-1))


@pytest.mark.skipif(cpu_kernel.load() is None, reason=f"no bf16 CPU kernel here: {cpu_kernel.why()}")
def test_a_kernel_compute_path_runs_its_steps_with_the_kernel_and_predicts_the_same(tiny_model_dir: Path) -> None:
    # The kernel below 4 rows, bf16 products from there: one row and a 3-row decode are the kernel's.
    kernel = load_model(tiny_model_dir, dtype=torch.bfloat16)
    kernel.pack_weights(
        ComputePath(weights_dtype=torch.bfloat16, reason="test", packed=False, methods=((1, "kernel"), (4, "plain")))
    )
    plain = load_model(tiny_model_dir, dtype=torch.bfloat16)
    plain.pack_weights(ComputePath(weights_dtype=torch.bfloat16, reason="test", packed=False))
    ids = random_ids(3, 9, seed=6)
    outputs: dict[ShardModel, list[torch.Tensor]] = {}
    for model in (kernel, plain):
        cache = model.new_cache(3)
        outputs[model] = [
            model.forward(ids[row : row + 1, :8], Batch.prefill(row, 0, 8), cache, all_logits=True) for row in range(3)
        ]
        outputs[model].append(model.forward(ids[:, 8:], Batch.decode([0, 1, 2], [8, 8, 8]), cache))
        assert outputs[model][-1].dtype == torch.bfloat16
    prompts, decode = outputs[kernel][:3], outputs[kernel][3]
    # Prompts of 8 rows (and their 8 rows of logits) ran aten's products, as the plain model's did: the same logits.
    assert all(torch.equal(a, b) for a, b in zip(prompts, outputs[plain][:3], strict=True))
    # The decode step ran the kernel: fp32 sums of the same bf16 weights, the same predictions.
    assert not torch.equal(decode, outputs[plain][3])
    torch.testing.assert_close(decode.float(), outputs[plain][3].float(), atol=BF16_LOGITS_ATOL, rtol=0)
    assert torch.equal(decode.argmax(-1), outputs[plain][3].argmax(-1))


def test_the_last_logits_of_a_prompt_are_those_of_its_last_token(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    ids = random_ids(1, 9, seed=3)
    every = model.forward(ids, Batch.prefill(0, 0, 9), model.new_cache(1), all_logits=True)
    last = model.forward(ids, Batch.prefill(0, 0, 9), model.new_cache(1))
    assert last.shape == (1, model.config.vocab_size)
    torch.testing.assert_close(last, every[:, -1], atol=FIRST_PASS_ATOL, rtol=0)  # gemv vs gemm rounding


# ---------------------------------------------------------------------------- batching


def test_batched_decode_of_different_lengths_equals_each_sequence_alone(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    model.pack_weights()
    lengths = [5, 17, 11, 2]
    prompts = [random_ids(1, n + 6, seed=10 + i) for i, n in enumerate(lengths)]

    alone = []
    for prompt, n in zip(prompts, lengths, strict=True):
        cache = model.new_cache(1)
        model.forward(prompt[:, :n], Batch.prefill(0, 0, n), cache)
        alone.append(
            torch.cat([model.forward(prompt[:, p : p + 1], Batch.decode([0], [p]), cache) for p in range(n, n + 6)])
        )

    # Together, in slots 0..3 (a contiguous range: the cache is read through views) ...
    cache = model.new_cache(4)
    for slot, (prompt, n) in enumerate(zip(prompts, lengths, strict=True)):
        model.forward(prompt[:, :n], Batch.prefill(slot, 0, n), cache)
    together = []
    for step in range(6):
        ids = torch.cat([prompt[:, n + step : n + step + 1] for prompt, n in zip(prompts, lengths, strict=True)])
        together.append(model.forward(ids, Batch.decode(range(4), [n + step for n in lengths]), cache))
    for row in range(4):
        torch.testing.assert_close(torch.stack([t[row] for t in together]), alone[row], atol=TINY_ATOL, rtol=0)

    # ... and in scattered slots, rows out of order (a gather).
    cache = model.new_cache(8)
    slots = [6, 1, 4, 3]
    for slot, prompt, n in zip(slots, prompts, lengths, strict=True):
        model.forward(prompt[:, :n], Batch.prefill(slot, 0, n), cache)
    ids = torch.cat([prompt[:, n : n + 1] for prompt, n in zip(prompts, lengths, strict=True)])
    first = model.forward(ids, Batch.decode(slots, lengths), cache)
    for row in range(4):
        torch.testing.assert_close(first[row], alone[row][0], atol=TINY_ATOL, rtol=0)


def test_padded_prefill_of_several_prompts_equals_each_alone(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    lengths = [7, 3, 5]
    prompts = [random_ids(1, n, seed=20 + i) for i, n in enumerate(lengths)]
    ids = torch.zeros(3, max(lengths), dtype=torch.int64)
    for row, prompt in enumerate(prompts):
        ids[row, : prompt.shape[1]] = prompt[0]
    cache = model.new_cache(3)
    together = model.forward(ids, Batch((0, 1, 2), (0, 0, 0), tuple(lengths)), cache)
    for row, prompt in enumerate(prompts):
        alone = model.forward(prompt, Batch.prefill(0, 0, prompt.shape[1]), model.new_cache(1))
        torch.testing.assert_close(together[row], alone[0], atol=TINY_ATOL, rtol=0)
        # Only the real tokens were written: the next decode sees the same cache as a lone prefill.
    nxt = model.forward(torch.tensor([[5], [6], [7]]), Batch.decode([0, 1, 2], lengths), cache)
    for row, prompt in enumerate(prompts):
        lone_cache = model.new_cache(1)
        model.forward(prompt, Batch.prefill(0, 0, prompt.shape[1]), lone_cache)
        expected = model.forward(torch.tensor([[5 + row]]), Batch.decode([0], [lengths[row]]), lone_cache)
        torch.testing.assert_close(nxt[row], expected[0], atol=TINY_ATOL, rtol=0)


def test_a_slot_move_carries_the_sequence_along(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    ids = random_ids(1, 10, seed=4)
    cache = model.new_cache(4)
    model.forward(ids[:, :9], Batch.prefill(3, 0, 9), cache)
    moved = model.forward(ids[:, 9:], Batch.decode([0], [9], moves=[SlotMove(3, 0, 9)]), cache)
    cache = model.new_cache(1)
    model.forward(ids[:, :9], Batch.prefill(0, 0, 9), cache)
    torch.testing.assert_close(moved, model.forward(ids[:, 9:], Batch.decode([0], [9]), cache), atol=0, rtol=0)


def test_a_batch_survives_the_trip_to_the_next_shard() -> None:
    batch = Batch((4, 0, 2), (10, 0, 7), (1, 3, 2), moves=(SlotMove(5, 2, 7), SlotMove(6, 4, 3)))
    assert Batch.from_tensor(batch.to_tensor()) == batch
    assert Batch.from_tensor(Batch.decode([1], [3]).to_tensor()) == Batch.decode([1], [3])


def test_a_batch_that_would_overflow_the_cache_is_refused(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    cache = model.new_cache(1, max_len=8)
    with pytest.raises(ValueError, match="past the cache's max_len 8"):
        model.forward(random_ids(1, 3), Batch.prefill(0, 6, 3), cache)


# ---------------------------------------------------------------------------- layer ranges (pipeline split)


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_tied_model_dir"])
def test_layer_ranges_chained_by_hand_equal_the_full_model(fixture: str, request: pytest.FixtureRequest) -> None:
    model_dir = request.getfixturevalue(fixture)
    full = load_model(model_dir)
    ranges = LayerRange.split(full.config.num_layers, 3)
    assert ranges == [LayerRange(0, 2), LayerRange(2, 3), LayerRange(3, 4)]
    shards = [load_model(model_dir, r) for r in ranges]
    caches = [s.new_cache(2) for s in shards]
    full_cache = full.new_cache(2)
    ids = random_ids(1, 12, seed=5)

    def chained(tokens: torch.Tensor, batch: Batch) -> torch.Tensor:
        activations = tokens
        for shard, cache in zip(shards, caches, strict=True):
            activations = shard.forward(activations, batch, cache)
        return activations

    prompt = Batch.prefill(1, 0, 11)
    torch.testing.assert_close(
        chained(ids[:, :11], prompt), full.forward(ids[:, :11], prompt, full_cache), atol=TINY_ATOL, rtol=0
    )
    step = Batch.decode([1], [11])
    torch.testing.assert_close(
        chained(ids[:, 11:], step), full.forward(ids[:, 11:], step, full_cache), atol=TINY_ATOL, rtol=0
    )


def test_each_range_asks_the_loader_for_its_own_tensors_only(tiny_model_dir: Path, tiny_tied_model_dir: Path) -> None:
    config = ModelConfig.from_hf(json.loads((tiny_model_dir / "config.json").read_text()))
    first, middle, last = (ShardModel(config, r, dtype=torch.float32) for r in LayerRange.split(4, 3))
    assert "model.embed_tokens.weight" in first.checkpoint_targets()
    assert not any(name.startswith("model.layers.2.") for name in first.checkpoint_targets())
    assert all(name.startswith("model.layers.2.") for name in middle.checkpoint_targets())
    assert {"lm_head.weight", "model.norm.weight"} <= set(last.checkpoint_targets())
    assert "model.embed_tokens.weight" not in last.checkpoint_targets()

    tied = ModelConfig.from_hf(json.loads((tiny_tied_model_dir / "config.json").read_text()))
    tied_last = ShardModel(tied, LayerRange(2, 4), dtype=torch.float32)
    # The checkpoint has no lm_head.weight: a last shard without the embeddings loads them as its head.
    assert tied_last.checkpoint_targets()["model.embed_tokens.weight"] is tied_last.lm_head
    whole = ShardModel(tied, LayerRange(0, 4), dtype=torch.float32)
    assert whole.lm_head is whole.embed_tokens and "lm_head.weight" not in whole.checkpoint_targets()

    shard = open_shard(str(tiny_model_dir), layer_range=LayerRange(1, 2), dtype=torch.float32)
    report = shard.load_weights(verify=False)
    assert report.tensors == 9  # two norms, q/k/v/o, gate/up/down of layer 1
    assert report.bytes_fetched == sum(t.nbytes for t in shard.model.tensors())


def test_layer_ranges_reject_impossible_splits() -> None:
    with pytest.raises(ValueError, match="0 ≤ start < end"):
        LayerRange(3, 3)
    with pytest.raises(ValueError, match="cannot split 4 layers into 5 shards"):
        LayerRange.split(4, 5)
    assert LayerRange.split(30, 4) == [LayerRange(0, 8), LayerRange(8, 16), LayerRange(16, 23), LayerRange(23, 30)]


# ---------------------------------------------------------------------------- config variants vs transformers


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"rope_scaling": {"rope_type": "linear", "factor": 4.0}}, id="linear-rope"),
        pytest.param(
            {
                "rope_scaling": {
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 32,
                },
                "rope_theta": 500000.0,
            },
            id="llama3-rope",
        ),
        pytest.param({"attention_bias": True, "mlp_bias": True}, id="biases"),
        pytest.param({"num_key_value_heads": 4}, id="no-gqa"),
        pytest.param({"num_key_value_heads": 1, "head_dim": 32}, id="multi-query-wide-heads"),
    ],
)
def test_config_variants_match_transformers(overrides: dict, tmp_path: Path) -> None:
    model_dir = write_tiny_model(tmp_path, seed=7, vocab_size=512, **overrides)
    model, reference = load_model(model_dir), hf_model(model_dir)
    ids = random_ids(1, 80, seed=6, vocab=512)  # past llama3's original 32 positions
    cache = model.new_cache(1)
    prompt = model.forward(ids[:, :79], Batch.prefill(0, 0, 79), cache, all_logits=True)
    last = model.forward(ids[:, 79:], Batch.decode([0], [79]), cache)
    expected = hf_logits(reference, ids)
    torch.testing.assert_close(prompt, expected[:, :79], atol=TINY_ATOL, rtol=0)
    torch.testing.assert_close(last, expected[:, 79], atol=TINY_ATOL, rtol=0)


# ---------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="module")
def smollm2_hf_fp32(smollm2_dir: Path):
    return hf_model(smollm2_dir, torch.float32)


def test_smollm2_logits_match_transformers_in_fp32(smollm2_dir: Path, smollm2_hf_fp32) -> None:
    model = load_model(smollm2_dir, max_positions=64)
    model.pack_weights()
    ids = torch.tensor([[504, 3575, 282, 4649, 314, 7042, 30, 198]])  # "The capital of France is Paris."
    cache = model.new_cache(1)
    prompt = model.forward(ids[:, :7], Batch.prefill(0, 0, 7), cache, all_logits=True)
    last = model.forward(ids[:, 7:], Batch.decode([0], [7]), cache)
    expected = hf_logits(smollm2_hf_fp32, ids)
    torch.testing.assert_close(prompt, expected[:, :7], atol=SMOLLM2_FP32_ATOL, rtol=0)
    torch.testing.assert_close(last, expected[:, 7], atol=SMOLLM2_FP32_ATOL, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_smollm2_greedy_text_equals_transformers(dtype: torch.dtype, smollm2_dir: Path) -> None:
    shard = open_shard(str(smollm2_dir), dtype=dtype, max_positions=64)
    shard.load_weights(verify=False)
    model, tokenizer = shard.model, shard.tokenizer
    assert tokenizer is not None
    model.pack_weights()
    prompt = tokenizer.encode("The capital of France is")
    cache = model.new_cache(1)
    logits = model.forward(torch.tensor([prompt]), Batch.prefill(0, 0, len(prompt)), cache)
    ours: list[int] = []
    for _ in range(8):
        ours.append(int(logits.argmax()))
        logits = model.forward(torch.tensor([[ours[-1]]]), Batch.decode([0], [len(prompt) + len(ours) - 1]), cache)

    reference = hf_model(smollm2_dir, dtype)
    with torch.no_grad():
        # transformers types `generate`'s self as a Protocol written for the `ty` checker, which its
        # own models do not satisfy under pyright (a property `device` against a mutable attribute).
        out = reference.generate(  # pyright: ignore[reportAttributeAccessIssue]
            torch.tensor([prompt]),
            max_new_tokens=8,
            do_sample=False,
            attention_mask=torch.ones(1, len(prompt), dtype=torch.int64),
        )
    assert ours == out[0, len(prompt) :].tolist()
    assert tokenizer.decode(ours).startswith(" Paris.")
