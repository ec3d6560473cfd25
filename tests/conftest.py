"""Shared fixtures (the repository root, a scratch Pulumi project that reuses infra/) and the fast tier.

``pytest --fast`` (``scripts/test --fast``) runs only the directories in :data:`FAST_TIER`.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

FAST_TIER = ("unit", "contract", "plan")
"""The directories under tests/ that ``--fast`` runs: in one process, under mocks, with no server, emulator or
scanner. tests/runtime (real processes, servers and emulators), tests/k8s (checkov, trivy), tests/static
(lint, format, types, packaging) and tests/cloud_apis (cloud API fakes served as processes) run in the full suite
only; so does any new directory until it is listed here."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help=f"run the fast tier only: tests/{{{','.join(FAST_TIER)}}} (no servers, emulators or scans)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Ignored rather than deselected: the full tier's modules and conftests (torch, transformers) are not
    # even imported.
    if not config.getoption("fast") or not collection_path.is_relative_to(TESTS):
        return None
    parts = collection_path.relative_to(TESTS).parts
    if parts and (TESTS / parts[0]).is_dir() and parts[0] not in FAST_TIER:
        return True
    return None


_LISTEN_PATCH = pytest.StashKey[pytest.MonkeyPatch]()


def _refuse_to_listen(sock: socket.socket, *args: Any) -> None:
    raise RuntimeError("this test starts a server, which the fast tier does not run: move it to tests/runtime")


def pytest_configure(config: pytest.Config) -> None:
    # A server started in the test process fails here instead of slowing the fast tier down.
    if config.getoption("fast"):
        config.stash[_LISTEN_PATCH] = patch = pytest.MonkeyPatch()
        patch.setattr(socket.socket, "listen", _refuse_to_listen)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _LISTEN_PATCH in config.stash:
        config.stash[_LISTEN_PATCH].undo()


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def scratch_project(tmp_path: Path):
    """Return a function that writes ``stacks/Pulumi.<stack>.yaml`` into a project running the real infra/."""
    (tmp_path / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {"name": "shardstack", "runtime": "python", "main": str(REPO / "infra"), "stackConfigDir": "stacks"}
        )
    )
    (tmp_path / "stacks").mkdir()

    def write(stack: str, config: dict) -> Path:
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
        return tmp_path

    return write


@pytest.fixture(scope="session")
def template_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every template of templates/ made into a project and planned against the built wheel: each plan's --out
    directory (graph.json, manifests/), by template name."""
    from template_projects import TEMPLATES, install_wheel, new_project, plan

    workdir = tmp_path_factory.mktemp("templates")
    site = install_wheel(workdir)
    plans = {}
    for template in sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()):
        out = workdir / f"{template}-plan"
        plan(new_project(template, workdir / template), site, out)
        plans[template] = out
    return plans
