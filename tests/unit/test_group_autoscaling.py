"""GroupAutoscaling: the LeaderWorkerSet controller, KEDA and KEDA's HTTP add-on, each a Helm release of the pinned
chart version from its project's own repository, in the namespaces ShardedInference's autoscaling expects."""

from __future__ import annotations

from typing import Any

import pytest

from shardstack.errors import ArgumentError
from shardstack.k8s import GroupAutoscaling, charts, validate_group_autoscaling_args
from shardstack.k8s.autoscaling_specs import AUTOSCALING
from shardstack.k8s.group_scaler import EXTERNAL_SCALER_SERVICE, INTERCEPTOR_PROXY_SERVICE
from shardstack.testing import Graph, run_program, run_refused

RELEASE = "kubernetes:helm.sh/v3:Release"


def render(**args: Any) -> Graph:
    return run_program(lambda: GroupAutoscaling("autoscaling", args))  # type: ignore[arg-type]


def releases(graph: Graph) -> dict[str, dict[str, Any]]:
    return {r.inputs["chart"]: r.inputs for r in graph.of_type(RELEASE)}


def test_each_chart_is_released_at_its_pinned_version_from_its_repository() -> None:
    found = releases(render())
    assert set(found) == {charts.LEADERWORKERSET.name, charts.KEDA.name, charts.HTTP_ADD_ON.name}
    for chart in (charts.LEADERWORKERSET, charts.KEDA, charts.HTTP_ADD_ON):
        release = found[chart.name]
        assert release["version"] == chart.version
        assert release.get("repositoryOpts", {}).get("repo", "") == chart.repository
        assert release["atomic"] is True and release["createNamespace"] is True
    # An OCI chart carries its registry in its name; a repository chart is looked up in the repository.
    assert (
        charts.LEADERWORKERSET.name.startswith("oci://") and "repositoryOpts" not in found[charts.LEADERWORKERSET.name]
    )


def test_pins_are_exact_released_versions() -> None:
    for chart in (charts.LEADERWORKERSET, charts.KEDA, charts.HTTP_ADD_ON):
        parts = chart.version.split(".")
        assert len(parts) == 3 and all(p.isdigit() for p in parts), chart


def test_the_add_on_is_named_as_the_services_shardedinference_calls_are() -> None:
    # The add-on's chart names its Services "<chart name>-interceptor-proxy" and "<chart name>-external-scaler".
    http = releases(render())[charts.HTTP_ADD_ON.name]
    assert f"{http['chart']}-interceptor-proxy" == INTERCEPTOR_PROXY_SERVICE
    assert f"{http['chart']}-external-scaler" == EXTERNAL_SCALER_SERVICE


def test_keda_and_the_add_on_share_the_namespace_shardedinference_expects_and_the_add_on_waits_for_keda() -> None:
    graph = render()
    found = releases(graph)
    keda, http = found[charts.KEDA.name], found[charts.HTTP_ADD_ON.name]
    assert keda["namespace"] == http["namespace"] == AUTOSCALING.arg("keda_namespace").default
    keda_urn = next(r.urn for r in graph.of_type(RELEASE) if r.inputs["chart"] == charts.KEDA.name)
    http_deps = next(r.dependencies for r in graph.of_type(RELEASE) if r.inputs["chart"] == charts.HTTP_ADD_ON.name)
    assert keda_urn in http_deps


def test_what_the_cluster_already_runs_is_left_out() -> None:
    assert set(releases(render(leaderworkerset=False))) == {charts.KEDA.name, charts.HTTP_ADD_ON.name}
    assert set(releases(render(keda=False, http_add_on=False))) == {charts.LEADERWORKERSET.name}
    assert releases(render(keda_namespace="autoscalers"))[charts.KEDA.name]["namespace"] == "autoscalers"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"leaderworkerset": False, "keda": False, "http_add_on": False}, "leaderworkerset=False is False and so are"),
        ({"keda_namespace": "kube-keda"}, "keda_namespace='kube-keda' starts with 'kube-'"),
        ({"keda": "yes"}, "keda='yes' must be true or false"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_registered(args: dict[str, Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in validate_group_autoscaling_args(args)), validate_group_autoscaling_args(
        args
    )
    run_refused(lambda: GroupAutoscaling("autoscaling", args), ArgumentError)  # type: ignore[arg-type]
