"""Packages whose public names load their modules on first use.

A cloud package (``shardstack.aws``) re-exports its components for ``from shardstack.aws import Cluster``,
but importing them all at once would load the cloud's SDK for anyone who only needs one module, e.g. its
specs. The package lists its exports once, as imports under ``if TYPE_CHECKING:`` (what type checkers
and IDEs read); :func:`module_getattr` reads that block and imports each name's module when it is first
asked for.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any


@cache
def exports(init_file: str) -> dict[str, str]:
    """Return ``{name: module}`` for every import in the ``if TYPE_CHECKING:`` block of a package's __init__."""
    tree = ast.parse(Path(init_file).read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    found.update({alias.asname or alias.name: statement.module for alias in statement.names})
    return found


def module_getattr(package: str, init_file: str) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports each exported name from its module when first used."""

    def __getattr__(name: str) -> Any:
        module = exports(init_file).get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
