"""WeightStore: the Azure Blob Storage container that holds model checkpoints, and read-only access to it for pods.

Usage::

    from shardstack.azure.weight_store import WeightStore

    weights = WeightStore("weights", {
        "resource_group_name": network.resource_group_name,
        "location": "eastus",
        "allowed_subnet_ids": [network.node_subnet_id],
        "allowed_ip_ranges": ["203.0.113.7"],          # the machine that uploads the weights
        "writer_principal_ids": [deployer_object_id],  # who may upload them
    })
    grant = weights.grant_read("shardstack", "shardstack-inference", oidc_issuer_url=cluster.oidc_issuer_url)
    ShardedInference("llm", {
        "model_uri": pulumi.Output.concat(weights.model_uri_prefix, "llama-3-70b/"),
        "service_account_annotations": grant.service_account_annotations,
        "labels": grant.pod_labels,
        ...
    }, opts=pulumi.ResourceOptions(depends_on=grant.resources))

The storage account (StorageV2, locally or zone-redundant) accepts HTTPS with TLS 1.2 or later only and
Microsoft Entra ID only: shared keys are off, so there is no account key or account SAS that could leak
and read everything, and the portal defaults to Entra too. Nothing in it can ever be public (blob public
access is off on the account and the container is private), and objects cannot be replicated to another
tenant. Its public endpoint answers only the listed subnets (through their ``Microsoft.Storage`` service
endpoint, which Shardstack's Network turns on for the AKS node subnet) and the listed public IPs, besides
Azure's trusted services; every other caller gets 403 whatever its credentials. Note that IP rules never
match callers in the storage account's own region: those reach it from private Azure addresses, so list
their subnet instead. Blobs are versioned; an overwritten or deleted checkpoint stays as an old version for
``noncurrent_version_days`` (30) before a lifecycle rule deletes it, and deleted blobs and containers stay
restorable for a week (soft delete). Data is encrypted at rest with Microsoft-managed keys, twice with
``infrastructure_encryption``. By default the account and the container are protected and kept on
``pulumi destroy``, with their settings, so a destroy never deletes a user's weights; pass
``protect=False`` for throwaway stacks.

With shared keys off, uploading needs a data-plane role too: each of ``writer_principal_ids`` (Entra object
IDs of the type ``writer_principal_type``: by default users, e.g. the deployer; 'ServicePrincipal' for a CI
identity) gets "Storage Blob Data Contributor" on the container only.

Pods read the weights through Microsoft Entra Workload ID: :meth:`WeightStore.grant_read` creates a
user-assigned managed identity, a federated credential that lets the cluster's OIDC issuer vouch for
exactly one Kubernetes service account (``system:serviceaccount:<namespace>:<name>``, audience
``api://AzureADTokenExchange``), and a "Storage Blob Data Reader" role assignment (read and list blobs,
nothing that writes, deletes or changes access) for that identity on this container only, not the account
or the resource group. The service account carries the identity's client ID
(``azure.workload.identity/client-id``) and the pods the label ``azure.workload.identity/use: "true"``, so
that AKS's workload identity webhook injects the token. The cluster needs its OIDC issuer and workload
identity enabled (Shardstack's AKS cluster enables both).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi_azure_native import authorization, storage

from shardstack.azure import roles
from shardstack.azure.args import WeightStoreArgs
from shardstack.azure.arm import name_prefix, unique_name
from shardstack.azure.tags import component_tags
from shardstack.azure.weight_store_specs import (
    CONTAINER_NAME,
    DEFAULT_CONTAINER_NAME,
    DEFAULT_NONCURRENT_VERSION_DAYS,
    DEFAULT_SKU,
    DEFAULT_SOFT_DELETE_DAYS,
    DEFAULT_WRITER_PRINCIPAL_TYPE,
    MAX_ACCOUNT_NAME_LENGTH,
    MAX_SOFT_DELETE_DAYS,
    NON_PUBLIC_BLOCKS,
    SKUS,
    WEIGHT_STORE,
    ip_rule,
)
from shardstack.azure.workload_identity import (
    CLIENT_ID_ANNOTATION,
    MAX_IDENTITY_NAME_LENGTH,
    USE_LABEL,
    bounded_name,
    workload_identity_grant,
)
from shardstack.errors import ArgumentError
from shardstack.k8s import names
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:azure:WeightStore"


__all__ = [
    "CONTAINER_NAME",
    "DEFAULT_CONTAINER_NAME",
    "DEFAULT_NONCURRENT_VERSION_DAYS",
    "DEFAULT_SKU",
    "DEFAULT_SOFT_DELETE_DAYS",
    "DEFAULT_WRITER_PRINCIPAL_TYPE",
    "MAX_ACCOUNT_NAME_LENGTH",
    "MAX_SOFT_DELETE_DAYS",
    "NON_PUBLIC_BLOCKS",
    "SKUS",
    "ReadGrant",
    "WeightStore",
    "WeightStoreArgs",
    "ip_rule",
    "validate_read_grant",
    "validate_weight_store_args",
]


@dataclass(frozen=True)
class ReadGrant:
    """Read-only access to a WeightStore for one Kubernetes service account, through Workload Identity.

    Put ``service_account_annotations`` on the service account and ``pod_labels`` on its pods (for
    ``ShardedInference``: its ``service_account_annotations`` and ``labels`` arguments).
    """

    identity_client_id: pulumi.Output[str]
    """Client ID of the managed identity the pods act as."""
    principal_id: pulumi.Output[str]
    """Object ID of that identity's service principal, the one given read access."""
    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the service account."""
    service_account_annotations: dict[str, pulumi.Input[str]]
    """``{"azure.workload.identity/client-id": <client ID>}``: which identity the service account's
    tokens are exchanged for."""
    pod_labels: dict[str, str]
    """``{"azure.workload.identity/use": "true"}``: makes AKS's webhook inject the token and the
    ``AZURE_*`` variables into the pods."""
    resources: list[pulumi.Resource]
    """The identity, its federated credential and its role assignment: put them in the pods'
    ``depends_on`` so that no pod starts before it can read the weights."""


def validate_weight_store_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with WeightStore arguments (and its name, when given), one line each."""
    problems = as_arguments(WEIGHT_STORE.check(args))
    if name is not None and isinstance(args, Mapping):
        problems += name_problems(args, name)
    return problems


def name_problems(args: Mapping[str, Any], name: str) -> list[str]:
    """Why the component's name cannot start the storage account's name (when ``args`` give none), if it can't."""
    if "account_name" not in args and not name_prefix(name, MAX_ACCOUNT_NAME_LENGTH):
        return [
            f"name={name!r} has no letters or digits to start a storage account name with: give account_name "
            "(3 to 24 lowercase letters and digits)"
        ]
    return []


def validate_read_grant(namespace: Any, service_account: Any, oidc_issuer_url: Any) -> list[str]:
    """Return every problem with the arguments of :meth:`WeightStore.grant_read`, one line each."""
    problems = [
        p
        for p in (
            names.dns_label_problem("namespace", namespace),
            names.subdomain_problem("service_account", service_account),
        )
        if p
    ]
    if not isinstance(oidc_issuer_url, pulumi.Output) and (
        not isinstance(oidc_issuer_url, str)
        or urlsplit(oidc_issuer_url).scheme != "https"
        or not urlsplit(oidc_issuer_url).netloc
    ):
        problems.append(
            f"oidc_issuer_url={oidc_issuer_url!r} is not an OIDC issuer URL: use the cluster's https:// issuer "
            "(the Cluster's oidc_issuer_url output)"
        )
    return problems


def identity_name(account_name: str, namespace: str, service_account: str) -> str:
    """Return the managed identity's name: the account (globally unique), the namespace and service account."""
    return bounded_name(f"{account_name}-{namespace}-{service_account}", MAX_IDENTITY_NAME_LENGTH)


def _blob_host(blob_endpoint: str) -> str:
    # 'https://<account>.blob.core.windows.net/' -> '<account>.blob.core.windows.net' (sovereign clouds
    # have other suffixes, which is why the endpoint and not the account name is used).
    return urlsplit(blob_endpoint).netloc


class WeightStore(pulumi.ComponentResource):
    """Creates a private, versioned, firewalled blob container for model weights, kept on destroy."""

    account_name: pulumi.Output[str]
    """Name of the storage account."""
    account_id: pulumi.Output[str]
    """Resource ID of the storage account."""
    container_name: pulumi.Output[str]
    """Name of the blob container."""
    model_uri_prefix: pulumi.Output[str]
    """``az://<container>@<account>.blob.core.windows.net/``: append a model's directory to get its
    ``model_uri``."""

    def __init__(self, name: str, args: WeightStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_weight_store_args(args, name=name)
        if problems:
            raise ArgumentError(f"WeightStore {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        self._name = name
        self._grants: set[tuple[str, str]] = set()
        self._resource_group_name = args["resource_group_name"]
        self._location = args["location"]
        self._tags = component_tags(name, args.get("tags"))
        protect = args.get("protect", True)
        # The settings of a kept account are kept too: deleting the lifecycle rule or soft delete of a
        # kept account would only leave it more expensive or less recoverable.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=protect)
        guarded = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        account = self._storage_account(name, args, guarded)
        blob_service = self._blob_service(name, args, account, kept)
        # Writes to one account's settings are serialized: the storage resource provider refuses
        # concurrent updates of the same account.
        after_blob_service = pulumi.ResourceOptions(depends_on=[blob_service])
        container = storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=self._resource_group_name,
            container_name=args.get("container_name", DEFAULT_CONTAINER_NAME),
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions.merge(guarded, after_blob_service),
        )
        self._lifecycle_policy(name, args, account, pulumi.ResourceOptions.merge(kept, after_blob_service))
        self._writer_role_assignments(name, args, container)

        self._container = container
        self.account_name = account.name
        self.account_id = account.id
        self.container_name = container.name
        self.model_uri_prefix = pulumi.Output.all(container.name, account.primary_endpoints.blob).apply(
            lambda values: f"az://{values[0]}@{_blob_host(values[1])}/"
        )
        self.register_outputs(
            {
                "account_name": self.account_name,
                "account_id": self.account_id,
                "container_name": self.container_name,
                "model_uri_prefix": self.model_uri_prefix,
            }
        )

    def _storage_account(
        self, name: str, args: WeightStoreArgs, opts: pulumi.ResourceOptions
    ) -> storage.StorageAccount:
        """Create the storage account: Entra ID only over HTTPS, nothing public, firewalled to the listed callers."""
        account_name: pulumi.Input[str]
        if "account_name" in args:
            account_name = args["account_name"]
        else:
            # Storage account names are global and take no '-'.
            account_name = unique_name(
                f"{name}-account-suffix", name, MAX_ACCOUNT_NAME_LENGTH, pulumi.ResourceOptions(parent=self)
            )
        return storage.StorageAccount(
            f"{name}-account",
            account_name=account_name,
            resource_group_name=self._resource_group_name,
            location=self._location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=args.get("sku", DEFAULT_SKU)),
            # Every shard start reads its slice: hot, not cool, tier.
            access_tier=storage.AccessTier.HOT,
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            # Entra ID only: no account key or account/service SAS can authorize a request.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            # The public endpoint stays on for the node subnet's service endpoint and the uploader's IP;
            # the firewall denies everyone else.
            public_network_access=storage.PublicNetworkAccess.ENABLED,
            network_rule_set=_firewall(args),
            encryption=_encryption(args),
            tags=self._tags,
            opts=opts,
        )

    def _blob_service(
        self, name: str, args: WeightStoreArgs, account: storage.StorageAccount, opts: pulumi.ResourceOptions
    ) -> storage.BlobServiceProperties:
        """Create the account's blob service settings: versioning, and soft delete of blobs and containers."""
        soft_delete_days = args.get("soft_delete_days", DEFAULT_SOFT_DELETE_DAYS)
        container_soft_delete_days = args.get("container_soft_delete_days", DEFAULT_SOFT_DELETE_DAYS)
        return storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=account.name,
            resource_group_name=self._resource_group_name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=_retention(soft_delete_days),
            container_delete_retention_policy=_retention(container_soft_delete_days),
            opts=opts,
        )

    def _lifecycle_policy(
        self, name: str, args: WeightStoreArgs, account: storage.StorageAccount, opts: pulumi.ResourceOptions
    ) -> storage.ManagementPolicy:
        """Create the lifecycle rule that deletes blob versions ``noncurrent_version_days`` after they were replaced."""
        return storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=account.name,
            resource_group_name=self._resource_group_name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name="delete-old-versions",
                        enabled=True,
                        type=storage.RuleType.LIFECYCLE,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"]),
                            # A previous version's creation time is when it stopped being current, so
                            # this never touches the live checkpoint.
                            actions=storage.ManagementPolicyActionArgs(
                                version=storage.ManagementPolicyVersionArgs(
                                    delete=storage.DateAfterCreationArgs(
                                        days_after_creation_greater_than=args.get(
                                            "noncurrent_version_days", DEFAULT_NONCURRENT_VERSION_DAYS
                                        )
                                    )
                                )
                            ),
                        ),
                    )
                ]
            ),
            opts=opts,
        )

    def _writer_role_assignments(
        self, name: str, args: WeightStoreArgs, container: storage.BlobContainer
    ) -> list[authorization.RoleAssignment]:
        """Create a "Storage Blob Data Contributor" role assignment on the container for each writer principal."""
        return [
            roles.role_assignment(
                roles.principal_resource_name(f"{name}-writer", index, principal),
                scope=container.id,
                principal_id=principal,
                role=roles.STORAGE_BLOB_DATA_CONTRIBUTOR,
                principal_type=args.get("writer_principal_type", DEFAULT_WRITER_PRINCIPAL_TYPE),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for index, principal in enumerate(args.get("writer_principal_ids") or [])
        ]

    def grant_read(
        self,
        namespace: str,
        service_account: str,
        *,
        oidc_issuer_url: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> ReadGrant:
        """Let pods of ``service_account`` in ``namespace`` read the weights, through Workload Identity.

        Creates, as children of this WeightStore, a user-assigned managed identity in the store's resource
        group and location, a federated credential trusting tokens that ``oidc_issuer_url`` (the AKS
        cluster's OIDC issuer) issues to that service account, and a "Storage Blob Data Reader" role
        assignment for the identity on this container only. ``opts`` (e.g. ``depends_on`` the cluster)
        apply to all three. Raises :class:`~shardstack.errors.ArgumentError`, creating nothing, when an
        argument is invalid or this service account was already granted.
        """
        what = f"WeightStore {self._name!r}.grant_read"
        problems = validate_read_grant(namespace, service_account, oidc_issuer_url)
        if (namespace, service_account) in self._grants:
            problems.append(f"{namespace}/{service_account} already has read access to this WeightStore")
        if problems:
            raise ArgumentError(what, problems)
        self._grants.add((namespace, service_account))

        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        prefix = f"{self._name}-read-{namespace}-{service_account}"
        grant = workload_identity_grant(
            prefix,
            resource_group_name=self._resource_group_name,
            location=self._location,
            identity_name=self.account_name.apply(lambda account: identity_name(account, namespace, service_account)),
            oidc_issuer_url=oidc_issuer_url,
            namespace=namespace,
            service_account=service_account,
            scope=self._container.id,
            role=roles.STORAGE_BLOB_DATA_READER,
            tags=self._tags,
            opts=child,
        )
        return ReadGrant(
            identity_client_id=grant.identity.client_id,
            principal_id=grant.identity.principal_id,
            namespace=namespace,
            service_account=service_account,
            service_account_annotations={CLIENT_ID_ANNOTATION: grant.identity.client_id},
            pod_labels={USE_LABEL: "true"},
            resources=grant.resources,
        )


def _retention(days: int) -> storage.DeleteRetentionPolicyArgs:
    """Return a soft delete policy keeping deleted items ``days`` days; 0 turns it off."""
    if days == 0:
        return storage.DeleteRetentionPolicyArgs(enabled=False)
    return storage.DeleteRetentionPolicyArgs(enabled=True, days=days)


def _firewall(args: WeightStoreArgs) -> storage.NetworkRuleSetArgs:
    """Return the account's firewall: deny all but Azure's trusted services, the listed subnets and IP ranges."""
    return storage.NetworkRuleSetArgs(
        default_action=storage.DefaultAction.DENY,
        bypass=storage.Bypass.AZURE_SERVICES,
        virtual_network_rules=[
            storage.VirtualNetworkRuleArgs(virtual_network_resource_id=subnet, action=storage.Action.ALLOW)
            for subnet in args.get("allowed_subnet_ids") or []
        ],
        ip_rules=[
            storage.IPRuleArgs(i_p_address_or_range=ip_rule(ip_range), action=storage.Action.ALLOW)
            for ip_range in args.get("allowed_ip_ranges") or []
        ],
    )


def _encryption(args: WeightStoreArgs) -> storage.EncryptionArgs | None:
    """Return double encryption at rest when ``infrastructure_encryption`` asks for it, else None (Azure's default)."""
    if not args.get("infrastructure_encryption", False):
        return None
    return storage.EncryptionArgs(
        key_source=storage.KeySource.MICROSOFT_STORAGE,
        require_infrastructure_encryption=True,
        services=storage.EncryptionServicesArgs(
            blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT)
        ),
    )
