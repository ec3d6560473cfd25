"""Which components the multi-language component package offers (served by :mod:`shardstack.provider`).

Kept apart from the provider: the provider loads Pulumi's gRPC protos, which clash with googleapis' copies of
``google.rpc.Status`` in a process that already imported a Google client library, so it runs in a process of its
own; this list is read anywhere.
"""

from __future__ import annotations

import importlib
import inspect

import pulumi

__all__ = ["MODULES", "PACKAGE", "components"]

PACKAGE = "shardstack"
"""The package name: every type token starts with it."""

MODULES = ("aws", "gcp", "azure", "k8s")
"""The modules whose public components (``shardstack.<module>.__all__``) the package offers, by token module."""


def components(module: str) -> list[type[pulumi.ComponentResource]]:
    """The public components of ``shardstack.<module>``: the ComponentResource classes it exports."""
    package = importlib.import_module(f"{PACKAGE}.{module}")
    exported = (getattr(package, name) for name in package.__all__)
    return [c for c in exported if inspect.isclass(c) and issubclass(c, pulumi.ComponentResource)]
