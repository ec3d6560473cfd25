"""Pick the next token of every row of a batch, each row with its own parameters and random stream.

Usage::

    rows = [RowSampler(params) for params in requests]        # one per request, kept across steps
    draws = [row.draw() for row in rows]                      # this step's parameters and random number
    tokens, logprobs, *_ = sample(logits, draws)              # logits: [B, vocab]
    sampled = sample(logits, draws, top_logprobs=5)           # also each row's 5 likeliest tokens

In a pipeline the leader keeps the :class:`RowSampler` s and the last rank holds the logits: the leader
sends :func:`encode_draws` (four numbers a row) beside the activations and the last rank calls
:func:`sample_encoded`, so only token ids and their logprobs travel back (and the likeliest tokens with
theirs, for a pass where some request asked for them: :func:`decode_sampled` reads them).

Temperature 0 (or top-k 1) is greedy. Otherwise logits are divided by the temperature, cut to the
top-k and then to the smallest set whose probability reaches top-p, and one token is drawn by
inverse-CDF sampling with a single uniform number from the row's own ``torch.Generator``. That
generator is seeded from the request's ``seed``, so a request draws the same numbers whatever else
shares its batch. Logprobs are those of the model's raw distribution (before temperature and cuts), as
vLLM reports them by default: a token's logprob does not depend on how it was sampled, and the likeliest
tokens are the model's, which the sampled one need not be among.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch

from .generation import SamplingParams


class _Row(Protocol):
    # Read-only properties, so that the frozen Draw qualifies as well as the mutable RowSampler.
    @property
    def greedy(self) -> bool: ...
    @property
    def temperature(self) -> float: ...
    @property
    def top_k(self) -> int: ...
    @property
    def top_p(self) -> float: ...

    def uniform(self) -> float: ...


@dataclass(frozen=True)
class Draw:
    """One row's sampling for one step: its parameters and the random number it uses (0 when greedy)."""

    greedy: bool
    temperature: float
    top_k: int
    top_p: float
    number: float

    def uniform(self) -> float:
        return self.number


class RowSampler:
    """The sampling state of one request: its parameters and its random number generator."""

    __slots__ = ("generator", "greedy", "temperature", "top_k", "top_p")

    def __init__(self, params: SamplingParams) -> None:
        self.greedy = params.temperature <= 0.0 or params.top_k == 1
        self.temperature = params.temperature
        self.top_k = params.top_k
        self.top_p = params.top_p
        self.generator: torch.Generator | None = None
        if not self.greedy:
            seed = params.seed if params.seed is not None else secrets.randbits(63)
            self.generator = torch.Generator().manual_seed(seed)

    def uniform(self) -> float:
        """The next number of this request's random stream, in [0, 1)."""
        assert self.generator is not None
        return float(torch.rand((), generator=self.generator))

    def draw(self) -> Draw:
        """This step's draw: takes the next random number of the stream unless greedy."""
        return Draw(self.greedy, self.temperature, self.top_k, self.top_p, 0.0 if self.greedy else self.uniform())


DRAW_FIELDS = 4
"""Numbers per row in :func:`encode_draws`: temperature (0 greedy, NaN: no sample), top-k, top-p, uniform."""


def encode_draws(draws: list[Draw | None]) -> torch.Tensor:
    """``[B, 4]`` float64, one row per batch row; a None row (a prompt chunk mid-prefill) is not sampled."""
    out = torch.full((len(draws), DRAW_FIELDS), math.nan, dtype=torch.float64)
    for i, d in enumerate(draws):
        if d is not None:
            out[i] = torch.tensor([0.0 if d.greedy else d.temperature, d.top_k, d.top_p, d.number], dtype=torch.float64)
    return out


TopLogprobs = list[tuple[int, float]]
"""One row's likeliest tokens at one step: ``(token id, logprob)``, likeliest first."""


class Sampled(NamedTuple):
    """What :func:`sample` chose for each row, and each row's likeliest tokens when asked for."""

    tokens: list[int]
    logprobs: list[float]
    top_ids: torch.Tensor
    """``[B, k]`` int64, likeliest first; ``k`` is 0 unless ``top_logprobs`` was asked for."""
    top_logprobs: torch.Tensor
    """``[B, k]`` float32: the logprobs of ``top_ids``."""

    def top(self) -> list[TopLogprobs]:
        """Each row's likeliest tokens as ``(token id, logprob)`` pairs."""
        return _pairs(self.top_ids.tolist(), self.top_logprobs.tolist())


def sample_encoded(logits: torch.Tensor, encoded: torch.Tensor, top_logprobs: int = 0) -> torch.Tensor:
    """Sample the rows that :func:`encode_draws` asked for; ``[2 + 2k, B]`` float64 (:func:`decode_sampled`).

    Row 0 holds the token ids, row 1 their logprobs, then ``k = top_logprobs`` rows of the likeliest ids and
    ``k`` of their logprobs. Rows that were not to be sampled get token -1 and logprob 0; missing likeliest
    tokens (a vocabulary smaller than ``k``) id -1. Token ids are exact in float64.
    """
    values = encoded.tolist()
    rows = [i for i, v in enumerate(values) if not math.isnan(v[0])]
    k = top_logprobs
    out = torch.zeros((2 + 2 * k, len(values)), dtype=torch.float64)
    out[0] = -1
    out[2 : 2 + k] = -1
    if rows:
        draws = [Draw(values[i][0] == 0.0, values[i][0], int(values[i][1]), values[i][2], values[i][3]) for i in rows]
        sampled = sample(logits[rows] if len(rows) < len(values) else logits, draws, k)
        index = torch.tensor(rows, dtype=torch.int64)
        out[0, index] = torch.tensor(sampled.tokens, dtype=torch.float64)
        out[1, index] = torch.tensor(sampled.logprobs, dtype=torch.float64)
        found = sampled.top_ids.shape[1]
        out[2 : 2 + found, index] = sampled.top_ids.T.to(torch.float64)
        out[2 + k : 2 + k + found, index] = sampled.top_logprobs.T.to(torch.float64)
    return out


def decode_sampled(encoded: torch.Tensor, top_logprobs: int) -> tuple[list[int], list[float], list[TopLogprobs]]:
    """Read what :func:`sample_encoded` wrote: each row's token, its logprob and its likeliest tokens."""
    tokens = [int(t) for t in encoded[0].tolist()]
    logprobs = encoded[1].tolist()
    k = top_logprobs
    if not k:
        return tokens, logprobs, [[] for _ in tokens]
    top = _pairs(encoded[2 : 2 + k].T.to(torch.int64).tolist(), encoded[2 + k : 2 + 2 * k].T.tolist())
    return tokens, logprobs, [[(t, lp) for t, lp in row if t >= 0] for row in top]


def _pairs(ids: list[list[int]], logprobs: list[list[float]]) -> list[TopLogprobs]:
    return [list(zip(i, lp, strict=True)) for i, lp in zip(ids, logprobs, strict=True)]


def sample(logits: torch.Tensor, rows: Sequence[_Row], top_logprobs: int = 0) -> Sampled:
    """Return the chosen token id and its logprob for each row of ``logits`` ([B, vocab]).

    With ``top_logprobs`` also each row's that many likeliest tokens, from the same distribution; without,
    no top-k is computed.
    """
    logits = logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    tokens = torch.argmax(logits, dim=-1)
    sampled = [i for i, row in enumerate(rows) if not row.greedy]
    if sampled:
        index = torch.tensor(sampled, dtype=torch.int64, device=logits.device)
        params = [rows[i] for i in sampled]
        tokens[index] = _draw(logits.index_select(0, index), params)
    chosen = logprobs.gather(1, tokens[:, None])[:, 0]
    if top_logprobs:
        top = torch.topk(logprobs, min(top_logprobs, logprobs.shape[-1]), dim=-1)
        top_ids, top_values = top.indices.cpu(), top.values.cpu()
    else:
        top_ids = torch.empty((len(rows), 0), dtype=torch.int64)
        top_values = torch.empty((len(rows), 0), dtype=torch.float32)
    return Sampled(tokens.tolist(), chosen.tolist(), top_ids, top_values)


def _draw(logits: torch.Tensor, rows: Sequence[_Row]) -> torch.Tensor:
    """Temperature, top-k, top-p, then one inverse-CDF draw per row."""
    device = logits.device
    vocab = logits.shape[-1]
    temperature = torch.tensor([r.temperature for r in rows], dtype=torch.float32, device=device)
    logits = logits / temperature[:, None]

    top_k = [r.top_k if 0 < r.top_k < vocab else 0 for r in rows]
    if any(top_k):
        k_max = max(top_k)
        kth = torch.topk(logits, k_max, dim=-1).values  # [B, k_max], descending
        index = torch.tensor([max(k, 1) - 1 if k else k_max - 1 for k in top_k], device=device)
        threshold = kth.gather(1, index[:, None])
        threshold[torch.tensor([k == 0 for k in top_k], device=device)] = float("-inf")
        logits = logits.masked_fill(logits < threshold, float("-inf"))

    probs = torch.softmax(logits, dim=-1)
    if any(r.top_p < 1.0 for r in rows):
        top_p = torch.tensor([r.top_p for r in rows], dtype=torch.float32, device=device)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs
        # Keep the smallest prefix whose mass reaches top_p: drop a token once the mass before it does.
        # The most likely token always stays.
        drop = before >= top_p[:, None]
        drop[:, 0] = False
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(1, order, sorted_probs)

    cdf = probs.cumsum(dim=-1)
    uniform = torch.tensor([r.uniform() for r in rows], dtype=torch.float32, device=device)
    target = uniform[:, None] * cdf[:, -1:]
    # side="right": the first token whose cumulative mass exceeds the target, never a zero-probability one.
    return torch.searchsorted(cdf, target, right=True)[:, 0].clamp_(max=vocab - 1)
