"""The managed endpoint every cloud shares, declared once: SageMaker, Vertex AI and Azure ML online endpoints take
the same arguments with the same meaning (``shardstack.aws.SageMakerEndpoint``, ``shardstack.gcp.VertexEndpoint``,
``shardstack.azure.MlOnlineEndpoint``), and the GPU pools' names where the idea is the same (``gpu``,
``gpus_per_instance`` like ``gpus_per_node``, ``min_instances``/``max_instances`` like ``min_nodes``/``max_nodes``)
and ShardedInference's for the model (``image``, ``model_uri``, ``dtype``, ``shards``, ``env``).

A managed endpoint runs one replica group per instance: the container starts ``shards`` ranks, each on its own
share of the instance's GPUs (``SHARDSTACK_RANKS_HERE``), so ``shards`` can be at most ``gpus_per_instance``.
How many that takes, which shape and how long the instance may take to start come from the sizing
(:func:`managed_shape`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from shardstack import catalog
from shardstack.errors import did_you_mean, one_of
from shardstack.k8s.inference_specs import SHARDED_INFERENCE
from shardstack.limits import GPUS_PER_NODE, SHARDS
from shardstack.specs.gpu_pool import GpuKey, ordered_range
from shardstack.specs.kinds import Count, Text, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

PLATFORM_NAMES: dict[catalog.Platform, str] = {"sagemaker": "SageMaker", "vertex": "Vertex AI", "azureml": "Azure ML"}

MODEL_URI_SCHEMES: dict[catalog.Platform, tuple[str, ...]] = {
    "sagemaker": ("s3://", "https://"),
    "vertex": ("gs://", "https://"),
    "azureml": ("az://", "https://"),
}
"""What a platform's instances read weights from: their cloud's object storage (through the endpoint's identity),
or a public https:// download."""

DEFAULT_MIN_INSTANCES = 1
"""Real-time endpoints on all three platforms keep at least one instance: none scales to zero."""
DEFAULT_MAX_INSTANCES = 1
MAX_INSTANCES = 100
"""More instances than any endpoint's default quota; for more, ask the cloud and use more endpoints."""

STARTUP_BASE_S = 600
"""What an instance needs before the first weight byte: pulling a CUDA image (10-20 GiB), starting the ranks,
CUDA initialisation and the warm-up pass."""
LOAD_BYTES_PER_S = 100 * 2**20
"""A conservative rate at which one instance reads the checkpoint from its cloud's object storage: a tenth of what
the ranks reach in our tests, so that a slow regional read does not fail the deployment."""
MIN_STARTUP_TIMEOUT_S = 300
MAX_STARTUP_TIMEOUT_S = 3600
"""SageMaker's ceiling for ContainerStartupHealthCheckTimeoutInSeconds, the lowest of the three platforms'."""


@dataclass(frozen=True)
class ManagedShape:
    """What a managed endpoint runs: the shape of each instance, the ranks on it, and how long it may start."""

    gpu: catalog.GpuModel
    offer: catalog.InstanceOffer
    """The platform's instance type (``offer.instance_type``), with its GPUs and hourly price."""
    shards: int
    """Ranks on each instance, one replica group."""
    startup_timeout_s: int
    """How long an instance may take from start to answering its health route."""

    @property
    def gpus_per_instance(self) -> int:
        return self.offer.gpu_count


def _model(values: Values) -> catalog.GpuModel:
    return catalog.GPUS[values["gpu"].strip().lower()]


def weight_bytes(values: Values) -> float | None:
    """The checkpoint's size from ``params`` and ``dtype``, or None when ``params`` is not given."""
    from shardstack.sizing import DTYPE_BYTES

    return values["params"] * DTYPE_BYTES[values["dtype"]] if values.given("params") else None


def startup_timeout_s(weight_bytes: float | None) -> int:
    """Seconds an instance may take to start: the base plus the checkpoint read at a conservative rate."""
    if weight_bytes is None:
        return STARTUP_BASE_S
    needed = STARTUP_BASE_S + math.ceil(weight_bytes / LOAD_BYTES_PER_S)
    return max(MIN_STARTUP_TIMEOUT_S, min(MAX_STARTUP_TIMEOUT_S, needed))


def _sized_shards(values: Values) -> int | None:
    """Shards the sizing asks for on this GPU, from ``params``; None without them."""
    from shardstack.sizing import DEFAULT_HEADROOM, GIB, shards_for

    size = weight_bytes(values)
    return None if size is None else shards_for(size, _model(values).memory_gib * GIB, DEFAULT_HEADROOM)


def managed_shape(platform: catalog.Platform, values: Values) -> ManagedShape:
    """Return the instance type, shards and startup timeout of arguments that passed their checks.

    ``shards`` as given, else sized from ``params`` and ``dtype`` (:func:`shardstack.sizing.shards_for`), else every
    GPU of the instance. The instance: ``instance_type`` as given, else the cheapest shape with ``gpus_per_instance``
    GPUs, else the cheapest with room for the shards.
    """
    offers = _model(values).managed_offers_on(platform)
    shards = values["shards"] if values.given("shards") else _sized_shards(values)
    if values.given("instance_type"):
        candidates = [o for o in offers if o.instance_type == values["instance_type"]]
    elif values.given("gpus_per_instance"):
        candidates = [o for o in offers if o.gpu_count == values["gpus_per_instance"]]
    else:
        fitting = catalog.gpu_counts(offers)
        count = next((c for c in fitting if shards is None or c >= shards), fitting[-1])
        candidates = [o for o in offers if o.gpu_count == count]
    offer = min(candidates, key=lambda o: o.usd_per_hour)
    timeout = values["startup_timeout_s"] if values.given("startup_timeout_s") else None
    return ManagedShape(
        _model(values), offer, shards or offer.gpu_count, timeout or startup_timeout_s(weight_bytes(values))
    )


def _catalogue_rules(platform: catalog.Platform) -> tuple[Rule, ...]:
    name = PLATFORM_NAMES[platform]

    def instance_size(values: Values) -> Iterator[Problem]:
        counts = catalog.gpu_counts(_model(values).managed_offers_on(platform))
        if values.given("gpus_per_instance") and values["gpus_per_instance"] not in counts:
            yield Problem(
                ("gpus_per_instance",),
                f"is not an instance size for {_model(values).name!r} on {name}; "
                f"allowed: {', '.join(str(c) for c in counts)}",
                values["gpus_per_instance"],
            )

    def instance_type(values: Values) -> Iterator[Problem]:
        if not values.given("instance_type"):
            return
        offers = _model(values).managed_offers_on(platform)
        wanted = values["gpus_per_instance"] if values.given("gpus_per_instance") else None
        shapes = [o.instance_type for o in offers if wanted is None or o.gpu_count == wanted]
        value = values["instance_type"]
        if value not in shapes:
            gpus = f"{wanted} x " if wanted is not None else ""
            yield Problem(
                ("instance_type",),
                f"is not a {name} shape with {gpus}{_model(values).name} in the catalogue; "
                f"use {one_of(shapes)}{did_you_mean(value, shapes)}",
                value,
            )

    def shards_fit(values: Values) -> Iterator[Problem]:
        if list(instance_size(values)) or list(instance_type(values)):
            return
        offers = _model(values).managed_offers_on(platform)
        shards = values["shards"] if values.given("shards") else _sized_shards(values)
        if shards is None:
            return
        pinned = values.given("gpus_per_instance") or values.given("instance_type")
        room = managed_shape(platform, values).gpus_per_instance if pinned else max(catalog.gpu_counts(offers))
        if shards <= room:
            return
        how = "" if values.given("shards") else f" (sized from params={values['params']:g} in {values['dtype']})"
        where = "this instance" if pinned else f"{name}'s largest {_model(values).name} shape"
        key = "shards" if values.given("shards") else "params"
        yield Problem(
            (key,),
            f"needs {shards} GPUs{how}, but {where} has {room}: a managed endpoint runs one replica group on one "
            f"instance. Use at most {room} shards, a GPU with more memory, or ShardedInference on a cluster, whose "
            "replica groups span nodes",
            values[key],
        )

    return (
        Rule(("gpu", "gpus_per_instance"), instance_size),
        Rule(("gpu", "gpus_per_instance", "instance_type"), instance_type),
        Rule(("gpu", "gpus_per_instance", "instance_type", "shards", "params", "dtype"), shards_fit),
    )


def _model_uri_rule(platform: catalog.Platform) -> Rule:
    schemes = MODEL_URI_SCHEMES[platform]

    def check(values: Values) -> Iterator[Problem]:
        uri = values["model_uri"]
        if isinstance(uri, str) and not uri.startswith(schemes):
            yield Problem(
                ("model_uri",),
                f"cannot be read by {PLATFORM_NAMES[platform]}'s instances; use a URI starting {one_of(schemes)}",
                uri,
            )

    return Rule(("model_uri",), check)


def managed_endpoint_spec(platform: catalog.Platform | None) -> Spec:
    """Return the arguments every cloud's managed endpoint takes, checked against ``platform``'s shapes; with None,
    the checks that need no platform (the stack config's, before it knows the cloud)."""
    name = PLATFORM_NAMES[platform] if platform else "the platform"
    cloud = catalog.PLATFORM_CLOUD[platform] if platform else None
    model_uri = SHARDED_INFERENCE.arg("model_uri")
    schemes = tuple(sorted({s for each in MODEL_URI_SCHEMES.values() for s in each}))
    args = (
        Arg(
            "gpu",
            GpuKey(cloud, platform),
            f"GPU model: a key of the GPU catalogue (``shardstack.catalog.GPUS``), e.g. 'l4' or 'h100-80gb' "
            f"(case-insensitive). {name[0].upper()}{name[1:]} must serve on it.",
            required=True,
        ),
        Arg(
            "gpus_per_instance",
            GPUS_PER_NODE,
            f"GPUs per instance: one of the counts {name} offers for this GPU.",
            default_doc="the smallest that holds the shards",
        ),
        Arg(
            "instance_type",
            Text(f"a {name} instance type from the catalogue"),
            f"{name}'s instance type, to pick another catalogue shape with the same GPUs (more vCPUs or memory) "
            "than the cheapest one.",
            default_doc="the cheapest shape with gpus_per_instance GPUs",
        ),
        Arg(
            "min_instances",
            Whole(1, MAX_INSTANCES, why=f"a real-time endpoint keeps at least one; {MAX_INSTANCES} is a quota's size"),
            "Fewest instances, each running one copy of the model.",
            default=DEFAULT_MIN_INSTANCES,
        ),
        Arg(
            "max_instances",
            Whole(1, MAX_INSTANCES, why=f"{MAX_INSTANCES} is more than an endpoint's default quota"),
            "Most instances, ≥ min_instances; the platform's autoscaling adds instances up to this.",
            default=DEFAULT_MAX_INSTANCES,
        ),
        Arg(
            "image",
            SHARDED_INFERENCE.arg("image").kind,
            "Runtime image reference in the cloud's registry (the platform pulls only from it), e.g. "
            "``<registry>/shardstack/runtime:0.1.0``; pin a tag or digest.",
            required=True,
        ),
        Arg(
            "model_uri",
            model_uri.kind,
            f"Where the weights are: a URI starting {one_of(MODEL_URI_SCHEMES[platform] if platform else schemes)}, "
            "read through the endpoint's identity.",
            required=True,
        ),
        SHARDED_INFERENCE.arg("dtype"),
        Arg(
            "shards",
            SHARDS,
            "Ranks per instance (one replica group), each on its own share of the instance's GPUs.",
            default_doc="sized from params and dtype, else one per GPU of the instance",
        ),
        Arg(
            "params",
            Count(),
            "Parameter count of the model, e.g. 7.0e9: sizes shards, the instance and how long it may take to start.",
            default_doc=f"none: shards from the instance, and a startup timeout of {STARTUP_BASE_S} s (a small model)",
        ),
        Arg(
            "startup_timeout_s",
            Whole(MIN_STARTUP_TIMEOUT_S, MAX_STARTUP_TIMEOUT_S, why="SageMaker's range, the narrowest of the three"),
            "Seconds an instance may take from start to serving before the platform gives up on it.",
            default_doc=f"{STARTUP_BASE_S} s plus the checkpoint (params x dtype) read at "
            f"{LOAD_BYTES_PER_S // 2**20} MiB/s",
        ),
        SHARDED_INFERENCE.arg("env"),
    )
    rules = (
        ordered_range("min_instances", "max_instances"),
        *((*_catalogue_rules(platform), _model_uri_rule(platform)) if platform else ()),
    )
    return Spec(
        "ManagedEndpointArgs",
        "Arguments every cloud's managed endpoint takes, with the same meaning on each platform.",
        args,
        rules,
    )
