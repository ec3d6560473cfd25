"""`pytest --fast` (scripts/test --fast) runs the fast tier's directories only, and no server in them.

The tiers are checked on a copy of tests/conftest.py over one probe test per real test directory, so the
check takes a second whatever the real tests cost.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAST = {"unit", "contract", "plan"}
FULL_ONLY = {"runtime", "k8s", "static", "cloud_apis"}
"""Servers, emulators, real processes (runtime), security scans (k8s), lint, types and packaging (static), fakes of
cloud APIs served as processes (cloud_apis)."""

PROBE = """
def test_probe():
    print("ran {name}")
"""
SERVER = """
import socket

def test_starts_a_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
"""


def test_every_test_directory_belongs_to_a_tier() -> None:
    directories = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert directories == FAST | FULL_ONLY, "a new test directory: decide its tier here and in tests/conftest.py"


def run_pytest(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-q", *args, "tests"],
        cwd=tree,
        capture_output=True,
        text=True,
    )


def test_fast_runs_only_the_fast_directories_and_refuses_a_server(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy2(REPO / "tests" / "conftest.py", tests / "conftest.py")
    for name in FAST | FULL_ONLY:
        (tests / name).mkdir()
        (tests / name / f"test_{name}_probe.py").write_text(PROBE.format(name=name))
        if name not in FAST:
            # A full-tier conftest that imports heavy modules must not even be imported by --fast.
            (tests / name / "conftest.py").write_text("raise RuntimeError('imported by --fast')\n")
    (tests / "unit" / "test_unit_server.py").write_text(SERVER)

    fast = run_pytest(tmp_path, "--fast")
    assert set(re.findall(r"ran (\w+)", fast.stdout)) == FAST, fast.stdout
    assert "1 failed, 3 passed" in fast.stdout, fast.stdout
    assert "this test starts a server, which the fast tier does not run" in fast.stdout

    for name in FULL_ONLY:
        (tests / name / "conftest.py").unlink()
    full = run_pytest(tmp_path)
    # One probe per directory, and the server test, which the full tier runs.
    assert f"{len(FAST | FULL_ONLY) + 1} passed" in full.stdout, full.stdout
