"""The managed platforms' container contracts, served beside the OpenAI routes on the API port.

One image runs in four places; ``SHARDSTACK_PLATFORM`` (set by Shardstack's components) or the platform's own
environment says which (:mod:`..settings`). On each, the OpenAI routes stay as they are, and the platform's own
routes are added:

- kubernetes: the OpenAI routes; ``/ready`` (200 once the model serves, else 503) and ``/health`` (the process).
- sagemaker: port 8080; ``GET /ping``, ready as ``/ready``; ``POST /invocations``, an OpenAI body.
- vertex: port ``$AIP_HTTP_PORT``; ``GET $AIP_HEALTH_ROUTE``, ready as ``/ready``; ``POST $AIP_PREDICT_ROUTE``,
  ``{"instances": [...]}`` (``:predict``) or an OpenAI body (``:rawPredict`` passes the body on as it is).
- azureml: ``/health`` (liveness) and ``/ready`` (readiness); ``POST /``, an OpenAI body (the scoring route).

An OpenAI body is dispatched on its shape: ``messages`` makes it a chat completion, ``prompt`` a completion;
``"stream": true`` streams server-sent events (SageMaker's ``InvokeEndpointWithResponseStream`` passes the chunks
on). Vertex AI's ``{"instances": [...], "parameters": {...}}`` runs each instance, with the parameters under it,
as one non-streamed request and answers ``{"predictions": [...]}``, the OpenAI response of each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ..openai_schema import ChatCompletionRequest, CompletionRequest
from .errors import APIError

__all__ = ["add_platform_routes", "invoke", "platform_routes"]

SAGEMAKER_PING, SAGEMAKER_INVOCATIONS = "/ping", "/invocations"
AZUREML_SCORING = "/"
VERTEX_DEFAULT_HEALTH, VERTEX_DEFAULT_PREDICT = "/health", "/predict"
"""Used where Vertex AI's AIP_HEALTH_ROUTE / AIP_PREDICT_ROUTE are missing (it always sets them)."""


def platform_routes(platform: str, health_route: str | None, predict_route: str | None) -> tuple[str, str] | None:
    """``(health path, predict path)`` a platform probes and sends predictions to; None on Kubernetes."""
    if platform == "sagemaker":
        return SAGEMAKER_PING, SAGEMAKER_INVOCATIONS
    if platform == "vertex":
        return health_route or VERTEX_DEFAULT_HEALTH, predict_route or VERTEX_DEFAULT_PREDICT
    if platform == "azureml":
        return "/ready", AZUREML_SCORING
    return None


def add_platform_routes(app: FastAPI, platform: str, health: str, predict: str) -> None:
    """Install ``platform``'s health and prediction routes on ``app`` (before the OpenAI routes, so they win)."""

    async def healthy(request: Request) -> Response:
        request.app.state.service.check_ready()  # 503 in OpenAI's shape until the model serves
        return Response(status_code=200) if platform == "sagemaker" else JSONResponse({"status": "ready"})

    async def predictions(request: Request) -> Response:
        body = await _json_object(request)
        if platform == "vertex" and "instances" in body:
            return await _vertex_predict(request, body)
        return await invoke(request, body)

    app.add_api_route(health, healthy, methods=["GET"], include_in_schema=False)
    app.add_api_route(predict, predictions, methods=["POST"], include_in_schema=False)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise APIError(400, f"The body is not JSON: {error}.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, f"The body must be a JSON object; got {type(body).__name__}.", code="invalid_json")
    return body


async def invoke(request: Request, body: Mapping[str, Any]) -> Response:
    """Answer an OpenAI body on a platform's prediction route: a chat completion or a completion, by its shape."""
    service = request.app.state.service
    try:
        if "messages" in body:
            return await service.chat_completions(ChatCompletionRequest.model_validate(body), request)
        if "prompt" in body:
            return await service.completions(CompletionRequest.model_validate(body), request)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    raise APIError(
        400,
        "The body is neither a chat completion request (it has no 'messages') nor a completion request (no "
        "'prompt'); on Vertex AI's predict route, {\"instances\": [...]} holds such requests.",
        param="messages",
        code="missing_required_parameter",
    )


async def _vertex_predict(request: Request, body: Mapping[str, Any]) -> Response:
    """``{"instances": [...], "parameters": {...}}`` → ``{"predictions": [...]}``, one OpenAI response each."""
    instances, parameters = body.get("instances"), body.get("parameters") or {}
    if not isinstance(instances, list) or not instances:
        raise APIError(400, "'instances' must be a non-empty list of requests.", param="instances")
    if not isinstance(parameters, dict):
        raise APIError(400, "'parameters' must be an object, applied to every instance.", param="parameters")
    predictions = []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise APIError(400, f"instances[{index}] must be an object (a request).", param=f"instances[{index}]")
        # A prediction is one whole answer: Vertex AI's predict relays no stream.
        answer = await invoke(request, {**parameters, **instance, "stream": False})
        if answer.status_code != 200:
            return answer
        predictions.append(json.loads(bytes(answer.body)))
    return JSONResponse({"predictions": predictions})
