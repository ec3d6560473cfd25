"""The logprobs the engine reports are the model's: each token's and the likeliest ones, against transformers.

The reference is a transformers forward pass of the tiny random Llama (fp32) over the prompt and the generated
tokens: ``log_softmax`` of its logits at each generated position, the model's raw distribution. The engine
reports that distribution whatever the request's temperature, top-k and top-p (vLLM's default, and OpenAI's
behaviour): a sampled request's logprobs are checked against it too. Sharded == unsharded: test_pipeline.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch
from test_engine import collect, make_engine, request, tokens
from test_model import TINY_ATOL, hf_model

from shardstack_runtime.engine.engine import Engine
from shardstack_runtime.generation import GenerationEvent

LOGPROB_ATOL = 2 * TINY_ATOL
"""A log-softmax moves by at most twice the largest change of its logits."""
STEPS = 10
TEXTS = ["The quick brown fox jumps over the lazy dog", "1 2 3"]


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Iterator[Engine]:
    with make_engine(tiny_model_dir) as engine:  # started and ready; shut down on leaving
        yield engine


@pytest.fixture(scope="module")
def tiny_hf(tiny_model_dir: Path):
    return hf_model(tiny_model_dir)


def reference_logprobs(hf, prompt: list[int], generated: list[int]) -> torch.Tensor:
    """``[len(generated), vocab]``: transformers' log-softmax at the position of each generated token."""
    ids = torch.tensor([prompt + generated[:-1]])
    with torch.no_grad():
        logits = hf(ids).logits[0, len(prompt) - 1 :].float()
    return torch.log_softmax(logits, dim=-1)


def assert_same_likeliest(
    ours: Sequence[tuple[int, float]], theirs: Sequence[tuple[int, float]], atol: float = LOGPROB_ATOL
) -> None:
    """The same likeliest tokens with the same logprobs, to ``atol``; tokens that close to the list's last
    may trade places across its end (float sums in another order can swap them)."""
    assert len(ours) == len(theirs)
    assert [lp for _, lp in ours] == pytest.approx([lp for _, lp in theirs], abs=atol)
    mine, other = dict(ours), dict(theirs)
    for token in mine.keys() & other.keys():
        assert mine[token] == pytest.approx(other[token], abs=atol)
    boundary = min(lp for _, lp in theirs) if theirs else 0.0
    for token in mine.keys() ^ other.keys():
        assert abs(mine.get(token, other.get(token, 0.0)) - boundary) <= atol, (ours, theirs)


def generate_together(engine: Engine, prompts: list[list[int]], params: list[dict]) -> list[list[GenerationEvent]]:
    async def together() -> list[list[GenerationEvent]]:
        requests = [request(p, max_tokens=STEPS, ignore_eos=True, **kw) for p, kw in zip(prompts, params, strict=True)]
        return await asyncio.gather(*(collect(engine, r) for r in requests))

    return asyncio.run(together())


def test_greedy_logprobs_are_transformers_log_softmax(engine: Engine, tiny_hf) -> None:
    prompts = [engine.tokenizer.encode(t) for t in TEXTS]
    # Together, so that one pass holds a row that asks for the likeliest tokens and one that does not.
    asked, plain = generate_together(engine, prompts, [{"temperature": 0.0, "top_logprobs": 5}, {"temperature": 0.0}])
    assert all(e.top_logprobs == () for e in plain) and all(e.logprob is not None for e in plain)

    expected = reference_logprobs(tiny_hf, prompts[0], tokens(asked))
    for step, event in enumerate(asked):
        assert event.token_id is not None and event.logprob is not None
        assert event.token_id == int(expected[step].argmax())  # the tokens are transformers' greedy ones
        assert event.logprob == pytest.approx(float(expected[step, event.token_id]), abs=LOGPROB_ATOL)
        top = expected[step].topk(5)
        assert_same_likeliest(event.top_logprobs, list(zip(top.indices.tolist(), top.values.tolist(), strict=True)))
        values = [lp for _, lp in event.top_logprobs]
        assert values == sorted(values, reverse=True)
        assert event.top_logprobs[0] == (event.token_id, event.logprob)  # greedy: the chosen one is the likeliest


def test_a_sampled_tokens_logprob_is_the_models_raw_one(engine: Engine, tiny_hf) -> None:
    prompt = engine.tokenizer.encode(TEXTS[1])
    params = {"temperature": 1.5, "top_k": 20, "seed": 7, "top_logprobs": 3}
    [events] = generate_together(engine, [prompt], [params])
    generated = tokens(events)
    raw = reference_logprobs(tiny_hf, prompt, generated)
    for step, event in enumerate(events):
        assert event.logprob == pytest.approx(float(raw[step, generated[step]]), abs=LOGPROB_ATOL)
        top = raw[step].topk(3)
        assert_same_likeliest(event.top_logprobs, list(zip(top.indices.tolist(), top.values.tolist(), strict=True)))
    # Not the distribution the tokens were drawn from: temperature 1.5 would give other numbers.
    tempered = torch.log_softmax(raw / 1.5, -1)
    drawn = [float(tempered[step, token]) for step, token in enumerate(generated)]
    assert max(abs(a - e.logprob) for a, e in zip(drawn, events, strict=True) if e.logprob is not None) > 0.1
