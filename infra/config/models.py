"""The sections of the stack config, one class per mapping in the YAML; each field's description is its
documentation."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_KUBERNETES_VERSIONS

from .defaults import (
    DEFAULT_API_KEY_SECRET_KEY,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DEMO_MODEL_URI,
    Cloud,
    Dtype,
    LocalWeightsStore,
    NatGateways,
    ServingMode,
)
from .node_pools import GpuPoolConfig, SystemPoolConfig
from .problems import Problem
from .rules import api_key_problems, cloud_problems, gpus_per_node, local_problems, pool_name_problems
from .section import Checked, Section
from .values import (
    AbsolutePath,
    ApiKey,
    Cidr,
    ClusterApiCidr,
    Image,
    KubernetesVersion,
    ModelUri,
    Namespace,
    NonEmptyStr,
    Quantity,
    SecretKey,
    SecretName,
    Shards,
    Zones,
)

# --- Sections ----------------------------------------------------------------------------------------


class ClusterConfig(Section):
    """``shardstack:cluster``: the managed Kubernetes control plane (clouds only)."""

    private_endpoint: bool = Field(
        default=True,
        description="Reach the Kubernetes API only from inside the cluster's network. Default: true.",
    )
    authorized_networks: list[ClusterApiCidr] = Field(
        default_factory=list,
        description=(
            "CIDR blocks allowed to reach the Kubernetes API, e.g. ['203.0.113.0/24']. Required when "
            "private_endpoint is false; 0.0.0.0/0 is refused. Default: none."
        ),
    )

    deployer_principal_type: Literal["User", "ServicePrincipal"] = Field(
        default="User",
        description=(
            "azure only: what runs `pulumi up`, which gets cluster-admin and weight upload rights: 'User' "
            "(`az login` as a person) or 'ServicePrincipal' (CI; sign the Azure CLI in as it too, for the "
            "kubeconfig's kubelogin). Azure refuses a role assignment of the wrong type. Default: 'User'."
        ),
    )

    def _rules(self, checked: Checked) -> list[Problem]:
        if not checked.valid("private_endpoint", "authorized_networks"):
            return []
        if self.private_endpoint or self.authorized_networks:
            return []
        message = (
            "is empty, but private_endpoint is false; list the CIDR blocks that may reach the "
            "Kubernetes API, e.g. ['203.0.113.0/24']"
        )
        return [Problem(("authorized_networks",), message, [])]


class NetworkConfig(Section):
    """``shardstack:network``: the cluster's private network (clouds only)."""

    nat_gateways: NatGateways = Field(
        default="one_per_zone",
        description=(
            "Outbound internet for the private nodes: 'one_per_zone' (survives a zone outage) or 'single' "
            "(one NAT gateway for every zone, cheaper; a dev setting). On gcp, Cloud NAT is regional and "
            "survives a zone outage either way. Default: 'one_per_zone'."
        ),
    )


class WeightStoreConfig(Section):
    """``shardstack:weight_store``: who reaches the weight store from outside the cluster (azure only)."""

    allowed_networks: list[ClusterApiCidr] = Field(
        default_factory=list,
        description=(
            "Public CIDR blocks or addresses the storage account's firewall admits besides the cluster's "
            "subnet, e.g. where you push the weights from: ['203.0.113.0/24']. azure only: S3 and GCS "
            "buckets admit callers by their credentials alone. Default: none."
        ),
    )
    allowed_subnet_ids: list[NonEmptyStr] = Field(
        default_factory=list,
        description=(
            "Resource IDs of Azure subnets the storage firewall admits besides the cluster's, e.g. a CI runner's "
            "or a VPN gateway's subnet in the same region (IP rules never match callers in the account's own "
            "region); each needs the Microsoft.Storage service endpoint. azure only. Default: none."
        ),
    )


class ModelConfig(Section):
    """``shardstack:model``: the checkpoint to serve and how to split it."""

    uri: ModelUri = Field(
        default=DEMO_MODEL_URI,
        description=(
            "Where the safetensors checkpoint is: 'demo' (the small model shipped with the runtime), "
            "s3:// on aws, gs:// on gcp, az:// on azure, s3:// (the in-cluster store) or file:// on "
            "local, or http(s):// anywhere. Default: 'demo'."
        ),
    )
    dtype: Dtype = Field(default="bf16", description="Weight and compute dtype: fp32, bf16 or fp16. Default: bf16.")
    shards: Shards = Field(
        default="auto",
        description=(
            "Number of pipeline shards (pods) per copy of the model, or 'auto' to size them from params, "
            "dtype and the GPU memory. Default: 'auto'."
        ),
    )
    params: float | None = Field(
        default=None,
        gt=0,
        description="Number of model parameters, e.g. 7.0e9; required when shards is 'auto' (not for demo).",
    )
    revision: NonEmptyStr | None = Field(
        default=None, description="Checkpoint revision to load (e.g. a commit or tag). Default: the latest."
    )

    def _rules(self, checked: Checked) -> list[Problem]:
        if not checked.valid("shards", "uri", "params"):
            return []
        if self.shards == "auto" and self.uri != DEMO_MODEL_URI and self.params is None:
            message = (
                "is required when shards is 'auto' and uri is not 'demo'; give the parameter count "
                "(e.g. 7.0e9) so the shards can be sized, or set shards"
            )
            return [Problem(("params",), message, None)]
        return []


class ApiKeySecretRef(Section):
    """``shardstack:serving.api_key_secret``: an existing Kubernetes Secret holding the API key."""

    name: SecretName = Field(description="Name of the Secret, in the serving namespace.")
    key: SecretKey = Field(
        default=DEFAULT_API_KEY_SECRET_KEY,
        description=f"Key in the Secret's data. Default: {DEFAULT_API_KEY_SECRET_KEY!r}.",
    )


class ServingConfig(Section):
    """``shardstack:serving``: the inference deployment and its HTTP API."""

    replica_groups: int = Field(
        default=1, ge=1, description="Copies of the model, each a group of `shards` pods. Default: 1."
    )
    public: bool = Field(
        default=False,
        description="Expose the API outside the cluster through a load balancer. Default: false, in-cluster.",
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="CIDR blocks that may reach the API when public; required non-empty when public is true.",
    )
    api_key_secret: ApiKeySecretRef | None = Field(
        default=None,
        description=(
            "An existing Secret holding the API key clients must send. Default: none; then "
            "shardstack:api_key, if set, is stored in a Secret the program creates."
        ),
    )
    image: Image = Field(default=DEFAULT_IMAGE, description=f"Runtime image. Default: {DEFAULT_IMAGE!r}.")
    namespace: Namespace = Field(
        default=DEFAULT_NAMESPACE,
        description=f"Kubernetes namespace of the deployment. Default: {DEFAULT_NAMESPACE!r}.",
    )
    mode: ServingMode = Field(
        default="statefulset",
        description=(
            "How the shard pods are run: 'statefulset' (no extra controller) or 'leaderworkerset' (the "
            "LeaderWorkerSet API, which must be installed). Default: 'statefulset'."
        ),
    )

    def _rules(self, checked: Checked) -> list[Problem]:
        if not checked.valid("public", "allowed_cidrs") or not self.public or self.allowed_cidrs:
            return []
        message = "is empty, but public is true; list the CIDR blocks that may reach the API, e.g. ['203.0.113.0/24']"
        return [Problem(("allowed_cidrs",), message, [])]


class LocalWeightsConfig(Section):
    """``shardstack:local.weights``: where a local cluster keeps model weights."""

    store: LocalWeightsStore = Field(
        default="in-cluster-s3",
        description=(
            "'in-cluster-s3' (an S3-compatible store deployed in the cluster; model.uri is s3://) or "
            "'host-path' (a directory on the node; model.uri is file://). Default: 'in-cluster-s3'."
        ),
    )
    host_path: AbsolutePath | None = Field(
        default=None,
        description="Directory on the node holding the weights; required when store is 'host-path'.",
    )
    storage_gib: int = Field(default=20, ge=1, description="Size of the weights volume, GiB. Default: 20.")

    def _rules(self, checked: Checked) -> list[Problem]:
        if not checked.valid("store", "host_path"):
            return []
        if self.store == "host-path" and self.host_path is None:
            message = "is required when store is 'host-path', e.g. '/srv/shardstack/models'"
            return [Problem(("host_path",), message, None)]
        if self.store != "host-path" and self.host_path is not None:
            message = f"{self.host_path!r} is only used when store is 'host-path', but store is {self.store!r}"
            return [Problem(("host_path",), message, self.host_path)]
        return []


class LocalConfig(Section):
    """``shardstack:local``: settings for cloud 'local', an existing cluster from your kubeconfig."""

    kube_context: NonEmptyStr | None = Field(
        default=None, description="kubeconfig context to deploy to. Default: the current context."
    )
    weights: LocalWeightsConfig = Field(
        default_factory=LocalWeightsConfig,
        description="Where the weights are kept. Default: the in-cluster S3 store.",
    )
    cpu_per_shard: Quantity = Field(default="2", description="CPU request per shard pod. Default: '2'.")
    memory_per_shard: Quantity = Field(default="4Gi", description="Memory request per shard pod. Default: '4Gi'.")


class StackConfig(Section):
    """The whole ``shardstack:`` namespace of a stack: what ``load`` returns."""

    cloud: Cloud = Field(description="Where to install: 'local' (an existing cluster), 'aws', 'gcp' or 'azure'.")
    region: NonEmptyStr | None = Field(
        default=None,
        description="Cloud region, e.g. 'us-east-1', 'us-central1', 'eastus'; required for clouds only.",
    )
    zones: Zones | None = Field(
        default=None,
        description=(
            "Availability zones of the region to use, unique, e.g. ['us-east-1a', 'us-east-1b'] "
            "(Azure: ['1', '2']): the network's zones on aws; the GPU pools' zones on gcp and azure (unless "
            "a pool sets its own), and the system nodes' on azure. Default: chosen by the cloud component."
        ),
    )
    kubernetes_version: KubernetesVersion = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description=(
            "Kubernetes MAJOR.MINOR version of the managed cluster, quoted; "
            f"{SUPPORTED_KUBERNETES_VERSIONS[0]} to {SUPPORTED_KUBERNETES_VERSIONS[-1]}. "
            f"Default: {DEFAULT_KUBERNETES_VERSION!r}. Clouds only."
        ),
    )
    cluster: ClusterConfig = Field(
        default_factory=ClusterConfig,
        description="The control plane. Default: a private endpoint. Clouds only.",
    )
    network: NetworkConfig = Field(
        default_factory=NetworkConfig, description="The private network. Default: a NAT gateway per zone. Clouds only."
    )
    system_pool: SystemPoolConfig = Field(
        default_factory=SystemPoolConfig, description="The CPU system nodes. Clouds only."
    )
    weight_store: WeightStoreConfig = Field(
        default_factory=WeightStoreConfig, description="Network access to the weight store. azure only."
    )
    gpu_pools: list[GpuPoolConfig] = Field(
        default_factory=list, description="GPU node pools; at least one for clouds, none for local."
    )
    model: ModelConfig = Field(default_factory=ModelConfig, description="The model to serve. Default: the demo model.")
    serving: ServingConfig = Field(default_factory=ServingConfig, description="The inference deployment.")
    local: LocalConfig = Field(default_factory=LocalConfig, description="Settings for cloud 'local' only.")
    api_key: ApiKey | None = Field(
        default=None,
        description=(
            "API key clients must send, set with `pulumi config set --secret shardstack:api_key`; the "
            "program stores it in a Secret. Wrap it with pulumi.Output.secret(...) before use. Default: none."
        ),
    )

    def _rules(self, checked: Checked) -> list[Problem]:
        problems = pool_name_problems(checked.items.get("gpu_pools", ()))
        if not checked.valid("cloud"):
            return problems
        if self.cloud == "local":
            problems += local_problems(self, checked)
        else:
            problems += cloud_problems(self, checked)
        problems += api_key_problems(self, checked)
        return problems

    def _resolve_defaults(self) -> None:
        if self.cloud != "local":
            for pool in self.gpu_pools:
                pool.gpus_per_node = gpus_per_node(pool, self.cloud)
