"""A model split over real ranks (separate processes, gloo on 127.0.0.1), driven by rank 0's PipelineEngine.

Each test starts one ``pipeline_worker.py`` process per rank, waits for them with a bounded timeout, and
kills by PID whatever is still running at the end.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine import collect, make_engine, request, tokens
from test_rendezvous import free_port

from shardstack_runtime.model import LayerRange
from shardstack_runtime.model_config import ModelConfig
from shardstack_runtime.partition import balanced_layer_ranges
from shardstack_runtime.pipeline import HEADER_LEN, PipelineEngine, _header

WORKER = Path(__file__).with_name("pipeline_worker.py")
PROCESS_LIMIT_S = 120  # generous: a bound on a hang, not a performance threshold
TEXTS = ["Hello there", "The quick brown fox jumps over the lazy dog", "1 2 3"]
MAX_TOKENS = 12


def start_ranks(tmp_path: Path, specs: list[dict]) -> list[tuple[subprocess.Popen, Path]]:
    procs = []
    for i, spec in enumerate(specs):
        out = tmp_path / f"result-{i}.json"
        with open(tmp_path / f"log-{i}.txt", "w") as log:
            proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps({**spec, "out": str(out)})],
                                    stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, out))
    return procs


def finish_ranks(tmp_path: Path, procs: list[tuple[subprocess.Popen, Path]], *, killed: int | None = None
                 ) -> list[dict | None]:
    """Wait (bounded) for every rank; return each one's result (None for the ``killed`` rank)."""
    try:
        for proc, _ in procs:
            proc.wait(timeout=PROCESS_LIMIT_S)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()  # this process, by its PID
                proc.wait(timeout=30)
    results = []
    for i, (_, out) in enumerate(procs):
        if i == killed:
            results.append(None)
            continue
        assert out.exists(), f"rank {i} wrote no result:\n" + (tmp_path / f"log-{i}.txt").read_text()
        results.append(json.loads(out.read_text()))
    return results


def specs_for(model_dir: Path, ranges: list[LayerRange], **common) -> list[dict]:
    port = free_port()
    return [{"rank": r, "world_size": len(ranges), "port": port, "uri": str(model_dir), "timeout_s": 30,
             "ranges": [[x.start, x.end] for x in ranges], **common} for r in range(len(ranges))]


@pytest.fixture(scope="module")
def prompts_and_reference(tiny_model_dir: Path) -> tuple[list[list[int]], list[list[int]]]:
    """The prompts and their greedy tokens from the single-rank Engine, served concurrently."""
    engine = make_engine(tiny_model_dir)
    try:
        prompts = [engine.tokenizer.encode(t) for t in TEXTS]
        assert len({len(p) for p in prompts}) == len(prompts)

        async def together():
            return await asyncio.gather(*(collect(engine, request(p, max_tokens=MAX_TOKENS, temperature=0.0,
                                                                  ignore_eos=True)) for p in prompts))

        reference = [tokens(events) for events in asyncio.run(together())]
    finally:
        engine.shutdown()
    return prompts, reference


@pytest.mark.parametrize("world_size", [2, 3])
def test_sharded_tokens_equal_the_single_rank_engines(tmp_path: Path, tiny_model_dir: Path, world_size: int,
                                                      prompts_and_reference) -> None:
    prompts, reference = prompts_and_reference
    config = ModelConfig.from_hf(json.loads((tiny_model_dir / "config.json").read_text()))
    ranges = balanced_layer_ranges(config, world_size, dtype_bytes=4) if world_size == 2 else \
        LayerRange.split(config.num_layers, world_size)
    specs = specs_for(tiny_model_dir, ranges, prompts=prompts, max_tokens=MAX_TOKENS)
    results = finish_ranks(tmp_path, start_ranks(tmp_path, specs))
    leader, *workers = results
    assert leader is not None and leader["ok"], leader
    assert [r["tokens"] for r in leader["results"]] == reference
    assert all(r["finish_reason"] == "length" for r in leader["results"])
    assert leader["after"] == {"ready": True, "error": None, "new_request": "accepted"}
    for worker in workers:
        assert worker is not None and worker["ok"], worker  # each stopped on the leader's shutdown message
    # Every worker ran every forward pass.
    assert len({worker["steps"] for worker in workers if worker}) == 1 and workers[0] and workers[0]["steps"] > 2


def test_a_killed_worker_ends_the_leaders_requests_with_an_error(tmp_path: Path, tiny_model_dir: Path,
                                                                  prompts_and_reference) -> None:
    prompts, _ = prompts_and_reference
    hung = tmp_path / "hung"
    specs = specs_for(tiny_model_dir, [LayerRange(0, 1), LayerRange(1, 3), LayerRange(3, 4)],
                      prompts=prompts[:1], max_tokens=100)
    specs[1].update(hang_after_steps=4, hung=str(hung))  # two warm-up passes, then a prefill and a decode
    procs = start_ranks(tmp_path, specs)
    try:
        deadline = time.monotonic() + PROCESS_LIMIT_S
        while not hung.exists():
            assert time.monotonic() < deadline, "the worker never reached its hang"
            assert procs[1][0].poll() is None, (tmp_path / "log-1.txt").read_text()
            time.sleep(0.05)
        procs[1][0].kill()  # rank 1 dies with the leader's request in flight
    finally:
        results = finish_ranks(tmp_path, procs, killed=1)
    leader, _, last = results
    assert leader is not None and last is not None
    assert leader["ok"], leader
    (result,) = leader["results"]
    assert result["finish_reason"] == "abort" and len(result["tokens"]) < 100, result
    assert leader["after"]["ready"] is False
    assert "PipelineError" in leader["after"]["error"]
    assert leader["after"]["new_request"].startswith("EngineStoppedError")
    # The rank after the dead one fails too, bounded, instead of waiting forever.
    assert not last["ok"] and last["type"] == "PipelineError", last


def test_header_is_fixed_size() -> None:
    header = _header(2, 8, 128)
    assert header.shape == (HEADER_LEN,) and header.tolist()[:3] == [2, 8, 128]


def test_pipeline_engine_refuses_a_whole_model_or_a_worker_rank(tiny_model_dir: Path) -> None:
    from shardstack_runtime.rendezvous import Group
    from shardstack_runtime.shard import open_shard

    whole = open_shard(str(tiny_model_dir), dtype="float32")
    group = Group(rank=0, world_size=2, backend="gloo", device="cpu", store=None, timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first layers but not the last"):
        PipelineEngine(group, whole)
    first = open_shard(str(tiny_model_dir), dtype="float32", layer_range=LayerRange(0, 2))
    with pytest.raises(ValueError, match="rank 0 of a group"):
        PipelineEngine(Group(rank=1, world_size=2, backend="gloo", device="cpu", store=None,  # type: ignore[arg-type]
                             timeout_s=5), first)
