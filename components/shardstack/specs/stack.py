"""The stack config's node pools, declared once: each ``gpu_pools`` entry is the pool every cloud shares
(:mod:`shardstack.specs.gpu_pool`), its name, and where its nodes go; ``system_pool`` is the one every cloud's
cluster takes. The program's config sections (``infra/config/node_pools.py``) are generated from these specs by
``scripts/generate_specs.py``."""

from __future__ import annotations

from dataclasses import replace

from shardstack.specs.gpu_pool import POOL_NAME, gpu_pool_spec
from shardstack.specs.kinds import Flag, ListOf, Text
from shardstack.specs.spec import Arg
from shardstack.specs.system_pool import system_pool_spec

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

SYSTEM_POOL = replace(
    system_pool_spec(),
    name="SystemPoolConfig",
    doc="``shardstack:system_pool``: the CPU nodes that run cluster services (clouds only).",
)
"""``shardstack:system_pool``: the system pool every cloud's cluster takes, its instance type checked by the cloud."""
