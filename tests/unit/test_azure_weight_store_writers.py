"""Azure WeightStore under recording mocks: writers get Storage Blob Data Contributor on the container
only, under role assignment names fixed by scope, principal and role."""

from __future__ import annotations

import uuid

import pulumi
from azure_weight_store_helpers import (
    CI,
    CONTRIBUTOR_ROLE,
    DEPLOYER,
    ROLE_ASSIGNMENT,
    SUBSCRIPTION,
    assert_container_scope,
    parse_role,
    render,
)

from shardstack.azure.roles import role_assignment_name
from shardstack.azure.weight_store import WeightStore
from shardstack.testing import run_program


def test_writers_get_storage_blob_data_contributor_on_the_container_only() -> None:
    graph = render(writer_principal_ids=[DEPLOYER])
    writer = graph.one(ROLE_ASSIGNMENT, f"weights-writer-{DEPLOYER}")
    assert parse_role(writer.inputs["roleDefinitionId"]) == (SUBSCRIPTION, CONTRIBUTOR_ROLE)
    assert_container_scope(graph, writer)
    assert writer.inputs["principalId"] == DEPLOYER
    assert writer.inputs["principalType"] == "User"


def test_writer_principal_type_applies_to_every_writer_and_outputs_are_named_by_position() -> None:
    def program() -> None:
        WeightStore(
            "weights",
            {
                "resource_group_name": "llm-rg",
                "location": "eastus",
                "writer_principal_ids": [CI, pulumi.Output.from_input(DEPLOYER)],
                "writer_principal_type": "ServicePrincipal",
            },
        )

    writers = run_program(program).of_type(ROLE_ASSIGNMENT)
    assert sorted(w.name for w in writers) == sorted(["weights-writer-1", f"weights-writer-{CI}"])
    assert sorted(w.inputs["principalId"] for w in writers) == sorted([CI, DEPLOYER])
    assert {w.inputs["principalType"] for w in writers} == {"ServicePrincipal"}


def test_no_writers_by_default() -> None:
    assert render().of_type(ROLE_ASSIGNMENT) == []


def test_role_assignment_names_are_guids_fixed_by_scope_principal_and_role() -> None:
    graph = render(writer_principal_ids=[DEPLOYER, CI])
    for writer in graph.of_type(ROLE_ASSIGNMENT):
        name = writer.inputs["roleAssignmentName"]
        assert str(uuid.UUID(name)) == name
        assert name == role_assignment_name(
            writer.inputs["scope"], writer.inputs["principalId"], writer.inputs["roleDefinitionId"]
        )
    names = {w.name: w.inputs["roleAssignmentName"] for w in graph.of_type(ROLE_ASSIGNMENT)}
    assert len(set(names.values())) == 2
    # The same grant renders the same name on every run; ARM ids are case-insensitive.
    again = render(writer_principal_ids=[DEPLOYER, CI]).of_type(ROLE_ASSIGNMENT)
    assert {w.name: w.inputs["roleAssignmentName"] for w in again} == names
    assert role_assignment_name("/A", DEPLOYER.upper(), "/R") == role_assignment_name("/a", DEPLOYER, "/r")
    assert role_assignment_name("/a", DEPLOYER, "/r") != role_assignment_name("/a", CI, "/r")
    assert role_assignment_name("/a", DEPLOYER, "/r") != role_assignment_name("/b", DEPLOYER, "/r")
    assert role_assignment_name("/a", DEPLOYER, "/r") != role_assignment_name("/a", DEPLOYER, "/s")
    # Pinned: a change of the namespace or the key would rename, so replace, every deployed role assignment.
    scope = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/g"
    role = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR_ROLE}"
    assert role_assignment_name(scope, DEPLOYER, role) == "a5b65ee1-7898-5790-81cb-a9e35669e84a"
