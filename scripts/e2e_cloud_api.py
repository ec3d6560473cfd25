"""The two questions scripts/e2e_cloud.py asks the deployed API: is it ready, and does it complete a prompt.

Both take the HTTP calls as arguments (plain, or through a port-forward), so the same code serves a public
endpoint, an in-cluster one and the unit tests' fakes.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Mapping

from e2e_cloud_outcomes import StepFailed
from e2e_cloud_seams import HttpGet, HttpPost

POLL_INTERVAL_S = 10.0
GET_TIMEOUT_S = 10.0
# The first request to a freshly loaded model may be slow: the pipeline's first pass over every rank.
COMPLETION_TIMEOUT_S = 300.0
PROMPT = "Hello"
MAX_TOKENS = 8


def wait_until_ready(
    base_url: str,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    http_get: HttpGet,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
    interval_s: float = POLL_INTERVAL_S,
) -> str:
    """Poll GET <base_url>/v1/models until it answers 200 with a model; return the first model's id."""
    url = f"{base_url}/v1/models"
    started = clock()
    while True:
        try:
            status, body = http_get(url, headers, GET_TIMEOUT_S)
        except (OSError, http.client.HTTPException) as error:
            last = f"unreachable ({error})"
        else:
            if status == 200 and (model := _first_model(body)):
                log(f"ready after {clock() - started:.0f} s: {url} lists {model!r}")
                return model
            if status in (401, 403):
                raise StepFailed(
                    "wait for the endpoint",
                    f"{url} answered {status}: the API key (stack output api_key) is missing or wrong",
                )
            last = f"{status}" if status != 200 else "200 without a model listed"
        elapsed = clock() - started
        if elapsed >= timeout_s:
            raise StepFailed(
                "wait for the endpoint", f"{url} did not answer 200 within {timeout_s:.0f} s (last: {last})"
            )
        log(f"waiting for {url}: {elapsed:.0f} s elapsed, last: {last}")
        sleep(min(interval_s, timeout_s - elapsed))


def _first_model(body: str) -> str | None:
    try:
        models = json.loads(body).get("data") or []
        return str(models[0]["id"]) if models else None
    except (ValueError, AttributeError, LookupError, TypeError):
        return None


def complete(
    base_url: str,
    model: str,
    headers: Mapping[str, str],
    *,
    deadline: float,
    http_post: HttpPost,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
    interval_s: float = POLL_INTERVAL_S,
) -> str:
    """Ask one completion; return its text, or raise StepFailed("completion") if it is not a non-empty text.

    A 503 ("not ready yet", e.g. a port-forwarded pod still warming up) is retried until ``deadline``.
    """
    url = f"{base_url}/v1/completions"
    request = {"model": model, "prompt": PROMPT, "max_tokens": MAX_TOKENS}
    while True:
        try:
            status, body = http_post(url, request, headers, COMPLETION_TIMEOUT_S)
        except (OSError, http.client.HTTPException) as error:
            raise StepFailed("completion", f"POST {url}: no answer ({error})") from error
        if status != 503 or clock() >= deadline:
            break
        log(f"completion: 503 (not ready yet), retrying in {interval_s:g} s")
        sleep(interval_s)
    if status != 200:
        raise StepFailed("completion", f"POST {url} answered {status}: {body[:500]}")
    try:
        text = json.loads(body)["choices"][0]["text"]
    except (ValueError, LookupError, TypeError):
        raise StepFailed("completion", f"POST {url}: not a completion: {body[:500]}") from None
    if not isinstance(text, str) or not text:
        raise StepFailed("completion", f"POST {url}: the completion's text is empty: {body[:500]}")
    return text
