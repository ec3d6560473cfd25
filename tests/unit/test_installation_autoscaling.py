"""Every cloud installation takes ShardedInference's ``autoscaling`` and installs what it needs as its own resources:
GroupAutoscaling's pinned releases, before the deployment whose ScaledObject needs their CRDs, with KEDA's namespace
wired into the autoscaling."""

from __future__ import annotations

from typing import Any

import pytest
from installation_parts import refused_installation, render_installation

from shardstack.aws import AwsInstallation
from shardstack.azure import AzureInstallation
from shardstack.gcp import GcpInstallation
from shardstack.testing import Graph

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
POOLS = [{"name": "t4", "gpu": "t4", "max_nodes": 4}]
AUTOSCALING = {"min_groups": 0, "max_groups": 3, "prometheus_url": "http://prometheus-operated.monitoring.svc:9090"}
INSTALLATIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "aws": (AwsInstallation, {}),
    "gcp": (GcpInstallation, {"region": "us-central1"}),
    "azure": (AzureInstallation, {"location": "eastus"}),
}
GROUP_AUTOSCALING = "shardstack:k8s:GroupAutoscaling"
SHARDED_INFERENCE = "shardstack:k8s:ShardedInference"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
RELEASE = "kubernetes:helm.sh/v3:Release"


def args(cloud: str, **overrides: Any) -> dict[str, Any]:
    inference = {"image": IMAGE, "shards": 2, "mode": "leaderworkerset", "autoscaling": AUTOSCALING}
    return {**INSTALLATIONS[cloud][1], "gpu_pools": POOLS, "inference": inference, "model_path": "m/", **overrides}


def render(cloud: str, **overrides: Any) -> Graph:
    return render_installation(INSTALLATIONS[cloud][0], "llm", args(cloud, **overrides))


@pytest.mark.parametrize("cloud", INSTALLATIONS)
def test_the_installation_installs_group_autoscaling_before_the_deployment(cloud: str) -> None:
    graph = render(cloud)
    scaling = graph.one(GROUP_AUTOSCALING)
    installation = graph.roots()[0]
    assert scaling.parent == installation.urn
    assert {r.inputs["chart"] for r in graph.descendants(scaling) if r.type == RELEASE} == {
        "oci://registry.k8s.io/lws/charts/lws", "keda", "keda-add-ons-http"}  # fmt: skip
    # Depending on a component is depending on its resources: the releases, which bring the CRDs.
    releases = {r.urn for r in graph.descendants(scaling) if r.type == RELEASE}
    assert releases <= set(graph.one(SHARDED_INFERENCE).dependencies)
    trigger = {t["name"]: t for t in graph.one(SCALED_OBJECT).inputs["spec"]["triggers"]}["interceptor"]
    assert trigger["metadata"]["scalerAddress"].startswith("keda-add-ons-http-external-scaler.keda:")


def test_what_the_cluster_already_runs_is_left_out_and_kedas_namespace_follows() -> None:
    graph = render("aws", group_autoscaling={"keda": False, "http_add_on": False, "keda_namespace": "autoscalers"})
    scaling = graph.descendants(graph.one(GROUP_AUTOSCALING))
    assert {r.inputs["chart"] for r in scaling if r.type == RELEASE} == {"oci://registry.k8s.io/lws/charts/lws"}
    trigger = {t["name"]: t for t in graph.one(SCALED_OBJECT).inputs["spec"]["triggers"]}["interceptor"]
    assert trigger["metadata"]["scalerAddress"].startswith("keda-add-ons-http-external-scaler.autoscalers:")


def test_without_autoscaling_nothing_is_installed() -> None:
    graph = render("gcp", inference={"image": IMAGE, "shards": 2})
    assert graph.of_type(GROUP_AUTOSCALING) == []
    assert not {"keda", "keda-add-ons-http"} & {r.inputs["chart"] for r in graph.of_type(RELEASE)}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"group_autoscaling": {"keda": False}, "inference": {"image": IMAGE, "shards": 2}},
         "group_autoscaling is given without inference.autoscaling"),
        ({"inference": {"image": IMAGE, "shards": 2, "mode": "leaderworkerset",
                        "autoscaling": {**AUTOSCALING, "keda_namespace": "keda"}}},
         "inference: autoscaling has unknown argument 'keda_namespace'"),
        ({"group_autoscaling": {"keda": "no"}}, "group_autoscaling: keda='no' must be true or false"),
        ({"inference": {"image": IMAGE, "shards": 2, "autoscaling": AUTOSCALING}},
         "inference: autoscaling needs mode 'leaderworkerset'"),
    ],
)  # fmt: skip
def test_bad_autoscaling_arguments_are_refused_naming_the_part(overrides: dict[str, Any], expected: str) -> None:
    error = refused_installation(AwsInstallation, "llm", args("aws", **overrides))
    assert any(p.startswith(expected) for p in error.problems), error.problems
