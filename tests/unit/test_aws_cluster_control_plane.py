"""AWS Cluster under recording mocks: the control plane's secrets, encrypted with a rotating key of
its own, and its logs."""

from __future__ import annotations

from aws_cluster_helpers import EKS, KEY, LOG_GROUP, LOG_TYPES, depends_on, eks, render


def test_secrets_are_encrypted_with_the_created_rotating_key() -> None:
    graph = render()
    key = graph.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert eks(graph)["encryptionConfig"] == {"provider": {"keyArn": key.outputs["arn"]}, "resources": ["secrets"]}


def test_control_plane_logs_go_to_a_log_group_with_retention_created_first() -> None:
    graph = render()
    group = graph.one(LOG_GROUP)
    assert group.inputs["name"] == "/aws/eks/llm/cluster"
    assert group.inputs["retentionInDays"] == 90
    assert depends_on(graph, graph.one(EKS), group)
    assert eks(graph)["enabledClusterLogTypes"] == LOG_TYPES


def test_log_types_and_retention_can_be_chosen() -> None:
    graph = render(log_types=["api", "audit"], log_retention_days=365)
    assert eks(graph)["enabledClusterLogTypes"] == ["api", "audit"]
    assert graph.one(LOG_GROUP).inputs["retentionInDays"] == 365
