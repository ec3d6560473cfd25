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
from collections.abc import AsyncIterator, Callable
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
from .sampling import RowSampler, sample
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
    ) -> None:
        if self._whole_model and not (shard.model.is_first and shard.model.is_last):
            raise ValueError(
                f"Engine runs a whole model on one rank; this shard holds layers {shard.model.layer_range}"
            )
        if shard.tokenizer is None:
            raise ValueError("Engine needs the checkpoint's tokenizer (tokenizer.json)")
        if max_slots < 1 or prefill_chunk < 1:
            raise ValueError(f"max_slots and prefill_chunk must be ≥ 1; got {max_slots} and {prefill_chunk}")
        self.shard = shard
        self.tokenizer: Tokenizer = shard.tokenizer
        self.model_name = model_name or _name_from_uri(shard.checkpoint.uri)
        self.max_model_len = min(max_model_len or DEFAULT_MAX_MODEL_LEN, shard.model.max_positions)
        self.max_slots = max_slots
        self.max_waiting = max_waiting
        self.prefill_chunk = prefill_chunk
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
        self._running: list[_Sequence] = []  # index == slot
        self._moves: list[SlotMove] = []
        self._counters = {"steps": 0, "prompt_tokens": 0, "generation_tokens": 0}

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
        running = len(self._running)
        cached = sum(seq.num_cached for seq in list(self._running))
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

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
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
            if not self._running and not self._waiting:
                if not self._wakeup.wait(self._idle_wait_s):
                    self._on_idle()
                continue
            try:
                self._step()
            except Exception:
                # A failed step (say, out of memory) ends the requests in it, not the server.
                logger.exception("engine step failed; aborting %d running requests", len(self._running))
                self._counters["failed_steps"] = self._counters.get("failed_steps", 0) + 1
                for seq in list(self._running):
                    self._finish(seq, "abort", "", None)
                self._moves.clear()  # between freed slots only; nothing left to carry
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
        self._cache = model.new_cache(self.max_slots, self.max_model_len)
        # Warm up the paths a real step takes: a prefill, then a batched decode.
        n = min(WARMUP_PROMPT_TOKENS, self.max_model_len - 1)
        if n >= 1:
            ids = torch.zeros((1, n), dtype=torch.int64)
            model.forward(ids, Batch.prefill(0, 0, n), self._cache)
            rows = min(self.max_slots, 2)
            model.forward(torch.zeros((rows, 1), dtype=torch.int64), Batch.decode(range(rows), [n] * rows), self._cache)
        logger.info("engine ready in %.2f s: %d slots x %d tokens, KV cache %.1f MiB, %s on %s",
                    time.perf_counter() - started, self.max_slots, self.max_model_len,
                    self._cache.nbytes / 2**20, model.dtype, model.device)

    def _take_inbox(self) -> None:
        while True:
            try:
                seq = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._waiting.append(seq)

    def _take_aborts(self) -> None:
        while True:
            try:
                seq = self._aborts.get_nowait()
            except queue.Empty:
                return
            if seq.finished:
                continue
            if seq in self._waiting:
                self._waiting.remove(seq)
                seq.finished = True
            elif seq.slot is not None:
                self._release(seq)

    def _fail_all(self, reason: FinishReason) -> None:
        for seq in [*self._running, *self._waiting]:
            if not seq.finished:
                self._finish(seq, reason, "", None)
        self._waiting.clear()

    def _num_waiting(self) -> int:
        return self._inbox.qsize() + len(self._waiting)

    def _forward(self, ids: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Logits of each row's last token. The one place a pipeline of shards would plug in."""
        assert self._cache is not None
        return self.shard.model.forward(ids, batch, self._cache)

    @torch.inference_mode()
    def _step(self) -> None:
        self._counters["steps"] += 1

        # Admit waiting requests into free slots (the lowest ones).
        while self._waiting and len(self._running) < self.max_slots:
            seq = self._waiting.popleft()
            if seq.cancelled:
                seq.finished = True
                continue
            if len(seq.prompt) >= self.max_model_len or seq.params.max_tokens < 1:
                # The server rejects these; never let one overflow the cache.
                seq.first_scheduled_time = time.monotonic()
                self._finish(seq, "length", "", None)
                continue
            seq.slot = len(self._running)
            seq.first_scheduled_time = time.monotonic()
            self._running.append(seq)

        self._prefill()

        # One decode step over every sequence with a token to feed.
        decoding = [seq for seq in self._running if seq.prefilled and not seq.finished]
        if not decoding:
            return
        ids = torch.tensor([[seq.next_token] for seq in decoding], dtype=torch.int64)
        batch = Batch.decode([seq.held_slot for seq in decoding], [seq.num_cached for seq in decoding],
                             self._take_moves())
        logits = self._forward(ids, batch)
        for seq in decoding:
            seq.num_cached += 1
        tokens, logprobs = sample(logits, [seq.sampler for seq in decoding])
        for seq, token, logprob in zip(decoding, tokens, logprobs, strict=True):
            self._accept(seq, token, logprob)

    def _prefill(self) -> None:
        """Run one forward pass over the next chunks of the prompts still being read.

        Several prompts share a pass, padded to the longest chunk, as long as rows x width stays
        within ``prefill_chunk``; a long prompt goes alone, in chunks, over several steps.
        """
        group: list[tuple[_Sequence, int]] = []
        for seq in self._running:
            if seq.prefilled or seq.finished:
                continue
            n = min(len(seq.prompt) - seq.num_cached, self.prefill_chunk)
            width = max([n, *(m for _, m in group)])
            if group and width * (len(group) + 1) > self.prefill_chunk:
                break
            group.append((seq, n))
        if not group:
            return
        width = max(n for _, n in group)
        ids = torch.zeros((len(group), width), dtype=torch.int64)
        for row, (seq, n) in enumerate(group):
            ids[row, :n] = torch.tensor(seq.prompt[seq.num_cached : seq.num_cached + n], dtype=torch.int64)
        batch = Batch(tuple(seq.held_slot for seq, _ in group), tuple(seq.num_cached for seq, _ in group),
                      tuple(n for _, n in group), self._take_moves())
        logits = self._forward(ids, batch)
        done: list[int] = []
        for row, (seq, n) in enumerate(group):
            seq.num_cached += n
            self._counters["prompt_tokens"] += n
            if seq.prefilled:
                done.append(row)
        if done:
            tokens, logprobs = sample(logits[done], [group[row][0].sampler for row in done])
            for row, token, logprob in zip(done, tokens, logprobs, strict=True):
                self._accept(group[row][0], token, logprob)

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

    def _finish(self, seq: _Sequence, reason: FinishReason, text: str, token: int | None,
                logprob: float | None = None) -> None:
        self._release(seq)  # first, so that stats() no longer counts a request its client saw end
        seq.emit(self._event(seq, token, text, reason, logprob))

    def _release(self, seq: _Sequence) -> None:
        """Free the sequence's slot, moving the highest running sequence into it."""
        seq.finished = True
        if seq.slot is None:
            return
        slot, last = seq.slot, self._running[-1]
        self._running.pop()
        if last is not seq:
            self._moves.append(SlotMove(last.held_slot, slot, last.num_cached))
            last.slot = slot
            self._running[slot] = last
        seq.slot = None

    def _take_moves(self) -> tuple[SlotMove, ...]:
        moves, self._moves = tuple(self._moves), []
        return moves

    @staticmethod
    def _event(seq: _Sequence, token: int | None, text: str, reason: FinishReason | None,
               logprob: float | None) -> GenerationEvent:
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
class _Sequence:
    """One request inside the engine."""

    request: GenerationRequest
    deliver: Callable[[GenerationEvent], None]
    tokenizer: Tokenizer
    prompt: list[int] = field(init=False)
    params: SamplingParams = field(init=False)
    sampler: RowSampler = field(init=False)
    text: TextStream = field(init=False)
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

