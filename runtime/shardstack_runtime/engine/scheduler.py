"""The engine thread's step: which sequences get slots, what each lane's next pass holds, what comes of it.

Each step admits waiting sequences into free KV-cache slots, starts a pass (a :class:`~.lanes.MicroBatch`)
on every idle lane with work, alternating prompt chunks and decode steps, and finishes the oldest pass in
flight: its sampled tokens become text and events, or end their sequences. A finished sequence's slot is
filled by moving the lane's highest one down, so the running sequences keep the lowest slots.

Where a pass runs is the :class:`~.executor.Executor`'s: the scheduler submits passes to it and collects
them in order. The thread, the queues between it and the callers, and the model's loading are the
:class:`~.engine.Engine`'s.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable

import torch

from ..generation import FinishReason, GenerationEvent
from .batch import Batch, SlotMove
from .executor import Executor, ExecutorBrokenError
from .lanes import EngineSequence, Lane, MicroBatch

logger = logging.getLogger(__name__)


class Scheduler:
    """Continuous batching over lanes of KV-cache slots, one step at a time, in the engine thread.

    Its state belongs to the engine thread; other threads only read its sizes and counters for stats.
    """

    def __init__(self, executor: Executor, *, max_model_len: int, prefill_chunk: int, eos_ids: frozenset[int]) -> None:
        self.executor = executor
        self.max_model_len = max_model_len
        self.prefill_chunk = prefill_chunk
        self._eos_ids = eos_ids
        self.waiting: deque[EngineSequence] = deque()
        self.lanes: list[Lane] = []
        self._first_lane = 0
        self._in_flight: deque[MicroBatch] = deque()  # oldest first: results come back in this order
        self.counters: dict[str, float] = {"steps": 0, "prompt_tokens": 0, "generation_tokens": 0}
        self._busy_seconds = 0.0
        self._busy_since: float | None = None

    def open_lanes(self, slot_ranges: Iterable[range]) -> None:
        """Schedule over these lanes of cache slots (the cache's ``lanes``)."""
        self.lanes = [Lane(slots) for slots in slot_ranges]

    # ------------------------------------------------------------------ what the engine reads

    def running(self) -> list[EngineSequence]:
        return [seq for lane in self.lanes for seq in lane.running]

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self._in_flight or any(lane.running for lane in self.lanes))

    @property
    def passes_in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def busy_seconds(self) -> float:
        """Wall time from each first step with work until nothing ran or waited any more."""
        busy, since = self._busy_seconds, self._busy_since
        return busy if since is None else busy + time.monotonic() - since

    # ------------------------------------------------------------------ the engine thread

    def withdraw(self, seq: EngineSequence) -> None:
        """Drop a cancelled sequence that still waits; a running one leaves its lane at the lane's next pass."""
        if not seq.finished and seq in self.waiting:
            self.waiting.remove(seq)
            seq.finished = True

    def fail_all(self, reason: FinishReason) -> None:
        """End every running and waiting sequence with ``reason``; passes in flight are forgotten."""
        for seq in [*self.running(), *self.waiting]:
            if not seq.finished:
                self._finish(seq, reason, "", None)
        self.waiting.clear()
        self._in_flight.clear()
        for lane in self.lanes:
            lane.busy = False

    def abort_running(self) -> None:
        for lane in self.lanes:
            self._abort_lane(lane)

    @torch.inference_mode()
    def step(self) -> None:
        """Admit waiting requests, start a micro-batch on every idle lane with work, finish the oldest one."""
        # Busy: from the first step with work until nothing runs or waits, the bookkeeping between passes
        # included, so that a pipeline's bubble fraction counts it as the idle time it is for the workers.
        if self._busy_since is None:
            self._busy_since = time.monotonic()
        self.counters["steps"] += 1
        self._admit()
        self._start_passes()
        if self._in_flight:
            self._collect_oldest()
        if not self._in_flight and not self.waiting and not self.running():
            self._busy_seconds += time.monotonic() - self._busy_since
            self._busy_since = None

    def _collect_oldest(self) -> None:
        micro = self._in_flight.popleft()
        self.executor.collect(micro)
        if micro.lane is not None:
            micro.lane.busy = False
        self._complete(micro)

    def _start_passes(self) -> None:
        lanes = self.lanes[self._first_lane :] + self.lanes[: self._first_lane]
        self._first_lane = (self._first_lane + 1) % len(self.lanes)  # no lane always goes first
        for lane in lanes:
            if lane.busy:
                continue
            micro = self._plan(lane)
            if micro is None:
                continue
            try:
                self.executor.submit(micro)
            except ExecutorBrokenError:
                raise  # the engine stops, and every request with it
            except Exception:
                self.counters["failed_steps"] = self.counters.get("failed_steps", 0) + 1
                self._after_failed_pass(lane, micro)
                continue
            lane.busy = True
            self._in_flight.append(micro)

    def _after_failed_pass(self, lane: Lane, micro: MicroBatch) -> None:
        """A pass failed (say, out of memory, or a row the model chokes on): only the requests that fail alone end.

        Its slot moves go back to the lane (applying one twice copies the same rows again). The passes already in
        flight are collected first, in order, as a pipeline needs; then each row of the failed pass runs again
        alone, and a row that fails alone ends its request (abort); the others go on as if nothing happened, their
        sampling draws unchanged.
        """
        lane.moves[:0] = micro.batch.moves
        while self._in_flight:
            self._collect_oldest()
        if len(micro.rows) > 1:
            logger.warning("a forward pass of %d rows failed; running each row alone", len(micro.rows), exc_info=True)
        for row, seq in enumerate(micro.rows):
            if seq.finished:
                continue
            new = micro.batch.num_new[row]
            batch = Batch((seq.held_slot,), (seq.num_cached - new,), (new,), self._take_moves(lane))
            alone = MicroBatch(lane, [seq], micro.ids[row : row + 1, :new], batch, [micro.draws[row]])
            try:
                self.executor.submit(alone)
                self.executor.collect(alone)
            except ExecutorBrokenError:
                raise
            except Exception:
                logger.exception("request %s failed in a forward pass of its own; ending it", seq.request.request_id)
                self._finish(seq, "abort", "", None)
                continue
            self._complete(alone)

    def _admit(self) -> None:
        """Move waiting requests into free slots, each into the lane with the fewest sequences."""
        while self.waiting:
            lane = min(self.lanes, key=lambda lane: len(lane.running))
            if len(lane.running) >= len(lane.slots):
                return
            seq = self.waiting.popleft()
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

    def _plan(self, lane: Lane) -> MicroBatch | None:
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
            group: list[tuple[EngineSequence, int]] = []
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
                self.counters["prompt_tokens"] += n
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

    def _complete(self, micro: MicroBatch) -> None:
        for seq, draw, token, logprob, top in zip(
            micro.rows, micro.draws, micro.tokens, micro.logprobs, micro.top, strict=True
        ):
            if seq.cancelled:
                self._release(seq)
            elif draw is not None:
                # The pass's likeliest tokens are as many as its most demanding row asked for.
                self._accept(seq, token, logprob, tuple(top[: seq.params.top_logprobs]))

    def _abort_lane(self, lane: Lane) -> None:
        for seq in list(lane.running):
            self._finish(seq, "abort", "", None)
        lane.moves.clear()  # between freed slots only; nothing left to carry

    def _accept(self, seq: EngineSequence, token: int, logprob: float, top: tuple[tuple[int, float], ...]) -> None:
        """Record a sampled token: emit its text, or finish the sequence."""
        if seq.cancelled:
            self._release(seq)
            return
        seq.generated += 1
        seq.next_token = token
        self.counters["generation_tokens"] += 1
        params = seq.params
        if token in params.stop_token_ids or (token in self._eos_ids and not params.ignore_eos):
            self._finish(seq, "stop", seq.text.finish(), token, logprob, top)
            return
        text, stopped = seq.text.push(token)
        if stopped:
            self._finish(seq, "stop", text, token, logprob, top)
        elif seq.generated >= params.max_tokens or len(seq.prompt) + seq.generated >= self.max_model_len:
            self._finish(seq, "length", text + seq.text.finish(), token, logprob, top)
        else:
            seq.emit(_event(seq, token, text, None, logprob, top))

    def _finish(
        self,
        seq: EngineSequence,
        reason: FinishReason,
        text: str,
        token: int | None,
        logprob: float | None = None,
        top: tuple[tuple[int, float], ...] = (),
    ) -> None:
        self._release(seq)  # first, so that stats() no longer counts a request its client saw end
        seq.emit(_event(seq, token, text, reason, logprob, top))

    @staticmethod
    def _release(seq: EngineSequence) -> None:
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
    def _take_moves(lane: Lane) -> tuple[SlotMove, ...]:
        moves = tuple(lane.moves)
        lane.moves.clear()
        return moves


def _event(
    seq: EngineSequence,
    token: int | None,
    text: str,
    reason: FinishReason | None,
    logprob: float | None,
    top: tuple[tuple[int, float], ...],
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
        top_logprobs=top,
    )
