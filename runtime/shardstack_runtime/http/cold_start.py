"""What answers while no replica group is serving: 503 with ``Retry-After``, in OpenAI's error shape.

A deployment that scales to zero groups puts KEDA's HTTP interceptor in front of its leaders: the interceptor holds
a request while a group wakes, up to its readiness timeout, and then hands it to its cold-start fallback, which is
this app. So a client is never dropped silently: it waited the documented bound and is told to come back, which
the OpenAI SDKs do on their own (they retry a 503 and honour ``Retry-After``).

Usage::

    shardstack-runtime cold-start --port 8000 --wake-timeout 300
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .errors import error_response

RETRY_AFTER_S = 30
"""A group that did not wake within the interceptor's bound is most often still loading: its nodes are up and its
weights arrive within a minute or so. 30 s is also under the 60 s the OpenAI SDKs honour from Retry-After."""
CODE = "model_waking"


def cold_start_app(wake_timeout_s: float, retry_after_s: int = RETRY_AFTER_S) -> FastAPI:
    """Return the app: /health and /ready answer 200 (it is up), every other request 503 with ``Retry-After``."""
    app = FastAPI(title="shardstack cold start", openapi_url=None, docs_url=None, redoc_url=None)
    message = (
        f"The model is scaled to zero and no replica group was ready within {wake_timeout_s:g} s; one is starting. "
        f"Retry in {retry_after_s} s."
    )

    @app.get("/health")
    @app.get("/ready")
    async def alive() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def waking(request: Request, path: str) -> Response:
        del request, path
        return error_response(503, message, "server_error", code=CODE, headers={"Retry-After": str(retry_after_s)})

    return app
