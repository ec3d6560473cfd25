"""What every cloud's installation shares: the checks on its arguments, and the inference deployment on the cluster.

``shardstack.aws.AwsInstallation``, ``shardstack.gcp.GcpInstallation`` and ``shardstack.azure.AzureInstallation``
take the same shape of arguments: each part's own arguments (``network``, ``cluster``, ``gpu_pools``,
``weight_store``, ``registry``, ...) minus what the installation wires between the parts, plus ``inference``,
``model_path`` and ``api_key``. :class:`InstallationChecks` reports every problem of such arguments at once, each
prefixed with its part; :func:`deploy_inference` puts ShardedInference (and the Secret holding the API key) on the
new cluster, reading the weights from the new store through the cloud's workload identity.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from shardstack.errors import did_you_mean
from shardstack.k8s import SecretKeyRef, ShardedInference, ShardedInferenceArgs, Toleration
from shardstack.k8s.sharded_inference_args import DEFAULT_NAMESPACE, validate_sharded_inference_args
from shardstack.specs.gpu_pool import named_pool_spec
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import Spec

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
            toleration = Toleration(key=taint["key"], operator="Equal", value=taint.get("value", ""),
                                    effect=taint["effect"])
            if toleration not in found:
                found.append(toleration)
    return found


def with_tolerations(part_args: Mapping[str, Any], tolerations: Sequence[Toleration]) -> dict[str, Any]:
    """A Kubernetes component's arguments with ``tolerations`` added to the caller's own."""
    own = list(part_args.get("tolerations") or [])
    return {**part_args, "tolerations": [*own, *(t for t in tolerations if t not in own)]} if tolerations else \
        dict(part_args)


def inference_identity(name: str, args: Mapping[str, Any]) -> tuple[str, str]:
    """The namespace and service account of the ranks: ShardedInference names its service account after itself."""
    return str(part(args, "inference").get("namespace", DEFAULT_NAMESPACE)), name


class InstallationChecks:
    """Collects every problem with an installation's arguments, each prefixed with the part it belongs to."""

    def __init__(self, args: Mapping[str, Any], allowed: Mapping[str, Any], mappings: Sequence[str]) -> None:
        self.args = args
        self.problems: list[str] = []
        for key in sorted(set(args) - set(allowed)):
            self.problems.append(f"unknown argument {key!r}{did_you_mean(key, allowed)}")
        for key in mappings:
            if key in args and not isinstance(args[key], Mapping):
                self.problems.append(f"{key} must be a mapping of arguments; got {args[key]!r}")
        for key in ("create_registry",):
            if key in allowed and not isinstance(args.get(key, True), bool):
                self.problems.append(f"{key} must be true or false; got {args[key]!r}")

    def wired(self, part_name: str, given: Mapping[str, Any], keys: Sequence[str]) -> None:
        """Refuse the arguments of a part that the installation sets itself."""
        for key in keys:
            if key in given:
                self.problems.append(f"{part_name}.{key} is set by the installation itself; remove it")

    def prefixed(self, part_name: str, found: Sequence[str]) -> None:
        self.problems.extend(f"{part_name}: {problem}" for problem in found)

    def gpu_pools(self, wired: Sequence[str], pool_spec: Spec, known: Mapping[str, Any] | None = None) -> None:
        """Check ``gpu_pools``: at least one, unique names, each pool by the cloud's ``pool_spec``.

        The ``wired`` arguments are the installation's to set; those it already knows as plain values
        (``known``, e.g. the region) are checked with each pool, so that rules across them still run. The
        others' rules are left out: no stand-in values.
        """
        pools = self.args.get("gpu_pools")
        if not isinstance(pools, Sequence) or isinstance(pools, str) or not pools:
            self.problems.append(f"gpu_pools must list at least one GPU pool, e.g. [{{'name': 'l4', 'gpu': 'l4'}}]; "
                                 f"got {pools!r}")
            return
        known = dict(known or {})
        named = named_pool_spec(pool_spec, [w for w in wired if w not in known], "a pool of an installation")
        seen: dict[str, int] = {}
        for index, pool in enumerate(pools):
            part_name = f"gpu_pools[{index}]"
            if not isinstance(pool, Mapping):
                self.problems.append(f"{part_name} must be a mapping of GpuNodePool arguments; got {pool!r}")
                continue
            pool_name = pool.get("name")
            if isinstance(pool_name, str) and pool_name in seen:
                self.problems.append(f"{part_name}: name {pool_name!r} is already the name of "
                                     f"gpu_pools[{seen[pool_name]}]; pool names must be unique")
            elif isinstance(pool_name, str):
                seen[pool_name] = index
            self.wired(part_name, pool, wired)
            given = {k: v for k, v in pool.items() if k not in wired}
            self.prefixed(part_name, as_arguments(named.check({**given, **known})))

    def inference(self, name: str | None, placeholder_uri: str) -> None:
        """Check ``inference``, ``model_path`` and ``api_key`` together."""
        if "inference" not in self.args:
            self.problems.append("inference is required: at least {'image': ..., 'shards': N}")
        inference = dict(part(self.args, "inference"))
        self.wired("inference", inference, WIRED_INFERENCE_ARGS)
        if "model_uri" not in inference and not self.args.get("model_path"):
            self.problems.append("inference.model_uri or model_path is required: where the checkpoint is, e.g. "
                                 "model_path='llama-3.1-8b/' inside the weight store")
        if "api_key" in self.args and "api_key_secret" in inference:
            self.problems.append("api_key and inference.api_key_secret are both given; give one: the key itself "
                                 "(stored in a Secret) or the Secret that holds it")
        inference.setdefault("model_uri", placeholder_uri)
        self.prefixed("inference", validate_sharded_inference_args(inference, name))


@dataclass
class WeightAccess:
    """How the ranks read the weight store: what their service account and pods carry, and what to wait for."""

    service_account_annotations: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    resources: Sequence[pulumi.Resource]
    """The grant's resources: no rank starts before it can read."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the cloud's workload identity needs on the pods (Azure), beside the caller's own."""


@dataclass
class Serving:
    inference: ShardedInference
    model_uri: pulumi.Output[str]


def deploy_inference(
    owner: pulumi.Resource,
    name: str,
    args: Mapping[str, Any],
    *,
    provider: k8s.Provider,
    model_uri_prefix: pulumi.Input[str],
    access: WeightAccess,
    tolerations: Sequence[Toleration],
    depends_on: Sequence[pulumi.Resource],
) -> Serving:
    """ShardedInference on the new cluster, reading its checkpoint from the new store (or ``inference.model_uri``).

    ``tolerations``: for the GPU pools' taints, so that the ranks can run on every pool.
    """
    inference_args = ShardedInferenceArgs(**with_tolerations(args["inference"], tolerations))
    model_uri: pulumi.Input[str] | None = inference_args.get("model_uri")
    if model_uri is None:
        model_uri = pulumi.Output.concat(model_uri_prefix, args.get("model_path", ""))
        # The bucket is new: its weights are pushed after this `pulumi up`, so don't wait for the ranks.
        inference_args.setdefault("wait_until_ready", False)
    inference_args["model_uri"] = model_uri
    inference_args["service_account_annotations"] = access.service_account_annotations
    if access.pod_labels:
        inference_args["labels"] = {**dict(inference_args.get("labels") or {}), **access.pod_labels}
    api_key = args.get("api_key")
    if api_key is not None:
        inference_args["api_key_secret"] = SecretKeyRef(name=API_KEY_SECRET_NAME, key=API_KEY_SECRET_KEY)
    inference = ShardedInference(
        name, inference_args,
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


class PricedPool(Protocol):
    hourly_usd_min: float
    hourly_usd_max: float


def register_installation_outputs(
    owner: pulumi.ComponentResource,
    *,
    serving: Serving,
    bucket_uri: pulumi.Output[str],
    registry_url: pulumi.Output[str],
    kubeconfig: pulumi.Output[str],
    cluster_name: pulumi.Output[str],
    pools: Sequence[PricedPool],
    **extra: Any,
) -> None:
    """Set and register the outputs every cloud's installation has (each class declares them, for its schema)."""
    outputs: dict[str, Any] = {
        "endpoint": serving.inference.endpoint,
        "bucket_uri": bucket_uri,
        "model_uri": serving.model_uri,
        "registry_url": registry_url,
        "kubeconfig": kubeconfig,
        "cluster_name": cluster_name,
        "gpu_usd_per_hour_min": round(float(sum(p.hourly_usd_min for p in pools)), 2),
        "gpu_usd_per_hour_max": round(float(sum(p.hourly_usd_max for p in pools)), 2),
        **extra,
    }
    for key, value in outputs.items():
        setattr(owner, key, value)
    owner.register_outputs(outputs)
