"""How recorded inputs and outputs are written: plain JSON-able data with markers for secrets and unknowns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.runtime import rpc

__all__ = ["SECRET", "UNKNOWN", "plain"]

UNKNOWN = "<known after apply>"
"""How a value that only the cloud can compute (in preview) appears in recorded inputs and outputs."""

SECRET = "<secret>"
"""How a secret value appears in recorded inputs and outputs; the plaintext is never recorded."""


def plain(value: Any) -> Any:
    """Return deserialized RPC values as plain JSON-able data with explicit secret/unknown markers."""
    if rpc.is_rpc_secret(value):
        # Keep a secret mapping's keys (a Secret's stringData must stay a map to be a valid object).
        inner = rpc.unwrap_rpc_secret(value)
        return {str(k): SECRET for k in inner} if isinstance(inner, Mapping) else SECRET
    if isinstance(value, pulumi.output.Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if k != "__defaults"}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        # The RPC layer turns every number into a float; Kubernetes schemas want integers back.
        return int(value)
    return value
