"""The arguments of ShardedInference, declared once (see :mod:`shardstack.specs`), with the pod toleration
and Secret reference it takes (GpuEnablement's add-ons take the same tolerations).

Generated into ``shardstack/k8s/args.py`` with the other Kubernetes specs (:mod:`shardstack.k8s.specs`).
"""

from __future__ import annotations

from collections.abc import Iterator

from shardstack.cidr import CIDR_BLOCK
from shardstack.errors import one_of
from shardstack.k8s import labels as lbl
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.autoscaling_specs import AUTOSCALING
from shardstack.k8s.kinds import (
    ENV_NAME,
    IMAGE,
    KUBERNETES_NAME,
    NAMESPACE,
    OBJECT_NAME,
    QUALIFIED_NAME,
    QUANTITY,
    SECRET_KEY,
    AnyText,
    MapOf,
    OrEmpty,
)
from shardstack.k8s.monitoring_specs import MONITORING_CIDRS, PROMETHEUS
from shardstack.limits import GPUS_PER_SHARD, REPLICA_GROUPS, SHARDS, SHM_GIB, VOLUME_GIB
from shardstack.model_uri import unsafe_uri_reason
from shardstack.specs.gpu_pool import TAINT_EFFECTS
from shardstack.specs.kinds import Choice, Flag, Input, Labels, ListOf, Record, Text, Whole
from shardstack.specs.problem import Key, Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

# --- Tolerations ---------------------------------------------------------------------------------------

TOLERATION_OPERATORS = ("Exists", "Equal")


def _toleration_shape(values: Values) -> Iterator[Problem]:
    operator = values["operator"]
    if operator == "Exists" and values.get("value"):
        yield Problem(
            ("value",), "is given with operator 'Exists', which matches every value: drop the value", values["value"]
        )
    if not values.get("key") and operator != "Exists":
        yield Problem(("key",), "is missing: a toleration without a key needs operator 'Exists'")


TOLERATION = Spec(
    "Toleration",
    "A toleration on pods, as Kubernetes spells it.",
    (
        Arg(
            "key",
            OrEmpty(QUALIFIED_NAME),
            "Taint key; empty with operator 'Exists' tolerates every taint.",
            default_doc="'' (with operator 'Exists' only)",
        ),
        Arg("operator", Choice(TOLERATION_OPERATORS), "How the value is matched.", default="Equal"),
        Arg("value", AnyText(), "Taint value, for operator 'Equal'.", default_doc="''"),
        Arg(
            "effect",
            OrEmpty(Choice(TAINT_EFFECTS)),
            "Effect of the taints tolerated; empty matches every effect.",
            default_doc="'' (every effect)",
        ),
    ),
    rules=(Rule(("key", "operator", "value"), _toleration_shape),),
)
"""A toleration, which GpuEnablement and ShardedInference take."""

TOLERATIONS = ListOf(Record(TOLERATION))
"""A list of tolerations, as every pod-running component takes it."""

INFERENCE_NAMESPACE = "shardstack"
"""ShardedInference's default namespace; the local weights store shares it, so ranks can read its Secret."""

# --- ShardedInference ----------------------------------------------------------------------------------

MODE_STATEFULSET = "statefulset"
MODE_LEADERWORKERSET = "leaderworkerset"
MODES = (MODE_STATEFULSET, MODE_LEADERWORKERSET)

DEFAULT_REPLICA_GROUPS = 1
DEFAULT_GPUS_PER_SHARD = 1
DEFAULT_GPU_RESOURCE_NAME = "nvidia.com/gpu"
DEFAULT_CPU = "4"
"""Tokenisation, HTTP and the torch.distributed progress threads; GPU work needs little CPU."""
DEFAULT_MEMORY = "16Gi"
"""Host memory for the shard's bytes on their way to the GPU plus /dev/shm (which counts against it)."""
DEFAULT_SHM_SIZE_GIB = 1
DEFAULT_WEIGHTS_CACHE_GIB = 20
"""One shard of a 70B-parameter bf16 model split eight ways is about 17.5 GB."""

SECRET_KEY_REF = Spec(
    "SecretKeyRef",
    "One key of a Kubernetes Secret that already exists in the inference namespace.",
    (
        Arg("name", OBJECT_NAME, "Name of the Secret.", required=True),
        Arg("key", SECRET_KEY, "Key inside the Secret.", required=True),
    ),
)

WEIGHTS_CACHE = Spec(
    "WeightsCache",
    "Where each rank keeps the weight bytes it downloaded.",
    (
        Arg("size_gib", VOLUME_GIB, "Size of each rank's cache, in GiB.", required=True),
        Arg(
            "storage_class",
            OBJECT_NAME,
            "When set, each rank gets a PersistentVolumeClaim of this storage class, so its cache survives pod "
            "restarts (deleted with the StatefulSet).",
            default_doc="an emptyDir limited to ``size_gib``",
        ),
    ),
)

# Below 1024 a process without capabilities (all are dropped) cannot bind.
_PORT = Whole(1024, 65535, why="ports below 1024 need privileges the pods do not have")
_PORTS = ("api_port", "rendezvous_port", "metrics_port")
_VALUES = Input(AnyText())
_ANNOTATIONS = MapOf(QUALIFIED_NAME, _VALUES, "annotation keys to values")


def _model_uri_reason(value: str) -> str | None:
    if not value.startswith(rc.MODEL_URI_SCHEMES):
        return f"must start with {one_of(rc.MODEL_URI_SCHEMES)}"
    return unsafe_uri_reason(value)


def _distinct_ports(values: Values) -> Iterator[Problem]:
    first: dict[int, str] = {}
    for port in _PORTS:
        if values[port] in first:
            yield Problem((port,), f"is the same as {first[values[port]]}: each port must be different", values[port])
        first.setdefault(values[port], port)


def _exposure(values: Values) -> Iterator[Problem]:
    cidrs = values.get("allowed_cidrs")
    if values["public"] is True and not cidrs:
        yield Problem(
            ("public",),
            "needs allowed_cidrs, the client CIDR blocks allowed to reach the API (e.g. ['203.0.113.0/24']); "
            "the API is never opened to every address by default",
            True,
        )
    if cidrs and values["public"] is not True:
        yield Problem(
            ("allowed_cidrs",), "only applies to a public API: set public=True or drop allowed_cidrs", list(cidrs)
        )


def _autoscaling_shape(values: Values) -> Iterator[Problem]:
    autoscaling = values.get("autoscaling")
    if autoscaling is None:
        return
    if values["mode"] != MODE_LEADERWORKERSET:
        yield Problem(
            ("autoscaling",),
            f"needs mode {MODE_LEADERWORKERSET!r} (got {values['mode']!r}): a group is scaled as a unit through its "
            "LeaderWorkerSet's scale subresource, while in statefulset mode each group is its own StatefulSet",
        )
    if values.given("replica_groups"):
        yield Problem(
            ("replica_groups",),
            "is given with autoscaling, which sets the number of groups between min_groups and max_groups: drop it",
            values["replica_groups"],
        )
    if autoscaling.get("min_groups") == 0 and values["public"] is True:
        yield Problem(
            ("autoscaling", "min_groups"),
            "is 0 with public True: the requests that wake a group are held by KEDA's HTTP interceptor inside the "
            "cluster, which a LoadBalancer in front of the leaders would bypass; keep the API private (route your "
            "ingress to the endpoint output) or set min_groups ≥ 1",
            0,
        )


def _scraped(values: Values) -> Iterator[Problem]:
    if values.get("prometheus") is not None and values.get("monitoring_namespace_selector") is None:
        yield Problem(
            ("prometheus",),
            "needs monitoring_namespace_selector, the labels of Prometheus's namespace: the ranks' NetworkPolicy "
            "admits only those namespaces to the metrics port, e.g. {'kubernetes.io/metadata.name': 'monitoring'}",
        )


def _env_once(values: Values) -> Iterator[Problem]:
    plain = values.get("env") or {}
    for env_name in values.get("env_from_secrets") or {}:
        if env_name in plain:
            yield Problem(("env_from_secrets", Key(env_name)), "is already set by env: set each variable once")


SHARDED_INFERENCE = Spec(
    "ShardedInferenceArgs",
    "Arguments of ShardedInference: one model, ``shards`` ranks per copy, ``replica_groups`` copies.",
    (
        Arg(
            "image",
            Input(IMAGE),
            "Runtime image reference, e.g. ``ghcr.io/org/shardstack-runtime:0.1.0`` (pin a tag or digest).",
            required=True,
        ),
        Arg(
            "model_uri",
            Input(Text(f"a URI starting with {one_of(rc.MODEL_URI_SCHEMES)}", _model_uri_reason)),
            "Where the weights are: an ``s3://``, ``gs://``, ``az://``, ``file://`` or ``https://`` URI.",
            required=True,
        ),
        Arg("shards", SHARDS, "Ranks (pods) per replica group, each holding a slice of the layers.", required=True),
        Arg(
            "replica_groups",
            REPLICA_GROUPS,
            "Copies of the model, each a group of ``shards`` pods.",
            default=DEFAULT_REPLICA_GROUPS,
        ),
        Arg("dtype", Choice(rc.DTYPES), "Compute dtype.", default=rc.DEFAULT_DTYPE),
        Arg(
            "gpus_per_shard",
            GPUS_PER_SHARD,
            "GPUs each rank requests; 0 runs on CPU without GPU requests or GPU tolerations.",
            default=DEFAULT_GPUS_PER_SHARD,
        ),
        Arg("gpu_resource_name", QUALIFIED_NAME, "Extended resource name of a GPU.", default=DEFAULT_GPU_RESOURCE_NAME),
        Arg(
            "node_selector",
            Labels(),
            "Node labels the ranks must run on.",
            default_doc='``shardstack.dev/gpu: "true"`` when ``gpus_per_shard`` > 0, none on CPU',
        ),
        Arg("namespace", NAMESPACE, "Namespace for every object.", default=INFERENCE_NAMESPACE),
        Arg(
            "create_namespace",
            Flag(),
            "Create the namespace, labelled to enforce the 'restricted' Pod Security Standard.",
            default=True,
        ),
        Arg(
            "service_account_annotations",
            Input(_ANNOTATIONS),
            "Annotations on the ranks' service account, e.g. "
            "the cloud identity to assume (``eks.amazonaws.com/role-arn``, ``iam.gke.io/gcp-service-account``, "
            "``azure.workload.identity/client-id``).",
        ),
        Arg(
            "service_account_labels",
            Input(MapOf(QUALIFIED_NAME, _VALUES, "label keys to values")),
            "Extra labels on the service account (``azure.workload.identity/use`` goes on pods, see ``labels``).",
        ),
        Arg(
            "env",
            MapOf(ENV_NAME, _VALUES, "variable names to values"),
            "Extra plain environment variables for every rank. Names starting SHARDSTACK_ or LWS_ are reserved.",
        ),
        Arg(
            "env_from_secrets",
            MapOf(ENV_NAME, Record(SECRET_KEY_REF), "variable names to Secret keys"),
            "Extra environment variables read from existing Secrets in the namespace, by variable name.",
        ),
        Arg(
            "secret_files",
            MapOf(SECRET_KEY, _VALUES, "file names to contents"),
            "Files to write into a Secret "
            "and mount read-only under /var/run/secrets/shardstack/<file name> (e.g. an AWS shared-credentials file "
            "for a local object store).",
        ),
        Arg("cpu", QUANTITY, "CPU each rank requests and is limited to (a Kubernetes quantity).", default=DEFAULT_CPU),
        Arg(
            "memory",
            QUANTITY,
            "Memory each rank requests and is limited to, /dev/shm included.",
            default=DEFAULT_MEMORY,
        ),
        Arg(
            "shm_size_gib",
            SHM_GIB,
            "Size of the memory-backed /dev/shm for NCCL and torch, in GiB.",
            default=DEFAULT_SHM_SIZE_GIB,
        ),
        Arg(
            "weights_cache",
            Record(WEIGHTS_CACHE),
            "Each rank's weights cache.",
            default_doc=f"a {DEFAULT_WEIGHTS_CACHE_GIB} GiB emptyDir",
        ),
        Arg(
            "weights_volume_claim",
            OBJECT_NAME,
            "An existing PersistentVolumeClaim in the namespace that holds "
            "checkpoints, mounted read-only at /models in every rank (then ``model_uri`` is "
            "``file:///models/<dir>``): e.g. a host directory of a kind/minikube node, bound through a hostPath "
            "PersistentVolume.",
            default_doc="none, weights come from object storage",
        ),
        Arg("api_port", _PORT, "The leader's HTTP API port.", default=rc.DEFAULT_API_PORT),
        Arg(
            "rendezvous_port",
            _PORT,
            "The leader's torch.distributed rendezvous port.",
            default=rc.DEFAULT_RENDEZVOUS_PORT,
        ),
        Arg("metrics_port", _PORT, "Every rank's /health, /ready and /metrics port.", default=rc.DEFAULT_METRICS_PORT),
        Arg(
            "public",
            Flag(),
            "Expose the API through a LoadBalancer Service reachable from ``allowed_cidrs``.",
            default=False,
            default_doc="False, a ClusterIP Service reachable in-cluster only",
        ),
        Arg(
            "allowed_cidrs",
            ListOf(CIDR_BLOCK),
            "Client CIDR blocks allowed to reach a public API; required when ``public`` is True.",
        ),
        Arg(
            "api_allowed_namespaces",
            ListOf(KUBERNETES_NAME),
            "Other namespaces whose pods may call the API.",
            default_doc="only the inference namespace itself",
        ),
        Arg(
            "monitoring_namespace_selector",
            Labels(),
            "Labels of the namespaces (e.g. Prometheus') allowed to scrape the metrics port.",
            default_doc="no other namespace may",
        ),
        MONITORING_CIDRS,
        Arg(
            "prometheus",
            Record(PROMETHEUS),
            "Scrape every rank and alert on the deployment, through the Prometheus Operator (a PodMonitor and a "
            "PrometheusRule); needs ``monitoring_namespace_selector``.",
            default_doc="none",
        ),
        Arg(
            "grafana_dashboard",
            Flag(),
            "Create a ConfigMap holding the deployment's Grafana dashboard (``shardstack.k8s.dashboard``), labelled "
            '``grafana_dashboard: "1"`` for the Grafana sidecar (kube-prometheus-stack\'s) to load.',
            default=False,
        ),
        Arg(
            "api_key_secret",
            Record(SECRET_KEY_REF),
            "Existing Secret key holding the API bearer token, passed as SHARDSTACK_API_KEY.",
            default_doc="no key",
        ),
        Arg(
            "api_service_annotations",
            _ANNOTATIONS,
            "Annotations on the API Service, e.g. a cloud load balancer's settings.",
        ),
        Arg(
            "mode",
            Choice(MODES),
            "'statefulset' (one StatefulSet + headless Service per group) or "
            "'leaderworkerset' (one LeaderWorkerSet; needs the LWS controller ≥ 0.6 installed).",
            default=MODE_STATEFULSET,
        ),
        Arg(
            "zone_spread",
            Flag(),
            "Keep each group's ranks in one zone (required pod affinity) and spread groups "
            "across zones. Needs nodes labelled topology.kubernetes.io/zone, as every managed cloud does; turn off "
            "on kind/minikube/k3d.",
            default=True,
        ),
        Arg(
            "wait_until_ready",
            Flag(),
            "Let ``pulumi up`` wait until every rank is ready. Turn off when the "
            "weights are pushed after the first ``pulumi up`` (a new bucket): the ranks then restart until the "
            "checkpoint is there, and ``pulumi up`` returns at once instead of timing out.",
            default=True,
        ),
        Arg(
            "autoscaling",
            Record(AUTOSCALING),
            "Add and remove whole replica groups with the load, between min_groups and max_groups "
            "(mode 'leaderworkerset'); ``replica_groups`` is then left out.",
            default_doc="none, ``replica_groups`` groups always",
        ),
        Arg("labels", Labels(reserved_prefixes=lbl.RESERVED_LABEL_PREFIXES), "Extra labels on every object and pod."),
        Arg(
            "tolerations",
            TOLERATIONS,
            "Tolerations for the ranks besides the GPU taint's, e.g. for the taints "
            'of the GPU pools they run on (``{"key": "dedicated", "value": "llm", "effect": '
            '"NoSchedule"}``).',
        ),
    ),
    rules=(
        Rule(_PORTS, _distinct_ports),
        Rule(("public", "allowed_cidrs"), _exposure),
        Rule(("env", "env_from_secrets"), _env_once),
        Rule(("autoscaling", "mode", "replica_groups", "public"), _autoscaling_shape),
        Rule(("prometheus", "monitoring_namespace_selector"), _scraped),
    ),
)
"""ShardedInference's arguments."""
