"""Offline plan: run a Pulumi program for one stack under recording mocks and report its graph.

No Pulumi CLI, no credentials, no cloud: ``shardstack plan local`` reads
``stacks/Pulumi.local.yaml``, runs ``infra/`` in-process exactly as ``pulumi preview`` would
(values the cloud computes stay unknown), and returns every resource the program registers.
The engine (mocks, graph, fake cloud outputs) and the report live in :mod:`shardstack.offline`.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shardstack.errors import InputError, did_you_mean
from shardstack.offline.graph import Graph
from shardstack.offline.program import run_program
from shardstack.offline.report import render_plan, write_plan

__all__ = ["Plan", "Project", "find_project", "plan_stack", "render_plan", "write_plan"]


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
                [
                    f"STACK: {stack!r} has no {path.name}; known stacks: {', '.join(known) or 'none'}"
                    f"{did_you_mean(stack, known)}"
                ],
            )
        document = read_yaml(path)
        config = document.get("config") or {}
        if not isinstance(config, Mapping):
            raise InputError(f"cannot read {path}", [f"config: expected a mapping, got {type(config).__name__}"])
        return dict(config)


def read_yaml(path: Path) -> Mapping[str, Any]:
    """The YAML mapping in ``path`` (empty for an empty file); anything else is an InputError saying where."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(f"cannot read {path}", [f"{where}{problem}"]) from None
    except RecursionError:
        raise InputError(f"cannot read {path}", ["it is nested too deeply to be a Pulumi file"]) from None
    if not isinstance(document, Mapping):
        raise InputError(f"cannot read {path}", [f"expected a mapping at the top, got {type(document).__name__}"])
    return document


def find_project(start: Path | None = None) -> Project:
    """Return the Pulumi project at ``start`` or the nearest directory above it with a Pulumi.yaml."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        manifest = directory / "Pulumi.yaml"
        if manifest.is_file():
            document = read_yaml(manifest)
            return Project(
                root=directory,
                name=str(document.get("name", directory.name)),
                main=directory / str(document.get("main", ".")),
                stacks_dir=directory / str(document.get("stackConfigDir", ".")),
            )
    raise InputError(
        "no Pulumi project found",
        [
            f"project directory: no Pulumi.yaml in {here} or any directory above it; "
            "run from the project or pass --project-dir"
        ],
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
