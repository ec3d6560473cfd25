"""Recording mocks: every resource gets the outputs its cloud would compute, from that provider's fakes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from shardstack.offline.fakes import fakes_for, stable_hash

__all__ = ["RecordingMocks"]


class RecordingMocks(pulumi_mocks.Mocks):
    """Mocks that give every resource realistic cloud-computed outputs.

    Outputs are the inputs plus what the cloud would add: an id, and per provider an ARN (AWS),
    a self-link (GCP), an ARM id (Azure) or Kubernetes metadata (uid, status). In preview mode
    the added values are left unknown, as ``pulumi preview`` would show them. What each provider
    adds lives in its module under :mod:`shardstack.offline.fakes`, loaded on its first resource.
    """

    def __init__(self, preview: bool = False) -> None:
        self.preview = preview

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        fakes = fakes_for(args.typ)
        inputs = dict(args.inputs)
        if fakes is not None:
            inputs = fakes.shape_inputs(args.typ, inputs)
        resource_id = (
            args.resource_id
            or (fakes.resource_id(args.typ, args.name, inputs) if fakes is not None else None)
            or f"{args.name}-{stable_hash(args.typ, args.name)}"
        )
        computed = fakes.outputs(args.typ, args.name, inputs, resource_id) if fakes is not None else {}
        if self.preview:
            unknown = {k: rpc.UNKNOWN for k in computed if k not in inputs}
            return "", {**inputs, **unknown}
        return resource_id, _deep_merge(inputs, computed)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # The second item lists failed checks; the mock monitor iterates it, so it must be a list, never None.
        fakes = fakes_for(args.token)
        result = fakes.call(args.token, args.args) if fakes is not None else None
        return (result if result is not None else dict(args.args)), []


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with what ``extra`` adds: the inputs win over computed values unless they are unset."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        elif key not in merged or merged[key] is None:
            merged[key] = value
    return merged
