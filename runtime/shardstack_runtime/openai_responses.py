"""OpenAI response bodies: completions, chat completions and their streamed chunks, models, errors.

Responses are strict the other way round from requests: ``extra="forbid"``, so that a field this server
does not fill in cannot slip into an answer. The requests they answer: :mod:`.openai_schema`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_serializer

_RESPONSE = ConfigDict(extra="forbid")

FinishReason = Literal["stop", "length"]


class Usage(BaseModel):
    model_config = _RESPONSE

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionLogprobs(BaseModel):
    """The legacy completions' logprobs of a choice's tokens (in a stream: of the chunk's tokens)."""

    model_config = _RESPONSE

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    """At each step the likeliest tokens asked for, and always the chosen one."""
    text_offset: list[int]
    """Where each token starts in the choice's text, in characters (counted on across a stream's chunks)."""


class CompletionChoice(BaseModel):
    model_config = _RESPONSE

    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: FinishReason | None


class CompletionResponse(BaseModel):
    """A /v1/completions answer; also each streamed chunk (``usage`` then is null but in the last)."""

    model_config = _RESPONSE

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class AssistantMessage(BaseModel):
    model_config = _RESPONSE

    role: Literal["assistant"] = "assistant"
    content: str


class TopLogprob(BaseModel):
    model_config = _RESPONSE

    token: str
    logprob: float
    bytes: list[int]
    """The token's UTF-8 bytes: a character split over several tokens is whole only in their bytes."""


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]
    """The likeliest tokens at this step, likeliest first; the chosen one need not be among them."""


class ChatLogprobs(BaseModel):
    """A chat choice's logprobs (in a stream: those of the chunk's tokens)."""

    model_config = _RESPONSE

    content: list[TokenLogprob]
    refusal: None = None
    """OpenAI's logprobs of a refusal message; this server never writes one."""


class ChatChoice(BaseModel):
    model_config = _RESPONSE

    index: int
    message: AssistantMessage
    logprobs: ChatLogprobs | None = None
    finish_reason: FinishReason


class ChatCompletionResponse(BaseModel):
    model_config = _RESPONSE

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None


class ChatDelta(BaseModel):
    """What a streamed chunk adds to a choice's message; fields left out are not sent."""

    model_config = _RESPONSE

    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class ChatChunkChoice(BaseModel):
    model_config = _RESPONSE

    index: int
    delta: ChatDelta
    logprobs: ChatLogprobs | None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    model_config = _RESPONSE

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    model_config = _RESPONSE

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "shardstack"
    max_model_len: int
    """vLLM's extension: the context length, prompt and completion together."""


class ModelList(BaseModel):
    model_config = _RESPONSE

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    model_config = _RESPONSE

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every non-2xx answer of the API, in OpenAI's shape."""

    model_config = _RESPONSE

    error: ErrorDetail
