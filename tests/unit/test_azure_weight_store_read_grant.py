"""Azure WeightStore.grant_read under recording mocks: the identity, its federated credential, the
read-only role on the container, what it returns, and the arguments it refuses."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest
from azure_weight_store_helpers import (
    COMPONENT,
    CREDENTIAL,
    DEPLOYER,
    IDENTITY,
    ISSUER,
    READER_ROLE,
    ROLE_ASSIGNMENT,
    SUBSCRIPTION,
    assert_container_scope,
    parse_role,
    render_grant,
)
from pulumi_azure_native import managedidentity

from shardstack.azure.weight_store import ReadGrant, WeightStore, validate_read_grant
from shardstack.errors import ArgumentError
from shardstack.testing import run_program


def test_grant_read_creates_an_identity_in_the_stores_group_and_location() -> None:
    graph = render_grant(account_name="acmeweights01", tags={"team": "ml"})
    identity = graph.one(IDENTITY, "weights-read-shardstack-inference")
    assert identity.inputs == {
        "resourceGroupName": "llm-rg",
        "location": "eastus",
        # Named after the (globally unique) account, the namespace and the service account.
        "resourceName": "acmeweights01-shardstack-inference",
        "tags": {"shardstack-component": "weights", "team": "ml"},
    }


def test_grant_read_trusts_the_clusters_issuer_for_exactly_this_service_account() -> None:
    graph = render_grant("serving", "llm.v1")
    credential = graph.one(CREDENTIAL, "weights-read-serving-llm.v1-federation")
    identity = graph.one(IDENTITY)
    assert credential.inputs == {
        "resourceGroupName": "llm-rg",
        "resourceName": identity.outputs["name"],
        "federatedIdentityCredentialResourceName": "serving-llm-v1",  # '.' is not allowed in the name
        "issuer": ISSUER,
        "subject": "system:serviceaccount:serving:llm.v1",
        "audiences": ["api://AzureADTokenExchange"],
    }


def test_grant_read_gives_the_identity_storage_blob_data_reader_on_the_container_only() -> None:
    graph = render_grant()
    (reader,) = graph.of_type(ROLE_ASSIGNMENT)
    assert reader.name == "weights-read-shardstack-inference-reader"
    assert parse_role(reader.inputs["roleDefinitionId"]) == (SUBSCRIPTION, READER_ROLE)
    assert_container_scope(graph, reader)
    assert reader.inputs["principalId"] == graph.one(IDENTITY).outputs["principalId"]
    assert reader.inputs["principalType"] == "ServicePrincipal"


def test_the_reader_gets_no_write_role_and_nothing_beyond_the_container() -> None:
    graph = render_grant(writer_principal_ids=[DEPLOYER])
    principal = graph.one(IDENTITY).outputs["principalId"]
    for assignment in graph.of_type(ROLE_ASSIGNMENT):
        if assignment.inputs["principalId"] == principal:
            assert parse_role(assignment.inputs["roleDefinitionId"])[1] == READER_ROLE
            assert_container_scope(graph, assignment)
        else:
            assert assignment.inputs["principalId"] == DEPLOYER
    assert sum(a.inputs["principalId"] == principal for a in graph.of_type(ROLE_ASSIGNMENT)) == 1


def test_grant_read_returns_what_the_service_account_and_pods_need() -> None:
    grants: list[ReadGrant] = []

    def program() -> None:
        store = WeightStore("weights", {"resource_group_name": "llm-rg", "location": "eastus"})
        grant = store.grant_read("shardstack", "inference", oidc_issuer_url=pulumi.Output.from_input(ISSUER))
        grants.append(grant)
        pulumi.export("client_id", grant.identity_client_id)
        pulumi.export("principal_id", grant.principal_id)
        pulumi.export("annotations", grant.service_account_annotations)

    graph = run_program(program)
    (grant,) = grants
    identity = graph.one(IDENTITY).outputs
    assert graph.outputs == {
        "client_id": identity["clientId"],
        "principal_id": identity["principalId"],
        "annotations": {"azure.workload.identity/client-id": identity["clientId"]},
    }
    assert (grant.namespace, grant.service_account) == ("shardstack", "inference")
    assert grant.pod_labels == {"azure.workload.identity/use": "true"}
    assert [type(r).__name__ for r in grant.resources] == [
        "UserAssignedIdentity",
        "FederatedIdentityCredential",
        "RoleAssignment",
    ]
    assert isinstance(grant.resources[0], managedidentity.UserAssignedIdentity)
    assert graph.one(CREDENTIAL).inputs["issuer"] == ISSUER
    with pytest.raises(AttributeError):
        grant.namespace = "other"  # type: ignore[misc]


def test_grant_read_passes_options_to_what_it_creates_and_keeps_none_of_it() -> None:
    def program() -> None:
        store = WeightStore("weights", {"resource_group_name": "llm-rg", "location": "eastus"})
        cluster = managedidentity.UserAssignedIdentity("cluster-stand-in", resource_group_name="llm-rg")
        store.grant_read(
            "shardstack", "inference", oidc_issuer_url=ISSUER, opts=pulumi.ResourceOptions(depends_on=[cluster])
        )

    graph = run_program(program)
    component = graph.one(COMPONENT)
    stand_in = graph.one(IDENTITY, "cluster-stand-in")
    for created in (
        graph.one(IDENTITY, "weights-read-shardstack-inference"),
        graph.one(CREDENTIAL),
        graph.one(ROLE_ASSIGNMENT),
    ):
        assert created.parent == component.urn
        assert stand_in.urn in created.dependencies
        assert (created.protect, created.retain_on_delete) == (False, False)


def test_long_names_are_cut_to_what_azure_accepts_without_colliding() -> None:
    service_account = "s" * 200
    graph = render_grant("shardstack", service_account, account_name="acmeweights01")
    identity_name = graph.one(IDENTITY).inputs["resourceName"]
    credential_name = graph.one(CREDENTIAL).inputs["federatedIdentityCredentialResourceName"]
    assert len(identity_name) == 128 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", identity_name)
    assert len(credential_name) == 120 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", credential_name)
    other = render_grant("shardstack", service_account[:-1] + "t", account_name="acmeweights01")
    assert other.one(IDENTITY).inputs["resourceName"] != identity_name


def grant_failure(namespace: Any, service_account: Any, oidc_issuer_url: Any = ISSUER) -> ArgumentError:
    errors: list[ArgumentError] = []

    def program() -> None:
        store = WeightStore("weights", {"resource_group_name": "llm-rg", "location": "eastus"})
        try:
            store.grant_read(namespace, service_account, oidc_issuer_url=oidc_issuer_url)
        except ArgumentError as error:
            errors.append(error)

    graph = run_program(program)
    assert errors, "expected an ArgumentError"
    assert graph.of_type(IDENTITY) == graph.of_type(CREDENTIAL) == graph.of_type(ROLE_ASSIGNMENT) == []
    return errors[0]


def test_grant_read_reports_every_bad_argument_and_creates_nothing() -> None:
    error = grant_failure("Shard_Stack", "Inference!", oidc_issuer_url="http://issuer.example.com/")
    assert error.what == "invalid arguments for WeightStore 'weights'.grant_read"
    assert len(error.problems) == 3
    assert error.problems[0].startswith("namespace='Shard_Stack' is not a valid Kubernetes name")
    assert error.problems[1].startswith("service_account='Inference!' is not a valid Kubernetes object name")
    assert error.problems[2].startswith("oidc_issuer_url='http://issuer.example.com/' is not an OIDC issuer URL")


def test_grant_read_twice_for_the_same_service_account_is_refused() -> None:
    errors: list[ArgumentError] = []

    def program() -> None:
        store = WeightStore("weights", {"resource_group_name": "llm-rg", "location": "eastus"})
        store.grant_read("shardstack", "inference", oidc_issuer_url=ISSUER)
        store.grant_read("shardstack", "other", oidc_issuer_url=ISSUER)
        try:
            store.grant_read("shardstack", "inference", oidc_issuer_url=ISSUER)
        except ArgumentError as error:
            errors.append(error)

    graph = run_program(program)
    (error,) = errors
    assert error.problems == ["shardstack/inference already has read access to this WeightStore"]
    assert len(graph.of_type(IDENTITY)) == len(graph.of_type(CREDENTIAL)) == len(graph.of_type(ROLE_ASSIGNMENT)) == 2


def test_read_grant_validation_accepts_an_issuer_output() -> None:
    problems: list[list[str]] = []
    # Outputs only inside a program: one made outside leaves work behind that the next run waits on.
    run_program(lambda: problems.append(validate_read_grant("ns", "sa", pulumi.Output.from_input("not a url"))))
    assert problems == [[]]
    assert validate_read_grant("shardstack", "inference", ISSUER) == []
    (problem,) = validate_read_grant("shardstack", "inference", None)
    assert problem.startswith("oidc_issuer_url=None is not an OIDC issuer URL")
