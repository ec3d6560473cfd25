"""The installation template (shardstack.installation.install) with stand-in parts, and LocalInstallation on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from installation_parts import env, pod_spec

from shardstack.errors import ArgumentError
from shardstack.installation import (
    GpuPools,
    KubernetesTarget,
    ManagedPrometheus,
    Monitoring,
    Serving,
    WeightAccess,
    install,
)
from shardstack.k8s import Toleration
from shardstack.local import LocalInstallation
from shardstack.testing import Graph, Resource, run_program

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
SHARDED_INFERENCE = "shardstack:k8s:ShardedInference"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
TAINT = Toleration(key="dedicated", operator="Equal", value="llm", effect="NoSchedule")


class PricedPool(pulumi.ComponentResource):
    """A pool component with one child: depending on a component means waiting for its children."""

    def __init__(self, name: str, hourly_usd_min: float, hourly_usd_max: float) -> None:
        super().__init__("test:index:Pool", name, None)
        self.hourly_usd_min, self.hourly_usd_max = hourly_usd_min, hourly_usd_max
        k8s.core.v1.ConfigMap(f"{name}-nodes", opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


class StandInParts:
    """Parts that record when each is made; the weight access is the test's to choose."""

    def __init__(self, access: WeightAccess | None = None) -> None:
        self.made: list[str] = []
        self.access = access

    def network(self) -> None:
        self.made.append("network")

    def cluster(self) -> KubernetesTarget:
        self.made.append("cluster")
        provider = k8s.Provider("cluster")
        self.namespace = k8s.core.v1.Namespace("ready", opts=pulumi.ResourceOptions(provider=provider))
        return KubernetesTarget(provider, ready=[self.namespace])

    def gpu_pools(self) -> GpuPools:
        self.made.append("gpu_pools")
        self.pools = [PricedPool("l4", 0.0, 1.604), PricedPool("h100", 98.32, 196.641)]
        return GpuPools(self.pools, self.pools)

    def weight_store(self) -> pulumi.Input[str]:
        self.made.append("weight_store")
        return "s3://weights/"

    def registry(self) -> None:
        self.made.append("registry")

    def gpu_enablement(self, monitoring: Monitoring) -> Sequence[Toleration]:
        self.made.append(f"gpu_enablement after {len(monitoring.resources)}")
        return [TAINT]

    collection = None

    def managed_prometheus(self, rule_groups: Sequence[Mapping[str, Any]]) -> ManagedPrometheus:
        raise AssertionError("these arguments ask for no managed Prometheus")

    def read_grant(self, namespace: str, service_account: str) -> WeightAccess:
        self.made.append(f"read_grant {namespace}/{service_account}")
        grant = k8s.core.v1.ConfigMap("grant")
        return self.access or WeightAccess({"role": "weights-reader"}, [grant])

    def outputs(self, serving: Serving) -> Mapping[str, Any]:
        self.made.append("outputs")
        return {"bucket_uri": "s3://weights/"}


def run(parts: StandInParts, inference: Mapping[str, Any] | None = None) -> Graph:
    """Install with ``parts`` and export every output the template returns."""

    def program() -> None:
        args = {
            "inference": {"image": IMAGE, "shards": 2, "namespace": "serving", **(inference or {})},
            "model_path": "llama/",
        }
        for key, value in install(parts, None, "llm", args).items():
            pulumi.export(key, value)

    return run_program(program)


def test_the_parts_are_made_in_order_and_the_ranks_wait_for_what_they_need() -> None:
    parts = StandInParts()
    graph = run(parts)

    assert parts.made == [
        "network",
        "cluster",
        "gpu_pools",
        "weight_store",
        "registry",
        "gpu_enablement after 1",  # the installation's Prometheus: the GPU add-ons' PodMonitor needs its CRDs
        "read_grant serving/llm",
        "outputs",
    ]
    inference = graph.one(SHARDED_INFERENCE)
    waited_for = {graph.named(name).urn for name in ("ready", "l4-nodes", "h100-nodes", "grant")}
    assert waited_for <= set(inference.dependencies)
    assert {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"} in pod_spec(graph)[
        "tolerations"
    ]


def test_the_outputs_are_the_templates_and_the_parts_own() -> None:
    graph = run(StandInParts())

    assert graph.outputs["model_uri"] == "s3://weights/llama/"
    assert graph.outputs["endpoint"] == "http://llm-api.serving.svc.cluster.local:8000"
    assert graph.outputs["gpu_usd_per_hour_min"] == 98.32
    assert graph.outputs["gpu_usd_per_hour_max"] == 198.25
    assert graph.outputs["bucket_uri"] == "s3://weights/"


def test_a_store_without_workload_identity_reaches_the_ranks_through_env_files_or_a_volume() -> None:
    keyed = run(
        StandInParts(
            WeightAccess(env={"AWS_ENDPOINT_URL_S3": "http://store:8333"}, secret_files={"credentials": "[default]"})
        ),
        {"env": {"LOG_LEVEL": "debug"}},
    )
    mounted = run(StandInParts(WeightAccess(weights_volume_claim="weights")))

    assert {"AWS_ENDPOINT_URL_S3": "http://store:8333", "LOG_LEVEL": "debug"}.items() <= env(keyed).items()
    assert any(v.get("secret") for v in pod_spec(keyed)["volumes"])
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "weights", "readOnly": True}} in pod_spec(
        mounted
    )["volumes"]
    # No workload identity: the service account is left without the cloud's annotations.
    assert not graph_service_account(mounted).inputs["metadata"].get("annotations")


def graph_service_account(graph: Graph) -> Resource:
    (account,) = [r for r in graph.of_type(SERVICE_ACCOUNT) if r.parent == graph.one(SHARDED_INFERENCE).urn]
    return account


def test_a_local_installation_sits_at_the_top_of_the_stack_under_fixed_names() -> None:
    # ShardedInferenceArgs declares model_uri required, though an installation fills it in from model_path.
    inference: Any = {"image": IMAGE, "shards": 1}

    def program() -> None:
        install = LocalInstallation(
            {"inference": inference, "model_path": "smollm2/", "api_key": "key"}, provider=k8s.Provider("local")
        )
        pulumi.export("model_uri", install.model_uri)
        pulumi.export("gpu_usd_per_hour_max", install.gpu_usd_per_hour_max)

    graph = run_program(program)
    top = {r.name for r in graph if r.parent is None}

    assert {"namespace", "api-key", "weights-access-key", "weights-secret-key", "weights", "inference"} <= top
    assert graph.outputs == {"model_uri": "s3://models/smollm2/", "gpu_usd_per_hour_max": 0.0}


def test_a_host_path_store_needs_its_directory_and_nothing_is_made_without_it() -> None:
    raised: list[ArgumentError] = []

    def program() -> None:
        provider = k8s.Provider("local")
        with pytest.raises(ArgumentError) as error:
            LocalInstallation(
                {
                    "inference": {"image": IMAGE, "shards": 1, "model_uri": "file:///models/smollm2/"},
                    "weights": {"store": "host-path"},
                },
                provider=provider,
            )
        raised.append(error.value)

    graph = run_program(program)

    assert [r.name for r in graph] == ["local"]  # the caller's provider only
    assert raised[0].problems == [
        "weights: host_path is required when store is 'host-path': the node's "
        "directory holding the checkpoints, e.g. '/srv/shardstack/models'"
    ]
