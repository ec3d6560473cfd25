"""Sharded == unsharded, in one process: the server's layer splits chained by hand give the whole model's logits.

For the tiny models and SmolLM2 (fp32), each range of ``balanced_layer_ranges(config, n)`` for n = 2 and 3 is
built from the same checkpoint as its own :class:`ShardModel` with its own KV cache, laid out for serving
(packed weights). Their forward passes are chained (token ids into the first, hidden states between, logits
out of the last) over two prompts (one read in a single fresh pass, one in two chunks) and then batched
decode steps, and compared at every step with one ShardModel over all layers. This pins down the split
itself: the embedding on the first rank only, the final norm and the (tied) head on the last, the KV cache
per shard.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from shardstack_runtime.engine.batch import Batch
from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.llama import LayerRange, ShardModel
from shardstack_runtime.model.partition import balanced_layer_ranges
from shardstack_runtime.shard import Shard, open_shard

# fp32. The shards run the whole model's kernels on the same shapes, so the chained logits come out equal
# to the whole model's (measured: 0 difference). The bound only allows for a differently threaded float
# sum; a wrong split (a missing norm, the wrong head, a shard reading another's cache) is off by whole units.
ATOL = 1e-4
MAX_POSITIONS = 64
DECODE_STEPS = 8
TEXTS = ["The capital of France is", "Once upon a time, in a land far away, there lived"]
MODELS = ["tiny_model_dir", "tiny_tied_model_dir", "smollm2_dir"]  # untied head, tied head, the real model


def load(model_dir: Path, layer_range: LayerRange | None = None) -> Shard:
    shard = open_shard(str(model_dir), layer_range=layer_range, dtype="float32", max_positions=MAX_POSITIONS)
    shard.load_weights(verify=False)
    shard.model.pack_weights()  # as the engine and run_worker lay the weights out (no-op without oneDNN)
    return shard


def prompts(shard: Shard) -> list[list[int]]:
    assert shard.tokenizer is not None
    encoded = [shard.tokenizer.encode(text) for text in TEXTS]
    assert len(encoded[1]) > len(encoded[0]) > 1
    return encoded


class Chain:
    """Shard models over consecutive layer ranges, each with its own cache, run one after the other."""

    def __init__(self, models: list[ShardModel], slots: int) -> None:
        self.models = models
        self.caches = [m.new_cache(slots, MAX_POSITIONS) for m in models]

    def forward(self, ids: torch.Tensor, batch: Batch) -> torch.Tensor:
        out = ids
        for model, cache in zip(self.models, self.caches, strict=True):
            out = model.forward(out, batch, cache)
        return out


def run_both(whole: ShardModel, chain: Chain, prompts: list[list[int]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(chained logits, whole logits) of every pass: two prompts' prefills, then batched greedy decode steps."""
    whole_cache = whole.new_cache(2, MAX_POSITIONS)
    pairs = []

    def step(ids: torch.Tensor, batch: Batch) -> torch.Tensor:
        pairs.append((chain.forward(ids, batch), whole.forward(ids, batch, whole_cache)))
        return pairs[-1][1]

    first, second = prompts
    last = [step(torch.tensor([first]), Batch.prefill(0, 0, len(first)))]  # one fresh pass
    cut = len(second) // 2
    step(torch.tensor([second[:cut]]), Batch.prefill(1, 0, cut))  # two chunks: the second reads the cache
    last.append(step(torch.tensor([second[cut:]]), Batch.prefill(1, cut, len(second) - cut)))
    logits = torch.cat(last)
    lengths = [len(first), len(second)]
    for _ in range(DECODE_STEPS):
        ids = logits.argmax(-1)[:, None]  # the whole model's greedy tokens feed both
        logits = step(ids, Batch.decode([0, 1], lengths))
        lengths = [n + 1 for n in lengths]
    return pairs


@pytest.fixture(scope="module")
def whole_models() -> dict[Path, Shard]:
    return {}


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("fixture", MODELS)
def test_the_servers_split_chained_gives_the_whole_models_logits(
    fixture: str, world_size: int, whole_models: dict[Path, Shard], request: pytest.FixtureRequest
) -> None:
    model_dir = request.getfixturevalue(fixture)
    config = ModelConfig.from_hf(json.loads((model_dir / "config.json").read_text()))
    ranges = balanced_layer_ranges(config, world_size)
    assert len(ranges) == world_size and ranges[0].start == 0 and ranges[-1].end == config.num_layers
    if model_dir not in whole_models:
        whole_models[model_dir] = load(model_dir)
    whole = whole_models[model_dir]
    models = [load(model_dir, r).model for r in ranges]

    # The split: the embedding on the first shard only, the final norm and the head on the last only.
    first, *_, last = models
    assert first.embed_tokens is not None and first.lm_head is None and first.norm is None
    assert all(m.embed_tokens is None for m in models[1:])
    assert all(m.lm_head is None and m.norm is None for m in models[:-1])
    assert last.lm_head is not None and last.norm is not None
    assert sum(len(m.layers) for m in models) == config.num_layers

    pairs = run_both(whole.model, Chain(models, slots=2), prompts(whole))
    assert len(pairs) == 3 + DECODE_STEPS
    for index, (chained, expected) in enumerate(pairs):
        assert chained.shape == expected.shape and chained.shape[-1] == config.vocab_size, index
        torch.testing.assert_close(chained, expected, atol=ATOL, rtol=0, msg=lambda m, i=index: f"pass {i}: {m}")
        assert torch.equal(chained.argmax(-1), expected.argmax(-1)), f"pass {index}: greedy tokens differ"


def test_a_wrong_split_is_caught(tiny_model_dir: Path, whole_models: dict[Path, Shard]) -> None:
    # The check above can fail: a chain that skips a layer gives other logits.
    whole = whole_models.get(tiny_model_dir) or load(tiny_model_dir)
    models = [load(tiny_model_dir, LayerRange(0, 1)).model, load(tiny_model_dir, LayerRange(2, 4)).model]
    pairs = run_both(whole.model, Chain(models, slots=2), prompts(whole))
    assert max((chained - expected).abs().max().item() for chained, expected in pairs) > 100 * ATOL
