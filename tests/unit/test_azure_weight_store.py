"""Azure WeightStore under recording mocks: the account's security settings, the firewall, versioning and
lifecycle, protection, writers, grant_read (identity, federated credential, read-only role) and validation."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pulumi
import pytest
from component_schema import component_schema
from pulumi_azure_native import managedidentity

from shardstack.azure.roles import role_assignment_name
from shardstack.azure.weight_store import (
    ReadGrant,
    WeightStore,
    validate_read_grant,
    validate_weight_store_args,
)
from shardstack.errors import ArgumentError
from shardstack.testing import Graph, Resource, run_program, run_refused

ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
LIFECYCLE = "azure-native:storage:ManagementPolicy"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
RANDOM = "random:index/randomString:RandomString"
COMPONENT = "shardstack:azure:WeightStore"

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # what the mocks' getClientConfig answers
READER_ROLE = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"  # Storage Blob Data Reader
CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"  # Storage Blob Data Contributor
SUBNET = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/llm-rg/providers/Microsoft.Network/virtualNetworks/llm-vnet"
    "/subnets/nodes"
)
DEPLOYER = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
CI = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ISSUER = "https://eastus.oic.prod-aks.azure.com/11111111-1111-1111-1111-111111111111/abcd/"
ROLE_DEFINITION_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/providers/Microsoft\.Authorization/roleDefinitions/(?P<role>[0-9a-f-]{36})$"
)
CONTAINER_SCOPE = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/Microsoft\.Storage/"
    r"storageAccounts/(?P<account>[^/]+)/blobServices/default/containers/(?P<container>[^/]+)$"
)


def render(name: str = "weights", **args: Any) -> Graph:
    args.setdefault("resource_group_name", "llm-rg")
    args.setdefault("location", "eastus")
    return run_program(lambda: WeightStore(name, args))  # type: ignore[arg-type]


def render_grant(namespace: str = "shardstack", service_account: str = "inference", **args: Any) -> Graph:
    args.setdefault("resource_group_name", "llm-rg")
    args.setdefault("location", "eastus")

    def program() -> None:
        store = WeightStore("weights", args)  # type: ignore[arg-type]
        store.grant_read(namespace, service_account, oidc_issuer_url=ISSUER)

    return run_program(program)


def failure(name: str = "weights", **args: Any) -> ArgumentError:
    args.setdefault("resource_group_name", "llm-rg")
    args.setdefault("location", "eastus")
    return run_refused(lambda: WeightStore(name, args), ArgumentError)  # type: ignore[arg-type]


def account(graph: Graph) -> dict[str, Any]:
    return graph.one(ACCOUNT, "weights-account").inputs


def parse_role(role_definition_id: str) -> tuple[str, str]:
    """Return (subscription, role GUID) of a full role definition ID; fail on any other shape."""
    match = ROLE_DEFINITION_ID.match(role_definition_id)
    assert match, f"not a full role definition ID: {role_definition_id!r}"
    return match["subscription"], match["role"]


def parse_container_scope(scope: str) -> dict[str, str]:
    """Return the parts of a blob container's resource ID; fail on any other shape (an account, a group)."""
    match = CONTAINER_SCOPE.match(scope)
    assert match, f"not a blob container resource ID: {scope!r}"
    return match.groupdict()


def assert_container_scope(graph: Graph, assignment: Resource) -> None:
    """The assignment is on this store's container, exactly: not the account, the group or the subscription."""
    container = graph.one(CONTAINER)
    assert assignment.inputs["scope"] == container.id
    parts = parse_container_scope(assignment.inputs["scope"])
    assert parts == {
        "subscription": SUBSCRIPTION,
        "group": "llm-rg",
        "account": graph.one(ACCOUNT).outputs["name"],
        "container": container.inputs["containerName"],
    }


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


# -- blob service, container and lifecycle --------------------------------------------------------


def test_versioning_and_a_week_of_blob_and_container_soft_delete_by_default() -> None:
    graph = render(account_name="acmeweights01")
    inputs = graph.one(BLOB_SERVICE).inputs
    assert inputs == {
        "accountName": "acmeweights01",
        "resourceGroupName": "llm-rg",
        "blobServicesName": "default",
        "isVersioningEnabled": True,
        "deleteRetentionPolicy": {"enabled": True, "days": 7},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 7},
    }


def test_soft_delete_days_set_the_retentions_and_0_turns_them_off() -> None:
    inputs = render(soft_delete_days=365, container_soft_delete_days=0).one(BLOB_SERVICE).inputs
    assert inputs["deleteRetentionPolicy"] == {"enabled": True, "days": 365}
    assert inputs["containerDeleteRetentionPolicy"] == {"enabled": False}


def test_container_is_private_in_this_account() -> None:
    graph = render()
    inputs = graph.one(CONTAINER, "weights-container").inputs
    assert inputs == {
        "accountName": graph.one(ACCOUNT).outputs["name"],
        "resourceGroupName": "llm-rg",
        "containerName": "weights",
        "publicAccess": "None",
    }
    assert render(container_name="llama-3").one(CONTAINER).inputs["containerName"] == "llama-3"


def test_lifecycle_deletes_only_previous_versions_after_30_days() -> None:
    graph = render(account_name="acmeweights01")
    policy = graph.one(LIFECYCLE, "weights-lifecycle").inputs
    assert policy["managementPolicyName"] == "default"
    assert policy["accountName"] == "acmeweights01"
    assert policy["policy"] == {
        "rules": [
            {
                "name": "delete-old-versions",
                "enabled": True,
                "type": "Lifecycle",
                "definition": {
                    "filters": {"blobTypes": ["blockBlob"]},
                    # version actions only: the current blob (baseBlob) is never deleted by the rule
                    "actions": {"version": {"delete": {"daysAfterCreationGreaterThan": 30}}},
                },
            }
        ]
    }


def test_noncurrent_version_days_sets_when_old_versions_go() -> None:
    (rule,) = render(noncurrent_version_days=3).one(LIFECYCLE).inputs["policy"]["rules"]
    assert rule["definition"]["actions"] == {"version": {"delete": {"daysAfterCreationGreaterThan": 3}}}


def test_settings_of_the_account_are_written_one_after_the_other() -> None:
    graph = render()
    blob_service = graph.one(BLOB_SERVICE)
    assert blob_service.urn in graph.one(CONTAINER).dependencies
    assert blob_service.urn in graph.one(LIFECYCLE).dependencies


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


# -- writers --------------------------------------------------------------------------------------


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


# -- grant_read -----------------------------------------------------------------------------------


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


# -- validation -----------------------------------------------------------------------------------


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
    assert "noncurrent_version_days=0 must be a whole number ≥ 1" in problems
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
