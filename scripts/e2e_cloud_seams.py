"""Everything a run of scripts/e2e_cloud.py does outside this process, gathered in :class:`Seams`.

HTTP, the clock, starting kubectl, local ports, the weights push, other commands (docker, the clouds' CLIs), the
offline plan and the log: the real ones are here, and the
unit tests hand the run fakes of them instead, so that the whole sequence runs without a cloud.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

HttpGet = Callable[[str, Mapping[str, str], float], tuple[int, str]]
HttpPost = Callable[[str, Mapping[str, Any], Mapping[str, str], float], tuple[int, str]]
Run = Callable[[list[str], str | None], str]
"""Run a command with this input; return its output; raise when it fails."""


def http_get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
    """Return (status, body); raise OSError when nothing answers."""
    return _send(urllib.request.Request(url, headers=dict(headers)), timeout_s)


def http_post(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
    """POST ``body`` as JSON; return (status, body); raise OSError when nothing answers."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    return _send(request, timeout_s)


def _send(request: urllib.request.Request, timeout_s: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace")


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def push_demo_weights(model_uri: str) -> None:
    """Put the demo model (SmolLM2, from the runtime's package) at ``model_uri``, with its manifest."""
    from shardstack_runtime.demo_model import prepare_demo_model
    from shardstack_runtime.weights.cli import push_checkpoint

    push_checkpoint(str(prepare_demo_model()), model_uri, progress=True)


def run(command: list[str], stdin: str | None) -> str:
    """Run ``command`` with ``stdin``; return its standard output; raise CalledProcessError (with its stderr)."""
    return subprocess.run(command, input=stdin, capture_output=True, text=True, check=True).stdout


def targets_outside_endpoint(stack: str) -> list[str]:
    """A managed stack's URNs outside its endpoint, from the offline plan (see e2e_cloud_managed)."""
    from e2e_cloud_managed import urns_outside_endpoint

    return urns_outside_endpoint(stack)


@dataclass
class Seams:
    """Everything the run does outside this process; the tests replace them."""

    http_get: HttpGet = http_get
    http_post: HttpPost = http_post
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    popen: Callable[..., Any] = subprocess.Popen
    port_open: Callable[[int], bool] = port_open
    free_local_port: Callable[[], int] = free_local_port
    push_weights: Callable[[str], None] = push_demo_weights
    run: Run = run
    targets_outside_endpoint: Callable[[str], list[str]] = targets_outside_endpoint
    log: Callable[[str], None] = print
