"""LocalInstallation: ShardedInference on an existing cluster, on CPU, its weights in the cluster or on the host.

Usage::

    import pulumi_kubernetes as k8s
    from shardstack.local import LocalInstallation

    install = LocalInstallation({
        "inference": {"image": "ghcr.io/shardstack/runtime:0.1.0", "shards": 2, "cpu": "1", "memory": "2Gi"},
        "model_path": "smollm2-135m/",
        "weights": {"store": "in-cluster-s3", "storage_gib": 10},
    }, provider=k8s.Provider("local", context="kind-shardstack"))
    pulumi.export("endpoint", install.endpoint)

It runs the installation template every cloud runs (:func:`shardstack.installation.install`) with a local
cluster's parts: no network, GPU pools or registry; a namespace enforcing the restricted Pod Security Standard;
the weights in an S3-compatible store deployed in the cluster (``LocalWeightsStore``; keys in a mounted file,
never in the environment) or in a directory on the node (a read-only hostPath PersistentVolume).

Unlike the clouds' installations it is no component of its own: its resources sit at the top of the stack,
under the fixed names the Shardstack program has always given them (``namespace``, ``weights``,
``inference``, ...), so a stack holds one local installation. The Kubernetes provider is the caller's.
"""

# No `from __future__ import annotations` here, as in the clouds' installations: the args are TypedDicts.

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from shardstack.errors import ArgumentError
from shardstack.installation import (
    API_KEY_SECRET_KEY,
    API_KEY_SECRET_NAME,
    NO_GPU_POOLS,
    GpuPools,
    InstallationChecks,
    KubernetesTarget,
    ManagedPrometheus,
    Monitoring,
    Serving,
    WeightAccess,
    install,
    part,
    with_monitoring,
)
from shardstack.k8s import LocalWeightsStore, SecretKeyRef, ShardedInferenceArgs, Toleration
from shardstack.k8s.local_weights_store import DEFAULT_STORAGE_GIB
from shardstack.k8s.runtime_contract import WEIGHTS_DIR
from shardstack.k8s.sharded_inference_args import DEFAULT_NAMESPACE
from shardstack.local.args import LocalInstallationArgs, LocalWeights
from shardstack.local.specs import IN_CLUSTER_S3, LOCAL_INSTALLATION, LOCAL_WEIGHTS
from shardstack.specs.spec import arguments_first

INFERENCE_NAME = "inference"
WEIGHTS_CLAIM_NAME = "shardstack-weights"


@arguments_first
def validate_local_installation_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with LocalInstallation arguments, each naming its argument."""
    checks = InstallationChecks(args, LOCAL_INSTALLATION)
    checks.spec_part("weights", LOCAL_WEIGHTS, ())
    checks.inference(None)
    if part(args, "monitoring").get("managed_prometheus"):
        checks.problems.append(
            "monitoring.managed_prometheus is True, but a local cluster has no cloud's managed Prometheus: drop it "
            "(the in-cluster Prometheus, monitoring.prometheus, watches a local installation)"
        )
    return checks.problems


class LocalInstallation:
    """A namespace, a weight store and the sharded inference deployment on an existing cluster, on CPU."""

    endpoint: pulumi.Output[str]
    """The API endpoint: the in-cluster Service URL (or the load balancer's when public)."""
    namespace: pulumi.Output[str]
    """The namespace of the deployment."""
    model_uri: pulumi.Output[str]
    """The checkpoint the ranks serve."""
    weights_store_endpoint: pulumi.Output[str] | None
    """The in-cluster store's S3 endpoint, where ``weights push`` uploads (None with 'host-path')."""
    weights_bucket: pulumi.Output[str] | None
    """The in-cluster store's bucket (None with 'host-path')."""
    gpu_usd_per_hour_min: float
    """Always 0: a local cluster runs on hardware you already have."""
    gpu_usd_per_hour_max: float
    """Always 0."""

    def __init__(self, args: LocalInstallationArgs, *, provider: k8s.Provider) -> None:
        problems = validate_local_installation_args(args)
        if problems:
            raise ArgumentError("LocalInstallation", problems)
        parts = _LocalParts(args, provider)
        outputs = install(parts, None, INFERENCE_NAME, with_monitoring(parts.template_args(), dcgm=False))
        self.endpoint = outputs["endpoint"]
        self.namespace = outputs["namespace"]
        self.model_uri = outputs["model_uri"]
        self.weights_store_endpoint = outputs["weights_store_endpoint"]
        self.weights_bucket = outputs["weights_bucket"]
        self.gpu_usd_per_hour_min = outputs["gpu_usd_per_hour_min"]
        self.gpu_usd_per_hour_max = outputs["gpu_usd_per_hour_max"]


class _LocalParts:
    """A local cluster's parts, for :func:`shardstack.installation.install`, at the top of the stack."""

    _namespace: k8s.core.v1.Namespace
    _store: LocalWeightsStore | None = None
    _claim: str | None = None

    def __init__(self, args: LocalInstallationArgs, provider: k8s.Provider) -> None:
        self.args, self.provider = args, provider
        self.weights: LocalWeights = args.get("weights") or {}
        self.namespace_name = args["inference"].get("namespace", DEFAULT_NAMESPACE)

    def in_namespace(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=self.provider, depends_on=[self._namespace])

    def template_args(self) -> dict[str, Any]:
        """``inference`` and ``model_path`` for the template, with what a local cluster always sets."""
        # install() fills in autoscaling's installation keys: the same dict, typed as the component's.
        inference = cast(ShardedInferenceArgs, dict(self.args["inference"]))
        inference.setdefault("gpus_per_shard", 0)
        # kind/minikube/k3d nodes carry no zone labels: required zone affinity would never schedule.
        inference.setdefault("zone_spread", False)
        # The namespace is this installation's (it enforces the restricted Pod Security Standard).
        inference["create_namespace"] = False
        # A new in-cluster store is empty until `weights push`, after `pulumi up`: don't wait for the ranks then.
        inference.setdefault("wait_until_ready", self.weights.get("store", IN_CLUSTER_S3) != IN_CLUSTER_S3)
        if "api_key" in self.args:
            inference["api_key_secret"] = SecretKeyRef(name=API_KEY_SECRET_NAME, key=API_KEY_SECRET_KEY)
        template_args: dict[str, Any] = {"inference": inference}
        given = dict(self.args)
        for key in ("model_path", "group_autoscaling", "monitoring"):
            if key in given:
                template_args[key] = given[key]
        return template_args

    def network(self) -> None:
        """The cluster's own."""

    def cluster(self) -> KubernetesTarget:
        self._namespace = k8s.core.v1.Namespace(
            "namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.namespace_name,
                # Every pod in it meets the restricted Pod Security Standard: enforce it.
                labels={"pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/part-of": "shardstack"},
            ),
            opts=pulumi.ResourceOptions(provider=self.provider),
        )
        api_key = self.args.get("api_key")
        if api_key is not None:
            # In the namespace this installation owns, so it can go in before the ranks.
            k8s.core.v1.Secret(
                "api-key",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=API_KEY_SECRET_NAME, namespace=self.namespace_name),
                string_data={API_KEY_SECRET_KEY: pulumi.Output.secret(api_key)},
                opts=self.in_namespace(),
            )
        return KubernetesTarget(self.provider, ready=[self._namespace])

    def gpu_pools(self) -> GpuPools:
        return NO_GPU_POOLS

    def weight_store(self) -> pulumi.Input[str]:
        if self.weights.get("store", IN_CLUSTER_S3) == IN_CLUSTER_S3:
            access_key = random.RandomString("weights-access-key", length=20, special=False, lower=False)
            secret_key = random.RandomPassword("weights-secret-key", length=40, special=False)
            self._store = LocalWeightsStore(
                "weights",
                {
                    "namespace": self.namespace_name,
                    "access_key_id": access_key.result,
                    "secret_access_key": secret_key.result,
                    "storage_gib": self.weights.get("storage_gib", DEFAULT_STORAGE_GIB),
                },
                opts=self.in_namespace(),
            )
            return self._store.model_uri_prefix
        self._claim = self.host_path_claim(self.weights.get("host_path", ""))
        return f"file://{WEIGHTS_DIR}/"

    def host_path_claim(self, host_path: str) -> str:
        """Return a read-only claim on the node directory that holds the checkpoints.

        A hostPath PersistentVolume rather than a hostPath volume in the pods: the pods then still meet
        the restricted Pod Security Standard, and only the cluster admin's PV touches the node.
        """
        size = f"{self.weights.get('storage_gib', DEFAULT_STORAGE_GIB)}Gi"
        volume = k8s.core.v1.PersistentVolume(
            "weights-volume",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{self.namespace_name}-weights"),
            spec=k8s.core.v1.PersistentVolumeSpecArgs(
                capacity={"storage": size},
                access_modes=["ReadOnlyMany"],
                persistent_volume_reclaim_policy="Retain",  # never delete the user's checkpoints
                storage_class_name="",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=host_path, type="Directory"),
                claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=self.namespace_name, name=WEIGHTS_CLAIM_NAME),
            ),
            opts=self.in_namespace(),
        )
        k8s.core.v1.PersistentVolumeClaim(
            "weights-claim",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=WEIGHTS_CLAIM_NAME, namespace=self.namespace_name),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadOnlyMany"],
                storage_class_name="",
                volume_name=volume.metadata.name,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
            ),
            opts=self.in_namespace(),
        )
        return WEIGHTS_CLAIM_NAME

    def registry(self) -> None:
        """Images come from wherever the cluster pulls them."""

    def gpu_enablement(self, monitoring: Monitoring) -> Sequence[Toleration]:
        del monitoring  # no GPUs: nothing to watch
        return []

    collection = None
    """A local cluster has no managed Prometheus: its checks refuse ``monitoring.managed_prometheus``."""

    def managed_prometheus(self, rule_groups: Sequence[Mapping[str, Any]]) -> ManagedPrometheus:
        raise ArgumentError("LocalInstallation", ["monitoring.managed_prometheus: a local cluster has none"])

    def read_grant(self, namespace: str, service_account: str) -> WeightAccess:
        if self._store is not None:
            # Keys reach the pods as a mounted credentials file, never as environment variables.
            return WeightAccess(
                env={**self._store.inference_env, **self._store.credentials_file_env},
                secret_files=self._store.inference_secret_files,
            )
        return WeightAccess(weights_volume_claim=self._claim)

    def outputs(self, serving: Serving) -> Mapping[str, Any]:
        return {
            "namespace": serving.inference.namespace,
            "weights_store_endpoint": self._store.endpoint if self._store else None,
            "weights_bucket": self._store.bucket if self._store else None,
        }
