"""How many shards (GPUs) a model needs, and what the nodes for them cost.

Usage::

    from shardstack.sizing import size_model

    sizing = size_model(params=70e9, dtype="bf16", gpu="h100-80gb", cloud="aws")
    print(sizing.render())          # 3 shards on 1 p5.48xlarge, $55.04/hour

Shardstack runs pipeline parallel: one pod = one rank = one GPU, and a replica group (one copy of
the model) is ``shards`` pods. The arithmetic, with every quantity in bytes:

    weight_bytes = checkpoint_bytes                      when checkpoint_bytes is given (what is stored)
                 = params * DTYPE_BYTES[dtype]           otherwise
    usable       = gpu memory * (1 - headroom)           per GPU, for weights
    shards       = ceil(weight_bytes / usable)           at least 1
    gpus_per_node (default, when a cloud is given)
                 = the smallest GPU count per instance offered on that cloud that is >= shards,
                   or the largest offered count when none is that big
    nodes        = ceil(shards * replica_groups / gpus_per_node)
    usd_per_hour = nodes * the cheapest instance with exactly gpus_per_node GPUs

``headroom`` is the fraction of each GPU's memory kept free for activations, the KV cache, the
CUDA context and allocator fragmentation. GPU memory is what CUDA reports (``catalog.GpuModel``), and
sizes are shown in GiB (2**30 bytes). With ``checkpoint_bytes``, ``params`` is estimated as
``checkpoint_bytes / DTYPE_BYTES[dtype]``, for display only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeGuard

from shardstack.catalog import (
    CLOUDS,
    PLATFORM_CLOUD,
    PRICE_REGION,
    PRICES_AS_OF,
    Cloud,
    GpuModel,
    InstanceOffer,
    Platform,
    gpu_counts,
)
from shardstack.catalog import gpu as lookup_gpu
from shardstack.errors import ArgumentError, InputError, did_you_mean, one_of

DTYPE_BYTES: Mapping[str, float] = MappingProxyType({"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5})
"""Bytes per parameter for each weight dtype."""

DEFAULT_HEADROOM = 0.2
"""Fraction of GPU memory kept free by default.

One fifth covers the CUDA context (about 0.5-1 GiB), one pipeline stage's activations and a modest
KV cache on every catalogue GPU from the 16 GB T4 up; serving engines that pre-allocate a large KV cache
(vLLM's default uses 90% of memory in total) want more, and can pass a larger headroom.
"""

TARGETS = ("kubernetes", "managed")
"""Where the model is served: pods on a cluster's nodes, or a managed endpoint (SageMaker, Vertex AI, Azure ML),
which runs a whole replica group on one instance."""

PLATFORM_OF: Mapping[Cloud, Platform] = MappingProxyType({cloud: p for p, cloud in PLATFORM_CLOUD.items()})
"""Each cloud's managed serving platform."""

GIB = 2**30
"""Bytes in a GiB; all sizes are shown in GiB, the unit GPU memory is reported in."""

HOURS_PER_MONTH = 730
"""Average hours in a month (8760 / 12), the convention cloud price pages use for monthly figures."""

# A ratio within this of a whole number counts as that number, so that float rounding in
# weight / usable never asks for one GPU more than the arithmetic does.
_CEIL_TOLERANCE = 1e-9


def shards_for(weight_bytes: float, gpu_memory_bytes: float, headroom: float) -> int:
    """Return the number of GPUs whose usable memory holds ``weight_bytes``: at least 1.

    ``usable = gpu_memory_bytes * (1 - headroom)``; ``shards = ceil(weight_bytes / usable)``.
    """
    problems: list[str] = []
    if not _is_number(weight_bytes) or not weight_bytes > 0:
        problems.append(f"weight_bytes: must be a number > 0; got {weight_bytes!r}")
    if not _is_number(gpu_memory_bytes) or not gpu_memory_bytes > 0:
        problems.append(f"gpu_memory_bytes: must be a number > 0; got {gpu_memory_bytes!r}")
    if _headroom_problem(headroom):
        problems.append(_headroom_problem(headroom))
    if problems:
        raise ArgumentError("shards_for", problems)
    usable = gpu_memory_bytes * (1 - headroom)
    return max(1, math.ceil(weight_bytes / usable - _CEIL_TOLERANCE))


@dataclass(frozen=True)
class Sizing:
    """The result of ``size_model``: shards, and with a cloud, the nodes and their hourly price."""

    params: float
    """Parameter count; estimated from the checkpoint size when ``from_checkpoint``."""
    dtype: str
    weight_bytes: float
    gpu: GpuModel
    headroom: float
    usable_bytes_per_gpu: float
    shards: int
    """GPUs (pods, ranks) for one copy of the model."""
    gpus_per_shard: int
    """Always 1: one pod = one rank = one GPU."""
    replica_groups: int
    cloud: Cloud | None
    offer: InstanceOffer | None
    """The instance type every node uses; None without a cloud."""
    nodes: int | None
    usd_per_hour: float | None
    """``nodes * offer.usd_per_hour``: on-demand list price, see ``catalog``."""
    from_checkpoint: bool = False
    """True when ``weight_bytes`` is the checkpoint size rather than params * dtype bytes."""
    target: str = "kubernetes"
    """One of :data:`TARGETS`; with "managed", ``offer`` is the cloud's managed platform's shape."""

    @property
    def total_gpus(self) -> int:
        """Return the GPUs in use across all replica groups."""
        return self.shards * self.gpus_per_shard * self.replica_groups

    @property
    def gpus_per_node(self) -> int | None:
        """Return the GPUs in each node, or None without a cloud."""
        return self.offer.gpu_count if self.offer else None

    def render(self) -> str:
        """Return a human-readable, several-line summary (what ``shardstack size`` prints)."""
        g = self.gpu
        if self.from_checkpoint:
            weights = f"{_gib(self.weight_bytes)} of weights (checkpoint size, {self.dtype})"
        else:
            weights = (
                f"{_count(self.params)} parameters x {_bytes_each(DTYPE_BYTES[self.dtype])} ({self.dtype})"
                f" = {_gib(self.weight_bytes)} of weights"
            )
        replicas = "replica group" if self.replica_groups == 1 else "replica groups"
        lines = [
            f"Model:     {weights}",
            f"GPU:       {g.display_name}, {g.memory_gib:.1f} GiB each; {self.headroom:.0%} kept free"
            f" -> {_gib(self.usable_bytes_per_gpu)} usable for weights",
            f"Shards:    {self.shards} (one GPU each, pipeline parallel) x {self.replica_groups}"
            f" {replicas} = {self.total_gpus} GPU{_plural(self.total_gpus)}",
        ]
        if self.cloud is None or self.offer is None or self.nodes is None or self.usd_per_hour is None:
            where = "; ".join(f"{c} ({', '.join(str(n) for n in g.gpu_counts(c))} GPUs per node)" for c in g.clouds)
            lines.append(f"Cloud:     none given; set a cloud ({', '.join(CLOUDS)}) to price it.")
            lines.append(f"Offered:   {where or 'on no cloud in the catalogue'}")
            return "\n".join(lines)
        o = self.offer
        approx = " (approximate)" if o.approximate else ""
        on = f"{o.platform} ({self.cloud})" if o.platform else self.cloud
        nodes = "Instances:" if o.platform else "Nodes:    "
        lines += [
            f"Instance:  {o.instance_type} on {on}: {o.gpu_count} GPU{_plural(o.gpu_count)},"
            f" {o.vcpus} vCPUs, {o.memory_gib:g} GiB RAM; {_usd(o.usd_per_hour)}/hour{approx}",
            f"{nodes} {self.nodes} ({self.total_gpus} of {self.nodes * o.gpu_count} GPUs used)",
            f"Cost:      {_usd(self.usd_per_hour)}/hour{approx}, about"
            f" ${self.usd_per_hour * HOURS_PER_MONTH:,.0f}/month; "
            + (
                f"{o.platform}'s price in {PRICE_REGION[self.cloud]}, from the sources shardstack.catalog names"
                if o.platform
                else f"on-demand list price in {PRICE_REGION[self.cloud]} as of {PRICES_AS_OF}"
            ),
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Return the sizing as plain JSON-serialisable values (what ``shardstack size --json`` prints)."""
        o = self.offer
        return {
            "params": self.params,
            "dtype": self.dtype,
            "weight_bytes": self.weight_bytes,
            "from_checkpoint": self.from_checkpoint,
            "gpu": {
                "name": self.gpu.name,
                "display_name": self.gpu.display_name,
                "memory_gib": self.gpu.memory_gib,
            },
            "headroom": self.headroom,
            "usable_bytes_per_gpu": self.usable_bytes_per_gpu,
            "shards": self.shards,
            "gpus_per_shard": self.gpus_per_shard,
            "replica_groups": self.replica_groups,
            "total_gpus": self.total_gpus,
            "cloud": self.cloud,
            "target": self.target,
            "platform": o.platform if o is not None else None,
            "gpus_per_node": self.gpus_per_node,
            "offer": None
            if o is None
            else {
                "instance_type": o.instance_type,
                "gpu_count": o.gpu_count,
                "vcpus": o.vcpus,
                "memory_gib": o.memory_gib,
                "usd_per_hour": o.usd_per_hour,
                "approximate": o.approximate,
            },
            "nodes": self.nodes,
            "usd_per_hour": self.usd_per_hour,
            "price_region": PRICE_REGION[self.cloud] if self.cloud else None,
            "prices_as_of": PRICES_AS_OF,
        }


def size_model(
    *,
    params: float | None = None,
    checkpoint_bytes: int | None = None,
    dtype: str = "bf16",
    gpu: str,
    cloud: Cloud | None = None,
    gpus_per_node: int | None = None,
    replica_groups: int = 1,
    headroom: float = DEFAULT_HEADROOM,
    target: str = "kubernetes",
) -> Sizing:
    """Return how many shards a model needs on ``gpu`` and, with a ``cloud``, the nodes and price.

    Give exactly one of ``params`` (parameter count) or ``checkpoint_bytes`` (size of the stored
    weights). ``gpus_per_node`` picks the instance shape; by default the smallest offered shape that
    holds one replica group. With ``target="managed"`` the shapes are the cloud's managed platform's
    (SageMaker, Vertex AI, Azure ML), one instance per replica group. Raises ArgumentError listing every
    problem with the arguments at once.
    """
    dtype_key = dtype.strip().lower() if isinstance(dtype, str) else dtype
    model, gpu_problems = _gpu_model(gpu)
    managed = target == "managed"
    problems = [
        *_weights_problems(params, checkpoint_bytes),
        *_dtype_problems(dtype, dtype_key),
        *gpu_problems,
        *_cloud_problems(model, cloud, managed),
        *_gpus_per_node_problems(model, cloud, gpus_per_node, managed),
    ]
    if target not in TARGETS:
        hint = did_you_mean(str(target), TARGETS)
        problems.append(f"target: {target!r} is not a target; use {one_of(TARGETS)}{hint}")
    elif managed and cloud is None:
        problems.append("target: 'managed' needs a cloud, whose platform serves the model (sagemaker on aws, ...)")
    if not isinstance(replica_groups, int) or isinstance(replica_groups, bool) or replica_groups < 1:
        problems.append(f"replica_groups: must be a whole number >= 1; got {replica_groups!r}")
    if _headroom_problem(headroom):
        problems.append(_headroom_problem(headroom))

    if problems:
        raise ArgumentError("size_model", problems)

    # Every check above passed, so these narrowings hold.
    assert model is not None and isinstance(dtype_key, str)
    params_value, weight_bytes = _weights(params, checkpoint_bytes, DTYPE_BYTES[dtype_key])
    gpu_memory_bytes = model.memory_gib * GIB
    shards = shards_for(weight_bytes, gpu_memory_bytes, headroom)
    usable = gpu_memory_bytes * (1 - headroom)
    if cloud is None:
        offer, nodes, usd_per_hour = None, None, None
    elif managed:
        offer, nodes, usd_per_hour = _managed_instance(model, cloud, gpus_per_node, shards, replica_groups)
    else:
        offer, nodes, usd_per_hour = _nodes_and_price(model, cloud, gpus_per_node, shards, replica_groups)

    return Sizing(
        params=params_value,
        dtype=dtype_key,
        weight_bytes=weight_bytes,
        gpu=model,
        headroom=headroom,
        usable_bytes_per_gpu=usable,
        shards=shards,
        gpus_per_shard=1,
        replica_groups=replica_groups,
        cloud=cloud,
        offer=offer,
        nodes=nodes,
        usd_per_hour=usd_per_hour,
        from_checkpoint=checkpoint_bytes is not None,
        target=target,
    )


def _weights_problems(params: float | None, checkpoint_bytes: int | None) -> list[str]:
    """Return the problems with how the model's size is given: exactly one of the two, a number > 0."""
    problems: list[str] = []
    if params is None and checkpoint_bytes is None:
        problems.append("params or checkpoint_bytes: one is required; got neither")
    elif params is not None and checkpoint_bytes is not None:
        problems.append(
            f"params and checkpoint_bytes are mutually exclusive; got both (params={params!r},"
            f" checkpoint_bytes={checkpoint_bytes!r})"
        )
    if params is not None and not (_is_number(params) and params > 0):
        problems.append(f"params: must be a number > 0, e.g. 70e9; got {params!r}")
    if checkpoint_bytes is not None and not (_is_number(checkpoint_bytes) and checkpoint_bytes > 0):
        problems.append(f"checkpoint_bytes: must be a number of bytes > 0; got {checkpoint_bytes!r}")
    return problems


def _dtype_problems(dtype: object, dtype_key: object) -> list[str]:
    """Return the problem with ``dtype`` (as given, and normalised to ``dtype_key``), if any."""
    if dtype_key in DTYPE_BYTES:
        return []
    hint = did_you_mean(dtype_key, DTYPE_BYTES) if isinstance(dtype_key, str) else ""
    return [f"dtype: {dtype!r} is not a known dtype; use {one_of(DTYPE_BYTES)}{hint}"]


def _gpu_model(gpu: str) -> tuple[GpuModel | None, list[str]]:
    """Return the catalogue's GPU named ``gpu``, or None and the problems with the name."""
    try:
        return lookup_gpu(gpu), []
    except InputError as e:
        return None, list(e.problems)


def _cloud_problems(model: GpuModel | None, cloud: Cloud | None, managed: bool = False) -> list[str]:
    """Return the problems with ``cloud``: not a supported cloud, or one that does not offer the GPU (on its
    managed platform, with ``managed``)."""
    if cloud is not None and cloud not in CLOUDS:
        hint = did_you_mean(cloud, CLOUDS) if isinstance(cloud, str) else ""
        return [f"cloud: {cloud!r} is not a supported cloud; use {one_of(CLOUDS)}{hint}"]
    if model is not None and cloud is not None and not _offers(model, cloud, managed):
        if managed:
            serving = ", ".join(repr(p) for p in PLATFORM_CLOUD if model.managed_offers_on(p)) or "none"
            return [
                f"gpu: {model.name!r} is not offered on {PLATFORM_OF[cloud]!r} ({cloud}'s managed endpoints) in this "
                f"catalogue; platforms that serve it: {serving}"
            ]
        offered = ", ".join(repr(c) for c in model.clouds) or "none"
        return [f"gpu: {model.name!r} is not offered on {cloud!r} in this catalogue; clouds that offer it: {offered}"]
    return []


def _offers(model: GpuModel, cloud: Cloud, managed: bool) -> tuple[InstanceOffer, ...]:
    """The shapes a model can be placed on: the cloud's instances, or its managed platform's."""
    return model.managed_offers_on(PLATFORM_OF[cloud]) if managed else model.offers_on(cloud)


def _gpus_per_node_problems(
    model: GpuModel | None, cloud: Cloud | None, gpus_per_node: int | None, managed: bool = False
) -> list[str]:
    """Return the problem with ``gpus_per_node``: not a count >= 1, no cloud, or no such instance shape."""
    if gpus_per_node is None:
        return []
    if not isinstance(gpus_per_node, int) or isinstance(gpus_per_node, bool) or gpus_per_node < 1:
        return [f"gpus_per_node: must be a whole number >= 1; got {gpus_per_node!r}"]
    if cloud is None:
        return [
            f"gpus_per_node: picks an instance shape, so it needs a cloud; got"
            f" gpus_per_node={gpus_per_node!r} and no cloud"
        ]
    # An unknown cloud or GPU, or a GPU the cloud lacks, is reported on its own; no shape to check then.
    if model is None or cloud not in CLOUDS or not _offers(model, cloud, managed):
        return []
    counts = gpu_counts(_offers(model, cloud, managed))
    if gpus_per_node in counts:
        return []
    where = PLATFORM_OF[cloud] if managed else cloud
    return [
        f"gpus_per_node: {gpus_per_node!r} is not offered for {model.name} on {where};"
        f" use one of {', '.join(str(c) for c in counts)}"
    ]


def _weights(params: float | None, checkpoint_bytes: int | None, bytes_per_param: float) -> tuple[float, float]:
    """Return the parameter count and the weight bytes, from whichever of the two sizes was given."""
    if checkpoint_bytes is not None:
        weight_bytes = float(checkpoint_bytes)
        return weight_bytes / bytes_per_param, weight_bytes
    assert params is not None
    params_value = float(params)
    return params_value, params_value * bytes_per_param


def _nodes_and_price(
    model: GpuModel, cloud: Cloud, gpus_per_node: int | None, shards: int, replica_groups: int
) -> tuple[InstanceOffer, int, float]:
    """Return the instance type every node uses, the node count and their hourly price on ``cloud``."""
    per_node = gpus_per_node if gpus_per_node is not None else _default_gpus_per_node(model, cloud, shards)
    offer = model.offer(cloud, per_node)
    nodes = math.ceil(shards * replica_groups / per_node)
    return offer, nodes, nodes * offer.usd_per_hour


def _managed_instance(
    model: GpuModel, cloud: Cloud, gpus_per_node: int | None, shards: int, replica_groups: int
) -> tuple[InstanceOffer, int, float]:
    """The managed platform's cheapest shape that holds a whole replica group, one instance per group."""
    platform = PLATFORM_OF[cloud]
    offers = model.managed_offers_on(platform)
    per_node = gpus_per_node or next((c for c in gpu_counts(offers) if c >= shards), None)
    if per_node is None or per_node < shards:
        most = max(gpu_counts(offers))
        raise ArgumentError(
            "size_model",
            [
                f"target: 'managed' runs a replica group on one instance, but {shards} GPUs of {model.name} hold the "
                f"model and {platform}'s shapes have at most {most if gpus_per_node is None else per_node}; pick a "
                "GPU with more memory, or target kubernetes (nodes of pods)"
            ],
        )
    offer = min((o for o in offers if o.gpu_count == per_node), key=lambda o: o.usd_per_hour)
    return offer, replica_groups, replica_groups * offer.usd_per_hour


def _default_gpus_per_node(model: GpuModel, cloud: Cloud, shards: int) -> int:
    """Return the smallest offered count that holds a replica group on one node, else the largest.

    One replica group per node keeps pipeline hops on the node's own GPU interconnect; when no node
    is big enough, the largest nodes need the fewest cross-node hops.
    """
    counts = model.gpu_counts(cloud)
    return next((c for c in counts if c >= shards), counts[-1])


def _is_number(value: object) -> TypeGuard[float]:
    """Return True for a finite int or float (bool excluded: True is not a parameter count)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _headroom_problem(headroom: object) -> str:
    """Return the problem with ``headroom``, or "" when it is a number in [0, 1)."""
    if _is_number(headroom) and 0 <= headroom < 1:
        return ""
    return (
        f"headroom: must be a fraction in [0, 1) of each GPU's memory kept free, e.g."
        f" {DEFAULT_HEADROOM}; got {headroom!r}"
    )


def _plural(n: int) -> str:
    """Return "s" unless ``n`` is 1."""
    return "" if n == 1 else "s"


def _usd(amount: float) -> str:
    """Return dollars with cents, and a tenth of a cent below $10: ``$0.526``, ``$55.04``."""
    return f"${amount:,.2f}" if amount >= 10 else f"${amount:.3f}"


def _bytes_each(n: float) -> str:
    """Return a per-parameter size in words: ``1 byte``, ``0.5 bytes``, ``2 bytes``."""
    return f"{n:g} byte" if n == 1 else f"{n:g} bytes"


def _gib(n_bytes: float) -> str:
    """Return ``n_bytes`` as GiB with one decimal: ``130.4 GiB``."""
    return f"{n_bytes / GIB:,.1f} GiB"


def _count(n: float) -> str:
    """Return a parameter count in short form: ``70B``, ``135M``, ``1.5T``."""
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= factor:
            return f"{n / factor:.3g}{suffix}"
    return f"{n:.3g}"
