"""The recording monitor: the whole graph a program registers, parents, dependencies and providers included."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from shardstack.offline.graph import Resource
from shardstack.offline.mocks import RecordingMocks
from shardstack.offline.values import plain

__all__ = ["RecordingMonitor"]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps the whole graph: parents, dependencies and providers included.

    ``MockResourceArgs`` carries no parent, so the recording happens at the monitor.
    """

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Resource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        outputs = rpc.deserialize_properties(response.object, keep_unknowns=True)
        self.recorded.append(
            Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=_parent_urn(request.parent),
                inputs=plain(inputs),
                outputs=plain(outputs),
                dependencies=list(request.dependencies),
                provider=request.provider or None,
                custom=bool(request.custom),
                id=response.id or None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
            )
        )
        return response


def _parent_urn(parent: str) -> str | None:
    # Resources at the top of the program hang off the implicit Stack; report them as roots.
    if not parent or parent.split("::")[-2].endswith("pulumi:pulumi:Stack"):
        return None
    return parent
