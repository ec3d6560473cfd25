#!/usr/bin/env python3
"""Write every file generated from the specs (TypedDicts, the stack config reference), or check them.

.venv/bin/python scripts/generate_specs.py           # write what changed
.venv/bin/python scripts/generate_specs.py --check   # exit 1, naming each stale file (the suite runs this)
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shardstack.aws import specs as aws
from shardstack.azure import specs as azure
from shardstack.gcp import specs as gcp
from shardstack.specs import gpu_pool, render

REPO = Path(__file__).resolve().parents[1]


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
        SHARED: ("The GPU pool arguments every cloud shares, and a taint.", "shardstack.specs.gpu_pool",
                 [gpu_pool.TAINT, gpu_pool.gpu_pool_spec(None)]),
        "shardstack.aws.args": ("AWS component arguments.", "shardstack.aws.specs",
                                [aws.GPU_NODE_POOL, aws.NAMED_GPU_POOL]),
        "shardstack.gcp.args": ("GCP component arguments.", "shardstack.gcp.specs",
                                [gcp.GPU_NODE_POOL, gcp.NAMED_GPU_POOL]),
        "shardstack.azure.args": ("Azure component arguments.", "shardstack.azure.specs",
                                  [azure.GPU_NODE_POOL, azure.NAMED_GPU_POOL]),
    }
    homes = {spec.name: SHARED for spec in modules[SHARED][2]}

    def typed_dicts(name: str) -> Callable[[], str]:
        doc, source, specs = modules[name]
        return lambda: render.module(doc, source, specs, homes, name)

    return [Generated("components/" + name.replace(".", "/") + ".py", typed_dicts(name)) for name in modules]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is stale")
    args = parser.parse_args()
    stale = []
    for target in targets():
        path = REPO / target.path
        text = target.render()
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
