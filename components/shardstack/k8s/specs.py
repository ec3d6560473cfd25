"""The Kubernetes components' arguments, declared once (see :mod:`shardstack.specs`): GpuEnablement and
LocalWeightsStore here, ShardedInference (with tolerations and Secret references) in
:mod:`shardstack.k8s.inference_specs`.

``shardstack/k8s/args.py`` is generated from these specs (``scripts/generate_specs.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shardstack.bucket_names import S3_BUCKET_NAME
from shardstack.k8s import charts
from shardstack.k8s import labels as lbl
from shardstack.k8s.autoscaling_specs import AUTOSCALING
from shardstack.k8s.inference_specs import (
    INFERENCE_NAMESPACE,
    SECRET_KEY_REF,
    SHARDED_INFERENCE,
    TAINT_EFFECTS,
    TOLERATION,
    TOLERATION_OPERATORS,
    TOLERATIONS,
    WEIGHTS_CACHE,
)
from shardstack.k8s.kinds import (
    IMAGE,
    KUBERNETES_NAME,
    LABEL_VALUE,
    NAMESPACE,
    OBJECT_NAME,
)
from shardstack.k8s.monitoring_specs import GPU_PROMETHEUS, MONITORING_CIDRS, PROMETHEUS
from shardstack.limits import VOLUME_GIB
from shardstack.specs.kinds import GUID_PATTERN, Flag, Input, Labels, ListOf, Record, Text, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.render import ArgsModule
from shardstack.specs.spec import Arg, Rule, Spec, Values

__all__ = [
    "ARGS",
    "DCGM_EXPORTER_IMAGE",
    "DEFAULT_BUCKET",
    "DEFAULT_GPU_NODE_SELECTOR",
    "DEFAULT_REGION",
    "DEFAULT_STORAGE_GIB",
    "DEVICE_PLUGIN_IMAGE",
    "GPU_ENABLEMENT",
    "GPU_ENABLEMENT_NAMESPACE",
    "GROUP_AUTOSCALING",
    "INFERENCE_NAMESPACE",
    "LOCAL_WEIGHTS_STORE",
    "PROMETHEUS_STACK",
    "SEAWEEDFS_IMAGE",
    "SECRET_KEY_REF",
    "SHARDED_INFERENCE",
    "TAINT_EFFECTS",
    "TOLERATION",
    "TOLERATION_OPERATORS",
    "WEIGHTS_CACHE",
]

# --- GpuEnablement -------------------------------------------------------------------------------------

DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
"""Latest 0.17 patch release; 0.18 moved to CDI by default, which needs matching node runtime setup."""
DCGM_EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:4.4.2-4.7.1-ubuntu22.04"
"""DCGM 4.4.2 with exporter 4.7.1, the current pairing NVIDIA publishes for datacenter GPUs."""
GPU_ENABLEMENT_NAMESPACE = "shardstack-gpu"
DEFAULT_GPU_NODE_SELECTOR = {lbl.GPU_NODE_LABEL: lbl.GPU_NODE_LABEL_VALUE}


def _dcgm_scraped(values: Values) -> Iterator[Problem]:
    if values.get("prometheus") is None:
        return
    if values["dcgm_exporter"] is not True:
        yield Problem(("prometheus",), "needs dcgm_exporter True: it scrapes the DCGM exporter")
    if values.get("monitoring_namespace_selector") is None:
        yield Problem(
            ("prometheus",),
            "needs monitoring_namespace_selector, the labels of Prometheus's namespace, which the exporter's "
            "NetworkPolicy admits, e.g. {'kubernetes.io/metadata.name': 'monitoring'}",
        )


def _something_to_create(values: Values) -> Iterator[Problem]:
    if values["device_plugin"] is False and values["dcgm_exporter"] is False:
        yield Problem(
            ("device_plugin",),
            "and dcgm_exporter=False leave nothing to create: enable one or do not create a GpuEnablement",
            False,
        )


def _gpu_nodes_selected(values: Values) -> Iterator[Problem]:
    if values.given("gpu_node_selector") and not values["gpu_node_selector"]:
        yield Problem(("gpu_node_selector",), "would run the GPU add-ons on every node: give the GPU nodes' labels", {})


GPU_ENABLEMENT = Spec(
    "GpuEnablementArgs",
    "Arguments of GpuEnablement.",
    (
        Arg(
            "device_plugin",
            Flag(),
            "Run the NVIDIA device plugin, which advertises ``nvidia.com/gpu`` on each GPU "
            "node. Turn off where the cloud installs it (GKE).",
            default=True,
        ),
        Arg(
            "dcgm_exporter",
            Flag(),
            "Run NVIDIA's DCGM exporter (GPU utilisation, memory, temperature, XID errors "
            "as Prometheus metrics) and a Service for it.",
            default=False,
        ),
        Arg("namespace", KUBERNETES_NAME, "Namespace for the add-ons.", default=GPU_ENABLEMENT_NAMESPACE),
        Arg(
            "create_namespace",
            Flag(),
            "Create the namespace (labelled Pod Security 'privileged': the device plugin "
            "mounts a host path). Turn off to use an existing one such as kube-system.",
            default=True,
        ),
        Arg(
            "gpu_node_selector",
            Labels(),
            "Node labels of GPU nodes.",
            default=DEFAULT_GPU_NODE_SELECTOR,
            default_doc='``shardstack.dev/gpu: "true"``, which Shardstack\'s GPU node pools set',
        ),
        Arg(
            "tolerations",
            TOLERATIONS,
            "Tolerations added to the default ones (``nvidia.com/gpu`` and "
            "CriticalAddonsOnly), e.g. a cloud's own GPU taint.",
        ),
        Arg(
            "monitoring_namespace_selector",
            Labels(),
            "Labels of the namespaces allowed to scrape the DCGM exporter.",
            default_doc="no other namespace may",
        ),
        MONITORING_CIDRS,
        Arg(
            "prometheus",
            Record(GPU_PROMETHEUS),
            "Scrape the DCGM exporter and alert on the GPUs through the Prometheus Operator (a PodMonitor and a "
            "PrometheusRule); needs ``dcgm_exporter`` and ``monitoring_namespace_selector``.",
            default_doc="none",
        ),
        Arg(
            "device_plugin_image",
            IMAGE,
            "Device plugin image (pin a digest through this argument if your policy requires one).",
            default=DEVICE_PLUGIN_IMAGE,
        ),
        Arg("dcgm_exporter_image", IMAGE, "DCGM exporter image.", default=DCGM_EXPORTER_IMAGE),
    ),
    rules=(
        Rule(("device_plugin", "dcgm_exporter"), _something_to_create),
        Rule(("gpu_node_selector",), _gpu_nodes_selected),
        Rule(("prometheus", "dcgm_exporter", "monitoring_namespace_selector"), _dcgm_scraped),
    ),
)
"""GpuEnablement's arguments."""

# --- GroupAutoscaling ----------------------------------------------------------------------------------


def _guid(value: str) -> str | None:
    return None if re.fullmatch(GUID_PATTERN, value) else "is not a GUID such as '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b'"


KEDA_IDENTITY_ARGS = ("keda_azure_client_id", "keda_azure_tenant_id")
"""What gives KEDA's operator an Azure Workload Identity, for Azure Monitor managed Prometheus (EKS Pod Identity and
GKE's Workload Identity Federation bind to its service account's name, with nothing in the chart)."""


def _keda_identity(values: Values) -> Iterator[Problem]:
    given = [key for key in KEDA_IDENTITY_ARGS if values.present(key)]
    if given and values["keda"] is False:
        yield Problem(
            (given[0],),
            "is given with keda False: it is an identity for the KEDA this installs; drop it",
            values.get(given[0]),
        )
    if len(given) == 1:
        missing = next(key for key in KEDA_IDENTITY_ARGS if key not in given)
        yield Problem((missing,), f"is required with {given[0]}: Azure Workload Identity needs both")


def _something_to_install(values: Values) -> Iterator[Problem]:
    if not any(values[key] for key in ("leaderworkerset", "keda", "http_add_on")):
        yield Problem(
            ("leaderworkerset",),
            "is False and so are keda and http_add_on: nothing to install; drop the component instead",
            False,
        )


GROUP_AUTOSCALING = Spec(
    "GroupAutoscalingArgs",
    "Arguments of GroupAutoscaling: what ShardedInference's ``autoscaling`` needs in the cluster, each a pinned Helm "
    "release (``shardstack.k8s.charts``); turn off what the cluster already runs.",
    (
        Arg(
            "leaderworkerset",
            Flag(),
            f"Install the LeaderWorkerSet controller ({charts.LEADERWORKERSET.version}), whose scale subresource "
            "scales whole groups.",
            default=True,
        ),
        Arg("keda", Flag(), f"Install KEDA ({charts.KEDA.version}).", default=True),
        Arg(
            "http_add_on",
            Flag(),
            f"Install KEDA's HTTP add-on ({charts.HTTP_ADD_ON.version}), which holds requests while a deployment "
            "scaled to zero wakes (``autoscaling.min_groups`` 0).",
            default=True,
        ),
        Arg(
            "keda_namespace",
            NAMESPACE,
            "Namespace of KEDA and its HTTP add-on (ShardedInference's ``autoscaling.keda_namespace``).",
            default=charts.KEDA.namespace,
        ),
        Arg(
            "leaderworkerset_namespace",
            NAMESPACE,
            "Namespace of the LeaderWorkerSet controller.",
            default=charts.LEADERWORKERSET.namespace,
        ),
        Arg(
            "keda_azure_client_id",
            Input(Text("a client ID (a GUID)", _guid)),
            "The client ID of the managed identity KEDA's operator acts as, through Azure Workload Identity: to query "
            "Azure Monitor managed Prometheus (it needs Monitoring Data Reader on the workspace, and a federated "
            f"credential for the Kubernetes service account {charts.KEDA_OPERATOR_SERVICE_ACCOUNT!r}).",
            default_doc="none",
        ),
        Arg(
            "keda_azure_tenant_id",
            Input(Text("a tenant ID (a GUID)", _guid)),
            "The Entra tenant of ``keda_azure_client_id``.",
            default_doc="none",
        ),
    ),
    rules=(
        Rule(("leaderworkerset", "keda", "http_add_on"), _something_to_install),
        Rule(("keda",), _keda_identity, present=KEDA_IDENTITY_ARGS),
    ),
)
"""GroupAutoscaling's arguments."""

# --- PrometheusStack -----------------------------------------------------------------------------------

PROMETHEUS_STACK = Spec(
    "PrometheusStackArgs",
    "Arguments of PrometheusStack: kube-prometheus-stack as a pinned Helm release (``shardstack.k8s.charts``), set "
    "to pick up every PodMonitor, PrometheusRule and Grafana dashboard ConfigMap of the cluster.",
    (
        Arg(
            "namespace",
            NAMESPACE,
            "Namespace of Prometheus and its companions.",
            default=charts.KUBE_PROMETHEUS_STACK.namespace,
        ),
        Arg(
            "grafana",
            Flag(),
            'Run Grafana, loading the dashboards of ConfigMaps labelled ``grafana_dashboard: "1"`` in every '
            "namespace (its admin password is generated into a Secret in the namespace).",
            default=True,
        ),
        Arg(
            "retention_days",
            Whole(1, 365, why="a year of samples is a long-term store's job, not an in-cluster Prometheus's"),
            "Days of samples Prometheus keeps.",
            default=15,
        ),
    ),
)
"""PrometheusStack's arguments."""

# --- LocalWeightsStore ---------------------------------------------------------------------------------

SEAWEEDFS_IMAGE = "chrislusf/seaweedfs:4.48"
"""A recent weekly release that has ``weed mini`` with ``-bucket`` and ``-s3.config``."""
DEFAULT_BUCKET = "models"
DEFAULT_STORAGE_GIB = 20
"""Room for a few small demo models (SmolLM2-135M is ~0.3 GB in bf16) and one 7B model (~15 GB)."""
DEFAULT_REGION = "us-east-1"
"""SeaweedFS accepts any region; SDKs need one to sign requests."""

_GENERATED_KEY = "a key generated in the program (e.g. with pulumi_random)"

LOCAL_WEIGHTS_STORE = Spec(
    "LocalWeightsStoreArgs",
    "Arguments of LocalWeightsStore.",
    (
        Arg(
            "access_key_id",
            Input(Text(_GENERATED_KEY)),
            "Access key of the store's one identity; generate it in the program (e.g. pulumi_random).",
            required=True,
        ),
        Arg(
            "secret_access_key",
            Input(Text(_GENERATED_KEY)),
            "Secret key of that identity; generate it in the program, keep it a Pulumi secret.",
            required=True,
        ),
        Arg(
            "bucket",
            S3_BUCKET_NAME,
            "Bucket created at start.",
            default=DEFAULT_BUCKET,
        ),
        Arg(
            "namespace",
            NAMESPACE,
            "Namespace of the store; it must exist unless ``create_namespace`` is True.",
            default=INFERENCE_NAMESPACE,
            default_doc="'shardstack', ShardedInference's default namespace",
        ),
        Arg(
            "create_namespace",
            Flag(),
            "Create the namespace, enforcing the 'restricted' Pod Security Standard.",
            default=False,
            default_doc="False: the namespace is usually shared with ShardedInference and created once, by the program",
        ),
        Arg("storage_gib", VOLUME_GIB, "Size of the data volume, in GiB.", default=DEFAULT_STORAGE_GIB),
        Arg(
            "storage_class", OBJECT_NAME, "Storage class of the data volume.", default_doc="the cluster's default class"
        ),
        Arg(
            "client_namespaces",
            ListOf(KUBERNETES_NAME),
            "Namespaces whose inference ranks, and pods labelled "
            '``shardstack.dev/weights-loader: "true"``, may reach the store.',
            default_doc="the store's own namespace",
        ),
        Arg("region", LABEL_VALUE, "Region name clients sign requests with.", default=DEFAULT_REGION),
        Arg("image", IMAGE, "SeaweedFS image.", default=SEAWEEDFS_IMAGE),
    ),
)
"""LocalWeightsStore's arguments."""


ARGS = ArgsModule(
    "shardstack.k8s.args",
    "Kubernetes component arguments.",
    __name__,
    (
        TOLERATION,
        GPU_PROMETHEUS,
        GPU_ENABLEMENT,
        GROUP_AUTOSCALING,
        PROMETHEUS_STACK,
        LOCAL_WEIGHTS_STORE,
        SECRET_KEY_REF,
        WEIGHTS_CACHE,
        AUTOSCALING,
        PROMETHEUS,
        SHARDED_INFERENCE,
    ),
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
