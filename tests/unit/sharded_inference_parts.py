"""What the ShardedInference tests render and read: the base arguments, the graph planned under the
recording mocks, and its pods, containers, environment and network policies."""

from __future__ import annotations

from typing import Any

import pulumi

from shardstack.errors import ArgumentError
from shardstack.k8s import ShardedInference
from shardstack.testing import Graph, Resource, run_program, run_refused

STS = "kubernetes:apps/v1:StatefulSet"
SVC = "kubernetes:core/v1:Service"
NS = "kubernetes:core/v1:Namespace"
SA = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
BASE: dict[str, Any] = {"image": IMAGE, "model_uri": "s3://weights/llama/", "shards": 2}
INSTANCE_SELECTOR = {"app.kubernetes.io/name": "shardstack-inference", "app.kubernetes.io/instance": "llm"}


def render(name: str = "llm", **overrides: Any) -> Graph:
    return run_program(lambda: ShardedInference(name, {**BASE, **overrides}))  # type: ignore[typeddict-item]


def render_with_outputs(**overrides: Any) -> Graph:
    def program() -> None:
        llm = ShardedInference("llm", {**BASE, **overrides})  # type: ignore[typeddict-item]
        for output in ("namespace", "service_name", "endpoint", "service_account_name", "group_names"):
            pulumi.export(output, getattr(llm, output))

    return run_program(program)


def failure(name: str = "llm", **overrides: Any) -> ArgumentError:
    """Return the ArgumentError the arguments raise, checking that nothing at all was registered."""
    return run_refused(lambda: ShardedInference(name, {**BASE, **overrides}), ArgumentError)  # type: ignore[typeddict-item]


def spec_of(resource: Resource) -> dict[str, Any]:
    return resource.inputs["spec"]


def pod_spec(graph: Graph, group: int = 0) -> dict[str, Any]:
    return spec_of(graph.one(STS, f"llm-g{group}"))["template"]["spec"]


def container(graph: Graph, group: int = 0) -> dict[str, Any]:
    (only,) = pod_spec(graph, group)["containers"]
    return only


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c["env"]}


def policy(graph: Graph, object_name: str) -> dict[str, Any]:
    found = [r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == object_name]
    assert len(found) == 1, [r.inputs["metadata"]["name"] for r in graph.of_type(NETPOL)]
    return spec_of(found[0])
