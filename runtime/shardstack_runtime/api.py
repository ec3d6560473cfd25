"""The leader's OpenAI-compatible HTTP API, as a FastAPI app around an injected engine.

    app = create_app(engine, ServerSettings(api_key="sk-…"))
    uvicorn.run(app, host="0.0.0.0", port=8000)

Routes: POST /v1/completions, POST /v1/chat/completions (both with ``stream``), GET /v1/models,
GET /health (liveness), GET /ready (200 once ``engine.ready``, else 503), GET /metrics (Prometheus).
Every non-2xx answer is OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}``
with ``param`` naming the offending field. The server never blocks its event loop: tokenization
runs in a worker thread and generation is the engine's async iterator. A client that goes away
cancels its engine requests, which frees their batch slots.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .generation import (
    Engine,
    EngineUnavailableError,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    SamplingParams,
)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics, RequestTimer
from .openai_schema import (
    INT64_MAX,
    INT64_MIN,
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatDelta,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    ErrorDetail,
    ErrorResponse,
    ModelCard,
    ModelList,
    Usage,
)
from .openai_schema import FinishReason as ResponseFinishReason
from .server_settings import ServerSettings

__all__ = ["APIError", "create_app"]

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""Probes and scrapes: never behind the API key (kubelet and Prometheus carry none)."""
CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a request whose client left before the answer; only metrics ever see it."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class APIError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def response(self) -> Response:
        return _error_response(self.status_code, self.message, self.type, self.param, self.code, self.headers)


def _error_body(message: str, type: str, param: str | None, code: str | None) -> str:
    return ErrorResponse(error=ErrorDetail(message=message, type=type, param=param, code=code)).model_dump_json()


def _error_response(
    status_code: int,
    message: str,
    type: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(_error_body(message, type, param, code), status_code, headers, media_type="application/json")


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


def create_app(engine: Engine, settings: ServerSettings, *, metrics: Metrics | None = None) -> FastAPI:
    """Build the HTTP app serving ``engine``; state lives in ``app.state`` (engine, settings, metrics).

    Pass ``metrics`` to share one registry with code that records outside requests (weight loading);
    by default the app makes its own, reachable as ``app.state.metrics``.
    """
    model_name = settings.model_name or engine.model_name
    if metrics is None:
        metrics = Metrics(model_name, max_model_len=engine.max_model_len)
    metrics.observe_engine(engine.stats)

    app = FastAPI(
        title="Shardstack runtime",
        summary="OpenAI-compatible API of a sharded model",
        docs_url=None,
        redoc_url=None,
        # curl and friends often leave Content-Type out; the body is JSON either way.
        strict_content_type=False,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.service = _Service(engine, settings, metrics, model_name)
    app.include_router(_router)
    app.add_exception_handler(APIError, _api_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)
    app.add_middleware(_RequestGate, settings=settings, metrics=metrics)
    if settings.cors_allow_origins:
        # Outside the gate, so that browsers' preflight requests (which carry no key) are answered.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


_router = APIRouter()


def _service(request: Request) -> _Service:
    return request.app.state.service


@_router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process is up and its event loop answers."""
    return {"status": "ok"}


@_router.get("/ready")
async def ready(request: Request) -> Response:
    """Readiness: 200 once the engine has loaded its weights and warmed up, else 503."""
    _service(request).check_ready()
    return JSONResponse({"status": "ready"})


@_router.get("/metrics")
async def metrics_text(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(request.app.state.metrics.render(), media_type=METRICS_CONTENT_TYPE)


@_router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> Response:
    return _json(_service(request).model_list())


@_router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def retrieve_model(model_id: str, request: Request) -> Response:
    service = _service(request)
    service.check_model(model_id)
    return _json(service.model_card())


@_router.post("/v1/completions", response_model=CompletionResponse)
async def completions(body: CompletionRequest, request: Request) -> Response:
    return await _service(request).completions(body, request)


@_router.post("/v1/chat/completions", response_model=ChatCompletionResponse)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    return await _service(request).chat_completions(body, request)


def _json(model: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


# ---------------------------------------------------------------------------------------------
# Serving requests
# ---------------------------------------------------------------------------------------------


class _GenerationFailed(Exception):
    """The engine failed or aborted a request after it was accepted."""

    def __init__(self, message: str, status_code: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(slots=True)
class _Choice:
    """One engine request: one choice of the answer."""

    index: int
    request: GenerationRequest
    timer: RequestTimer
    text: list[str] = field(default_factory=list)
    tokens: int = 0
    engine_tokens: int = 0
    finish_reason: FinishReason | None = None

    @property
    def completion_tokens(self) -> int:
        return self.engine_tokens or self.tokens


@dataclass(slots=True)
class _Plan:
    """A validated request turned into engine requests."""

    request_id: str
    created: int
    prompt_lengths: list[int]
    choices: list[_Choice]
    stream: bool
    include_usage: bool

    def usage(self) -> Usage:
        prompt = sum(self.prompt_lengths)
        completion = sum(c.completion_tokens for c in self.choices)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class _Service:
    """The OpenAI routes' logic over one engine."""

    def __init__(self, engine: Engine, settings: ServerSettings, metrics: Metrics, model_name: str) -> None:
        self.engine = engine
        self.settings = settings
        self.metrics = metrics
        self.model_name = model_name
        self.created = int(time.time())

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

    def _check_choices(self, n: int, prompts: int) -> None:
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

    def _max_tokens(
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

    # -- building engine requests ---------------------------------------------------------------

    def _plan(
        self,
        prefix: str,
        body: CompletionRequest | ChatCompletionRequest,
        prompts: list[list[int]],
        max_tokens: int,
        arrival: float,
    ) -> _Plan:
        request_id = f"{prefix}-{uuid.uuid4().hex}"
        temperature = 1.0 if body.temperature is None else body.temperature
        top_p = 1.0 if body.top_p is None else body.top_p
        if top_p == 0.0:
            # The smallest nucleus holding probability 0 is the single likeliest token: greedy.
            temperature, top_p = 0.0, 1.0
        top_k = max(0, body.top_k or 0)
        stop = tuple(body.stop or ())
        choices: list[_Choice] = []
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
                )
                request = GenerationRequest(
                    request_id=f"{request_id}-{index}", prompt_token_ids=prompt, params=params, arrival_time=arrival
                )
                timer = self.metrics.start_request(arrival, len(prompt), max_tokens)
                choices.append(_Choice(index=index, request=request, timer=timer))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return _Plan(request_id, int(time.time()), [len(p) for p in prompts], choices, body.stream, include_usage)

    async def _encode_prompts(self, prompt: str | list[str] | list[int] | list[list[int]]) -> list[list[int]]:
        # The schema made the prompt one of its four shapes, never a mix.
        if isinstance(prompt, str):
            texts = [prompt]
        else:
            texts = [p for p in prompt if isinstance(p, str)]
            if not texts:
                token_prompts = [list(p) for p in prompt if isinstance(p, list)]
                return token_prompts or [[t for t in prompt if isinstance(t, int)]]
        encode = self.engine.tokenizer.encode
        ids = await run_in_threadpool(lambda: [encode(t, add_special_tokens=True) for t in texts])
        if any(not p for p in ids):
            raise APIError(
                400, "Invalid 'prompt': it encodes to no tokens; send some text.", param="prompt", code="invalid_value"
            )
        return ids

    async def _encode_chat(self, body: ChatCompletionRequest) -> list[int]:
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
        self._check_choices(body.n, n_prompts)
        prompts = await self._encode_prompts(body.prompt)
        max_tokens = self._max_tokens(
            body.max_tokens, "max_tokens" in body.model_fields_set, "max_tokens", "prompt", [len(p) for p in prompts]
        )
        plan = self._plan("cmpl", body, prompts, max_tokens, arrival)
        headers = {"X-Request-Id": plan.request_id}
        if plan.stream:
            return _EventStream(self._stream_completion(plan), headers=headers)
        await self._run_until_disconnected(request, plan)
        return _json(
            CompletionResponse(
                id=plan.request_id,
                created=plan.created,
                model=self.model_name,
                usage=plan.usage(),
                choices=[
                    CompletionChoice(index=c.index, text="".join(c.text), finish_reason=_reported(c.finish_reason))
                    for c in plan.choices
                ],
            ),
            headers,
        )

    async def chat_completions(self, body: ChatCompletionRequest, request: Request) -> Response:
        arrival = time.monotonic()
        self.check_model(body.model)
        self.check_ready()
        self._check_choices(body.n, 1)
        prompt = await self._encode_chat(body)
        if body.max_completion_tokens is not None:
            requested, param = body.max_completion_tokens, "max_completion_tokens"
        else:
            requested, param = body.max_tokens, "max_tokens"
        max_tokens = self._max_tokens(requested, requested is not None, param, "messages", [len(prompt)])
        plan = self._plan("chatcmpl", body, [prompt], max_tokens, arrival)
        headers = {"X-Request-Id": plan.request_id}
        if plan.stream:
            return _EventStream(self._stream_chat(plan), headers=headers)
        await self._run_until_disconnected(request, plan)
        return _json(
            ChatCompletionResponse(
                id=plan.request_id,
                created=plan.created,
                model=self.model_name,
                usage=plan.usage(),
                choices=[
                    ChatChoice(
                        index=c.index,
                        message=AssistantMessage(content="".join(c.text)),
                        finish_reason=_reported(c.finish_reason) or "stop",
                    )
                    for c in plan.choices
                ],
            ),
            headers,
        )

    # -- generation -----------------------------------------------------------------------------

    async def _generate(self, plan: _Plan) -> AsyncIterator[tuple[_Choice, GenerationEvent]]:
        """Every choice's events as they come, with metrics accounted; raises _GenerationFailed."""
        events = _merge_events(self.engine, [c.request for c in plan.choices])
        try:
            async for index, event, now in events:
                choice = plan.choices[index]
                choice.timer.on_event(event, now)
                if event.token_id is not None:
                    choice.tokens += 1
                if event.completion_tokens:
                    choice.engine_tokens = event.completion_tokens
                if event.finish_reason is not None:
                    choice.finish_reason = event.finish_reason
                    choice.timer.finish(event.finish_reason, now)
                    if event.finish_reason == "abort":
                        if getattr(self.engine, "error", None) is not None:  # e.g. a rank of the pipeline died
                            raise _GenerationFailed(
                                "The engine stopped while serving this request (the server log "
                                "says why); this replica will restart. Retry.",
                                503,
                            )
                        raise _GenerationFailed("The engine aborted the request (it may be shutting down). Retry.", 503)
                yield choice, event
            if any(c.finish_reason is None for c in plan.choices):
                raise _GenerationFailed("The engine ended a request without a finish reason.")
        finally:
            await _close_shielded(events)
            now = time.monotonic()
            for choice in plan.choices:
                choice.timer.finish("abort", now)  # no-op for choices that finished

    async def _run_until_disconnected(self, request: Request, plan: _Plan) -> None:
        """Generate every choice's full text; stop (and abort the engine requests) if the client leaves."""

        async def collect() -> None:
            generation = self._generate(plan)
            try:
                async for choice, event in generation:
                    if event.text:
                        choice.text.append(event.text)
            finally:
                await _close_shielded(generation)

        try:
            finished = await _unless_disconnected(request, collect)
        except _GenerationFailed as exc:
            logger.error("request %s failed: %s", plan.request_id, exc.message)
            raise APIError(exc.status_code, exc.message, type="server_error", code="engine_error") from exc
        if not finished:
            raise APIError(
                CLIENT_CLOSED_REQUEST,
                "The client closed the connection before the answer.",
                code="client_closed_request",
            )

    def _stream_completion(self, plan: _Plan) -> AsyncIterator[str]:
        def chunk(choices: list[Any], usage: Usage | None = None) -> str:
            data = CompletionResponse(
                id=plan.request_id, created=plan.created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {data.model_dump_json()}\n\n"

        def choice_of(choice: _Choice, event: GenerationEvent) -> CompletionChoice:
            return CompletionChoice(index=choice.index, text=event.text, finish_reason=_reported(event.finish_reason))

        return self._stream(plan, chunk, [], choice_of)

    def _stream_chat(self, plan: _Plan) -> AsyncIterator[str]:
        def chunk(choices: list[Any], usage: Usage | None = None) -> str:
            data = ChatCompletionChunk(
                id=plan.request_id, created=plan.created, model=self.model_name, choices=choices, usage=usage
            )
            return f"data: {data.model_dump_json()}\n\n"

        def choice_of(choice: _Choice, event: GenerationEvent) -> ChatChunkChoice:
            delta = ChatDelta(content=event.text) if event.text else ChatDelta()
            return ChatChunkChoice(index=choice.index, delta=delta, finish_reason=_reported(event.finish_reason))

        opening = [ChatChunkChoice(index=c.index, delta=ChatDelta(role="assistant", content="")) for c in plan.choices]
        return self._stream(plan, chunk, opening, choice_of)

    async def _stream(
        self,
        plan: _Plan,
        chunk: Callable[..., str],
        opening: list[Any],
        choice_of: Callable[[_Choice, GenerationEvent], Any],
    ) -> AsyncIterator[str]:
        """Server-sent events for both APIs: opening chunks, one chunk per event, usage, then [DONE].

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
        except _GenerationFailed as exc:
            logger.error("request %s failed while streaming: %s", plan.request_id, exc.message)
            yield f"data: {_error_body(exc.message, 'server_error', None, 'engine_error')}\n\n"
        finally:
            await _close_shielded(generation)
        yield "data: [DONE]\n\n"


def _reported(reason: FinishReason | None) -> ResponseFinishReason | None:
    """The finish reason as OpenAI reports it; "abort" never gets this far (it is answered as an error)."""
    return None if reason is None or reason == "abort" else reason


async def _merge_events(
    engine: Engine, requests: Sequence[GenerationRequest]
) -> AsyncIterator[tuple[int, GenerationEvent, float]]:
    """Interleave the events of several engine requests as ``(index, event, arrival time)``.

    One task per request drains the engine into a queue, so a slow client never holds up the
    engine's batch. Closing this iterator (client gone, error) cancels those tasks, which cancels
    the engine's iterators: the engine aborts the requests and frees their slots.
    """
    queue: asyncio.Queue[tuple[int, GenerationEvent | None, float, BaseException | None]] = asyncio.Queue()

    async def drain(index: int, request: GenerationRequest) -> None:
        events: AsyncIterator[GenerationEvent] | None = None
        try:
            events = engine.generate(request)
            async for event in events:
                queue.put_nowait((index, event, time.monotonic(), None))
            queue.put_nowait((index, None, 0.0, None))
        except Exception as exc:
            queue.put_nowait((index, None, 0.0, exc))
        finally:
            if events is not None:
                await _close_shielded(events)

    tasks = [asyncio.create_task(drain(i, r), name=f"generate {r.request_id}") for i, r in enumerate(requests)]
    running = len(tasks)
    try:
        while running:
            index, event, now, error = await queue.get()
            if error is not None:
                logger.error("engine.generate failed for %s", requests[index].request_id, exc_info=error)
                if isinstance(error, EngineUnavailableError):
                    raise _GenerationFailed(f"The model is unavailable: {error}. Retry later.", status_code=503)
                raise _GenerationFailed(f"The engine failed while generating: {type(error).__name__}: {error}")
            if event is None:
                running -= 1
                continue
            yield index, event, now
    finally:
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*tasks, return_exceptions=True)


async def _close_shielded(iterator: object) -> None:
    """Close an async iterator even while the caller is being cancelled (its cleanup frees engine slots)."""
    close: Callable[[], Awaitable[None]] | None = getattr(iterator, "aclose", None)
    if close is not None:
        with anyio.CancelScope(shield=True):
            await close()


async def _unless_disconnected(request: Request, work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work`` unless the client disconnects first (then cancel it); True when it completed."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    work_task = asyncio.ensure_future(work())
    watch_task = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({work_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch_task.cancel()
        if not work_task.done():
            work_task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(work_task, return_exceptions=True)
    if work_task.cancelled():
        return False
    work_task.result()  # re-raises the work's error
    return True


class _EventStream(StreamingResponse):
    """Server-sent events that always close their source, so a vanished client frees its engine slots."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], headers: dict[str, str]) -> None:
        # no-cache and no proxy buffering: each token should reach the client as it is made.
        super().__init__(content, headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await _close_shielded(self.body_iterator)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"Not found: {request.method} {request.url.path}. See GET /v1/models and POST /v1/completions."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    error_type = "server_error" if exc.status_code >= 500 else "invalid_request_error"
    return _error_response(exc.status_code, message, error_type, headers=dict(exc.headers or {}) or None)


async def _unexpected_error_handler(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(500, "The server had an error while processing your request.", "server_error")


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 as OpenAI's 400, ``param`` naming the first offending field."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    problems = [_describe_validation_error(e) for e in errors]
    message, param, code = problems[0]
    if len(problems) > 1:
        others = ", ".join(p or "body" for _, p, _ in problems[1:6])
        message += f" (also invalid: {others})"
    return _error_response(400, message, "invalid_request_error", param, code)


def _param_name(loc: Iterable[int | str]) -> str | None:
    """OpenAI's spelling of a field path, ``messages[0].content``, from a pydantic location."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            name += f".{part}" if name else part
        # else: a union member's tag such as "list[int]"; not part of the field's path.
    return name or None


def _describe_validation_error(error: dict[str, Any]) -> tuple[str, str | None, str]:
    kind = error.get("type", "")
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "invalid JSON")
        position = error["loc"][-1] if error.get("loc") else "?"
        return (
            f"We could not parse the JSON body of your request: {detail} at character {position}. "
            "Send a JSON object (Content-Type: application/json).",
            None,
            "invalid_json",
        )
    param = _param_name(error.get("loc", ()))
    if param is None:
        return (
            "The request body must be a JSON object (Content-Type: application/json); "
            f"got {type(error.get('input')).__name__}.",
            None,
            "invalid_json",
        )
    if kind == "missing":
        return f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    message = str(error.get("msg", "invalid value"))
    if kind == "unsupported":
        return f"{message}.", param, "unsupported_parameter"  # it starts with the field's own name
    code = "invalid_type" if kind.endswith("_type") or kind == "invalid_type" else "invalid_value"
    return f"Invalid '{param}': {message}.", param, code


# ---------------------------------------------------------------------------------------------
# Access control and body limit, before any route code runs
# ---------------------------------------------------------------------------------------------


class _RequestGate:
    """Checks the API key and the body size before the app reads a byte; counts responses for metrics.

    A body is read here, up to ``max_body_bytes`` and no further, and handed to the app from memory:
    an oversized or unauthenticated request costs neither parsing nor buffering.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings, metrics: Metrics) -> None:
        self.app = app
        self.api_key = settings.api_key.get_secret_value().encode() if settings.api_key else None
        self.max_body_bytes = settings.max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_and_count)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.http_requests.labels(route, scope["method"], str(status)).inc()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if self.api_key is not None and scope["path"] not in OPEN_PATHS and scope["method"] != "OPTIONS":
            problem = self._key_problem(headers.get(b"authorization"))
            if problem:
                await _send_error(
                    send,
                    401,
                    problem,
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": 'Bearer realm="shardstack"'},
                )
                return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read_body(scope, receive, send, headers)
            if body is None:
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _key_problem(self, authorization: bytes | None) -> str | None:
        assert self.api_key is not None
        if not authorization:
            return "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer <key>'."
        scheme, _, key = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(key.strip(), self.api_key):
            return "Incorrect API key provided. Send 'Authorization: Bearer <key>' with this server's key."
        return None

    async def _read_body(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> bytes | None:
        limit = self.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await _send_error(send, 400, "Invalid Content-Length header.")
                return None
            if too_large:
                await _body_too_large(send, limit)
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _body_too_large(send, limit)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands out the buffered body, then waits on the client (for its disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _body_too_large(send: Send, limit: int) -> None:
    # Connection: close, since the unread rest of the body would otherwise be taken for the next request.
    await _send_error(
        send,
        413,
        f"The request body is larger than this server's limit of {limit} bytes "
        "(max_body_bytes). Send a smaller request.",
        code="request_too_large",
        headers={"Connection": "close"},
    )


async def _send_error(
    send: Send, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> None:
    body = _error_body(message, "invalid_request_error", None, code).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
