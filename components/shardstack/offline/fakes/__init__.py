"""What each cloud computes for its resources, faked: one module per Pulumi provider package.

``PROVIDERS`` declares, once, which type-token prefixes and which Python SDK packages each fake
module covers and which stacks' cloud uses them. The recording mocks read it to send a resource to its
module, importing that module only when the first resource of its provider registers; the import
check and ``scripts/bench_plan.py`` read it to know which SDKs a stack of each cloud may load.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["PROVIDERS", "FakedProvider", "ProviderFakes", "fakes_for", "provider_of", "sdk_packages", "stable_hash"]


@dataclass(frozen=True)
class FakedProvider:
    """One Pulumi provider package as the offline engine knows it."""

    type_prefixes: tuple[str, ...]
    """Type tokens (and function tokens) of its resources start with one of these, e.g. ``aws:``."""
    sdk_packages: tuple[str, ...]
    """The Python SDK packages a program imports to use it, e.g. ``pulumi_aws``."""
    module: str | None
    """The module under ``shardstack.offline.fakes`` that fakes its outputs; None when its resources
    compute nothing beyond their inputs."""
    cloud: str | None
    """The stack cloud (``shardstack:cloud``) whose installations use it; None: stacks of every cloud."""


PROVIDERS: tuple[FakedProvider, ...] = (
    FakedProvider(type_prefixes=("kubernetes:",), sdk_packages=("pulumi_kubernetes",), module="kubernetes", cloud=None),
    FakedProvider(type_prefixes=("random:",), sdk_packages=("pulumi_random",), module="random", cloud=None),
    FakedProvider(type_prefixes=("aws:",), sdk_packages=("pulumi_aws",), module="aws", cloud="aws"),
    FakedProvider(type_prefixes=("gcp:",), sdk_packages=("pulumi_gcp",), module="gcp", cloud="gcp"),
    FakedProvider(
        type_prefixes=("azure-native:",), sdk_packages=("pulumi_azure_native",), module="azure", cloud="azure"
    ),
    # pulumiverse-time's Sleep only waits (the AKS provider waits for its role assignments to propagate).
    FakedProvider(type_prefixes=("time:",), sdk_packages=("pulumiverse_time",), module=None, cloud="azure"),
)


class ProviderFakes:
    """What a provider adds to a resource's inputs on create; each fake module overrides what its cloud adds."""

    def shape_inputs(self, type_token: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Return the inputs in the shape the provider returns them in (most return them as given)."""
        return inputs

    def resource_id(self, type_token: str, name: str, inputs: Mapping[str, Any]) -> str | None:
        """Return the id the cloud gives the resource; None: a stable id made from its type and name."""
        return None

    def outputs(self, type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        """Return what the cloud computes on create (ARNs, endpoints, ...), merged under the inputs."""
        return {}

    def call(self, token: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the result of a provider function (``aws:index/getRegion:getRegion``); None: echo the args."""
        return None


def provider_of(token: str) -> FakedProvider | None:
    """Return the declared provider of a resource type or function token, or None for any other."""
    return _by_prefix().get(token.split(":", 1)[0] + ":")


def fakes_for(token: str) -> ProviderFakes | None:
    """Return the fakes of a token's provider, importing its module on first use; None if it has none."""
    provider = provider_of(token)
    return _load(provider.module) if provider is not None and provider.module is not None else None


def sdk_packages(cloud: str) -> set[str]:
    """Return the SDK packages a plan of a stack of ``cloud`` (``local``, ``aws``, ...) may import."""
    return {package for p in PROVIDERS if p.cloud in (None, cloud) for package in p.sdk_packages}


def stable_hash(*parts: str) -> str:
    """Return 8 hex digits derived from ``parts``: ids and names that stay the same on every run."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


@cache
def _by_prefix() -> dict[str, FakedProvider]:
    return {prefix: p for p in PROVIDERS for prefix in p.type_prefixes}


@cache
def _load(module: str) -> ProviderFakes:
    fakes = importlib.import_module(f"{__name__}.{module}").FAKES
    if not isinstance(fakes, ProviderFakes):
        raise TypeError(f"{__name__}.{module}.FAKES is a {type(fakes).__name__}, not ProviderFakes")
    return fakes
