"""Lint and type checks over the whole repository, as part of the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TYPE_CHECKED = ("components", "infra", "runtime", "tests", "scripts", "templates", "policy")
"""Every directory that holds Python: what pyproject.toml's [tool.pyright] include must cover."""


def test_ruff_is_clean() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    # Settings in pyproject.toml [tool.ruff.format]; `ruff format .` rewrites what this lists.
    result = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyright_finds_no_errors_anywhere() -> None:
    # pyright checks our calls against the provider SDKs', torch's and the clients' type hints: wrong
    # argument names, wrong types, Output misuse, a forgotten None. It runs on what pyproject.toml's
    # [tool.pyright] includes, so the settings stay in one place; the file count proves none is left out.
    result = subprocess.run([str(BIN / "pyright"), "--outputjson"], cwd=REPO, capture_output=True, text=True)
    report = json.loads(result.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    listing = "\n".join(f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in errors)
    assert errors == [], listing
    sources = [p for top in TYPE_CHECKED for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts]
    assert report["summary"]["filesAnalyzed"] == len(sources)
