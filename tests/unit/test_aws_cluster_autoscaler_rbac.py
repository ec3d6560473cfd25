"""AWS ClusterAutoscaler under recording mocks: its Kubernetes RBAC (the cluster role, the namespace
role and their bindings), and nothing more."""

from __future__ import annotations

from typing import Any

from aws_cluster_autoscaler_helpers import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, K8S_ROLE, ROLE_BINDING, render


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str | None = None) -> bool:
    """Whether an RBAC rule list grants ``verb`` on ``resource`` (named ``name``) in API group ``group``."""
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and (not rule.get("resourceNames") or name in rule["resourceNames"])
        for rule in rules
    )


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
