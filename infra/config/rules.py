"""Rules of the whole stack: what depends on the cloud, the region, or several sections at once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shardstack import catalog
from shardstack.cidr import internet_coverage
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES
from shardstack.sizing import PLATFORM_OF
from shardstack.specs.gpu_pool import gpu_pool_spec, resolved_gpus_per_node
from shardstack.specs.managed_endpoint import managed_endpoint_spec
from shardstack.specs.problem import show
from shardstack.specs.spec import Values

from .defaults import AZURE_ZONES, CLOUD_NAMES, DEMO_MODEL_URI, MODEL_URI_SCHEMES, REGION_EXAMPLES, REGION_SHAPES, Cloud
from .problems import Problem
from .section import Checked, Item
from .specs import ENDPOINT_KEYS, SERVING

if TYPE_CHECKING:
    from .models import GpuPoolConfig, StackConfig

# --- Rules of the whole stack ------------------------------------------------------------------------


def pool_name_problems(pools: Sequence[Item]) -> list[Problem]:
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for item in pools:
        if not item.checked.valid("name"):
            continue
        name: str = item.section.name
        if name in first_index:
            message = f"{name!r} is already the name of gpu_pools[{first_index[name]}]; pool names must be unique"
            problems.append(Problem(("gpu_pools", item.index, "name"), message, name))
        first_index.setdefault(name, item.index)
    return problems


def local_problems(cfg: StackConfig, checked: Checked) -> list[Problem]:
    problems: list[Problem] = []
    for name in ("region", "zones", "kubernetes_version", "cluster", "network", "system_pool", "weight_store"):
        if name in checked.given:
            value = getattr(cfg, name) if checked.valid(name) else None
            shown = isinstance(value, str | list)
            subject = f"{show(value)} is given, but this key" if shown else "this key"
            message = (
                f"{subject} is only used with cloud 'aws', 'gcp' or 'azure'; cloud 'local' uses the "
                "existing cluster from your kubeconfig, so remove it"
            )
            problems.append(Problem((name,), message, value))
    if checked.valid("monitoring") and cfg.monitoring.managed_prometheus:
        message = (
            "is only used with cloud 'aws', 'gcp' or 'azure', whose managed Prometheus it reports to; a local "
            "cluster has none (monitoring.prometheus, the in-cluster one, watches it), so remove it"
        )
        problems.append(Problem(("monitoring", "managed_prometheus"), message, True))
    pools = checked.items.get("gpu_pools", ())
    if pools:
        message = f"{len(pools)} pool(s) given, but cloud 'local' uses the existing cluster's nodes; remove gpu_pools"
        problems.append(Problem(("gpu_pools",), message, None))
    if checked.valid("model.uri"):
        problems += _model_uri_problems(cfg.model.uri, "local")
    if checked.valid("model.uri", "local.weights.store"):
        uri, store = cfg.model.uri, cfg.local.weights.store
        needed = {"s3": "in-cluster-s3", "file": "host-path"}.get(urlsplit(uri).scheme)
        if needed is not None and needed != store:
            message = f"{uri!r} needs local.weights.store {needed!r}, but store is {store!r}; change one of them"
            problems.append(Problem(("model", "uri"), message, uri))
    return problems


def cloud_problems(cfg: StackConfig, checked: Checked) -> list[Problem]:
    cloud = cfg.cloud
    if cloud == "local":
        return []
    problems: list[Problem] = []
    if "local" in checked.given:
        message = f"is only used with cloud 'local'; remove it for cloud {cloud!r}"
        problems.append(Problem(("local",), message, None))
    if cloud != "azure" and checked.valid("weight_store"):
        for key in ("allowed_networks", "allowed_subnet_ids"):
            if value := getattr(cfg.weight_store, key):
                message = (
                    f"is only used with cloud 'azure', whose storage firewall admits networks; the {cloud} "
                    "bucket admits callers by their credentials alone, so remove it"
                )
                problems.append(Problem(("weight_store", key), message, value))
    if cloud != "azure" and checked.valid("cluster") and "deployer_principal_type" in cfg.cluster.model_fields_set:
        message = "is only used with cloud 'azure', where role assignments name a principal type; remove it"
        problems.append(Problem(("cluster", "deployer_principal_type"), message, cfg.cluster.deployer_principal_type))
    if checked.valid("region"):
        problems += _region_problems(cloud, cfg.region, cfg.zones if checked.valid("zones") else None)
    if checked.valid("gpu_pools") and not cfg.gpu_pools and not cfg.managed:
        message = (
            f"is empty, but cloud {cloud!r} needs at least one GPU pool, e.g. [{{name: l4, gpu: l4, max_nodes: 2}}]"
        )
        problems.append(Problem(("gpu_pools",), message, []))
    stack_zones = cfg.zones if checked.valid("zones") else None
    region = cfg.region if checked.valid("region") and cfg.region else None
    for item in checked.items.get("gpu_pools", ()):
        found = _gpu_offer_problems(item.section, item.checked, cloud)
        found += _pool_placement_problems(item.section, item.checked, cloud, region, stack_zones)
        for problem in found:
            problems.append(Problem(("gpu_pools", item.index, *problem.loc), problem.message, problem.value))
    if checked.valid("model.uri"):
        problems += _model_uri_problems(cfg.model.uri, cloud)
    if (
        checked.valid("model.shards", "serving.replica_groups", "serving.autoscaling", "gpu_pools")
        and cfg.gpu_pools
        and not cfg.managed
    ):
        problems += _capacity_problems(cfg, cloud)
    return problems


def _region_problems(cloud: catalog.Cloud, region: str | None, zones: list[str] | None) -> list[Problem]:
    example = REGION_EXAMPLES[cloud]
    if region is None:
        return [Problem(("region",), f"is required for cloud {cloud!r}, e.g. {example!r}", None)]
    if not REGION_SHAPES[cloud].fullmatch(region):
        # Azure's display names ("East US") are a common slip for the region name ("eastus").
        squashed = re.sub(r"\s+", "", region).lower()
        hint = f" (did you mean {squashed!r}?)" if REGION_SHAPES[cloud].fullmatch(squashed) else ""
        message = f"{region!r} is not a region name of {CLOUD_NAMES[cloud]} like {example!r}{hint}"
        return [Problem(("region",), message, region)]
    return _zone_problems(cloud, region, zones or [], ("zones",))


def _zone_problems(cloud: catalog.Cloud, region: str, zones: list[str], loc: tuple[str | int, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for index, zone in enumerate(zones):
        if cloud == "azure":
            belongs, zone_example = zone in AZURE_ZONES, "'1', '2' or '3'"
        elif cloud == "aws":
            belongs, zone_example = (
                re.fullmatch(re.escape(region) + "[a-z]", zone) is not None,
                f"'{region}a'",
            )
        else:
            belongs, zone_example = (
                re.fullmatch(re.escape(region) + "-[a-z]", zone) is not None,
                f"'{region}-a'",
            )
        if not belongs:
            message = f"{zone!r} is not a zone of region {region!r}; zones there look like {zone_example}"
            problems.append(Problem((*loc, index), message, zone))
    return problems


OFFER_ARGS = ("gpu", "gpus_per_node", "instance_type")
"""The pool keys the cloud's catalogue judges, by the same rules as the cloud's GpuNodePool."""


def _gpu_offer_problems(pool: GpuPoolConfig, checked: Checked, cloud: catalog.Cloud) -> list[Problem]:
    given = {k: getattr(pool, k) for k in OFFER_ARGS if k in checked.given and checked.valid(k)}
    if "gpu" not in given:
        return []
    offers = gpu_pool_spec(cloud).only(OFFER_ARGS, name="GpuPoolOffer", doc="What the catalogue offers on the cloud.")
    return [Problem(p.path, p.as_config_text(), p.value) for p in offers.check(given)]


def _pool_placement_problems(
    pool: GpuPoolConfig, checked: Checked, cloud: catalog.Cloud, region: str | None, stack_zones: list[str] | None
) -> list[Problem]:
    problems: list[Problem] = []
    if pool.zones is not None and checked.valid("zones"):
        if cloud == "aws":
            message = (
                "is not used on aws: its GPU pools run in the network's private subnets, one per zone of "
                "shardstack:zones; set the zones there"
            )
            problems.append(Problem(("zones",), message, pool.zones))
        elif region is not None and REGION_SHAPES[cloud].fullmatch(region):
            problems += _zone_problems(cloud, region, pool.zones, ("zones",))
    if pool.compact_placement and checked.valid("compact_placement"):
        zones = pool.zones if pool.zones is not None else stack_zones
        if cloud != "gcp":
            message = f"is only supported on gcp (a COMPACT placement policy); remove it for cloud {cloud!r}"
            problems.append(Problem(("compact_placement",), message, True))
        elif zones is None or len(zones) != 1:
            given = show(zones) if zones else "not set (so every zone of the cluster)"
            message = (
                f"needs exactly one zone for the pool, but its zones are {given}; "
                f"set gpu_pools[].zones to one zone that has the GPU, e.g. ['{region or 'us-central1'}-a']"
            )
            problems.append(Problem(("compact_placement",), message, True))
    return problems


def gpus_per_node(pool: GpuPoolConfig, cloud: catalog.Cloud) -> int:
    """Return the pool's GPUs per node, resolving the default against the catalogue."""
    if not catalog.GPUS[pool.gpu].gpu_counts(cloud):
        return pool.gpus_per_node  # a GPU the cloud does not offer, reported as such
    given = {k: getattr(pool, k) for k in pool.model_fields_set if k in GPU_POOL_ARG_NAMES}
    return resolved_gpus_per_node(Values(gpu_pool_spec(None), given), cloud)


def _model_uri_problems(uri: str, cloud: Cloud) -> list[Problem]:
    if uri == DEMO_MODEL_URI or urlsplit(uri).scheme in MODEL_URI_SCHEMES[cloud]:
        return []
    allowed = ", ".join(f"{s}://" for s in MODEL_URI_SCHEMES[cloud])
    message = f"{uri!r} cannot be read on cloud {cloud!r}; use {DEMO_MODEL_URI!r} or a URI starting {allowed}"
    return [Problem(("model", "uri"), message, uri)]


def _capacity_problems(cfg: StackConfig, cloud: catalog.Cloud) -> list[Problem]:
    # Every shard is one pod holding at least one GPU, so this is a lower bound on the GPUs needed.
    shards, replica_groups = cfg.model.shards, cfg.groups_at_most
    if shards == "auto":
        return []
    needed = shards * replica_groups
    capacity = sum(pool.max_nodes * gpus_per_node(pool, cloud) for pool in cfg.gpu_pools)
    if needed <= capacity:
        return []
    groups = "replica group(s)" if cfg.serving.autoscaling is None else "group(s) at autoscaling.max_groups"
    message = (
        f"{shards} shards x {replica_groups} {groups} need at least {needed} GPUs, but "
        f"gpu_pools hold at most {capacity} (the sum of max_nodes x gpus_per_node); "
        "raise max_nodes or lower shards"
    )
    return [Problem(("model", "shards"), message, shards)]


def api_key_problems(cfg: StackConfig, checked: Checked) -> list[Problem]:
    if not checked.valid("api_key", "serving.api_key_secret"):
        return []
    problems: list[Problem] = []
    serving = cfg.serving
    if cfg.api_key is not None and serving.api_key_secret is not None:
        message = f"Secret {serving.api_key_secret.name!r} is given and so is shardstack:api_key; set only one"
        problems.append(Problem(("serving", "api_key_secret"), message, serving.api_key_secret.name))
    unauthenticated = cfg.api_key is None and serving.api_key_secret is None
    if checked.valid("serving.public", "serving.allowed_cidrs") and serving.public and unauthenticated:
        fix = (
            "without an API key; set one with `pulumi config set --secret shardstack:api_key ...` (or "
            "serving.api_key_secret), or list narrower networks"
        )
        for index, cidr in enumerate(serving.allowed_cidrs):
            if coverage := internet_coverage([cidr]):
                message = f"{cidr!r} opens the API to the whole internet ({coverage}) {fix}"
                problems.append(Problem(("serving", "allowed_cidrs", index), message, cidr))
        if not problems and (coverage := internet_coverage(serving.allowed_cidrs)):
            message = f"together these blocks open the API to the whole internet ({coverage}) {fix}"
            problems.append(Problem(("serving", "allowed_cidrs"), message, list(serving.allowed_cidrs)))
    return problems


# --- Where the model is served -------------------------------------------------------------------------

CLUSTER_KEYS = ("zones", "kubernetes_version", "cluster", "network", "system_pool", "gpu_pools", "monitoring")
"""The keys of a stack's cluster (and what runs in it), which a managed endpoint has none of."""
KUBERNETES_SERVING_KEYS = tuple(k for k in SERVING.names if k not in ("platform", "image"))
"""The serving keys that configure ShardedInference, which a managed endpoint does not run."""


def platform_problems(cfg: StackConfig, checked: Checked) -> list[Problem]:
    """What serving.platform allows: the endpoint section with 'managed' only, no cluster keys with it."""
    if not checked.valid("serving.platform"):
        return []
    if not cfg.managed:
        if "endpoint" in checked.given:
            message = "is only used with serving.platform 'managed'; set that, or remove endpoint"
            return [Problem(("endpoint",), message, None)]
        return []
    if cfg.cloud == "local":
        message = (
            "'managed' needs cloud 'aws', 'gcp' or 'azure' (SageMaker, Vertex AI, Azure ML); local is 'kubernetes'"
        )
        return [Problem(("serving", "platform"), message, "managed")]
    platform = PLATFORM_OF[cfg.cloud]
    problems: list[Problem] = []
    for key in CLUSTER_KEYS:
        if key in checked.given:
            message = (
                f"is not used with serving.platform 'managed': {platform} runs the model with no cluster of yours; "
                "remove it"
            )
            problems.append(Problem((key,), message, None))
    for key in KUBERNETES_SERVING_KEYS:
        if key in cfg.serving.model_fields_set:
            message = (
                "configures ShardedInference on a cluster, which serving.platform 'managed' does not run; remove it "
                "(endpoint.min_instances and max_instances say how many copies)"
            )
            problems.append(Problem(("serving", key), message, None))
    if "api_key" in checked.given:
        message = f"is not used with serving.platform 'managed': callers authenticate with {platform}'s own auth"
        problems.append(Problem(("api_key",), message, None))
    if cfg.endpoint is None:
        if checked.valid("endpoint"):
            message = "is required with serving.platform 'managed', e.g. {gpu: l4, max_instances: 2}"
            problems.append(Problem(("endpoint",), message, None))
        return problems
    return problems + _endpoint_offer_problems(cfg, checked, platform)


def _endpoint_offer_problems(cfg: StackConfig, checked: Checked, platform: catalog.Platform) -> list[Problem]:
    """The endpoint's shape as the cloud's platform offers it, and the model's shards on one instance."""
    valid = [k for k in ENDPOINT_KEYS if checked.valid(f"endpoint.{k}")]
    given = {k: v for k in valid if (v := getattr(cfg.endpoint, k, None)) is not None}
    model: dict[str, Any] = {"dtype": cfg.model.dtype}
    if checked.valid("model.shards") and cfg.model.shards != "auto":
        model["shards"] = cfg.model.shards
    if checked.valid("model.params") and cfg.model.params is not None:
        model["params"] = cfg.model.params
    keys = (*ENDPOINT_KEYS, "dtype", "shards", "params")
    spec = managed_endpoint_spec(platform).only(keys, name="EndpointOffer", doc="What the platform offers.")
    problems = []
    for problem in spec.check({**given, **model}):
        section = "model" if problem.path[0] in model else "endpoint"
        problems.append(Problem((section, *problem.path), problem.as_config_text(), problem.value))
    return problems
