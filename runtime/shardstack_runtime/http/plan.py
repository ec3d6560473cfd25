"""A validated OpenAI request turned into engine requests, within this server's limits.

The schema has already checked each field on its own; what is checked here depends on the server
(``max_n``, ``max_tokens_limit``) or the engine (its tokenizer, its context length). The result is a
:class:`Plan`: one :class:`Choice` (one engine request) per prompt and ``n``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from ..generation import Engine, FinishReason, GenerationRequest, SamplingParams, tokens_outside
from ..metrics import Metrics, RequestTimer
from ..openai_responses import Usage
from ..openai_schema import INT64_MAX, INT64_MIN, ChatCompletionRequest, CompletionRequest
from ..server_settings import ServerSettings
from .errors import APIError
from .logprobs import ChoiceLogprobs


@dataclass(slots=True)
class Choice:
    """One engine request: one choice of the answer."""

    index: int
    request: GenerationRequest
    timer: RequestTimer
    text: list[str] = field(default_factory=list)
    tokens: int = 0
    engine_tokens: int = 0
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | None = None
    """The tokens' logprobs, when the request asked for them."""

    @property
    def completion_tokens(self) -> int:
        return self.engine_tokens or self.tokens


@dataclass(slots=True)
class Plan:
    """A validated request turned into engine requests."""

    request_id: str
    created: int
    prompt_lengths: list[int]
    choices: list[Choice]
    stream: bool
    include_usage: bool

    def usage(self) -> Usage:
        prompt = sum(self.prompt_lengths)
        completion = sum(c.completion_tokens for c in self.choices)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class Planner:
    """Checks a request against the server's limits, tokenizes its prompts and plans its engine requests."""

    def __init__(self, engine: Engine, settings: ServerSettings, metrics: Metrics) -> None:
        self.engine = engine
        self.settings = settings
        self.metrics = metrics

    # -- checks ---------------------------------------------------------------------------------

    def check_choices(self, n: int, prompts: int) -> None:
        limit = self.settings.max_n
        if n > limit:
            raise APIError(
                400, f"Invalid 'n': at most {limit} choices per request; got {n}.", param="n", code="invalid_value"
            )
        if n * prompts > limit:
            raise APIError(
                400,
                f"Invalid 'prompt': {prompts} prompts with n={n} ask for {n * prompts} choices; this server "
                f"allows at most {limit} per request. Send fewer prompts per request.",
                param="prompt",
                code="invalid_value",
            )

    def max_tokens(
        self, requested: int | None, explicit: bool, param: str, prompt_param: str, prompt_lengths: Sequence[int]
    ) -> int:
        """The completion budget: the requested one if it fits, else an error naming the field."""
        limit = self.settings.max_tokens_limit
        context = self.engine.max_model_len
        if requested is not None and explicit and requested > limit:
            raise APIError(
                400,
                f"Invalid '{param}': at most {limit} on this server; got {requested}.",
                param=param,
                code="invalid_value",
            )
        longest = max(prompt_lengths)
        if longest >= context:
            raise APIError(
                400,
                f"This model's maximum context length is {context} tokens, but the prompt has {longest} "
                f"tokens, which leaves no room for a completion. Shorten the {prompt_param}.",
                param=prompt_param,
                code="context_length_exceeded",
            )
        room = context - longest
        if requested is None or not explicit:
            return min(requested or limit, limit, room)
        if requested > room:
            raise APIError(
                400,
                f"This model's maximum context length is {context} tokens. However, you requested "
                f"{longest + requested} tokens ({longest} in the {prompt_param}, {requested} in the completion). "
                f"Reduce the length of the {prompt_param} or '{param}'.",
                param=param,
                code="context_length_exceeded",
            )
        return requested

    # -- tokenizing -----------------------------------------------------------------------------

    async def encode_prompts(self, prompt: str | list[str] | list[int] | list[list[int]]) -> list[list[int]]:
        # The schema made the prompt one of its four shapes, never a mix.
        if isinstance(prompt, str):
            texts = [prompt]
        else:
            texts = [p for p in prompt if isinstance(p, str)]
            if not texts:
                token_prompts = [list(p) for p in prompt if isinstance(p, list)]
                token_prompts = token_prompts or [[t for t in prompt if isinstance(t, int)]]
                # Refused at the door: inside a batch, an id the model can't embed would fail every request in it.
                for index, ids in enumerate(token_prompts):
                    if problem := tokens_outside(ids, self.engine.vocab_size):
                        where = f" (prompt {index})" if len(token_prompts) > 1 else ""
                        raise APIError(
                            400, f"Invalid 'prompt'{where}: {problem}.", param="prompt", code="invalid_value"
                        )
                return token_prompts
        encode = self.engine.tokenizer.encode
        ids = await run_in_threadpool(lambda: [encode(t, add_special_tokens=True) for t in texts])
        if any(not p for p in ids):
            raise APIError(
                400, "Invalid 'prompt': it encodes to no tokens; send some text.", param="prompt", code="invalid_value"
            )
        return ids

    async def encode_chat(self, body: ChatCompletionRequest) -> list[int]:
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
        tokenizer = self.engine.tokenizer

        def render() -> list[int]:
            try:
                text = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
            except Exception as exc:
                # Templates raise on what they can't render (say, roles that don't alternate): the caller's to fix.
                raise APIError(
                    400,
                    f"Invalid 'messages': the model's chat template rejected them: {exc}",
                    param="messages",
                    code="invalid_value",
                ) from exc
            # The template already wrote BOS and the role markers; encoding must not add them twice.
            return tokenizer.encode(text, add_special_tokens=False)

        ids = await run_in_threadpool(render)
        if not ids:
            raise APIError(400, "Invalid 'messages': they render to no tokens.", param="messages", code="invalid_value")
        return ids

    # -- building engine requests ---------------------------------------------------------------

    def plan(
        self,
        prefix: str,
        body: CompletionRequest | ChatCompletionRequest,
        prompts: list[list[int]],
        max_tokens: int,
        arrival: float,
    ) -> Plan:
        request_id = f"{prefix}-{uuid.uuid4().hex}"
        temperature = 1.0 if body.temperature is None else body.temperature
        top_p = 1.0 if body.top_p is None else body.top_p
        if top_p == 0.0:
            # The smallest nucleus holding probability 0 is the single likeliest token: greedy.
            temperature, top_p = 0.0, 1.0
        top_k = max(0, body.top_k or 0)
        stop = tuple(body.stop or ())
        top_logprobs = _top_logprobs(body)
        choices: list[Choice] = []
        for p, prompt in enumerate(prompts):
            for j in range(body.n):
                index = p * body.n + j
                seed = body.seed
                if seed is not None and j:
                    # Distinct choices under one seed, still reproducible; wraps inside int64.
                    seed = (seed + j - INT64_MIN) % (INT64_MAX - INT64_MIN + 1) + INT64_MIN
                params = SamplingParams(
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=top_p,
                    top_k=top_k,
                    seed=seed,
                    stop=stop,
                    stop_token_ids=tuple(body.stop_token_ids or ()),
                    ignore_eos=body.ignore_eos,
                    top_logprobs=top_logprobs or 0,
                )
                request = GenerationRequest(
                    request_id=f"{request_id}-{index}", prompt_token_ids=prompt, params=params, arrival_time=arrival
                )
                timer = self.metrics.start_request(arrival, len(prompt), max_tokens)
                logprobs = None if top_logprobs is None else ChoiceLogprobs(self.engine.tokenizer)
                choices.append(Choice(index=index, request=request, timer=timer, logprobs=logprobs))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return Plan(request_id, int(time.time()), [len(p) for p in prompts], choices, body.stream, include_usage)


def _top_logprobs(body: CompletionRequest | ChatCompletionRequest) -> int | None:
    """How many likeliest tokens to report beside each token's logprob; None when no logprobs are asked for."""
    if isinstance(body, CompletionRequest):
        return body.logprobs
    return (body.top_logprobs or 0) if body.logprobs else None
