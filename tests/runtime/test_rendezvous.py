"""Real ranks forming a group: separate processes, real torch.distributed (gloo) on 127.0.0.1.

Each test starts its ranks with :func:`run_ranks` (one ``rendezvous_worker.py`` process per rank), waits
for them with a bounded timeout, and kills by PID whatever is still running at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.llama import ShardModel
from shardstack_runtime.model.partition import balanced_layer_ranges
from shardstack_runtime.rendezvous import _pods, listen_where_reached
from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.cli import push_checkpoint

WORKER = Path(__file__).with_name("rendezvous_worker.py")
PROCESS_LIMIT_S = 120  # generous: a bound on a hang, not a performance threshold
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(tmp_path: Path, specs: list[dict]) -> list[dict]:
    """Run one worker process per spec (common keys merged in by the caller); return each rank's result."""
    procs: list[tuple[subprocess.Popen, Path]] = []
    try:
        for i, spec in enumerate(specs):
            out = tmp_path / f"result-{i}.json"
            with open(tmp_path / f"log-{i}.txt", "w") as log:
                proc = subprocess.Popen(
                    [sys.executable, str(WORKER), json.dumps({**spec, "out": str(out)})],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            procs.append((proc, out))
        for proc, _ in procs:
            proc.wait(timeout=PROCESS_LIMIT_S)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()  # this process, by its PID
                proc.wait(timeout=30)
    results = []
    for i, (_, out) in enumerate(procs):
        assert out.exists(), f"rank {i} wrote no result:\n" + (tmp_path / f"log-{i}.txt").read_text()
        results.append(json.loads(out.read_text()))
    return results


def agree_specs(
    world_size: int, digests: list[str | None], *, ranks: list[int] | None = None, timeout_s: float = 30
) -> list[dict]:
    port = free_port()
    return [
        {
            "mode": "agree",
            "rank": r,
            "world_size": world_size,
            "port": port,
            "timeout_s": timeout_s,
            "digest": digests[r],
        }
        for r in (ranks if ranks is not None else range(world_size))
    ]


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_join_and_agree(tmp_path: Path, world_size: int) -> None:
    results = run_ranks(tmp_path, agree_specs(world_size, [DIGEST_A] * world_size))
    for rank, result in enumerate(results):
        assert result["ok"], result
        assert (result["rank"], result["world_size"], result["backend"]) == (rank, world_size, "gloo")


def test_ranks_without_manifests_agree(tmp_path: Path) -> None:
    results = run_ranks(tmp_path, agree_specs(2, [None, None]))
    assert all(result["ok"] for result in results), results


def test_missing_rank_is_named_by_the_leader(tmp_path: Path) -> None:
    # Ranks 0 and 1 of 3 start; rank 2 never does.
    results = run_ranks(tmp_path, agree_specs(3, [DIGEST_A] * 3, ranks=[0, 1], timeout_s=3))
    leader, worker = results
    assert not leader["ok"] and leader["type"] == "RendezvousError", leader
    assert "rank 2 of 3 did not join within 3 s" in leader["message"]
    assert "127.0.0.1:" in leader["message"] and "is running" in leader["message"]
    # The worker fails too, bounded: naming rank 2 as well, or the leader that went away.
    assert not worker["ok"] and worker["type"] == "RendezvousError", worker


def test_worker_without_leader_names_the_leader(tmp_path: Path) -> None:
    specs = agree_specs(2, [DIGEST_A] * 2, ranks=[1], timeout_s=2)
    (result,) = run_ranks(tmp_path, specs)
    assert not result["ok"] and result["type"] == "RendezvousError", result
    assert f"could not reach the leader at 127.0.0.1:{specs[0]['port']}" in result["message"]


def test_pod_names_follow_the_leaders_ordinal() -> None:
    assert _pods("llm-g0-0.llm-g0.default.svc.cluster.local", [2]) == "pod llm-g0-2"
    assert _pods("llm-g0-0", [1, 2]) == "pods llm-g0-1, llm-g0-2"
    assert _pods("10.0.0.7", [2]) == "the pod of rank 2"


@pytest.mark.parametrize("odd_digest, shown", [(DIGEST_B, f"rank 2 has {DIGEST_B}"), (None, "rank 2 has no manifest")])
def test_digest_mismatch_fails_on_every_rank(tmp_path: Path, odd_digest: str | None, shown: str) -> None:
    results = run_ranks(tmp_path, agree_specs(3, [DIGEST_A, DIGEST_A, odd_digest]))
    for result in results:
        assert not result["ok"] and result["type"] == "ModelMismatchError", result
        assert f"ranks 0, 1 have {DIGEST_A}" in result["message"]
        assert shown in result["message"]


def test_join_and_load_fetches_only_each_ranks_tensors(tmp_path: Path, tiny_model_dir: Path) -> None:
    # Each rank reads its own copy of the same checkpoint (as pods with separate caches would).
    uris = []
    for name in ("copy-0", "copy-1"):
        manifest = push_checkpoint(str(tiny_model_dir), f"file://{tmp_path / name}", progress=False)
        uris.append(f"file://{tmp_path / name}")
    checkpoint = open_checkpoint(uris[0])
    config = ModelConfig.from_hf(checkpoint.config)
    ranges = balanced_layer_ranges(config, 2, dtype_bytes=4)
    port = free_port()
    specs = [
        {
            "mode": "load",
            "rank": r,
            "world_size": 2,
            "port": port,
            "timeout_s": 60,
            "uri": uris[r],
            "ranges": [[x.start, x.end] for x in ranges],
        }
        for r in range(2)
    ]
    results = run_ranks(tmp_path, specs)
    all_bytes = sum(checkpoint.locate(name).nbytes for name in checkpoint.tensor_names)
    for rank, result in enumerate(results):
        assert result["ok"], result
        names = sorted(ShardModel(config, ranges[rank], dtype="float32").checkpoint_targets())
        assert result["tensors"] == names
        assert result["bytes_fetched"] == sum(checkpoint.locate(name).nbytes for name in names)
        assert result["bytes_fetched"] < all_bytes
        assert result["verified"] and result["digest"] == manifest.digest
    assert any("model.embed_tokens.weight" in r["tensors"] for r in results[:1])
    assert "lm_head.weight" in results[1]["tensors"] and "lm_head.weight" not in results[0]["tensors"]


def test_a_rank_that_cannot_load_is_named_by_the_others(tmp_path: Path, tiny_model_dir: Path) -> None:
    uri = f"file://{tmp_path / 'stored'}"
    push_checkpoint(str(tiny_model_dir), uri, progress=False)
    port = free_port()
    specs = [
        {
            "mode": "load",
            "rank": r,
            "world_size": 2,
            "port": port,
            "timeout_s": 60,
            "uri": uri if r == 0 else f"file://{tmp_path / 'nothing-here'}",
            "ranges": [[0, 2], [2, 4]],
        }
        for r in range(2)
    ]
    leader, worker = run_ranks(tmp_path, specs)
    assert not worker["ok"] and worker["type"] == "FileNotFoundError", worker
    assert "nothing-here" in worker["message"]
    assert not leader["ok"] and leader["type"] == "RendezvousError", leader
    assert "rank 1 of 2 failed to load its weights" in leader["message"]


def _this_hosts_other_address() -> str | None:
    """An address of this host other than loopback (the default route's source), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent for a UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_store_listens_only_where_the_group_reaches_it(caplog: pytest.LogCaptureFixture) -> None:
    # A local group's leader is 127.0.0.1: the store (no authentication) must not be reachable from the network.
    port = free_port()
    with listen_where_reached("127.0.0.1", port) as listener:
        assert listener.getsockname()[:2] == ("127.0.0.1", port)
        other = _this_hosts_other_address()
        if other is not None:
            with pytest.raises(ConnectionRefusedError), socket.create_connection((other, port), timeout=5):
                pass
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    # A leader name that is none of this host's addresses (a proxy in between): every interface, and it says so.
    with caplog.at_level("WARNING"), listen_where_reached("192.0.2.123", free_port()) as anywhere:
        assert anywhere.getsockname()[0] in ("0.0.0.0", "::")
    assert "names no address of this host" in caplog.text
