"""What the Azure WeightStore tests share: rendering a store (and a read grant) under recording mocks,
its refusals, and reading role definition IDs and container scopes from what it planned."""

from __future__ import annotations

import re
from typing import Any

from shardstack.azure.weight_store import WeightStore
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
