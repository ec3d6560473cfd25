"""The stack config as the config tests give it: a local and an AWS stack, changed key by key, and the problems
``config.load`` reports for them."""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shardstack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
# infra/ is the Pulumi program's directory: Pulumi puts it on sys.path, so do the same here.
INFRA = str(ROOT / "infra")
if INFRA not in sys.path:
    sys.path.insert(0, INFRA)

import config  # noqa: E402

LOCAL: dict[str, Any] = {"cloud": "local"}
AWS: dict[str, Any] = {
    "cloud": "aws",
    "region": "us-east-1",
    "gpu_pools": [{"name": "l4", "gpu": "l4", "max_nodes": 2}],
}


def stack(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Return a deep copy of ``base`` with top-level keys replaced (``None`` removes a key)."""
    values = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def aws_pool(**changes: Any) -> dict[str, Any]:
    """Return the AWS stack with its one GPU pool changed."""
    return stack(AWS, gpu_pools=[{**AWS["gpu_pools"][0], **changes}])


def problems_of(values: Mapping[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(values, stack="test")
    return info.value.problems


def problem_at(values: Mapping[str, Any], key_path: str) -> str:
    """Return the one problem reported for ``key_path``; fail if there is none."""
    found = [p for p in problems_of(values) if p.startswith(f"{key_path}: ")]
    assert found, f"no problem reported for {key_path}; got {problems_of(values)}"
    return found[0]
