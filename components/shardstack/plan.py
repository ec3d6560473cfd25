"""Offline plan: run a Pulumi program for one stack under recording mocks and report its graph.

No Pulumi CLI, no credentials, no cloud: ``shardstack plan local`` reads
``stacks/Pulumi.local.yaml``, runs ``infra/`` in-process exactly as ``pulumi preview`` would
(values the cloud computes stay unknown), and returns every resource the program registers.
"""

from __future__ import annotations

import json
import re
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shardstack.errors import InputError, did_you_mean
from shardstack.testing import SECRET, UNKNOWN, Graph, Resource, run_program

__all__ = ["Plan", "Project", "find_project", "plan_stack", "render_plan", "write_plan"]

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


@dataclass(frozen=True)
class Project:
    """A Pulumi project on disk: its name, program directory and stack config directory."""

    root: Path
    name: str
    main: Path
    stacks_dir: Path

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        """Return the names of the stacks that have a config file, sorted."""
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stacks_dir.glob("Pulumi.*.yaml"))

    def stack_config(self, stack: str) -> dict[str, Any]:
        """Return the ``config:`` mapping of ``Pulumi.<stack>.yaml``; unknown stacks name the known ones."""
        path = self.stack_file(stack)
        if not path.is_file():
            known = self.stacks()
            raise InputError(
                f"no stack {stack!r} in {self.stacks_dir}",
                [f"STACK: {stack!r} has no {path.name}; known stacks: {', '.join(known) or 'none'}"
                 f"{did_you_mean(stack, known)}"],
            )
        document = yaml.safe_load(path.read_text()) or {}
        config = document.get("config") or {}
        if not isinstance(config, Mapping):
            raise InputError(f"cannot read {path}", [f"config: expected a mapping, got {type(config).__name__}"])
        return dict(config)


def find_project(start: Path | None = None) -> Project:
    """Return the Pulumi project at ``start`` or the nearest directory above it with a Pulumi.yaml."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        manifest = directory / "Pulumi.yaml"
        if manifest.is_file():
            document = yaml.safe_load(manifest.read_text()) or {}
            return Project(
                root=directory,
                name=str(document.get("name", directory.name)),
                main=directory / str(document.get("main", ".")),
                stacks_dir=directory / str(document.get("stackConfigDir", ".")),
            )
    raise InputError(
        "no Pulumi project found",
        [f"project directory: no Pulumi.yaml in {here} or any directory above it; "
         "run from the project or pass --project-dir"],
    )


@dataclass
class Plan:
    """The outcome of planning one stack offline."""

    stack: str
    project: Project
    graph: Graph


def plan_stack(stack: str, project_dir: Path | None = None, *, preview: bool = True) -> Plan:
    """Run the project's program for ``stack`` under recording mocks, in preview mode.

    ``preview=False`` runs it as `pulumi up` would: what the cloud computes (ARNs, resource IDs) takes the
    mocks' values instead of staying unknown, so that documents built from them can be read.

    Raises :class:`pulumi.RunError` with the program's own message when the program refuses
    its configuration, and :class:`~shardstack.errors.InputError` when the stack is unknown.
    """
    project = find_project(project_dir)
    config = project.stack_config(stack)
    main = str(project.main)

    def program() -> None:
        # Pulumi runs the program with its own directory importable (infra/config.py is `import config`).
        sys.path.insert(0, main)
        try:
            runpy.run_path(main, run_name="__main__")
        finally:
            sys.path.remove(main)

    graph = run_program(program, config, project=project.name, stack=stack, preview=preview)
    return Plan(stack=stack, project=project, graph=graph)


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


def render_plan(plan: Plan) -> str:
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


def write_plan(plan: Plan, out_dir: Path) -> list[Path]:
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
