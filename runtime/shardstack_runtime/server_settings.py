"""What the HTTP server enforces: the API key, request limits, the served model name, CORS.

The env-contract module (``settings.py``) maps environment variables onto :class:`ServerSettings`;
tests build it directly::

    create_app(engine, ServerSettings(api_key="sk-test", max_tokens_limit=256))
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .settings import Platform

DEFAULT_MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_N = 8
# 4 MiB holds a ~128k-token prompt as JSON text with room to spare; anything bigger is a mistake or abuse.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class ServerSettings(BaseModel):
    """Limits and access control of the OpenAI-compatible HTTP API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    """Bearer key required on every route but /health, /ready and /metrics. Default: no key, open API."""
    max_tokens_limit: int = Field(default=DEFAULT_MAX_TOKENS_LIMIT, ge=1)
    """Largest ``max_tokens`` a request may ask for (the context length caps it further)."""
    max_n: int = Field(default=DEFAULT_MAX_N, ge=1)
    """Most choices one request may ask for: ``n`` times the number of prompts in a batch."""
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Request bodies above this are refused with 413 before they are parsed."""
    model_name: str | None = Field(default=None, min_length=1)
    """Name served in /v1/models and expected in ``model``. Default: the engine's ``model_name``."""
    cors_allow_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API. Default: none, CORS is off."""
    platform: Platform = "kubernetes"
    """Where the image runs: a managed platform's health and prediction routes are added (see http/platforms.py)."""
    health_route: str | None = Field(default=None, pattern=r"^/")
    """Vertex AI's health route (AIP_HEALTH_ROUTE)."""
    predict_route: str | None = Field(default=None, pattern=r"^/")
    """Vertex AI's predict route (AIP_PREDICT_ROUTE)."""
