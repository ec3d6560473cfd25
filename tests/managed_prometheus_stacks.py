"""Each cloud's dev stack as its real stack file says, with ``shardstack:monitoring.managed_prometheus`` on and its
groups autoscaled (down to zero, within the dev pools' GPUs): a project of its own, for planning and scanning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
STACKS = ("aws-dev", "gcp-dev", "azure-dev")
AUTOSCALING = {"min_groups": 0, "max_groups": 1}
"""What the dev stacks' GPU pools hold: one group of their shards."""


def config_of(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


def managed_config(stack: str) -> dict[str, Any]:
    config = config_of(stack)
    serving = {**config.get("shardstack:serving", {}), "mode": "leaderworkerset", "autoscaling": AUTOSCALING}
    serving.pop("replica_groups", None)
    return {**config, "shardstack:serving": serving, "shardstack:monitoring": {"managed_prometheus": True}}


def managed_project(directory: Path, stack: str) -> Path:
    """Write a project running the real infra/ with ``stack``'s managed variant in ``directory``; return it."""
    project = {"name": "shardstack", "runtime": "python", "main": str(REPO / "infra"), "stackConfigDir": "stacks"}
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (directory / "stacks").mkdir(exist_ok=True)
    (directory / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": managed_config(stack)}))
    return directory
