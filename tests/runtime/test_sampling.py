"""Token sampling (greedy, temperature, top-k, top-p, seeds) and stop strings spanning tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shardstack_runtime.detokenizer import StopStrings, TextStream
from shardstack_runtime.generation import SamplingParams
from shardstack_runtime.sampling import RowSampler, decode_sampled, encode_draws, sample, sample_encoded
from shardstack_runtime.tokenizer import Tokenizer
from shardstack_runtime.weights.checkpoint import open_checkpoint


def random_logits(rows: int, vocab: int = 1000, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def draw(logits: torch.Tensor, params: SamplingParams, steps: int) -> list[int]:
    row = RowSampler(params)
    return [sample(logits, [row])[0][0] for _ in range(steps)]


def test_temperature_zero_is_argmax_with_the_raw_logprob() -> None:
    logits = random_logits(4)
    tokens, logprobs, *_ = sample(logits, [RowSampler(SamplingParams(temperature=0.0)) for _ in range(4)])
    assert tokens == logits.argmax(-1).tolist()
    expected = torch.log_softmax(logits, -1).gather(1, logits.argmax(-1)[:, None])[:, 0]
    assert logprobs == pytest.approx(expected.tolist())


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=1.5, top_k=1, seed=3),
        SamplingParams(temperature=1.5, top_p=1e-6, seed=3),
        SamplingParams(temperature=1.5, top_k=5, top_p=1e-6, seed=3),
    ],
    ids=["top_k=1", "tiny top_p", "top_k+tiny top_p"],
)
def test_cuts_that_leave_one_token_are_greedy(params: SamplingParams) -> None:
    logits = random_logits(1, seed=1)
    assert draw(logits, params, 20) == [int(logits.argmax())] * 20


def test_the_same_seed_draws_the_same_tokens_whatever_shares_the_batch() -> None:
    logits = random_logits(5, seed=2)
    params = SamplingParams(temperature=0.9, top_p=0.95, top_k=50, seed=1234)
    alone = [sample(logits[2:3], [row])[0][0] for row in [RowSampler(params)] for _ in range(30)]

    mine, others = (
        RowSampler(params),
        [RowSampler(SamplingParams(temperature=t, seed=i)) for i, t in enumerate([0.0, 1.0, 0.5, 2.0])],
    )
    in_batch = []
    for step in range(30):
        rows = [others[0], others[1], mine, others[2], others[3]][: 3 + step % 3]  # batch size varies
        in_batch.append(sample(logits[: len(rows)], rows)[0][2])
    assert in_batch == alone
    assert len(set(alone)) > 1  # really sampled
    assert draw(logits[2:3], SamplingParams(temperature=0.9, seed=99), 30) != alone


def test_samples_follow_the_distribution() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    tokens = draw(probs.log(), SamplingParams(temperature=1.0, seed=0), 4000)
    counts = torch.bincount(torch.tensor(tokens), minlength=4).float() / 4000
    assert torch.allclose(counts, probs[0], atol=0.03)


def test_top_k_and_top_p_restrict_the_support() -> None:
    probs = torch.tensor([[0.05, 0.4, 0.3, 0.15, 0.1]])
    assert set(draw(probs.log(), SamplingParams(top_k=2, seed=0), 300)) == {1, 2}
    # top_p=0.8: 0.4 + 0.3 = 0.7 < 0.8, so the 0.15 token is needed too; the rest are cut.
    assert set(draw(probs.log(), SamplingParams(top_p=0.8, seed=0), 500)) == {1, 2, 3}
    # Temperature sharpens: at 0.02 the top token is (4/3)^50 ≈ 10^6 times likelier than the next.
    assert set(draw(probs.log(), SamplingParams(temperature=0.02, seed=0), 100)) == {1}


def test_rows_with_different_parameters_in_one_batch() -> None:
    probs = torch.tensor([[0.05, 0.4, 0.3, 0.15, 0.1]]).log().repeat(3, 1)
    rows = [
        RowSampler(SamplingParams(top_k=1)),
        RowSampler(SamplingParams(top_k=2, seed=1)),
        RowSampler(SamplingParams(seed=2)),
    ]
    seen: list[set[int]] = [set(), set(), set()]
    for _ in range(300):
        for i, token in enumerate(sample(probs, rows)[0]):
            seen[i].add(token)
    assert seen[0] == {1} and seen[1] == {1, 2} and seen[2] == {0, 1, 2, 3, 4}


def test_the_likeliest_tokens_are_the_raw_distributions_and_only_computed_when_asked() -> None:
    logits = random_logits(3, seed=4)
    rows = [RowSampler(SamplingParams(temperature=t, seed=5)) for t in (0.0, 1.7, 0.3)]
    sampled = sample(logits, rows, top_logprobs=4)
    expected = torch.log_softmax(logits, -1).topk(4)
    assert sampled.top_ids.tolist() == expected.indices.tolist()
    torch.testing.assert_close(sampled.top_logprobs, expected.values)
    assert sampled.top()[0][0] == (sampled.tokens[0], pytest.approx(sampled.logprobs[0]))  # greedy: the likeliest
    assert sample(logits, rows).top_ids.shape == (3, 0)


def test_the_last_ranks_results_read_back_with_the_likeliest_tokens() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0], [5.0, 0.0, 0.0], [3.0, 0.0, 1.0]])  # a vocabulary of 3
    greedy = RowSampler(SamplingParams(temperature=0.0)).draw()
    draws = encode_draws([greedy, None, greedy])  # the middle row is a prompt chunk: nothing to sample
    tokens, logprobs, top = decode_sampled(sample_encoded(logits, draws, top_logprobs=5), 5)
    expected = torch.log_softmax(logits, -1)
    assert tokens == [1, -1, 0]
    assert logprobs == pytest.approx([float(expected[0, 1]), 0.0, float(expected[2, 0])])
    assert [[t for t, _ in row] for row in top] == [[1, 0, 2], [], [0, 2, 1]]  # 5 asked, 3 exist
    assert [lp for _, lp in top[2]] == pytest.approx(expected[2].sort(descending=True).values.tolist())
    plain = sample_encoded(logits, draws)
    assert plain.shape == (2, 3) and decode_sampled(plain, 0)[2] == [[], [], []]


# ---------------------------------------------------------------------------- stop strings


def feed(stops: StopStrings, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        text, stopped = stops.push(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + stops.flush(), False


def test_a_stop_string_spanning_pieces_is_cut_with_everything_after_it() -> None:
    assert feed(StopStrings(["END"]), ["The e", "nd. E", "N", "Dless", " more"]) == ("The end. ", True)
    assert feed(StopStrings(["\n\n", "###"]), ["a\n", "b#", "#", "#c"]) == ("a\nb", True)


def test_text_that_might_start_a_stop_string_is_held_back_then_released() -> None:
    stops = StopStrings(["STOP"])
    assert stops.push("go ST") == ("go ", False)
    assert stops.push("O") == ("", False)
    assert stops.push("RM") == ("STORM", False)
    assert stops.push("S") == ("", False)
    assert stops.flush() == "S"  # generation ended otherwise: nothing is lost


def test_the_earliest_of_several_stop_strings_wins() -> None:
    assert feed(StopStrings(["bc", "abcd"]), ["xa", "bcd"]) == ("x", True)  # "abcd" starts first


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path) -> Tokenizer:
    return Tokenizer.from_checkpoint(open_checkpoint(str(smollm2_dir)))


def test_stop_strings_over_real_tokens(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("Answer: Paris is lovely. The end.")
    assert "".join(tokenizer.decode([i]) for i in ids) == "Answer: Paris is lovely. The end."
    stream = TextStream(tokenizer, tokenizer.encode("Q?"), stop=["ris is lov"])  # spans three tokens
    out, stopped = [], False
    for token in ids:
        text, stopped = stream.push(token)
        out.append(text)
        if stopped:
            break
    assert stopped and "".join(out) == "Answer: Pa"

    stream = TextStream(tokenizer, stop=["🎉 party"])
    out = [stream.push(t)[0] for t in tokenizer.encode("let's 🎉 go")]
    assert "".join(out) + stream.finish() == "let's 🎉 go"
