"""The FastAPI app: :func:`create_app`, which wires the parts of the API together, and its routes.

The routes only find the app's :class:`~.service.Service` and hand it the request; the gate in front
of them (:mod:`.gate`) and the error handlers (:mod:`.errors`) are installed here too.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from ..generation import Engine
from ..metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..metrics import Metrics
from ..openai_responses import ChatCompletionResponse, CompletionResponse, ModelCard, ModelList
from ..openai_schema import ChatCompletionRequest, CompletionRequest
from ..server_settings import ServerSettings
from .drain import Drain
from .errors import add_error_handlers
from .gate import RequestGate
from .platforms import add_platform_routes, platform_routes
from .service import Service, json_response


def create_app(engine: Engine, settings: ServerSettings, *, metrics: Metrics | None = None) -> FastAPI:
    """Build the HTTP app serving ``engine``; state lives in ``app.state`` (engine, settings, metrics, drain).

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
    app.state.service = Service(engine, settings, metrics, model_name)
    app.state.drain = drain = Drain()
    if (routes := platform_routes(settings.platform, settings.health_route, settings.predict_route)) is not None:
        add_platform_routes(app, settings.platform, *routes)
    app.include_router(_router)
    add_error_handlers(app)
    app.add_middleware(RequestGate, settings=settings, metrics=metrics, drain=drain)
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


def _service(request: Request) -> Service:
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
    return json_response(_service(request).model_list())


@_router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def retrieve_model(model_id: str, request: Request) -> Response:
    service = _service(request)
    service.check_model(model_id)
    return json_response(service.model_card())


@_router.post("/v1/completions", response_model=CompletionResponse)
async def completions(body: CompletionRequest, request: Request) -> Response:
    return await _service(request).completions(body, request)


@_router.post("/v1/chat/completions", response_model=ChatCompletionResponse)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    return await _service(request).chat_completions(body, request)
