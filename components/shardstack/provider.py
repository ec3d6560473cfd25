"""Shardstack as a Pulumi component package: every public component, for programs in any Pulumi language.

Usage (a TypeScript, Go, C#, Java or YAML program; needs the Pulumi CLI)::

    pulumi package add https://github.com/<you>/shardstack     # reads PulumiPlugin.yaml, generates the SDK

The CLI starts this provider (``PulumiPlugin.yaml`` at the repository root: the Python language host installs the
package and runs ``python -m pulumi.run.plugin shardstack <engine address>``, which runs ``python -m shardstack``,
:mod:`shardstack.__main__`), asks it for its schema, and generates a typed SDK from it; ``pulumi up`` then has it
construct the components, which register their children with the engine exactly as in a Python program.

The schema is inferred from the components' own argument types (their ``TypedDict`` s and docstrings) by Pulumi's
``ComponentProvider``, one cloud's module at a time: its analysis puts every name in one module, and each cloud
has its own ``GpuNodePool``, ``Network``, ``Cluster``, ``WeightStore`` and ``Registry``. Each module's tokens are
then given the module's name, so they are the components' own (``shardstack:aws:GpuNodePool``, the type a
component registers itself with). ``scripts/generate_specs.py`` writes the schema to ``schema.json``. Which
components are offered is :mod:`shardstack.package_components`' list; this module runs in a process of its own
(it loads Pulumi's gRPC protos, see there).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import pulumi
from pulumi.provider import ConstructResult, Provider
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import main as serve

from shardstack.package_components import MODULES, PACKAGE, components

__all__ = ["ShardstackProvider", "main", "schema"]

_ANALYZED = "index"
"""The one module ComponentProvider's analysis puts every token in."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0.0.0"


class ShardstackProvider(Provider):
    """Hosts every module's components: ``Construct`` of ``shardstack:<module>:<Name>`` builds that component."""

    def __init__(self, version: str | None = None) -> None:
        self._version = version or _version()
        super().__init__(self._version, json.dumps(self.schema_document))

    @cached_property
    def hosts(self) -> Mapping[str, ComponentProvider]:
        """One ComponentProvider per module: it maps a Construct's inputs to the component's arguments."""
        return {module: ComponentProvider(components(module), PACKAGE, None, self._version) for module in MODULES}

    @cached_property
    def schema_document(self) -> dict[str, Any]:
        """The package schema: every module's analysis, its tokens renamed from ``index`` to the module."""
        merged: dict[str, Any] = {}
        for module, host in self.hosts.items():
            assert host.schema is not None  # ComponentProvider always infers one
            text = host.schema.replace(f'"{PACKAGE}:{_ANALYZED}:', f'"{PACKAGE}:{module}:')
            text = text.replace(f"#/types/{PACKAGE}:{_ANALYZED}:", f"#/types/{PACKAGE}:{module}:")
            document = json.loads(text)
            if not merged:
                merged = {**document, "resources": {}, "types": {}, "dependencies": []}
            merged["resources"].update(document.get("resources", {}))
            merged["types"].update(document.get("types", {}))
            for dependency in document.get("dependencies") or []:
                if dependency not in merged["dependencies"]:
                    merged["dependencies"].append(dependency)
        if not merged["dependencies"]:
            del merged["dependencies"]
        return merged

    def construct(
        self, name: str, resource_type: str, inputs: pulumi.Inputs, options: pulumi.ResourceOptions | None = None
    ) -> ConstructResult:
        if resource_type not in self.schema_document["resources"]:
            offered = ", ".join(sorted(self.schema_document["resources"]))
            raise ValueError(f"unknown resource type {resource_type!r}; this package offers: {offered}")
        _, module, component = resource_type.split(":")
        spec = self.schema_document["resources"][resource_type]["inputProperties"]
        whole = {key: self._whole_numbers(value, spec.get(key, {})) for key, value in inputs.items()}
        return self.hosts[module].construct(name, f"{PACKAGE}:{_ANALYZED}:{component}", whole, options)

    def _whole_numbers(self, value: Any, spec: Mapping[str, Any]) -> Any:
        """``value`` with every number the schema calls an integer made an ``int``: the wire carries only doubles
        (``shards: 2`` arrives as 2.0), and the components take whole numbers as ints."""
        if "$ref" in spec and isinstance(value, Mapping):
            token = spec["$ref"].removeprefix("#/types/")
            properties = self.schema_document["types"].get(token, {}).get("properties", {})
            return {k: self._whole_numbers(v, properties.get(k, {})) for k, v in value.items()}
        kind = spec.get("type")
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind == "array" and isinstance(value, list):
            return [self._whole_numbers(v, spec.get("items", {})) for v in value]
        if kind == "object" and isinstance(value, Mapping):
            return {k: self._whole_numbers(v, spec.get("additionalProperties", {})) for k, v in value.items()}
        return value


def schema(version: str | None = None) -> str:
    """The package schema as ``schema.json`` holds it: sorted keys, two-space indents, a final newline."""
    return json.dumps(ShardstackProvider(version).schema_document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Serve the provider to the engine at ``sys.argv[1]`` (its address), printing the port as the engine expects."""
    serve(ShardstackProvider(), sys.argv[1:])
