"""A model split over real ranks (separate processes, gloo on 127.0.0.1), driven by rank 0's pipeline engine.

Sharded == unsharded: for the tiny model and SmolLM2 (fp32) over 2 and 3 ranks, concurrent requests get the
single-rank Engine's greedy tokens and (to float rounding) its logprobs, the likeliest tokens' included;
seeded sampling gets its tokens too.
The same check on the logits of every pass, in one process: test_partition_logits.py.

Each test starts one ``pipeline_worker.py`` process per rank, waits for them with a bounded timeout, and
kills by PID whatever is still running at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_engine import collect, make_engine, request, tokens
from test_logprobs import assert_same_likeliest
from test_rendezvous import free_port

from shardstack_runtime.engine.pipeline import pipeline_engine
from shardstack_runtime.engine.wire import HEADER_LEN, encode_header
from shardstack_runtime.model.config import ModelConfig
from shardstack_runtime.model.llama import LayerRange
from shardstack_runtime.model.partition import balanced_layer_ranges

WORKER = Path(__file__).with_name("pipeline_worker.py")
PROCESS_LIMIT_S = 120  # generous: a bound on a hang, not a performance threshold
TEXTS = ["Hello there", "The quick brown fox jumps over the lazy dog", "1 2 3"]
MAX_TOKENS = 12
GREEDY = [{"temperature": 0.0}] * len(TEXTS)
SAMPLED = [{"temperature": 0.8, "top_p": 0.9, "seed": seed} for seed in (11, 12, 13)]
# Three lanes' worth of rows asking for different numbers of likeliest tokens (none, OpenAI's 5 and 20).
LIKELIEST = [{"temperature": 0.0, "top_logprobs": k} for k in (5, 0, 20)]
# fp32 logprobs. The ranks run the single-rank engine's kernels, but the pipeline's lanes batch the
# requests differently (other GEMM shapes, a padded or a fresh prefill), so float sums run in another
# order. Measured differences: up to 4e-5 (tiny model, logits ~25) and 2e-5 (SmolLM2); a wrong split or
# a wrong row's logits is off by far more than the bound.
LOGPROB_ATOL = 1e-3


def start_ranks(tmp_path: Path, specs: list[dict]) -> list[tuple[subprocess.Popen, Path]]:
    # One torch thread per rank, as a pod with one CPU would run: the ranks share this machine's few cores,
    # and several processes' spinning OpenMP threads on them would slow every pass several times over.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = []
    for i, spec in enumerate(specs):
        out = tmp_path / f"result-{i}.json"
        with open(tmp_path / f"log-{i}.txt", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps({**spec, "out": str(out)})],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        procs.append((proc, out))
    return procs


def finish_ranks(
    tmp_path: Path, procs: list[tuple[subprocess.Popen, Path]], *, killed: int | None = None
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
    return [
        {
            "rank": r,
            "world_size": len(ranges),
            "port": port,
            "uri": str(model_dir),
            "timeout_s": 30,
            "ranges": [[x.start, x.end] for x in ranges],
            **common,
        }
        for r in range(len(ranges))
    ]


@dataclass(frozen=True)
class Reference:
    """What the single-rank Engine gives the prompts of TEXTS, served concurrently."""

    prompts: list[list[int]]
    tokens: list[list[int]]
    logprobs: list[list[float]]
    top: list[list[list[tuple[int, float]]]]
    """Per prompt, per step: the likeliest tokens and their logprobs."""


@pytest.fixture(scope="module")
def reference() -> Callable[[Path, list[dict]], Reference]:
    """The single-rank Engine's (fp32) tokens and logprobs for TEXTS with the given per-prompt params (cached)."""
    cache: dict[tuple[Path, str], Reference] = {}

    def get(model_dir: Path, params: list[dict]) -> Reference:
        key = (model_dir, json.dumps(params))
        if key not in cache:
            engine = make_engine(model_dir)
            try:
                prompts = [engine.tokenizer.encode(t) for t in TEXTS]
                assert len({len(p) for p in prompts}) == len(prompts)

                async def together():
                    return await asyncio.gather(
                        *(
                            collect(engine, request(p, max_tokens=MAX_TOKENS, ignore_eos=True, **kw))
                            for p, kw in zip(prompts, params, strict=True)
                        )
                    )

                results = asyncio.run(together())
            finally:
                engine.shutdown()
            cache[key] = Reference(
                prompts,
                [tokens(events) for events in results],
                [[e.logprob for e in events if e.logprob is not None] for events in results],
                [[list(e.top_logprobs) for e in events if e.token_id is not None] for events in results],
            )
        return cache[key]

    return get


def run_pipeline(
    tmp_path: Path, model_dir: Path, ranges: list[LayerRange], prompts: list[list[int]], params: list[dict]
) -> list[dict]:
    """Serve the prompts concurrently through real ranks; check every rank ended well; the leader's results."""
    specs = specs_for(model_dir, ranges, prompts=prompts, max_tokens=MAX_TOKENS, params=params, dtype="fp32")
    leader, *workers = finish_ranks(tmp_path, start_ranks(tmp_path, specs))
    assert leader is not None and leader["ok"], leader
    assert all(r["finish_reason"] == "length" for r in leader["results"])
    assert leader["after"] == {"ready": True, "error": None, "new_request": "accepted"}
    for worker in workers:
        assert worker is not None and worker["ok"], worker  # each stopped on the leader's shutdown message
    # Every worker ran every forward pass.
    assert len({worker["steps"] for worker in workers if worker}) == 1 and workers[0] and workers[0]["steps"] > 2
    return leader["results"]


def max_logprob_difference(results: list[dict], expected: Reference) -> float:
    return max(
        abs(a - b)
        for r, e in zip(results, expected.logprobs, strict=True)
        for a, b in zip(r["logprobs"], e, strict=True)
    )


def server_ranges(model_dir: Path, world_size: int) -> list[LayerRange]:
    """The split the server uses (serve.py): balanced by weight bytes."""
    return balanced_layer_ranges(model_config(model_dir), world_size)


def model_config(model_dir: Path) -> ModelConfig:
    return ModelConfig.from_hf(json.loads((model_dir / "config.json").read_text()))


@pytest.mark.parametrize(
    ("model", "world_size"),
    [
        pytest.param("tiny_model_dir", 2, id="tiny-2"),
        pytest.param("tiny_model_dir", 3, id="tiny-3"),
        pytest.param("smollm2_dir", 2, id="smollm2-2"),
        pytest.param("smollm2_dir", 3, id="smollm2-3"),
    ],
)
def test_sharded_tokens_equal_the_single_rank_engines(
    tmp_path: Path, model: str, world_size: int, reference, request: pytest.FixtureRequest
) -> None:
    model_dir = request.getfixturevalue(model)
    expected = reference(model_dir, GREEDY)
    if model == "tiny_model_dir" and world_size == 3:  # another split than the server's [0, 1), [1, 3), [3, 4)
        ranges = LayerRange.split(model_config(model_dir).num_layers, world_size)
    else:
        ranges = server_ranges(model_dir, world_size)
    results = run_pipeline(tmp_path, model_dir, ranges, expected.prompts, GREEDY)
    assert [r["tokens"] for r in results] == expected.tokens
    assert max_logprob_difference(results, expected) <= LOGPROB_ATOL, (
        [r["logprobs"] for r in results],
        expected.logprobs,
    )


def test_seeded_sampling_through_two_ranks_equals_the_single_rank_engines(
    tmp_path: Path, smollm2_dir: Path, reference
) -> None:
    # The leader draws each row's random number and sends it with the activations; the last rank samples
    # with it. So a seeded request samples the same tokens however the model is split.
    expected = reference(smollm2_dir, SAMPLED)
    greedy = reference(smollm2_dir, GREEDY)
    assert expected.tokens != greedy.tokens  # these requests really sample
    results = run_pipeline(tmp_path, smollm2_dir, server_ranges(smollm2_dir, 2), expected.prompts, SAMPLED)
    assert [r["tokens"] for r in results] == expected.tokens
    assert max_logprob_difference(results, expected) <= LOGPROB_ATOL, (
        [r["logprobs"] for r in results],
        expected.logprobs,
    )


def test_sharded_likeliest_tokens_equal_the_single_rank_engines(
    tmp_path: Path, tiny_model_dir: Path, reference
) -> None:
    # The last rank sends them back beside the tokens, as many per row as the pass's most demanding row
    # asked for; the leader gives each request its own number.
    expected = reference(tiny_model_dir, LIKELIEST)
    results = run_pipeline(tmp_path, tiny_model_dir, server_ranges(tiny_model_dir, 2), expected.prompts, LIKELIEST)
    assert [r["tokens"] for r in results] == expected.tokens
    assert max_logprob_difference(results, expected) <= LOGPROB_ATOL
    for result, top, params in zip(results, expected.top, LIKELIEST, strict=True):
        assert [len(step) for step in result["top"]] == [params["top_logprobs"]] * MAX_TOKENS
        for ours, theirs in zip(result["top"], top, strict=True):
            assert_same_likeliest([(int(t), lp) for t, lp in ours], theirs, LOGPROB_ATOL)


def test_a_killed_worker_ends_the_leaders_requests_with_an_error(
    tmp_path: Path, tiny_model_dir: Path, reference
) -> None:
    prompts = reference(tiny_model_dir, GREEDY).prompts
    hung = tmp_path / "hung"
    specs = specs_for(
        tiny_model_dir, [LayerRange(0, 1), LayerRange(1, 3), LayerRange(3, 4)], prompts=prompts[:1], max_tokens=100
    )
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
    header = encode_header(2, 8, 128)
    assert header.shape == (HEADER_LEN,) and header.tolist()[:3] == [2, 8, 128]


def test_pipeline_engine_refuses_a_whole_model_or_a_worker_rank(tiny_model_dir: Path) -> None:
    from shardstack_runtime.rendezvous import Group
    from shardstack_runtime.shard import open_shard

    whole = open_shard(str(tiny_model_dir), dtype="float32")
    group = Group(rank=0, world_size=2, backend="gloo", device="cpu", store=None, timeout_s=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first layers but not the last"):
        pipeline_engine(group, whole, start=False)
    first = open_shard(str(tiny_model_dir), dtype="float32", layer_range=LayerRange(0, 2))
    with pytest.raises(ValueError, match="rank 0 of a group"):
        pipeline_engine(
            Group(
                rank=1,
                world_size=2,
                backend="gloo",
                device="cpu",
                store=None,  # type: ignore[arg-type]
                timeout_s=5,
            ),
            first,
        )
