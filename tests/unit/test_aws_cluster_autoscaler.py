"""ClusterAutoscaler under recording mocks: its IAM role and policy, Pod Identity, RBAC, Deployment and validation."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from component_schema import component_schema

from shardstack.aws.cluster_autoscaler import (
    IMAGE_TAGS,
    ClusterAutoscaler,
    validate_cluster_autoscaler_args,
)
from shardstack.errors import ArgumentError
from shardstack.kubernetes_versions import SUPPORTED_KUBERNETES_VERSIONS
from shardstack.testing import MOCK_AWS_REGION, UNKNOWN, Graph, run_program, run_refused

COMPONENT = "shardstack:aws:ClusterAutoscaler"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SA = "kubernetes:core/v1:ServiceAccount"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
K8S_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

BASE: dict[str, Any] = {"cluster_name": "llm", "kubernetes_version": "1.33"}
DESCRIBE_ACTIONS = {
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
}
SCALE_ACTIONS = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}


def render(preview: bool = False, **overrides: Any) -> Graph:
    args = {**BASE, **overrides}
    return run_program(lambda: ClusterAutoscaler("autoscaler", args), preview=preview)  # type: ignore[arg-type]


def failure(name: str = "autoscaler", **args: Any) -> ArgumentError:
    return run_refused(lambda: ClusterAutoscaler(name, args), ArgumentError)  # type: ignore[arg-type]


def statements(policy_json: str) -> list[dict[str, Any]]:
    policy = json.loads(policy_json)
    assert policy["Version"] == "2012-10-17"
    return policy["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def permissions(graph: Graph) -> list[dict[str, Any]]:
    return statements(graph.one(ROLE_POLICY).inputs["policy"])


def pod(graph: Graph) -> dict[str, Any]:
    return graph.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]


def container(graph: Graph) -> dict[str, Any]:
    (c,) = pod(graph)["containers"]
    return c


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str | None = None) -> bool:
    """Whether an RBAC rule list grants ``verb`` on ``resource`` (named ``name``) in API group ``group``."""
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and (not rule.get("resourceNames") or name in rule["resourceNames"])
        for rule in rules
    )


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


# -- IAM ------------------------------------------------------------------------------------------


def test_describe_actions_are_granted_on_every_resource_as_aws_requires() -> None:
    (describe,) = [s for s in permissions(render()) if set(as_list(s["Action"])) & DESCRIBE_ACTIONS]
    assert describe["Effect"] == "Allow"
    assert set(as_list(describe["Action"])) == DESCRIBE_ACTIONS
    assert as_list(describe["Resource"]) == ["*"]
    assert "Condition" not in describe


def test_scaling_is_allowed_only_on_this_clusters_auto_scaling_groups() -> None:
    (scale,) = [s for s in permissions(render()) if set(as_list(s["Action"])) & SCALE_ACTIONS]
    assert scale["Effect"] == "Allow"
    assert set(as_list(scale["Action"])) == SCALE_ACTIONS
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/llm": "owned"}}


def test_policy_grants_nothing_else() -> None:
    granted = [(a, s.get("Condition")) for s in permissions(render()) for a in as_list(s["Action"])]
    assert all(s["Effect"] == "Allow" for s in permissions(render()))
    assert {a for a, _ in granted} == DESCRIBE_ACTIONS | SCALE_ACTIONS
    assert len(granted) == len(DESCRIBE_ACTIONS | SCALE_ACTIONS)
    assert not any("*" in a for a, _ in granted)
    # Nothing that changes a resource is granted without the cluster's tag condition.
    assert all(condition is not None for action, condition in granted if action in SCALE_ACTIONS)


def test_tag_condition_follows_a_cluster_name_known_only_after_apply() -> None:
    def program() -> None:
        ClusterAutoscaler(
            "autoscaler",
            {"cluster_name": pulumi.Output.from_input("prod-eu"), "kubernetes_version": "1.33"},
        )

    graph = run_program(program)
    (scale,) = [s for s in permissions(graph) if "Condition" in s]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/prod-eu": "owned"}}
    assert "k8s.io/cluster-autoscaler/prod-eu" in container(graph)["command"][3]


def test_role_is_assumable_only_by_pod_identity_for_the_autoscaler_service_account() -> None:
    role = render(namespace="autoscaling").one(ROLE).inputs
    (trust,) = statements(role["assumeRolePolicy"])
    assert trust["Effect"] == "Allow"
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(as_list(trust["Action"])) == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": "llm",
            "aws:RequestTag/kubernetes-namespace": "autoscaling",
            "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler",
        }
    }
    assert len(role["namePrefix"]) <= 38


def test_policy_belongs_to_the_role() -> None:
    graph = render()
    assert graph.one(ROLE_POLICY).inputs["role"] == graph.one(ROLE).id


def test_pod_identity_association_binds_the_role_to_the_service_account() -> None:
    graph = render(namespace="autoscaling")
    association = graph.one(ASSOCIATION)
    sa = graph.one(SA).inputs["metadata"]
    assert association.inputs["clusterName"] == "llm"
    assert association.inputs["namespace"] == sa["namespace"] == "autoscaling"
    assert association.inputs["serviceAccount"] == sa["name"] == "cluster-autoscaler"
    assert association.inputs["roleArn"] == graph.one(ROLE).outputs["arn"]
    assert association.inputs["disableSessionTags"] is False
    # Not before the role may do its job.
    assert graph.one(ROLE_POLICY).urn in association.dependencies


def test_aws_resources_are_tagged() -> None:
    graph = render(tags={"team": "ml"})
    for kind in (ROLE, ASSOCIATION):
        assert graph.one(kind).inputs["tags"] == {"team": "ml", "shardstack:component": "autoscaler"}


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


# -- RBAC -----------------------------------------------------------------------------------------


def test_cluster_role_grants_what_the_autoscaler_needs() -> None:
    rules = render().one(CLUSTER_ROLE).inputs["rules"]
    for verb in ("watch", "list", "get", "update"):
        assert allows(rules, "", "nodes", verb)
    assert allows(rules, "", "pods/eviction", "create")
    assert allows(rules, "", "pods/status", "update")
    assert allows(rules, "", "events", "create") and allows(rules, "", "events", "patch")
    for resource in ("pods", "namespaces", "services", "persistentvolumeclaims", "persistentvolumes"):
        assert all(allows(rules, "", resource, verb) for verb in ("watch", "list", "get"))
    for resource in ("statefulsets", "replicasets", "daemonsets"):
        assert allows(rules, "apps", resource, "list")
    for resource in ("csinodes", "storageclasses", "csidrivers", "csistoragecapacities"):
        assert all(allows(rules, "storage.k8s.io", resource, verb) for verb in ("watch", "list", "get"))
    assert allows(rules, "policy", "poddisruptionbudgets", "watch")
    assert allows(rules, "batch", "jobs", "list")


def test_cluster_role_grants_no_writes_beyond_those() -> None:
    rules = render().one(CLUSTER_ROLE).inputs["rules"]
    writes = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if verb not in ("get", "list", "watch")
    }
    assert writes == {
        ("", "events", "create"),
        ("", "events", "patch"),
        ("", "pods/eviction", "create"),
        ("", "pods/status", "update"),
        ("", "nodes", "update"),
        ("batch", "jobs", "patch"),
        ("extensions", "jobs", "patch"),
    }
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in rules)


def test_namespace_role_covers_the_leader_lease_and_status_config_map() -> None:
    rules = render().one(K8S_ROLE).inputs["rules"]
    assert allows(rules, "coordination.k8s.io", "leases", "create")
    assert allows(rules, "coordination.k8s.io", "leases", "get", "cluster-autoscaler")
    assert allows(rules, "coordination.k8s.io", "leases", "update", "cluster-autoscaler")
    assert not allows(rules, "coordination.k8s.io", "leases", "update", "kube-scheduler")
    assert allows(rules, "", "configmaps", "update", "cluster-autoscaler-status")
    assert allows(rules, "", "configmaps", "get", "cluster-autoscaler-priority-expander")
    assert not allows(rules, "", "configmaps", "update", "aws-auth")


def test_bindings_give_the_roles_to_the_autoscaler_service_account() -> None:
    graph = render(namespace="ops")
    subject = [{"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "ops"}]
    cluster_binding = graph.one(CLUSTER_ROLE_BINDING).inputs
    assert cluster_binding["subjects"] == subject
    assert cluster_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": graph.one(CLUSTER_ROLE).inputs["metadata"]["name"],
    }
    binding = graph.one(ROLE_BINDING).inputs
    assert binding["subjects"] == subject
    assert binding["metadata"]["namespace"] == graph.one(K8S_ROLE).inputs["metadata"]["namespace"] == "ops"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": graph.one(K8S_ROLE).inputs["metadata"]["name"],
    }


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_objects_match_the_kubernetes_schema(version: str) -> None:
    import kubernetes_validate

    objects = render(kubernetes_version=version).k8s_objects()
    assert len(objects) == 7
    for document in objects:
        kubernetes_validate.validate(document, f"{version}.0", strict=True)


# -- validation -----------------------------------------------------------------------------------


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
