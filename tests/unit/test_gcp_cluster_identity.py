"""GCP Cluster under recording mocks: the nodes' least-privilege service account and its roles, and
what pods see of the node credentials."""

from __future__ import annotations

from gcp_cluster_helpers import (
    ACCOUNT,
    CLOUD_PLATFORM,
    NODE_POOL,
    NODE_ROLES,
    PROJECT,
    PROJECT_MEMBER,
    cluster_args,
    depends_on,
    render,
    system_pool,
)

from shardstack.gcp.cluster import Cluster, node_service_account_id
from shardstack.testing import run_program


def test_node_service_account_has_exactly_the_least_privilege_node_roles_on_the_project() -> None:
    graph = render()
    account = graph.one(ACCOUNT)
    assert account.inputs["accountId"] == "llm-nodes"
    members = graph.of_type(PROJECT_MEMBER)
    assert {m.inputs["role"] for m in members} == NODE_ROLES
    assert len(members) == len(NODE_ROLES)
    for member in members:
        assert member.inputs["member"] == account.outputs["member"]
        assert member.inputs["member"] == f"serviceAccount:llm-nodes@{PROJECT}.iam.gserviceaccount.com"
        assert member.inputs["project"] == PROJECT
        assert "condition" not in member.inputs


def test_system_pool_runs_as_the_node_account_after_its_roles_are_granted() -> None:
    graph = render()
    config = system_pool(graph)["nodeConfig"]
    assert config["serviceAccount"] == graph.one(ACCOUNT).outputs["email"]
    assert config["oauthScopes"] == CLOUD_PLATFORM  # IAM alone decides what the nodes may do
    pool = graph.one(NODE_POOL)
    assert all(depends_on(pool, member) for member in graph.of_type(PROJECT_MEMBER))


def test_pods_see_the_gke_metadata_server_not_the_node_credentials() -> None:
    config = system_pool(render())["nodeConfig"]
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["metadata"] == {"disable-legacy-endpoints": "true"}


def test_long_cluster_names_get_a_distinct_service_account_id_of_at_most_30_characters() -> None:
    long_names = ["a-rather-long-cluster-name-for-prod", "a-rather-long-cluster-name-for-test"]
    ids = [node_service_account_id(n) for n in long_names]
    assert all(6 <= len(i) <= 30 and i[0].isalpha() and i.endswith("-nodes") for i in ids), ids
    assert ids[0] != ids[1]
    graph = run_program(lambda: Cluster(long_names[0], cluster_args()))  # type: ignore[arg-type]
    assert graph.one(ACCOUNT).inputs["accountId"] == ids[0]
