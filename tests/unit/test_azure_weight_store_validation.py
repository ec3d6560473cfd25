"""Azure WeightStore's argument checks (every problem at once, nothing registered) and its
multi-language schema."""

from __future__ import annotations

from typing import Any

import pytest
from azure_weight_store_helpers import CI, DEPLOYER, SUBNET, failure
from component_schema import component_schema

from shardstack.azure.weight_store import WeightStore, validate_weight_store_args
from shardstack.errors import ArgumentError
from shardstack.testing import run_refused


def test_valid_arguments_have_no_problems() -> None:
    args = {
        "resource_group_name": "llm-rg_(prod).1",
        "location": "westeurope",
        "account_name": "abc",
        "sku": "Standard_ZRS",
        "container_name": "llama-3-70b",
        "allowed_subnet_ids": [SUBNET, SUBNET.replace("nodes", "ci")],
        "allowed_ip_ranges": ["20.30.40.50", "20.30.0.0/30", "52.0.0.0/8", "20.30.40.51/32"],
        "writer_principal_ids": [DEPLOYER, CI.upper()],
        "writer_principal_type": "Group",
        "noncurrent_version_days": 1,
        "soft_delete_days": 1,
        "container_soft_delete_days": 365,
        "infrastructure_encryption": True,
        "protect": False,
        "tags": {"team": "ml"},
    }
    assert validate_weight_store_args(args) == []
    assert validate_weight_store_args({"resource_group_name": "g", "location": "westus3"}, name="w") == []


def test_resource_group_name_and_location_are_required() -> None:
    problems = run_refused(lambda: WeightStore("weights", {}), ArgumentError).problems  # type: ignore[typeddict-item]
    assert len(problems) == 2
    assert problems[0].startswith("resource_group_name is required")
    assert problems[1].startswith("location is required")


@pytest.mark.parametrize("location", ["", "east-us", "1eastus", 3, "East US"])
def test_bad_locations_are_reported(location: Any) -> None:
    (problem,) = failure(location=location).problems
    assert problem.startswith(f"location={location!r} is not an Azure region")


def test_a_location_display_name_gets_its_region_name_as_a_hint() -> None:
    (problem,) = failure(location="East US").problems
    assert problem.endswith("('East US' looks like a display name; its region name is 'eastus')")


@pytest.mark.parametrize("group", ["", "rg.", "my/rg", "a" * 91])
def test_bad_resource_group_names_are_reported(group: str) -> None:
    (problem,) = failure(resource_group_name=group).problems
    assert problem.startswith(f"resource_group_name={group!r} is not a resource group name")


@pytest.mark.parametrize(
    ("name", "rules"),
    [
        ("ab", 1),  # too short
        ("a" * 25, 1),  # too long
        ("AcmeWeights", 1),  # uppercase
        ("acme-weights", 1),  # a dash
        ("Ac", 2),  # too short and uppercase
    ],
)
def test_bad_account_names_are_reported(name: str, rules: int) -> None:
    problems = failure(account_name=name).problems
    assert len(problems) == rules, problems
    assert all(p.startswith(f"account_name={name!r}") for p in problems)


def test_a_component_name_without_letters_or_digits_needs_account_name() -> None:
    (problem,) = failure(name="--").problems
    assert problem.startswith("name='--' has no letters or digits to start a storage account name")
    args = {"resource_group_name": "g", "location": "eastus", "account_name": "abc"}
    assert validate_weight_store_args(args, name="--") == []


@pytest.mark.parametrize("container", ["ab", "Weights", "-weights", "weights-", "wei--ghts", "a" * 64, "we_ights"])
def test_bad_container_names_are_reported(container: str) -> None:
    (problem,) = failure(container_name=container).problems
    assert problem.startswith(f"container_name={container!r} is not a blob container name")


@pytest.mark.parametrize(
    ("ip_range", "message"),
    [
        ("10.0.0.0/8", "is not a public IPv4 range"),
        ("192.168.1.10", "is not a public IPv4 range"),
        ("100.64.0.1", "is not a public IPv4 range"),
        ("172.31.0.0/16", "is not a public IPv4 range"),
        ("0.0.0.0/0", "would open the storage account to the whole internet"),
        ("20.30.40.50/31", "does not take /31 blocks; list its two addresses instead ('20.30.40.50', '20.30.40.51')"),
        ("20.30.40.1/24", "has host bits set; the network it is in is '20.30.40.0/24'"),
        ("2001:db8::/32", "is an IPv6 range"),
        ("my-laptop", "is not an IPv4 address or CIDR block"),
    ],
)
def test_bad_ip_ranges_are_reported(ip_range: str, message: str) -> None:
    (problem,) = failure(allowed_ip_ranges=[ip_range]).problems
    assert problem.startswith(f"allowed_ip_ranges[0]={ip_range!r}")
    assert message in problem


def test_documentation_ranges_pass_as_the_placeholders_they_are_in_examples() -> None:
    # A stack file ships 203.0.113.0/24 for the user to replace; it matches no caller, so it is harmless.
    args = {
        "resource_group_name": "llm-rg",
        "location": "eastus",
        "allowed_ip_ranges": ["203.0.113.0/24", "198.51.100.7"],
    }
    assert validate_weight_store_args(args) == []


def test_an_ip_range_listed_twice_is_reported_also_as_a_32_block() -> None:
    (problem,) = failure(allowed_ip_ranges=["20.30.40.50", "20.30.40.50/32"]).problems
    assert problem == "allowed_ip_ranges[1]='20.30.40.50/32' repeats '20.30.40.50'; give each address or block once"


def test_lists_must_be_lists() -> None:
    problems = failure(
        allowed_subnet_ids=SUBNET, allowed_ip_ranges="20.30.40.50", writer_principal_ids=DEPLOYER
    ).problems
    assert problems == [
        f"allowed_subnet_ids={SUBNET!r} must be a list of subnet resource IDs",
        "allowed_ip_ranges='20.30.40.50' must be a list of IPv4 addresses or CIDR blocks",
        f"writer_principal_ids={DEPLOYER!r} must be a list of Microsoft Entra object IDs",
    ]


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        location="east-us",
        account_name="Acme-Weights",
        sku="Premium_LRS",
        container_name="Weights",
        allowed_subnet_ids=[
            "/subscriptions/x/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v",
            SUBNET,
            SUBNET.upper(),
        ],
        allowed_ip_ranges=["10.1.2.3"],
        writer_principal_ids=["alice@example.com", DEPLOYER, DEPLOYER.upper()],
        writer_principal_type="Person",
        noncurrent_version_days=0,
        soft_delete_days=366,
        container_soft_delete_days=True,
        infrastructure_encryption="yes",
        protect=1,
        tags={"azure-team": "ml"},
        tag={"x": "y"},
    )
    assert error.what == "invalid arguments for WeightStore 'weights'"
    problems = error.problems
    assert problems[0] == "unknown argument 'tag' (did you mean 'tags'?)"
    assert any(p.startswith("location='east-us' is not an Azure region") for p in problems)
    assert sum(p.startswith("account_name='Acme-Weights'") for p in problems) == 1  # the characters
    assert "sku='Premium_LRS' must be one of 'Standard_LRS', 'Standard_ZRS'" in problems
    assert any(p.startswith("container_name='Weights' is not a blob container name") for p in problems)
    assert any(p.startswith("allowed_subnet_ids[0]=") and "is not a subnet resource ID" in p for p in problems)
    assert f"allowed_subnet_ids[2]={SUBNET.upper()!r} is listed twice" in problems
    assert any(p.startswith("allowed_ip_ranges[0]='10.1.2.3' is not a public IPv4 range") for p in problems)
    assert any(
        p.startswith("writer_principal_ids[0]='alice@example.com' is not a Microsoft Entra object ID") for p in problems
    )
    assert f"writer_principal_ids[2]={DEPLOYER.upper()!r} is listed twice" in problems
    assert "writer_principal_type='Person' must be one of 'User', 'Group', 'ServicePrincipal'" in problems
    assert (
        "noncurrent_version_days=0 must be a whole number from 1 to 3650 (ten years is an archive's horizon, not a "
        "weight store's history)"
    ) in problems
    assert "soft_delete_days=366 must be a whole number from 0 to 365 (0 turns soft delete off)" in problems
    assert "container_soft_delete_days=True must be a whole number from 0 to 365 (0 turns soft delete off)" in problems
    assert "infrastructure_encryption='yes' must be true or false" in problems
    assert "protect=1 must be true or false" in problems
    assert any(p.startswith("tags['azure-team'] starts with a prefix Azure reserves") for p in problems)
    assert len(problems) == 17


def test_the_component_tag_cannot_be_overridden() -> None:
    (problem,) = failure(tags={"shardstack-component": "x"}).problems
    assert problem == "tags['shardstack-component'] is set by Shardstack itself; choose another key"


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("WeightStore", module="shardstack.azure.weight_store")
    (token,) = schema["resources"]
    resource = schema["resources"][token]
    assert sorted(resource["requiredInputs"]) == ["location", "resourceGroupName"]
    assert sorted(resource["inputProperties"]) == [
        "accountName",
        "allowedIpRanges",
        "allowedSubnetIds",
        "containerName",
        "containerSoftDeleteDays",
        "infrastructureEncryption",
        "location",
        "noncurrentVersionDays",
        "protect",
        "resourceGroupName",
        "sku",
        "softDeleteDays",
        "tags",
        "writerPrincipalIds",
        "writerPrincipalType",
    ]
    assert sorted(resource["properties"]) == ["accountId", "accountName", "containerName", "modelUriPrefix"]
    assert all(p.get("description") for p in resource["inputProperties"].values())
