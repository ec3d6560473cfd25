"""scripts/setup runs pip only when what the environment was installed from changed.

The checkout here is a copy of the files the script reads, with a stand-in .venv whose Python logs every
``-m pip`` call (and fails it when asked) and hands everything else to the real interpreter.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INPUTS = ("scripts/setup", "pyproject.toml", "runtime/pyproject.toml")
STAMP = ".venv/.shardstack-setup"

FAKE_PYTHON = f"""#!/usr/bin/env bash
if [ "$1 $2" = "-m pip" ]; then
  echo "${{*:3}}" >> "$PIP_LOG"
  [ -z "${{PIP_FAILS:-}}" ]
  exit
fi
exec {sys.executable} "$@"
"""


def _executable(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    _executable(tmp_path / ".venv/bin/python", FAKE_PYTHON)
    # Present, so the script installs neither: this test is about the pip installs.
    _executable(tmp_path / ".tools/azurite/node_modules/.bin/azurite-blob")
    _executable(tmp_path / ".tools/checkov/bin/checkov")
    return tmp_path


def setup(checkout: Path, expect_rc: int = 0, **env: str) -> list[str]:
    """Run scripts/setup in ``checkout`` and return the pip commands it ran."""
    log = checkout / "pip.log"
    log.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("TORCH_VERSION", "PIP_FAILS")}
    result = subprocess.run(
        ["bash", "scripts/setup"],
        cwd=checkout,
        capture_output=True,
        text=True,
        env={**base, "PIP_LOG": str(log), **env},
    )
    assert result.returncode == expect_rc, result.stdout + result.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_a_second_run_installs_nothing(checkout: Path) -> None:
    first = setup(checkout)
    assert "install --quiet --disable-pip-version-check -e .[dev]" in first
    assert "install --quiet --disable-pip-version-check torch==2.13.0" in first
    assert "install --quiet --disable-pip-version-check -e runtime[dev]" in first
    assert (checkout / STAMP).is_file()

    assert setup(checkout) == []


@pytest.mark.parametrize("changed", INPUTS)
def test_a_changed_input_file_installs_again(checkout: Path, changed: str) -> None:
    setup(checkout)
    with (checkout / changed).open("a") as f:
        f.write("\n# changed\n")
    assert any("-e .[dev]" in command for command in setup(checkout))


def test_another_torch_version_installs_again(checkout: Path) -> None:
    setup(checkout)
    assert "install --quiet --disable-pip-version-check torch==2.12.0" in setup(checkout, TORCH_VERSION="2.12.0")
    assert setup(checkout, TORCH_VERSION="2.12.0") == []


def test_a_failed_install_leaves_no_stamp_so_the_next_run_installs(checkout: Path) -> None:
    setup(checkout)
    (checkout / "pyproject.toml").write_text((checkout / "pyproject.toml").read_text() + "\n# new pin\n")

    assert setup(checkout, expect_rc=1, PIP_FAILS="1") != []
    assert not (checkout / STAMP).exists()
    assert any("-e .[dev]" in command for command in setup(checkout))
