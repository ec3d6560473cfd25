"""Azure role assignments: the built-in roles Shardstack grants, and one way to grant them.

Usage::

    from shardstack.azure import roles

    roles.role_assignment(
        f"{name}-reader",
        scope=container.id,                    # what the role is granted on
        principal_id=identity.principal_id,    # to whom (an Entra object ID)
        role=roles.STORAGE_BLOB_DATA_READER,   # which built-in role
        principal_type="ServicePrincipal",     # what the principal is ('User', 'Group', 'ServicePrincipal')
        opts=pulumi.ResourceOptions(parent=self),
    )

Each grant is the narrowest built-in role on the narrowest scope that serves its purpose; the role is
referenced in the scope's own subscription (a subnet may live in another subscription than the cluster).

A role assignment's name is a GUID fixed by its scope, principal and role definition
(:func:`role_assignment_name`): Azure allows one assignment per (scope, principal, role), and a name
derived from exactly those makes applying the same grant again (after a lost state, an import, a
re-created component) an update of the same assignment instead of a ``RoleAssignmentExists`` conflict;
it changes whenever any of them changes, so a replacement never deletes the assignment it has just written.
"""

import uuid

import pulumi
from pulumi_azure_native import authorization

from shardstack.azure import arm
from shardstack.azure.kinds import PRINCIPAL_TYPES as PRINCIPAL_TYPES  # declared with the other Azure kinds

STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
"""Storage Blob Data Reader: read and list blobs (and get a user delegation key); nothing that writes."""
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Storage Blob Data Contributor: read, write and delete blobs."""
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
"""AcrPull: pull images (Microsoft.ContainerRegistry/registries/pull/read) and nothing else."""
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
"""Network Contributor: what AKS's control plane needs on a subnet it did not create."""
MONITORING_DATA_READER = "b0d8363b-8ddd-447d-831f-62ca05bff136"
"""Monitoring Data Reader: query an Azure Monitor workspace's metrics, nothing that writes."""
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Azure Kubernetes Service RBAC Cluster Admin: every Kubernetes resource, cluster-wide."""


ROLE_ASSIGNMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "shardstack:azure:role-assignment")
"""Namespace of the role assignment names (the one every Shardstack Azure component uses); changing it
would rename, so replace, every role assignment."""


def role_definition_id(subscription_id: str, role: str) -> str:
    """Return the full ID of the built-in ``role`` (its GUID) in a subscription, as role assignments need it."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def role_assignment_name(scope: str, principal_id: str, role_id: str) -> str:
    """Return the role assignment's name: a GUID fixed by what it grants (the full role definition ID
    ``role_id``), to whom and where; ARM IDs are case-insensitive, and so is the name."""
    key = "|".join(part.lower() for part in (scope, principal_id, role_id))
    return str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, key))


def role_assignment(
    resource_name: str,
    *,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    role: str,
    principal_type: str,
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    """Assign the built-in ``role`` (its GUID, e.g. :data:`ACR_PULL`) to a principal of ``principal_type``
    at ``scope`` (a resource ID), under a deterministic name; the role is referenced in the scope's
    subscription."""
    role_id = pulumi.Output.from_input(scope).apply(lambda s: role_definition_id(arm.subscription_id(s), role))
    return authorization.RoleAssignment(
        resource_name,
        scope=scope,
        principal_id=principal_id,
        role_definition_id=role_id,
        principal_type=principal_type,
        role_assignment_name=pulumi.Output.all(scope, principal_id, role_id).apply(
            lambda values: role_assignment_name(values[0], values[1], values[2])
        ),
        opts=opts,
    )


def principal_resource_name(prefix: str, index: int, principal: pulumi.Input[str], *, lowercase: bool = False) -> str:
    """Return the Pulumi name of the role assignment for the ``index``-th principal of a list:
    ``<prefix>-<principal id>`` where the ID is known (lowercased with ``lowercase``), so that removing or
    reordering principals renames (and so briefly revokes) none of the others; ``<prefix>-<index>`` for
    an Output."""
    if not isinstance(principal, str):
        return f"{prefix}-{index}"
    return f"{prefix}-{principal.lower() if lowercase else principal}"
