"""The plan report: a planned stack's resource tree, counts and outputs, and its files on disk."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from shardstack.offline.graph import Graph, Resource
from shardstack.offline.values import SECRET, UNKNOWN

__all__ = ["PlannedStack", "render_plan", "write_plan"]

# Inputs worth a glance in the resource tree, in the order they are shown (first match wins per key).
KEY_INPUTS = (
    "replicas",
    "image",
    "type",
    "instanceTypes",
    "machineType",
    "vmSize",
    "scalingConfig",
    "nodeCount",
    "bucket",
    "location",
    "context",
)


class PlannedStack(Protocol):
    """A stack's name and the graph its program registered (:class:`shardstack.plan.Plan` is one)."""

    @property
    def stack(self) -> str: ...

    @property
    def graph(self) -> Graph: ...


def _brief(resource: Resource) -> str:
    """One line of the inputs a reader checks first for this resource."""
    inputs = resource.inputs
    parts: list[str] = []
    meta = inputs.get("metadata")
    if isinstance(meta, Mapping) and meta.get("name"):
        namespace = meta.get("namespace")
        parts.append(f"{namespace}/{meta['name']}" if namespace else str(meta["name"]))
    spec = inputs.get("spec")
    sources = [inputs, spec] if isinstance(spec, Mapping) else [inputs]
    for key in KEY_INPUTS:
        for source in sources:
            if key in source and source[key] not in (None, "", [], {}):
                value = source[key]
                text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                parts.append(f"{key}={text}")
                break
    return "  ".join(parts)


def render_plan(plan: PlannedStack) -> str:
    """Return the human report: the resource tree, counts per type and the stack outputs."""
    graph = plan.graph
    lines = [f"Stack {plan.stack!r}: {sum(graph.count_by_type().values())} resources"]

    def walk(resource: Resource, depth: int) -> None:
        brief = _brief(resource)
        lines.append(f"{'  ' * depth}- {resource.type}  {resource.name}{'  ' + brief if brief else ''}")
        for child in graph.children(resource):
            walk(child, depth + 1)

    lines.append("")
    lines.append("Resources:")
    for root in graph.roots():
        walk(root, 1)
    lines.append("")
    lines.append("Counts per type:")
    width = max((len(t) for t in graph.count_by_type()), default=0)
    lines.extend(f"  {t.ljust(width)}  {n}" for t, n in graph.count_by_type().items())
    if graph.outputs:
        lines.append("")
        lines.append("Outputs:")
        for key, value in graph.outputs.items():
            if not isinstance(value, Mapping | list):
                lines.append(f"  {key}: {value}")
            else:
                text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
                lines.append(f"  {key}:")
                lines.extend(f"    {line}" for line in text.splitlines())
    return "\n".join(lines)


def _manifest_file_name(index: int, manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    parts = [str(manifest.get("kind", "object")), str(meta.get("namespace", "")), str(meta.get("name", ""))]
    slug = "-".join(re.sub(r"[^A-Za-z0-9.]+", "_", p) for p in parts if p)
    return f"{index:03d}-{slug}.yaml"


def _writable(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest with an opaque Secret payload written as a map, as the schema requires.

    The Kubernetes SDK wraps a Secret's whole ``data``/``stringData`` in one secret value; when any
    part of it is only known after apply (generated credentials), even its keys are unknown.
    """
    if manifest.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if manifest.get(key) in (SECRET, UNKNOWN):
                manifest = {**manifest, key: {"known-after-apply": SECRET}}
    return manifest


def write_plan(plan: PlannedStack, out_dir: Path) -> list[Path]:
    """Write ``graph.json`` and one YAML file per Kubernetes object under ``manifests/``.

    Values only the cloud can compute are written as ``<known after apply>``, secrets as
    ``<secret>``. Returns the manifest paths. Stale manifests from an earlier run are removed,
    so the directory always mirrors this plan.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "graph.json").write_text(json.dumps(plan.graph.to_json(plan.stack), indent=2) + "\n")
    manifests_dir = out_dir / "manifests"
    manifests_dir.mkdir(exist_ok=True)
    for stale in manifests_dir.glob("*.yaml"):
        stale.unlink()
    paths = []
    for index, manifest in enumerate(plan.graph.k8s_objects(), start=1):
        path = manifests_dir / _manifest_file_name(index, manifest)
        path.write_text(yaml.safe_dump(_writable(manifest), sort_keys=False))
        paths.append(path)
    return paths
