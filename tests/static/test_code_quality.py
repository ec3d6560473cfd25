"""Lint and type checks over the library and the program, as part of the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_ruff_is_clean() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    # Settings in pyproject.toml [tool.ruff.format]; `ruff format .` rewrites what this lists.
    result = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyright_finds_no_errors_in_components_and_infra() -> None:
    # pyright checks our calls against the provider SDKs' type hints: wrong argument names,
    # wrong types and Output misuse. Settings live in pyproject.toml [tool.pyright].
    result = subprocess.run([str(BIN / "pyright"), "--outputjson", "components", "infra"], cwd=REPO,
                            capture_output=True, text=True)
    report = json.loads(result.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    listing = "\n".join(f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in errors)
    assert errors == [], listing
    assert report["summary"]["filesAnalyzed"] > 5
