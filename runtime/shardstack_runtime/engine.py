"""The serving engine: continuous batching of generation requests over one model shard (all layers).

Usage::

    engine = Engine.from_uri("s3://weights/smollm2", dtype="bfloat16", max_slots=8)   # starts loading
    engine.wait_ready()                          # weights loaded and a warm-up pass done
    async for event in engine.generate(request): # GenerationRequest → GenerationEvent per token
        ...
    engine.shutdown()

All torch work runs in one engine thread. Each step it admits waiting requests into free KV-cache
slots and prefills them (short prompts together in one padded pass, long ones in chunks of at most
``prefill_chunk`` tokens), then
runs one batched decode step over every running sequence, whatever their lengths, samples, and sends
each request its event through its asyncio queue (``loop.call_soon_threadsafe``). Requests join and
leave the batch between steps. Closing or cancelling a ``generate()`` iterator aborts the request and
frees its slot. Running sequences are kept in the lowest slots (a finished sequence's slot is filled
by moving the highest one down), so the decode step reads the cache through views, without gathers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

import torch

from .batch import Batch, SlotMove
from .detokenizer import TextStream
from .generation import (
    EngineStats,
    EngineUnavailableError,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    SamplingParams,
)
from .kv_cache import KVCache
from .sampling import Draw, RowSampler, sample
from .shard import Shard, open_shard
from .tokenizer import Tokenizer

logger = logging.getLogger(__name__)

DEFAULT_MAX_SLOTS = 8
DEFAULT_MAX_MODEL_LEN = 4096
"""Prompt + completion tokens per sequence, unless the model's own context is shorter. The KV cache
is preallocated for max_slots * max_model_len tokens, so this bounds memory too."""
DEFAULT_PREFILL_CHUNK = 512
"""Prompt tokens per forward pass: a long prompt is prefilled over several steps, so running
sequences keep getting tokens in between."""
WARMUP_PROMPT_TOKENS = 8


class EngineOverloadedError(EngineUnavailableError):
    """The waiting queue is full (``max_waiting``); the server should answer 503 and the client retry."""


class EngineStoppedError(EngineUnavailableError):
    """The engine was shut down, or failed to load its model."""


class Engine:
    """Continuous-batching generation over a :class:`~.shard.Shard` (implements ``generation.Engine``)."""

    # Hooks for subclasses that run the model elsewhere (pipeline.PipelineEngine).
    _whole_model = True
    """Whether the shard must hold every layer (a pipeline's leader holds only the first range)."""
    _idle_wait_s: float | None = None
    """With nothing to do, call :meth:`_on_idle` at least this often (None: just wait for work)."""

    def _on_idle(self) -> None:
        """Called in the engine thread while it has nothing to run (see ``_idle_wait_s``)."""

    def _on_cache_ready(self) -> None:
        """Called in the engine thread once the weights are loaded and the KV cache allocated, before warm-up."""

    def __init__(
        self,
        shard: Shard,
        *,
        max_slots: int = DEFAULT_MAX_SLOTS,
        max_model_len: int | None = None,
        max_waiting: int | None = None,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
        model_name: str | None = None,
        verify: bool = True,
        micro_batches: int = 1,
    ) -> None:
        if self._whole_model and not (shard.model.is_first and shard.model.is_last):
            raise ValueError(
                f"Engine runs a whole model on one rank; this shard holds layers {shard.model.layer_range}"
            )
        if shard.tokenizer is None:
            raise ValueError("Engine needs the checkpoint's tokenizer (tokenizer.json)")
        if max_slots < 1 or prefill_chunk < 1:
            raise ValueError(f"max_slots and prefill_chunk must be ≥ 1; got {max_slots} and {prefill_chunk}")
        if not 1 <= micro_batches <= max_slots:
            raise ValueError(f"micro_batches must be between 1 and max_slots ({max_slots}); got {micro_batches}")
        self.shard = shard
        self.tokenizer: Tokenizer = shard.tokenizer
        self.model_name = model_name or _name_from_uri(shard.checkpoint.uri)
        self.max_model_len = min(max_model_len or DEFAULT_MAX_MODEL_LEN, shard.model.max_positions)
        self.max_slots = max_slots
        self.max_waiting = max_waiting
        self.prefill_chunk = prefill_chunk
        self.micro_batches = micro_batches
        """Passes in flight at once, each over its own lane of KV-cache slots (1 unless pipelined)."""
        self._verify = verify
        self._eos_ids = frozenset(self.tokenizer.eos_token_ids) | frozenset(shard.config.eos_token_ids)

        self._inbox: queue.SimpleQueue[_Sequence] = queue.SimpleQueue()
        self._aborts: queue.SimpleQueue[_Sequence] = queue.SimpleQueue()
        self._wakeup = threading.Event()
        self._ready = threading.Event()
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _closed against generate() racing shutdown()
        self._closed = False
        self.error: BaseException | None = None
        """Why the engine stopped, if it failed (loading, warm-up, or a step)."""

        # Engine-thread state.
        self._cache: KVCache | None = None
        self._waiting: deque[_Sequence] = deque()
        self._lanes: list[_Lane] = []
        self._first_lane = 0
        self._in_flight: deque[MicroBatch] = deque()  # oldest first: results come back in this order
        self._counters: dict[str, float] = {"steps": 0, "prompt_tokens": 0, "generation_tokens": 0}

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_uri(
        cls,
        uri: str,
        *,
        dtype: torch.dtype | str = torch.bfloat16,
        device: torch.device | str = "cpu",
        max_slots: int = DEFAULT_MAX_SLOTS,
        max_model_len: int | None = None,
        start: bool = True,
        **options,
    ) -> Engine:
        """Open the checkpoint at ``uri`` and (with ``start``) begin loading it in the engine thread.

        Returns at once, before the weights are loaded: ``ready`` turns true once they are and a
        warm-up pass ran. ``options`` go to the constructor (``max_waiting``, ``prefill_chunk``,
        ``model_name``, ``verify``).
        """
        shard = open_shard(uri, dtype=dtype, device=device, max_positions=max_model_len or DEFAULT_MAX_MODEL_LEN)
        engine = cls(shard, max_slots=max_slots, max_model_len=max_model_len, **options)
        if start:
            engine.start()
        return engine

    def start(self) -> Engine:
        """Start the engine thread: load the weights if needed, warm up, then serve."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="shardstack-engine", daemon=True)
            self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until ready (True), ``timeout`` passes (False), or loading fails (raises its error)."""
        done = self._ready.wait(timeout)
        if self.error is not None:
            raise EngineStoppedError(f"the engine failed: {self.error}") from self.error
        return done

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop the engine thread; requests still in flight end with finish_reason "abort"."""
        with self._lock:
            self._closed = True
        self._stopping.set()
        self._wakeup.set()
        if self._thread is None:  # never started: answer whatever was queued
            self._take_inbox()
            self._fail_all("abort")
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ the generation.Engine protocol

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.error is None and not self._closed

    def stats(self) -> EngineStats:
        sequences = self._running()
        running = len(sequences)
        cached = sum(seq.num_cached for seq in sequences)
        capacity = self.max_slots * self.max_model_len
        return EngineStats(
            running=running,
            waiting=self._num_waiting(),
            extra={
                "kv_cache_usage": cached / capacity,
                "max_slots": float(self.max_slots),
                **{k: float(v) for k, v in self._counters.items()},
            },
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        """Queue ``request`` and yield one event per generated token; the last carries finish_reason."""
        if not request.prompt_token_ids:
            raise ValueError(f"request {request.request_id}: the prompt has no tokens")
        if self.max_waiting is not None and (waiting := self._num_waiting()) >= self.max_waiting:
            raise EngineOverloadedError(
                f"{waiting} requests are already waiting (max_waiting={self.max_waiting}); retry later"
            )
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent] = asyncio.Queue()

        def deliver(event: GenerationEvent) -> None:  # called in the engine thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        seq = _Sequence(request, deliver, self.tokenizer)
        with self._lock:
            if self._closed or self.error is not None:
                raise EngineStoppedError(f"the engine is not running{f': {self.error}' if self.error else ''}")
            self._inbox.put(seq)
        self._wakeup.set()
        finished = False
        try:
            while not finished:
                event = await events.get()
                finished = event.finish_reason is not None
                yield event
        finally:
            if not finished:
                seq.cancelled = True
                self._aborts.put(seq)
                self._wakeup.set()

    # ------------------------------------------------------------------ engine thread

    def _main(self) -> None:
        try:
            self._prepare()
        except BaseException as e:  # reported through .error and wait_ready()
            logger.exception("loading %s failed", self.shard.checkpoint.uri)
            with self._lock:  # generate() checks .error under the lock: nothing slips in after this
                self.error = e
            self._ready.set()
            self._take_inbox()
            self._fail_all("abort")
            return
        self._ready.set()
        while not self._stopping.is_set():
            self._wakeup.clear()
            self._take_inbox()
            self._take_aborts()
            if not self._waiting and not self._in_flight and not any(lane.running for lane in self._lanes):
                if not self._wakeup.wait(self._idle_wait_s):
                    self._on_idle()
                continue
            try:
                self._step()
            except Exception as e:
                if self._stopping.is_set():
                    break  # the engine is unusable (the subclass recorded why); everything ends below
                # A failure outside a forward pass is a bug: end every request rather than guess at state.
                logger.exception("engine step failed; aborting %d running requests", len(self._running()))
                self._counters["failed_steps"] = self._counters.get("failed_steps", 0) + 1
                if self._in_flight:  # results still on their way cannot be matched any more
                    with self._lock:
                        self.error = self.error or e
                    break
                for lane in self._lanes:
                    self._abort_lane(lane)
        self._take_inbox()
        self._fail_all("abort")

    def _prepare(self) -> None:
        """Load the weights, lay them out for the device, allocate the cache, and run a warm-up pass."""
        started = time.perf_counter()
        if not self.shard.loaded:
            report = self.shard.load_weights(verify=self._verify)
            logger.info("%s", report)
        model = self.shard.model
        if model.pack_weights():
            logger.info("weights repacked for oneDNN")
        self._cache = model.new_cache(self.max_slots, self.max_model_len, num_lanes=self.micro_batches)
        self._lanes = [_Lane(slots) for slots in self._cache.lanes]
        self._on_cache_ready()
        self._warm_up()
        self._counters["compute_seconds"] = 0.0  # count serving only
        logger.info(
            "engine ready in %.2f s: %d slots x %d tokens, KV cache %.1f MiB, %s on %s",
            time.perf_counter() - started,
            self.max_slots,
            self.max_model_len,
            self._cache.nbytes / 2**20,
            model.dtype,
            model.device,
        )

    def _take_inbox(self) -> None:
        while True:
            try:
                seq = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._waiting.append(seq)

    def _take_aborts(self) -> None:
        """Drop cancelled requests that wait; a running one leaves its lane at the lane's next pass."""
        while True:
            try:
                seq = self._aborts.get_nowait()
            except queue.Empty:
                return
            if not seq.finished and seq in self._waiting:
                self._waiting.remove(seq)
                seq.finished = True

    def _fail_all(self, reason: FinishReason) -> None:
        for seq in [*self._running(), *self._waiting]:
            if not seq.finished:
                self._finish(seq, reason, "", None)
        self._waiting.clear()
        self._in_flight.clear()
        for lane in self._lanes:
            lane.busy = False

    def _num_waiting(self) -> int:
        return self._inbox.qsize() + len(self._waiting)

    def _running(self) -> list[_Sequence]:
        return [seq for lane in self._lanes for seq in lane.running]

    # ------------------------------------------------------------------ scheduling

    @torch.inference_mode()
    def _step(self) -> None:
        """Admit waiting requests, start a micro-batch on every idle lane with work, finish the oldest one."""
        self._counters["steps"] += 1
        self._admit()
        lanes = self._lanes[self._first_lane :] + self._lanes[: self._first_lane]
        self._first_lane = (self._first_lane + 1) % len(self._lanes)  # no lane always goes first
        for lane in lanes:
            if lane.busy:
                continue
            micro = self._plan(lane)
            if micro is None:
                continue
            try:
                self._submit(micro)
            except Exception:
                if self._stopping.is_set():  # the subclass found the engine unusable (say, a lost rank)
                    raise
                # A failed pass (say, out of memory) ends the requests of its lane, not the server.
                logger.exception("a forward pass failed; aborting the %d requests of its lane", len(lane.running))
                self._counters["failed_steps"] = self._counters.get("failed_steps", 0) + 1
                self._abort_lane(lane)
                continue
            lane.busy = True
            self._in_flight.append(micro)
        if self._in_flight:
            micro = self._in_flight.popleft()
            self._collect(micro)
            if micro.lane is not None:
                micro.lane.busy = False
            self._complete(micro)

    def _admit(self) -> None:
        """Move waiting requests into free slots, each into the lane with the fewest sequences."""
        while self._waiting:
            lane = min(self._lanes, key=lambda lane: len(lane.running))
            if len(lane.running) >= len(lane.slots):
                return
            seq = self._waiting.popleft()
            if seq.cancelled:
                seq.finished = True
                continue
            seq.first_scheduled_time = time.monotonic()
            if len(seq.prompt) >= self.max_model_len or seq.params.max_tokens < 1:
                # The server rejects these; never let one overflow the cache.
                self._finish(seq, "length", "", None)
                continue
            seq.lane, seq.slot = lane, lane.slots.start + len(lane.running)
            lane.running.append(seq)

    def _plan(self, lane: _Lane) -> MicroBatch | None:
        """The lane's next pass: the next chunks of prompts being read, or one token of every other sequence.

        The two alternate while both have work, so that reading a long prompt doesn't stall the running
        sequences. Several prompts share a pass, padded to the longest chunk, as long as rows x width stays
        within ``prefill_chunk``; a long prompt goes alone, in chunks, over several passes.
        """
        for seq in [seq for seq in lane.running if seq.cancelled]:
            self._release(seq)
        reading = [seq for seq in lane.running if not seq.prefilled]
        decoding = [seq for seq in lane.running if seq.prefilled]
        if reading and (lane.decode_next is False or not decoding):
            lane.decode_next = True
            group: list[tuple[_Sequence, int]] = []
            for seq in reading:
                n = min(len(seq.prompt) - seq.num_cached, self.prefill_chunk)
                if group and max(n, *(m for _, m in group)) * (len(group) + 1) > self.prefill_chunk:
                    break
                group.append((seq, n))
            width = max(n for _, n in group)
            ids = torch.zeros((len(group), width), dtype=torch.int64)
            for row, (seq, n) in enumerate(group):
                ids[row, :n] = torch.tensor(seq.prompt[seq.num_cached : seq.num_cached + n], dtype=torch.int64)
            batch = Batch(
                tuple(seq.held_slot for seq, _ in group),
                tuple(seq.num_cached for seq, _ in group),
                tuple(n for _, n in group),
                self._take_moves(lane),
            )
            for seq, n in group:
                seq.num_cached += n
                self._counters["prompt_tokens"] += n
            rows = [seq for seq, _ in group]
            draws = [seq.sampler.draw() if seq.prefilled else None for seq in rows]
            return MicroBatch(lane, rows, ids, batch, draws)
        if not decoding:
            return None
        lane.decode_next = False
        ids = torch.tensor([[seq.next_token] for seq in decoding], dtype=torch.int64)
        batch = Batch.decode(
            [seq.held_slot for seq in decoding], [seq.num_cached for seq in decoding], self._take_moves(lane)
        )
        for seq in decoding:
            seq.num_cached += 1
        return MicroBatch(lane, decoding, ids, batch, [seq.sampler.draw() for seq in decoding])

    def _submit(self, micro: MicroBatch) -> None:
        """Start the micro-batch's forward pass; :meth:`_collect` gets its tokens. Here: run it now.

        The one place a pipeline of shards plugs in (``pipeline.PipelineEngine``).
        """
        assert self._cache is not None
        started = time.perf_counter()
        logits = self.shard.model.forward(micro.ids, micro.batch, self._cache)
        rows = [row for row, draw in enumerate(micro.draws) if draw is not None]
        if rows:
            tokens, logprobs = sample(logits[rows], [draw for draw in micro.draws if draw is not None])
            for row, token, logprob in zip(rows, tokens, logprobs, strict=True):
                micro.tokens[row], micro.logprobs[row] = token, logprob
        self._counters["compute_seconds"] = self._counters.get("compute_seconds", 0.0) + time.perf_counter() - started

    def _collect(self, micro: MicroBatch) -> None:
        """Wait until ``micro.tokens`` holds the micro-batch's sampled tokens (already so here)."""

    def _complete(self, micro: MicroBatch) -> None:
        for seq, draw, token, logprob in zip(micro.rows, micro.draws, micro.tokens, micro.logprobs, strict=True):
            if seq.cancelled:
                self._release(seq)
            elif draw is not None:
                self._accept(seq, token, logprob)

    def _abort_lane(self, lane: _Lane) -> None:
        for seq in list(lane.running):
            self._finish(seq, "abort", "", None)
        lane.moves.clear()  # between freed slots only; nothing left to carry

    def _warm_up(self) -> None:
        """Run the paths a real step takes, a prefill then a batched decode, through :meth:`_submit`."""
        n = min(WARMUP_PROMPT_TOKENS, self.max_model_len - 1)
        if n < 1:
            return
        rows = min(self.max_slots, 2)
        greedy = RowSampler(SamplingParams(temperature=0.0)).draw()
        for micro in (
            MicroBatch(None, [], torch.zeros((1, n), dtype=torch.int64), Batch.prefill(0, 0, n), [greedy]),
            MicroBatch(
                None,
                [],
                torch.zeros((rows, 1), dtype=torch.int64),
                Batch.decode(range(rows), [n] * rows),
                [greedy] * rows,
            ),
        ):
            self._submit(micro)
            self._collect(micro)

    def _accept(self, seq: _Sequence, token: int, logprob: float) -> None:
        """Record a sampled token: emit its text, or finish the sequence."""
        if seq.cancelled:
            self._release(seq)
            return
        seq.generated += 1
        seq.next_token = token
        self._counters["generation_tokens"] += 1
        params = seq.params
        if token in params.stop_token_ids or (token in self._eos_ids and not params.ignore_eos):
            self._finish(seq, "stop", seq.text.finish(), token, logprob)
            return
        text, stopped = seq.text.push(token)
        if stopped:
            self._finish(seq, "stop", text, token, logprob)
        elif seq.generated >= params.max_tokens or len(seq.prompt) + seq.generated >= self.max_model_len:
            self._finish(seq, "length", text + seq.text.finish(), token, logprob)
        else:
            seq.emit(self._event(seq, token, text, None, logprob))

    def _finish(
        self, seq: _Sequence, reason: FinishReason, text: str, token: int | None, logprob: float | None = None
    ) -> None:
        self._release(seq)  # first, so that stats() no longer counts a request its client saw end
        seq.emit(self._event(seq, token, text, reason, logprob))

    def _release(self, seq: _Sequence) -> None:
        """Free the sequence's slot, moving the highest running sequence of its lane into it."""
        seq.finished = True
        lane, slot = seq.lane, seq.slot
        if lane is None or slot is None:
            return
        last = lane.running.pop()
        if last is not seq:
            lane.moves.append(SlotMove(last.held_slot, slot, last.num_cached))
            last.slot = slot
            lane.running[slot - lane.slots.start] = last
        seq.lane = seq.slot = None

    @staticmethod
    def _take_moves(lane: _Lane) -> tuple[SlotMove, ...]:
        moves = tuple(lane.moves)
        lane.moves.clear()
        return moves

    @staticmethod
    def _event(
        seq: _Sequence, token: int | None, text: str, reason: FinishReason | None, logprob: float | None
    ) -> GenerationEvent:
        return GenerationEvent(
            request_id=seq.request.request_id,
            token_id=token,
            text=text,
            finish_reason=reason,
            prompt_tokens=len(seq.prompt),
            completion_tokens=seq.generated,
            first_scheduled_time=seq.first_scheduled_time,
            logprob=logprob,
        )


@dataclass(eq=False)
class _Lane:
    """A range of KV-cache slots whose sequences go through the model together, one pass at a time."""

    slots: range
    running: list[_Sequence] = field(default_factory=list)
    """``running[i]`` holds slot ``slots.start + i``: the lane's sequences fill its lowest slots."""
    moves: list[SlotMove] = field(default_factory=list)
    """Compactions since the lane's last pass, applied (on every rank) before its next one."""
    busy: bool = False
    """A pass of this lane is in flight; its sequences must not move until it is back."""
    decode_next: bool = False


@dataclass(eq=False)
class MicroBatch:
    """One forward pass of one lane: its rows, inputs and draws, then the tokens sampled for it."""

    lane: _Lane | None
    """None for the warm-up passes."""
    rows: list[_Sequence]
    ids: torch.Tensor
    batch: Batch
    draws: list[Draw | None]
    """One per row; None for a prompt chunk that does not end its prompt (nothing to sample)."""
    tokens: list[int] = field(init=False)
    logprobs: list[float] = field(init=False)
    handle: object = None
    """What a subclass needs to collect the result (e.g. the pending receive of a pipeline)."""

    def __post_init__(self) -> None:
        self.tokens = [-1] * len(self.draws)
        self.logprobs = [0.0] * len(self.draws)


@dataclass(eq=False)
class _Sequence:
    """One request inside the engine."""

    request: GenerationRequest
    deliver: Callable[[GenerationEvent], None]
    tokenizer: Tokenizer
    prompt: list[int] = field(init=False)
    params: SamplingParams = field(init=False)
    sampler: RowSampler = field(init=False)
    text: TextStream = field(init=False)
    lane: _Lane | None = None
    slot: int | None = None
    num_cached: int = 0
    generated: int = 0
    next_token: int = 0
    first_scheduled_time: float | None = None
    finished: bool = False
    cancelled: bool = False
    """Set by the client's side when it stops listening; the engine drops the sequence at the next step."""

    def __post_init__(self) -> None:
        self.prompt = list(self.request.prompt_token_ids)
        self.params = self.request.params
        self.sampler = RowSampler(self.params)
        self.text = TextStream(self.tokenizer, self.prompt, self.params.stop)

    @property
    def held_slot(self) -> int:
        assert self.slot is not None, "the sequence holds no slot"
        return self.slot

    @property
    def prefilled(self) -> bool:
        return self.num_cached >= len(self.prompt)

    def emit(self, event: GenerationEvent) -> None:
        if self.cancelled:
            return
        try:
            self.deliver(event)
        except RuntimeError:  # the client's event loop is closed: nobody is listening any more
            self.cancelled = True


def _name_from_uri(uri: str) -> str:
    name = os.path.basename(uri.rstrip("/"))
    return name or uri
