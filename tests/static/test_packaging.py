"""Another IaC repo can `pip install git+...` Shardstack and import the components."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_pip_install_from_a_clean_clone_gives_an_importable_package(tmp_path: Path) -> None:
    # A clone holds only committed files: this catches a module that is not packaged or not committed.
    clone = tmp_path / "clone"
    _run(["git", "clone", "--quiet", str(REPO), str(clone)], tmp_path)
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(clone),
        ],
        tmp_path,
    )

    # A fresh venv that sees our installed dependencies but not the editable checkout:
    # a .pth line adds a directory to sys.path without running that directory's own .pth files.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next(wheels.glob("shardstack-*.whl"))
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], tmp_path)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = _run(
        [
            str(python),
            "-c",
            "import shardstack, shardstack.testing, shardstack.plan\n"
            "from shardstack.k8s import ShardedInference, GpuEnablement\n"
            "from shardstack.catalog import GPUS\n"
            "print(shardstack.__file__)",
        ],
        outside,
    )
    assert Path(out.strip()).is_relative_to(venv), out
    assert (Path(out.strip()).parent / "py.typed").is_file()

    sized = _run([str(venv / "bin" / "shardstack"), "size", "--params", "8e9", "--gpu", "l4"], outside)
    assert "shard" in sized.lower()
