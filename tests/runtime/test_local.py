"""``shardstack-runtime local --shards N``: CPU placement, and a whole replica group as real local processes.

The placement tests call :func:`~shardstack_runtime.local.cpu_sets` directly. The run test starts the real
command (which starts one real ``serve`` process per rank on a tiny random Llama) on free 127.0.0.1 ports,
talks to it with the official ``openai`` client, reads each rank's CPU affinity from the kernel, and stops
it with SIGTERM by its PID; whatever is still running at the end is killed by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_serve import READY_TIMEOUT_S, RUNTIME, Server, _get

from shardstack_runtime.local import cpu_sets

STOP_BOUND_S = 60  # a bound on a hang, not a performance threshold


@pytest.mark.parametrize(
    ("cpus", "shards"),
    [(list(range(8)), 3), (list(range(4)), 4), ([7, 2, 5, 3, 11], 2), (list(range(16)), 1), ([0, 1], 2)],
)
def test_enough_cpus_are_cut_into_disjoint_sets(cpus: list[int], shards: int) -> None:
    sets = cpu_sets(cpus, shards)

    assert len(sets) == shards
    assert [c for s in sets for c in s] == sorted(cpus)  # disjoint runs of the sorted CPUs, every CPU used
    sizes = [len(s) for s in sets]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert sizes == sorted(sizes, reverse=True)  # the extra CPUs go to the lowest ranks (rank 0 runs the API)


def test_extra_cpus_go_to_the_lowest_ranks_in_order() -> None:
    assert cpu_sets(list(range(8)), 3) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert cpu_sets([9, 4, 6, 1, 3], 2) == [[1, 3, 4], [6, 9]]


def test_fewer_cpus_than_ranks_share_them_round_robin_one_each() -> None:
    assert cpu_sets([3, 1], 5) == [[1], [3], [1], [3], [1]]
    assert cpu_sets([0], 3) == [[0], [0], [0]]


@pytest.mark.parametrize("shards", [0, -1])
def test_fewer_than_one_shard_is_an_error(shards: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        cpu_sets([0, 1], shards)


def _free_port_pair() -> int:
    """A port ``p`` such that ``p`` and ``p + 1`` are both free on 127.0.0.1 (rank r's probes use p + r)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two consecutive free ports")


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def _environ(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode(errors="replace").split("=", 1) for e in entries if b"=" in e)


def _cmdline(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the ranks' processes through /proc")
def test_local_runs_a_pinned_group_and_stops_it_on_sigterm(tiny_model_dir: Path, tmp_path: Path) -> None:
    api_port, metrics_port = _free_port_pair(), _free_port_pair()
    log = tmp_path / "local.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [
                *RUNTIME,
                "local",
                "--shards",
                "2",
                "--model-uri",
                str(tiny_model_dir),
                "--dtype",
                "fp32",
                "--api-port",
                str(api_port),
                "--metrics-port",
                str(metrics_port),
                "--max-model-len",
                "256",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith(("SHARDSTACK_", "LWS_"))},
        )
    leader = Server(launcher, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}", log)
    ranks: dict[int, tuple[int, list[str] | None]] = {}
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "ready: 2 ranks serving" not in log.read_text():
            assert launcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert _get(f"{leader.probes}/ready") == 200
        assert _get(f"http://127.0.0.1:{metrics_port + 1}/ready") == 200  # rank 1's probes on the next port

        with leader.client() as client:
            model = client.models.list().data[0].id
            reply = client.completions.create(
                model=model, prompt="Hello", max_tokens=8, extra_body={"ignore_eos": True}
            )
        assert model == tiny_model_dir.name
        assert reply.choices[0].text and reply.choices[0].finish_reason == "length"
        assert reply.usage is not None and reply.usage.completion_tokens == 8

        for pid in _children(launcher.pid):
            ranks[int(_environ(pid)["SHARDSTACK_RANK"])] = (pid, _cmdline(pid))
        assert sorted(ranks) == [0, 1], log.read_text()
        assert all("serve" in (cmdline or []) for _, cmdline in ranks.values())
        expected = cpu_sets(sorted(os.sched_getaffinity(0)), 2)
        affinity = {rank: os.sched_getaffinity(pid) for rank, (pid, _) in ranks.items()}
        assert affinity == {rank: set(expected[rank]) for rank in ranks}
        for rank, (pid, _) in ranks.items():
            assert _environ(pid)["OMP_NUM_THREADS"] == str(len(expected[rank]))
        if len(os.sched_getaffinity(0)) >= 2:
            assert not affinity[0] & affinity[1]  # two busy ranks never share a core

        os.kill(launcher.pid, signal.SIGTERM)
        assert launcher.wait(timeout=STOP_BOUND_S) == 0, log.read_text()
        assert [rank for rank, (pid, cmdline) in ranks.items() if _cmdline(pid) == cmdline] == [], log.read_text()
    finally:
        if launcher.poll() is None:
            if not ranks:
                ranks = {i: (pid, _cmdline(pid)) for i, pid in enumerate(_children(launcher.pid))}
            launcher.kill()
            launcher.wait()
        for pid, cmdline in ranks.values():
            if _cmdline(pid) == cmdline:  # still that rank, not a reused PID
                os.kill(pid, signal.SIGKILL)
