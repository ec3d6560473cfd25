"""Run a Pulumi program in-process under recording mocks: its graph, or the input error it refused with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.sync_await import _sync_await

from shardstack.errors import InputError
from shardstack.offline.graph import Graph
from shardstack.offline.mocks import RecordingMocks
from shardstack.offline.monitor import RecordingMonitor
from shardstack.offline.values import SECRET, UNKNOWN, plain

__all__ = ["run_program", "run_refused"]

InputErrorT = TypeVar("InputErrorT", bound=InputError)


def _stack_config(config: Mapping[str, Any], project: str) -> tuple[dict[str, str], list[str]]:
    """Return Pulumi's flat config (``ns:key`` → string, JSON for structured values) and its secret keys."""
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            # A Pulumi-encrypted value: planning has no passphrase, so it stays an opaque secret.
            secret_keys.append(full_key)
            value = SECRET
        flat[full_key] = value if isinstance(value, str) else json.dumps(value)
    return flat, secret_keys


def run_program(
    program: Callable[[], Any],
    config: Mapping[str, Any] | None = None,
    *,
    project: str = "shardstack",
    stack: str = "test",
    preview: bool = False,
    secret_keys: list[str] | None = None,
) -> Graph:
    """Run ``program`` under recording mocks and return every resource it registered.

    ``config`` is the stack's ``config:`` mapping as written in ``Pulumi.<stack>.yaml``: keys are
    ``namespace:key`` (a bare key gets the project's namespace) and values plain or structured.
    Each call starts from a fresh event loop, fresh global config and a fresh root stack, so
    runs never see each other's state. An exception raised by the program propagates unchanged.
    """
    flat, encrypted_keys = _stack_config(config or {}, project)
    pulumi.runtime.set_all_config(flat, [*encrypted_keys, *(secret_keys or [])])

    # Pulumi keeps its event loop and root stack resource in globals; a previous run
    # (or an asyncio test) may have closed the loop or left its stack behind.
    asyncio.set_event_loop(asyncio.new_event_loop())
    settings.ROOT.set(None)

    mocks = RecordingMocks(preview=preview)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)

    graph = Graph(resources=monitor.recorded)
    try:
        # run_pulumi_func returns once every registration has finished, as the engine would see it.
        _sync_await(pulumi.runtime.stack.run_pulumi_func(lambda: _run_sync(program)))
        root = settings.get_root_resource()
        for key, value in (getattr(root, "outputs", None) or {}).items():
            graph.outputs[key] = _sync_await(_resolve(value))
    finally:
        pulumi.runtime.set_all_config({}, [])
    return graph


def run_refused(program: Callable[[], Any], error: type[InputErrorT]) -> InputErrorT:
    """Run ``program`` expecting it to refuse its input with ``error`` before registering anything.

    Returns the error, so that a test can assert on its problems::

        error = run_refused(lambda: ShardedInference("llm", {"shards": 0}), ArgumentError)
        assert "shards" in error.problems[0]
    """
    raised: list[InputErrorT] = []

    def guarded() -> None:
        try:
            program()
        except error as refused:
            raised.append(refused)

    graph = run_program(guarded)
    if not raised:
        raise AssertionError(f"expected the program to raise {error.__name__}; it registered {len(graph)} resources")
    if len(graph):
        raise AssertionError(f"the program raised {error.__name__} after registering {[r.name for r in graph]}")
    return raised[0]


def _run_sync(program: Callable[[], Any]) -> None:
    # Programs return nothing; older SDKs call this without awaiting, so it must not be a coroutine.
    program()


async def _resolve(value: Any) -> Any:
    """Resolve an exported value to plain data, keeping secret and unknown markers."""
    output = pulumi.Output.from_input(value)
    if not await output.is_known():
        return UNKNOWN
    resolved = await output.future(with_unknowns=True)
    if await output.is_secret():
        return SECRET
    return plain(resolved)
