"""The continuous-batching engine through its generate() contract: batching, cancellation, finish reasons."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from shardstack_runtime.engine.engine import WAITING_PER_SLOT, Engine, EngineOverloadedError, EngineStoppedError
from shardstack_runtime.engine.executor import ExecutorBrokenError, LocalExecutor
from shardstack_runtime.engine.lanes import MicroBatch
from shardstack_runtime.generation import GenerationEvent, GenerationRequest, SamplingParams, tokens_outside
from shardstack_runtime.shard import open_shard

_ids = itertools.count()


def request(prompt: list[int], **params) -> GenerationRequest:
    return GenerationRequest(
        request_id=f"req-{next(_ids)}",
        prompt_token_ids=prompt,
        params=SamplingParams(**params),
        arrival_time=time.monotonic(),
    )


async def collect(engine: Engine, req: GenerationRequest) -> list[GenerationEvent]:
    return [event async for event in engine.generate(req)]


def tokens(events: list[GenerationEvent]) -> list[int]:
    return [e.token_id for e in events if e.token_id is not None]


def text(events: list[GenerationEvent]) -> str:
    return "".join(e.text for e in events)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def make_engine(model_dir: Path, *, start: bool = True, dtype: str = "float32", **options) -> Engine:
    options.setdefault("max_slots", 4)
    options.setdefault("max_model_len", 128)
    engine = Engine(
        open_shard(str(model_dir), dtype=dtype, max_positions=options["max_model_len"]), verify=False, **options
    )
    if start:
        engine.start().wait_ready(60)
    return engine


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Iterator[Engine]:
    engine = make_engine(tiny_model_dir)
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def prompts(engine: Engine) -> list[list[int]]:
    texts = [
        "Hello there",
        "The quick brown fox jumps over the lazy dog",
        "1 2 3",
        "A",
        "Once upon a time, in a land far away, there lived",
        "Shardstack serves models",
    ]
    return [engine.tokenizer.encode(t) for t in texts]


def test_ready_only_after_the_weights_are_loaded_and_warmed_up(tiny_model_dir: Path) -> None:
    engine = make_engine(tiny_model_dir, start=False)
    try:
        assert not engine.ready and not engine.shard.loaded
        engine.start()
        assert engine.wait_ready(60)
        assert engine.ready and engine.shard.loaded and engine.shard.model.packed in (True, False)
        assert engine.stats().running == 0 and engine.stats().waiting == 0
        assert engine.model_name == tiny_model_dir.name and engine.max_model_len == 128
    finally:
        engine.shutdown()
    assert not engine.ready


def test_concurrent_requests_get_the_tokens_they_would_get_alone(engine: Engine, prompts) -> None:
    params = {"max_tokens": 12, "temperature": 0.0, "ignore_eos": True}
    alone = [asyncio.run(collect(engine, request(p, **params))) for p in prompts]

    async def together() -> list[list[GenerationEvent]]:
        # 6 requests, 4 slots: two wait, then join the running batch as others finish.
        return await asyncio.gather(*(collect(engine, request(p, **params)) for p in prompts))

    for mine, reference, prompt in zip(asyncio.run(together()), alone, prompts, strict=True):
        assert tokens(mine) == tokens(reference)
        assert len(mine) == 12 and [e.completion_tokens for e in mine] == list(range(1, 13))
        assert [e.finish_reason for e in mine] == [None] * 11 + ["length"]
        assert all(e.prompt_tokens == len(prompt) for e in mine)
        assert text(mine) == engine.tokenizer.decode(tokens(mine))
        scheduled = mine[0].first_scheduled_time
        assert scheduled is not None and all(e.first_scheduled_time == scheduled for e in mine)
    assert engine.stats().running == 0


def test_prompts_read_in_small_chunks_give_the_same_tokens(engine: Engine, tiny_model_dir: Path, prompts) -> None:
    params = {"max_tokens": 6, "temperature": 0.0, "ignore_eos": True}
    expected = [tokens(asyncio.run(collect(engine, request(p, **params)))) for p in prompts]
    chunked = make_engine(tiny_model_dir, prefill_chunk=4)  # 9- and 11-token prompts take 3 steps
    try:
        results = asyncio.run(_gather(chunked, [request(p, **params) for p in prompts]))
    finally:
        chunked.shutdown()
    assert [tokens(r) for r in results] == expected
    assert max(len(p) for p in prompts) > 8


def test_lanes_of_micro_batches_give_the_same_tokens(engine: Engine, tiny_model_dir: Path, prompts) -> None:
    # The scheduling a pipeline uses, on one rank: 3 lanes over 5 slots, each lane's pass in flight on
    # its own, sequences finishing at different times (slot moves inside lanes), prompts read in chunks.
    kinds = [{"temperature": 0.0}, {"temperature": 1.0, "top_k": 20, "seed": 7}]
    alone = [
        tokens(asyncio.run(collect(engine, request(p, max_tokens=24, ignore_eos=True, **kinds[i % 2]))))
        for i, p in enumerate(prompts)
    ]
    laned = make_engine(tiny_model_dir, max_slots=5, micro_batches=3, prefill_chunk=6)
    try:
        lengths = [4 + 4 * i for i in range(len(prompts))]
        results = asyncio.run(
            _gather(
                laned,
                [
                    request(p, max_tokens=n, ignore_eos=True, **kinds[i % 2])
                    for i, (p, n) in enumerate(zip(prompts, lengths, strict=True))
                ],
            )
        )
        assert [tokens(r) for r in results] == [a[:n] for a, n in zip(alone, lengths, strict=True)]
        assert laned.stats().running == 0
    finally:
        laned.shutdown()


def test_a_seeded_request_samples_the_same_tokens_in_any_company(engine: Engine, prompts) -> None:
    params = {"max_tokens": 16, "temperature": 1.0, "top_p": 0.9, "seed": 42, "ignore_eos": True}
    alone = tokens(asyncio.run(collect(engine, request(prompts[1], **params))))

    async def crowded() -> list[GenerationEvent]:
        others = [
            collect(engine, request(p, max_tokens=n, temperature=0.7, ignore_eos=True))
            for p, n in zip(prompts, [3, 9, 20, 5], strict=False)
        ]
        results = await asyncio.gather(collect(engine, request(prompts[1], **params)), *others)
        return results[0]

    assert tokens(asyncio.run(crowded())) == alone
    unseeded = {
        tuple(tokens(asyncio.run(collect(engine, request(prompts[1], **{**params, "seed": None}))))) for _ in range(2)
    }
    assert len(unseeded | {tuple(alone)}) > 1


def test_cancelling_a_request_frees_its_slot(tiny_model_dir: Path, prompts) -> None:
    engine = make_engine(tiny_model_dir, max_slots=2, max_model_len=512)
    try:

        async def scenario() -> list[GenerationEvent]:
            long = dict(max_tokens=400, temperature=0.0, ignore_eos=True)
            streams = [engine.generate(request(p, **long)) for p in prompts[:2]]
            for stream in streams:  # both slots busy
                await anext(stream)
            third = asyncio.ensure_future(collect(engine, request(prompts[2], max_tokens=5, temperature=0.0)))
            await asyncio.sleep(0.05)
            assert engine.stats().waiting == 1 and not third.done()
            await streams[0].aclose()  # the client goes away
            done = await asyncio.wait_for(third, 30)  # ... and the waiting request gets its slot
            task = asyncio.ensure_future(anext(streams[1]))
            await asyncio.sleep(0)
            task.cancel()  # a cancelled consumer aborts too
            await asyncio.gather(task, return_exceptions=True)
            await streams[1].aclose()
            return done

        third = asyncio.run(scenario())
        assert third[-1].finish_reason == "length" and len(third) == 5
        wait_until(lambda: engine.stats().running == 0)
        # Both slots are usable again.
        results = asyncio.run(_gather(engine, [request(p, max_tokens=3, temperature=0.0) for p in prompts[:2]]))
        assert [r[-1].finish_reason for r in results] == ["length", "length"]
    finally:
        engine.shutdown()


async def _gather(engine: Engine, requests: list[GenerationRequest]) -> list[list[GenerationEvent]]:
    return await asyncio.gather(*(collect(engine, r) for r in requests))


def test_stop_token_ids_and_stop_strings_end_with_stop(engine: Engine, prompts) -> None:
    reference = asyncio.run(collect(engine, request(prompts[4], max_tokens=20, temperature=0.0, ignore_eos=True)))
    ids, full = tokens(reference), text(reference)

    stop_id = ids[5]
    stopped = asyncio.run(
        collect(engine, request(prompts[4], max_tokens=20, temperature=0.0, ignore_eos=True, stop_token_ids=(stop_id,)))
    )
    cut = ids.index(stop_id)
    assert tokens(stopped) == ids[: cut + 1] and stopped[-1].finish_reason == "stop"
    assert text(stopped) == engine.tokenizer.decode(ids[:cut])  # the stop token's text is not shown

    # A stop string that spans tokens: from the middle of token 6 into token 8.
    start = len(engine.tokenizer.decode(ids[:6])) - 1
    stop = full[start : len(engine.tokenizer.decode(ids[:8])) + 1]
    assert len(stop) >= 2 and full.index(stop) == start
    stopped = asyncio.run(
        collect(engine, request(prompts[4], max_tokens=20, temperature=0.0, ignore_eos=True, stop=(stop,)))
    )
    assert text(stopped) == full[:start] and stopped[-1].finish_reason == "stop"
    assert len(stopped) <= 9


def test_the_context_limit_ends_generation_with_length(engine: Engine) -> None:
    prompt = list(range(100, 224))  # 124 tokens of a 128-token context
    events = asyncio.run(collect(engine, request(prompt, max_tokens=50, temperature=0.0, ignore_eos=True)))
    assert len(events) == 4 and events[-1].finish_reason == "length" and events[-1].completion_tokens == 4

    too_long = asyncio.run(collect(engine, request(list(range(100, 240)), max_tokens=5)))
    assert [(e.finish_reason, e.token_id, e.completion_tokens) for e in too_long] == [("length", None, 0)]
    nothing = asyncio.run(collect(engine, request([1, 2, 3], max_tokens=0)))
    assert [(e.finish_reason, e.token_id, e.completion_tokens) for e in nothing] == [("length", None, 0)]
    assert engine.stats().running == 0


def test_without_max_slots_the_engine_measures_its_batch_curve_and_bounds_its_queue(
    tiny_model_dir: Path, prompts
) -> None:
    engine = make_engine(tiny_model_dir, max_slots=None, dtype="bfloat16")
    try:
        choice = engine.slot_choice
        assert choice is not None and engine.max_slots == choice.slots >= 1, choice
        assert [rows for rows, _ in choice.curve][:2] == [1, 2]  # measured from one row up
        assert engine.stats().extra["max_slots"] == engine.max_slots
        assert engine.max_waiting == WAITING_PER_SLOT * choice.slots
        assert engine.compute is not None and engine.compute.weights_dtype == torch.bfloat16
        events = asyncio.run(collect(engine, request(prompts[0], max_tokens=3, temperature=0.0)))
        assert [e.finish_reason for e in events] == [None, None, "length"]
    finally:
        engine.shutdown()


def test_the_engine_thread_runs_torch_on_the_cores_it_is_given(tiny_model_dir: Path, prompts) -> None:
    # A serving process keeps torch single-threaded outside its engine thread (threads.py): the engine
    # thread sets its own count, whatever the thread that built the engine runs with.
    seen: list[int] = []

    class Recording(LocalExecutor):
        def submit(self, micro: MicroBatch) -> None:
            seen.append(torch.get_num_threads())
            super().submit(micro)

    caller = torch.get_num_threads()
    shard = open_shard(str(tiny_model_dir), dtype="float32", max_positions=128)
    engine = Engine(shard, executor=Recording(shard), threads=1, max_slots=2, max_model_len=128, verify=False)
    try:
        engine.start().wait_ready(60)
        asyncio.run(collect(engine, request(prompts[0], max_tokens=2, temperature=0.0)))
    finally:
        engine.shutdown()
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == caller


def test_a_full_waiting_queue_refuses_new_requests(tiny_model_dir: Path, prompts) -> None:
    engine = make_engine(tiny_model_dir, start=False, max_waiting=1)

    async def scenario() -> None:
        first = asyncio.ensure_future(collect(engine, request(prompts[0], max_tokens=2, temperature=0.0)))
        await asyncio.sleep(0.01)
        assert engine.stats().waiting == 1
        with pytest.raises(EngineOverloadedError, match="max_waiting=1"):
            await anext(engine.generate(request(prompts[1], max_tokens=2)))
        engine.start()  # the queue drains once the engine runs
        assert len(await asyncio.wait_for(first, 60)) == 2

    try:
        asyncio.run(scenario())
    finally:
        engine.shutdown()


def test_shutdown_aborts_requests_in_flight_and_refuses_new_ones(tiny_model_dir: Path, prompts) -> None:
    engine = make_engine(tiny_model_dir, max_model_len=512)

    async def scenario() -> list[GenerationEvent]:
        stream = engine.generate(request(prompts[0], max_tokens=400, temperature=0.0, ignore_eos=True))
        events = [await anext(stream)]
        await asyncio.to_thread(engine.shutdown)
        events += [event async for event in stream]
        return events

    events = asyncio.run(scenario())
    assert events[-1].finish_reason == "abort" and len(events) < 400
    with pytest.raises(EngineStoppedError):
        asyncio.run(collect(engine, request(prompts[0])))


def _fail_next_pass(engine: Engine, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """The executor's next pass raises ``error``; the passes after it run."""
    submit, failures = engine.executor.submit, [error]

    def failing_submit(micro: MicroBatch) -> None:
        if failures:
            raise failures.pop()
        submit(micro)

    monkeypatch.setattr(engine.executor, "submit", failing_submit)


def test_a_pass_that_fails_once_runs_again_and_its_request_never_notices(
    tiny_model_dir: Path, prompts, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(tiny_model_dir)
    try:
        params = {"max_tokens": 4, "temperature": 0.0, "ignore_eos": True}
        alone = asyncio.run(collect(engine, request(prompts[0], **params)))
        _fail_next_pass(engine, monkeypatch, RuntimeError("out of memory"))
        served = asyncio.run(collect(engine, request(prompts[0], **params)))
        assert tokens(served) == tokens(alone) and served[-1].finish_reason == "length"
        assert engine.ready and engine.stats().extra["failed_steps"] == 1
    finally:
        engine.shutdown()


@pytest.mark.parametrize("micro_batches", [1, 2], ids=["one lane", "two lanes, passes in flight"])
def test_a_request_that_fails_every_pass_it_is_in_ends_alone(
    tiny_model_dir: Path, prompts, monkeypatch: pytest.MonkeyPatch, micro_batches: int
) -> None:
    # Something inside a step that only one request triggers: the requests batched with it must not notice. With
    # two lanes another lane's pass is in flight when the failure comes, as in a pipeline.
    engine = make_engine(tiny_model_dir, micro_batches=micro_batches)
    poison = [*prompts[1][:-1], prompts[1][-1] ^ 1]
    try:
        params = {"max_tokens": 6, "temperature": 0.0, "ignore_eos": True}
        alone = [asyncio.run(collect(engine, request(p, **params))) for p in (prompts[0], prompts[2])]
        submit = engine.executor.submit

        def choking_submit(micro: MicroBatch) -> None:
            if any(seq.prompt == poison for seq in micro.rows):
                raise RuntimeError("the model chokes on this row")
            submit(micro)

        monkeypatch.setattr(engine.executor, "submit", choking_submit)

        async def together() -> list[list[GenerationEvent]]:
            reqs = [request(prompts[0], **params), request(poison, **params), request(prompts[2], **params)]
            return await asyncio.gather(*(collect(engine, r) for r in reqs))

        first, poisoned, third = asyncio.run(together())
        assert [(e.finish_reason, e.token_id) for e in poisoned] == [("abort", None)]
        assert tokens(first) == tokens(alone[0]) and tokens(third) == tokens(alone[1])
        assert engine.ready and engine.stats().running == 0
    finally:
        engine.shutdown()


def test_an_executor_that_breaks_stops_the_engine_with_its_error(
    tiny_model_dir: Path, prompts, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(tiny_model_dir)
    try:
        _fail_next_pass(engine, monkeypatch, ExecutorBrokenError("rank 1 is gone"))
        failed = asyncio.run(collect(engine, request(prompts[0], max_tokens=4, temperature=0.0)))
        assert [e.finish_reason for e in failed] == ["abort"]
        assert not engine.ready and isinstance(engine.error, ExecutorBrokenError)
        with pytest.raises(EngineStoppedError, match="rank 1 is gone"):
            asyncio.run(collect(engine, request(prompts[0])))
    finally:
        engine.shutdown()


def test_a_model_that_fails_to_load_reports_why(tmp_path: Path, tiny_model_dir: Path) -> None:
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((tiny_model_dir / name).read_bytes())
    config = json.loads((tiny_model_dir / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 5}))  # layer 4 is missing
    engine = make_engine(tmp_path, start=False)
    engine.start()
    with pytest.raises(EngineStoppedError, match=r"model.layers.4"):
        engine.wait_ready(60)
    assert not engine.ready
    with pytest.raises(EngineStoppedError):
        asyncio.run(collect(engine, request([1, 2, 3])))


def test_empty_prompts_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="no tokens"):
        asyncio.run(collect(engine, request([])))


def test_a_token_id_outside_the_vocabulary_is_refused_before_it_reaches_anyone_elses_batch(
    engine: Engine, prompts
) -> None:
    params = {"max_tokens": 6, "temperature": 0.0, "ignore_eos": True}
    alone = asyncio.run(collect(engine, request(prompts[0], **params)))
    vocab = engine.vocab_size

    async def together() -> tuple[list[GenerationEvent], BaseException | None]:
        good = asyncio.ensure_future(collect(engine, request(prompts[0], **params)))
        try:
            await collect(engine, request([5, vocab], **params))
            refused = None
        except ValueError as error:
            refused = error
        return await good, refused

    served, refused = asyncio.run(together())
    assert refused is not None and f"token id {vocab} at position 1 is outside the model's vocabulary" in str(refused)
    assert tokens(served) == tokens(alone)  # the request beside it never noticed
    with pytest.raises(ValueError, match="token id -1 at position 0"):
        asyncio.run(collect(engine, request([-1, 5])))


# ---------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="module")
def smollm2_engine(smollm2_dir: Path) -> Iterator[Engine]:
    engine = make_engine(smollm2_dir, dtype="bfloat16", max_model_len=256)
    yield engine
    engine.shutdown()


def test_smollm2_completes_and_chats(smollm2_engine: Engine) -> None:
    tokenizer = smollm2_engine.tokenizer
    completion = request(tokenizer.encode("The capital of France is"), max_tokens=4, temperature=0.0)
    chat_prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}])
    chat = request(tokenizer.encode(chat_prompt, add_special_tokens=False), max_tokens=40, temperature=0.0)
    completed, chatted = asyncio.run(_gather(smollm2_engine, [completion, chat]))
    assert text(completed).startswith(" Paris")
    assert "Paris" in text(chatted)
    assert chatted[-1].finish_reason == "stop" and chatted[-1].token_id == 2  # <|im_end|>
    assert "<|im_end|>" not in text(chatted)


def test_the_vocabulary_rule_leaves_an_empty_prompt_to_its_own_refusal() -> None:
    assert tokens_outside([], 10) is None
    assert tokens_outside([0, 9], 10) is None
    assert tokens_outside([3, 10, -1], 10) == "token id 10 at position 1 is outside the model's vocabulary (0 to 9)"


def test_the_kv_cache_usage_counts_the_running_sequences_positions(engine: Engine) -> None:
    # 4 slots x 128 positions; one sequence of 3 prompt tokens held while it decodes.
    seen: list[float] = []

    async def generate_and_watch() -> None:
        async for event in engine.generate(request([5, 6, 7], max_tokens=40, ignore_eos=True, temperature=0.0)):
            if event.token_id is not None:
                seen.append(engine.stats().kv_cache_usage)

    asyncio.run(generate_and_watch())
    capacity = 4 * 128
    # Read from another thread than the engine's: at the last token the sequence may already be freed.
    assert 0 < seen[0] <= 4 / capacity < max(seen) <= (3 + 40) / capacity
    assert engine.stats().kv_cache_usage == 0  # all freed once the request ended
