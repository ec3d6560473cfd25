"""AWS ClusterAutoscaler under recording mocks: its structure, its Deployment (command, image, pod,
security, network policy), its outputs, and the Kubernetes schema of its objects."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest
from aws_cluster_autoscaler_helpers import (
    ASSOCIATION,
    BASE,
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    COMPONENT,
    DEPLOYMENT,
    K8S_ROLE,
    NETPOL,
    ROLE,
    ROLE_BINDING,
    ROLE_POLICY,
    SA,
    container,
    pod,
    render,
)

from shardstack.aws.cluster_autoscaler import IMAGE_TAGS, ClusterAutoscaler
from shardstack.kubernetes_versions import SUPPORTED_KUBERNETES_VERSIONS
from shardstack.testing import MOCK_AWS_REGION, UNKNOWN, run_program

# -- structure ------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one(COMPONENT)
    assert len(graph.children(component)) == len(graph) - 1
    assert all(r.name.startswith("autoscaler-") for r in graph.children(component))
    assert graph.count_by_type() == {
        ASSOCIATION: 1,
        ROLE: 1,
        ROLE_POLICY: 1,
        DEPLOYMENT: 1,
        SA: 1,
        CLUSTER_ROLE: 1,
        CLUSTER_ROLE_BINDING: 1,
        K8S_ROLE: 1,
        ROLE_BINDING: 1,
        NETPOL: 1,
    }


def test_kubernetes_provider_from_opts_reaches_the_kubernetes_objects_only() -> None:
    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        ClusterAutoscaler("autoscaler", BASE, opts=pulumi.ResourceOptions(providers=[provider]))  # type: ignore[arg-type]

    graph = run_program(program)
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs]
    assert len(objects) == 7
    assert all(r.provider and "::cluster::" in r.provider for r in objects)
    aws_resources = [r for r in graph if r.type.startswith("aws:")]
    assert len(aws_resources) == 3
    assert all(not r.provider or "::cluster::" not in r.provider for r in aws_resources)


def test_no_pod_disruption_budget_that_would_block_drains() -> None:
    assert not any("PodDisruptionBudget" in r.type for r in render())


# -- Deployment -----------------------------------------------------------------------------------


def test_command_discovers_this_clusters_node_groups_with_the_chosen_settings() -> None:
    command = container(render(expander="priority", scale_down_unneeded_time="30m", namespace="ops"))["command"]
    assert command == [
        "./cluster-autoscaler",
        "--cloud-provider=aws",
        "--namespace=ops",
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/llm",
        "--expander=priority",
        "--balance-similar-node-groups",
        "--skip-nodes-with-system-pods=false",
        "--scale-down-unneeded-time=30m",
        "--aws-use-static-instance-list=false",
        "--stderrthreshold=info",
        "--v=4",
    ]


def test_defaults_are_least_waste_and_ten_minutes_in_kube_system() -> None:
    graph = render()
    command = container(graph)["command"]
    assert "--expander=least-waste" in command
    assert "--scale-down-unneeded-time=10m" in command
    assert "--namespace=kube-system" in command
    assert graph.one(DEPLOYMENT).inputs["metadata"]["namespace"] == "kube-system"


def test_image_table_covers_exactly_the_supported_kubernetes_versions() -> None:
    assert tuple(IMAGE_TAGS) == SUPPORTED_KUBERNETES_VERSIONS


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_image_is_the_autoscaler_release_of_the_clusters_minor_version(version: str) -> None:
    image = container(render(kubernetes_version=version))["image"]
    repository, tag = image.rsplit(":", 1)
    assert repository == "registry.k8s.io/autoscaling/cluster-autoscaler"
    major, minor, patch = tag.removeprefix("v").split(".")
    assert f"{major}.{minor}" == version
    assert patch.isdigit()


def test_image_can_be_overridden_for_a_mirror_or_a_digest() -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cluster-autoscaler@sha256:" + "a" * 64
    graph = render(image=image)
    assert container(graph)["image"] == image
    assert "app.kubernetes.io/version" not in graph.one(DEPLOYMENT).inputs["metadata"]["labels"]


def test_one_replica_runs_on_the_system_pool_as_a_critical_pod() -> None:
    graph = render()
    spec = graph.one(DEPLOYMENT).inputs["spec"]
    assert spec["replicas"] == 1
    assert pod(graph)["nodeSelector"] == {"shardstack.dev/pool": "system"}
    assert pod(graph)["priorityClassName"] == "system-cluster-critical"
    assert pod(graph)["serviceAccountName"] == "cluster-autoscaler"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    # The autoscaler never removes the node it runs on.
    assert spec["template"]["metadata"]["annotations"] == {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}


def test_security_context_is_restricted() -> None:
    spec = pod(render())
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(render())["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not spec.get("volumes")
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")


def test_region_probe_and_resources() -> None:
    c = container(render())
    assert c["env"] == [{"name": "AWS_REGION", "value": MOCK_AWS_REGION}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health-check", "port": 8085, "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == c["livenessProbe"]["httpGet"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 8085, "protocol": "TCP"}]
    assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
    assert c["resources"]["limits"]["memory"] == c["resources"]["requests"]["memory"]


def test_no_inbound_traffic_reaches_the_autoscaler() -> None:
    graph = render(namespace="ops")
    policy = graph.one(NETPOL).inputs
    assert policy["metadata"]["namespace"] == "ops"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": graph.one(DEPLOYMENT).inputs["spec"]["selector"]["matchLabels"]},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }


def test_deployment_waits_for_pod_identity_and_rbac() -> None:
    graph = render()
    dependencies = graph.one(DEPLOYMENT).dependencies
    for kind in (ASSOCIATION, CLUSTER_ROLE_BINDING, ROLE_BINDING):
        assert graph.one(kind).urn in dependencies


def test_service_account_token_is_mounted_only_into_the_autoscaler() -> None:
    graph = render()
    assert graph.one(SA).inputs["automountServiceAccountToken"] is False
    assert pod(graph)["automountServiceAccountToken"] is True


def test_preview_leaves_the_role_arn_unknown() -> None:
    graph = render(preview=True)
    assert graph.one(ASSOCIATION).inputs["roleArn"] == UNKNOWN
    assert "--expander=least-waste" in container(graph)["command"]


def test_outputs() -> None:
    def program() -> None:
        autoscaler = ClusterAutoscaler("autoscaler", BASE)  # type: ignore[arg-type]
        pulumi.export("role_arn", autoscaler.role_arn)
        pulumi.export("service_account_name", autoscaler.service_account_name)

    graph = run_program(program)
    assert graph.outputs == {
        "role_arn": graph.one(ROLE).outputs["arn"],
        "service_account_name": "cluster-autoscaler",
    }
    assert graph.outputs["role_arn"].startswith("arn:aws:iam::123456789012:role/")


# -- Kubernetes schema ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_objects_match_the_kubernetes_schema(version: str) -> None:
    import kubernetes_validate

    objects = render(kubernetes_version=version).k8s_objects()
    assert len(objects) == 7
    for document in objects:
        kubernetes_validate.validate(document, f"{version}.0", strict=True)
