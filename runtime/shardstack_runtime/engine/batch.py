"""Which KV-cache slots and positions the rows of one forward pass use.

Usage::

    Batch.prefill(slot=3, start=0, num_new=12)          # one prompt (or a chunk of it)
    Batch.decode(slots=[0, 1, 2], lengths=[40, 17, 9])  # one new token per running sequence

A :class:`Batch` is plain host data. The leader builds it once per step; in a pipeline every shard
receives the same batch beside its activations (:meth:`Batch.to_tensor` / :meth:`Batch.from_tensor`),
so all shards write their slice of the KV cache at the same places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SlotMove:
    """Copy the first ``length`` cached positions of ``src`` into ``dst`` (compacts the running slots)."""

    src: int
    dst: int
    length: int


@dataclass(frozen=True)
class Batch:
    """The rows of one forward pass: ``B`` rows of ``S`` token positions each.

    Row ``b`` holds ``num_new[b]`` real tokens at positions ``starts[b] ..`` of cache slot ``slots[b]``;
    the rest of its ``S = num_tokens`` positions are padding whose outputs are ignored.
    """

    slots: tuple[int, ...]
    starts: tuple[int, ...]
    """Tokens of each row already in the cache, i.e. the position of the row's first new token."""
    num_new: tuple[int, ...]
    moves: tuple[SlotMove, ...] = ()
    """Applied to the cache before the pass, on every shard."""

    def __post_init__(self) -> None:
        if not (len(self.slots) == len(self.starts) == len(self.num_new)) or not self.slots:
            raise ValueError(
                f"slots, starts and num_new need one entry per row; got {self.slots}, {self.starts}, {self.num_new}"
            )
        if len(set(self.slots)) != len(self.slots):
            raise ValueError(f"a slot may appear in only one row of a batch; got slots {self.slots}")
        if min(self.num_new) < 1 or min(self.starts) < 0:
            raise ValueError(f"every row needs ≥ 1 new token at a start ≥ 0; got {self.starts}, {self.num_new}")

    @classmethod
    def prefill(cls, slot: int, start: int, num_new: int, moves: Sequence[SlotMove] = ()) -> Batch:
        """One row: ``num_new`` prompt tokens written from position ``start`` of ``slot``."""
        return cls((slot,), (start,), (num_new,), tuple(moves))

    @classmethod
    def decode(cls, slots: Sequence[int], lengths: Sequence[int], moves: Sequence[SlotMove] = ()) -> Batch:
        """One new token per row, each after the ``lengths[b]`` tokens already cached in ``slots[b]``."""
        return cls(tuple(slots), tuple(lengths), (1,) * len(slots), tuple(moves))

    @property
    def num_rows(self) -> int:
        return len(self.slots)

    @property
    def num_tokens(self) -> int:
        """``S``: positions per row (the longest row; shorter rows are padded)."""
        return max(self.num_new)

    @property
    def padded(self) -> bool:
        return min(self.num_new) != max(self.num_new)

    @property
    def fresh(self) -> bool:
        """Every row starts at position 0 with no padding: attention needs only this pass's own keys."""
        return max(self.starts) == 0 and not self.padded

    @property
    def end(self) -> int:
        """One past the furthest position any row attends to."""
        return max(s + n for s, n in zip(self.starts, self.num_new, strict=True))

    def contiguous_slots(self) -> tuple[int, int] | None:
        """``(first, last + 1)`` when the rows are the ascending slots of one range, else None."""
        first = self.slots[0]
        if self.slots == tuple(range(first, first + len(self.slots))):
            return first, first + len(self.slots)
        return None

    def to_tensor(self) -> torch.Tensor:
        """Encode as one int64 tensor, to send to the next shard of a pipeline."""
        values = [len(self.slots), len(self.moves), *self.slots, *self.starts, *self.num_new]
        for move in self.moves:
            values += [move.src, move.dst, move.length]
        return torch.tensor(values, dtype=torch.int64)

    @classmethod
    def from_tensor(cls, encoded: torch.Tensor) -> Batch:
        """Decode what :meth:`to_tensor` produced."""
        values = encoded.tolist()
        rows, num_moves = values[0], values[1]
        body = values[2:]
        moves = tuple(SlotMove(*body[3 * rows + 3 * i : 3 * rows + 3 * i + 3]) for i in range(num_moves))
        return cls(tuple(body[:rows]), tuple(body[rows : 2 * rows]), tuple(body[2 * rows : 3 * rows]), moves)
