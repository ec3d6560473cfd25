"""Splitting a model's layers across ranks by weight bytes, and explicit split overrides."""

from __future__ import annotations

import itertools

import pytest

from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.llama import LayerRange, ShardModel
from shardstack_runtime.model.partition import balanced_layer_ranges, layer_params, parse_layer_split, rank_bytes

# SmolLM2-135M: 30 layers, hidden 576, intermediate 1536, 9 heads / 3 KV heads of 64, vocab 49152, tied.
SMOLLM2 = ModelConfig.from_hf(
    {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
    }
)
# Per layer (parameters):
#   norms       2 · 576                      =     1_152
#   q,k,v       (576 + 2·192) · 576 = 960·576 =   552_960
#   o           576 · 576                    =   331_776
#   gate, up    2 · 1536 · 576               = 1_769_472
#   down        1536 · 576                   =   884_736
#   total                                    = 3_540_096  → L = 7_080_192 bytes in bf16
# Embeddings 49152 · 576 = 28_311_552 params → E = 56_623_104 bytes (= 8L - 18_432: almost 8 layers).
# Final norm 576 params → N = 1_152 bytes. Tied, but a last rank that is not also the first still holds
# a vocab x hidden head: another E.
L, E, N = 7_080_192, 56_623_104, 1_152

# A tiny config where the embeddings outweigh a layer several times over: 8 layers, hidden 64,
# intermediate 128, 4 heads = 4 KV heads of 16, vocab 2048, untied.
TINY = ModelConfig.from_hf(
    {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 2048,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 16,
        "max_position_embeddings": 512,
        "tie_word_embeddings": False,
    }
)
# Per layer: norms 128 + q,k,v 3·64·64 = 12_288 + o 4_096 + gate,up 2·128·64 = 16_384 + down 8_192
#   = 41_088 params → TL = 82_176 bytes. Embeddings (and the untied head) 2048·64 = 131_072 params
#   → TE = 262_144 bytes (≈ 3.19 TL). Final norm 64 params → TN = 128 bytes.
TL, TE, TN = 82_176, 262_144, 128


def check_cover(ranges: list[LayerRange], num_layers: int) -> None:
    assert ranges[0].start == 0 and ranges[-1].end == num_layers
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    assert all(len(r) >= 1 for r in ranges)


def test_layer_params_match_the_hand_count() -> None:
    assert layer_params(SMOLLM2) * 2 == L
    assert layer_params(TINY) * 2 == TL


def test_rank_bytes_match_the_allocated_shards() -> None:
    # The tiny config's shards are small enough to allocate: their real weight bytes are what rank_bytes says.
    for ranges in ([LayerRange(0, 8)], [LayerRange(0, 2), LayerRange(2, 7), LayerRange(7, 8)]):
        real = [ShardModel(TINY, r, dtype="bf16").nbytes for r in ranges]
        assert rank_bytes(TINY, ranges, 2) == real
    tied = ModelConfig.from_hf({**TINY.raw, "tie_word_embeddings": True})
    for ranges in ([LayerRange(0, 8)], [LayerRange(0, 4), LayerRange(4, 8)]):
        assert rank_bytes(tied, ranges, 4) == [ShardModel(tied, r, dtype="fp32").nbytes for r in ranges]


def test_smollm2_one_shard_holds_the_tied_head_once() -> None:
    # 30L + E + N: one embedding matrix serves as the head.
    assert rank_bytes(SMOLLM2, [LayerRange(0, 30)]) == [30 * L + E + N] == [269_030_016]


def test_smollm2_two_shards() -> None:
    # Rank 0: E + a·L; rank 1: E + N + (30 - a)·L. a = 15 gives E + 15L + N on rank 1; a = 14 puts 16L on
    # rank 1 and a = 16 16L on rank 0, both heavier. So the equal-layer split is already the best.
    ranges = balanced_layer_ranges(SMOLLM2, 2)
    assert ranges == [LayerRange(0, 15), LayerRange(15, 30)]
    assert rank_bytes(SMOLLM2, ranges) == [E + 15 * L, E + 15 * L + N] == [162_825_984, 162_827_136]


def test_smollm2_three_shards() -> None:
    # Total 2E + 30L + N ≈ 46L, so ≈ 15.3L a rank: the middle rank (no embeddings) takes about twice the
    # layers. Rank 0: E + aL, rank 1: bL, rank 2: E + N + cL, a + b + c = 30.
    #   (8, 15, 7): E + 8L = 113_264_640, 15L = 106_202_880, E + N + 7L = 106_185_600 → max E + 8L
    #   (7, 15, 8): rank 2 is E + 8L + N, heavier by N;  (7, 16, 7): rank 1 is 16L = E + 8L + 18_432
    #   (9, ...) or c ≥ 9: at least E + 9L.
    # The equal split (10, 10, 10) puts E + 10L + N = 127_426_176 on rank 2.
    ranges = balanced_layer_ranges(SMOLLM2, 3)
    assert ranges == [LayerRange(0, 8), LayerRange(8, 23), LayerRange(23, 30)]
    assert rank_bytes(SMOLLM2, ranges) == [E + 8 * L, 15 * L, E + N + 7 * L] == [113_264_640, 106_202_880, 106_185_600]
    naive = rank_bytes(SMOLLM2, LayerRange.split(30, 3))
    assert naive == [E + 10 * L, 10 * L, E + N + 10 * L]
    assert max(rank_bytes(SMOLLM2, ranges)) < max(naive)


def test_tiny_three_shards() -> None:
    # Rank 0: TE + a·TL, rank 1: b·TL, rank 2: TE + TN + c·TL, a + b + c = 8; TE ≈ 3.19TL.
    #   (2, 5, 1): TE + 2TL = 426_496, 5TL = 410_880, TE + TN + TL = 344_448 → max TE + 2TL
    #   (1, 5, 2) and (2, 4, 2): rank 2 is TE + TN + 2TL, heavier by TN;  (1, 6, 1): 6TL = 493_056
    #   (3, ...) or c ≥ 3: at least TE + 3TL.
    ranges = balanced_layer_ranges(TINY, 3)
    assert ranges == [LayerRange(0, 2), LayerRange(2, 7), LayerRange(7, 8)]
    assert rank_bytes(TINY, ranges) == [TE + 2 * TL, 5 * TL, TE + TN + TL] == [426_496, 410_880, 344_448]
    # Equal layers (3, 3, 2): TE + 3TL = 508_672 on rank 0.
    assert max(rank_bytes(TINY, LayerRange.split(8, 3))) == TE + 3 * TL == 508_672


def test_tiny_two_shards_and_fp32() -> None:
    # (4, 4): TE + 4TL on rank 0 (embeddings), TE + TN + 4TL on rank 1 (untied head + norm); in fp32 each
    # parameter is 4 bytes, twice the bf16 figures. Moving a layer either way adds TL to one end.
    ranges = balanced_layer_ranges(TINY, 2, dtype_bytes=4)
    assert ranges == [LayerRange(0, 4), LayerRange(4, 8)]
    assert rank_bytes(TINY, ranges, 4) == [2 * (TE + 4 * TL), 2 * (TE + TN + 4 * TL)]


def test_smollm2_balanced_by_compute() -> None:
    # The embedding is a lookup and costs a pass nothing; the head (E's worth of parameters) runs on every
    # pass. Rank 0: aL, rank 1: E + N + (30 - a)L with E ≈ 8L: a = 19 gives 19L = 134_523_648 against
    # E + N + 11L = 134_506_368; a = 18 puts E + N + 12L = 141_586_560 on rank 1, a = 20 puts 20L on rank 0.
    ranges = balanced_layer_ranges(SMOLLM2, 2, by="compute")
    assert ranges == [LayerRange(0, 19), LayerRange(19, 30)]
    work = [19 * L, E + N + 11 * L]
    assert max(work) < min(max(18 * L, E + N + 12 * L), max(20 * L, E + N + 10 * L))
    # Three ranks: 12L, 13L, E + N + 5L ≈ 13L: the last rank (with the head) takes the fewest layers, where
    # balancing bytes gives the first rank (with the embedding) the fewest (8, 15, 7).
    assert balanced_layer_ranges(SMOLLM2, 3, by="compute") == [
        LayerRange(0, 12),
        LayerRange(12, 25),
        LayerRange(25, 30),
    ]


def test_balance_must_be_bytes_or_compute() -> None:
    with pytest.raises(ValueError, match=r"balance by 'flops': must be one of bytes, compute"):
        balanced_layer_ranges(SMOLLM2, 2, by="flops")


@pytest.mark.parametrize("config", [SMOLLM2, TINY], ids=["smollm2", "tiny"])
def test_every_shard_count_covers_and_beats_equal_layers(config: ModelConfig) -> None:
    for shards in range(1, config.num_layers + 1):
        ranges = balanced_layer_ranges(config, shards)
        assert len(ranges) == shards
        check_cover(ranges, config.num_layers)
        assert max(rank_bytes(config, ranges)) <= max(rank_bytes(config, LayerRange.split(config.num_layers, shards)))


@pytest.mark.parametrize("shards", [0, -1, 9])
def test_bad_shard_counts(shards: int) -> None:
    with pytest.raises(ValueError, match=rf"shards={shards}: a model of 8 layers can be split into 1 to 8"):
        balanced_layer_ranges(TINY, shards)


def test_parse_layer_split() -> None:
    assert parse_layer_split("0-10,10-20,20-30", 30, 3) == [LayerRange(0, 10), LayerRange(10, 20), LayerRange(20, 30)]
    assert parse_layer_split(" 0-8, 8-23 ,23-30 ", 30, 3) == balanced_layer_ranges(SMOLLM2, 3)
    assert parse_layer_split("0-30", 30, 1) == [LayerRange(0, 30)]


@pytest.mark.parametrize(
    "text, shards, message",
    [
        ("0-10,10-30", 3, r"has 2 ranges; it needs exactly 3, one per shard"),
        ("0-10,10-20,20-30,30-30", 3, r"has 4 ranges; it needs exactly 3"),
        ("0-10,ten-20,20-30", 3, r"range 1 'ten-20' is not START-END"),
        ("0-10,10,10-30", 3, r"range 1 '10' is not START-END"),
        ("0-10,-5-20,20-30", 3, r"range 1 '-5-20' is not START-END"),
        ("0-10,11-20,20-30", 3, r"range 1 '11-20' must start at layer 10"),
        ("0-10,5-20,20-30", 3, r"range 1 '5-20' must start at layer 10"),
        ("1-10,10-20,20-30", 3, r"range 0 '1-10' must start at layer 0"),
        ("0-10,10-10,10-30", 3, r"range 1 '10-10' is empty; its end must be greater than 10"),
        ("0-10,10-20,20-31", 3, r"range 2 '20-31' ends past the model's 30 layers; the last range must end at 30"),
        ("0-10,10-20,20-29", 3, r"the ranges stop at layer 29; the last range must end at 30"),
        ("", 1, r"range 0 '' is not START-END"),
    ],
)
def test_parse_layer_split_errors(text: str, shards: int, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_layer_split(text, 30, shards)
    assert repr(text) in str(info.value)


# A Qwen2-MoE-shaped tiny config: 6 layers, two of them dense (mlp_only_layers), the others 8 experts of width 32
# plus a shared expert of 96, so that a sparse layer weighs several dense ones.
MOE = ModelConfig.from_hf(
    {
        **TINY.raw,
        "architectures": ["Qwen2MoeForCausalLM"],
        "model_type": "qwen2_moe",
        "num_hidden_layers": 6,
        "num_experts": 8,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 96,
        "mlp_only_layers": [0, 1],
    }
)


def test_every_family_s_shards_hold_what_rank_bytes_says() -> None:
    # Sparse layers hold every expert, the router and the shared expert and its gate: the real bytes of each split.
    for ranges in ([LayerRange(0, 6)], [LayerRange(0, 2), LayerRange(2, 4), LayerRange(4, 6)]):
        assert rank_bytes(MOE, ranges, 2) == [ShardModel(MOE, r, dtype="bf16").nbytes for r in ranges]


def test_experts_are_balanced_by_their_bytes_and_by_what_a_token_computes() -> None:
    dense, sparse = layer_params(MOE, 0), layer_params(MOE, 2)
    assert sparse > 2 * dense  # every expert's bytes
    assert layer_params(MOE, 2, active=True) < sparse  # a token computes with two experts of eight
    by_bytes = balanced_layer_ranges(MOE, 2)
    check_cover(by_bytes, 6)
    # Three layers each would leave the first rank light (its two dense layers): by bytes it takes more.
    assert by_bytes != LayerRange.split(6, 2)
    assert max(rank_bytes(MOE, by_bytes)) < max(rank_bytes(MOE, LayerRange.split(6, 2)))
