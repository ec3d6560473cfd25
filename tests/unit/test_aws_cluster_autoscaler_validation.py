"""AWS ClusterAutoscaler's argument checks (every problem at once) and its multi-language schema."""

from __future__ import annotations

from aws_cluster_autoscaler_helpers import BASE, failure
from component_schema import component_schema

from shardstack.aws.cluster_autoscaler import validate_cluster_autoscaler_args


def test_valid_arguments_have_no_problems() -> None:
    assert validate_cluster_autoscaler_args(BASE, name="autoscaler") == []
    full = {**BASE, "namespace": "ops", "expander": "most-pods", "scale_down_unneeded_time": "1h30m", "tags": {}}
    assert validate_cluster_autoscaler_args(full) == []


def test_every_problem_is_reported_at_once() -> None:
    problems = failure(
        cluster_name="not a cluster",
        kubernetes_version="1.29",
        namespace="Kube_System",
        expander="fastest",
        scale_down_unneeded_time="ten minutes",
        tags={"aws:owner": "me"},
        expandr="random",
    ).problems
    assert len(problems) == 7
    assert problems[0] == "unknown argument 'expandr' (did you mean 'expander'?)"
    assert problems[1].startswith("cluster_name='not a cluster' is not an EKS cluster name")
    assert problems[2] == "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'"
    assert problems[3].startswith("namespace='Kube_System' is not a valid Kubernetes name")
    assert problems[4] == "expander='fastest' must be one of 'least-waste', 'priority', 'random', 'most-pods'"
    assert problems[5].startswith("scale_down_unneeded_time='ten minutes' is not a duration")
    assert problems[6].startswith("tags['aws:owner'] is not allowed: AWS reserves")


def test_required_arguments_are_named() -> None:
    problems = failure().problems
    assert problems[0].startswith("cluster_name is required")
    assert problems[1].startswith("kubernetes_version is required")


def test_a_patch_version_is_refused_with_a_hint() -> None:
    (problem,) = failure(cluster_name="llm", kubernetes_version="1.33.2").problems
    assert "(give the minor version only: EKS picks the patch release)" in problem


def test_the_price_expander_is_refused_on_aws() -> None:
    (problem,) = failure(**BASE, expander="price").problems
    assert problem.startswith("expander='price' cannot be used on AWS")
    assert "GCE" in problem


def test_a_zero_scale_down_time_is_refused() -> None:
    (problem,) = failure(**BASE, scale_down_unneeded_time="0m").problems
    assert problem.startswith("scale_down_unneeded_time='0m' must be longer than zero")


def test_an_empty_image_is_refused() -> None:
    (problem,) = failure(**BASE, image=" ").problems
    assert problem.startswith("image=' ' must be an image reference")


def test_a_name_that_cannot_be_a_label_is_refused() -> None:
    (problem,) = failure("auto scaler", **BASE).problems
    assert problem.startswith("name='auto scaler' is not a valid label value")


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("ClusterAutoscaler", module="shardstack.aws.cluster_autoscaler")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["clusterName", "kubernetesVersion"]
    assert sorted(resource["inputProperties"]) == [
        "clusterName",
        "expander",
        "image",
        "kubernetesVersion",
        "namespace",
        "scaleDownUnneededTime",
        "tags",
    ]
    assert sorted(resource["properties"]) == ["roleArn", "serviceAccountName"]
    assert all(p.get("description") for p in resource["inputProperties"].values())
