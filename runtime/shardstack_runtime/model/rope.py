"""Rotary position embeddings as Llama checkpoints expect them (the "rotate half" layout).

Usage::

    rope = RotaryTable(config.rope, config.head_dim, max_positions=4096, dtype=torch.bfloat16, device="cpu")
    cos, sin = rope.lookup(positions)          # positions: [B, S] → cos, sin: [B, S, head_dim]
    q = apply_rotary(q, cos, sin)               # q: [B, S, heads, head_dim]

The cos/sin tables are computed once in float32 for every position up to ``max_positions`` (the same
arithmetic as transformers, so fp32 results match it to rounding) and then stored in the model's dtype.
"""

from __future__ import annotations

import math

import torch

from .config import RopeConfig


def inverse_frequencies(rope: RopeConfig, head_dim: int) -> torch.Tensor:
    """Return the ``head_dim // 2`` rotation frequencies, scaled as the config's rope type says (float32)."""
    inv_freq = 1.0 / (rope.theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(torch.float32) / head_dim))
    if rope.type == "linear":
        return inv_freq / rope.factor
    if rope.type == "llama3":
        # Meta's Llama 3.1 context extension: long wavelengths are slowed down by `factor`, short ones
        # kept, the band between interpolated smoothly.
        assert rope.original_max_position_embeddings is not None
        old_context = rope.original_max_position_embeddings
        low_freq_wavelen = old_context / rope.low_freq_factor
        high_freq_wavelen = old_context / rope.high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq)
        smooth = (old_context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor)
        smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium, smoothed, scaled)
    return inv_freq


def longrope_frequencies(rope: RopeConfig, head_dim: int, factors: tuple[float, ...]) -> torch.Tensor:
    """LongRoPE's frequencies: each of the plain ones divided by its factor (float32)."""
    shape = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    return 1.0 / (torch.tensor(factors, dtype=torch.float32) * rope.theta**shape)


class RotaryTable:
    """Precomputed cos/sin for positions ``0 .. max_positions - 1``, laid out for :func:`apply_rotary`."""

    def __init__(
        self,
        rope: RopeConfig,
        head_dim: int,
        max_positions: int,
        *,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        positions = torch.arange(max_positions, dtype=torch.float32)
        head_dim = rope.rotary_dims(head_dim)  # only these rotate: the tables cover them alone
        if rope.type == "longrope":
            # Positions within the original context turn by the short factors, those past it by the long ones.
            assert rope.original_max_position_embeddings is not None
            short, long = (longrope_frequencies(rope, head_dim, f) for f in (rope.short_factor, rope.long_factor))
            inv_freq = torch.where(positions[:, None] < rope.original_max_position_embeddings, short, long)
            freqs = positions[:, None] * inv_freq
        else:
            freqs = positions[:, None] * inverse_frequencies(rope, head_dim)[None, :]
        self.max_positions = max_positions
        scale = rope.attention_factor
        self.cos = (torch.cat((freqs, freqs), dim=-1).cos() * scale).to(device=device, dtype=dtype)
        # The sine with its first half negated: rotating x is then x * cos + roll(x, half) * sin, the same
        # products as transformers' x * cos + rotate_half(x) * sin in three operations instead of five.
        self.sin = (torch.cat((-freqs.sin(), freqs.sin()), dim=-1) * scale).to(device=device, dtype=dtype)

    def lookup(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return cos and signed sin for ``positions`` ([B, S]) as [B, S, 1, head_dim]: one row for every head."""
        return self.cos[positions].unsqueeze(-2), self.sin[positions].unsqueeze(-2)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ([B, S, heads, head_dim]) by the angles of :meth:`RotaryTable.lookup` ([B, S, 1, dims]): its
    first ``dims`` dimensions, all of them unless the rope rotates part of each head."""
    dims = cos.shape[-1]
    if dims == x.shape[-1]:
        return x * cos + x.roll(dims // 2, dims=-1) * sin
    rotating = x[..., :dims]
    return torch.cat((rotating * cos + rotating.roll(dims // 2, dims=-1) * sin, x[..., dims:]), dim=-1)
