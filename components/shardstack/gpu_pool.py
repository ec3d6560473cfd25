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

# No `from __future__ import annotations` here: the TypedDicts below are component arguments, and
# Pulumi's ComponentProvider reads their annotations at run time to infer the package schema.

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Required, TypedDict

from shardstack import catalog
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.k8s import labels as lbl
from shardstack.k8s import names

DEFAULT_GPUS_PER_NODE = 1
"""GPUs per node when not given and the cloud has a 1-GPU shape for the GPU; else its smallest count."""
DEFAULT_MIN_NODES = 0
"""A pool scales to zero by default: GPU nodes are the expensive part of an installation."""
DEFAULT_MAX_NODES = 1
DEFAULT_DISK_SIZE_GIB = 200
"""Room for the CUDA images (10-20 GiB each) and a local copy of a mid-sized model's weights."""
MIN_GPU_DISK_SIZE_GIB = 50
"""CUDA images and the model's local copy do not fit on less (the stack config checks the same bound)."""

POOL_LABEL = "shardstack.dev/pool"
"""Node label naming the pool a node belongs to, so that a workload can pick one pool among several."""
GPU_TYPE_LABEL = "shardstack.dev/gpu-type"
"""Node label holding the catalogue key of the node's GPU (``l4``, ``h100-80gb``)."""

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

KUBERNETES_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
"""Label domains Kubernetes keeps for itself: the kubelet may not set most of them on its node, and
managed node pools refuse them."""


class Taint(TypedDict, total=False):
    """A Kubernetes taint on every node of the pool, as Kubernetes spells it."""

    key: Required[str]
    """Taint key, ``[prefix/]name`` like a label key, e.g. 'example.com/dedicated'."""
    value: str
    """Taint value, a label value (at most 63 characters). Default: empty."""
    effect: Required[str]
    """'NoSchedule', 'PreferNoSchedule' or 'NoExecute'."""


class GpuPoolArgs(TypedDict, total=False):
    """Arguments every cloud's GPU pool takes, with the same meaning on each cloud."""

    gpu: Required[str]
    """GPU model: a key of the GPU catalogue (``shardstack.catalog.GPUS``), e.g. 'l4' or 'h100-80gb'
    (case-insensitive). It must be offered on the pool's cloud."""
    gpus_per_node: int
    """GPUs per node: one of the counts the catalogue offers for this GPU on this cloud. Default: 1, or
    the smallest count offered when the cloud has no 1-GPU shape for it."""
    min_nodes: int
    """Fewest nodes, ≥ 0; 0 lets the pool scale to zero when no GPU workload is pending. Default: 0."""
    max_nodes: int
    """Most nodes, ≥ 1 and ≥ min_nodes; the autoscaler adds nodes up to this. Default: 1."""
    spot: bool
    """Use spot/preemptible capacity: much cheaper, but the cloud may reclaim a node at any time.
    Default: False (on-demand)."""
    disk_size_gib: int
    """Boot/data disk per node, GiB, at least 50 (CUDA images and the weights' local copy). The disk is
    encrypted. Default: 200."""
    labels: Mapping[str, str]
    """Extra Kubernetes labels on every node of the pool. Keys may not use the prefixes Shardstack sets
    itself (app.kubernetes.io/, shardstack.dev/, leaderworkerset.sigs.k8s.io/) nor the kubernetes.io
    and k8s.io domains. Default: none (the pool always sets shardstack.dev/gpu, shardstack.dev/pool and
    shardstack.dev/gpu-type)."""
    taints: Sequence[Taint]
    """Taints on every node in addition to the GPU taint ``nvidia.com/gpu=present:NoSchedule``, which
    is always set. Each key at most once. Default: none."""
    instance_type: str
    """Instance/VM type, to pick another catalogue shape with the same GPUs (more vCPUs or memory)
    than the cheapest one. It must be one of the catalogue's offers for this GPU and gpus_per_node on
    this cloud. Default: the cheapest such offer."""


GPU_POOL_ARG_NAMES: tuple[str, ...] = tuple(GpuPoolArgs.__annotations__)
"""The cloud-neutral argument names, in declaration order."""


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


# --- Checks ------------------------------------------------------------------------------------------


def validate_gpu_pool_args(
    args: Mapping[str, Any], cloud: catalog.Cloud, *, known_args: Iterable[str] | None = None
) -> list[str]:
    """Return every problem with GPU pool arguments on ``cloud``, one line each.

    Each line names the argument, shows the bad value and says what is allowed. ``known_args`` lists
    every argument name the caller accepts (a cloud's pool adds its own to ``GPU_POOL_ARG_NAMES``);
    any other key is reported as unknown, with the closest known name.
    """
    _check_cloud(cloud)
    if not isinstance(args, Mapping):
        return [f"arguments must be a mapping of argument names to values; got {args!r}"]
    known = tuple(known_args) if known_args is not None else GPU_POOL_ARG_NAMES
    problems = [
        f"unknown argument {key!r}{did_you_mean(str(key), known)}" for key in sorted(map(str, set(args) - set(known)))
    ]

    model, gpu_problems = _gpu(args, cloud)
    problems += gpu_problems
    counts = model.gpu_counts(cloud) if model is not None else ()
    if "gpus_per_node" in args:
        problem = names.int_problem("gpus_per_node", args["gpus_per_node"], minimum=1)
        if problem:
            problems.append(problem)
        elif model is not None and args["gpus_per_node"] not in counts:
            problems.append(
                f"gpus_per_node={args['gpus_per_node']!r} is not a node size for {model.name!r} on {cloud}; "
                f"allowed: {', '.join(str(c) for c in counts)}"
            )
    problems += _node_range_problems(args)
    for flag in ("spot",):
        if flag in args:
            problem = names.bool_problem(flag, args[flag])
            if problem:
                problems.append(problem)
    if "disk_size_gib" in args:
        problem = names.int_problem("disk_size_gib", args["disk_size_gib"], minimum=MIN_GPU_DISK_SIZE_GIB)
        if problem:
            problems.append(f"{problem} (CUDA images and the model's local copy need the room)")
    problems += _label_problems(args.get("labels"))
    problems += _taint_problems(args.get("taints"))
    if (
        "instance_type" in args
        and model is not None
        and ("gpus_per_node" not in args or args["gpus_per_node"] in counts)
    ):
        problems += _instance_type_problems(args["instance_type"], model, _gpus_per_node(args, model, cloud), cloud)
    return problems


def pool_name_problem(name: Any) -> str | None:
    """Check a pool's name: it becomes the value of the ``shardstack.dev/pool`` node label."""
    return names.dns_label_problem("name", name)


def _check_cloud(cloud: Any) -> None:
    if cloud not in catalog.CLOUDS:
        # The caller's cloud is fixed by the component, never by the user: a programming error.
        raise ValueError(f"cloud must be {one_of(catalog.CLOUDS)}; got {cloud!r}")


def _gpu(args: Mapping[str, Any], cloud: catalog.Cloud) -> tuple[catalog.GpuModel | None, list[str]]:
    """Return the catalogue model of ``args['gpu']`` (None when it has a problem) and its problems."""
    if "gpu" not in args:
        return None, [f"gpu is required: a GPU catalogue key, {one_of(_offered_on(cloud))}"]
    value = args["gpu"]
    if not isinstance(value, str):
        return None, [f"gpu={value!r} must be a GPU catalogue key such as 'l4'"]
    key = value.strip().lower()
    if key not in catalog.GPUS:
        return None, [
            f"gpu={value!r} is not in the GPU catalogue; use {one_of(sorted(catalog.GPUS))}"
            f"{did_you_mean(key, catalog.GPUS)}"
        ]
    model = catalog.GPUS[key]
    if not model.offers_on(cloud):
        offered = _offered_on(cloud)
        elsewhere = ", ".join(model.clouds) or "none"
        return None, [
            f"gpu={value!r} is not offered on {cloud} in the catalogue (it is on: {elsewhere}); "
            f"GPUs on {cloud}: {', '.join(repr(g) for g in offered)}{did_you_mean(key, offered)}"
        ]
    return model, []


def _offered_on(cloud: catalog.Cloud) -> list[str]:
    return sorted(key for key, model in catalog.GPUS.items() if model.offers_on(cloud))


def _gpus_per_node(args: Mapping[str, Any], model: catalog.GpuModel, cloud: catalog.Cloud) -> int:
    """Return the GPUs per node: as given, else 1 when offered, else the smallest count offered."""
    if "gpus_per_node" in args:
        return int(args["gpus_per_node"])
    counts = model.gpu_counts(cloud)
    return DEFAULT_GPUS_PER_NODE if DEFAULT_GPUS_PER_NODE in counts else counts[0]


def _node_range_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    min_problem = names.int_problem("min_nodes", args.get("min_nodes", DEFAULT_MIN_NODES), minimum=0)
    max_problem = names.int_problem("max_nodes", args.get("max_nodes", DEFAULT_MAX_NODES), minimum=1)
    problems += [p for p in (min_problem, max_problem) if p]
    if not problems:
        low = args.get("min_nodes", DEFAULT_MIN_NODES)
        high = args.get("max_nodes", DEFAULT_MAX_NODES)
        if high < low:
            problems.append(f"max_nodes={high!r} is less than min_nodes={low!r}; max_nodes must be ≥ min_nodes")
    return problems


def _label_problems(labels: Any) -> list[str]:
    problems = names.label_map_problems("labels", labels, reserved_prefixes=lbl.RESERVED_LABEL_PREFIXES)
    if isinstance(labels, Mapping):
        for key in labels:
            domain = str(key).rpartition("/")[0]
            if any(domain == d or domain.endswith("." + d) for d in KUBERNETES_LABEL_DOMAINS):
                problems.append(
                    f"labels key {key!r} is in a domain Kubernetes reserves "
                    f"({', '.join(repr(d) for d in KUBERNETES_LABEL_DOMAINS)}); choose another key"
                )
    return problems


def _taint_problems(taints: Any) -> list[str]:
    if taints is None:
        return []
    if isinstance(taints, str | Mapping) or not isinstance(taints, Sequence):
        return [f"taints must be a list of taints (key, value, effect); got {taints!r}"]
    problems: list[str] = []
    # The GPU taint is always there; a second taint with its key would clash with it.
    seen: dict[str, str] = {lbl.GPU_TAINT_KEY: "the GPU taint the pool always sets"}
    for i, taint in enumerate(taints):
        arg = f"taints[{i}]"
        if not isinstance(taint, Mapping):
            problems.append(f"{arg} must be a mapping with key, value and effect; got {taint!r}")
            continue
        for unknown in sorted(map(str, set(taint) - set(Taint.__annotations__))):
            problems.append(f"{arg} has unknown field {unknown!r}{did_you_mean(unknown, Taint.__annotations__)}")
        if "key" not in taint:
            problems.append(f"{arg} has no key: give [prefix/]name, e.g. 'example.com/dedicated'")
        else:
            problem = names.qualified_name_problem(f"{arg}['key']", taint["key"])
            if problem:
                problems.append(problem)
            elif taint["key"] in seen:
                problems.append(
                    f"{arg}['key']={taint['key']!r} is already used by {seen[taint['key']]}; give each taint key once"
                )
            else:
                seen[taint["key"]] = f"taints[{i}]"
        if "value" in taint:
            problem = names.label_value_problem(f"{arg}['value']", taint["value"])
            if problem:
                problems.append(problem)
        effect = taint.get("effect")
        if effect is None:
            problems.append(f"{arg} has no effect: use {one_of(TAINT_EFFECTS)}")
        elif effect not in TAINT_EFFECTS:
            problems.append(
                f"{arg}['effect']={effect!r} must be {one_of(TAINT_EFFECTS)}{did_you_mean(str(effect), TAINT_EFFECTS)}"
            )
    return problems


def _instance_type_problems(value: Any, model: catalog.GpuModel, gpus: int, cloud: catalog.Cloud) -> list[str]:
    shapes = [o.instance_type for o in model.offers_on(cloud) if o.gpu_count == gpus]
    if isinstance(value, str) and value in shapes:
        return []
    hint = did_you_mean(value, shapes) if isinstance(value, str) else ""
    return [
        f"instance_type={value!r} is not a catalogue shape with {gpus} x {model.name} on {cloud}; "
        f"use {one_of(shapes)}{hint}"
    ]


# --- Resolution --------------------------------------------------------------------------------------


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
    model = catalog.GPUS[args["gpu"].strip().lower()]
    gpus = _gpus_per_node(args, model, cloud)
    if "instance_type" in args:
        offer = next(
            o for o in model.offers_on(cloud) if o.gpu_count == gpus and o.instance_type == args["instance_type"]
        )
    else:
        offer = model.offer(cloud, gpus)
    taints = tuple(Taint(key=t["key"], value=t.get("value", ""), effect=t["effect"]) for t in args.get("taints", ()))
    return GpuPool(
        cloud=cloud,
        gpu=model.name,
        offer=offer,
        gpus_per_node=gpus,
        min_nodes=args.get("min_nodes", DEFAULT_MIN_NODES),
        max_nodes=args.get("max_nodes", DEFAULT_MAX_NODES),
        spot=args.get("spot", False),
        disk_size_gib=args.get("disk_size_gib", DEFAULT_DISK_SIZE_GIB),
        labels=MappingProxyType(dict(args.get("labels", {}))),
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
