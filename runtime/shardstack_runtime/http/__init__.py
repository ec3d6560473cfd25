"""The leader's OpenAI-compatible HTTP API, as a FastAPI app around an injected engine.

    app = create_app(engine, ServerSettings(api_key="sk-…"))
    uvicorn.run(app, host="0.0.0.0", port=8000)

Routes: POST /v1/completions, POST /v1/chat/completions (both with ``stream``), GET /v1/models,
GET /health (liveness), GET /ready (200 once ``engine.ready``, else 503), GET /metrics (Prometheus).
Every non-2xx answer is OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}``
with ``param`` naming the offending field. The server never blocks its event loop: tokenization
runs in a worker thread and generation is the engine's async iterator. A client that goes away
cancels its engine requests, which frees their batch slots.

The parts: :mod:`.app` (``create_app`` and the routes), :mod:`.gate` (API key and body limit, before
any route code), :mod:`.service` (what the OpenAI routes do), :mod:`.plan` (a request checked against
the server's limits and turned into engine requests), :mod:`.streaming` (engine events to the client,
safe under cancellation) and :mod:`.errors` (OpenAI's error shape for every failure).
"""

from __future__ import annotations

from .app import create_app
from .errors import APIError

__all__ = ["APIError", "create_app"]
