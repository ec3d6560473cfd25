"""OpenAI's error shape, and the handlers that give every failure of the app that shape.

Every non-2xx answer is ``{"error": {"message", "type", "param", "code"}}`` with ``param`` naming the
offending field: route code raises :class:`APIError`, and FastAPI's own failures (a body that does not
validate, an unknown route, an unexpected exception) are rewritten here into the same shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..openai_responses import ErrorDetail, ErrorResponse

logger = logging.getLogger(__name__)

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
        return error_response(self.status_code, self.message, self.type, self.param, self.code, self.headers)


def error_body(message: str, type: str, param: str | None, code: str | None) -> str:
    return ErrorResponse(error=ErrorDetail(message=message, type=type, param=param, code=code)).model_dump_json()


def error_response(
    status_code: int,
    message: str,
    type: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_body(message, type, param, code), status_code, headers, media_type="application/json")


def add_error_handlers(app: FastAPI) -> None:
    """Answer every exception that reaches ``app`` in OpenAI's error shape."""
    app.add_exception_handler(APIError, _api_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)


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
    return error_response(exc.status_code, message, error_type, headers=dict(exc.headers or {}) or None)


async def _unexpected_error_handler(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "The server had an error while processing your request.", "server_error")


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 as OpenAI's 400, ``param`` naming the first offending field."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    problems = [_describe_validation_error(e) for e in errors]
    message, param, code = problems[0]
    if len(problems) > 1:
        others = ", ".join(p or "body" for _, p, _ in problems[1:6])
        message += f" (also invalid: {others})"
    return error_response(400, message, "invalid_request_error", param, code)


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
