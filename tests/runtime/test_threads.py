"""How many cores a serving process gives its compute thread (shardstack_runtime.threads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardstack_runtime.threads import compute_threads, cpu_quota


def cgroup_with(tmp_path: Path, cpu_max: str) -> Path:
    (tmp_path / "cpu.max").write_text(cpu_max)
    return tmp_path


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("400000 100000\n", 4), ("150000 100000\n", 2), ("50000 100000\n", 1)],
)
def test_the_quota_is_read_in_whole_cpus_rounded_up(tmp_path: Path, cpu_max: str, expected: int | None) -> None:
    assert cpu_quota(cgroup_with(tmp_path, cpu_max)) == expected


def test_no_cgroup_file_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None


def test_a_pod_limited_to_4_cpus_on_a_64_core_node_computes_on_4(tmp_path: Path) -> None:
    cgroup = cgroup_with(tmp_path, "400000 100000\n")
    assert compute_threads(64, env={}, cgroup=cgroup) == 4
    assert compute_threads(2, env={}, cgroup=cgroup) == 2  # fewer cores visible than the quota: those
    assert compute_threads(64, env={}, cgroup=cgroup_with(tmp_path, "max 100000\n")) == 64


def test_omp_num_threads_wins_over_the_quota(tmp_path: Path) -> None:
    # torch already took OMP_NUM_THREADS as its count (shardstack-runtime local sets it per rank).
    assert compute_threads(8, env={"OMP_NUM_THREADS": "8"}, cgroup=cgroup_with(tmp_path, "200000 100000\n")) == 8
