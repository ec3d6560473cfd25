"""Access control and the body limit, before any route code runs.

:class:`RequestGate` is raw ASGI middleware rather than a FastAPI dependency so that a request without
the API key, or with a body over ``max_body_bytes``, is refused before the app parses or buffers it.
It also counts every response by route, method and status for the metrics, and the requests in flight for
draining (:mod:`.drain`): a draining rank refuses new requests with 503 before they reach a route.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import Metrics
from ..server_settings import ServerSettings
from .drain import RETRY_AFTER_S, Drain
from .errors import error_body
from .platforms import platform_routes

OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""Probes and scrapes: never behind the API key (kubelet and Prometheus carry none)."""


class RequestGate:
    """Checks the API key and the body size before the app reads a byte; counts responses for metrics.

    A body is read here, up to ``max_body_bytes`` and no further, and handed to the app from memory:
    an oversized or unauthenticated request costs neither parsing nor buffering.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings, metrics: Metrics, drain: Drain) -> None:
        self.app = app
        self.drain = drain
        self.api_key = settings.api_key.get_secret_value().encode() if settings.api_key else None
        routes = platform_routes(settings.platform, settings.health_route, settings.predict_route)
        # The platform's health checker carries no key either.
        self.open_paths = OPEN_PATHS | ({routes[0]} if routes else set())
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
        if scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await _send_error(
                send,
                503,
                "This replica is shutting down; retry the request (another replica answers it).",
                code="server_shutting_down",
                headers={"Retry-After": str(RETRY_AFTER_S)},
                error_type="server_error",
            )
            return
        self.drain.started()
        try:
            await self._admit(scope, receive, send)
        finally:
            self.drain.finished()

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if self.api_key is not None and scope["method"] != "OPTIONS":
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
    send: Send,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    error_type: str = "invalid_request_error",
) -> None:
    body = error_body(message, error_type, None, code).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
