"""Who may call the API and how the server's settings shape it: the API key, the model alias, CORS.

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness.
"""

from __future__ import annotations

import httpx
import openai
import pytest
from api_harness import API_KEY, MODEL, FakeEngine, assert_openai_error, serve

from shardstack_runtime.http import create_app
from shardstack_runtime.metrics import Metrics
from shardstack_runtime.server_settings import ServerSettings

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""


def test_api_key_required_accepted_and_rejected(base_url: str) -> None:
    with (
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as excinfo,
    ):
        wrong.models.list()
    assert excinfo.value.code == "invalid_api_key"
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0) as right:
        assert [m.id for m in right.models.list()] == [MODEL]
    with httpx.Client(base_url=base_url) as anonymous:
        for path in ("/v1/models", "/v1/models/" + MODEL):
            response = anonymous.get(path)
            assert_openai_error(response, 401, None, "invalid_api_key")
            assert response.headers["www-authenticate"].startswith("Bearer")
        body = {"model": MODEL, "prompt": "hi"}
        assert_openai_error(anonymous.post("/v1/completions", json=body), 401, None, "invalid_api_key")
        assert_openai_error(
            anonymous.post("/v1/completions", json=body, headers={"Authorization": f"Basic {API_KEY}"}),
            401,
            None,
            "invalid_api_key",
        )
        assert_openai_error(
            anonymous.post("/v1/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}x"}),
            401,
            None,
            "invalid_api_key",
        )
        # An unauthenticated oversized body is refused for the key, before its size matters.
        assert_openai_error(anonymous.post("/v1/completions", content=b"x" * 100_000), 401, None)
        for path in ("/health", "/ready", "/metrics"):
            assert anonymous.get(path).status_code == 200, path


def test_settings_open_api_model_alias_cors_and_shared_metrics() -> None:
    engine = FakeEngine()
    metrics = Metrics("alias")
    settings = ServerSettings(model_name="alias", cors_allow_origins=("https://ui.example",))
    app = create_app(engine, settings, metrics=metrics)
    assert app.state.metrics is metrics and app.state.engine is engine and app.state.settings is settings
    with serve(app) as url, httpx.Client(base_url=url) as anonymous:
        models = anonymous.get("/v1/models")  # no key configured: no key needed
        assert [m["id"] for m in models.json()["data"]] == ["alias"]
        ok = anonymous.post("/v1/completions", json={"model": "alias", "prompt": "hi", "max_tokens": 1})
        assert ok.status_code == 200 and ok.json()["model"] == "alias"
        no_model = anonymous.post("/v1/completions", json={"prompt": "hi", "max_tokens": 1})
        assert no_model.status_code == 200  # model may be left out: there is one
        assert_openai_error(
            anonymous.post("/v1/completions", json={"model": MODEL, "prompt": "hi"}), 404, "model", "model_not_found"
        )
        preflight = anonymous.options(
            "/v1/chat/completions",
            headers={
                "Origin": "https://ui.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
        assert b'vllm:generation_tokens_total{model_name="alias"} 2.0' in metrics.render()


# ---------------------------------------------------------------------------------------------
