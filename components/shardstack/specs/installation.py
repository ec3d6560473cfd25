"""What every installation takes beside its cloud's parts, declared once: the inference deployment, where its model
is, and the API key. Each installation's spec (``shardstack.<cloud>.specs``, ``shardstack.local.specs``) is its
parts plus :func:`serving_args`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from shardstack.api_access import AUTHORIZED_NETWORKS, PRIVATE_ENDPOINT, PUBLIC_API_NEEDS_NETWORKS
from shardstack.k8s import charts
from shardstack.k8s.autoscaling_specs import AUTOSCALING, WIRED_AUTOSCALING_KEYS
from shardstack.k8s.inference_specs import SHARDED_INFERENCE
from shardstack.k8s.specs import GROUP_AUTOSCALING, PROMETHEUS_STACK
from shardstack.kubernetes_versions import KUBERNETES_VERSION
from shardstack.specs.kinds import Flag, Input, ListOf, Record, Text
from shardstack.specs.problem import Problem
from shardstack.specs.render import ArgsModule
from shardstack.specs.spec import Arg, Rule, Spec, Values
from shardstack.specs.system_pool import SYSTEM_POOL

INSTALLATION_AUTOSCALING = AUTOSCALING.without(
    WIRED_AUTOSCALING_KEYS,
    name="InstallationAutoscaling",
    doc="ShardedInference's ``autoscaling`` as an installation takes it: KEDA's namespace is the installation's "
    "GroupAutoscaling's, and the Prometheus it reads is the installation's own unless ``prometheus_url`` says "
    "otherwise.",
).with_arg(
    "prometheus_url",
    required=False,
    default_doc="the installation's Prometheus (``monitoring.prometheus``); required without it",
)
"""``inference.autoscaling``: what the installation wires left out, and its Prometheus by default."""


def _managed_alone(values: Values) -> Iterator[Problem]:
    if not values["managed_prometheus"]:
        return
    if values["prometheus"] is False:
        yield Problem(
            ("managed_prometheus",),
            "contradicts prometheus False: managed_prometheus says where the metrics go; prometheus False says "
            "nothing watches the installation. Drop one",
            True,
        )
    for key in PROMETHEUS_STACK.names:
        if values.present(key):
            yield Problem(
                (key,),
                "configures the in-cluster Prometheus, which managed_prometheus replaces: drop it",
                values.get(key),
            )


INSTALLATION_MONITORING = Spec(
    "InstallationMonitoring",
    "What watches the installation: an in-cluster Prometheus (PrometheusStack) that every part reports to, or the "
    "cloud's managed Prometheus.",
    (
        Arg(
            "prometheus",
            Flag(),
            "Install PrometheusStack (kube-prometheus-stack) and point everything at it: a PodMonitor and alerts "
            "for the ranks, Grafana with the deployment's dashboard, the DCGM exporter's scrape and GPU alerts "
            "(where the installation runs the exporter), and ``inference.autoscaling``'s Prometheus. It runs on the "
            "cluster's own nodes: no cloud service is billed.",
            default=True,
        ),
        Arg(
            "managed_prometheus",
            Flag(),
            "Send the same metrics, alerts and autoscaling queries to the cloud's managed Prometheus instead of "
            "an in-cluster one: Amazon Managed Service for Prometheus (a workspace, its agentless scraper and rule "
            "groups), Google Cloud Managed Service for Prometheus (GKE's managed collection: PodMonitoring and "
            "Rules) or Azure Monitor managed Prometheus (a workspace, its data collection rule and rule groups). "
            "KEDA queries it as a workload identity of its own, with read access only. Billed by the cloud per "
            "sample; no Grafana is installed (import the dashboard JSON into your managed Grafana). Not on a local "
            "cluster.",
            default=False,
        ),
        *PROMETHEUS_STACK.args,
    ),
    rules=(Rule(("prometheus", "managed_prometheus"), _managed_alone, present=PROMETHEUS_STACK.names),),
)
"""``monitoring``: the in-cluster Prometheus, on by default; the cloud's managed one, opt-in."""

INSTALLATION_INFERENCE = replace(
    SHARDED_INFERENCE.with_arg(
        "model_uri", required=False, default_doc="the weight store's URI plus ``model_path``, then read by the ranks"
    ).with_arg("autoscaling", kind=Record(INSTALLATION_AUTOSCALING)),
    name="InstallationInference",
    doc="ShardedInference's arguments (see ShardedInference) as an installation takes them: ``model_uri`` may be "
    "left to the installation, which points it at ``model_path`` in its weight store.",
)
"""ShardedInference as an installation takes it (an installation requires ``model_uri`` or ``model_path``)."""


def serving_args(inference_doc: str) -> tuple[Arg, ...]:
    """Return ``inference``, ``model_path`` and ``api_key``, with what the installation does with the inference
    (``inference_doc``: which store it reads, through which identity)."""
    return (
        Arg("inference", Record(INSTALLATION_INFERENCE), inference_doc, required=True),
        Arg(
            "model_path",
            Text("a path inside the weight store, e.g. 'llama-3.1-8b/'"),
            "Path of the checkpoint inside the weight store, e.g. 'llama-3.1-8b/'; used when ``inference`` has no "
            "``model_uri``.",
            default_doc="none",
        ),
        Arg(
            "api_key",
            Input(Text("an API key")),
            "An API key clients must send (wrap it with ``pulumi.Output.secret``); stored in a Secret in the "
            "inference namespace. Or give ``inference.api_key_secret`` for a Secret you manage.",
            default_doc="none",
        ),
        Arg(
            "group_autoscaling",
            Record(GROUP_AUTOSCALING),
            "What ``inference.autoscaling`` needs in the cluster (see GroupAutoscaling), installed with it; e.g. "
            "``{'keda': False, 'http_add_on': False}`` where the cluster already runs KEDA. The installation sets "
            "``inference.autoscaling.keda_namespace`` from it.",
            default_doc="the LeaderWorkerSet controller, KEDA and its HTTP add-on, when ``inference.autoscaling`` is "
            "given",
        ),
        Arg(
            "monitoring",
            Record(INSTALLATION_MONITORING),
            "The in-cluster Prometheus (see PrometheusStack) and what reports to it.",
            default_doc=f"kube-prometheus-stack in namespace {charts.KUBE_PROMETHEUS_STACK.namespace!r}, with Grafana",
        ),
    )


def gpu_pools_arg(named_pool: Spec, wired: str) -> Arg:
    """Return ``gpu_pools``: at least one ``named_pool``, each named once, without what the installation ``wired``
    ('the cluster, node role and subnets')."""
    return Arg(
        "gpu_pools",
        ListOf(Record(named_pool), min_items=1, unique_by="name"),
        f"At least one GPU pool (see GpuNodePool), without {wired}.",
        required=True,
    )


def cloud_inference_doc(store: str, identity: str) -> str:
    """Return the doc of a cloud installation's ``inference``: the ranks read the new ``store`` through
    ``identity``."""
    return (
        f"The deployment (see ShardedInference). ``model_uri`` defaults to the {store}'s URI plus ``model_path`` (and "
        f"then ``wait_until_ready`` to False: the weights go into the new {store} after ``pulumi up``); the service "
        f"account gets read access to the {store} through {identity}."
    )


def create_registry_arg(registry: str) -> Arg:
    """Return ``create_registry``: whether the installation creates its ``registry`` (an ECR repository ...)."""
    return Arg("create_registry", Flag(), f"Create the {registry}.", default=True)


SERVING = Spec(
    "InstallationServing",
    "The arguments of every installation that say what it serves: the deployment, its model and the API key.",
    serving_args("The deployment (see ShardedInference)."),
)
"""What the stack config gives every installation alike for serving (each installation words its own docs)."""

CLUSTER_ACCESS = Spec(
    "ClusterAccess",
    "The cluster arguments every cloud's installation takes alike: version, API access and the system pool.",
    (
        KUBERNETES_VERSION,
        PRIVATE_ENDPOINT,
        AUTHORIZED_NETWORKS,
        Arg(
            "system_pool",
            Record(SYSTEM_POOL),
            "The CPU nodes that run cluster services.",
            default_doc="the cloud's",
        ),
    ),
    rules=(PUBLIC_API_NEEDS_NETWORKS,),
)
"""What the stack config gives every cloud's cluster alike."""

ARGS = ArgsModule(
    "shardstack.installation_args",
    "The arguments every installation shares: the inference deployment as an installation takes it, what it serves, "
    "and the cluster arguments every cloud takes alike.",
    __name__,
    (INSTALLATION_AUTOSCALING, INSTALLATION_MONITORING, INSTALLATION_INFERENCE, SERVING, CLUSTER_ACCESS),
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
