"""No import cycles between the modules of the library, the program, the runtime, the scripts and the tests.

What counts is an import that runs while its module is being imported: at module level, in a class body,
or under a module-level ``if``/``try``/``with``. Those form the graph that must have no cycle: in a cycle,
whichever module is imported first sees the others half-initialised, so ``from x import name`` works or
fails depending on which entry point a user imports first.

Not counted, because they do not run at import time: imports inside a function (they run when it is
called, after the modules involved have loaded), under ``if TYPE_CHECKING:`` (never run), and under
``if __name__ == "__main__":`` (run only once the script's own module has loaded). They are collected
separately, as deferred imports, and shown beside a cycle so that its context is visible.

In the runtime (:data:`LAYERED`), imports inside functions count too: an import moved into a function to
dodge a cycle still leaves two modules that each need the other, and the runtime's modules are layered
instead. Imports of optional third-party backends inside functions (s3fs, gcsfs, adlfs) are not between our
modules, so they never enter the graph.

Modules are named as Python finds them: ``shardstack`` under components/, ``shardstack_runtime`` under
runtime/, ``config`` in infra/ (Pulumi puts the program's directory on sys.path; tests add it too), and a
script or test module by its file name, found first in its own directory (``python scripts/x.py`` and
pytest's "prepend" import mode put that directory on sys.path).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = ("components", "runtime", "infra")
"""Directories on sys.path wherever our code runs: the two packages' parents and the Pulumi program."""
SCANNED = ("components/shardstack", "infra", "runtime/shardstack_runtime", "scripts", "tests")
LAYERED = "runtime/shardstack_runtime"
"""Where imports inside functions count as well: no cycle even when they run."""

When = Literal["import", "call", "guarded"]
"""When an import runs: while its module is imported; when the function holding it is called; or
never on import (under ``if TYPE_CHECKING:`` or ``if __name__ == "__main__":``)."""


@dataclass(frozen=True)
class Import:
    """One import of one of our modules by another, and whether it runs when the importer is imported."""

    importer: Path
    imported: Path
    line: int
    when: When

    @property
    def at_import_time(self) -> bool:
        return self.when == "import"


@dataclass
class ImportGraph:
    """Every import between the scanned modules, split into import-time and deferred ones."""

    root: Path
    modules: list[Path] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)

    def edges(self, *, counted: tuple[When, ...]) -> dict[Path, set[Path]]:
        graph: dict[Path, set[Path]] = {module: set() for module in self.modules}
        for imp in self.imports:
            if imp.when in counted:
                graph[imp.importer].add(imp.imported)
                graph.setdefault(imp.imported, set())  # a file beside the scanned ones, e.g. in a package root
        return graph

    def cycles(self, *, with_calls: bool = False, under: Path | None = None) -> list[list[Path]]:
        """The strongly connected components of more than one module in the import-time graph.

        ``with_calls`` adds the imports inside functions; ``under`` keeps only the modules below it.
        """
        graph = self.edges(counted=("import", "call") if with_calls else ("import",))
        if under is not None:
            graph = {m: {i for i in imported if i.is_relative_to(under)} for m, imported in graph.items()}
            graph = {m: imported for m, imported in graph.items() if m.is_relative_to(under)}
        return [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]

    def describe(self, cycle: list[Path], *, with_calls: bool = False) -> str:
        members = set(cycle)
        lines = [f"import cycle through {len(cycle)} modules:"]
        for imp in sorted(self.imports, key=lambda i: (i.importer, i.line)):
            if imp.importer in members and imp.imported in members:
                if imp.when == "import":
                    when = ""
                elif imp.when == "call" and with_calls:
                    when = "  (inside a function)"
                else:
                    when = "  (deferred: not part of the cycle)"
                lines.append(f"  {self._name(imp.importer)}:{imp.line} imports {self._name(imp.imported)}{when}")
        return "\n".join(lines)

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def build_import_graph(root: Path, scanned: tuple[str, ...], package_roots: tuple[str, ...]) -> ImportGraph:
    """Parse every ``.py`` file under ``root/<scanned>`` and resolve its imports to files of the same tree."""
    graph = ImportGraph(root)
    graph.modules = sorted({p for top in scanned for p in (root / top).rglob("*.py") if "__pycache__" not in p.parts})
    resolver = _Resolver(root, [root / r for r in package_roots])
    for module in graph.modules:
        tree = ast.parse(module.read_text(), filename=str(module))
        for node, when in _imports(tree.body, when="import"):
            for imported in resolver.targets(module, node):
                if imported != module:
                    graph.imports.append(Import(module, imported, node.lineno, when))
    return graph


def _imports(body: list[ast.stmt], *, when: When) -> Iterator[tuple[ast.Import | ast.ImportFrom, When]]:
    """Each import statement in ``body``, nested ones included, with when it runs."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, when
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _imports(node.body, when="call" if when == "import" else when)
        elif isinstance(node, ast.If) and _never_runs_on_import(node.test):
            yield from _imports(node.body, when="guarded")
            yield from _imports(node.orelse, when=when)
        else:
            for child in ast.iter_child_nodes(node):  # class bodies, if/else, try/except/finally, with, loops
                if isinstance(child, ast.stmt):
                    yield from _imports([child], when=when)
                elif isinstance(child, ast.ExceptHandler | ast.match_case):
                    yield from _imports(child.body, when=when)


def _never_runs_on_import(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` / ``typing.TYPE_CHECKING``, or ``__name__ == "__main__"``."""
    if isinstance(test, ast.Name | ast.Attribute):
        return (test.id if isinstance(test, ast.Name) else test.attr) == "TYPE_CHECKING"
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


class _Resolver:
    """Finds the files an import statement loads, the way Python's path search would."""

    def __init__(self, root: Path, package_roots: list[Path]) -> None:
        self.root = root
        self.package_roots = package_roots

    def targets(self, module: Path, node: ast.Import | ast.ImportFrom) -> set[Path]:
        search = self._search_path(module)
        own = self._dotted(module, search)
        parts = own.split(".")
        # The packages the importer sits in are mid-import whenever it runs: naming them again loads nothing.
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + (module.name == "__init__.py"))}
        found: set[Path] = set()
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= self._with_parents(alias.name, search, ancestors)
            return found
        base = self._absolute(node, own, module)
        found |= self._with_parents(base, search, ancestors)
        for alias in node.names:
            submodule = self._find(f"{base}.{alias.name}", search)
            if submodule is not None:
                found.add(submodule)
            elif (package := self._find(base, search)) is not None:
                found.add(package)  # a name defined by the package itself: its __init__ must have run that far
        return found

    def _search_path(self, module: Path) -> list[Path]:
        in_package = any(module.is_relative_to(r) and module.parent != r for r in self.package_roots)
        return self.package_roots if in_package else [module.parent, *self.package_roots]

    def _dotted(self, module: Path, search: list[Path]) -> str:
        root = next(r for r in search if module.is_relative_to(r))
        parts = list(module.relative_to(root).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    @staticmethod
    def _absolute(node: ast.ImportFrom, own: str, module: Path) -> str:
        if node.level == 0:
            return node.module or ""
        package = own.split(".") if module.name == "__init__.py" else own.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)

    def _with_parents(self, dotted: str, search: list[Path], ancestors: set[str]) -> set[Path]:
        """``import a.b.c`` runs a, a.b and a.b.c, except the packages the importer already sits in."""
        parts = dotted.split(".")
        names = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return {path for name in names if name not in ancestors and (path := self._find(name, search)) is not None}

    @staticmethod
    def _find(dotted: str, search: list[Path]) -> Path | None:
        top = dotted.split(".")[0]
        for root in search:
            if (root / f"{top}.py").is_file() or (root / top).is_dir():
                base = root.joinpath(*dotted.split("."))
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.is_file():
                        return candidate
                return None
        return None


def _strongly_connected(graph: dict[Path, set[Path]]) -> list[set[Path]]:
    """Tarjan's algorithm, iterative (no recursion limit on long import chains)."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on_stack: set[Path] = set()
    components: list[set[Path]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[Path] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_no_module_imports_itself_back_at_import_time() -> None:
    graph = build_import_graph(REPO, SCANNED, PACKAGE_ROOTS)
    cycles = graph.cycles()
    if cycles:
        pytest.fail("\n\n".join(graph.describe(cycle) for cycle in cycles), pytrace=False)


def test_no_runtime_module_imports_itself_back_even_from_inside_a_function() -> None:
    graph = build_import_graph(REPO, SCANNED, PACKAGE_ROOTS)
    cycles = graph.cycles(with_calls=True, under=REPO / LAYERED)
    if cycles:
        pytest.fail("\n\n".join(graph.describe(cycle, with_calls=True) for cycle in cycles), pytrace=False)


def test_the_checker_finds_a_cycle_and_leaves_out_imports_that_do_not_run_on_import(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "pkg"
    package.mkdir(parents=True)
    files = {
        "__init__.py": "from .a import A\n",
        "a.py": "from __future__ import annotations\nfrom typing import TYPE_CHECKING\nfrom . import b\n"
        "if TYPE_CHECKING:\n    from .c import C\nclass A: ...\n",
        "b.py": "import pkg.util\n\ndef late():\n    from pkg.a import A\n    return A\n",
        "c.py": "from pkg import A\nclass C: ...\n",
        "util.py": "try:\n    from .c import C\nexcept ImportError:\n    C = None\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "tool.py").write_text("import helper\n")
    (tmp_path / "scripts" / "helper.py").write_text("if __name__ == '__main__':\n    import tool\n")

    graph = build_import_graph(tmp_path, ("lib/pkg", "scripts"), ("lib",))

    # pkg/__init__ -> a -> b -> util -> c -> pkg/__init__ (a name of the package): one cycle of five.
    assert [[p.relative_to(tmp_path).as_posix() for p in cycle] for cycle in graph.cycles()] == [
        ["lib/pkg/__init__.py", "lib/pkg/a.py", "lib/pkg/b.py", "lib/pkg/c.py", "lib/pkg/util.py"]
    ]
    deferred = {(i.importer.name, i.imported.name) for i in graph.imports if not i.at_import_time}
    assert deferred == {("a.py", "c.py"), ("b.py", "a.py"), ("helper.py", "tool.py")}
    assert "lib/pkg/b.py:1 imports lib/pkg/util.py" in graph.describe(graph.cycles()[0])


def test_the_checker_counts_imports_inside_functions_when_asked_and_never_type_checking_ones(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "pkg"
    package.mkdir(parents=True)
    files = {
        "__init__.py": "",
        "low.py": "def build():\n    from .high import High\n    return High()\n",
        "high.py": "from typing import TYPE_CHECKING\nfrom .low import build\n"
        "if TYPE_CHECKING:\n    from .hints import Hint\nclass High: ...\n",
        "hints.py": "from .high import High\nHint = High\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "tool.py").write_text("def run():\n    import helper\n")
    (tmp_path / "scripts" / "helper.py").write_text("import tool\n")

    graph = build_import_graph(tmp_path, ("lib/pkg", "scripts"), ("lib",))

    assert graph.cycles() == []
    found = graph.cycles(with_calls=True)
    assert [[p.relative_to(tmp_path).as_posix() for p in cycle] for cycle in found] == [
        ["lib/pkg/high.py", "lib/pkg/low.py"],
        ["scripts/helper.py", "scripts/tool.py"],
    ]
    assert graph.cycles(with_calls=True, under=tmp_path / "lib") == [found[0]]
    assert "lib/pkg/low.py:2 imports lib/pkg/high.py  (inside a function)" in graph.describe(found[0], with_calls=True)
