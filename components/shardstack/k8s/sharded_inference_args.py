"""Arguments of :class:`~shardstack.k8s.ShardedInference`: their types, defaults and plain-value checks."""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict

import pulumi

from shardstack.errors import did_you_mean, one_of
from shardstack.k8s import labels as lbl
from shardstack.k8s import names
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.args import Toleration
from shardstack.k8s.specs import TOLERATION
from shardstack.specs.kinds import ListOf, Record
from shardstack.specs.problem import as_arguments

_TOLERATIONS = ListOf(Record(TOLERATION))

MODE_STATEFULSET = "statefulset"
MODE_LEADERWORKERSET = "leaderworkerset"
MODES = (MODE_STATEFULSET, MODE_LEADERWORKERSET)

DEFAULT_REPLICA_GROUPS = 1
DEFAULT_GPUS_PER_SHARD = 1
DEFAULT_GPU_RESOURCE_NAME = "nvidia.com/gpu"
DEFAULT_NAMESPACE = "shardstack"
DEFAULT_CPU = "4"
"""Tokenisation, HTTP and the torch.distributed progress threads; GPU work needs little CPU."""
DEFAULT_MEMORY = "16Gi"
"""Host memory for the shard's bytes on their way to the GPU plus /dev/shm (which counts against it)."""
DEFAULT_SHM_SIZE_GIB = 1
DEFAULT_WEIGHTS_CACHE_GIB = 20
"""One shard of a 70B-parameter bf16 model split eight ways is about 17.5 GB."""
EPHEMERAL_HEADROOM_GIB = 2
"""Logs, /tmp and the writable layer, on top of an emptyDir weights cache."""
TMP_SIZE_GIB = 1

MAX_OBJECT_NAME_LENGTH = 52
"""StatefulSet (and LeaderWorkerSet) names longer than 52 characters break: the controller-revision-hash
label it adds to pods is ``<name>-<10-char hash>`` and labels hold at most 63 characters."""


class SecretKeyRef(TypedDict):
    """One key of a Kubernetes Secret that already exists in the inference namespace."""

    name: Required[str]
    """Name of the Secret."""
    key: Required[str]
    """Key inside the Secret."""


class WeightsCache(TypedDict, total=False):
    """Where each rank keeps the weight bytes it downloaded."""

    size_gib: Required[int]
    """Size of each rank's cache, in GiB."""
    storage_class: str
    """When set, each rank gets a PersistentVolumeClaim of this storage class, so its cache survives
    pod restarts (deleted with the StatefulSet). Default: an emptyDir limited to ``size_gib``."""


class ShardedInferenceArgs(TypedDict, total=False):
    """Arguments of ShardedInference: one model, ``shards`` ranks per copy, ``replica_groups`` copies."""

    image: Required[pulumi.Input[str]]
    """Runtime image reference, e.g. ``ghcr.io/org/shardstack-runtime:0.1.0`` (pin a tag or digest)."""
    model_uri: Required[pulumi.Input[str]]
    """Where the weights are: an ``s3://``, ``gs://``, ``az://``, ``file://`` or ``https://`` URI."""
    shards: Required[int]
    """Ranks (pods) per replica group, each holding a slice of the layers; at least 1."""
    replica_groups: int
    """Copies of the model, each a group of ``shards`` pods. Default: 1."""
    dtype: str
    """Compute dtype: 'bf16', 'fp16' or 'fp32'. Default: 'bf16'."""
    gpus_per_shard: int
    """GPUs each rank requests; 0 runs on CPU without GPU requests or GPU tolerations. Default: 1."""
    gpu_resource_name: str
    """Extended resource name of a GPU. Default: 'nvidia.com/gpu'."""
    node_selector: Mapping[str, str]
    """Node labels the ranks must run on. Default: ``shardstack.dev/gpu: "true"`` when
    ``gpus_per_shard`` > 0, none on CPU."""
    namespace: str
    """Namespace for every object. Default: 'shardstack'."""
    create_namespace: bool
    """Create the namespace, labelled to enforce the 'restricted' Pod Security Standard. Default: True."""
    service_account_annotations: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    """Annotations on the ranks' service account, e.g. the cloud identity to assume
    (``eks.amazonaws.com/role-arn``, ``iam.gke.io/gcp-service-account``,
    ``azure.workload.identity/client-id``). Default: none."""
    service_account_labels: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    """Extra labels on the service account (``azure.workload.identity/use`` goes on pods, see ``labels``).
    Default: none."""
    env: Mapping[str, pulumi.Input[str]]
    """Extra plain environment variables for every rank. Names starting SHARDSTACK_ or LWS_ are reserved.
    Default: none."""
    env_from_secrets: Mapping[str, SecretKeyRef]
    """Extra environment variables read from existing Secrets in the namespace, by variable name.
    Default: none."""
    secret_files: Mapping[str, pulumi.Input[str]]
    """Files to write into a Secret and mount read-only under /var/run/secrets/shardstack/<file name>
    (e.g. an AWS shared-credentials file for a local object store). Default: none."""
    cpu: str
    """CPU each rank requests and is limited to (a Kubernetes quantity). Default: '4'."""
    memory: str
    """Memory each rank requests and is limited to, /dev/shm included. Default: '16Gi'."""
    shm_size_gib: int
    """Size of the memory-backed /dev/shm for NCCL and torch, in GiB. Default: 1."""
    weights_cache: WeightsCache
    """Each rank's weights cache. Default: a 20 GiB emptyDir."""
    weights_volume_claim: str
    """An existing PersistentVolumeClaim in the namespace that holds checkpoints, mounted read-only at
    /models in every rank (then ``model_uri`` is ``file:///models/<dir>``): e.g. a host directory of a
    kind/minikube node, bound through a hostPath PersistentVolume. Default: none, weights come from
    object storage."""
    api_port: int
    """The leader's HTTP API port. Default: 8000."""
    rendezvous_port: int
    """The leader's torch.distributed rendezvous port. Default: 29500."""
    metrics_port: int
    """Every rank's /health, /ready and /metrics port. Default: 9090."""
    public: bool
    """Expose the API through a LoadBalancer Service reachable from ``allowed_cidrs``. Default: False,
    a ClusterIP Service reachable in-cluster only."""
    allowed_cidrs: Sequence[str]
    """Client CIDR blocks allowed to reach a public API; required when ``public`` is True."""
    api_allowed_namespaces: Sequence[str]
    """Other namespaces whose pods may call the API. Default: only the inference namespace itself."""
    monitoring_namespace_selector: Mapping[str, str]
    """Labels of the namespaces (e.g. Prometheus') allowed to scrape the metrics port.
    Default: no other namespace may."""
    api_key_secret: SecretKeyRef
    """Existing Secret key holding the API bearer token, passed as SHARDSTACK_API_KEY. Default: no key."""
    api_service_annotations: Mapping[str, pulumi.Input[str]]
    """Annotations on the API Service, e.g. a cloud load balancer's settings. Default: none."""
    mode: str
    """'statefulset' (one StatefulSet + headless Service per group) or 'leaderworkerset' (one
    LeaderWorkerSet; needs the LWS controller ≥ 0.6 installed). Default: 'statefulset'."""
    zone_spread: bool
    """Keep each group's ranks in one zone (required pod affinity) and spread groups across zones.
    Needs nodes labelled topology.kubernetes.io/zone, as every managed cloud does; turn off on
    kind/minikube/k3d. Default: True."""
    wait_until_ready: bool
    """Let ``pulumi up`` wait until every rank is ready. Turn off when the weights are pushed after the first
    ``pulumi up`` (a new bucket): the ranks then restart until the checkpoint is there, and ``pulumi up``
    returns at once instead of timing out. Default: True."""
    labels: Mapping[str, str]
    """Extra labels on every object and pod. Default: none."""
    tolerations: Sequence[Toleration]
    """Tolerations for the ranks besides the GPU taint's, e.g. for the taints of the GPU pools they run on
    (``{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}``). Default: none."""


@dataclass(frozen=True)
class ShardedInferenceSettings:
    """ShardedInferenceArgs with every default applied; built only from validated args."""

    image: pulumi.Input[str]
    model_uri: pulumi.Input[str]
    shards: int
    replica_groups: int
    dtype: str
    gpus_per_shard: int
    gpu_resource_name: str
    node_selector: dict[str, str]
    namespace: str
    create_namespace: bool
    service_account_annotations: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None
    service_account_labels: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None
    env: dict[str, pulumi.Input[str]]
    env_from_secrets: dict[str, SecretKeyRef]
    secret_files: dict[str, pulumi.Input[str]]
    cpu: str
    memory: str
    shm_size_gib: int
    weights_cache_gib: int
    weights_cache_storage_class: str | None
    weights_volume_claim: str | None
    api_port: int
    rendezvous_port: int
    metrics_port: int
    public: bool
    allowed_cidrs: list[str]
    api_allowed_namespaces: list[str]
    monitoring_namespace_selector: dict[str, str] | None
    api_key_secret: SecretKeyRef | None
    api_service_annotations: dict[str, pulumi.Input[str]]
    mode: str
    zone_spread: bool
    wait_until_ready: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    tolerations: list[Toleration] = field(default_factory=list)

    @property
    def uses_gpus(self) -> bool:
        return self.gpus_per_shard > 0


def resolve_sharded_inference_args(args: ShardedInferenceArgs) -> ShardedInferenceSettings:
    """Apply the defaults to already validated arguments."""
    gpus = args.get("gpus_per_shard", DEFAULT_GPUS_PER_SHARD)
    default_selector = {lbl.GPU_NODE_LABEL: lbl.GPU_NODE_LABEL_VALUE} if gpus > 0 else {}
    cache = args.get("weights_cache") or WeightsCache(size_gib=DEFAULT_WEIGHTS_CACHE_GIB)
    monitoring = args.get("monitoring_namespace_selector")
    return ShardedInferenceSettings(
        image=args["image"],
        model_uri=args["model_uri"],
        shards=args["shards"],
        replica_groups=args.get("replica_groups", DEFAULT_REPLICA_GROUPS),
        dtype=args.get("dtype", rc.DEFAULT_DTYPE),
        gpus_per_shard=gpus,
        gpu_resource_name=args.get("gpu_resource_name", DEFAULT_GPU_RESOURCE_NAME),
        node_selector=dict(args.get("node_selector", default_selector)),
        namespace=args.get("namespace", DEFAULT_NAMESPACE),
        create_namespace=args.get("create_namespace", True),
        service_account_annotations=args.get("service_account_annotations"),
        service_account_labels=args.get("service_account_labels"),
        env=dict(args.get("env") or {}),
        env_from_secrets=dict(args.get("env_from_secrets") or {}),
        secret_files=dict(args.get("secret_files") or {}),
        cpu=args.get("cpu", DEFAULT_CPU),
        memory=args.get("memory", DEFAULT_MEMORY),
        shm_size_gib=args.get("shm_size_gib", DEFAULT_SHM_SIZE_GIB),
        weights_cache_gib=cache["size_gib"],
        weights_cache_storage_class=cache.get("storage_class"),
        weights_volume_claim=args.get("weights_volume_claim"),
        api_port=args.get("api_port", rc.DEFAULT_API_PORT),
        rendezvous_port=args.get("rendezvous_port", rc.DEFAULT_RENDEZVOUS_PORT),
        metrics_port=args.get("metrics_port", rc.DEFAULT_METRICS_PORT),
        public=args.get("public", False),
        allowed_cidrs=list(args.get("allowed_cidrs") or []),
        api_allowed_namespaces=list(args.get("api_allowed_namespaces") or []),
        monitoring_namespace_selector=dict(monitoring) if monitoring is not None else None,
        api_key_secret=args.get("api_key_secret"),
        api_service_annotations=dict(args.get("api_service_annotations") or {}),
        mode=args.get("mode", MODE_STATEFULSET),
        zone_spread=args.get("zone_spread", True),
        wait_until_ready=args.get("wait_until_ready", True),
        labels=dict(args.get("labels") or {}),
        tolerations=list(args.get("tolerations") or []),
    )


def group_object_name(name: str, mode: str, group: int) -> str:
    """Return the Kubernetes name of a replica group: its StatefulSet, or its LWS leader pod."""
    return f"{name}-g{group}" if mode == MODE_STATEFULSET else f"{name}-{group}"


def validate_sharded_inference_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with ShardedInference arguments (and its resource ``name``), one line each."""
    problems: list[str] = []

    def add(problem: str | None) -> None:
        if problem:
            problems.append(problem)

    for required in ("image", "model_uri", "shards"):
        if required not in args or args[required] is None:
            problems.append(f"{required} is required")
    unknown = sorted(set(args) - set(ShardedInferenceArgs.__annotations__))
    for key in unknown:
        problems.append(f"unknown argument {key!r}{did_you_mean(key, ShardedInferenceArgs.__annotations__)}")

    image = args.get("image")
    if isinstance(image, str) and not image.strip():
        problems.append("image='' is empty: give an image reference such as 'ghcr.io/org/runtime:0.1.0'")
    elif image is not None and not isinstance(image, str | pulumi.Output):
        problems.append(f"image must be a string or an Output of one; got {image!r}")
    model_uri = args.get("model_uri")
    if isinstance(model_uri, str) and not model_uri.startswith(rc.MODEL_URI_SCHEMES):
        problems.append(f"model_uri={model_uri!r} must start with {one_of(rc.MODEL_URI_SCHEMES)}")

    if "shards" in args:
        add(names.int_problem("shards", args["shards"], minimum=1))
    add(names.int_problem("replica_groups", args.get("replica_groups", DEFAULT_REPLICA_GROUPS), minimum=1))
    add(names.int_problem("gpus_per_shard", args.get("gpus_per_shard", DEFAULT_GPUS_PER_SHARD), minimum=0))
    add(names.int_problem("shm_size_gib", args.get("shm_size_gib", DEFAULT_SHM_SIZE_GIB), minimum=1))

    dtype = args.get("dtype", rc.DEFAULT_DTYPE)
    if dtype not in rc.DTYPES:
        problems.append(
            f"dtype={dtype!r} is not supported: use {one_of(rc.DTYPES)}{did_you_mean(str(dtype), rc.DTYPES)}"
        )
    mode = args.get("mode", MODE_STATEFULSET)
    if mode not in MODES:
        problems.append(f"mode={mode!r} is not a mode: use {one_of(MODES)}{did_you_mean(str(mode), MODES)}")

    add(
        names.qualified_name_problem(
            "gpu_resource_name", args.get("gpu_resource_name", DEFAULT_GPU_RESOURCE_NAME)
        )
    )
    add(names.quantity_problem("cpu", args.get("cpu", DEFAULT_CPU)))
    add(names.quantity_problem("memory", args.get("memory", DEFAULT_MEMORY)))
    for flag in ("create_namespace", "public", "zone_spread", "wait_until_ready"):
        if flag in args:
            add(names.bool_problem(flag, args[flag]))

    problems.extend(_name_problems(args, name, mode))
    problems.extend(_port_problems(args))
    problems.extend(_exposure_problems(args))
    problems.extend(_env_problems(args))
    problems.extend(_cache_problems(args))
    problems.extend(names.label_map_problems("node_selector", args.get("node_selector")))
    problems.extend(
        names.label_map_problems("labels", args.get("labels"), reserved_prefixes=lbl.RESERVED_LABEL_PREFIXES)
    )
    problems.extend(
        names.label_map_problems("monitoring_namespace_selector", args.get("monitoring_namespace_selector"))
    )
    if "tolerations" in args:
        problems.extend(as_arguments(_TOLERATIONS.problems(args["tolerations"], ("tolerations",))))
    if "api_key_secret" in args:
        problems.extend(_secret_ref_problems("api_key_secret", args["api_key_secret"]))
    if "weights_volume_claim" in args:
        add(names.subdomain_problem("weights_volume_claim", args["weights_volume_claim"]))
    return problems


def _name_problems(args: Mapping[str, Any], name: str | None, mode: Any) -> list[str]:
    problems: list[str] = []
    namespace_problem = names.dns_label_problem("namespace", args.get("namespace", DEFAULT_NAMESPACE))
    if namespace_problem:
        problems.append(namespace_problem)
    if name is not None:
        groups = args.get("replica_groups", DEFAULT_REPLICA_GROUPS)
        last_group = groups - 1 if isinstance(groups, int) and groups >= 1 else 0
        longest = group_object_name(name, mode if mode in MODES else MODE_STATEFULSET, last_group)
        name_problem = names.service_name_problem("name", name)
        if name_problem:
            problems.append(name_problem)
        elif len(longest) > MAX_OBJECT_NAME_LENGTH:
            problems.append(
                f"name={name!r} is too long: the group objects it names (e.g. {longest!r}) may have at most "
                f"{MAX_OBJECT_NAME_LENGTH} characters"
            )
    return problems


def _port_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    ports = {
        "api_port": args.get("api_port", rc.DEFAULT_API_PORT),
        "rendezvous_port": args.get("rendezvous_port", rc.DEFAULT_RENDEZVOUS_PORT),
        "metrics_port": args.get("metrics_port", rc.DEFAULT_METRICS_PORT),
    }
    for arg, port in ports.items():
        problem = names.int_problem(arg, port, minimum=1024, maximum=65535)
        if problem:
            # Below 1024 a process without capabilities (all are dropped) cannot bind.
            problems.append(problem + " (ports below 1024 need privileges the pods do not have)")
    seen: dict[Any, list[str]] = {}
    for arg, port in ports.items():
        seen.setdefault(port, []).append(arg)
    for port, args_with_port in seen.items():
        if len(args_with_port) > 1:
            problems.append(f"{' and '.join(args_with_port)} are all {port!r}: each port must be different")
    return problems


def _exposure_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    public = args.get("public", False)
    cidrs = args.get("allowed_cidrs")
    if public is True and not cidrs:
        problems.append(
            "public=True needs allowed_cidrs, the client CIDR blocks allowed to reach the API "
            "(e.g. ['203.0.113.0/24']); the API is never opened to every address by default"
        )
    if cidrs and public is not True:
        problems.append(
            f"allowed_cidrs={list(cidrs)!r} only applies to a public API: "
            "set public=True or drop allowed_cidrs"
        )
    if cidrs is not None:
        if isinstance(cidrs, str) or not isinstance(cidrs, Sequence):
            problems.append(f"allowed_cidrs must be a list of CIDR blocks; got {cidrs!r}")
        else:
            for cidr in cidrs:
                problem = names.cidr_problem("allowed_cidrs", cidr)
                if problem:
                    problems.append(problem)
    namespaces = args.get("api_allowed_namespaces")
    if namespaces is not None:
        if isinstance(namespaces, str) or not isinstance(namespaces, Sequence):
            problems.append(f"api_allowed_namespaces must be a list of namespace names; got {namespaces!r}")
        else:
            for ns in namespaces:
                problem = names.dns_label_problem("api_allowed_namespaces entry", ns)
                if problem:
                    problems.append(problem)
    return problems


def _reserved_env(env_name: str) -> bool:
    return env_name.startswith(rc.RESERVED_ENV_PREFIXES)


def _env_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for arg in ("env", "env_from_secrets"):
        mapping = args.get(arg)
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            problems.append(f"{arg} must be a mapping of variable names to values; got {mapping!r}")
            continue
        for env_name, value in mapping.items():
            problem = names.env_name_problem(arg, env_name)
            if problem:
                problems.append(problem)
                continue
            if _reserved_env(env_name):
                problems.append(
                    f"{arg} sets {env_name!r}, a name reserved for the runtime contract "
                    f"(prefixes {', '.join(rc.RESERVED_ENV_PREFIXES)}): use the matching argument instead"
                )
            if env_name in seen:
                problems.append(f"{arg} sets {env_name!r}, which {seen[env_name]} already sets")
            seen[env_name] = arg
            if arg == "env_from_secrets":
                problems.extend(_secret_ref_problems(f"env_from_secrets[{env_name!r}]", value))
    files = args.get("secret_files")
    if files is not None:
        if not isinstance(files, Mapping):
            problems.append(f"secret_files must be a mapping of file names to contents; got {files!r}")
        else:
            for file_name in files:
                problem = names.secret_key_problem("secret_files file name", file_name)
                if problem:
                    problems.append(problem)
    return problems


def _secret_ref_problems(arg: str, ref: Any) -> list[str]:
    if not isinstance(ref, Mapping) or set(ref) != {"name", "key"}:
        return [f"{arg} must be {{'name': <Secret name>, 'key': <key in the Secret>}}; got {ref!r}"]
    return [
        p
        for p in (
            names.subdomain_problem(f"{arg}['name']", ref["name"]),
            names.secret_key_problem(f"{arg}['key']", ref["key"]),
        )
        if p
    ]


def _cache_problems(args: Mapping[str, Any]) -> list[str]:
    cache = args.get("weights_cache")
    if cache is None:
        return []
    if (
        not isinstance(cache, Mapping)
        or "size_gib" not in cache
        or set(cache) - {"size_gib", "storage_class"}
    ):
        return [
            "weights_cache must be {'size_gib': <GiB>} for an emptyDir or "
            f"{{'size_gib': <GiB>, 'storage_class': <name>}} for a PVC per rank; got {cache!r}"
        ]
    problems = [names.int_problem("weights_cache['size_gib']", cache["size_gib"], minimum=1)]
    if "storage_class" in cache:
        problems.append(names.subdomain_problem("weights_cache['storage_class']", cache["storage_class"]))
    return [p for p in problems if p]
