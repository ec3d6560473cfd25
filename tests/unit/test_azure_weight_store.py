"""Azure WeightStore under recording mocks: the component, the storage account's security settings,
firewall, encryption and name, protection, and the outputs."""

from __future__ import annotations

import re

import pulumi
from azure_weight_store_helpers import (
    ACCOUNT,
    BLOB_SERVICE,
    COMPONENT,
    CONTAINER,
    CREDENTIAL,
    DEPLOYER,
    IDENTITY,
    LIFECYCLE,
    RANDOM,
    ROLE_ASSIGNMENT,
    SUBNET,
    SUBSCRIPTION,
    account,
    render,
    render_grant,
)

from shardstack.azure.weight_store import WeightStore
from shardstack.testing import run_program

# -- the component --------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render_grant(writer_principal_ids=[DEPLOYER])
    (component,) = graph.of_type(COMPONENT)
    assert component.name == "weights"
    custom = [r for r in graph if r.custom]
    assert sorted(r.type for r in custom) == sorted(
        [RANDOM, ACCOUNT, BLOB_SERVICE, CONTAINER, LIFECYCLE, ROLE_ASSIGNMENT, IDENTITY, CREDENTIAL, ROLE_ASSIGNMENT]
    )
    assert all(r.parent == component.urn for r in custom)


# -- the storage account --------------------------------------------------------------------------


def test_account_is_storage_v2_https_only_tls_1_2_and_entra_only() -> None:
    inputs = account(render())
    assert inputs["kind"] == "StorageV2"
    assert inputs["sku"] == {"name": "Standard_LRS"}
    assert inputs["accessTier"] == "Hot"
    assert inputs["enableHttpsTrafficOnly"] is True
    assert inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs["allowSharedKeyAccess"] is False  # no account key or SAS can authorize anything
    assert inputs["defaultToOAuthAuthentication"] is True
    assert inputs["allowBlobPublicAccess"] is False
    assert inputs["allowCrossTenantReplication"] is False
    assert inputs["resourceGroupName"] == "llm-rg"
    assert inputs["location"] == "eastus"
    assert inputs["tags"] == {"shardstack-component": "weights"}


def test_zone_redundant_sku_is_passed_through() -> None:
    assert account(render(sku="Standard_ZRS"))["sku"] == {"name": "Standard_ZRS"}


def test_firewall_denies_all_but_the_listed_subnets_ips_and_azure_services() -> None:
    inputs = account(render(allowed_subnet_ids=[SUBNET], allowed_ip_ranges=["20.30.40.50", "20.30.0.0/24"]))
    assert inputs["publicNetworkAccess"] == "Enabled"
    assert inputs["networkRuleSet"] == {
        "defaultAction": "Deny",
        "bypass": "AzureServices",
        "virtualNetworkRules": [{"virtualNetworkResourceId": SUBNET, "action": "Allow"}],
        "ipRules": [
            {"iPAddressOrRange": "20.30.40.50", "action": "Allow"},
            {"iPAddressOrRange": "20.30.0.0/24", "action": "Allow"},
        ],
    }


def test_firewall_denies_everyone_without_rules_and_takes_a_single_address_for_a_32_block() -> None:
    assert account(render())["networkRuleSet"] == {
        "defaultAction": "Deny",
        "bypass": "AzureServices",
        "virtualNetworkRules": [],
        "ipRules": [],
    }
    # The storage firewall refuses /31 and /32 blocks: a /32 is given as the plain address.
    assert account(render(allowed_ip_ranges=["20.30.40.50/32"]))["networkRuleSet"]["ipRules"] == [
        {"iPAddressOrRange": "20.30.40.50", "action": "Allow"}
    ]


def test_subnet_ids_given_as_outputs_are_passed_through() -> None:
    def program() -> None:
        subnet = pulumi.Output.from_input(SUBNET)
        WeightStore("weights", {"resource_group_name": "llm-rg", "location": "eastus", "allowed_subnet_ids": [subnet]})

    graph = run_program(program)
    assert graph.one(ACCOUNT).inputs["networkRuleSet"]["virtualNetworkRules"] == [
        {"virtualNetworkResourceId": SUBNET, "action": "Allow"}
    ]


def test_microsoft_managed_encryption_by_default_and_infrastructure_encryption_on_request() -> None:
    assert "encryption" not in account(render())
    assert account(render(infrastructure_encryption=True))["encryption"] == {
        "keySource": "Microsoft.Storage",
        "requireInfrastructureEncryption": True,
        "services": {"blob": {"enabled": True, "keyType": "Account"}},
    }


def test_account_name_is_the_component_name_plus_a_random_suffix_by_default() -> None:
    graph = render("Llama-Weights_2")
    suffix = graph.one(RANDOM, "Llama-Weights_2-account-suffix")
    # Lowercase letters and digits only: what a storage account name may contain.
    assert suffix.inputs == {"length": 8, "lower": True, "upper": False, "numeric": True, "special": False}
    name = graph.one(ACCOUNT).inputs["accountName"]
    assert name == "llamaweights2" + suffix.outputs["result"]
    assert re.fullmatch(r"[a-z0-9]{3,24}", name)


def test_a_long_component_name_is_cut_so_that_the_account_name_fits_24_characters() -> None:
    graph = render("a" * 40)
    name = graph.one(ACCOUNT).inputs["accountName"]
    assert len(name) == 24 and name.startswith("a" * 16)


def test_account_name_is_passed_through_and_then_nothing_random_is_created() -> None:
    graph = render(account_name="acmeweights01")
    assert graph.one(ACCOUNT).inputs["accountName"] == "acmeweights01"
    assert graph.of_type(RANDOM) == []


# -- protection -----------------------------------------------------------------------------------


def test_account_and_container_are_protected_and_kept_with_their_settings_by_default() -> None:
    graph = render(writer_principal_ids=[DEPLOYER])
    for kept in (graph.one(ACCOUNT), graph.one(CONTAINER)):
        assert (kept.protect, kept.retain_on_delete) == (True, True), kept.type
    for setting in (graph.one(BLOB_SERVICE), graph.one(LIFECYCLE)):
        assert (setting.protect, setting.retain_on_delete) == (False, True), setting.type
    # Access is not kept after a destroy.
    writer = graph.one(ROLE_ASSIGNMENT)
    assert (writer.protect, writer.retain_on_delete) == (False, False)


def test_protect_false_lets_destroy_delete_everything() -> None:
    graph = render_grant(protect=False, writer_principal_ids=[DEPLOYER])
    custom = [r for r in graph if r.custom]
    assert len(custom) == 9
    for resource in custom:
        assert (resource.protect, resource.retain_on_delete) == (False, False), resource.type


# -- outputs --------------------------------------------------------------------------------------


def test_outputs() -> None:
    def program() -> None:
        store = WeightStore(
            "weights",
            {
                "resource_group_name": "llm-rg",
                "location": "eastus",
                "account_name": "acmeweights01",
                "container_name": "llama-3",
            },
        )
        pulumi.export("account_name", store.account_name)
        pulumi.export("account_id", store.account_id)
        pulumi.export("container_name", store.container_name)
        pulumi.export("model_uri_prefix", store.model_uri_prefix)

    assert run_program(program).outputs == {
        "account_name": "acmeweights01",
        "account_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/llm-rg/providers/Microsoft.Storage/"
        "storageAccounts/acmeweights01",
        "container_name": "llama-3",
        # The runtime's az:// form that names the account (taken from the blob endpoint).
        "model_uri_prefix": "az://llama-3@acmeweights01.blob.core.windows.net/",
    }


def test_outputs_are_unknown_in_preview_until_azure_names_the_endpoint() -> None:
    def program() -> None:
        store = WeightStore("weights", {"resource_group_name": "llm-rg", "location": "eastus"})
        pulumi.export("model_uri_prefix", store.model_uri_prefix)

    assert run_program(program, preview=True).outputs == {"model_uri_prefix": "<known after apply>"}
