#!/usr/bin/env python3
"""Write every file generated from the specs (TypedDicts, the stack config reference), or check them.

.venv/bin/python scripts/generate_specs.py           # write what changed
.venv/bin/python scripts/generate_specs.py --check   # exit 1, naming each stale file (the suite runs this)
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shardstack.aws import specs as aws
from shardstack.azure import specs as azure
from shardstack.gcp import specs as gcp
from shardstack.specs import gpu_pool, render

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "infra"))  # the stack config, as Pulumi loads it
from config import gpu_pool_spec, reference  # noqa: E402


@dataclass(frozen=True)
class Generated:
    """One generated file: where it goes and how to render it."""

    path: str
    render: Callable[[], str]


SHARED = "shardstack.gpu_pool_args"
"""The module of the TypedDicts every cloud's share (a taint), which the cloud modules import."""


def targets() -> list[Generated]:
    """Return every generated file."""
    modules = {
        SHARED: (
            "The GPU pool arguments every cloud shares, and a taint.",
            "shardstack.specs.gpu_pool",
            [gpu_pool.TAINT, gpu_pool.gpu_pool_spec(None)],
        ),
        "shardstack.aws.args": (
            "AWS component arguments.",
            "shardstack.aws.specs",
            [aws.GPU_NODE_POOL, aws.NAMED_GPU_POOL],
        ),
        "shardstack.gcp.args": (
            "GCP component arguments.",
            "shardstack.gcp.specs",
            [gcp.GPU_NODE_POOL, gcp.NAMED_GPU_POOL],
        ),
        "shardstack.azure.args": (
            "Azure component arguments.",
            "shardstack.azure.specs",
            [azure.GPU_NODE_POOL, azure.NAMED_GPU_POOL],
        ),
    }
    homes = {spec.name: SHARED for spec in modules[SHARED][2]}

    def typed_dicts(name: str) -> Callable[[], str]:
        doc, source, specs = modules[name]
        return lambda: render.module(doc, source, specs, homes, name)

    return [
        *(Generated("components/" + name.replace(".", "/") + ".py", typed_dicts(name)) for name in modules),
        Generated("infra/config/gpu_pools.py", stack_config_pools),
        Generated("docs/CONFIG.md", reference.render),
    ]


def stack_config_pools() -> str:
    """Return the stack config's GPU pool sections, checked by their specs."""
    classes = {gpu_pool.TAINT.name: "TaintConfig", gpu_pool_spec.GPU_POOL.name: "GpuPoolConfig"}
    sections = [
        render.config_section(gpu_pool.TAINT, "TAINT", "SpecSection", classes),
        render.config_section(gpu_pool_spec.GPU_POOL, "GPU_POOL", "GpuPoolSection", classes),
    ]
    header = render.header(
        "The stack config's ``gpu_pools`` entries, as sections checked by their specs.", "infra/config/gpu_pool_spec.py"
    )
    imports = [
        "from __future__ import annotations",
        "",
        "from typing import ClassVar, Literal",
        "",
        "from shardstack.specs.gpu_pool import TAINT",
        "from shardstack.specs.spec import Spec",
        "",
        "from .gpu_pool_spec import GPU_POOL, GpuPoolSection",
        "from .section import SpecSection, spec_field",
    ]
    return header + "\n\n" + "\n".join(imports) + "\n\n\n" + "\n\n\n".join(sections) + "\n"


def formatted(text: str, path: str) -> str:
    """Return ``text`` as ``ruff format`` writes it, so that the suite's format check and this one agree."""
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "format", "--stdin-filename", path, "-"],
        input=text,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is stale")
    args = parser.parse_args()
    stale = []
    for target in targets():
        path = REPO / target.path
        text = target.render()
        text = formatted(text, target.path) if target.path.endswith(".py") else text
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(target.path)
        if args.check:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), target.path, "generated", lineterm="")
            print("\n".join(list(diff)[:40]))
        else:
            path.write_text(text)
            print(f"wrote {target.path}")
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run scripts/generate_specs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
