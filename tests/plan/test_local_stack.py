"""The `local` stack planned from its real stack file: the whole graph a `pulumi up -s local` creates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shardstack.plan import plan_stack
from shardstack.testing import Graph

STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def _stack_file(repo: Path) -> dict[str, Any]:
    return yaml.safe_load((repo / "stacks" / "Pulumi.local.yaml").read_text())["config"]


def _container(graph: Graph) -> dict[str, Any]:
    (statefulset,) = graph.of_type(STATEFULSET)
    (container,) = statefulset.inputs["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture(scope="module")
def graph() -> Graph:
    return plan_stack("local", Path(__file__).resolve().parents[2]).graph


def test_every_kubernetes_object_goes_to_the_current_kubeconfig_context(graph: Graph) -> None:
    provider = graph.one("pulumi:providers:kubernetes")
    assert "context" not in provider.inputs  # no context given: the current one
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.provider and r.provider.startswith(provider.urn) for r in objects)


def test_the_demo_model_is_split_into_two_cpu_ranks(graph: Graph) -> None:
    (statefulset,) = graph.of_type(STATEFULSET)
    pod = statefulset.inputs["spec"]["template"]["spec"]
    container = _container(graph)

    assert statefulset.inputs["spec"]["replicas"] == 2
    assert _env(container)["SHARDSTACK_WORLD_SIZE"] == "2"
    assert not any("nvidia.com/gpu" in r for r in container["resources"].values())
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert container["resources"]["requests"]["cpu"] == "1"
    assert container["resources"]["limits"]["memory"] == "2Gi"


def test_weights_come_from_the_in_cluster_store_with_keys_in_a_mounted_file(graph: Graph) -> None:
    env = _env(_container(graph))
    store = graph.one("shardstack:k8s:LocalWeightsStore")

    assert env["SHARDSTACK_MODEL_URI"] == "s3://models/demo/smollm2-135m-instruct"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://weights.shardstack.svc.cluster.local:8333"
    assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith("/var/run/secrets/shardstack/")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert graph.children(store)
    assert graph.outputs["model_uri"] == env["SHARDSTACK_MODEL_URI"]


def test_the_api_stays_inside_the_cluster(graph: Graph) -> None:
    services = graph.of_type("kubernetes:core/v1:Service")
    assert all(s.inputs["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services)
    assert graph.outputs["endpoint"] == "http://inference-api.shardstack.svc.cluster.local:8000"


def test_the_namespace_enforces_the_restricted_pod_security_standard(graph: Graph) -> None:
    (namespace,) = graph.of_type("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["name"] == "shardstack"
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # Components register only after the namespace exists, and their children only after them.
    components = [r for r in graph if not r.custom]
    assert components and all(namespace.urn in r.dependencies for r in components)


def test_a_local_cluster_costs_nothing_per_hour(graph: Graph) -> None:
    assert graph.outputs["gpu_usd_per_hour"] == {"at_min_nodes": 0, "at_max_nodes": 0}


def test_host_path_weights_mount_read_only_through_a_persistent_volume(repo: Path, scratch_project) -> None:
    config = _stack_file(repo)
    config["shardstack:local"]["weights"] = {"store": "host-path", "host_path": "/srv/models", "storage_gib": 5}
    graph = plan_stack("hostpath", scratch_project("hostpath", config)).graph

    volume = graph.one("kubernetes:core/v1:PersistentVolume").inputs["spec"]
    claim = graph.one("kubernetes:core/v1:PersistentVolumeClaim").inputs
    container = _container(graph)
    pod = graph.of_type(STATEFULSET)[0].inputs["spec"]["template"]["spec"]

    assert volume["hostPath"] == {"path": "/srv/models", "type": "Directory"}
    assert volume["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["accessModes"] == claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert volume["claimRef"] == {"namespace": "shardstack", "name": claim["metadata"]["name"]}
    assert {"name": "weights", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
    assert {
        "name": "weights",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"], "readOnly": True},
    } in pod["volumes"]
    # The pods themselves carry no hostPath: the restricted profile still holds.
    assert not any("hostPath" in v for v in pod["volumes"])
    assert _env(container)["SHARDSTACK_MODEL_URI"] == "file:///models/demo/smollm2-135m-instruct"
    assert graph.of_type("shardstack:k8s:LocalWeightsStore") == []


def test_a_kube_context_and_an_api_key_are_honoured(repo: Path, scratch_project) -> None:
    config = _stack_file(repo)
    config["shardstack:local"]["kube_context"] = "kind-shardstack"
    config["shardstack:api_key"] = {"secure": "v1:AAAA"}
    graph = plan_stack("keyed", scratch_project("keyed", config)).graph

    assert graph.one("pulumi:providers:kubernetes").inputs["context"] == "kind-shardstack"
    secret = graph.one("kubernetes:core/v1:Secret", "api-key").inputs
    env = _env(_container(graph))
    assert env["SHARDSTACK_API_KEY"] == {
        "secretKeyRef": {"name": secret["metadata"]["name"], "key": "api-key", "optional": False}
    }
