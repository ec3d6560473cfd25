"""OpenAI request bodies for /v1/completions and /v1/chat/completions (the answers: :mod:`.openai_responses`).

Requests are strict about types (``"n": "2"`` or ``"stream": 1`` is an error, not a guess) and
ignore fields they don't know, as OpenAI's own API does with harmless extras such as ``user``.
Features this runtime doesn't have (tools, penalties, JSON mode, echo …) are refused with an
error naming the field instead of being silently dropped. Limits that depend on the server's
settings or the engine (``n``, ``max_tokens``, context length) are checked by the server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

MAX_STOP_SEQUENCES = 4
"""OpenAI's limit on ``stop``."""
MAX_STOP_TOKEN_IDS = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_REQUEST = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


_NOT_UNICODE = "invalid_unicode"


def _unicode_text(value: str) -> str:
    """Refuse a string holding a lone UTF-16 surrogate: JSON's ``\\ud800`` escapes can spell one, but it is no
    character, it has no UTF-8 bytes, and the tokenizer can't take it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PydanticCustomError(
            _NOT_UNICODE,
            "it holds a lone UTF-16 surrogate ({char} at character {index}), which is not Unicode text; send valid "
            "Unicode (a character beyond U+FFFF as both halves of its surrogate pair)",
            {"char": f"U+{ord(value[error.start]):04X}", "index": error.start},
        ) from None
    return value


Text = Annotated[str, AfterValidator(_unicode_text)]
"""Every string of a request: Unicode text that UTF-8 can carry."""


def _not_unicode(error: ValidationError) -> PydanticCustomError | None:
    """The lone-surrogate refusal among a union's errors: a union's own summary must not hide it."""
    for detail in error.errors():
        if detail["type"] == _NOT_UNICODE:
            return PydanticCustomError(_NOT_UNICODE, "{message}", {"message": detail["msg"]})
    return None


def _unsupported(field: str, why: str) -> PydanticCustomError:
    return PydanticCustomError(
        "unsupported", "{field} is not supported by this server: {why}", {"field": field, "why": why}
    )


def _kind(value: object) -> str:
    """The JSON type name of a parsed JSON value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


class StreamOptions(BaseModel):
    model_config = _REQUEST

    include_usage: bool = False
    """Send one more chunk before ``data: [DONE]`` with the request's ``usage`` and no choices."""


class _SharedRequestFields(BaseModel):
    """Fields that /v1/completions and /v1/chat/completions share."""

    model_config = _REQUEST

    model: Text | None = None
    """The served model name (GET /v1/models). Default: the one model this server serves."""
    n: int = Field(default=1, ge=1)
    """How many choices to generate for each prompt."""
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """0 is greedy. Default: 1."""
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=-1)
    """vLLM's extension: keep the k likeliest tokens; 0 or -1 turns the cut off."""
    seed: int | None = Field(default=None, ge=INT64_MIN, le=INT64_MAX)
    stop: Text | list[Text] | None = None
    """Up to 4 sequences that end generation; the returned text never contains them."""
    stop_token_ids: list[int] | None = Field(default=None, max_length=MAX_STOP_TOKEN_IDS)
    """vLLM's extension: token ids that end generation besides the model's EOS."""
    ignore_eos: bool = False
    """vLLM's extension: keep generating past EOS until ``max_tokens`` (benchmarks)."""
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[Text, float] | None = None
    user: Text | None = None
    """Accepted and ignored."""

    @field_validator("stream_options")
    @classmethod
    def _stream_options_need_stream(cls, value: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
        if value is not None and not info.data.get("stream", False):
            raise PydanticCustomError(
                "invalid_value", "stream_options is only allowed when stream is true; set stream to true or drop it"
            )
        return value

    @field_validator("stop", mode="wrap")
    @classmethod
    def _check_stop(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[str]:
        try:
            stop = handler(value)
        except ValidationError as error:
            if not_unicode := _not_unicode(error):
                raise not_unicode from None
            raise PydanticCustomError(
                "invalid_type", "stop must be a string or an array of strings; got {kind}", {"kind": _kind(value)}
            ) from None
        stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
        if len(stops) > MAX_STOP_SEQUENCES:
            raise PydanticCustomError(
                "invalid_value",
                "stop takes at most {limit} sequences; got {count}",
                {"limit": MAX_STOP_SEQUENCES, "count": len(stops)},
            )
        if any(not s for s in stops):
            raise PydanticCustomError("invalid_value", "stop sequences must not be empty strings")
        return stops

    @field_validator("stop_token_ids")
    @classmethod
    def _check_stop_token_ids(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(t < 0 for t in value):
            raise PydanticCustomError("invalid_value", "stop_token_ids must be non-negative token ids")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalties(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value:
            raise _unsupported(str(info.field_name), "leave it out or set it to 0")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _no_logit_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value:
            raise _unsupported("logit_bias", "leave it out")
        return value


def _check_prompt_value(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        prompt = handler(value)
    except ValidationError as error:
        if not_unicode := _not_unicode(error):
            raise not_unicode from None
        raise PydanticCustomError(
            "invalid_type",
            "prompt must be a string, an array of strings, an array of token ids or an array of arrays of "
            "token ids; got {kind}",
            {"kind": _kind(value)},
        ) from None
    if isinstance(prompt, list):
        if not prompt:
            raise PydanticCustomError("invalid_value", "prompt must not be an empty array")
        for item in prompt:
            if isinstance(item, list) and not item:
                raise PydanticCustomError("invalid_value", "prompt must not contain an empty array of token ids")
            ids = item if isinstance(item, list) else [item] if isinstance(item, int) else []
            if any(t < 0 for t in ids):
                raise PydanticCustomError("invalid_value", "prompt token ids must be non-negative")
    return prompt


class CompletionRequest(_SharedRequestFields):
    """POST /v1/completions."""

    prompt: Text | list[Text] | list[int] | list[list[int]]
    """Text, token ids, or a batch of either (each gets ``n`` choices, indexed prompt by prompt)."""
    max_tokens: int | None = Field(default=16, ge=1)
    """Default 16, as OpenAI's; null means as many as the context has room for."""
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=5)
    """Each token's logprob, with this many likeliest tokens at each step (OpenAI's limit: 5)."""
    suffix: Text | None = None
    best_of: int | None = Field(default=None, ge=1)

    _prompt = field_validator("prompt", mode="wrap")(_check_prompt_value)

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool) -> bool:
        if value:
            raise _unsupported("echo", "set it to false and prepend the prompt yourself")
        return value

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        if value:
            raise _unsupported("suffix", "leave it out")
        return value

    @field_validator("best_of")
    @classmethod
    def _best_of_is_n(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value != info.data.get("n", 1):
            raise _unsupported("best_of other than n", "leave best_of out or set it equal to n")
        return value


class TextContentPart(BaseModel):
    model_config = _REQUEST

    type: Literal["text"]
    text: Text


def _check_content_value(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as error:
        if not_unicode := _not_unicode(error):
            raise not_unicode from None
    if isinstance(value, list):
        for i, part in enumerate(value):
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind != "text":
                raise _unsupported(f"content part type {kind!r} (part {i})", "only text parts can be sent") from None
            if kind != "text" or not isinstance(part.get("text"), str):
                raise PydanticCustomError(
                    "invalid_type",
                    'content part {index} must be {{"type": "text", "text": "<string>"}}',
                    {"index": i},
                ) from None
    raise PydanticCustomError(
        "invalid_type", "content must be a string or an array of text parts; got {kind}", {"kind": _kind(value)}
    ) from None


class ChatMessage(BaseModel):
    model_config = _REQUEST

    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[TextContentPart]
    name: Text | None = None
    """Accepted and ignored (chat templates have no place for it)."""
    tool_calls: list[Any] | None = None

    _content = field_validator("content", mode="wrap")(_check_content_value)

    @field_validator("tool_calls")
    @classmethod
    def _no_tool_calls(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise _unsupported("tool_calls", "this server has no tool calling")
        return value

    def text(self) -> str:
        """The message's text, with content parts joined as OpenAI joins them."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class ResponseFormat(BaseModel):
    model_config = _REQUEST

    type: Literal["text", "json_object", "json_schema"]


class ChatCompletionRequest(_SharedRequestFields):
    """POST /v1/chat/completions."""

    messages: list[ChatMessage]
    max_tokens: int | None = Field(default=None, ge=1)
    """Default: as many as the context has room for (up to the server's limit)."""
    max_completion_tokens: int | None = Field(default=None, ge=1)
    """OpenAI's newer name for ``max_tokens``; wins when both are given."""
    logprobs: bool | None = None
    """Each token's logprob in the choice's ``logprobs.content``."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """With ``logprobs``: this many likeliest tokens at each step (default 0)."""
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    metadata: dict[Text, Text] | None = None
    store: bool | None = None
    service_tier: Text | None = None

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if not value:
            raise PydanticCustomError("invalid_value", "messages must contain at least one message")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs_need_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise PydanticCustomError(
                "invalid_value", "top_logprobs is only allowed when logprobs is true; set logprobs to true or drop it"
            )
        return value

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if value:
            raise _unsupported(str(info.field_name), "this server has no tool calling")
        return value

    @field_validator("tool_choice", "function_call")
    @classmethod
    def _no_tool_choice(cls, value: Any, info: ValidationInfo) -> Any:
        if value not in (None, "none", "auto"):
            raise _unsupported(f"{info.field_name} {value!r}", "this server has no tool calling")
        return value

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, value: ResponseFormat | None) -> ResponseFormat | None:
        if value is not None and value.type != "text":
            raise _unsupported(f"response_format {value.type!r}", "only text responses")
        return value
