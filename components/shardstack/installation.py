"""One composition template for every installation, and what the installations share.

An installation is always the same chain: network → cluster (and a Kubernetes provider for it) → GPU pools →
weight store → registry → GPU enablement → read grant for the ranks → ShardedInference → outputs. :func:`install`
runs it; each cloud supplies its own parts through :class:`InstallationParts` (``shardstack.aws``,
``shardstack.gcp``, ``shardstack.azure``), and so does a local cluster (``shardstack.local``), whose network,
pools and registry are empty parts.

``shardstack.aws.AwsInstallation``, ``shardstack.gcp.GcpInstallation`` and ``shardstack.azure.AzureInstallation``
take the same shape of arguments: each part's own arguments (``network``, ``cluster``, ``gpu_pools``,
``weight_store``, ``registry``, ...) minus what the installation wires between the parts, plus ``inference``,
``model_path`` and ``api_key``. :class:`InstallationChecks` reports every problem of such arguments at once, each
prefixed with its part; :func:`deploy_inference` puts ShardedInference (and the Secret holding the API key) on the
new cluster, reading the weights from the new store through the cloud's workload identity.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s import (
    GroupAutoscaling,
    GroupAutoscalingArgs,
    PrometheusStack,
    PrometheusStackArgs,
    SecretKeyRef,
    ShardedInference,
    ShardedInferenceArgs,
    Toleration,
)
from shardstack.k8s import labels as lbl
from shardstack.k8s.args import Autoscaling
from shardstack.k8s.group_autoscaling import validate_group_autoscaling_args
from shardstack.k8s.monitoring import RankPods, gpu_alerts, inference_alerts, rule_spec
from shardstack.k8s.monitoring_specs import PROMETHEUS
from shardstack.k8s.prometheus_stack import prometheus_url
from shardstack.k8s.sharded_inference_args import DEFAULT_NAMESPACE, name_problems
from shardstack.k8s.specs import GROUP_AUTOSCALING, PROMETHEUS_STACK
from shardstack.specs.gpu_pool import named_pool_spec
from shardstack.specs.installation import INSTALLATION_INFERENCE, INSTALLATION_MONITORING
from shardstack.specs.kinds import Kind, ListOf, Record
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import Spec

InstallationArgs = TypeVar("InstallationArgs", bound=Mapping[str, Any])
"""An installation's arguments, as its own TypedDict."""

API_KEY_SECRET_NAME = "shardstack-api-key"
API_KEY_SECRET_KEY = "api-key"
WIRED_INFERENCE_ARGS = ("service_account_annotations",)
"""The cloud's workload identity fills these in; a caller's own would contradict the read grant."""


def part(args: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The arguments of one part (``{}`` when absent or not a mapping: that is reported by the checks)."""
    value = args.get(key)
    return value if isinstance(value, Mapping) else {}


def with_common(part_args: Mapping[str, Any], common: Mapping[str, str], key: str) -> dict[str, Any]:
    """A part's arguments with the installation's tags or labels (``key``) under its own; a part's own wins."""
    if not common:
        return dict(part_args)
    return {**part_args, key: {**common, **dict(part_args.get(key) or {})}}


def pool_tolerations(pools: Sequence[Mapping[str, Any]]) -> list[Toleration]:
    """Tolerations for the taints callers put on the GPU pools: the ranks (and the GPU add-ons) run on every pool."""
    found: list[Toleration] = []
    for pool in pools:
        for taint in pool.get("taints") or []:
            toleration = Toleration(
                key=taint["key"], operator="Equal", value=taint.get("value", ""), effect=taint["effect"]
            )
            if toleration not in found:
                found.append(toleration)
    return found


def with_tolerations(part_args: Mapping[str, Any], tolerations: Sequence[Toleration]) -> dict[str, Any]:
    """A Kubernetes component's arguments with ``tolerations`` added to the caller's own."""
    own = list(part_args.get("tolerations") or [])
    return (
        {**part_args, "tolerations": [*own, *(t for t in tolerations if t not in own)]}
        if tolerations
        else dict(part_args)
    )


def inference_identity(name: str, args: Mapping[str, Any]) -> tuple[str, str]:
    """The namespace and service account of the ranks: ShardedInference names its service account after itself."""
    return str(part(args, "inference").get("namespace", DEFAULT_NAMESPACE)), name


class InstallationChecks:
    """Collects every problem with an installation's arguments, each prefixed with the part it belongs to."""

    def __init__(self, args: Mapping[str, Any], spec: Spec) -> None:
        """Start with the problems of ``args`` as a whole, by the installation's ``spec``: unknown arguments, parts
        that are not mappings, and the plain arguments' own problems. Each part's contents are checked by the
        methods below, by its component's spec."""
        self.args = args
        self.problems = as_arguments(spec.unknown(args))
        for arg in spec.args:
            if arg.name not in args:
                if arg.required and not _is_part(arg.kind):
                    self.problems.append(f"{arg.name} is required: {arg.kind.allowed}")
            elif isinstance(arg.kind, Record):
                if not isinstance(args[arg.name], Mapping):
                    self.problems.append(f"{arg.name} must be a mapping of arguments; got {args[arg.name]!r}")
            elif not _is_part(arg.kind):
                self.problems += as_arguments(arg.kind.problems(args[arg.name], (arg.name,)))

    def wired(self, part_name: str, given: Mapping[str, Any], keys: Sequence[str]) -> None:
        """Refuse the arguments of a part that the installation sets itself."""
        for key in keys:
            if key in given:
                self.problems.append(f"{part_name}.{key} is set by the installation itself; remove it")

    def prefixed(self, part_name: str, found: Sequence[str]) -> None:
        self.problems.extend(f"{part_name}: {problem}" for problem in found)

    def spec_part(
        self,
        part_name: str,
        spec: Spec,
        wired: Sequence[str],
        known: Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
    ) -> None:
        """Check the part ``part_name`` (or ``given``) by its component's ``spec``, under its path.

        The ``wired`` arguments are the installation's to set and are refused here; those it already knows as
        plain values (``known``, e.g. the region) are checked with the part, so that the rules across them still
        run. The other wired arguments' rules are left out: no stand-in values.
        """
        values = dict(part(self.args, part_name) if given is None else given)
        self.wired(part_name, values, wired)
        known = dict(known or {})
        rest = spec.without([w for w in wired if w not in known], name=spec.name, doc=spec.doc)
        found = rest.check({**{k: v for k, v in values.items() if k not in wired}, **known})
        self.prefixed(part_name, as_arguments(found))

    def gpu_pools(self, wired: Sequence[str], pool_spec: Spec, known: Mapping[str, Any] | None = None) -> None:
        """Check ``gpu_pools``: at least one, unique names, each pool by the cloud's ``pool_spec``.

        The ``wired`` arguments are the installation's to set; those it already knows as plain values
        (``known``, e.g. the region) are checked with each pool, so that rules across them still run. The
        others' rules are left out: no stand-in values.
        """
        pools = self.args.get("gpu_pools")
        if not isinstance(pools, Sequence) or isinstance(pools, str) or not pools:
            self.problems.append(
                f"gpu_pools must list at least one GPU pool, e.g. [{{'name': 'l4', 'gpu': 'l4'}}]; got {pools!r}"
            )
            return
        named = named_pool_spec(pool_spec, (), "a pool of an installation")
        seen: dict[str, int] = {}
        for index, pool in enumerate(pools):
            part_name = f"gpu_pools[{index}]"
            if not isinstance(pool, Mapping):
                self.problems.append(f"{part_name} must be a mapping of GpuNodePool arguments; got {pool!r}")
                continue
            pool_name = pool.get("name")
            if isinstance(pool_name, str) and pool_name in seen:
                self.problems.append(
                    f"{part_name}: name {pool_name!r} is already the name of "
                    f"gpu_pools[{seen[pool_name]}]; pool names must be unique"
                )
            elif isinstance(pool_name, str):
                seen[pool_name] = index
            self.spec_part(part_name, named, wired, known, given=pool)

    def inference(self, name: str | None) -> None:
        """Check ``inference``, ``model_path`` and ``api_key`` together; ``model_uri`` may be left to the
        installation, which points it at ``model_path`` in its weight store."""
        if "inference" not in self.args:
            self.problems.append("inference is required: at least {'image': ..., 'shards': N}")
        inference = dict(part(self.args, "inference"))
        if "model_uri" not in inference and not self.args.get("model_path"):
            self.problems.append(
                "inference.model_uri or model_path is required: where the checkpoint is, e.g. "
                "model_path='llama-3.1-8b/' inside the weight store"
            )
        if "api_key" in self.args and "api_key_secret" in inference:
            self.problems.append(
                "api_key and inference.api_key_secret are both given; give one: the key itself "
                "(stored in a Secret) or the Secret that holds it"
            )
        self.spec_part("inference", INSTALLATION_INFERENCE, WIRED_INFERENCE_ARGS, given=inference)
        if name is not None:
            self.prefixed("inference", name_problems(inference, name))
        self.cluster_addons(inference)

    def cluster_addons(self, inference: Mapping[str, Any]) -> None:
        """Check ``group_autoscaling`` (which goes with ``inference.autoscaling`` and sets its KEDA namespace) and
        ``monitoring`` (whose Prometheus autoscaling reads unless it names its own)."""
        autoscaling = inference.get("autoscaling")
        if "group_autoscaling" in self.args and autoscaling is None:
            self.problems.append(
                "group_autoscaling is given without inference.autoscaling: add inference.autoscaling (it installs "
                "what that needs) or drop group_autoscaling"
            )
        self.prefixed("group_autoscaling", validate_group_autoscaling_args(part(self.args, "group_autoscaling")))
        self.spec_part("monitoring", INSTALLATION_MONITORING, ())
        watched = part(self.args, "monitoring").get("prometheus", True) is not False
        if isinstance(autoscaling, Mapping) and "prometheus_url" not in autoscaling and not watched:
            self.problems.append(
                "inference.autoscaling.prometheus_url is required with monitoring.prometheus False: the Prometheus "
                "that scrapes the ranks, e.g. 'http://prometheus-operated.monitoring.svc:9090'"
            )


def _is_part(kind: Kind) -> bool:
    """Whether an installation's argument of ``kind`` is a part (or the parts' list), checked by its own spec."""
    return isinstance(kind, Record) or (isinstance(kind, ListOf) and isinstance(kind.item, Record))


@dataclass
class WeightAccess:
    """How the ranks read the weight store: what their service account and pods carry, and what to wait for."""

    service_account_annotations: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None
    """What ties the service account to the cloud's workload identity; None where no identity reads the store."""
    resources: Sequence[pulumi.Resource] = ()
    """The grant's resources: no rank starts before it can read."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the cloud's workload identity needs on the pods (Azure), beside the caller's own."""
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment the ranks need to reach the store (the in-cluster store's endpoint), beside the caller's own."""
    secret_files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Files mounted from a Secret (the in-cluster store's keys: never in the environment), beside the caller's."""
    weights_volume_claim: str | None = None
    """A claim on a volume holding the weights (a directory on a local node), mounted read-only."""


@dataclass
class Serving:
    inference: ShardedInference
    model_uri: pulumi.Output[str]


def deploy_inference(
    owner: pulumi.Resource | None,
    name: str,
    args: Mapping[str, Any],
    *,
    provider: k8s.Provider,
    model_uri_prefix: pulumi.Input[str],
    access: WeightAccess,
    tolerations: Sequence[Toleration],
    depends_on: Sequence[pulumi.Resource],
    monitoring: "Monitoring | None" = None,
) -> Serving:
    """ShardedInference on the new cluster, reading its checkpoint from the new store (or ``inference.model_uri``).

    ``owner``: the parent of what it creates (None: the top of the stack). ``tolerations``: for the GPU pools'
    taints, so that the ranks can run on every pool. ``monitoring``: what watches the ranks, and what
    ``inference.autoscaling`` queries unless it names its own Prometheus.
    """
    monitoring = monitoring or Monitoring()
    inference_args = ShardedInferenceArgs(**reporting(with_tolerations(args["inference"], tolerations), monitoring))
    autoscaling = inference_args.get("autoscaling")
    if autoscaling is not None:
        managed = monitoring.managed
        # What the groups' scaler needs in the cluster, installed with it: its CRDs exist before the ScaledObject.
        scaling = GroupAutoscaling(
            f"{name}-autoscaling",
            GroupAutoscalingArgs(**{**(managed.keda if managed else {}), **part(args, "group_autoscaling")}),
            opts=pulumi.ResourceOptions(parent=owner, provider=provider, depends_on=list(monitoring.resources)),
        )
        queried: dict[str, Any] = {}
        if monitoring.prometheus_url is not None:
            queried["prometheus_url"] = monitoring.prometheus_url
        if managed is not None and managed.aws_region is not None:
            queried["aws_region"] = managed.aws_region
        inference_args["autoscaling"] = cast(
            Autoscaling, {**queried, **autoscaling, "keda_namespace": scaling_namespace(args)}
        )
        depends_on = [*depends_on, scaling]
    model_uri: pulumi.Input[str] | None = inference_args.get("model_uri")
    if model_uri is None:
        model_uri = pulumi.Output.concat(model_uri_prefix, args.get("model_path", ""))
        # The bucket is new: its weights are pushed after this `pulumi up`, so don't wait for the ranks.
        inference_args.setdefault("wait_until_ready", False)
    inference_args["model_uri"] = model_uri
    if access.service_account_annotations is not None:
        inference_args["service_account_annotations"] = access.service_account_annotations
    if access.pod_labels:
        inference_args["labels"] = {**dict(inference_args.get("labels") or {}), **access.pod_labels}
    if access.env:
        inference_args["env"] = {**dict(inference_args.get("env") or {}), **access.env}
    if access.secret_files:
        inference_args["secret_files"] = {**dict(inference_args.get("secret_files") or {}), **access.secret_files}
    if access.weights_volume_claim is not None:
        inference_args["weights_volume_claim"] = access.weights_volume_claim
    api_key = args.get("api_key")
    if api_key is not None:
        inference_args["api_key_secret"] = SecretKeyRef(name=API_KEY_SECRET_NAME, key=API_KEY_SECRET_KEY)
    inference = ShardedInference(
        name,
        inference_args,
        # The grant first: a rank that starts before it cannot read its weights.
        opts=pulumi.ResourceOptions(parent=owner, provider=provider, depends_on=[*depends_on, *access.resources]),
    )
    if api_key is not None:
        k8s.core.v1.Secret(
            f"{name}-api-key",
            # In the namespace the inference creates; the ranks retry until the Secret is there.
            metadata=k8s.meta.v1.ObjectMetaArgs(name=API_KEY_SECRET_NAME, namespace=inference.namespace),
            string_data={API_KEY_SECRET_KEY: pulumi.Output.secret(api_key)},
            opts=pulumi.ResourceOptions(parent=owner, provider=provider),
        )
    return Serving(inference, pulumi.Output.from_input(model_uri).apply(str))


@dataclass(frozen=True)
class ManagedCollection:
    """How a cloud's managed Prometheus collects, known before anything is made: what :func:`with_monitoring` points
    the ranks and the DCGM exporter at when ``monitoring.managed_prometheus`` is set."""

    scrape_api: str | None
    """The API group of the scrape objects it reads (``prometheus.api``); None: a scraper outside the cluster,
    configured with the installation (Amazon's), reads the pods, and they get no scrape objects."""
    collector_namespace: str | None
    """Namespace of its collector's pods, which the metrics NetworkPolicies admit; None: it scrapes from outside the
    cluster's pods (:attr:`ManagedPrometheus.scraper_cidrs`)."""
    rules_in_cluster: bool
    """Whether it reads alert rules from Kubernetes objects; else the installation makes them cloud resources."""
    keda_identity: str
    """The pod identity provider KEDA's queries are signed with (``autoscaling.prometheus_identity``)."""


@dataclass(frozen=True)
class ManagedPrometheus:
    """What a cloud's managed Prometheus made (:meth:`InstallationParts.managed_prometheus`)."""

    query_url: pulumi.Input[str]
    """Where KEDA queries it (without ``/api/v1/query``)."""
    resources: Sequence[pulumi.Resource]
    """What must exist before anything reports to it or queries it."""
    keda: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """GroupAutoscaling's ``keda_*`` arguments: the identity KEDA's operator queries as."""
    aws_region: pulumi.Input[str] | None = None
    """The region KEDA signs its queries for (Amazon's)."""
    scraper_cidrs: pulumi.Input[Sequence[str]] | None = None
    """The address blocks its scraper reaches the pods from, when it is no pod of the cluster."""


@dataclass(frozen=True)
class Monitoring:
    """Where the installation's metrics go (:func:`install_monitoring`)."""

    resources: Sequence[pulumi.Resource] = ()
    """What the objects reporting to it wait for."""
    prometheus_url: pulumi.Input[str] | None = None
    """Where ``inference.autoscaling`` queries, unless it names its own; None when nothing watches."""
    managed: ManagedPrometheus | None = None
    collection: ManagedCollection | None = None
    """How the managed Prometheus collects, when ``managed``."""


def watched_by_managed(args: Mapping[str, Any]) -> bool:
    """Whether ``monitoring.managed_prometheus`` sends the installation's metrics to the cloud's managed Prometheus:
    what a cloud's cluster must then run (GKE's managed collection, AKS's metrics add-on)."""
    return bool(INSTALLATION_MONITORING.resolved(part(args, "monitoring"))["managed_prometheus"])


def with_monitoring(
    args: InstallationArgs, *, dcgm: bool, collection: ManagedCollection | None = None
) -> InstallationArgs:
    """``args`` with what watches the installation filled in where the caller left it: the ranks' scrape, alerts and
    dashboard and, where the installation runs the DCGM exporter (``dcgm``, or the caller's
    ``gpu_enablement.dcgm_exporter``), its scrape and alerts. They report to the in-cluster Prometheus
    (``monitoring.prometheus``) or, with ``monitoring.managed_prometheus``, to the cloud's, as its ``collection``
    reads them (required then)."""
    monitoring = INSTALLATION_MONITORING.resolved(part(args, "monitoring"))
    if not monitoring["prometheus"]:
        return args
    scrape: dict[str, Any] = {}
    selector: dict[str, str] | None = {lbl.NAMESPACE_NAME: monitoring["namespace"]}
    dashboard = monitoring["grafana"]
    if monitoring["managed_prometheus"]:
        if collection is None:
            raise ValueError("with_monitoring: managed_prometheus needs the cloud's collection")
        if collection.scrape_api is not None:
            scrape = {"api": collection.scrape_api}
        ns = collection.collector_namespace
        selector = {lbl.NAMESPACE_NAME: ns} if ns is not None else None
        dashboard = False  # no Grafana in the cluster to load it
    reported = {"monitoring_namespace_selector": selector} if selector is not None else {}
    inference = {"prometheus": {}, **reported, "grafana_dashboard": dashboard, **part(args, "inference")}
    inference["prometheus"] = {**scrape, **inference["prometheus"]}
    if (
        monitoring["managed_prometheus"]
        and collection is not None
        and isinstance(inference.get("autoscaling"), Mapping)
    ):
        inference["autoscaling"] = {"prometheus_identity": collection.keda_identity, **inference["autoscaling"]}
    watched = {**args, "inference": inference}
    enablement = part(args, "gpu_enablement")
    if dcgm or enablement.get("dcgm_exporter"):
        gpus = {"dcgm_exporter": True, "prometheus": {}, **reported, **enablement}
        gpus["prometheus"] = {**scrape, **gpus["prometheus"]}
        watched["gpu_enablement"] = gpus
    return cast(InstallationArgs, watched)


def reporting(part_args: Mapping[str, Any], monitoring: Monitoring) -> dict[str, Any]:
    """A part's arguments (the inference's, GpuEnablement's) as they report to ``monitoring``. A managed Prometheus
    that takes its alert rules as cloud resources gets no rule objects (the part's alert settings became those
    rules), one whose scraper is no pod of the cluster (Amazon's) no scrape objects either, and its scraper's
    addresses may reach the metrics ports."""
    managed, collection = monitoring.managed, monitoring.collection
    if managed is None or collection is None or collection.rules_in_cluster:
        return dict(part_args)
    reported = {k: v for k, v in part_args.items() if k != "prometheus"}
    if collection.scrape_api is not None and "prometheus" in part_args:
        reported["prometheus"] = {**part_args["prometheus"], "alerts": False}
    if managed.scraper_cidrs is not None:
        reported = {"monitoring_cidrs": managed.scraper_cidrs, **reported}
    return reported


def alert_rule_groups(name: str, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The installation's alert rules as Prometheus rule groups, for a managed Prometheus that takes them as cloud
    resources: the ranks' (by ``inference.prometheus``) and, where the DCGM exporter is scraped, the GPUs'."""
    inference = INSTALLATION_INFERENCE.resolved(part(args, "inference"))
    scrape = PROMETHEUS.resolved(part(inference, "prometheus"))
    groups = []
    if scrape["alerts"] is not False:
        alerts = inference_alerts(
            RankPods(inference["namespace"], name, inference["mode"]),
            shards=inference["shards"],
            ttft_p99_slo_s=scrape["ttft_p99_slo_s"],
            rank_not_ready_min=scrape["rank_not_ready_min"],
            queue_growing_min=scrape["queue_growing_min"],
        )
        groups += rule_spec(f"shardstack-{name}", alerts)["groups"]
    enablement = part(args, "gpu_enablement")
    if enablement.get("dcgm_exporter") and part(enablement, "prometheus").get("alerts", True) is not False:
        groups += rule_spec(f"shardstack-{name}-gpus", gpu_alerts())["groups"]
    return groups


def install_monitoring(
    owner: pulumi.Resource | None,
    name: str,
    args: Mapping[str, Any],
    target: "KubernetesTarget",
    parts: "InstallationParts",
) -> Monitoring:
    """What watches the installation: its in-cluster Prometheus (``monitoring.prometheus``) or, with
    ``monitoring.managed_prometheus``, the cloud's (made by ``parts``, with the alert rules it takes as cloud
    resources); nothing without either."""
    monitoring = INSTALLATION_MONITORING.resolved(part(args, "monitoring"))
    if not monitoring["prometheus"]:
        return Monitoring()
    if monitoring["managed_prometheus"]:
        collection = parts.collection
        assert collection is not None, "the installation's checks refuse managed_prometheus without a collection"
        rules = [] if collection.rules_in_cluster else alert_rule_groups(name, args)
        managed = parts.managed_prometheus(rules)
        return Monitoring(managed.resources, managed.query_url, managed, collection)
    stack_args = {key: monitoring[key] for key in PROMETHEUS_STACK.names}
    stack = PrometheusStack(
        f"{name}-monitoring",
        PrometheusStackArgs(**stack_args),
        opts=pulumi.ResourceOptions(parent=owner, provider=target.provider, depends_on=list(target.ready)),
    )
    return Monitoring([stack], prometheus_url(monitoring["namespace"]))


def scaling_namespace(args: Mapping[str, Any]) -> str:
    """KEDA's namespace: where the installation's GroupAutoscaling puts it."""
    return str(GROUP_AUTOSCALING.resolved(part(args, "group_autoscaling"))["keda_namespace"])


def autoscaling_keda_namespace(args: Mapping[str, Any]) -> str | None:
    """KEDA's namespace when the installation autoscales (and so installs KEDA, whose operator queries Prometheus);
    None when it does not."""
    return scaling_namespace(args) if "autoscaling" in part(args, "inference") else None


class PricedPool(Protocol):
    hourly_usd_min: float
    hourly_usd_max: float


def hourly_usd(pools: Sequence[PricedPool], *, at_max: bool) -> float:
    """List price of every pool at its minimum (or maximum) size, $/hour, to the cent."""
    return round(float(sum(p.hourly_usd_max if at_max else p.hourly_usd_min for p in pools)), 2)


def register_outputs(owner: pulumi.ComponentResource, outputs: Mapping[str, Any]) -> None:
    """Set ``outputs`` as the component's attributes (each class declares them, for its schema) and register them."""
    for key, value in outputs.items():
        setattr(owner, key, value)
    owner.register_outputs(dict(outputs))


# --- The template ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KubernetesTarget:
    """The cluster the installation deploys to: its Kubernetes provider, and what must exist before the ranks."""

    provider: k8s.Provider
    ready: Sequence[pulumi.Resource] = ()
    """Objects the installation made in the cluster for the inference (a local cluster's namespace)."""


@dataclass(frozen=True)
class GpuPools:
    """The GPU pools an installation made: what the ranks wait for, and what they cost."""

    resources: Sequence[pulumi.Resource]
    """The pool components: no rank is scheduled before there is a pool to scale up."""
    priced: Sequence[PricedPool]
    """The same pools, for their list prices (usually the very same objects as ``resources``)."""

    @property
    def hourly_usd_min(self) -> float:
        return hourly_usd(self.priced, at_max=False)

    @property
    def hourly_usd_max(self) -> float:
        return hourly_usd(self.priced, at_max=True)


NO_GPU_POOLS = GpuPools((), ())
"""A CPU-only cluster's pools (a local one): nothing to wait for, nothing to pay per hour."""


class InstallationParts(Protocol):
    """The parts one cloud (or a local cluster) supplies to :func:`install`, one method per part.

    :func:`install` calls each method once, in the order below; a part may use what the earlier ones made
    (the parts object keeps them). A part the cloud has no use for does nothing (a local cluster has no
    network, GPU pools or registry).
    """

    def network(self) -> None:
        """Make the network the cluster runs in."""
        ...

    def cluster(self) -> KubernetesTarget:
        """Make (or reach) the cluster, and return where Kubernetes objects go."""
        ...

    def gpu_pools(self) -> GpuPools:
        """Make the GPU node pools."""
        ...

    def weight_store(self) -> pulumi.Input[str]:
        """Make the weight store; return the URI prefix that ``model_path`` is appended to."""
        ...

    def registry(self) -> None:
        """Make the image registry, if the cloud has one."""
        ...

    def gpu_enablement(self, monitoring: Monitoring) -> Sequence[Toleration]:
        """Make what GPUs need in the cluster (device plugin, autoscaler), its Kubernetes objects after
        ``monitoring``'s resources and reporting to it (:func:`reporting`); return the tolerations the ranks need."""
        ...

    @property
    def collection(self) -> ManagedCollection | None:
        """How the cloud's managed Prometheus collects; None where there is none (a local cluster)."""
        ...

    def managed_prometheus(self, rule_groups: Sequence[Mapping[str, Any]]) -> ManagedPrometheus:
        """Make the cloud's managed Prometheus (``monitoring.managed_prometheus``), with ``rule_groups`` (Prometheus
        rule groups) as its alert rules where it does not read them from the cluster."""
        ...

    def read_grant(self, namespace: str, service_account: str) -> WeightAccess:
        """Let the ranks (``service_account`` in ``namespace``) read the weight store."""
        ...

    def outputs(self, serving: Serving) -> Mapping[str, Any]:
        """Make what goes last (after the inference), and return the outputs only this cloud has."""
        ...


def install(
    parts: InstallationParts, owner: pulumi.Resource | None, name: str, args: Mapping[str, Any]
) -> dict[str, Any]:
    """Run the installation: each part in order, then ShardedInference ``name``; return every output.

    ``owner``: the parent of the inference (None: the top of the stack); ``args``: ``inference``, ``model_path``
    and ``api_key``, as :func:`deploy_inference` takes them. The outputs are the endpoint, the model URI and the
    GPU pools' list prices, then the parts' own.
    """
    parts.network()
    target = parts.cluster()
    pools = parts.gpu_pools()
    model_uri_prefix = parts.weight_store()
    parts.registry()
    monitoring = install_monitoring(owner, name, args, target, parts)
    tolerations = parts.gpu_enablement(monitoring)
    namespace, service_account = inference_identity(name, args)
    access = parts.read_grant(namespace, service_account)
    serving = deploy_inference(
        owner,
        name,
        args,
        provider=target.provider,
        model_uri_prefix=model_uri_prefix,
        access=access,
        tolerations=tolerations,
        depends_on=[*target.ready, *pools.resources, *monitoring.resources],
        monitoring=monitoring,
    )
    return {
        "endpoint": serving.inference.endpoint,
        "model_uri": serving.model_uri,
        "gpu_usd_per_hour_min": pools.hourly_usd_min,
        "gpu_usd_per_hour_max": pools.hourly_usd_max,
        **parts.outputs(serving),
    }
