"""The whole stack config: its sections (generated from their specs, ``infra/config/sections.py``), the keys at
its top, and the rules across sections; each field's description is its documentation."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .defaults import Cloud
from .problems import Problem
from .rules import (
    api_key_problems,
    cloud_problems,
    gpus_per_node,
    local_problems,
    platform_problems,
    pool_name_problems,
)
from .section import Checked, Section, checked_by, spec_field
from .sections import (
    ClusterConfig,
    EndpointConfig,
    GpuPoolConfig,
    LocalConfig,
    ModelConfig,
    MonitoringConfig,
    NetworkConfig,
    ServingConfig,
    SystemPoolConfig,
    WeightStoreConfig,
)
from .specs import TOP
from .values import ApiKey


class StackConfig(Section):
    """The whole ``shardstack:`` namespace of a stack: what ``load`` returns."""

    cloud: Cloud = Field(description="Where to install: 'local' (an existing cluster), 'aws', 'gcp' or 'azure'.")
    region: Annotated[str | None, checked_by(TOP, "region")] = spec_field(TOP, "region")
    zones: Annotated[list[str] | None, checked_by(TOP, "zones")] = spec_field(TOP, "zones")
    kubernetes_version: Annotated[str, checked_by(TOP, "kubernetes_version")] = spec_field(TOP, "kubernetes_version")
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
    endpoint: EndpointConfig | None = Field(
        default=None,
        description=(
            "The managed endpoint, with serving.platform 'managed': its GPU, shape and instances. Default: none."
        ),
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig,
        description="The Prometheus every part reports to: in the cluster, or the cloud's managed one. Default: "
        "kube-prometheus-stack, with Grafana.",
    )
    local: LocalConfig = Field(default_factory=LocalConfig, description="Settings for cloud 'local' only.")
    api_key: ApiKey | None = Field(
        default=None,
        description=(
            "API key clients must send, set with `pulumi config set --secret shardstack:api_key`; the "
            "program stores it in a Secret. Wrap it with pulumi.Output.secret(...) before use. Default: none."
        ),
    )

    @property
    def managed(self) -> bool:
        """Whether the model is served by the cloud's managed endpoint rather than a cluster."""
        return self.serving.platform == "managed"

    @property
    def groups_at_most(self) -> int:
        """The most replica groups the deployment can have: autoscaling's ``max_groups``, else ``replica_groups``."""
        scaling = self.serving.autoscaling
        return scaling.max_groups if scaling is not None else self.serving.replica_groups

    def _rules(self, checked: Checked) -> list[Problem]:
        problems = pool_name_problems(checked.items.get("gpu_pools", ()))
        if not checked.valid("cloud"):
            return problems
        problems += platform_problems(self, checked)
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
