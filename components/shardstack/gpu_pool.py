"""The GPU node pool every cloud shares: its arguments, their checks, and the labels and taints of its nodes.

Usage, in a cloud's GPU pool component (``shardstack.aws.gpu_node_pool`` and its GCP and Azure peers)::

    from shardstack.gpu_pool import resolve_gpu_pool, node_labels, node_taints

    pool = resolve_gpu_pool({"gpu": "l4", "max_nodes": 2, "spot": True}, "aws")
    pool.offer.instance_type    # 'g6.xlarge', the cheapest 1 x L4 shape in the catalogue
    pool.hourly_usd_max         # 2 x its on-demand list price
    node_labels(pool, "l4")     # {'shardstack.dev/gpu': 'true', 'shardstack.dev/pool': 'l4', ...}
    node_taints(pool)           # [{'key': 'nvidia.com/gpu', 'value': 'present', 'effect': 'NoSchedule'}]

The three clouds take the same argument names with the same meaning and defaults (``GpuPoolArgs``), the
names the stack config uses for ``shardstack:gpu_pools`` entries. The GPU is a key of the catalogue
(``shardstack.catalog``), which also decides the instance/VM type and its price: a pool never names a
shape the catalogue does not know.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shardstack import catalog
from shardstack.errors import ArgumentError, one_of
from shardstack.k8s import labels as lbl
from shardstack.pool_args import GpuPoolArgs, Taint
from shardstack.specs import gpu_pool as spec
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import Values

# Declared once, in the spec; named here too because callers have always imported them from this module.
DEFAULT_GPUS_PER_NODE = spec.DEFAULT_GPUS_PER_NODE
DEFAULT_MIN_NODES = spec.DEFAULT_MIN_NODES
DEFAULT_MAX_NODES = spec.DEFAULT_MAX_NODES
DEFAULT_DISK_SIZE_GIB = spec.DEFAULT_DISK_SIZE_GIB
MIN_GPU_DISK_SIZE_GIB = spec.MIN_GPU_DISK_SIZE_GIB
TAINT_EFFECTS = spec.TAINT_EFFECTS
KUBERNETES_LABEL_DOMAINS = spec.KUBERNETES_LABEL_DOMAINS

POOL_LABEL = "shardstack.dev/pool"
"""Node label naming the pool a node belongs to, so that a workload can pick one pool among several."""
GPU_TYPE_LABEL = "shardstack.dev/gpu-type"
"""Node label holding the catalogue key of the node's GPU (``l4``, ``h100-80gb``)."""

GPU_POOL_ARG_NAMES: tuple[str, ...] = spec.gpu_pool_spec(None).names
"""The cloud-neutral argument names, in declaration order."""

__all__ = [
    "GpuPool",
    "GpuPoolArgs",
    "Taint",
    "node_labels",
    "node_taints",
    "resolve_gpu_pool",
    "validate_gpu_pool_args",
]


@dataclass(frozen=True)
class GpuPool:
    """A GPU pool's arguments with every default resolved against the catalogue."""

    cloud: catalog.Cloud
    gpu: str
    """Catalogue key of the GPU, lower-case."""
    offer: catalog.InstanceOffer
    """The catalogue's instance/VM type for the pool: shape, size and on-demand list price."""
    gpus_per_node: int
    min_nodes: int
    max_nodes: int
    spot: bool
    disk_size_gib: int
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The caller's extra labels only; see :func:`node_labels` for every label of a node."""
    taints: tuple[Taint, ...] = ()
    """The caller's extra taints only, each with a value (empty when not given); see :func:`node_taints`."""

    @property
    def instance_type(self) -> str:
        """The cloud's name for the node shape, e.g. 'g6.xlarge'."""
        return self.offer.instance_type

    @property
    def hourly_usd_min(self) -> float:
        """$/hour with ``min_nodes`` nodes at the on-demand list price (0 for a pool that scales to zero)."""
        return _hourly_usd(self.offer, self.min_nodes)

    @property
    def hourly_usd_max(self) -> float:
        """$/hour with ``max_nodes`` nodes at the on-demand list price.

        The catalogue has on-demand prices only: for a spot pool this is an upper bound (spot usually
        costs well under half), for reserved capacity the reservation's own price applies.
        """
        return _hourly_usd(self.offer, self.max_nodes)

    @property
    def max_gpus(self) -> int:
        """GPUs in the pool at ``max_nodes``."""
        return self.max_nodes * self.gpus_per_node


def _hourly_usd(offer: catalog.InstanceOffer, nodes: int) -> float:
    # Rounded so that 3 x 0.8048 reads 2.4144, not 2.4143999999999997.
    return round(nodes * offer.usd_per_hour, 6)


# --- Checks and resolution --------------------------------------------------------------------------


def validate_gpu_pool_args(
    args: Mapping[str, Any], cloud: catalog.Cloud, *, known_args: Iterable[str] | None = None
) -> list[str]:
    """Return every problem with GPU pool arguments on ``cloud``, one line each.

    Each line names the argument, shows the bad value and says what is allowed. ``known_args`` lists
    every argument name the caller accepts besides ``GPU_POOL_ARG_NAMES``; they are left to the caller.
    """
    _check_cloud(cloud)
    if isinstance(args, Mapping) and known_args is not None:
        others = set(known_args) - set(GPU_POOL_ARG_NAMES)
        args = {k: v for k, v in args.items() if k not in others}
    return as_arguments(spec.gpu_pool_spec(cloud).check(args))


def pool_name_problem(name: Any) -> str | None:
    """Check a pool's name: it becomes the value of the ``shardstack.dev/pool`` node label."""
    problems = spec.POOL_NAME.kind.problems(name, ("name",))
    return as_arguments(problems)[0] if problems else None


def _check_cloud(cloud: Any) -> None:
    if cloud not in catalog.CLOUDS:
        # The caller's cloud is fixed by the component, never by the user: a programming error.
        raise ValueError(f"cloud must be {one_of(catalog.CLOUDS)}; got {cloud!r}")


def resolve_gpu_pool(
    args: Mapping[str, Any],
    cloud: catalog.Cloud,
    *,
    known_args: Iterable[str] | None = None,
    what: str = "GPU pool",
) -> GpuPool:
    """Return the pool ``args`` describe on ``cloud``, every default resolved.

    Raises ArgumentError (titled with ``what``, e.g. "GpuNodePool 'l4'") listing every problem that
    :func:`validate_gpu_pool_args` finds; arguments outside ``GPU_POOL_ARG_NAMES`` are ignored here
    when ``known_args`` names them.
    """
    problems = validate_gpu_pool_args(args, cloud, known_args=known_args)
    if problems:
        raise ArgumentError(what, problems)
    pool_spec = spec.gpu_pool_spec(cloud)
    values = Values(pool_spec, args)
    model = spec.gpu_model(values)
    gpus = spec.resolved_gpus_per_node(values, cloud)
    if values.given("instance_type"):
        offer = next(
            o for o in model.offers_on(cloud) if o.gpu_count == gpus and o.instance_type == values["instance_type"]
        )
    else:
        offer = model.offer(cloud, gpus)
    taints = tuple(Taint(key=t["key"], value=t.get("value", ""), effect=t["effect"]) for t in values.get("taints", ()))
    return GpuPool(
        cloud=cloud,
        gpu=model.name,
        offer=offer,
        gpus_per_node=gpus,
        min_nodes=values["min_nodes"],
        max_nodes=values["max_nodes"],
        spot=values["spot"],
        disk_size_gib=values["disk_size_gib"],
        labels=MappingProxyType(dict(values.get("labels", {}))),
        taints=taints,
    )


def node_labels(pool: GpuPool, pool_name: str) -> dict[str, str]:
    """Return every Kubernetes label of the pool's nodes: Shardstack's own, then the caller's extras.

    ``shardstack.dev/gpu: "true"`` is what GPU workloads and the GPU add-ons select on on every cloud;
    ``shardstack.dev/pool`` and ``shardstack.dev/gpu-type`` let a workload pick one pool or GPU model.
    """
    return {
        lbl.GPU_NODE_LABEL: lbl.GPU_NODE_LABEL_VALUE,
        POOL_LABEL: pool_name,
        GPU_TYPE_LABEL: pool.gpu,
        **pool.labels,
    }


def node_taints(pool: GpuPool) -> list[Taint]:
    """Return every taint of the pool's nodes: the GPU taint first, then the caller's extras.

    The GPU taint keeps everything but GPU workloads (which tolerate it) off the expensive nodes.
    """
    gpu_taint = Taint(key=lbl.GPU_TAINT_KEY, value=lbl.GPU_TAINT_VALUE, effect=lbl.GPU_TAINT_EFFECT)
    return [gpu_taint, *(Taint(key=t["key"], value=t.get("value", ""), effect=t["effect"]) for t in pool.taints)]
