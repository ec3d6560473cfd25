"""Upper bounds of the counts and sizes users give: what a real installation could need, and no more.

Lists, mappings and texts are bounded where their kinds are declared (``specs.kinds.MAX_ITEMS``, ``MAX_TEXT``).
A bound turns a typo (``replica_groups: 100000``, ``shards: 1e30``) into a clear refusal instead of a plan that runs
for minutes or a cloud call that asks for a billion nodes. Each is stated with its reason, which the refusal
repeats.
"""

from __future__ import annotations

from shardstack.specs.kinds import Whole

MAX_SHARDS = 64
"""Pipeline ranks per replica group. The largest open models (about 1T parameters in bf16) fit in 32 GPUs of
80 GB; each rank past that holds a sliver of the layers and adds a hop to every token."""
MAX_REPLICA_GROUPS = 256
"""Copies of the model in one installation: 256 copies of even a one-GPU model is more GPUs than one cluster's
quota gives; scale further with more installations."""
MAX_NODES_PER_POOL = 5000
"""Nodes in one node pool or node group, on any cloud: GKE's pools take 1,000 nodes per zone (a regional pool a
few thousand), AKS's 1,000, EKS's managed node groups 450 unless the quota is raised. Each cloud's component checks
its own limit; this bound catches what no cloud takes."""
MAX_GPUS_PER_NODE = 16
"""GPUs in one machine: the largest GPU machine types of AWS, GCP and Azure have 8 or 16."""
MAX_VOLUME_GIB = 65536
"""A disk or volume in GiB: 64 TiB is the largest block volume AWS, GCP and Azure offer."""

MAX_RETENTION_DAYS = 3650
"""Days an old object version is kept: ten years is an archive's horizon, not a weight store's history."""
MAX_KEPT_IMAGES = 10000
"""Image versions a registry keeps: more than any release history of one runtime image."""
MAX_SHM_GIB = 1024
"""/dev/shm in GiB: it is memory, and no GPU node has more than a few TiB of it to share with its GPUs."""

SHARDS = Whole(1, MAX_SHARDS, why=f"more than {MAX_SHARDS} pipeline ranks would each hold a sliver of the model")
REPLICA_GROUPS = Whole(1, MAX_REPLICA_GROUPS, why="for more copies, use more installations")
GPUS_PER_NODE = Whole(1, MAX_GPUS_PER_NODE, why=f"no GPU machine type has more than {MAX_GPUS_PER_NODE}")
GPUS_PER_SHARD = Whole(
    0, MAX_GPUS_PER_NODE, why=f"a rank's GPUs are on one node, and no node has more than {MAX_GPUS_PER_NODE}"
)
VOLUME_GIB = Whole(1, MAX_VOLUME_GIB, why="64 TiB is the largest volume the clouds offer")


def node_count(minimum: int, why: str = "") -> Whole:
    """A pool's node count from ``minimum`` to :data:`MAX_NODES_PER_POOL`."""
    reason = why or f"no cloud's node pool holds more than {MAX_NODES_PER_POOL} nodes"
    return Whole(minimum, MAX_NODES_PER_POOL, why=reason)


RETENTION_DAYS = Whole(1, MAX_RETENTION_DAYS, why="ten years is an archive's horizon, not a weight store's history")
KEPT_IMAGES = Whole(1, MAX_KEPT_IMAGES, why="more than any release history of one runtime image")
SHM_GIB = Whole(1, MAX_SHM_GIB, why="/dev/shm is memory taken from the node")
