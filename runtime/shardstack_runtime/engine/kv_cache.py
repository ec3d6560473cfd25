"""Preallocated attention keys and values for the layers of one shard.

Usage::

    cache = KVCache(num_layers=len(layer_range), num_slots=8, num_kv_heads=3, head_dim=64,
                    max_len=2048, dtype=torch.bfloat16, device="cpu", num_lanes=3)
    keys, values = cache.layer(0)       # [slots, kv_heads, max_len, head_dim] views
    cache.lanes                         # [range(0, 2), range(2, 5), range(5, 8)]

A sequence owns one slot from admission to finish; its tokens sit at positions ``0 .. length - 1``.
Slots are split into ``num_lanes`` contiguous lanes (sizes differing by at most one) so that a pipeline
can keep one micro-batch per lane in flight; within a lane the scheduler keeps running sequences in the
lowest slots, so that a decode step reads the cache through a view instead of a gather.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import torch

from .batch import SlotMove


class KVCache:
    """Keys and values of ``num_layers`` layers: ``[layers, slots, kv_heads, max_len, head_dim]`` each."""

    def __init__(
        self,
        *,
        num_layers: int,
        num_slots: int,
        num_kv_heads: int,
        head_dim: int,
        max_len: int,
        dtype: torch.dtype,
        device: torch.device | str,
        num_lanes: int = 1,
    ) -> None:
        if num_slots < 1 or max_len < 1:
            raise ValueError(f"num_slots and max_len must be ≥ 1; got {num_slots} and {max_len}")
        if not 1 <= num_lanes <= num_slots:
            raise ValueError(f"num_lanes must be between 1 and num_slots ({num_slots}); got {num_lanes}")
        shape = (num_layers, num_slots, num_kv_heads, max_len, head_dim)
        # Zeros, not empty: padded rows may attend to positions never written, and stale garbage
        # could hold NaN/inf that a zero attention weight would still turn into NaN.
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.num_slots = num_slots
        self.max_len = max_len
        self.num_lanes = num_lanes
        bounds = [i * num_slots // num_lanes for i in range(num_lanes + 1)]
        self.lanes = [range(a, b) for a, b in pairwise(bounds)]

    @staticmethod
    def nbytes_for(
        *, num_layers: int, num_slots: int, num_kv_heads: int, head_dim: int, max_len: int, dtype: torch.dtype
    ) -> int:
        """What a cache of this shape takes, keys and values, before allocating it."""
        return 2 * num_layers * num_slots * num_kv_heads * max_len * head_dim * dtype.itemsize

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the shard's ``index``-th layer, ``[slots, kv_heads, max_len, head_dim]``."""
        return self.keys[index], self.values[index]

    def apply_moves(self, moves: Iterable[SlotMove]) -> None:
        """Copy sequences between slots (in order), in every layer."""
        for move in moves:
            if move.length:
                self.keys[:, move.dst, :, : move.length] = self.keys[:, move.src, :, : move.length]
                self.values[:, move.dst, :, : move.length] = self.values[:, move.src, :, : move.length]

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.values.nbytes
