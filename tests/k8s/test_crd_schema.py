"""The CRD check refuses what the API server would: an undeclared field, a wrong type, a missing required field, a
value outside its enum or bounds, and a broken pod template inside a LeaderWorkerSet."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from crd_schema import load_crds, problems

CRDS = load_crds()
LWS = CRDS[("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")]
SCALED_OBJECT = CRDS[("keda.sh/v1alpha1", "ScaledObject")]
ROUTE = CRDS[("http.keda.sh/v1beta1", "InterceptorRoute")]
VERSION = "1.33.0"

GOOD_SCALED_OBJECT: dict[str, Any] = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "llm", "namespace": "serving"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "llm"},
        "minReplicaCount": 0,
        "maxReplicaCount": 3,
        "triggers": [
            {"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "4"}}
        ],
    },
}
GOOD_LWS: dict[str, Any] = {
    "apiVersion": "leaderworkerset.x-k8s.io/v1",
    "kind": "LeaderWorkerSet",
    "metadata": {"name": "llm"},
    "spec": {
        "replicas": 2,
        "leaderWorkerTemplate": {
            "size": 2,
            "workerTemplate": {"spec": {"containers": [{"name": "runtime", "image": "r:1"}]}},
        },
    },
}


def test_the_pinned_crds_declare_the_scale_subresource_autoscaling_relies_on() -> None:
    assert LWS["scale"]["specReplicasPath"] == ".spec.replicas"
    assert LWS["scale"]["labelSelectorPath"] == ".status.hpaPodSelector"  # the HPA counts leaders, one per group


def test_good_objects_pass() -> None:
    assert problems(GOOD_SCALED_OBJECT, SCALED_OBJECT, VERSION) == []
    assert problems(GOOD_LWS, LWS, VERSION) == []


def _changed(document: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["spec", "minReplicaCounts"], 0, "spec: Additional properties are not allowed ('minReplicaCounts'"),
        (["spec", "maxReplicaCount"], "3", "spec/maxReplicaCount: '3' is not of type 'integer'"),
        (["spec", "triggers"], KeyError, "spec: 'triggers' is a required property"),
        (["spec", "scaleTargetRef", "name"], KeyError, "spec/scaleTargetRef: 'name' is a required property"),
        (["spec", "pollingInterval"], 0, "spec/pollingInterval: 0 is less than the minimum of 1"),
        (["spec", "triggers", 0, "metadata", "threshold"], 4, "spec/triggers/0/metadata/threshold: 4 is not of type"),
    ],
)
def test_a_broken_scaled_object_is_refused_at_its_path(path: list[Any], value: Any, expected: str) -> None:
    found = problems(_changed(GOOD_SCALED_OBJECT, path, value), SCALED_OBJECT, VERSION)
    assert any(p.startswith(expected) for p in found), found


def test_a_broken_pod_template_inside_a_leaderworkerset_is_refused_by_the_official_schema() -> None:
    container = ["spec", "leaderWorkerTemplate", "workerTemplate", "spec", "containers", 0]
    found = problems(_changed(GOOD_LWS, [*container, "imagePullPolicy"], 7), LWS, VERSION)
    assert len(found) == 1 and found[0].startswith("spec/leaderWorkerTemplate/workerTemplate: PodTemplateSpec:"), found


def test_an_interceptor_route_needs_its_target_and_scaling_metric() -> None:
    found = problems({"apiVersion": "http.keda.sh/v1beta1", "kind": "InterceptorRoute", "metadata": {"name": "r"},
                      "spec": {"rules": [{"hosts": ["llm"]}]}}, ROUTE, VERSION)  # fmt: skip
    assert sorted(found) == [
        "spec: 'scalingMetric' is a required property",
        "spec: 'target' is a required property",
    ]
