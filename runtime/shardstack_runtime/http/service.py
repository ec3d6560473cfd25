"""The OpenAI routes' logic over one engine: run a request's plan and answer it, whole or streamed.

The routes in :mod:`.app` stay thin; here a request is checked against the model and its readiness,
planned (:mod:`.plan`), generated through the engine (:mod:`.streaming`), and rendered as a completion
or a chat completion, either in one JSON body or as server-sent events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ..generation import Engine, FinishReason, GenerationEvent
from ..metrics import Metrics
from ..openai_responses import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatDelta,
    CompletionChoice,
    CompletionResponse,
    ModelCard,
    ModelList,
    Usage,
)
from ..openai_responses import FinishReason as ResponseFinishReason
from ..openai_schema import ChatCompletionRequest, CompletionRequest
from ..server_settings import ServerSettings
from .drain import RETRY_AFTER_S
from .errors import APIError, error_body
from .plan import Choice, Plan, Planner
from .streaming import EventStream, GenerationFailed, close_shielded, merge_events, unless_disconnected

logger = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request whose client left before the answer; only metrics ever see it."""


class Service:
    """The OpenAI routes' logic over one engine."""

    def __init__(self, engine: Engine, settings: ServerSettings, metrics: Metrics, model_name: str) -> None:
        self.engine = engine
        self.model_name = model_name
        self.created = int(time.time())
        self.planner = Planner(engine, settings, metrics)

    # -- checks ---------------------------------------------------------------------------------

    def check_ready(self) -> None:
        if not self.engine.ready:
            raise APIError(
                503,
                "The model is not ready yet: its weights are loading or warming up. Retry shortly.",
                type="server_error",
                code="model_not_ready",
                headers={"Retry-After": "5"},
            )

    def check_model(self, name: str | None) -> None:
        if name is not None and name != self.model_name:
            raise APIError(
                404,
                f"The model `{name}` does not exist. This server serves `{self.model_name}`.",
                param="model",
                code="model_not_found",
            )

    # -- routes ---------------------------------------------------------------------------------

    def model_card(self) -> ModelCard:
        return ModelCard(id=self.model_name, created=self.created, max_model_len=self.engine.max_model_len)

    def model_list(self) -> ModelList:
        return ModelList(data=[self.model_card()])

    async def completions(self, body: CompletionRequest, request: Request) -> Response:
        arrival = time.monotonic()
        self.check_model(body.model)
        self.check_ready()
        n_prompts = 1 if isinstance(body.prompt, str) or isinstance(body.prompt[0], int) else len(body.prompt)
        self.planner.check_choices(body.n, n_prompts)
        prompts = await self.planner.encode_prompts(body.prompt)
        max_tokens = self.planner.max_tokens(
            body.max_tokens, "max_tokens" in body.model_fields_set, "max_tokens", "prompt", [len(p) for p in prompts]
        )
        plan = self.planner.plan("cmpl", body, prompts, max_tokens, arrival)
        headers = {"X-Request-Id": plan.request_id}
        if plan.stream:
            return EventStream(self._stream_completion(plan), headers=headers)
        await self._run_until_disconnected(request, plan)
        return json_response(
            CompletionResponse(
                id=plan.request_id,
                created=plan.created,
                model=self.model_name,
                usage=plan.usage(),
                choices=[
                    CompletionChoice(
                        index=c.index,
                        text="".join(c.text),
                        logprobs=c.logprobs.completion() if c.logprobs else None,
                        finish_reason=_reported(c.finish_reason),
                    )
                    for c in plan.choices
                ],
            ),
            headers,
        )

    async def chat_completions(self, body: ChatCompletionRequest, request: Request) -> Response:
        arrival = time.monotonic()
        self.check_model(body.model)
        self.check_ready()
        self.planner.check_choices(body.n, 1)
        prompt = await self.planner.encode_chat(body)
        if body.max_completion_tokens is not None:
            requested, param = body.max_completion_tokens, "max_completion_tokens"
        else:
            requested, param = body.max_tokens, "max_tokens"
        max_tokens = self.planner.max_tokens(requested, requested is not None, param, "messages", [len(prompt)])
        plan = self.planner.plan("chatcmpl", body, [prompt], max_tokens, arrival)
        headers = {"X-Request-Id": plan.request_id}
        if plan.stream:
            return EventStream(self._stream_chat(plan), headers=headers)
        await self._run_until_disconnected(request, plan)
        return json_response(
            ChatCompletionResponse(
                id=plan.request_id,
                created=plan.created,
                model=self.model_name,
                usage=plan.usage(),
                choices=[
                    ChatChoice(
                        index=c.index,
                        message=AssistantMessage(content="".join(c.text)),
                        logprobs=c.logprobs.chat() if c.logprobs else None,
                        finish_reason=_reported(c.finish_reason) or "stop",
                    )
                    for c in plan.choices
                ],
            ),
            headers,
        )

    # -- generation -----------------------------------------------------------------------------

    async def _generate(self, plan: Plan) -> AsyncIterator[tuple[Choice, GenerationEvent]]:
        """Every choice's events as they come, with metrics accounted; raises GenerationFailed."""
        events = merge_events(self.engine, [c.request for c in plan.choices])
        try:
            async for index, event, now in events:
                choice = plan.choices[index]
                choice.timer.on_event(event, now)
                if event.token_id is not None:
                    choice.tokens += 1
                if choice.logprobs is not None:
                    choice.logprobs.add(event)
                if event.completion_tokens:
                    choice.engine_tokens = event.completion_tokens
                if event.finish_reason is not None:
                    choice.finish_reason = event.finish_reason
                    choice.timer.finish(event.finish_reason, now)
                    if event.finish_reason == "abort":
                        if getattr(self.engine, "error", None) is not None:  # e.g. a rank of the pipeline died
                            raise GenerationFailed(
                                "The engine stopped while serving this request (the server log "
                                "says why); this replica will restart. Retry.",
                                503,
                            )
                        raise GenerationFailed(
                            "The engine aborted the request (it may be shutting down). Retry.", 503, RETRY_AFTER_S
                        )
                yield choice, event
            if any(c.finish_reason is None for c in plan.choices):
                raise GenerationFailed("The engine ended a request without a finish reason.")
        finally:
            await close_shielded(events)
            now = time.monotonic()
            for choice in plan.choices:
                choice.timer.finish("abort", now)  # no-op for choices that finished

    async def _run_until_disconnected(self, request: Request, plan: Plan) -> None:
        """Generate every choice's full text; stop (and abort the engine requests) if the client leaves."""

        async def collect() -> None:
            generation = self._generate(plan)
            try:
                async for choice, event in generation:
                    if event.text:
                        choice.text.append(event.text)
            finally:
                await close_shielded(generation)

        try:
            finished = await unless_disconnected(request, collect)
        except GenerationFailed as exc:
            logger.error("request %s failed: %s", plan.request_id, exc.message)
            retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
            raise APIError(
                exc.status_code, exc.message, type="server_error", code="engine_error", headers=retry
            ) from exc
        if not finished:
            raise APIError(
                CLIENT_CLOSED_REQUEST,
                "The client closed the connection before the answer.",
                code="client_closed_request",
            )

    def _stream_completion(self, plan: Plan) -> AsyncIterator[str]:
        def chunk(choices: list[Any], usage: Usage | None = None) -> str:
            data = CompletionResponse(
                id=plan.request_id, created=plan.created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {data.model_dump_json()}\n\n"

        def choice_of(choice: Choice, event: GenerationEvent) -> CompletionChoice:
            return CompletionChoice(
                index=choice.index,
                text=event.text,
                logprobs=choice.logprobs.completion() if choice.logprobs else None,
                finish_reason=_reported(event.finish_reason),
            )

        return self._stream(plan, chunk, [], choice_of)

    def _stream_chat(self, plan: Plan) -> AsyncIterator[str]:
        def chunk(choices: list[Any], usage: Usage | None = None) -> str:
            data = ChatCompletionChunk(
                id=plan.request_id, created=plan.created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {data.model_dump_json()}\n\n"

        def choice_of(choice: Choice, event: GenerationEvent) -> ChatChunkChoice:
            delta = ChatDelta(content=event.text) if event.text else ChatDelta()
            return ChatChunkChoice(
                index=choice.index,
                delta=delta,
                logprobs=choice.logprobs.chat() if choice.logprobs else None,
                finish_reason=_reported(event.finish_reason),
            )

        opening = [ChatChunkChoice(index=c.index, delta=ChatDelta(role="assistant", content="")) for c in plan.choices]
        return self._stream(plan, chunk, opening, choice_of)

    async def _stream(
        self,
        plan: Plan,
        chunk: Callable[..., str],
        opening: list[Any],
        choice_of: Callable[[Choice, GenerationEvent], Any],
    ) -> AsyncIterator[str]:
        """Server-sent events for both APIs: opening chunks, one chunk per event, usage, then [DONE].

        An event without text (held back) sends no chunk: its token's logprobs go with the next one.

        An engine failure mid-stream becomes an error event (the status line is already sent).
        """
        for choice in opening:
            yield chunk([choice])
        generation = self._generate(plan)
        try:
            async for choice, event in generation:
                if event.text or event.finish_reason is not None:
                    yield chunk([choice_of(choice, event)])
            if plan.include_usage:
                yield chunk([], plan.usage())
        except GenerationFailed as exc:
            logger.error("request %s failed while streaming: %s", plan.request_id, exc.message)
            yield f"data: {error_body(exc.message, 'server_error', None, 'engine_error')}\n\n"
        finally:
            await close_shielded(generation)
        yield "data: [DONE]\n\n"


def json_response(model: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


def _reported(reason: FinishReason | None) -> ResponseFinishReason | None:
    """The finish reason as OpenAI reports it; "abort" never gets this far (it is answered as an error)."""
    return None if reason is None or reason == "abort" else reason
