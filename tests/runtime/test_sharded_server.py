"""A replica group of ``shardstack-runtime serve`` processes, one per rank, as a StatefulSet's pods run them.

What is real: every rank is its own ``serve`` process configured only through the ``SHARDSTACK_*`` variables a
pod gets (world size, rank, leader address and rendezvous port, API and metrics ports, model URI); the ranks
rendezvous over TCP on 127.0.0.1, load only their own layers of real checkpoints (SmolLM2-135M-Instruct, a
tiny random Llama), check each other's manifest digest and pass activations over gloo; clients are the
official ``openai`` package and plain HTTP against the probes. Faults are real too: a rank is killed with
SIGKILL by its PID, two ranks read different checkpoint revisions, a rank never starts.

Each rank runs one torch thread (``OMP_NUM_THREADS=1``, as a pod with one CPU would), listens on free ports,
logs to a file shown when an assertion fails, and is stopped by its PID at the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families
from storage_emulators import free_port
from test_engine import collect, make_engine, request, text, tokens
from test_serve import READY_TIMEOUT_S, RUNTIME, Server, _get, _stop

from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.cli import push_checkpoint

EXIT_BOUND_S = 60  # a bound on a hang, not a performance threshold
KILLED_REQUEST_BOUND_S = 5.0  # the requirement: a request in flight when a rank dies is answered 503 within this
MAX_MODEL_LEN = 512
CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Write a short poem about the sea."}]


@dataclass
class Group:
    ranks: list[Server]

    @property
    def leader(self) -> Server:
        return self.ranks[0]

    def logs(self) -> str:
        return "\n".join(
            f"--- rank {r} (exit {s.process.poll()}) ---\n{s.log.read_text(errors='replace')}"
            for r, s in enumerate(self.ranks)
        )


def _start_rank(
    model_uri: str, rank: int, world_size: int, rendezvous_port: int, api_port: int, log: Path, *flags: str
) -> Server:
    """One rank's ``serve``, configured from the environment as a pod's is (flags only for the engine)."""
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARDSTACK_", "LWS_"))}
    env.update(
        {
            "SHARDSTACK_MODEL_URI": model_uri,
            "SHARDSTACK_WORLD_SIZE": str(world_size),
            "SHARDSTACK_RANK": str(rank),
            "SHARDSTACK_LEADER_ADDR": "127.0.0.1",
            "SHARDSTACK_RENDEZVOUS_PORT": str(rendezvous_port),
            "SHARDSTACK_API_PORT": str(api_port),
            "SHARDSTACK_METRICS_PORT": str(metrics_port),
            "OMP_NUM_THREADS": "1",
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*RUNTIME, "serve", "--dtype", "fp32", "--host", "127.0.0.1", "--rendezvous-timeout", "60", *flags],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    return Server(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}", log)


def _start_group(model_uris: list[str], log_dir: Path, *flags: str) -> Group:
    """Rank ``r`` reads ``model_uris[r]``; all share one rendezvous port and rank 0's API port."""
    rendezvous_port, api_port = free_port(), free_port()
    world = len(model_uris)
    return Group(
        [
            _start_rank(uri, r, world, rendezvous_port, api_port, log_dir / f"rank{r}.log", *flags)
            for r, uri in enumerate(model_uris)
        ]
    )


def _stop_group(group: Group) -> None:
    """Rank 0 first (it tells the workers to stop), then any rank still running: SIGTERM, SIGKILL after 30 s."""
    for server in group.ranks:
        _stop(server)


def _wait_group_ready(group: Group) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(s.process.poll() is not None for s in group.ranks):
            raise AssertionError(f"a rank exited before the group was ready:\n{group.logs()}")
        try:
            if _get(f"{group.leader.probes}/ready") == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the group was not ready within {READY_TIMEOUT_S} s:\n{group.logs()}")


def _wait_exit(server: Server, group: Group) -> int:
    try:
        return server.process.wait(timeout=EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"a rank did not exit within {EXIT_BOUND_S} s:\n{group.logs()}") from None


def _ready_status(probes: str) -> tuple[int, str] | None:
    """/ready's HTTP status and body "status", or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{probes}/ready", timeout=2) as response:
            return response.status, json.loads(response.read())["status"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["status"]
    except OSError:
        return None


def _metrics(probes: str) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"{probes}/metrics", timeout=5) as response:
        exposition = response.read().decode()
    return [
        (s.name, s.labels, s.value) for family in text_string_to_metric_families(exposition) for s in family.samples
    ]


def _values(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> list[float]:
    return [value for n, lab, value in samples if n == name and all(lab.get(k) == v for k, v in labels.items())]


# ---------------------------------------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="module")
def smollm2_group(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    group = _start_group(
        [str(smollm2_dir)] * 2,
        tmp_path_factory.mktemp("sharded-smollm2"),
        "--max-slots",
        "4",
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--model-name",
        "smollm2",
    )
    try:
        _wait_group_ready(group)
        yield group
    finally:
        _stop_group(group)


def test_two_ranks_stream_what_one_rank_generates(smollm2_group: Group, smollm2_dir: Path) -> None:
    with (
        smollm2_group.leader.client() as client,
        client.chat.completions.create(
            model="smollm2",
            messages=CHAT,
            max_tokens=24,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        ) as stream,
    ):
        chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = chunks[-1].usage

    # The reference: the whole model in this process, one rank, the same dtype and context, greedy.
    engine = make_engine(smollm2_dir, max_model_len=MAX_MODEL_LEN)
    try:
        prompt = engine.tokenizer.encode(engine.tokenizer.apply_chat_template(CHAT), add_special_tokens=False)
        events = asyncio.run(collect(engine, request(prompt, max_tokens=24, temperature=0.0)))
    finally:
        engine.shutdown()

    assert len(tokens(events)) >= 8, text(events)  # a real answer, not an immediate end of sequence
    assert streamed == text(events), smollm2_group.logs()
    assert finish == [events[-1].finish_reason]
    assert usage is not None and usage.completion_tokens == len(tokens(events))
    assert usage.prompt_tokens == len(prompt)


def test_pipeline_metrics_and_every_ranks_probes(smollm2_group: Group, smollm2_dir: Path) -> None:
    with smollm2_group.leader.client() as client:
        reply = client.completions.create(model="smollm2", prompt="The sea is", max_tokens=4, temperature=0)
    assert reply.choices[0].finish_reason in ("length", "stop")
    leader = _metrics(smollm2_group.leader.probes)
    worker_probes = smollm2_group.ranks[1].probes

    compute = {
        labels["stage"]: (labels["layers"], value)
        for name, labels, value in leader
        if name == "shardstack_pipeline_stage_compute_seconds_total"
    }
    assert sorted(compute) == ["0", "1"]
    assert compute["0"][1] > 0 and compute["1"][1] > 0  # both stages ran layers while serving
    # The stages' layer ranges split the whole model at one point.
    (start0, end0), (start1, end1) = (map(int, compute[s][0].split("-")) for s in ("0", "1"))
    num_layers = json.loads((smollm2_dir / "config.json").read_text())["num_hidden_layers"]
    assert start0 == 0 and 0 < end0 == start1 < end1 == num_layers
    assert _values(leader, "shardstack_pipeline_p2p_bytes_total", src="0", dst="1")[0] > 0
    assert _values(leader, "shardstack_pipeline_p2p_bytes_total", src="1", dst="0")[0] > 0  # tokens came back
    bubble = _values(leader, "shardstack_pipeline_bubble_fraction")
    assert len(bubble) == 1 and 0 < bubble[0] < 1

    assert _get(f"{worker_probes}/health") == 200
    assert _get(f"{worker_probes}/ready") == 200
    worker = _metrics(worker_probes)
    loaded = _values(worker, "shardstack_weights_load_bytes")
    checkpoint_bytes = sum(f.stat().st_size for f in smollm2_dir.glob("*.safetensors"))
    assert len(loaded) == 1 and 0 < loaded[0] < checkpoint_bytes  # rank 1 read its layers, not the whole model
    assert _values(worker, "shardstack_weights_load_seconds")[0] > 0


# ------------------------------------------------------------------------------------------------------- faults


def test_a_killed_worker_fails_the_request_and_the_leader(tiny_model_dir: Path, tmp_path: Path) -> None:
    # The tiny model with a 4096-token context, so that one request decodes for tens of seconds.
    model = tmp_path / "tiny-long"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 4096}))
    group = _start_group([str(model)] * 2, tmp_path, "--max-model-len", "4096", "--max-slots", "2")
    try:
        _wait_group_ready(group)
        leader = group.leader

        def long_request() -> tuple[int, float]:
            with leader.client() as client:
                try:
                    client.completions.create(
                        model=model.name, prompt="Once upon a time", max_tokens=4000, extra_body={"ignore_eos": True}
                    )
                except openai.APIStatusError as error:
                    return error.status_code, time.monotonic()
            return 200, time.monotonic()

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(long_request)
            deadline = time.monotonic() + 30
            while _values(_metrics(leader.probes), "vllm:generation_tokens_total") in ([], [0.0]):
                assert time.monotonic() < deadline and not answer.done(), group.logs()
                time.sleep(0.05)
            assert _values(_metrics(leader.probes), "vllm:num_requests_running") == [1.0]

            os.kill(group.ranks[1].process.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            first_503: float | None = None
            states = []
            while leader.process.poll() is None and time.monotonic() - killed_at < EXIT_BOUND_S:
                state = _ready_status(leader.probes)
                states.append(state)
                if first_503 is None and state is not None and state[0] == 503:
                    first_503 = time.monotonic()
                time.sleep(0.05)
            status, answered_at = answer.result(timeout=EXIT_BOUND_S)

        assert status == 503, group.logs()
        assert answered_at - killed_at < KILLED_REQUEST_BOUND_S, group.logs()
        assert first_503 is not None and first_503 - killed_at < KILLED_REQUEST_BOUND_S, (states, group.logs())
        assert (503, "failed") in states
        assert _wait_exit(leader, group) == 1, group.logs()
        log = leader.log.read_text()
        assert re.search(r"(from|to) rank 1 failed", log), log  # the leader's log names the rank it lost
    finally:
        _stop_group(group)


def test_ranks_that_read_different_revisions_both_refuse_to_serve(tiny_model_dir: Path, tmp_path: Path) -> None:
    # Two valid checkpoints (each verifies against its own manifest) whose weights differ in one bit of one
    # tensor: a different model revision. The manifest digest covers the tensors only, so changing a file
    # like generation_config.json would not make a different revision.
    push_checkpoint(str(tiny_model_dir), f"file://{tmp_path / 'a'}", progress=False)
    changed = tmp_path / "changed"
    shutil.copytree(tiny_model_dir, changed)
    location = open_checkpoint(str(changed)).locate("model.layers.3.mlp.down_proj.weight")
    with (changed / location.file).open("r+b") as f:
        f.seek(location.start)
        byte = f.read(1)[0]
        f.seek(location.start)
        f.write(bytes([byte ^ 0x01]))  # the lowest mantissa bit of an fp32 value
    push_checkpoint(str(changed), f"file://{tmp_path / 'b'}", progress=False)
    manifests = [open_checkpoint(f"file://{tmp_path / name}").manifest for name in ("a", "b")]
    digests = [manifest.digest for manifest in manifests if manifest is not None]
    assert len(digests) == 2 and digests[0] != digests[1]

    group = _start_group([f"file://{tmp_path / 'a'}", f"file://{tmp_path / 'b'}"], tmp_path)
    try:
        codes = [_wait_exit(server, group) for server in group.ranks]
    finally:
        _stop_group(group)

    assert codes == [1, 1], group.logs()
    for server in group.ranks:
        log = server.log.read_text()
        assert "different model revisions" in log, group.logs()
        assert f"rank 0 has {digests[0]}; rank 1 has {digests[1]}" in log, log  # who holds which revision


def test_a_rank_that_never_joins_is_named_by_the_leader(tiny_model_dir: Path, tmp_path: Path) -> None:
    rank0 = _start_rank(
        str(tiny_model_dir), 0, 2, free_port(), free_port(), tmp_path / "rank0.log", "--rendezvous-timeout", "3"
    )
    group = Group([rank0])
    try:
        code = _wait_exit(rank0, group)
    finally:
        _stop_group(group)

    assert code == 1, group.logs()
    assert "rank 1 of 2 did not join within 3 s" in rank0.log.read_text(), group.logs()
