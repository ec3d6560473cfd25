"""One rank's slice of a model, built from a checkpoint URI: config, tokenizer, and only its own weights.

Usage::

    shard = open_shard("s3://weights/smollm2", layer_range=LayerRange(0, 15), dtype="bfloat16")
    report = shard.load_weights()        # fetches just this range's tensors, hash-verified with a manifest
    shard.model.forward(...)

:func:`open_shard` is cheap (config, tokenizer, headers; the weights are allocated, not read), so a
server can answer liveness probes while :meth:`Shard.load_weights` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .model.config import ModelConfig
from .model.llama import LayerRange, ShardModel
from .tokenizer import Tokenizer
from .weights.checkpoint import Checkpoint, open_checkpoint
from .weights.loader import LoadReport, load_tensors


@dataclass
class Shard:
    """A checkpoint opened for one layer range: the model (weights maybe not loaded yet) and its tokenizer."""

    checkpoint: Checkpoint
    config: ModelConfig
    model: ShardModel
    tokenizer: Tokenizer | None
    """None when the checkpoint has no tokenizer.json and none was required."""
    load_report: LoadReport | None = field(default=None)

    @property
    def loaded(self) -> bool:
        return self.load_report is not None

    def load_weights(
        self, *, verify: bool = True, concurrency: int = 8, progress: Callable[[int, int], None] | None = None
    ) -> LoadReport:
        """Fetch this shard's tensors into the model (only those; see :meth:`ShardModel.checkpoint_targets`)."""
        self.load_report = load_tensors(
            self.checkpoint, self.model.checkpoint_targets(), verify=verify, concurrency=concurrency, progress=progress
        )
        return self.load_report


def open_shard(
    uri: str,
    *,
    layer_range: LayerRange | None = None,
    dtype: torch.dtype | str = torch.bfloat16,
    device: torch.device | str = "cpu",
    max_positions: int | None = None,
    require_tokenizer: bool = True,
) -> Shard:
    """Open the checkpoint at ``uri`` and allocate the model for ``layer_range`` (default: every layer)."""
    checkpoint = open_checkpoint(uri)
    config = ModelConfig.from_hf(checkpoint.config)
    layer_range = layer_range or LayerRange.full(config.num_layers)
    tokenizer = None
    if require_tokenizer or checkpoint.has_file("tokenizer.json"):
        tokenizer = Tokenizer.from_checkpoint(checkpoint)
    model = ShardModel(config, layer_range, dtype=dtype, device=device, max_positions=max_positions)
    return Shard(checkpoint=checkpoint, config=config, model=model, tokenizer=tokenizer)


def load_shard(uri: str, **kwargs) -> Shard:
    """:func:`open_shard`, then :meth:`Shard.load_weights`: a shard ready to run."""
    verify = kwargs.pop("verify", True)
    shard = open_shard(uri, **kwargs)
    shard.load_weights(verify=verify)
    return shard
