"""scripts/e2e_cloud.py's questions to the API, against fake HTTP answers and a fake clock: readiness
(GET /v1/models until a model is listed) and one completion."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# scripts/ is not a package: `python scripts/e2e_cloud.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from e2e_cloud_api import POLL_INTERVAL_S, complete, wait_until_ready  # noqa: E402
from e2e_cloud_fakes import MODELS, FakeClock, FakeHttp, completion  # noqa: E402
from e2e_cloud_outcomes import StepFailed  # noqa: E402

# --- readiness ------------------------------------------------------------------------------------


def test_readiness_polls_until_200_and_returns_the_first_model():
    clock, log = FakeClock(), []
    http = FakeHttp({"/v1/models": [(503, "not ready"), (503, "not ready"), (200, MODELS)]})
    model = wait_until_ready(
        "http://127.0.0.1:18000",
        {"Authorization": "Bearer k"},
        timeout_s=600,
        http_get=http.get,
        clock=clock,
        sleep=clock.sleep,
        log=log.append,
    )
    assert model == "smollm2-135m-instruct"
    assert [r[1] for r in http.requests] == ["http://127.0.0.1:18000/v1/models"] * 3
    assert http.requests[0][3] == {"Authorization": "Bearer k"}
    assert clock.sleeps == [POLL_INTERVAL_S] * 2
    assert log[0] == "waiting for http://127.0.0.1:18000/v1/models: 0 s elapsed, last: 503"
    assert log[1].endswith(f"{POLL_INTERVAL_S:.0f} s elapsed, last: 503")
    assert log[2].startswith("ready after 20 s")


def test_readiness_times_out_with_the_last_status():
    clock, log = FakeClock(), []
    http = FakeHttp({"/v1/models": [ConnectionRefusedError(111, "Connection refused"), (503, "loading")]})
    with pytest.raises(StepFailed) as failure:
        wait_until_ready(
            "http://x", {}, timeout_s=95, http_get=http.get, clock=clock, sleep=clock.sleep, log=log.append
        )
    assert failure.value.step == "wait for the endpoint"
    assert "did not answer 200 within" in failure.value.detail and "(last: 503)" in failure.value.detail
    assert "unreachable" in log[0] and "Connection refused" in log[0]
    assert sum(clock.sleeps) == 95  # bounded: never sleeps past the timeout
    assert len(http.requests) == 11


def test_readiness_stops_at_once_on_a_wrong_api_key():
    clock = FakeClock()
    http = FakeHttp({"/v1/models": [(401, '{"error": {"code": "invalid_api_key"}}')]})
    with pytest.raises(StepFailed, match="API key") as failure:
        wait_until_ready(
            "http://x", {}, timeout_s=600, http_get=http.get, clock=clock, sleep=clock.sleep, log=lambda line: None
        )
    assert failure.value.step == "wait for the endpoint"
    assert clock.sleeps == []


def test_readiness_waits_for_a_listed_model():
    clock = FakeClock()
    http = FakeHttp({"/v1/models": [(200, '{"data": []}'), (200, MODELS)]})
    assert (
        wait_until_ready(
            "http://x", {}, timeout_s=600, http_get=http.get, clock=clock, sleep=clock.sleep, log=lambda line: None
        )
        == "smollm2-135m-instruct"
    )


# --- the completion -------------------------------------------------------------------------------


def ask(http: FakeHttp, clock: FakeClock | None = None, deadline: float = 0.0) -> str:
    clock = clock or FakeClock()
    return complete(
        "http://x",
        "m",
        {"Authorization": "Bearer k"},
        deadline=deadline,
        http_post=http.post,
        clock=clock,
        sleep=clock.sleep,
        log=lambda line: None,
    )


def test_the_completion_sends_one_small_request_and_returns_its_text():
    http = FakeHttp({"/v1/completions": [(200, completion(" there! How can I"))]})
    assert ask(http) == " there! How can I"
    assert http.requests == [
        (
            "POST",
            "http://x/v1/completions",
            {"model": "m", "prompt": "Hello", "max_tokens": 8},
            {"Authorization": "Bearer k"},
        )
    ]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ((200, completion("")), "the completion's text is empty"),
        ((200, '{"choices": []}'), "not a completion"),
        ((200, "<html>"), "not a completion"),
        ((500, '{"error": "boom"}'), "answered 500"),
        (ConnectionResetError(104, "reset"), "no answer"),
    ],
)
def test_a_bad_completion_fails_naming_the_step(answer, detail):
    with pytest.raises(StepFailed, match=detail) as failure:
        ask(FakeHttp({"/v1/completions": [answer]}))
    assert failure.value.step == "completion"
    assert str(failure.value).startswith("completion: ")


def test_the_completion_retries_503_until_the_deadline():
    clock = FakeClock()
    http = FakeHttp({"/v1/completions": [(503, "warming up"), (200, completion("Hi"))]})
    assert ask(http, clock, deadline=clock.now + 60) == "Hi"
    with pytest.raises(StepFailed, match="answered 503"):
        ask(FakeHttp({"/v1/completions": [(503, "warming up")]}), clock, deadline=clock.now + 25)
