"""The GPU pool every cloud shares, declared once: its arguments, their kinds, defaults and docs, and its
rules. Each cloud's GpuNodePool extends it (``shardstack.specs.aws`` ...); the stack config's
``gpu_pools`` entries are it plus a name (``infra/config/specs.py``).

``{cloud}`` in a doc becomes the cloud's name ('AWS') in a cloud's spec and "the cloud" in the neutral one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shardstack import catalog
from shardstack.errors import did_you_mean, one_of
from shardstack.k8s import labels as lbl
from shardstack.k8s import names
from shardstack.limits import GPUS_PER_NODE, MAX_VOLUME_GIB, node_count
from shardstack.specs.kinds import Choice, Flag, Kind, Labels, ListOf, Record, Text, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

DEFAULT_GPUS_PER_NODE = 1
"""GPUs per node when not given and the cloud has a 1-GPU shape for the GPU; else its smallest count."""
DEFAULT_MIN_NODES = 0
"""A pool scales to zero by default: GPU nodes are the expensive part of an installation."""
DEFAULT_MAX_NODES = 1
DEFAULT_DISK_SIZE_GIB = 200
"""Room for the CUDA images (10-20 GiB each) and a local copy of a mid-sized model's weights."""
MIN_GPU_DISK_SIZE_GIB = 50
"""CUDA images and the model's local copy do not fit on less."""

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

KUBERNETES_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
"""Label domains Kubernetes keeps for itself: the kubelet may not set most of them on its node, and
managed node pools refuse them."""

CLOUD_NAMES: dict[catalog.Cloud | None, str] = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", None: "the cloud"}


def _qualified_name(value: str) -> str | None:
    if names.qualified_name_problem("key", value):
        return (
            "is not a valid key: use [prefix/]name where prefix is a DNS subdomain and name at most 63 "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    if value == lbl.GPU_TAINT_KEY:
        return "is the key of the GPU taint the pool always sets; choose another key"
    return None


def _label_value(value: str) -> str | None:
    if names.label_value_problem("value", value):
        return "is not a valid label value: at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends"
    return None


class _LabelValue(Text):
    """A label value, where empty is allowed too."""

    def reason(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.allowed}"
        return _label_value(value)


TAINT = Spec(
    "Taint",
    "A Kubernetes taint on every node of the pool, as Kubernetes spells it.",
    (
        Arg(
            "key",
            Text("a taint key, [prefix/]name like a label key", _qualified_name),
            "Taint key, ``[prefix/]name`` like a label key, e.g. 'example.com/dedicated'.",
            required=True,
        ),
        Arg(
            "value",
            _LabelValue("a label value, at most 63 characters"),
            "Taint value, a label value (at most 63 characters).",
            default="",
            default_doc="empty",
        ),
        Arg("effect", Choice(TAINT_EFFECTS), "What the taint keeps off the node.", required=True),
    ),
)


@dataclass(frozen=True)
class GpuKey(Kind):
    """A key of the GPU catalogue (any case), offered on ``cloud`` when one is given; with ``platform``, offered by
    that managed serving platform (SageMaker, Vertex AI, Azure ML) of the cloud."""

    cloud: catalog.Cloud | None
    platform: catalog.Platform | None = None

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return f"a GPU catalogue key, {one_of(offered_on(self.cloud, self.platform))}"

    def reason(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return "must be a GPU catalogue key such as 'l4'"
        key = value.strip().lower()
        if key not in catalog.GPUS:
            return f"is not in the GPU catalogue; use {one_of(sorted(catalog.GPUS))}{did_you_mean(key, catalog.GPUS)}"
        where = self.platform or self.cloud
        if where is not None and key not in offered_on(self.cloud, self.platform):
            offered = offered_on(self.cloud, self.platform)
            model = catalog.GPUS[key]
            elsewhere = (
                [p for p in catalog.PLATFORM_CLOUD if model.managed_offers_on(p)] if self.platform else model.clouds
            )
            return (
                f"is not offered on {where} in the catalogue (it is on: {', '.join(elsewhere) or 'none'}); GPUs on "
                f"{where}: {', '.join(repr(g) for g in offered)}{did_you_mean(key, offered)}"
            )
        return None

    def from_text(self, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def offered_on(cloud: catalog.Cloud | None, platform: catalog.Platform | None = None) -> list[str]:
    """Return the catalogue keys of the GPUs ``cloud`` offers (every key when ``cloud`` is None), or with
    ``platform``, those the managed platform serves on."""
    if platform is not None:
        return sorted(key for key, model in catalog.GPUS.items() if model.managed_offers_on(platform))
    return sorted(key for key, model in catalog.GPUS.items() if cloud is None or model.offers_on(cloud))


def gpu_model(values: Values) -> catalog.GpuModel:
    """Return the catalogue model of a pool whose ``gpu`` passed its check."""
    return catalog.GPUS[values["gpu"].strip().lower()]


def resolved_gpus_per_node(values: Values, cloud: catalog.Cloud) -> int:
    """Return GPUs per node: as given, else 1 when the cloud offers it, else the smallest count offered."""
    if values.given("gpus_per_node"):
        return int(values["gpus_per_node"])
    counts = gpu_model(values).gpu_counts(cloud)
    return DEFAULT_GPUS_PER_NODE if DEFAULT_GPUS_PER_NODE in counts else counts[0]


def ordered_range(fewest: str, most: str) -> Rule:
    """The rule that ``most`` ≥ ``fewest`` (the two ends of a range of nodes or instances)."""

    def check(values: Values) -> Iterator[Problem]:
        low, high = values[fewest], values[most]
        if high < low:
            yield Problem((most,), f"is less than {fewest}={low!r}; {most} must be ≥ {fewest}", high)

    return Rule((fewest, most), check)


NODE_RANGE = ordered_range("min_nodes", "max_nodes")
"""max_nodes ≥ min_nodes, for every pool of nodes (GPU and system pools alike)."""


def _catalogue_rules(cloud: catalog.Cloud) -> tuple[Rule, ...]:
    def node_size(values: Values) -> Iterator[Problem]:
        counts = gpu_model(values).gpu_counts(cloud)
        if values.given("gpus_per_node") and values["gpus_per_node"] not in counts:
            yield Problem(
                ("gpus_per_node",),
                f"is not a node size for {gpu_model(values).name!r} on {cloud}; "
                f"allowed: {', '.join(str(c) for c in counts)}",
                values["gpus_per_node"],
            )

    def instance_type(values: Values) -> Iterator[Problem]:
        model = gpu_model(values)
        if not values.given("instance_type") or (
            values.given("gpus_per_node") and values["gpus_per_node"] not in model.gpu_counts(cloud)
        ):
            return
        gpus = resolved_gpus_per_node(values, cloud)
        shapes = [o.instance_type for o in model.offers_on(cloud) if o.gpu_count == gpus]
        value = values["instance_type"]
        if value not in shapes:
            yield Problem(
                ("instance_type",),
                f"is not a catalogue shape with {gpus} x {model.name} on {cloud}; "
                f"use {one_of(shapes)}{did_you_mean(value, shapes)}",
                value,
            )

    return (Rule(("gpu", "gpus_per_node"), node_size), Rule(("gpu", "gpus_per_node", "instance_type"), instance_type))


def gpu_pool_spec(cloud: catalog.Cloud | None) -> Spec:
    """Return the cloud-neutral GPU pool spec on ``cloud``; with None, the checks that need no cloud."""
    on = CLOUD_NAMES[cloud]
    args = (
        Arg(
            "gpu",
            GpuKey(cloud),
            "GPU model: a key of the GPU catalogue (``shardstack.catalog.GPUS``), e.g. 'l4' "
            f"or 'h100-80gb' (case-insensitive). It must be offered on {on}.",
            required=True,
        ),
        Arg(
            "gpus_per_node",
            GPUS_PER_NODE,
            f"GPUs per node: one of the counts the catalogue offers for this GPU on {on}.",
            default=DEFAULT_GPUS_PER_NODE,
            default_doc=f"1, or the smallest count offered when {on} has no 1-GPU shape for the GPU",
        ),
        Arg(
            "min_nodes",
            node_count(0),
            "Fewest nodes, ≥ 0; 0 lets the pool scale to zero when no GPU workload is pending.",
            default=DEFAULT_MIN_NODES,
        ),
        Arg(
            "max_nodes",
            node_count(1),
            "Most nodes, ≥ 1 and ≥ min_nodes; the autoscaler adds nodes up to this.",
            default=DEFAULT_MAX_NODES,
        ),
        Arg(
            "spot",
            Flag(),
            "Use spot/preemptible capacity: much cheaper, but the cloud may reclaim a node at any time.",
            default=False,
            default_doc="on-demand capacity",
        ),
        Arg(
            "disk_size_gib",
            Whole(
                MIN_GPU_DISK_SIZE_GIB,
                MAX_VOLUME_GIB,
                why="CUDA images and the model's local copy need the room; 64 TiB is the largest disk",
            ),
            f"Boot/data disk per node, GiB, at least "
            f"{MIN_GPU_DISK_SIZE_GIB} (CUDA images and the weights' local copy). The disk is encrypted.",
            default=DEFAULT_DISK_SIZE_GIB,
        ),
        Arg(
            "labels",
            Labels(lbl.RESERVED_LABEL_PREFIXES, KUBERNETES_LABEL_DOMAINS),
            "Extra Kubernetes labels on "
            "every node of the pool. Keys may not use the prefixes Shardstack sets itself (app.kubernetes.io/, "
            "shardstack.dev/, leaderworkerset.sigs.k8s.io/) nor the kubernetes.io and k8s.io domains.",
            default_doc="none (the pool always sets shardstack.dev/gpu, shardstack.dev/pool and "
            "shardstack.dev/gpu-type)",
        ),
        Arg(
            "taints",
            ListOf(Record(TAINT), unique_by="key"),
            "Taints on every node in addition to the GPU taint "
            "``nvidia.com/gpu=present:NoSchedule``, which is always set. Each key at most once.",
        ),
        Arg(
            "instance_type",
            Text("a catalogue shape name"),
            f"Instance/VM type on {on}, to pick another catalogue "
            "shape with the same GPUs (more vCPUs or memory) than the cheapest one. It must be one of the "
            "catalogue's offers for this GPU and gpus_per_node.",
            default_doc="the cheapest such offer",
        ),
    )
    rules = (NODE_RANGE, *(_catalogue_rules(cloud) if cloud is not None else ()))
    return Spec(
        "GpuPoolArgs", "Arguments every cloud's GPU pool takes, with the same meaning on each cloud.", args, rules
    )


POOL_NAME = Arg(
    "name",
    Text(
        "a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        lambda v: (
            None
            if not names.dns_label_problem("name", v)
            else "is not a valid Kubernetes name: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        ),
    ),
    "Pool name, a DNS-1123 label unique among the pools; nodes are labelled ``shardstack.dev/pool`` with it.",
    required=True,
)
"""The name of a pool in a list of pools (an installation's, the stack config's)."""


def named_pool_spec(pool: Spec, wired: Sequence[str], doc: str) -> Spec:
    """Return the GPU pool an installation takes: a name, then ``pool``'s arguments without those it wires."""
    rest = pool.without(wired, name="NamedGpuPool", doc=doc)
    return replace(rest, args=(POOL_NAME, *rest.args))
