"""ShardedInference's objects under recording mocks: the component and its children, a StatefulSet per
replica group, the namespace, the disruption budget, the labels, the outputs and the package schema."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from component_schema import component_schema
from sharded_inference_parts import (
    BASE,
    IMAGE,
    INSTANCE_SELECTOR,
    LWS,
    NETPOL,
    NS,
    PDB,
    SA,
    STS,
    SVC,
    failure,
    render,
    render_with_outputs,
    spec_of,
)

from shardstack.k8s import ShardedInference
from shardstack.testing import run_program


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one("shardstack:k8s:ShardedInference")
    assert component.name == "llm"
    children = graph.children(component)
    assert children and all(r.custom for r in children)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("llm-") for r in children)


def test_creates_the_expected_objects_for_two_groups() -> None:
    graph = render(replica_groups=2)
    assert graph.count_by_type() == {
        STS: 2,
        NS: 1,
        SVC: 3,  # two headless + the API Service
        SA: 1,
        NETPOL: 4,  # default deny, one per group, API
        PDB: 1,
    }


def test_provider_passed_to_the_component_reaches_every_child() -> None:
    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        ShardedInference("llm", {**BASE}, opts=pulumi.ResourceOptions(providers=[provider]))  # type: ignore[typeddict-item]

    graph = run_program(program)
    children = [r for r in graph if r.custom and r.type.startswith("kubernetes:") and r.inputs.get("apiVersion")]
    assert children
    assert all(r.provider and "::cluster::" in r.provider for r in children)


def test_statefulset_per_group_runs_shards_ranks_in_parallel_behind_its_headless_service() -> None:
    graph = render(shards=4, replica_groups=2)
    for g in (0, 1):
        sts = graph.one(STS, f"llm-g{g}").inputs
        assert sts["metadata"] == {
            "name": f"llm-g{g}",
            "namespace": "shardstack",
            "labels": sts["metadata"]["labels"],
            "annotations": sts["metadata"]["annotations"],  # the scanner's exceptions, see the test below
        }
        spec = sts["spec"]
        assert spec["replicas"] == 4
        assert spec["podManagementPolicy"] == "Parallel"
        assert spec["serviceName"] == f"llm-g{g}"
        assert spec["selector"]["matchLabels"] == {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}
        assert spec["template"]["metadata"]["labels"]["shardstack.dev/group"] == f"g{g}"
        assert spec["updateStrategy"] == {"type": "RollingUpdate"}


def test_default_is_one_replica_group() -> None:
    assert [r.name for r in render().of_type(STS)] == ["llm-g0"]


def test_default_mode_is_statefulset() -> None:
    graph = render()
    assert graph.of_type(STS) and not graph.of_type(LWS)


def test_pulumi_up_waits_for_the_ranks_unless_the_weights_come_later() -> None:
    waiting = render(replica_groups=2).of_type(STS)
    assert all(
        "annotations" not in (s.inputs["metadata"] or {})
        or "pulumi.com/skipAwait" not in s.inputs["metadata"]["annotations"]
        for s in waiting
    )
    later = render(replica_groups=2, wait_until_ready=False).of_type(STS)
    assert [s.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] for s in later] == ["true"] * 2
    assert "wait_until_ready='no' must be true or false" in str(failure(wait_until_ready="no"))


def test_default_namespace_is_shardstack() -> None:
    assert {r.inputs["metadata"]["namespace"] for r in render() if r.custom and r.type != NS} == {"shardstack"}


def test_existing_namespace_is_used_when_create_namespace_is_false() -> None:
    graph = render(namespace="serving", create_namespace=False)
    assert graph.of_type(NS) == []
    assert {r.inputs["metadata"]["namespace"] for r in graph if r.custom} == {"serving"}


def test_one_disruption_budget_lets_at_most_one_rank_of_all_groups_go_at_a_time() -> None:
    pdb = render(replica_groups=3).one(PDB).inputs
    assert pdb["metadata"]["name"] == "llm"
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": INSTANCE_SELECTOR},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


# -- labels --------------------------------------------------------------------------------------------


def test_every_object_carries_the_recommended_labels() -> None:
    graph = render(labels={"team": "ml"})
    for r in graph:
        if not r.custom:
            continue
        labels = r.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "shardstack-inference", r.name
        assert labels["app.kubernetes.io/instance"] == "llm"
        assert labels["app.kubernetes.io/part-of"] == "shardstack"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["app.kubernetes.io/component"]
        assert labels["team"] == "ml"
    pod_labels = spec_of(graph.one(STS))["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/component"] == "inference"
    assert pod_labels["team"] == "ml"


def test_version_label_is_left_off_for_a_digest_only_image() -> None:
    graph = render(image="ghcr.io/shardstack/runtime@sha256:" + "a" * 64)
    assert "app.kubernetes.io/version" not in graph.one(STS).inputs["metadata"]["labels"]


# -- outputs and schema --------------------------------------------------------------------------------


def test_outputs_of_a_private_deployment() -> None:
    outputs = render_with_outputs(replica_groups=2).outputs
    assert outputs == {
        "namespace": "shardstack",
        "service_name": "llm-api",
        "endpoint": "http://llm-api.shardstack.svc.cluster.local:8000",
        "service_account_name": "llm",
        "group_names": ["llm-g0", "llm-g1"],
    }


def test_public_endpoint_is_the_load_balancer_address() -> None:
    outputs = render_with_outputs(public=True, allowed_cidrs=["203.0.113.0/24"]).outputs
    assert outputs["endpoint"] == "http://llm-api.lb.example.com:8000"


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("ShardedInference")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["image", "modelUri", "shards"]
    assert sorted(resource["properties"]) == [
        "endpoint",
        "groupNames",
        "namespace",
        "serviceAccountName",
        "serviceName",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())


def test_the_scanner_checks_a_group_cannot_pass_are_annotated_on_it_with_why() -> None:
    # By tag, and with the API key from a Secret: checkov's digest, pull-policy and secrets-as-env checks cannot pass.
    tagged = render(api_key_secret={"name": "llm-key", "key": "token"}).one(STS, "llm-g0").inputs["metadata"]
    skips = {
        v.split("=", 1)[0]: v.split("=", 1)[1] for k, v in tagged["annotations"].items() if k.startswith("checkov")
    }
    assert set(skips) == {"CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_35"}
    assert "pin it by digest" in skips["CKV_K8S_43"] and "secretKeyRef" in skips["CKV_K8S_35"]
    # Pinned by digest and without secrets in env: nothing to excuse, no annotation.
    pinned = render(image=IMAGE + "@sha256:" + "0" * 64).one(STS, "llm-g0").inputs["metadata"]
    assert "annotations" not in pinned or not pinned["annotations"]


def test_the_grafana_dashboard_is_a_configmap_the_sidecar_loads_only_when_asked() -> None:
    from shardstack.k8s.dashboard import UID, dashboard_json

    assert not render().of_type("kubernetes:core/v1:ConfigMap")
    (config_map,) = render(grafana_dashboard=True).of_type("kubernetes:core/v1:ConfigMap")
    assert config_map.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map.inputs["metadata"]["namespace"] == "shardstack"
    assert config_map.inputs["data"] == {f"{UID}.json": dashboard_json()}
