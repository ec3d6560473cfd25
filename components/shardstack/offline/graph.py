"""The resource graph one program run registered: what a test or a plan report reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Graph", "Resource"]


@dataclass
class Resource:
    """One registered resource (custom or component) as the engine would have seen it."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    provider: str | None
    custom: bool
    id: str | None = None
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    """Input paths an update leaves alone (a field another controller owns)."""


@dataclass
class Graph:
    """The resources one program run registered, in registration order, plus the stack outputs."""

    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, type_token: str) -> list[Resource]:
        """Return every resource of the given type token, e.g. ``kubernetes:apps/v1:StatefulSet``."""
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Resource:
        """Return the single resource of a type (and Pulumi name); fail listing what is there otherwise."""
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            have = sorted(r.name for r in self.of_type(type_token))
            raise AssertionError(
                f"expected exactly one {type_token}{f' named {name!r}' if name else ''}, "
                f"found {len(found)}; resources of that type: {have}"
            )
        return found[0]

    def named(self, name: str) -> Resource:
        """Return the resource with this Pulumi name (names are unique within a type, usually overall)."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected exactly one resource named {name!r}, found {len(found)}")
        return found[0]

    def children(self, resource: Resource) -> list[Resource]:
        """Return the resources whose parent is ``resource``."""
        return [r for r in self.resources if r.parent == resource.urn]

    def descendants(self, resource: Resource) -> list[Resource]:
        """Return every resource below ``resource`` in the parent tree."""
        out: list[Resource] = []
        for child in self.children(resource):
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def roots(self) -> list[Resource]:
        """Return the resources with no parent other than the stack."""
        urns = {r.urn for r in self.resources}
        return [r for r in self.resources if r.parent is None or r.parent not in urns]

    def count_by_type(self) -> dict[str, int]:
        """Return ``{type token: count}`` over custom resources (components excluded), sorted by type."""
        counts = Counter(r.type for r in self.resources if r.custom)
        return dict(sorted(counts.items()))

    def k8s_objects(self) -> list[dict[str, Any]]:
        """Return every Kubernetes object as a manifest (apiVersion, kind, metadata, ...).

        Providers and Pulumi-side helpers (charts, YAML groups) are not objects and are left out.
        """
        objects = []
        for r in self.resources:
            if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs:
                objects.append({k: v for k, v in r.inputs.items() if k != "__defaults"})
        return objects

    def to_json(self, stack: str) -> dict[str, Any]:
        """Return the JSON document ``shardstack plan --out`` writes as graph.json."""
        return {
            "stack": stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "custom": r.custom,
                    "provider": r.provider,
                    "dependencies": r.dependencies,
                    "inputs": r.inputs,
                    "outputs": r.outputs,
                }
                for r in self.resources
            ],
            "outputs": self.outputs,
        }
