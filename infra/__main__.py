"""The Shardstack Pulumi program: one validated stack config becomes one complete installation.

    pulumi up -s local        # ShardedInference on your current kubeconfig context, on CPU
    pulumi up -s aws-dev      # a VPC, an EKS cluster, GPU pools, an S3 weight store and ECR, then the same
    pulumi up -s gcp-dev      # a VPC, a GKE cluster, GPU pools, a GCS weight store and Artifact Registry, the same
    pulumi up -s azure-dev    # a VNet, an AKS cluster, GPU pools, a Blob weight store and ACR, the same
    shardstack plan local     # the same program, offline, under recording mocks
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import config
import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from shardstack.errors import ConfigError
from shardstack.gpu_pool import Taint
from shardstack.k8s import LocalWeightsStore, SecretKeyRef, ShardedInference, ShardedInferenceArgs
from shardstack.k8s.runtime_contract import WEIGHTS_DIR
from shardstack.sizing import DTYPE_BYTES, GIB, size_model

# Each cloud's SDK and components are imported inside its installation function: a stack loads only its own.
if TYPE_CHECKING:
    from shardstack.aws import AwsInstallation
    from shardstack.azure import AzureInstallation
    from shardstack.gcp import GcpInstallation

# The demo model (SmolLM2-135M-Instruct) lives under this prefix in the weight store; the runtime's
# `weights push` uploads it there.
DEMO_MODEL_PATH = "demo/smollm2-135m-instruct"
DEMO_MODEL_PARAMS = 135e6
# Where a host-path weight directory appears inside the pods.
HOST_PATH_MOUNT = WEIGHTS_DIR
# `shards: auto` on a CPU cluster: the model fits in host memory, so one rank serves it.
LOCAL_AUTO_SHARDS = 1


def load_config() -> config.StackConfig:
    try:
        return config.load(pulumi.Config("shardstack"), stack=pulumi.get_stack())
    except ConfigError as error:
        # RunError ends the program with just this message: no traceback reaches the user.
        raise pulumi.RunError(str(error)) from None


def api_key_secret(cfg: config.StackConfig, namespace: str, opts: pulumi.ResourceOptions) -> SecretKeyRef | None:
    """Return the Secret reference holding the API key: the user's own, or one made from `api_key`."""
    if cfg.serving.api_key_secret is not None:
        return SecretKeyRef(name=cfg.serving.api_key_secret.name, key=cfg.serving.api_key_secret.key)
    if cfg.api_key is None:
        return None
    name = "shardstack-api-key"
    k8s.core.v1.Secret(
        "api-key",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        string_data={config.DEFAULT_API_KEY_SECRET_KEY: pulumi.Output.secret(cfg.api_key.get_secret_value())},
        opts=opts,
    )
    return SecretKeyRef(name=name, key=config.DEFAULT_API_KEY_SECRET_KEY)


def host_path_weights(cfg: config.StackConfig, namespace: str, opts: pulumi.ResourceOptions) -> str:
    """Return a read-only claim on the node directory that holds the checkpoints.

    A hostPath PersistentVolume rather than a hostPath volume in the pods: the pods then still meet
    the restricted Pod Security Standard, and only the cluster admin's PV touches the node.
    """
    claim = "shardstack-weights"
    host_path = cfg.local.weights.host_path
    size = f"{cfg.local.weights.storage_gib}Gi"
    volume = k8s.core.v1.PersistentVolume(
        "weights-volume",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{namespace}-weights"),
        spec=k8s.core.v1.PersistentVolumeSpecArgs(
            capacity={"storage": size},
            access_modes=["ReadOnlyMany"],
            persistent_volume_reclaim_policy="Retain",  # never delete the user's checkpoints
            storage_class_name="",
            host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=str(host_path), type="Directory"),
            claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=namespace, name=claim),
        ),
        opts=opts,
    )
    k8s.core.v1.PersistentVolumeClaim(
        "weights-claim",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=claim, namespace=namespace),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadOnlyMany"],
            storage_class_name="",
            volume_name=volume.metadata.name,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
        opts=opts,
    )
    return claim


def local_installation(cfg: config.StackConfig) -> None:
    """ShardedInference on the current kubeconfig context, on CPU, weights in-cluster or on the host."""
    local = cfg.local
    ns = cfg.serving.namespace
    provider = k8s.Provider("local", context=local.kube_context)
    namespace = k8s.core.v1.Namespace(
        "namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=ns,
            # Every pod in it meets the restricted Pod Security Standard: enforce it.
            labels={"pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/part-of": "shardstack"},
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    opts = pulumi.ResourceOptions(provider=provider, depends_on=[namespace])

    args = ShardedInferenceArgs(
        image=cfg.serving.image,
        model_uri="",
        shards=cfg.model.shards if cfg.model.shards != "auto" else LOCAL_AUTO_SHARDS,
        replica_groups=cfg.serving.replica_groups,
        dtype=cfg.model.dtype,
        gpus_per_shard=0,
        namespace=ns,
        create_namespace=False,
        cpu=local.cpu_per_shard,
        memory=local.memory_per_shard,
        public=cfg.serving.public,
        mode=cfg.serving.mode,
        # kind/minikube/k3d nodes carry no zone labels: required zone affinity would never schedule.
        zone_spread=False,
        # A new in-cluster store is empty until `weights push`, after `pulumi up`: don't wait for the ranks.
        wait_until_ready=local.weights.store != "in-cluster-s3",
    )
    if cfg.serving.public:
        args["allowed_cidrs"] = [str(c) for c in cfg.serving.allowed_cidrs]
    key = api_key_secret(cfg, ns, opts)
    if key is not None:
        args["api_key_secret"] = key

    model = DEMO_MODEL_PATH if cfg.model.uri == config.DEMO_MODEL_URI else None
    if local.weights.store == "in-cluster-s3":
        access_key = random.RandomString("weights-access-key", length=20, special=False, lower=False)
        secret_key = random.RandomPassword("weights-secret-key", length=40, special=False)
        store = LocalWeightsStore(
            "weights",
            {"namespace": ns, "access_key_id": access_key.result, "secret_access_key": secret_key.result,
             "storage_gib": local.weights.storage_gib},
            opts=opts,
        )
        args["model_uri"] = pulumi.Output.concat(store.model_uri_prefix, model) if model else cfg.model.uri
        # Keys reach the pods as a mounted credentials file, never as environment variables.
        args["env"] = {**store.inference_env, **store.credentials_file_env}
        args["secret_files"] = store.inference_secret_files
        pulumi.export("weights_store_endpoint", store.endpoint)
        pulumi.export("weights_bucket", store.bucket)
    else:
        args["weights_volume_claim"] = host_path_weights(cfg, ns, opts)
        args["model_uri"] = f"file://{HOST_PATH_MOUNT}/{model}" if model else cfg.model.uri

    inference = ShardedInference("inference", args, opts=opts)
    pulumi.export("endpoint", inference.endpoint)
    pulumi.export("namespace", inference.namespace)
    pulumi.export("model_uri", args["model_uri"])
    params = DEMO_MODEL_PARAMS if model else cfg.model.params
    pulumi.export("sizing", {
        "device": "cpu",
        "shards": args["shards"],
        "replica_groups": cfg.serving.replica_groups,
        "dtype": cfg.model.dtype,
        **({"params": params, "weights_gib": round(params * DTYPE_BYTES[cfg.model.dtype] / GIB, 2)} if params else {}),
    })
    # A local cluster runs on hardware you already have: no GPU nodes to pay for.
    pulumi.export("gpu_usd_per_hour", {"at_min_nodes": 0.0, "at_max_nodes": 0.0})


def cloud_shards(cfg: config.StackConfig) -> tuple[int, dict[str, object]]:
    """The shards per replica group on the first GPU pool (sized when 'auto'), and the sizing to report."""
    pool = cfg.gpu_pools[0]
    demo = cfg.model.uri == config.DEMO_MODEL_URI
    params = DEMO_MODEL_PARAMS if demo else cfg.model.params
    sizing: dict[str, object] = {"device": "gpu", "gpu": pool.gpu, "replica_groups": cfg.serving.replica_groups,
                                 "dtype": cfg.model.dtype}
    if params:
        sizing.update(params=params, weights_gib=round(params * DTYPE_BYTES[cfg.model.dtype] / GIB, 2))
    if cfg.model.shards != "auto":
        return cfg.model.shards, {**sizing, "shards": cfg.model.shards}
    assert params is not None  # config requires params for 'auto' unless the model is the demo
    shards = size_model(params=params, dtype=cfg.model.dtype, gpu=pool.gpu).shards
    return shards, {**sizing, "shards": shards}


def named_pools(cfg: config.StackConfig) -> list[dict[str, Any]]:
    """The GPU pools' cloud-neutral arguments, as every cloud's installation takes them."""
    pools: list[dict[str, Any]] = []
    for p in cfg.gpu_pools:
        pool: dict[str, Any] = {
            "name": p.name, "gpu": p.gpu, "gpus_per_node": p.gpus_per_node, "min_nodes": p.min_nodes,
            "max_nodes": p.max_nodes, "spot": p.spot, "disk_size_gib": p.disk_size_gib, "labels": dict(p.labels),
            "taints": [Taint(key=t.key, value=t.value, effect=t.effect) for t in p.taints],
        }
        if p.instance_type:
            pool["instance_type"] = p.instance_type
        pools.append(pool)
    return pools


def cluster_access(cfg: config.StackConfig) -> dict[str, Any]:
    """The cluster arguments every cloud shares: version, API access and the system pool."""
    system_pool: dict[str, Any] = {"min_nodes": cfg.system_pool.min_nodes, "max_nodes": cfg.system_pool.max_nodes,
                                   "disk_size_gib": cfg.system_pool.disk_size_gib}
    if cfg.system_pool.instance_type:
        system_pool["instance_type"] = cfg.system_pool.instance_type
    return {"kubernetes_version": cfg.kubernetes_version, "private_endpoint": cfg.cluster.private_endpoint,
            "authorized_networks": [str(c) for c in cfg.cluster.authorized_networks], "system_pool": system_pool}


def serving_args(cfg: config.StackConfig, shards: int) -> dict[str, Any]:
    """The inference, model_path and api_key arguments every cloud's installation takes."""
    fields: dict[str, Any] = {
        "image": cfg.serving.image, "shards": shards, "replica_groups": cfg.serving.replica_groups,
        "dtype": cfg.model.dtype, "namespace": cfg.serving.namespace, "public": cfg.serving.public,
        "mode": cfg.serving.mode,
    }
    if cfg.serving.public:
        fields["allowed_cidrs"] = [str(c) for c in cfg.serving.allowed_cidrs]
    if cfg.serving.api_key_secret is not None:
        secret = cfg.serving.api_key_secret
        fields["api_key_secret"] = SecretKeyRef(name=secret.name, key=secret.key)
    args: dict[str, Any] = {}
    if cfg.model.uri == config.DEMO_MODEL_URI:
        args["model_path"] = f"{DEMO_MODEL_PATH}/"  # the installation points model_uri at it in its bucket
    else:
        fields["model_uri"] = cfg.model.uri
    if cfg.serving.api_key_secret is None and cfg.api_key is not None:
        args["api_key"] = pulumi.Output.secret(cfg.api_key.get_secret_value())
    args["inference"] = ShardedInferenceArgs(**fields)
    return args


def export_installation(
    install: AwsInstallation | GcpInstallation | AzureInstallation, sizing: dict[str, object]
) -> None:
    """The stack outputs every cloud exports."""
    pulumi.export("endpoint", install.endpoint)
    pulumi.export("bucket_uri", install.bucket_uri)
    pulumi.export("model_uri", install.model_uri)
    pulumi.export("registry_url", install.registry_url)
    pulumi.export("cluster_name", install.cluster_name)
    pulumi.export("kubeconfig", install.kubeconfig)
    pulumi.export("sizing", sizing)
    pulumi.export("gpu_usd_per_hour", {"at_min_nodes": install.gpu_usd_per_hour_min,
                                       "at_max_nodes": install.gpu_usd_per_hour_max})


def aws_installation(cfg: config.StackConfig) -> None:
    """A VPC, an EKS cluster, GPU pools, an S3 weight store, ECR, and the inference deployment on them."""
    import pulumi_aws as aws

    from shardstack.aws import AwsInstallation, AwsInstallationArgs, InstallationNetwork
    from shardstack.aws import InstallationCluster as AwsCluster
    from shardstack.aws import NamedGpuPool as AwsGpuPool

    stack = pulumi.get_stack()
    # A provider made in code reads no `aws:*` stack key by itself; `aws:profile` picks the credentials.
    provider = aws.Provider("aws", region=cfg.region, profile=pulumi.Config("aws").get("profile"),
                            default_tags=aws.ProviderDefaultTagsArgs(tags={"shardstack:stack": stack}))
    shards, sizing = cloud_shards(cfg)
    network = InstallationNetwork(nat_gateways=cfg.network.nat_gateways)
    if cfg.zones:
        network["availability_zones"] = list(cfg.zones)
    args = AwsInstallationArgs(
        network=network,
        cluster=AwsCluster(**cluster_access(cfg)),
        gpu_pools=[AwsGpuPool(**pool) for pool in named_pools(cfg)],
        **serving_args(cfg, shards),
    )
    install = AwsInstallation(stack, args, opts=pulumi.ResourceOptions(providers={"aws": provider}))
    export_installation(install, sizing)


def gcp_label_value(value: str) -> str:
    """``value`` as a GCP label value: lowercase letters, digits, '_' and '-', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def gcp_installation(cfg: config.StackConfig) -> None:
    """A VPC, a GKE cluster, GPU pools, a GCS weight store, Artifact Registry, and the inference deployment."""
    import pulumi_gcp as gcp

    from shardstack.gcp import GcpInstallation, GcpInstallationArgs
    from shardstack.gcp import InstallationCluster as GcpCluster
    from shardstack.gcp import NamedGpuPool as GcpGpuPool

    stack = pulumi.get_stack()
    # The project: `gcp:project` in the stack's config, else the provider's own lookup (GOOGLE_CLOUD_PROJECT, ...).
    provider = gcp.Provider("gcp", project=pulumi.Config("gcp").get("project"), region=cfg.region,
                            default_labels={"shardstack-stack": gcp_label_value(stack)})
    shards, sizing = cloud_shards(cfg)
    pools = []
    for settings, pool in zip(cfg.gpu_pools, named_pools(cfg), strict=True):
        gcp_pool = GcpGpuPool(**pool)
        zones = settings.zones if settings.zones is not None else cfg.zones
        if zones:
            gcp_pool["node_locations"] = list(zones)
        if settings.compact_placement:
            gcp_pool["placement"] = "COMPACT"
        pools.append(gcp_pool)
    assert cfg.region is not None  # config requires a region for every cloud
    args = GcpInstallationArgs(
        region=cfg.region,
        # Cloud NAT is regional and survives a zone outage: shardstack:network.nat_gateways has no GCP choice.
        cluster=GcpCluster(**cluster_access(cfg)),
        gpu_pools=pools,
        **serving_args(cfg, shards),
    )
    install = GcpInstallation(stack, args, opts=pulumi.ResourceOptions(providers={"gcp": provider}))
    export_installation(install, sizing)


def azure_installation(cfg: config.StackConfig) -> None:
    """A VNet, an AKS cluster, GPU pools, a Blob weight store, a container registry, and the inference deployment."""
    import pulumi_azure_native as azure_native

    from shardstack.azure import AzureInstallation, AzureInstallationArgs, InstallationWeightStore
    from shardstack.azure import InstallationCluster as AzureCluster
    from shardstack.azure import NamedGpuPool as AzureGpuPool

    stack = pulumi.get_stack()
    # A provider made in code reads none of the stack's `azure-native:*` keys by itself: pass the ones a
    # stack sets to pick its subscription and sign-in. Unset, the provider's own lookup applies
    # (ARM_SUBSCRIPTION_ID, ARM_CLIENT_ID, ..., else `az login`'s subscription).
    settings = pulumi.Config("azure-native")
    provider = azure_native.Provider(
        "azure-native", location=cfg.region, subscription_id=settings.get("subscriptionId"),
        tenant_id=settings.get("tenantId"), client_id=settings.get("clientId"), use_oidc=settings.get_bool("useOidc"),
    )
    shards, sizing = cloud_shards(cfg)
    pools = []
    for settings, pool in zip(cfg.gpu_pools, named_pools(cfg), strict=True):
        azure_pool = AzureGpuPool(**pool)
        zones = settings.zones if settings.zones is not None else cfg.zones
        if zones:
            azure_pool["zones"] = list(zones)
        pools.append(azure_pool)
    cluster = AzureCluster(**cluster_access(cfg), deployer_principal_type=cfg.cluster.deployer_principal_type)
    if cfg.zones:
        cluster["zones"] = list(cfg.zones)
    assert cfg.region is not None  # config requires a region for every cloud
    args = AzureInstallationArgs(
        location=cfg.region,
        cluster=cluster,
        gpu_pools=pools,
        weight_store=InstallationWeightStore(allowed_ip_ranges=[str(c) for c in cfg.weight_store.allowed_networks],
                                             allowed_subnet_ids=list(cfg.weight_store.allowed_subnet_ids)),
        # azure-native has no default tags: the installation passes them to every part.
        tags={"shardstack-stack": stack},
        **serving_args(cfg, shards),
    )
    install = AzureInstallation(stack, args, opts=pulumi.ResourceOptions(providers={"azure-native": provider}))
    export_installation(install, sizing)
    pulumi.export("resource_group_name", install.resource_group_name)


def main() -> None:
    cfg = load_config()
    if cfg.cloud == "local":
        local_installation(cfg)
    elif cfg.cloud == "aws":
        aws_installation(cfg)
    elif cfg.cloud == "gcp":
        gcp_installation(cfg)
    else:
        azure_installation(cfg)


main()
