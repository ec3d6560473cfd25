"""A managed identity that the pods of one Kubernetes service account act as (Azure Workload Identity), with one
built-in role on one scope: how the ranks read the weight store, and how KEDA reads an Azure Monitor workspace.

Usage::

    grant = workload_identity_grant("llm-read", resource_group_name=rg, location="eastus", identity_name="llm",
                                    oidc_issuer_url=cluster.oidc_issuer_url, namespace="shardstack",
                                    service_account="llm", scope=container.id,
                                    role=roles.STORAGE_BLOB_DATA_READER, tags={}, opts=child)
    grant.identity.client_id, grant.resources    # [identity, federated credential, role assignment]

The federated credential trusts only the tokens the cluster's OIDC issuer gives that service account; the pods
find the identity through the client-id annotation on their service account and the ``use`` label.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity

from shardstack.azure import roles

WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Microsoft Entra expects in a Kubernetes service account token it exchanges."""
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"

MAX_IDENTITY_NAME_LENGTH = 128
MAX_FEDERATED_CREDENTIAL_NAME_LENGTH = 120
IDENTITY_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def workload_identity_subject(namespace: str, service_account: str) -> str:
    """Return the subject of a Kubernetes service account's tokens, as a federated credential matches it."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def bounded_name(text: str, max_length: int) -> str:
    """Return ``text`` with characters Azure refuses in identity names turned into '-', cut to fit.

    A cut name ends with a hash of the whole text, so that two long names never collide.
    """
    clean = IDENTITY_NAME_CHARS.sub("-", text)
    if len(clean) <= max_length:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean[: max_length - len(digest) - 1]}-{digest}"


@dataclass(frozen=True)
class WorkloadIdentityGrant:
    identity: managedidentity.UserAssignedIdentity
    credential: managedidentity.FederatedIdentityCredential
    assignment: authorization.RoleAssignment

    @property
    def resources(self) -> list[pulumi.Resource]:
        """What a workload acting as the identity should depend on."""
        return [self.identity, self.credential, self.assignment]


def workload_identity_grant(
    resource_name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: pulumi.Input[str],
    identity_name: pulumi.Input[str],
    oidc_issuer_url: pulumi.Input[str],
    namespace: str,
    service_account: str,
    scope: pulumi.Input[str],
    role: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> WorkloadIdentityGrant:
    """Create the identity ``identity_name`` (``resource_name``), its federated credential for
    ``namespace/service_account`` (``<resource_name>-federation``) and the built-in ``role`` on ``scope``
    (``<resource_name>-reader``)."""
    identity = managedidentity.UserAssignedIdentity(
        resource_name,
        resource_group_name=resource_group_name,
        location=location,
        resource_name_=identity_name,
        tags=dict(tags),
        opts=opts,
    )
    credential = managedidentity.FederatedIdentityCredential(
        f"{resource_name}-federation",
        resource_group_name=resource_group_name,
        resource_name_=identity.name,
        federated_identity_credential_resource_name=bounded_name(
            f"{namespace}-{service_account}", MAX_FEDERATED_CREDENTIAL_NAME_LENGTH
        ),
        issuer=oidc_issuer_url,
        subject=workload_identity_subject(namespace, service_account),
        audiences=[WORKLOAD_IDENTITY_AUDIENCE],
        opts=opts,
    )
    assignment = roles.role_assignment(
        f"{resource_name}-reader",
        scope=scope,
        principal_id=identity.principal_id,
        role=role,
        # A new identity may not have replicated through Entra yet; the type lets Azure assign anyway.
        principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
        opts=opts,
    )
    return WorkloadIdentityGrant(identity, credential, assignment)
