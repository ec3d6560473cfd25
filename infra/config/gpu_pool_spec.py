"""The stack config's GPU pool: the pool every cloud shares (``shardstack.specs.gpu_pool``), its name, and
where its nodes go. ``gpu_pools.py`` is generated from this spec (``scripts/generate_specs.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardstack import catalog
from shardstack.specs.gpu_pool import POOL_NAME, gpu_pool_spec
from shardstack.specs.kinds import Flag, ListOf, Text
from shardstack.specs.spec import Arg

from .section import SpecSection

NEUTRAL = gpu_pool_spec(None)

GPU_POOL = NEUTRAL.extend(
    "GpuPoolConfig",
    "One entry of ``shardstack:gpu_pools``: an autoscaling pool of identical GPU nodes (clouds only).",
    (
        Arg(
            "zones",
            ListOf(Text("a zone of the stack's region"), min_items=1, unique=True),
            "Zones of the region "
            "for this pool's nodes, e.g. the zones that have its GPU: GKE node locations on gcp, availability zones "
            "on azure. Not on aws, where pools use the network's subnets (set shardstack:zones).",
            default=None,
            default_doc="the stack's zones, else every zone the cluster uses",
        ),
        Arg(
            "compact_placement",
            Flag(),
            "Place the nodes close together for fast traffic between shards on "
            "different nodes: a COMPACT placement policy on gcp, which needs exactly one zone in zones and an A2, A3 "
            "or G2 machine (A100, H100, H200, L4). gcp only.",
            default=False,
        ),
    ),
)
# Required, but filled in from gpu when that is a catalogue key (see GpuPoolSection).
GPU_POOL = replace(GPU_POOL, args=(replace(POOL_NAME, doc=f"{POOL_NAME.doc} Default: the gpu key."), *GPU_POOL.args))
"""What each ``shardstack:gpu_pools`` entry takes: its name, the GPU pool every cloud shares, and placement."""


class GpuPoolSection(SpecSection):
    """A GPU pool entry, whose name defaults to its GPU's catalogue key."""

    @classmethod
    def _prefilled(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        values = super()._prefilled(data)
        # Only a catalogue key is a sensible name; otherwise the missing name is reported as missing.
        gpu = values.get("gpu")
        if "name" not in values and isinstance(gpu, str) and gpu in catalog.GPUS:
            values["name"] = gpu
        return values
