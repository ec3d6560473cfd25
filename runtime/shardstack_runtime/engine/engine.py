"""The serving engine: continuous batching of generation requests, its passes run by an executor.

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

:class:`Engine` holds the engine's lifecycle and its callers' side (loading, the thread, ``generate()``,
stats); what each step does is its :class:`~.scheduler.Scheduler`'s, over the bookkeeping of :mod:`.lanes`;
where each pass runs is its :class:`~.executor.Executor`'s: here (:class:`~.executor.LocalExecutor`, the
default) or through the ranks of a pipeline (:func:`~.pipeline.pipeline_engine`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncGenerator

import torch

from ..generation import (
    EngineStats,
    EngineUnavailableError,
    GenerationEvent,
    GenerationRequest,
    SamplingParams,
    tokens_outside,
)
from ..memory import available_memory
from ..model.compute_path import ComputePath
from ..sampling import RowSampler
from ..shard import Shard, open_shard
from ..threads import compute_here
from ..tokenizer import Tokenizer
from .batch import Batch
from .executor import Executor, ExecutorBrokenError, LocalExecutor
from .lanes import EngineSequence, MicroBatch
from .scheduler import Scheduler
from .slots import SlotChoice, choose_slots, decode_step_timer

logger = logging.getLogger(__name__)

WAITING_PER_SLOT = 16
"""Default bound of the waiting queue, per decode slot: the request at its back waits for 16 rounds of the
batch at most; beyond that the client is better told to retry (HTTP 503) than kept waiting."""
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
    """Continuous-batching generation over a model shard (implements ``generation.Engine``).

    ``executor`` runs the passes; by default a :class:`~.executor.LocalExecutor`, which needs a shard that
    holds every layer (a pipeline's leader: :func:`~.pipeline.pipeline_engine`).
    """

    def __init__(
        self,
        shard: Shard,
        *,
        max_slots: int | None = None,
        max_model_len: int | None = None,
        max_waiting: int | None = None,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
        model_name: str | None = None,
        verify: bool = True,
        micro_batches: int = 1,
        executor: Executor | None = None,
        threads: int | None = None,
    ) -> None:
        self.executor: Executor = executor if executor is not None else LocalExecutor(shard)
        if shard.tokenizer is None:
            raise ValueError("Engine needs the checkpoint's tokenizer (tokenizer.json)")
        if (max_slots is not None and max_slots < 1) or prefill_chunk < 1:
            raise ValueError(f"max_slots and prefill_chunk must be ≥ 1; got {max_slots} and {prefill_chunk}")
        if not 1 <= micro_batches <= (max_slots or micro_batches):
            raise ValueError(f"micro_batches must be between 1 and max_slots ({max_slots}); got {micro_batches}")
        self.shard = shard
        self.tokenizer: Tokenizer = shard.tokenizer
        self.model_name = model_name or _name_from_uri(shard.checkpoint.uri)
        self.max_model_len = min(max_model_len or DEFAULT_MAX_MODEL_LEN, shard.model.max_positions)
        self.max_slots = max_slots
        """Sequences decoded together; None until the engine chose them at start (:mod:`~.slots`)."""
        self._max_waiting = max_waiting
        self.compute: ComputePath | None = None
        """How the products compute here, once chosen at start (:mod:`~..model.compute_path`)."""
        self.slot_choice: SlotChoice | None = None
        """Why ``max_slots`` is what it is, when the engine chose it."""
        self.prefill_chunk = prefill_chunk
        self.micro_batches = micro_batches
        """Passes in flight at once, each over its own lane of KV-cache slots (1 unless pipelined)."""
        self._verify = verify
        self._threads = threads or torch.get_num_threads()
        """torch's cores in the engine thread (default: torch's count where the engine is built; see threads.py)."""
        eos_ids = frozenset(self.tokenizer.eos_token_ids) | frozenset(shard.config.eos_token_ids)
        self.scheduler = Scheduler(
            self.executor, max_model_len=self.max_model_len, prefill_chunk=prefill_chunk, eos_ids=eos_ids
        )

        self._inbox: queue.SimpleQueue[EngineSequence] = queue.SimpleQueue()
        self._aborts: queue.SimpleQueue[EngineSequence] = queue.SimpleQueue()
        self._wakeup = threading.Event()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _closed and error against generate() racing shutdown() or a failure
        self._closed = False
        self.error: BaseException | None = None
        """Why the engine stopped, if it failed (loading, warm-up, a step, or its executor)."""

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_uri(
        cls,
        uri: str,
        *,
        dtype: torch.dtype | str = torch.bfloat16,
        device: torch.device | str = "cpu",
        max_slots: int | None = None,
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
            self.scheduler.fail_all("abort")
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
        sequences = self.scheduler.running()
        cached = sum(seq.num_cached for seq in sequences)
        capacity = (self.max_slots or 0) * self.max_model_len
        stats = EngineStats(
            running=len(sequences),
            waiting=self._num_waiting(),
            kv_cache_usage=cached / capacity if capacity else 0.0,
            extra={
                "max_slots": float(self.max_slots or 0),
                **{k: float(v) for k, v in self.scheduler.counters.items()},
            },
            busy_seconds=self.scheduler.busy_seconds,
        )
        self.executor.add_stats(stats)
        return stats

    @property
    def max_waiting(self) -> int | None:
        """Requests that may wait for a slot before more are refused (default :data:`WAITING_PER_SLOT` per slot)."""
        if self._max_waiting is None and self.max_slots is not None:
            return WAITING_PER_SLOT * self.max_slots
        return self._max_waiting

    @property
    def vocab_size(self) -> int:
        """Token ids the model reads: 0 to ``vocab_size - 1``."""
        return self.shard.config.vocab_size

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        """Queue ``request`` and yield one event per generated token; the last carries finish_reason.

        A prompt the model can't read (empty, or a token id outside the vocabulary) raises ValueError here,
        before it can reach a batch that other requests share.
        """
        if not request.prompt_token_ids:
            raise ValueError(f"request {request.request_id}: the prompt has no tokens")
        if problem := tokens_outside(request.prompt_token_ids, self.vocab_size):
            raise ValueError(f"request {request.request_id}: {problem}")
        if (max_waiting := self.max_waiting) is not None and (waiting := self._num_waiting()) >= max_waiting:
            raise EngineOverloadedError(
                f"{waiting} requests are already waiting (max_waiting={max_waiting}); retry later"
            )
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent] = asyncio.Queue()

        def deliver(event: GenerationEvent) -> None:  # called in the engine thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        seq = EngineSequence(request, deliver, self.tokenizer)
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
        compute_here(self._threads)
        try:
            if self._start_up():
                self._serve()
            self._take_inbox()
            self.scheduler.fail_all("abort")
        finally:
            self.executor.stop()

    def _start_up(self) -> bool:
        """Prepare the engine (:meth:`_prepare`); whether it is ready, or recorded why not in ``error``."""
        try:
            self._prepare()
        except BaseException as e:  # reported through .error and wait_ready()
            logger.exception("loading %s failed", self.shard.checkpoint.uri)
            with self._lock:  # generate() checks .error under the lock: nothing slips in after this
                self.error = e
            return False
        finally:
            self._ready.set()
        return True

    def _serve(self) -> None:
        """Step while there is work, until shutdown or a failure that leaves the engine unusable."""
        scheduler = self.scheduler
        while not self._stopping.is_set():
            self._wakeup.clear()
            self._take_inbox()
            self._take_aborts()
            try:
                if not scheduler.has_work:
                    if not self._wakeup.wait(self.executor.idle_wait_s):
                        self.executor.idle()
                    continue
                scheduler.step()
            except ExecutorBrokenError as e:
                self._record_error(e)
                return  # the engine is unusable; every request ends in _main
            except Exception as e:
                if self._stopping.is_set():
                    return  # shutting down: every request ends in _main
                # A failure outside a forward pass is a bug: end every request rather than guess at state.
                logger.exception("engine step failed; aborting %d running requests", len(scheduler.running()))
                scheduler.counters["failed_steps"] = scheduler.counters.get("failed_steps", 0) + 1
                if scheduler.passes_in_flight:  # results still on their way cannot be matched any more
                    self._record_error(e)
                    return
                scheduler.abort_running()

    def _record_error(self, error: BaseException) -> None:
        """Keep the first error that stopped the engine: ``ready`` turns false and new requests are refused."""
        with self._lock:
            self.error = self.error or error

    def _prepare(self) -> None:
        """Load the weights, lay them out for the device, allocate the cache, and run a warm-up pass."""
        started = time.perf_counter()
        if not self.shard.loaded:
            report = self.shard.load_weights(verify=self._verify)
            logger.info("%s", report)
        model = self.shard.model
        self.compute = model.choose_compute(
            reserve_bytes=model.cache_nbytes(self.max_slots or self.micro_batches, self.max_model_len)
        )
        logger.info("compute path: %s", self.compute.describe())
        max_slots = self.max_slots or self._choose_slots()
        cache = self.executor.prepare(max_slots, self.max_model_len, self.micro_batches)
        self.scheduler.open_lanes(cache.lanes)
        self._warm_up(max_slots)
        self.executor.reset_stats()  # count serving only
        logger.info(
            "engine ready in %.2f s: %d slots x %d tokens, KV cache %.1f MiB, %s on %s",
            time.perf_counter() - started,
            max_slots,
            self.max_model_len,
            cache.nbytes / 2**20,
            model.dtype,
            model.device,
        )

    def _choose_slots(self) -> int:
        """Measure the batch curve of this rank's model and take the default slots from it (:mod:`~.slots`)."""
        model = self.shard.model
        self.slot_choice = choose_slots(
            decode_step_timer(model),
            slot_bytes=model.cache_nbytes(1, self.max_model_len),
            memory_left=available_memory(model.device),
            at_least=self.micro_batches,
        )
        logger.info("%s", self.slot_choice.describe())
        self.max_slots = self.slot_choice.slots
        return self.max_slots

    def _take_inbox(self) -> None:
        while True:
            try:
                seq = self._inbox.get_nowait()
            except queue.Empty:
                return
            self.scheduler.waiting.append(seq)

    def _take_aborts(self) -> None:
        """Drop cancelled requests that wait; a running one leaves its lane at the lane's next pass."""
        while True:
            try:
                seq = self._aborts.get_nowait()
            except queue.Empty:
                return
            self.scheduler.withdraw(seq)

    def _num_waiting(self) -> int:
        return self._inbox.qsize() + len(self.scheduler.waiting)

    def _warm_up(self, max_slots: int) -> None:
        """Run the paths a real step takes, a prefill then a batched decode, through the executor."""
        n = min(WARMUP_PROMPT_TOKENS, self.max_model_len - 1)
        if n < 1:
            return
        rows = min(max_slots, 2)
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
            self.executor.submit(micro)
            self.executor.collect(micro)


def _name_from_uri(uri: str) -> str:
    name = os.path.basename(uri.rstrip("/"))
    return name or uri
