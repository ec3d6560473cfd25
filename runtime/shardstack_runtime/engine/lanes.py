"""What the engine's scheduler keeps track of: sequences, the lanes of KV-cache slots they run in, passes.

An :class:`EngineSequence` is one request inside the engine; a :class:`Lane` is a range of cache slots
whose sequences go through the model together; a :class:`MicroBatch` is one forward pass of one lane.
The scheduler (:mod:`.scheduler`) moves sequences between these; nothing here runs the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..detokenizer import TextStream
from ..generation import GenerationEvent, GenerationRequest, SamplingParams
from ..sampling import Draw, RowSampler, TopLogprobs
from ..tokenizer import Tokenizer
from .batch import Batch, SlotMove


@dataclass(eq=False)
class Lane:
    """A range of KV-cache slots whose sequences go through the model together, one pass at a time."""

    slots: range
    running: list[EngineSequence] = field(default_factory=list)
    """``running[i]`` holds slot ``slots.start + i``: the lane's sequences fill its lowest slots."""
    moves: list[SlotMove] = field(default_factory=list)
    """Compactions since the lane's last pass, applied (on every rank) before its next one."""
    busy: bool = False
    """A pass of this lane is in flight; its sequences must not move until it is back."""
    decode_next: bool = False


@dataclass(eq=False)
class MicroBatch:
    """One forward pass of one lane: its rows, inputs and draws, then the tokens sampled for it."""

    lane: Lane | None
    """None for the warm-up passes."""
    rows: list[EngineSequence]
    ids: torch.Tensor
    batch: Batch
    draws: list[Draw | None]
    """One per row; None for a prompt chunk that does not end its prompt (nothing to sample)."""
    tokens: list[int] = field(init=False)
    logprobs: list[float] = field(init=False)
    top: list[TopLogprobs] = field(init=False)
    """Each row's likeliest tokens, ``top_logprobs`` of them (none when 0)."""
    top_logprobs: int = field(init=False)
    """How many likeliest tokens the pass reports per row: the most any of its sampled rows asked for (0, and
    no top-k, when none did)."""
    handle: object = None
    """What the executor needs to collect the result (a pipeline's pending receive, say)."""

    def __post_init__(self) -> None:
        self.tokens = [-1] * len(self.draws)
        self.logprobs = [0.0] * len(self.draws)
        self.top = [[] for _ in self.draws]
        # Not strict: the warm-up passes sample rows that belong to no sequence (and ask for nothing).
        drawn = zip(self.rows, self.draws, strict=False)
        asked = (seq.params.top_logprobs for seq, draw in drawn if draw is not None)
        self.top_logprobs = max(asked, default=0)


@dataclass(eq=False)
class EngineSequence:
    """One request inside the engine."""

    request: GenerationRequest
    deliver: Callable[[GenerationEvent], None]
    tokenizer: Tokenizer
    prompt: list[int] = field(init=False)
    params: SamplingParams = field(init=False)
    sampler: RowSampler = field(init=False)
    text: TextStream = field(init=False)
    lane: Lane | None = None
    slot: int | None = None
    num_cached: int = 0
    generated: int = 0
    next_token: int = 0
    first_scheduled_time: float | None = None
    finished: bool = False
    cancelled: bool = False
    """Set by the client's side when it stops listening; the engine drops the sequence at the next step."""

    def __post_init__(self) -> None:
        self.prompt = list(self.request.prompt_token_ids)
        self.params = self.request.params
        self.sampler = RowSampler(self.params)
        self.text = TextStream(self.tokenizer, self.prompt, self.params.stop)

    @property
    def held_slot(self) -> int:
        assert self.slot is not None, "the sequence holds no slot"
        return self.slot

    @property
    def prefilled(self) -> bool:
        return self.num_cached >= len(self.prompt)

    def emit(self, event: GenerationEvent) -> None:
        if self.cancelled:
            return
        try:
            self.deliver(event)
        except RuntimeError:  # the client's event loop is closed: nobody is listening any more
            self.cancelled = True
