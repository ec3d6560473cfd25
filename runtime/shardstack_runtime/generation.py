"""What a generation request asks for and what comes back, between the HTTP server and the engine.

The server turns an OpenAI request into a :class:`GenerationRequest`; the engine streams
:class:`GenerationEvent` objects back, one per generated token, the last one carrying a
``finish_reason``. The server never touches tensors; the engine never touches HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "abort"]


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens and when to stop; defaults follow the OpenAI API."""

    max_tokens: int = 16
    temperature: float = 1.0
    """0 means greedy."""
    top_p: float = 1.0
    top_k: int = 0
    """0 means no top-k cut."""
    seed: int | None = None
    """Same seed, same prompt, same params → same tokens, whatever else is in the batch."""
    stop: tuple[str, ...] = ()
    """Stop sequences: generation ends before the first occurrence; the text never contains it."""
    stop_token_ids: tuple[int, ...] = ()
    """Extra token ids that end generation (the model's EOS ids always do unless ignore_eos)."""
    ignore_eos: bool = False
    top_logprobs: int = 0
    """Report this many of the likeliest tokens at each step, with their logprobs (0: none). Every
    generated token's own logprob is reported anyway: it costs nothing, the likeliest ones a top-k."""


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt_token_ids: Sequence[int]
    params: SamplingParams
    arrival_time: float
    """time.monotonic() when the server received the request (queue time starts here)."""


@dataclass(frozen=True)
class GenerationEvent:
    """One step of one request: the new token and the text it completes, or the end."""

    request_id: str
    token_id: int | None
    text: str
    """Newly final text since the previous event (may be empty while a stop sequence or a
    multi-byte character is still undecided)."""
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_scheduled_time: float | None = None
    """time.monotonic() when the engine started the request's prefill (queue time ends here)."""
    logprob: float | None = None
    """The token's logprob under the model's raw distribution (before temperature, top-k and top-p)."""
    top_logprobs: tuple[tuple[int, float], ...] = ()
    """The ``top_logprobs`` likeliest tokens at this step, ``(token id, logprob)``, likeliest first."""


class EngineUnavailableError(RuntimeError):
    """The engine cannot take or finish requests right now (queue full, stopped, a rank lost).

    The server answers 503 so that clients and load balancers retry elsewhere or later.
    """


@dataclass
class StageStats:
    """One stage (rank) of a pipelined engine, as the leader accounts for it since it became ready."""

    rank: int
    layers: str
    """The layer range it runs, e.g. "0-15" (end exclusive)."""
    compute_seconds: float = 0.0
    """Running its layers (and, on the last rank, sampling)."""
    transfer_seconds: float = 0.0
    """Receiving its inputs, from the moment the sender started sending: the point-to-point latency."""
    received_bytes: int = 0
    """Bytes of activations and metadata it received from the previous rank (rank 0: results from the last)."""
    received_messages: int = 0
    load_bytes: int = 0
    load_seconds: float = 0.0


@dataclass
class EngineStats:
    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0
    """Share of the KV cache the running sequences hold, 0 to 1. In a pipeline every stage caches the same
    positions of the same sequences for its own layers, so the leader's count is every stage's."""
    extra: dict[str, float] = field(default_factory=dict)
    stages: list[StageStats] = field(default_factory=list)
    """One per rank of a pipeline; empty for a single-rank engine."""
    busy_seconds: float = 0.0
    """Wall time with at least one micro-batch in the pipeline (the denominator of the bubble fraction)."""

    @property
    def bubble_fraction(self) -> float | None:
        """Share of the stages' time idle while the pipeline had work: 1 - sum(compute) / (stages x busy)."""
        if not self.stages or self.busy_seconds <= 0:
            return None
        computing = sum(stage.compute_seconds for stage in self.stages)
        return max(0.0, 1.0 - computing / (len(self.stages) * self.busy_seconds))


class ChatTokenizer(Protocol):
    """What the server needs from the tokenizer."""

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]: ...

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for (a piece of a UTF-8 character, possibly), as logprobs show it."""
        ...

    def apply_chat_template(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """Render chat messages with the model's own chat template (tokenizer_config.json)."""
        ...


def tokens_outside(ids: Sequence[int], vocab_size: int) -> str | None:
    """Why a model of ``vocab_size`` tokens can't read these ids (the first one outside its vocabulary), or None.

    No ids is not this rule's to judge (an empty prompt has its own refusal)."""
    if not ids or (min(ids) >= 0 and max(ids) < vocab_size):
        return None
    position, token = next((i, t) for i, t in enumerate(ids) if not 0 <= t < vocab_size)
    return f"token id {token} at position {position} is outside the model's vocabulary (0 to {vocab_size - 1})"


class Engine(Protocol):
    """The serving engine as the HTTP layer sees it; tests inject a fake one."""

    model_name: str
    max_model_len: int
    tokenizer: ChatTokenizer

    @property
    def vocab_size(self) -> int:
        """Token ids the model reads: 0 to ``vocab_size - 1``."""
        ...

    @property
    def ready(self) -> bool:
        """Weights loaded, verified and a warm-up forward pass done."""
        ...

    def stats(self) -> EngineStats: ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Queue the request and yield its events as the running batch produces them.

        Cancelling the iteration (client gone) aborts the request and frees its batch slot.
        """
        ...
