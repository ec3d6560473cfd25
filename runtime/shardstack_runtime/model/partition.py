"""How a model's layers are cut into one contiguous range per rank.

Usage::

    ranges = balanced_layer_ranges(config, shards=3)          # by parameter bytes, not layer count
    ranges = balanced_layer_ranges(config, 3, by="compute")   # by the work of one decode pass instead
    ranges = parse_layer_split("0-8,8-23,23-30", config.num_layers, 3)   # an explicit override
    rank_bytes(config, ranges)                                 # the weight bytes each rank holds

A rank holds its layers' weights, plus the embedding matrix on the first rank and the final norm and
LM head on the last (see :class:`~.model.ShardModel`). With tied embeddings the last rank still holds
a vocab x hidden head matrix, a copy of the embeddings, unless it is also the first rank. The embedding
matrix of a small model weighs as much as several layers, so splitting by layer count leaves the first
and last ranks the heaviest; :func:`balanced_layer_ranges` gives them fewer layers instead.

Bytes are what must fit on a GPU, so they are the default. Where memory is not the limit (CPUs, or
large GPUs), balancing the work of a pass is faster: the embedding is a lookup of a few rows, while
the LM head is a full vocab x hidden matrix product on every pass, as costly as several layers of a
small model. ``by="compute"`` counts the head but not the embedding, which moves layers from the last
rank to the first.
"""

from __future__ import annotations

from .config import ModelConfig
from .llama import LayerRange

__all__ = ["BALANCE", "balanced_layer_ranges", "layer_params", "parse_layer_split", "rank_bytes"]

BALANCE = ("bytes", "compute")
"""What :func:`balanced_layer_ranges` evens out across ranks."""


def layer_params(config: ModelConfig, layer: int = 0, *, active: bool = False) -> int:
    """Parameters of decoder layer ``layer``: two norms, q/k/v/o projections, its MLP (dense, or the experts with
    their router and a shared expert), and what its family adds (biases, per-head q/k norms). ``active``: only
    those one token computes with (a sparse layer's top-k experts, not all of them)."""
    c, arch = config, config.architecture
    q, kv = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    params = 2 * c.hidden_size  # input and post-attention norms
    params += (q + 2 * kv) * c.hidden_size + c.hidden_size * q  # q, k, v, o
    params += (q + 2 * kv) * arch.qkv_bias + c.hidden_size * arch.o_bias
    params += 2 * c.head_dim * arch.qk_norm
    params += 2 * c.hidden_size * arch.sandwich_norms  # the attention's and the MLP's output norms
    width = c.intermediate_size
    if arch.sparse(layer):
        experts = arch.experts_per_token if active else arch.experts
        params += arch.experts * c.hidden_size  # the router
        params += experts * 3 * arch.expert_intermediate_size * c.hidden_size
        width = arch.shared_expert_intermediate_size
        params += c.hidden_size if width else 0  # the shared expert's gate
    params += 3 * width * c.hidden_size  # gate, up, down
    params += (2 * width + c.hidden_size) * arch.mlp_bias
    return params


def _layer_sums(config: ModelConfig, *, compute: bool) -> list[int]:
    """Prefix sums of the layers' parameters (``compute``: those a token computes with): layers [a, b) hold
    ``sums[b] - sums[a]``."""
    sums = [0]
    for layer in range(config.num_layers):
        sums.append(sums[-1] + layer_params(config, layer, active=compute))
    return sums


def _range_params(config: ModelConfig, start: int, end: int, sums: list[int], *, compute: bool = False) -> int:
    """Parameters of the layers [start, end) (``sums``: :func:`_layer_sums`) with the embedding, final norm and head
    their rank holds; ``compute``: those every token computes with (the embedding is a lookup)."""
    c = config
    params = sums[end] - sums[start]
    if start == 0 and not compute:
        params += c.vocab_size * c.hidden_size  # embeddings
    if end == c.num_layers:
        params += c.hidden_size  # final norm
        if not (c.tie_word_embeddings and start == 0):
            params += c.vocab_size * c.hidden_size  # LM head (a copy of the embeddings when tied)
    return params


def rank_bytes(config: ModelConfig, ranges: list[LayerRange], dtype_bytes: float = 2) -> list[int]:
    """The weight bytes each range's rank holds, at ``dtype_bytes`` per parameter (2 for bf16/fp16)."""
    sums = _layer_sums(config, compute=False)
    return [round(_range_params(config, r.start, r.end, sums) * dtype_bytes) for r in ranges]


def balanced_layer_ranges(
    config: ModelConfig, shards: int, *, dtype_bytes: float = 2, by: str = "bytes"
) -> list[LayerRange]:
    """Contiguous ranges, one per rank, that minimise the largest rank's weight bytes (or, ``by="compute"``,
    the largest rank's parameters used by every pass: the embedding, a lookup, does not count).

    Every range gets at least one layer. Among splits with the same largest rank, the one found first
    (earliest cut points) wins, so the result is deterministic. ``dtype_bytes`` scales every rank alike,
    so it does not change the split; it is accepted so callers can pass what they pass to :func:`rank_bytes`.
    """
    layers = config.num_layers
    if by not in BALANCE:
        raise ValueError(f"balance by {by!r}: must be one of {', '.join(BALANCE)}")
    if not 1 <= shards <= layers:
        raise ValueError(
            f"shards={shards}: a model of {layers} layers can be split into 1 to {layers} shards "
            "(every shard needs at least one layer)"
        )

    compute = by == "compute"
    sums = _layer_sums(config, compute=compute)

    def cost(start: int, end: int) -> int:
        return _range_params(config, start, end, sums, compute=compute)

    # best[k][i]: the smallest possible largest rank when layers [0, i) go to k ranks; cut[k][i]: where
    # the k-th range starts in that split. O(shards · layers²): microseconds for real models.
    inf = float("inf")
    best = [[inf] * (layers + 1) for _ in range(shards + 1)]
    cut = [[0] * (layers + 1) for _ in range(shards + 1)]
    best[0][0] = 0
    for k in range(1, shards + 1):
        for i in range(k, layers - (shards - k) + 1):
            for j in range(k - 1, i):
                if best[k - 1][j] == inf:
                    continue
                value = max(best[k - 1][j], cost(j, i))
                if value < best[k][i]:
                    best[k][i], cut[k][i] = value, j
    ranges, end = [], layers
    for k in range(shards, 0, -1):
        start = cut[k][end]
        ranges.append(LayerRange(start, end))
        end = start
    ranges.reverse()
    return ranges


def parse_layer_split(text: str, num_layers: int, shards: int) -> list[LayerRange]:
    """Parse an explicit split like ``"0-10,10-20,20-30"``: ``shards`` contiguous ranges covering every layer.

    Each piece is ``start-end`` with ``end`` exclusive. Errors name the bad piece and what is allowed.
    """
    pieces = [piece.strip() for piece in text.split(",")]
    if len(pieces) != shards:
        raise ValueError(f"layer split {text!r} has {len(pieces)} ranges; it needs exactly {shards}, one per shard")
    ranges: list[LayerRange] = []
    expected_start = 0
    for index, piece in enumerate(pieces):
        parts = piece.split("-")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(
                f"layer split {text!r}: range {index} {piece!r} is not START-END "
                f"(whole numbers, END exclusive, e.g. 0-{num_layers})"
            )
        start, end = (int(p) for p in parts)
        if start != expected_start:
            raise ValueError(
                f"layer split {text!r}: range {index} {piece!r} must start at layer {expected_start} "
                "(ranges are contiguous, starting at 0)"
            )
        if end <= start:
            raise ValueError(
                f"layer split {text!r}: range {index} {piece!r} is empty; its end must be greater than {start}"
            )
        if end > num_layers:
            raise ValueError(
                f"layer split {text!r}: range {index} {piece!r} ends past the model's "
                f"{num_layers} layers; the last range must end at {num_layers}"
            )
        ranges.append(LayerRange(start, end))
        expected_start = end
    if expected_start != num_layers:
        raise ValueError(
            f"layer split {text!r}: the ranges stop at layer {expected_start}; the last range must end at {num_layers}"
        )
    return ranges
