"""The CPU nodes that run a managed cluster's own services: the same defaults and checks on every cloud.

Each cloud's Cluster checks its instance or machine type itself (:func:`system_pool_problems` takes that
check as ``instance_type_problem``); the fields, node counts and disk size are checked here.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shardstack.errors import did_you_mean
from shardstack.k8s import names
from shardstack.specs.system_pool import (  # declared once, in the spec
    DEFAULT_DISK_SIZE_GIB,
    DEFAULT_MAX_NODES,
    DEFAULT_MIN_NODES,
    MIN_DISK_SIZE_GIB,
)

__all__ = [
    "DEFAULT_DISK_SIZE_GIB",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MIN_NODES",
    "MIN_DISK_SIZE_GIB",
    "system_pool_problems",
]


def system_pool_problems(
    pool: Any, fields: Iterable[str], default_instance_type: str, instance_type_problem: Callable[[str], str | None]
) -> list[str]:
    """Every problem with a ``system_pool`` argument: unknown ``fields``, its type, node counts and disk."""
    if pool is None:
        return []
    if not isinstance(pool, Mapping):
        return [f"system_pool must be a mapping with instance_type/min_nodes/max_nodes/disk_size_gib; got {pool!r}"]
    known = list(fields)
    problems = [
        f"system_pool has unknown field {key!r}{did_you_mean(str(key), known)}"
        for key in sorted(set(pool) - set(known))
    ]
    problem = instance_type_problem(pool.get("instance_type", default_instance_type))
    if problem:
        problems.append(problem)
    bounds = {"min_nodes": 1, "max_nodes": 1, "disk_size_gib": MIN_DISK_SIZE_GIB}
    for field, minimum in bounds.items():
        if field in pool:
            problem = names.int_problem(f"system_pool['{field}']", pool[field], minimum=minimum)
            if problem:
                problems.append(problem)
    min_nodes = pool.get("min_nodes", DEFAULT_MIN_NODES)
    max_nodes = pool.get("max_nodes", DEFAULT_MAX_NODES)
    if all(isinstance(n, int) and not isinstance(n, bool) for n in (min_nodes, max_nodes)) and max_nodes < min_nodes:
        problems.append(
            f"system_pool['max_nodes']={max_nodes!r} is less than min_nodes {min_nodes!r}; "
            "max_nodes must be ≥ min_nodes"
        )
    return problems
