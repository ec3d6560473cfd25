"""Projects made from templates/ as `pulumi new` makes them, planned against the built wheel alone.

`pulumi new <dir>` copies the template's files, replaces ``${PROJECT}`` and ``${DESCRIPTION}`` in them, and writes
the answers to the template's prompts (``template.config``) into the new stack's config, bare keys in the project's
namespace. The project then installs its requirements: the published ``shardstack`` package, here the wheel built
from this checkout, put on ``PYTHONPATH`` ahead of the editable install so that nothing else of the source tree is
imported (the plan asserts where ``shardstack`` came from).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
STACK = "dev"

ANSWERS = {"gcp:project": "my-project-123456"}
"""What a user types for the prompts that have no default."""

_PLAN = """
import sys
from pathlib import Path
import shardstack
site = Path(sys.argv[1]).resolve()
if not Path(shardstack.__file__).resolve().is_relative_to(site):
    raise SystemExit(f"shardstack was imported from {shardstack.__file__}, not from the wheel in {site}")
from shardstack.cli import main
sys.exit(main(sys.argv[2:]))
"""


def install_wheel(workdir: Path) -> Path:
    """Build the package's wheel from this checkout and install it (alone) into ``workdir/site``; return that."""
    wheels = workdir / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)], check=True)
    (wheel,) = wheels.glob("shardstack-*.whl")
    site = workdir / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], check=True)
    return site


def new_project(template: str, workdir: Path, project: str = "my-llm", description: str = "Our model") -> Path:
    """Lay ``templates/<template>`` down as `pulumi new` does, with every prompt's default (or :data:`ANSWERS`)."""
    directory = workdir / project
    shutil.copytree(TEMPLATES / template, directory)
    for path in directory.rglob("*"):
        if path.is_file():
            text = path.read_text()
            path.write_text(text.replace("${PROJECT}", project).replace("${DESCRIPTION}", description))
    prompts = yaml.safe_load((directory / "Pulumi.yaml").read_text())["template"]["config"]
    config = {
        key if ":" in key else f"{project}:{key}": ANSWERS[key] if "default" not in prompt else prompt["default"]
        for key, prompt in prompts.items()
    }
    (directory / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def plan(directory: Path, site: Path, out: Path) -> dict[str, Any]:
    """`shardstack plan dev --out OUT --policy policy/` in ``directory`` with only the wheel's ``shardstack``, the
    stacks' policy pack passing; the graph."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    command = [sys.executable, "-c", _PLAN, str(site), "plan", STACK, "--project-dir", str(directory)]
    command += ["--out", str(out), "--policy", str(REPO / "policy")]
    result = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((out / "graph.json").read_text())
