"""The plumbing between the engine's async iterators and an HTTP connection, safe under cancellation.

A client that goes away must cancel its engine requests, which frees their batch slots: everything here
closes what it opened even while it is being cancelled, and a slow client never holds up the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Send

from ..generation import Engine, EngineUnavailableError, GenerationEvent, GenerationRequest
from .drain import RETRY_AFTER_S

logger = logging.getLogger(__name__)


class GenerationFailed(Exception):
    """The engine failed or aborted a request after it was accepted."""

    def __init__(self, message: str, status_code: int = 500, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        """When the request may be sent again (a full queue, a model not serving yet): its Retry-After."""


async def merge_events(
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
                await close_shielded(events)

    tasks = [asyncio.create_task(drain(i, r), name=f"generate {r.request_id}") for i, r in enumerate(requests)]
    running = len(tasks)
    try:
        while running:
            index, event, now, error = await queue.get()
            if error is not None:
                logger.error("engine.generate failed for %s", requests[index].request_id, exc_info=error)
                if isinstance(error, EngineUnavailableError):
                    raise GenerationFailed(
                        f"The model is unavailable: {error}. Retry later.", status_code=503, retry_after_s=RETRY_AFTER_S
                    )
                raise GenerationFailed(f"The engine failed while generating: {type(error).__name__}: {error}")
            if event is None:
                running -= 1
                continue
            yield index, event, now
    finally:
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*tasks, return_exceptions=True)


async def close_shielded(iterator: object) -> None:
    """Close an async iterator even while the caller is being cancelled (its cleanup frees engine slots)."""
    close: Callable[[], Awaitable[None]] | None = getattr(iterator, "aclose", None)
    if close is not None:
        with anyio.CancelScope(shield=True):
            await close()


async def unless_disconnected(request: Request, work: Callable[[], Awaitable[None]]) -> bool:
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


class EventStream(StreamingResponse):
    """Server-sent events that always close their source, so a vanished client frees its engine slots."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], headers: dict[str, str]) -> None:
        # no-cache and no proxy buffering: each token should reach the client as it is made.
        super().__init__(content, headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await close_shielded(self.body_iterator)
