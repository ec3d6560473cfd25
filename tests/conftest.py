"""Shared fixtures: the repository root and a scratch Pulumi project that reuses infra/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def scratch_project(tmp_path: Path):
    """Return a function that writes ``stacks/Pulumi.<stack>.yaml`` into a project running the real infra/."""
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(
        {"name": "shardstack", "runtime": "python", "main": str(REPO / "infra"), "stackConfigDir": "stacks"}
    ))
    (tmp_path / "stacks").mkdir()

    def write(stack: str, config: dict) -> Path:
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
        return tmp_path

    return write
