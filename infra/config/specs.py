"""The stack config's sections, declared once as specs (see :mod:`shardstack.specs`).

A key that a component also takes is that component's argument, taken over with its kind, check and words: the
GPU pool's keys are the pool's own (:mod:`shardstack.specs.gpu_pool`), ``cluster`` is who may reach the
Kubernetes API (:mod:`shardstack.api_access`), ``serving`` is ShardedInference's. Only what exists nowhere else is
declared here: the model to serve, the local cluster's settings, and the keys of one cloud that the stack config
cannot take from that cloud's package without importing it for every stack.

The program's config sections (``infra/config/sections.py``) are generated from these specs by
``scripts/generate_specs.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from shardstack.api_access import AUTHORIZED_NETWORKS, PRIVATE_ENDPOINT, PUBLIC_API_NEEDS_NETWORKS
from shardstack.cidr import admitted_networks
from shardstack.defaults import DEFAULT_IMAGE
from shardstack.k8s.inference_specs import SECRET_KEY_REF, SHARDED_INFERENCE
from shardstack.kubernetes_versions import KUBERNETES_VERSION
from shardstack.limits import SHARDS
from shardstack.local.specs import LOCAL_WEIGHTS as LOCAL_WEIGHTS_OF_THE_INSTALLATION
from shardstack.model_uri import unsafe_uri_reason
from shardstack.specs.gpu_pool import POOL_NAME, gpu_pool_spec
from shardstack.specs.installation import INSTALLATION_AUTOSCALING, INSTALLATION_MONITORING
from shardstack.specs.kinds import Choice, Count, Flag, Kind, ListOf, Record, Text
from shardstack.specs.managed_endpoint import managed_endpoint_spec
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values
from shardstack.specs.system_pool import system_pool_spec

from .defaults import ALL_MODEL_URI_SCHEMES, DEFAULT_API_KEY_SECRET_KEY, DEMO_MODEL_URI

# --- Node pools --------------------------------------------------------------------------------------

ZONES = ListOf(Text("a zone of the stack's region"), min_items=1, unique=True)
"""Zones of the stack's region, each once."""

GPU_POOL = gpu_pool_spec(None).extend(
    "GpuPoolConfig",
    "One entry of ``shardstack:gpu_pools``: an autoscaling pool of identical GPU nodes (clouds only).",
    (
        Arg(
            "zones",
            ZONES,
            "Zones of the region "
            "for this pool's nodes, e.g. the zones that have its GPU: GKE node locations on gcp, availability zones "
            "on azure. Not on aws, where pools use the network's subnets (set shardstack:zones).",
            default=None,
            default_doc="the stack's zones, else every zone the cluster uses",
        ),
        Arg(
            "compact_placement",
            Flag(),
            "Place the nodes close together for fast traffic between shards on "
            "different nodes: a COMPACT placement policy on gcp, which needs exactly one zone in zones and an A2, A3 "
            "or G2 machine (A100, H100, H200, L4). gcp only.",
            default=False,
        ),
    ),
)
# Required, but filled in from gpu when that is a catalogue key (see GpuPoolSection).
GPU_POOL = replace(GPU_POOL, args=(replace(POOL_NAME, doc=f"{POOL_NAME.doc} Default: the gpu key."), *GPU_POOL.args))
"""What each ``shardstack:gpu_pools`` entry takes: its name, the GPU pool every cloud shares, and placement."""

SYSTEM_POOL = replace(
    system_pool_spec(),
    name="SystemPoolConfig",
    doc="``shardstack:system_pool``: the CPU nodes that run cluster services (clouds only).",
)
"""``shardstack:system_pool``: the system pool every cloud's cluster takes, its instance type checked by the cloud."""

# --- The cluster and its network ---------------------------------------------------------------------

DEPLOYER_PRINCIPAL_TYPES = ("User", "ServicePrincipal")

CLUSTER = Spec(
    "ClusterConfig",
    "``shardstack:cluster``: the managed Kubernetes control plane (clouds only).",
    (
        PRIVATE_ENDPOINT,
        AUTHORIZED_NETWORKS,
        Arg(
            "deployer_principal_type",
            Choice(DEPLOYER_PRINCIPAL_TYPES),
            "azure only: what runs `pulumi up`, which gets cluster-admin and weight upload rights: 'User' "
            "(`az login` as a person) or 'ServicePrincipal' (CI; sign the Azure CLI in as it too, for the "
            "kubeconfig's kubelogin). Azure refuses a role assignment of the wrong type.",
            default="User",
        ),
    ),
    rules=(PUBLIC_API_NEEDS_NETWORKS,),
)

NETWORK = Spec(
    "NetworkConfig",
    "``shardstack:network``: the cluster's private network (clouds only).",
    (
        Arg(
            "nat_gateways",
            Choice(("one_per_zone", "single")),
            "Outbound internet for the private nodes: 'one_per_zone' (survives a zone outage) or 'single' "
            "(one NAT gateway for every zone, cheaper; a dev setting). On gcp, Cloud NAT is regional and "
            "survives a zone outage either way.",
            default="one_per_zone",
        ),
    ),
)

WEIGHT_STORE = Spec(
    "WeightStoreConfig",
    "``shardstack:weight_store``: who reaches the weight store from outside the cluster (azure only).",
    (
        Arg(
            "allowed_networks",
            admitted_networks("the weight store"),
            "Public CIDR blocks or addresses the storage account's firewall admits besides the cluster's "
            "subnet, e.g. where you push the weights from: ['203.0.113.0/24']. azure only: S3 and GCS "
            "buckets admit callers by their credentials alone.",
        ),
        Arg(
            "allowed_subnet_ids",
            ListOf(Text("the resource ID of an Azure subnet"), unique=True),
            "Resource IDs of Azure subnets the storage firewall admits besides the cluster's, e.g. a CI runner's "
            "or a VPN gateway's subnet in the same region (IP rules never match callers in the account's own "
            "region); each needs the Microsoft.Storage service endpoint. azure only.",
        ),
    ),
)

# --- The model -----------------------------------------------------------------------------------------


def _model_uri_reason(value: str) -> str | None:
    if value == DEMO_MODEL_URI:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ALL_MODEL_URI_SCHEMES or "://" not in value:
        schemes = ", ".join(f"{s}://" for s in ALL_MODEL_URI_SCHEMES)
        return f"is not a model location; use {DEMO_MODEL_URI!r} or a URI starting {schemes}"
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            return "is not an absolute file URI; write file:///path/to/model"
    elif not parts.netloc:
        what = "host" if parts.scheme.startswith("http") else "bucket"
        return f"has no {what}; write {parts.scheme}://<{what}>/<path>"
    return unsafe_uri_reason(value)


@dataclass(frozen=True)
class AutoOr(Kind):
    """'auto', or a value of kind ``plain`` (which the program otherwise works out)."""

    plain: Kind

    @property
    def annotation(self) -> str:
        return f'Literal["auto"] | {self.plain.annotation}'

    @property
    def allowed(self) -> str:
        return f"'auto' or {self.plain.allowed}"

    def reason(self, value: Any) -> str | None:
        if value == "auto" or self.plain.reason(value) is None:
            return None
        return f"must be {self.allowed}"

    def from_text(self, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if value == "auto" else self.plain.from_text(value)


def _params_for_auto(values: Values) -> Iterator[Problem]:
    if values["shards"] == "auto" and values["uri"] != DEMO_MODEL_URI and values.get("params") is None:
        yield Problem(
            ("params",),
            "is required when shards is 'auto' and uri is not 'demo'; give the parameter count (e.g. 7.0e9) so the "
            "shards can be sized, or set shards",
        )


MODEL = Spec(
    "ModelConfig",
    "``shardstack:model``: the checkpoint to serve and how to split it.",
    (
        Arg(
            "uri",
            Text("'demo' or a model URI like 's3://bucket/models/llama'", _model_uri_reason),
            "Where the safetensors checkpoint is: 'demo' (the small model shipped with the runtime), "
            "s3:// on aws, gs:// on gcp, az:// on azure, s3:// (the in-cluster store) or file:// on "
            "local, or http(s):// anywhere.",
            default=DEMO_MODEL_URI,
        ),
        replace(SHARDED_INFERENCE.arg("dtype"), doc="Weight and compute dtype."),
        Arg(
            "shards",
            AutoOr(SHARDS),
            "Number of pipeline shards (pods) per copy of the model, or 'auto' to size them from params, "
            "dtype and the GPU memory.",
            default="auto",
        ),
        Arg(
            "params",
            Count(),
            "Number of model parameters, e.g. 7.0e9; required when shards is 'auto' (not for demo).",
            default=None,
            default_doc="none",
        ),
        Arg(
            "revision",
            Text("a revision, e.g. a commit or a tag"),
            "Checkpoint revision to load (e.g. a commit or tag).",
            default=None,
            default_doc="the latest",
        ),
    ),
    rules=(Rule(("shards", "uri", "params"), _params_for_auto),),
)

# --- Serving -------------------------------------------------------------------------------------------

API_KEY_SECRET = replace(
    SECRET_KEY_REF.with_arg("key", required=False, default=DEFAULT_API_KEY_SECRET_KEY),
    name="ApiKeySecretRef",
    doc="``shardstack:serving.api_key_secret``: an existing Kubernetes Secret holding the API key.",
)

SERVING_AUTOSCALING = replace(
    INSTALLATION_AUTOSCALING,
    name="AutoscalingConfig",
    doc="``shardstack:serving.autoscaling``: replica groups added and removed with the load (mode "
    "'leaderworkerset'); the installation installs what it needs (the LeaderWorkerSet controller, KEDA and its HTTP "
    "add-on).",
)
"""ShardedInference's ``autoscaling`` as every installation takes it."""

SERVING_KEYS = (
    "replica_groups",
    "public",
    "allowed_cidrs",
    "api_key_secret",
    "image",
    "namespace",
    "mode",
    "autoscaling",
)
"""The serving keys, each ShardedInference's argument of the same name."""

SERVING = (
    SHARDED_INFERENCE.only(
        SERVING_KEYS,
        name="ServingConfig",
        doc="``shardstack:serving``: the inference deployment and its HTTP API.",
    )
    .with_arg("image", required=False, default=DEFAULT_IMAGE)
    .with_arg(
        "api_key_secret",
        kind=Record(API_KEY_SECRET),
        default_doc="none; then shardstack:api_key, if set, is stored in a Secret the program creates",
    )
    .with_arg("autoscaling", kind=Record(SERVING_AUTOSCALING))
)

PLATFORMS = ("kubernetes", "managed")
"""Where the model is served: ShardedInference on the stack's cluster, or the cloud's managed endpoint."""

SERVING = SERVING.extend(
    "ServingConfig",
    SERVING.doc,
    (
        Arg(
            "platform",
            Choice(PLATFORMS),
            "Where the model is served: 'kubernetes' (a cluster with GPU pools, ShardedInference on it) or 'managed' "
            "(the cloud's managed endpoint: SageMaker on aws, Vertex AI on gcp, Azure ML on azure; no cluster; "
            "see shardstack:endpoint). Clouds only for 'managed'.",
            default="kubernetes",
        ),
    ),
)

ENDPOINT_KEYS = ("gpu", "gpus_per_instance", "instance_type", "min_instances", "max_instances", "startup_timeout_s")
"""The endpoint keys, each the managed endpoint components' argument of the same name."""

ENDPOINT = managed_endpoint_spec(None).only(
    ENDPOINT_KEYS,
    name="EndpointConfig",
    doc="``shardstack:endpoint``: the managed endpoint, with serving.platform 'managed' (clouds only).",
)
"""``shardstack:endpoint``: the managed endpoint's shape and scale; its cloud's catalogue judges it in the rules."""

MONITORING = replace(
    INSTALLATION_MONITORING,
    name="MonitoringConfig",
    doc="``shardstack:monitoring``: the Prometheus every part reports to, in the cluster (kube-prometheus-stack) or "
    "the cloud's managed one (kubernetes platform only).",
)
"""``shardstack:monitoring``: every installation's ``monitoring``."""

# --- Local ---------------------------------------------------------------------------------------------

LOCAL_WEIGHTS = replace(
    LOCAL_WEIGHTS_OF_THE_INSTALLATION,
    name="LocalWeightsConfig",
    doc="``shardstack:local.weights``: where a local cluster keeps model weights.",
)

LOCAL = Spec(
    "LocalConfig",
    "``shardstack:local``: settings for cloud 'local', an existing cluster from your kubeconfig.",
    (
        Arg(
            "kube_context",
            Text("a kubeconfig context name"),
            "kubeconfig context to deploy to.",
            default=None,
            default_doc="the current context",
        ),
        Arg(
            "weights",
            Record(LOCAL_WEIGHTS),
            "Where the weights are kept.",
            default={},
            default_doc="the in-cluster S3 store",
        ),
        replace(SHARDED_INFERENCE.arg("cpu"), name="cpu_per_shard", doc="CPU request per shard pod.", default="2"),
        replace(
            SHARDED_INFERENCE.arg("memory"), name="memory_per_shard", doc="Memory request per shard pod.", default="4Gi"
        ),
    ),
)

# --- The keys at the top -------------------------------------------------------------------------------

TOP = Spec(
    "StackConfig",
    "The keys at the top of the ``shardstack:`` namespace; its sections are the specs above.",
    (
        Arg(
            "region",
            Text("a region name, e.g. 'us-east-1', 'us-central1', 'eastus'"),
            "Cloud region, e.g. 'us-east-1', 'us-central1', 'eastus'; required for clouds only.",
            default=None,
            default_doc="none",
        ),
        Arg(
            "zones",
            ZONES,
            "Availability zones of the region to use, unique, e.g. ['us-east-1a', 'us-east-1b'] (Azure: ['1', '2']): "
            "the network's zones on aws; the GPU pools' zones on gcp and azure (unless a pool sets its own), and the "
            "system nodes' on azure.",
            default=None,
            default_doc="chosen by the cloud component",
        ),
        replace(
            KUBERNETES_VERSION,
            doc="Kubernetes MAJOR.MINOR version of the managed cluster, quoted; the cloud picks the patch release. "
            "Clouds only.",
        ),
    ),
)
"""The keys at the top that are plain values; ``cloud`` and ``api_key`` are the config's own types."""
