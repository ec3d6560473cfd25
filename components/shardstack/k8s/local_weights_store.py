"""LocalWeightsStore: an S3-compatible object store inside the cluster, for the local stack.

Usage::

    from shardstack.k8s import LocalWeightsStore, ShardedInference

    store = LocalWeightsStore("weights", {
        "namespace": "shardstack",                   # must exist; shared with the inference pods
        "access_key_id": access_key.result,          # e.g. pulumi_random.RandomString
        "secret_access_key": secret_key.result,      # e.g. pulumi_random.RandomPassword
    })
    ShardedInference("llm", {
        "image": "ghcr.io/shardstack/runtime:0.1.0",
        "model_uri": pulumi.Output.concat(store.model_uri_prefix, "smollm2-135m/"),
        "shards": 2,
        "gpus_per_shard": 0,
        "create_namespace": False,
        "env": {**store.inference_env, **store.credentials_file_env},
        "secret_files": store.inference_secret_files,
    })

The server is SeaweedFS (``weed mini``: master, volume, filer and S3 gateway in one process).
MinIO's community repository was archived in 2025 and its last images carry unpatched CVEs;
SeaweedFS is Apache-2.0, released weekly, runs as any non-root user with a read-only root
filesystem, reads its credentials from a mounted config file and creates the bucket at start,
so no bucket-creating Job is needed. Garage needs a layout step after start and versitygw keeps
bucket metadata in extended attributes that some local volume provisioners lack.

Clients get the keys either as a mounted AWS shared-credentials file (``inference_secret_files`` +
``credentials_file_env``: no keys in env, works from any namespace) or as environment variables read
from the store's Secret (``inference_env_from_secrets``: the pods must share the store's namespace).
Only pods in ``client_namespaces`` reach the store. This is a development store: its data volume
goes with its namespace when the stack is destroyed.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.errors import ArgumentError
from shardstack.k8s import labels as lbl
from shardstack.k8s import names, pod_security
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.args import LocalWeightsStoreArgs, SecretKeyRef
from shardstack.k8s.scanner_skips import THIRD_PARTY_TAG, image_tag_reasons, skip_annotations
from shardstack.k8s.specs import (
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    DEFAULT_STORAGE_GIB,
    LOCAL_WEIGHTS_STORE,
    SEAWEEDFS_IMAGE,
)
from shardstack.k8s.specs import INFERENCE_NAMESPACE as DEFAULT_NAMESPACE
from shardstack.specs.problem import as_arguments

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_NAMESPACE",
    "DEFAULT_REGION",
    "DEFAULT_STORAGE_GIB",
    "SEAWEEDFS_IMAGE",
    "LocalWeightsStore",
    "LocalWeightsStoreArgs",
    "validate_local_weights_store_args",
]

TYPE_TOKEN = "shardstack:k8s:LocalWeightsStore"
APP_NAME = "shardstack-weights-store"

S3_PORT = 8333
"""SeaweedFS's S3 gateway port."""
DATA_DIR = "/data"
CONFIG_DIR = "/etc/shardstack-weights"
S3_CONFIG_KEY = "s3.json"
CLIENT_CREDENTIALS_FILE = "aws-credentials"
"""File name, under ShardedInference's secret files directory, of the clients' credentials."""
ACCESS_KEY_ID_KEY = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY_KEY = "AWS_SECRET_ACCESS_KEY"
"""Keys of the credentials Secret that hold the clients' keys, named after the variables they feed."""

CPU = "1"
MEMORY = "1Gi"
"""Enough for weed mini streaming multi-GB safetensors files on a laptop cluster."""


def validate_local_weights_store_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with LocalWeightsStore arguments (and its resource ``name``), one line each."""
    problems = as_arguments(LOCAL_WEIGHTS_STORE.check(args))
    if name is not None:
        problem = names.service_name_problem("name", name)
        if problem:
            problems.append(problem)
    return problems


def _s3_config(access_key_id: str, secret_access_key: str) -> str:
    """Return SeaweedFS's identities file: one identity with full rights on the store."""
    return json.dumps(
        {
            "identities": [
                {
                    "name": "shardstack",
                    "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        },
        indent=2,
    )


def _credentials_file(access_key_id: str, secret_access_key: str) -> str:
    """Return an AWS shared-credentials file (read by every AWS SDK, boto3 and s3fs included)."""
    return f"[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n"


def _server_container(image: str, bucket: str) -> k8s.core.v1.ContainerArgs:
    """Return the SeaweedFS container: ``weed mini`` serving S3 only, creating ``bucket`` at start."""
    probe_action = k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="s3", scheme="HTTP")
    return k8s.core.v1.ContainerArgs(
        name="seaweedfs",
        image=image,
        image_pull_policy="IfNotPresent",
        args=[
            "mini",
            f"-dir={DATA_DIR}",
            f"-bucket={bucket}",
            f"-s3.config={CONFIG_DIR}/{S3_CONFIG_KEY}",
            f"-s3.port={S3_PORT}",
            # Only S3 is used: no WebDAV, admin UI, Iceberg or Lance endpoints to expose.
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # No data leaves the cluster.
            "-master.telemetry=false",
        ],
        env=[k8s.core.v1.EnvVarArgs(name="HOME", value=rc.TMP_DIR)],
        ports=[k8s.core.v1.ContainerPortArgs(name="s3", container_port=S3_PORT, protocol="TCP")],
        security_context=pod_security.restricted_container_security_context(),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": CPU, "memory": MEMORY, "ephemeral-storage": "1Gi"},
            limits={"cpu": CPU, "memory": MEMORY, "ephemeral-storage": "1Gi"},
        ),
        # Master, volume server, filer and S3 gateway start one after the other.
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_action, period_seconds=5, failure_threshold=60, timeout_seconds=3
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_action, period_seconds=10, failure_threshold=3, timeout_seconds=3
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_action, period_seconds=20, failure_threshold=3, timeout_seconds=5
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=rc.TMP_DIR),
        ],
        termination_message_policy="FallbackToLogsOnError",
    )


def _server_volumes(
    name: str, claim: k8s.core.v1.PersistentVolumeClaim, secret: k8s.core.v1.Secret
) -> list[k8s.core.v1.VolumeArgs]:
    """Return the server pod's volumes: the data claim, the identities file from ``secret``, a scratch dir."""
    return [
        k8s.core.v1.VolumeArgs(
            name="data",
            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=claim.metadata.apply(lambda m: m.name or f"{name}-data")
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="config",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=secret.metadata.apply(lambda m: m.name or f"{name}-credentials"),
                items=[k8s.core.v1.KeyToPathArgs(key=S3_CONFIG_KEY, path=S3_CONFIG_KEY)],
                default_mode=0o440,
            ),
        ),
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")),
    ]


class LocalWeightsStore(pulumi.ComponentResource):
    """Creates a one-replica SeaweedFS S3 server with a data volume, a Service and credentials."""

    endpoint: pulumi.Output[str]
    """In-cluster S3 endpoint URL, e.g. ``http://weights.shardstack-weights.svc.cluster.local:8333``."""
    bucket: pulumi.Output[str]
    """The bucket created at start."""
    model_uri_prefix: pulumi.Output[str]
    """``s3://<bucket>/``; append a model's folder to get ShardedInference's ``model_uri``."""
    credentials_secret_name: pulumi.Output[str]
    """Secret (in the store's namespace) holding the server's identities file (``s3.json``), the
    clients' AWS credentials file (``aws-credentials``) and the keys themselves
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``)."""
    namespace: pulumi.Output[str]
    """Namespace of the store."""

    def __init__(self, name: str, args: LocalWeightsStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_local_weights_store_args(args, name=name)
        if problems:
            raise ArgumentError(f"LocalWeightsStore {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        namespace_name = args.get("namespace", DEFAULT_NAMESPACE)
        bucket = args.get("bucket", DEFAULT_BUCKET)
        image = args.get("image", SEAWEEDFS_IMAGE)
        region = args.get("region", DEFAULT_REGION)
        clients = list(args.get("client_namespaces", [namespace_name]))
        object_labels = lbl.standard_labels(APP_NAME, name, "object-store", version=lbl.version_from_image(image))
        selector = lbl.selector_labels(APP_NAME, name)

        namespace = self._namespace(name, namespace_name, object_labels, args.get("create_namespace", False))
        access_key_id = pulumi.Output.from_input(args["access_key_id"])
        secret_access_key = pulumi.Output.from_input(args["secret_access_key"])
        self._client_credentials = pulumi.Output.secret(
            pulumi.Output.all(access_key_id, secret_access_key).apply(lambda keys: _credentials_file(keys[0], keys[1]))
        )
        secret = self._credentials_secret(
            name, namespace, object_labels, access_key_id, secret_access_key, self._client_credentials
        )
        service_account = self._service_account(name, namespace, object_labels)
        claim = self._data_claim(
            name, namespace, object_labels, args.get("storage_class"), args.get("storage_gib", DEFAULT_STORAGE_GIB)
        )
        self._server(
            name,
            namespace,
            object_labels,
            selector,
            _server_container(image, bucket),
            _server_volumes(name, claim, secret),
            service_account,
            cannot_pass=image_tag_reasons(image, THIRD_PARTY_TAG),
        )
        service = self._service(name, namespace, object_labels, selector)
        self._network_policies(name, namespace, namespace_name, clients, selector, object_labels)

        self.namespace = pulumi.Output.from_input(namespace)
        service_name = service.metadata.apply(lambda m: m.name or name)
        self.endpoint = pulumi.Output.concat(
            "http://", service_name, ".", self.namespace, f".svc.cluster.local:{S3_PORT}"
        )
        self.bucket = pulumi.Output.from_input(bucket)
        self.model_uri_prefix = pulumi.Output.concat("s3://", self.bucket, "/")
        self.credentials_secret_name = secret.metadata.apply(lambda m: m.name or f"{name}-credentials")
        self._region = region
        self._secret_name = f"{name}-credentials"
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "bucket": self.bucket,
                "model_uri_prefix": self.model_uri_prefix,
                "credentials_secret_name": self.credentials_secret_name,
                "namespace": self.namespace,
            }
        )

    def _namespace(
        self, name: str, namespace_name: str, object_labels: dict[str, str], create: bool
    ) -> pulumi.Input[str]:
        """Create the store's namespace when asked; return its name (an Output waiting for it when created)."""
        if not create:
            return namespace_name
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace_name, labels={**object_labels, **pod_security.RESTRICTED_NAMESPACE_LABELS}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return ns.metadata.apply(lambda m: m.name or namespace_name)

    def _credentials_secret(
        self,
        name: str,
        namespace: pulumi.Input[str],
        object_labels: dict[str, str],
        access_key_id: pulumi.Output[str],
        secret_access_key: pulumi.Output[str],
        client_credentials: pulumi.Output[str],
    ) -> k8s.core.v1.Secret:
        """Create the Secret holding the server's identities file, the clients' credentials file and the keys."""
        return k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-credentials", namespace=namespace, labels=object_labels),
            type="Opaque",
            string_data={
                S3_CONFIG_KEY: pulumi.Output.all(access_key_id, secret_access_key).apply(
                    lambda keys: _s3_config(keys[0], keys[1])
                ),
                CLIENT_CREDENTIALS_FILE: client_credentials,
                ACCESS_KEY_ID_KEY: access_key_id,
                SECRET_ACCESS_KEY_KEY: secret_access_key,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service_account(
        self, name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]
    ) -> k8s.core.v1.ServiceAccount:
        """Create the server's service account, with no API token mounted."""
        return k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=object_labels),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _data_claim(
        self,
        name: str,
        namespace: pulumi.Input[str],
        object_labels: dict[str, str],
        storage_class: str | None,
        storage_gib: int,
    ) -> k8s.core.v1.PersistentVolumeClaim:
        """Create the server's data volume claim, ``storage_gib`` GiB of ``storage_class``."""
        return k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-data", namespace=namespace, labels=object_labels),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{storage_gib}Gi"}),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _server(
        self,
        name: str,
        namespace: pulumi.Input[str],
        object_labels: dict[str, str],
        selector: dict[str, str],
        container: k8s.core.v1.ContainerArgs,
        volumes: list[k8s.core.v1.VolumeArgs],
        service_account: k8s.core.v1.ServiceAccount,
        *,
        cannot_pass: Mapping[str, str],
    ) -> k8s.apps.v1.Deployment:
        """Create the one-replica Deployment running ``container`` as ``service_account``; ``cannot_pass``: the
        scanner checks it cannot pass, with why (annotated on it)."""
        return k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace,
                labels=object_labels,
                annotations=skip_annotations(cannot_pass) or None,
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # One ReadWriteOnce volume: the old pod must let go before the new one starts.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=object_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account.metadata.apply(lambda m: m.name or name),
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=pod_security.restricted_pod_security_context(),
                        containers=[container],
                        termination_grace_period_seconds=30,
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service(
        self, name: str, namespace: pulumi.Input[str], object_labels: dict[str, str], selector: dict[str, str]
    ) -> k8s.core.v1.Service:
        """Create the ClusterIP Service in front of the S3 gateway."""
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=object_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="s3", port=S3_PORT, target_port="s3", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _network_policies(
        self,
        name: str,
        namespace: pulumi.Input[str],
        namespace_name: str,
        clients: list[str],
        selector: dict[str, str],
        object_labels: dict[str, str],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        pod_selector = k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-default-deny", namespace=namespace, labels=object_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=pod_selector, policy_types=["Ingress"], ingress=[]
            ),
            opts=child,
        )
        # The store's own namespace is always a client namespace (a loader Job may run there).
        allowed = [namespace_name, *(ns for ns in clients if ns != namespace_name)]
        client_namespaces = k8s.meta.v1.LabelSelectorArgs(
            match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(key=lbl.NAMESPACE_NAME, operator="In", values=allowed)
            ]
        )
        inference_ranks = k8s.meta.v1.LabelSelectorArgs(
            match_labels={lbl.PART_OF: lbl.PART_OF_VALUE, lbl.COMPONENT: "inference"}
        )
        loaders = k8s.meta.v1.LabelSelectorArgs(match_labels={lbl.WEIGHTS_LOADER: "true"})
        peers = [
            k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=client_namespaces, pod_selector=inference_ranks),
            k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=client_namespaces, pod_selector=loaders),
        ]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-s3-access",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-s3-clients", namespace=namespace, labels=object_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=pod_selector,
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=peers,
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=S3_PORT, protocol="TCP")],
                    )
                ],
            ),
            opts=child,
        )

    @property
    def inference_env(self) -> dict[str, pulumi.Input[str]]:
        """ShardedInference ``env`` entries every client needs: the S3 endpoint and the region."""
        return {"AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_REGION": self._region}

    @property
    def inference_env_from_secrets(self) -> dict[str, SecretKeyRef]:
        """ShardedInference ``env_from_secrets``: the keys, read from the store's Secret.

        A pod can only read Secrets of its own namespace: use this when the inference runs in the
        store's namespace, else ``inference_secret_files``.
        """
        return {
            ACCESS_KEY_ID_KEY: SecretKeyRef(name=self._secret_name, key=ACCESS_KEY_ID_KEY),
            SECRET_ACCESS_KEY_KEY: SecretKeyRef(name=self._secret_name, key=SECRET_ACCESS_KEY_KEY),
        }

    @property
    def inference_secret_files(self) -> dict[str, pulumi.Input[str]]:
        """ShardedInference ``secret_files``: an AWS shared-credentials file (a Pulumi secret).

        Pair it with ``credentials_file_env`` in ``env``. The keys never appear in the pods' env.
        """
        return {CLIENT_CREDENTIALS_FILE: self._client_credentials}

    @property
    def credentials_file_env(self) -> dict[str, pulumi.Input[str]]:
        """ShardedInference ``env`` entry pointing AWS SDKs at the file from ``inference_secret_files``."""
        return {"AWS_SHARED_CREDENTIALS_FILE": f"{rc.SECRET_FILES_DIR}/{CLIENT_CREDENTIALS_FILE}"}

    @property
    def loader_labels(self) -> dict[str, str]:
        """Labels a pod (e.g. a Job uploading weights) needs to be let through to the store."""
        return {lbl.WEIGHTS_LOADER: "true"}
