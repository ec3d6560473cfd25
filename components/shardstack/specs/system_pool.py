"""The CPU nodes that run a managed cluster's own services, declared once: node counts and disk on every cloud,
with each cloud's own instance type argument (its default and check differ)."""

from __future__ import annotations

from shardstack.specs.gpu_pool import NODE_RANGE
from shardstack.specs.kinds import Text, Whole
from shardstack.specs.spec import Arg, Spec

DEFAULT_MIN_NODES = 1
DEFAULT_MAX_NODES = 3
DEFAULT_DISK_SIZE_GIB = 50
MIN_DISK_SIZE_GIB = 20
"""The node image and the system pods' images do not fit on less."""

NEUTRAL_INSTANCE_TYPE = Arg(
    "instance_type",
    Text("an instance/VM type name"),
    "Instance/VM type of the system nodes.",
    default_doc="a small general-purpose type per cloud",
)
"""The instance type as the stack config takes it: each cloud's cluster checks it against its own shapes."""


def system_pool_spec(instance_type: Arg = NEUTRAL_INSTANCE_TYPE) -> Spec:
    """Return the system pool with ``instance_type``, a cloud's own (its shapes, its default)."""
    return Spec(
        "SystemPool",
        "The CPU nodes that run cluster services (no GPUs).",
        (
            instance_type,
            Arg(
                "min_nodes",
                Whole(1, why="CoreDNS and the controllers need somewhere to run"),
                "Fewest nodes.",
                default=DEFAULT_MIN_NODES,
            ),
            Arg("max_nodes", Whole(1), "Most nodes, ≥ min_nodes.", default=DEFAULT_MAX_NODES),
            Arg(
                "disk_size_gib",
                Whole(MIN_DISK_SIZE_GIB, why="the node image and the system pods' images need the room"),
                "Boot disk per node, GiB; encrypted.",
                default=DEFAULT_DISK_SIZE_GIB,
            ),
        ),
        rules=(NODE_RANGE,),
    )
