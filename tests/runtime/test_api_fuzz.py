"""The HTTP API under mutated requests, with good requests running beside them.

Seeded and bounded: ``MUTATIONS`` mutants of valid completion and chat bodies (types, bounds, unknown keys at every
level, unicode and lone surrogates, nesting, raw bytes), sent to a real uvicorn over the fake engine of
api_harness while other clients send good requests. Each mutant must be answered 200 or a 4xx in OpenAI's error
shape, never a 5xx or a dropped connection; every good request must succeed.
"""

from __future__ import annotations

import copy
import json
import random
import threading
from typing import Any

import httpx
import pytest
from api_harness import API_KEY, MODEL, REPLY

pytestmark = pytest.mark.usefixtures("engine_ready")

MUTATIONS = 600
GOOD_CLIENTS = 4

COMPLETION: dict[str, Any] = {
    "model": MODEL,
    "prompt": "hi",
    "max_tokens": 4,
    "temperature": 0.5,
    "stop": ["\n"],
    "n": 1,
    "logprobs": 1,
    "stream": False,
}
CHAT: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ],
    "max_completion_tokens": 4,
    "top_logprobs": 2,
    "logprobs": True,
    "stream_options": {"include_usage": True},
}
ODD_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    2**63,
    1e308,
    "",
    "💥",
    "a" * 5000,
    [],
    [[]],
    [-5],
    [10**12],
    {},
    {"type": "image_url"},
    "\u202e",
]
RAW_STRINGS = ['"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', "NaN", "Infinity", "1e999", "-0", "[" * 2000 + "]" * 2000]


def locations(value: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key in value:
            found.append((value, key))
            found += locations(value[key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found += locations(item)
    return found


def mutant(rng: random.Random) -> tuple[str, bytes]:
    """A mutated request: its route and its body's bytes."""
    route, base = rng.choice([("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT)])
    body = copy.deepcopy(base)
    container, key = rng.choice(locations(body))
    kind = rng.choice(["replace", "remove", "unknown", "raw", "wrap"])
    marker = "__RAW__"
    if kind == "replace":
        container[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif kind == "remove":
        del container[key]
    elif kind == "unknown" and isinstance(container, dict):
        container[rng.choice(["modle", "💥", "", "tools"])] = rng.choice(ODD_VALUES)
    elif kind == "wrap":
        container[key] = {"value": container[key]}
    else:
        container[key] = marker
    text = json.dumps(body)
    if marker in text:
        text = text.replace(json.dumps(marker), rng.choice(RAW_STRINGS))
    return route, text.encode()


def good_requests(base_url: str, stop: threading.Event, failures: list[str], counts: list[int]) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as http:
        while not stop.is_set():
            response = http.post("/v1/completions", json={"model": MODEL, "prompt": "still there?", "max_tokens": 3})
            if response.status_code != 200 or response.json()["choices"][0]["text"] != "".join(REPLY[:3]):
                failures.append(f"{response.status_code}: {response.text[:200]}")
            counts.append(1)


def test_mutated_requests_get_200_or_a_4xx_and_good_requests_beside_them_all_succeed(base_url: str) -> None:
    stop, failures, counts = threading.Event(), [], []
    helpers = [
        threading.Thread(target=good_requests, args=(base_url, stop, failures, counts)) for _ in range(GOOD_CLIENTS)
    ]
    for helper in helpers:
        helper.start()
    rng = random.Random("api-fuzz")
    statuses: dict[int, int] = {}
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
            for round_ in range(MUTATIONS):
                route, body = mutant(rng)
                response = http.post(route, content=body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                where = f"mutation {round_} to {route}: {body[:200]!r}"
                assert response.status_code == 200 or 400 <= response.status_code < 500, (
                    f"{where} got {response.status_code}: {response.text[:300]}"
                )
                if response.status_code != 200:
                    error = response.json()["error"]
                    assert error["type"] == "invalid_request_error" and error["message"], where
    finally:
        stop.set()
        for helper in helpers:
            helper.join(timeout=30)
    assert not failures, failures[:3]
    assert len(counts) >= GOOD_CLIENTS  # the good clients did run beside the mutants
    assert statuses.get(200, 0) > 0 and sum(n for s, n in statuses.items() if s >= 400) > MUTATIONS // 4, statuses
