"""How much memory the runtime counts on (shardstack_runtime.memory): a pod's limit, not just the node's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shardstack_runtime.memory import available_memory

CPU = torch.device("cpu")
GIB = 2**30


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("limit", "current", "available_kib", "expected"),
    [
        ("8589934592\n", "2147483648\n", 32 * 2**20, 6 * GIB),  # a pod's limit, less what it uses
        ("max\n", "2147483648\n", 3 * 2**20, 3 * GIB),  # no limit: the node's MemAvailable
        ("8589934592\n", "0\n", 2 * 2**20, 2 * GIB),  # the node has less than the limit allows
    ],
)
def test_memory_left_is_the_tighter_of_the_pods_limit_and_the_nodes(
    limit: str, current: str, available_kib: int, expected: int, tmp_path: Path
) -> None:
    cgroup = tmp_path / "cgroup"
    write(cgroup / "memory.max", limit)
    write(cgroup / "memory.current", current)
    meminfo = write(tmp_path / "meminfo", f"MemTotal: 99999999 kB\nMemAvailable: {available_kib} kB\n")
    assert available_memory(CPU, cgroup, meminfo) == expected


def test_memory_left_is_unknown_where_nothing_tells_it(tmp_path: Path) -> None:
    assert available_memory(CPU, tmp_path / "no-cgroup", tmp_path / "no-meminfo") is None
