"""What the scripts/e2e_cloud.py tests run against instead of a cloud: fake HTTP answers, clock, stack and
kubectl process, and the Seams that hand them to the run."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# scripts/ is not a package: `python scripts/e2e_cloud.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from e2e_cloud_seams import Seams  # noqa: E402

MODELS = json.dumps({"object": "list", "data": [{"id": "smollm2-135m-instruct", "object": "model"}]})


def completion(text: str) -> str:
    return json.dumps({"object": "text_completion", "choices": [{"index": 0, "text": text}]})


class FakeClock:
    """time.monotonic and time.sleep together: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeHttp:
    """Answers each URL from a script of (status, body) pairs or exceptions; the last one repeats."""

    def __init__(self, answers: dict[str, list]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Mapping[str, Any] | None, dict[str, str]]] = []

    def _answer(self, url: str):
        path = url.split("127.0.0.1", 1)[-1] if "127.0.0.1" in url else url
        key = next(k for k in self.answers if path.endswith(k))
        script = self.answers[key]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get(self, url, headers, timeout_s):
        self.requests.append(("GET", url, None, dict(headers)))
        return self._answer(url)

    def post(self, url, body, headers, timeout_s):
        self.requests.append(("POST", url, body, dict(headers)))
        return self._answer(url)


class FakeStack:
    def __init__(
        self, outputs: dict, *, up_error: Exception | None = None, destroy_error: Exception | None = None
    ) -> None:
        self.outputs, self.up_error, self.destroy_error = outputs, up_error, destroy_error
        self.calls: list[str] = []

    def up(self, on_output, target=None):
        self.calls.append("up" if target is None else f"up {len(target)} targets")
        on_output("Resources: + 12 to create")
        if self.up_error:
            raise self.up_error
        return SimpleNamespace(outputs={k: SimpleNamespace(value=v, secret=False) for k, v in self.outputs.items()})

    def destroy(self, on_output):
        self.calls.append("destroy")
        if self.destroy_error:
            raise self.destroy_error


class FakeProcess:
    def __init__(self, command: list[str], exit_code: int | None = None) -> None:
        self.command, self.returncode, self.terminated = command, exit_code, False

    def poll(self):
        return self.returncode

    def terminate(self):
        self.terminated, self.returncode = True, -15

    def wait(self, timeout=None):
        return self.returncode


def make_seams(
    http: FakeHttp, clock: FakeClock, log: list[str], popen=None, push_weights=None, run=None, targets=None
) -> Seams:
    def no_popen(*args, **kwargs):
        raise AssertionError("no kubectl expected")

    def no_push(uri):
        raise AssertionError(f"no weights push expected (to {uri})")

    def no_run(command, stdin):
        raise AssertionError(f"no command expected ({command})")

    return Seams(
        http_get=http.get,
        http_post=http.post,
        clock=clock,
        sleep=clock.sleep,
        popen=popen or no_popen,
        port_open=lambda port: True,
        free_local_port=lambda: 18000,
        push_weights=push_weights or no_push,
        run=run or no_run,
        targets_outside_endpoint=targets or (lambda stack: []),
        log=log.append,
    )


def public_outputs(**extra) -> dict:
    return {"endpoint": "http://a1b2.elb.amazonaws.com:8000", **extra}
