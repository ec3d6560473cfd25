"""Azure Registry under recording mocks: the registry's settings, SKU and retention, AcrPull readers and
validation."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack.azure.registry import Registry, validate_registry_args
from shardstack.azure.roles import role_assignment_name
from shardstack.errors import ArgumentError
from shardstack.testing import Graph, run_program, run_refused

REGISTRY = "azure-native:containerregistry:Registry"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
RANDOM = "random:index/randomString:RandomString"
COMPONENT = "shardstack:azure:Registry"

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # what the mocks' getClientConfig answers
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
KUBELET = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
NODES_2 = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
ROLE_DEFINITION_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/providers/Microsoft\.Authorization/roleDefinitions/(?P<role>[0-9a-f-]{36})$"
)
REGISTRY_SCOPE = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
    r"Microsoft\.ContainerRegistry/registries/(?P<registry>[^/]+)$"
)


def render(name: str = "registry", **args: Any) -> Graph:
    args.setdefault("resource_group_name", "llm-rg")
    args.setdefault("location", "eastus")
    return run_program(lambda: Registry(name, args))  # type: ignore[arg-type]


def failure(name: str = "registry", **args: Any) -> ArgumentError:
    args.setdefault("resource_group_name", "llm-rg")
    args.setdefault("location", "eastus")
    return run_refused(lambda: Registry(name, args), ArgumentError)  # type: ignore[arg-type]


def registry(graph: Graph) -> dict[str, Any]:
    return graph.one(REGISTRY, "registry-registry").inputs


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render(reader_principal_ids=[KUBELET])
    (component,) = graph.of_type(COMPONENT)
    custom = [r for r in graph if r.custom]
    assert sorted(r.type for r in custom) == sorted([RANDOM, REGISTRY, ROLE_ASSIGNMENT])
    assert all(r.parent == component.urn for r in custom)


def test_registry_takes_entra_identities_only_on_premium_with_untagged_retention() -> None:
    inputs = registry(render())
    assert inputs["sku"] == {"name": "Premium"}
    assert inputs["adminUserEnabled"] is False
    assert inputs["anonymousPullEnabled"] is False
    assert inputs["publicNetworkAccess"] == "Enabled"  # AKS nodes pull through it: there is no private endpoint
    assert inputs["policies"] == {"retentionPolicy": {"status": "enabled", "days": 7}}
    assert inputs["resourceGroupName"] == "llm-rg"
    assert inputs["location"] == "eastus"
    assert inputs["tags"] == {"shardstack-component": "registry"}
    # The provider's default: Azure makes registries zone-redundant where the region has zones whatever this
    # says, and an explicit 'Enabled' would be refused in regions without zones.
    assert inputs["zoneRedundancy"] == "Disabled"


def test_untagged_retention_days_sets_the_retention_policy() -> None:
    assert registry(render(untagged_retention_days=0))["policies"] == {
        "retentionPolicy": {"status": "enabled", "days": 0}
    }
    assert registry(render(untagged_retention_days=365))["policies"] == {
        "retentionPolicy": {"status": "enabled", "days": 365}
    }


def test_standard_sku_has_no_retention_policy_and_keeps_everything_else() -> None:
    inputs = registry(render(sku="Standard"))
    assert inputs["sku"] == {"name": "Standard"}
    assert "policies" not in inputs
    assert inputs["adminUserEnabled"] is False
    assert inputs["anonymousPullEnabled"] is False


def test_registry_name_is_the_component_name_plus_a_random_suffix_by_default() -> None:
    graph = render("LLM-Images")
    suffix = graph.one(RANDOM, "LLM-Images-registry-suffix")
    assert suffix.inputs == {"length": 8, "lower": True, "upper": False, "numeric": True, "special": False}
    name = registry_name = graph.one(REGISTRY).inputs["registryName"]
    assert registry_name == "llmimages" + suffix.outputs["result"]
    assert re.fullmatch(r"[a-z0-9]{5,50}", name)
    long_name = render("r" * 60).one(REGISTRY).inputs["registryName"]
    assert len(long_name) == 50 and long_name.startswith("r" * 42)


def test_registry_name_and_tags_are_passed_through() -> None:
    graph = render(registry_name="AcmeImages", tags={"team": "ml"})
    assert registry(graph)["registryName"] == "AcmeImages"
    assert registry(graph)["tags"] == {"shardstack-component": "registry", "team": "ml"}
    assert graph.of_type(RANDOM) == []


def test_no_role_assignments_without_readers() -> None:
    assert render().of_type(ROLE_ASSIGNMENT) == []
    assert render(reader_principal_ids=[]).of_type(ROLE_ASSIGNMENT) == []


def test_each_reader_gets_acr_pull_on_this_registry_only() -> None:
    def program() -> None:
        Registry(
            "registry",
            {
                "resource_group_name": "llm-rg",
                "location": "eastus",
                "registry_name": "acmeimages",
                "reader_principal_ids": [KUBELET, pulumi.Output.from_input(NODES_2)],
            },
        )

    graph = run_program(program)
    created = graph.one(REGISTRY)
    readers = graph.of_type(ROLE_ASSIGNMENT)
    assert sorted(r.name for r in readers) == sorted(["registry-reader-1", f"registry-reader-{KUBELET}"])
    assert sorted(r.inputs["principalId"] for r in readers) == sorted([KUBELET, NODES_2])
    for reader in readers:
        # Pull and nothing else (no AcrPush, AcrDelete, Contributor), as a full role definition ID.
        match = ROLE_DEFINITION_ID.match(reader.inputs["roleDefinitionId"])
        assert match and (match["subscription"], match["role"]) == (SUBSCRIPTION, ACR_PULL)
        # Scoped to this registry's resource ID exactly: not its resource group or the subscription.
        assert reader.inputs["scope"] == created.id
        scope = REGISTRY_SCOPE.match(reader.inputs["scope"])
        assert scope and scope.groupdict() == {
            "subscription": SUBSCRIPTION,
            "group": "llm-rg",
            "registry": "acmeimages",
        }
        assert reader.inputs["principalType"] == "ServicePrincipal"
        name = reader.inputs["roleAssignmentName"]
        assert str(uuid.UUID(name)) == name
        assert name == role_assignment_name(
            reader.inputs["scope"], reader.inputs["principalId"], reader.inputs["roleDefinitionId"]
        )
        assert (reader.protect, reader.retain_on_delete) == (False, False)


def test_outputs() -> None:
    def program() -> None:
        created = Registry(
            "registry", {"resource_group_name": "llm-rg", "location": "eastus", "registry_name": "AcmeImages"}
        )
        pulumi.export("registry_url", created.registry_url)
        pulumi.export("registry_id", created.registry_id)

    assert run_program(program).outputs == {
        "registry_url": "acmeimages.azurecr.io",
        "registry_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/llm-rg/providers/"
        "Microsoft.ContainerRegistry/registries/AcmeImages",
    }


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {
        "resource_group_name": "llm-rg",
        "location": "westeurope",
        "registry_name": "Acme1",
        "sku": "Premium",
        "untagged_retention_days": 30,
        "reader_principal_ids": [KUBELET, NODES_2],
        "tags": {"team": "ml"},
    }
    assert validate_registry_args(args) == []
    assert validate_registry_args({"resource_group_name": "g", "location": "eastus", "sku": "Standard"}) == []


def test_resource_group_name_and_location_are_required() -> None:
    problems = run_refused(lambda: Registry("registry", {}), ArgumentError).problems  # type: ignore[typeddict-item]
    assert len(problems) == 2
    assert problems[0].startswith("resource_group_name is required")
    assert problems[1].startswith("location is required")


@pytest.mark.parametrize(
    ("name", "rules"),
    [("acme", 1), ("a" * 51, 1), ("acme-images", 1), ("acme_images", 1), ("ac-", 2)],
)
def test_bad_registry_names_are_reported(name: str, rules: int) -> None:
    problems = failure(registry_name=name).problems
    assert len(problems) == rules, problems
    assert all(p.startswith(f"registry_name={name!r}") for p in problems)


def test_a_component_name_without_letters_or_digits_needs_registry_name() -> None:
    (problem,) = failure(name="__").problems
    assert problem.startswith("name='__' has no letters or digits to start a registry name")


def test_basic_and_unknown_skus_are_refused() -> None:
    (problem,) = failure(sku="Basic").problems
    assert problem == (
        "sku='Basic' must be one of 'Standard', 'Premium' ('Basic' has too little pull throughput for GPU nodes)"
    )
    (problem,) = failure(sku="premium").problems
    assert problem == "sku='premium' must be one of 'Standard', 'Premium' (did you mean 'Premium'?)"


def test_untagged_retention_needs_premium() -> None:
    (problem,) = failure(sku="Standard", untagged_retention_days=7).problems
    assert problem == (
        "untagged_retention_days=7 needs sku 'Premium': the retention policy for untagged manifests is a Premium "
        "feature (sku is 'Standard')"
    )


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        resource_group_name="rg.",
        location="east us 2!",
        registry_name="my-registry",
        sku="Basic",
        untagged_retention_days=400,
        reader_principal_ids=["aks-kubelet", KUBELET, KUBELET],
        tags={"Microsoft.x": "y"},
        readers=[KUBELET],
    )
    assert error.what == "invalid arguments for Registry 'registry'"
    problems = error.problems
    assert problems[0] == "unknown argument 'readers'"
    assert any(p.startswith("resource_group_name='rg.' is not a resource group name") for p in problems)
    assert any(p.startswith("location='east us 2!' is not an Azure region") for p in problems)
    assert any(p.startswith("registry_name='my-registry' contains '-'") for p in problems)
    assert any(p.startswith("sku='Basic' must be one of") for p in problems)
    assert "untagged_retention_days=400 must be a whole number from 0 to 365" in problems
    assert any(
        p.startswith("reader_principal_ids[0]='aks-kubelet' is not a Microsoft Entra object ID") for p in problems
    )
    assert f"reader_principal_ids[2]={KUBELET!r} is listed twice" in problems
    assert any(p.startswith("tags['Microsoft.x'] starts with a prefix Azure reserves") for p in problems)
    assert len(problems) == 9


def test_reader_principal_ids_must_be_a_list() -> None:
    (problem,) = failure(reader_principal_ids=KUBELET).problems
    assert problem == f"reader_principal_ids={KUBELET!r} must be a list of Microsoft Entra object IDs"


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Registry", module="shardstack.azure.registry")
    (token,) = schema["resources"]
    resource = schema["resources"][token]
    assert sorted(resource["requiredInputs"]) == ["location", "resourceGroupName"]
    assert sorted(resource["inputProperties"]) == [
        "location",
        "readerPrincipalIds",
        "registryName",
        "resourceGroupName",
        "sku",
        "tags",
        "untaggedRetentionDays",
    ]
    assert sorted(resource["properties"]) == ["registryId", "registryUrl"]
    assert all(p.get("description") for p in resource["inputProperties"].values())


def test_tags_beyond_what_a_resource_carries_are_refused() -> None:
    (problem,) = failure(tags={f"k{i}": "v" for i in range(50)}).problems
    assert (
        problem
        == "tags has 50 entries; a resource carries at most 50 Azure tags and Shardstack sets 1, so give at most 49"
    )
    (problem,) = failure(tags={"shardstack-component": "mine"}).problems
    assert problem == "tags['shardstack-component'] is set by Shardstack itself; choose another key"
