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

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Required, TypedDict
from urllib.parse import urlsplit

import pulumi
from pulumi_azure_native import authorization, managedidentity, storage

from shardstack.azure import roles
from shardstack.azure.arm import name_prefix, placement_problems, subnet_id_problem, unique_name
from shardstack.azure.tags import component_tags, tag_problems
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.k8s import names

TYPE_TOKEN = "shardstack:azure:WeightStore"

SKUS = ("Standard_LRS", "Standard_ZRS")
"""Locally redundant (three copies in one datacenter) or zone-redundant (across the region's availability
zones). Geo-redundant SKUs are left out: a lost region's weights are re-uploaded, not failed over."""
DEFAULT_SKU = "Standard_LRS"
"""The weights are a copy of a checkpoint kept elsewhere: the cheapest durable SKU is enough."""
DEFAULT_CONTAINER_NAME = "weights"
DEFAULT_NONCURRENT_VERSION_DAYS = 30
"""Long enough to roll back a bad checkpoint upload, short enough not to pay for every old copy."""
DEFAULT_SOFT_DELETE_DAYS = 7
"""Deleted blobs and containers can be restored for a week."""
MAX_SOFT_DELETE_DAYS = 365
"""The longest retention Azure accepts for blob and container soft delete."""

DEFAULT_WRITER_PRINCIPAL_TYPE = "User"
"""The person who uploads the weights from their workstation (listed in allowed_ip_ranges)."""

WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"
"""The audience Microsoft Entra expects in a Kubernetes service account token it exchanges."""
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"

ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
MAX_ACCOUNT_NAME_LENGTH = 24
CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
MAX_IDENTITY_NAME_LENGTH = 128
MAX_FEDERATED_CREDENTIAL_NAME_LENGTH = 120
IDENTITY_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class WeightStoreArgs(TypedDict, total=False):
    """Arguments of WeightStore."""

    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the storage account (and of the identities ``grant_read`` creates), e.g.
    the Network's ``resource_group_name``. Required."""
    location: Required[str]
    """Azure region of the storage account, e.g. 'eastus': best the cluster's, so that shards load without
    cross-region traffic and the node subnet's service endpoint applies. Required."""
    account_name: str
    """Globally unique storage account name: 3 to 24 lowercase letters and digits. It also names the blob
    endpoint (``<account>.blob.core.windows.net``). Default: the component name's lowercase letters and
    digits (at most 16) followed by 8 random ones."""
    sku: str
    """Redundancy of the storage account: 'Standard_LRS' (three copies in one datacenter) or 'Standard_ZRS'
    (across the region's availability zones). Default: 'Standard_LRS'."""
    container_name: str
    """Name of the blob container: 3 to 63 lowercase letters, digits and single '-' between them.
    Default: 'weights'."""
    allowed_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets whose traffic the storage firewall lets through (e.g. the Network's ``node_subnet_id``);
    each needs the ``Microsoft.Storage`` service endpoint. Default: none."""
    allowed_ip_ranges: Sequence[str]
    """Public IPv4 addresses ('203.0.113.7') or CIDR blocks ('203.0.113.0/24', at most /30) the storage
    firewall lets through, e.g. the machine that uploads the weights. Private ranges are not allowed,
    and callers in the account's own region never match: list their subnet instead. Default: none."""
    writer_principal_ids: Sequence[pulumi.Input[str]]
    """Microsoft Entra object IDs given "Storage Blob Data Contributor" on the container, to upload the
    weights, all of the type ``writer_principal_type``. Default: none."""
    writer_principal_type: str
    """What every one of ``writer_principal_ids`` is: 'User', 'Group' or 'ServicePrincipal' (also managed
    identities and the service principals CI signs in as); Azure refuses a role assignment whose type does
    not match. Default: 'User'."""
    noncurrent_version_days: int
    """Days an overwritten or deleted blob version is kept before a lifecycle rule deletes it; at least 1.
    Default: 30."""
    soft_delete_days: int
    """Days a deleted blob (or version) stays restorable: 1 to 365, or 0 to turn blob soft delete off.
    Default: 7."""
    container_soft_delete_days: int
    """Days a deleted container stays restorable: 1 to 365, or 0 to turn container soft delete off.
    Default: 7."""
    infrastructure_encryption: bool
    """Encrypt the data a second time, at the infrastructure level, with another key and algorithm.
    Set only when the account is created: changing it later needs a new account. Default: False."""
    protect: bool
    """Protect the storage account and the container from deletion and keep them, with their settings,
    when the stack is destroyed. Default: True. False lets ``pulumi destroy`` delete them."""
    tags: Mapping[str, str]
    """Tags added to the storage account and the identities, next to ``shardstack-component: <name>``.
    Default: none."""


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


def account_name_problems(value: Any) -> list[str]:
    """Return every storage account naming rule ``value`` breaks."""
    if not isinstance(value, str):
        return [f"account_name must be a string; got {value!r}"]
    problems: list[str] = []
    if not 3 <= len(value) <= MAX_ACCOUNT_NAME_LENGTH:
        problems.append(
            f"account_name={value!r} has {len(value)} characters; a storage account name has 3 to 24"
        )
    if bad := sorted({c for c in value if not (c.isascii() and (c.islower() or c.isdigit()))}):
        problems.append(
            f"account_name={value!r} contains {', '.join(repr(c) for c in bad)}; a storage account name may "
            "contain only lowercase letters and digits"
        )
    return problems


def _subnet_problems(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [f"allowed_subnet_ids must be a list of subnet resource IDs; got {value!r}"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, subnet in enumerate(value):
        if isinstance(subnet, pulumi.Output):
            continue
        if problem := subnet_id_problem(f"allowed_subnet_ids[{i}]", subnet):
            problems.append(problem)
        elif subnet.lower() in seen:
            problems.append(f"allowed_subnet_ids[{i}]={subnet!r} is listed twice")
        else:
            seen.add(subnet.lower())
    return problems


def ip_rule(value: str) -> str:
    """Return an allowed IP range as the storage firewall takes it: a /32 block as its plain address."""
    return value.removesuffix("/32")


NON_PUBLIC_BLOCKS = tuple(ipaddress.IPv4Network(block) for block in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918, which Azure refuses in IP rules
    "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/3",  # never a caller's address
))
"""Addresses no caller on the internet has. Documentation ranges such as 203.0.113.0/24 are allowed: they are
placeholders in examples and stack files, and a rule for them matches nobody."""


def ip_range_problem(arg: str, value: Any) -> str | None:
    """Why ``value`` cannot be an IP rule of the storage firewall, or None."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{arg}={value!r} is not an IPv4 address or CIDR block like '203.0.113.7' or '203.0.113.0/24'"
    if not isinstance(network, ipaddress.IPv4Network):
        return f"{arg}={value!r} is an IPv6 range; the storage firewall takes IPv4 addresses and blocks only"
    if "/" in value and network.with_prefixlen != value:
        return f"{arg}={value!r} has host bits set; the network it is in is {network.with_prefixlen!r}"
    if network.prefixlen == 0:
        return (
            f"{arg}={value!r} would open the storage account to the whole internet; list the addresses that "
            "upload weights instead"
        )
    if network.prefixlen == 31:
        return (
            f"{arg}={value!r}: the storage firewall does not take /31 blocks; list its two addresses instead "
            f"({', '.join(repr(str(a)) for a in network)})"
        )
    if any(network.overlaps(block) for block in NON_PUBLIC_BLOCKS):
        return (
            f"{arg}={value!r} is not a public IPv4 range; the storage firewall only matches public addresses "
            "(allow private callers through allowed_subnet_ids)"
        )
    return None


def _ip_range_problems(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [f"allowed_ip_ranges must be a list of IPv4 addresses or CIDR blocks; got {value!r}"]
    problems = [p for i, item in enumerate(value) if (p := ip_range_problem(f"allowed_ip_ranges[{i}]", item))]
    rules = [ip_rule(item) for item in value if isinstance(item, str)]
    for rule in sorted({r for r in rules if rules.count(r) > 1}):
        problems.append(f"allowed_ip_ranges lists {rule!r} more than once")
    return problems


def _soft_delete_problem(arg: str, value: Any) -> str | None:
    if names.int_problem(arg, value, minimum=0, maximum=MAX_SOFT_DELETE_DAYS):
        return f"{arg} must be an integer from 1 to {MAX_SOFT_DELETE_DAYS}, or 0 to turn soft delete off; got {value!r}"
    return None


def validate_weight_store_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with WeightStore arguments, one line each."""
    problems: list[str] = []
    for key in sorted(set(args) - set(WeightStoreArgs.__annotations__)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, WeightStoreArgs.__annotations__)}")
    problems.extend(placement_problems(args, "the storage account"))
    if "account_name" in args:
        problems.extend(account_name_problems(args["account_name"]))
    elif name is not None and not name_prefix(name, MAX_ACCOUNT_NAME_LENGTH):
        problems.append(
            f"name={name!r} has no letters or digits to start a storage account name with: give account_name "
            "(3 to 24 lowercase letters and digits)"
        )
    if "sku" in args and args["sku"] not in SKUS:
        problems.append(f"sku={args['sku']!r} is not allowed: use {one_of(SKUS)}")
    if "container_name" in args and (
        not isinstance(args["container_name"], str) or not CONTAINER_NAME.match(args["container_name"])
    ):
        problems.append(
            f"container_name={args['container_name']!r} is not a blob container name: use 3 to 63 lowercase "
            "letters, digits and '-', starting and ending with a letter or digit, without '--'"
        )
    problems.extend(_subnet_problems(args.get("allowed_subnet_ids")))
    problems.extend(_ip_range_problems(args.get("allowed_ip_ranges")))
    problems.extend(roles.principal_ids_problems("writer_principal_ids", args.get("writer_principal_ids")))
    if "writer_principal_type" in args and (
        problem := roles.principal_type_problem("writer_principal_type", args["writer_principal_type"])
    ):
        problems.append(problem)
    checks = [
        names.int_problem("noncurrent_version_days", args["noncurrent_version_days"], minimum=1)
        if "noncurrent_version_days" in args
        else None,
        _soft_delete_problem("soft_delete_days", args["soft_delete_days"]) if "soft_delete_days" in args else None,
        _soft_delete_problem("container_soft_delete_days", args["container_soft_delete_days"])
        if "container_soft_delete_days" in args
        else None,
    ]
    checks.extend(
        names.bool_problem(flag, args[flag]) for flag in ("infrastructure_encryption", "protect") if flag in args
    )
    problems.extend(p for p in checks if p)
    problems.extend(tag_problems(args.get("tags")))
    return problems


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
        not isinstance(oidc_issuer_url, str) or urlsplit(oidc_issuer_url).scheme != "https"
        or not urlsplit(oidc_issuer_url).netloc
    ):
        problems.append(
            f"oidc_issuer_url={oidc_issuer_url!r} is not an OIDC issuer URL: use the cluster's https:// issuer "
            "(the Cluster's oidc_issuer_url output)"
        )
    return problems


def workload_identity_subject(namespace: str, service_account: str) -> str:
    """Return the subject of a Kubernetes service account's tokens, as a federated credential matches it."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def _bounded_name(text: str, max_length: int) -> str:
    """Return ``text`` with characters Azure refuses in identity names turned into '-', cut to fit.

    A cut name ends with a hash of the whole text, so that two long names never collide.
    """
    clean = IDENTITY_NAME_CHARS.sub("-", text)
    if len(clean) <= max_length:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean[: max_length - len(digest) - 1]}-{digest}"


def identity_name(account_name: str, namespace: str, service_account: str) -> str:
    """Return the managed identity's name: the account (globally unique), the namespace and service account."""
    return _bounded_name(f"{account_name}-{namespace}-{service_account}", MAX_IDENTITY_NAME_LENGTH)


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
        child = pulumi.ResourceOptions(parent=self)
        # The settings of a kept account are kept too: deleting the lifecycle rule or soft delete of a
        # kept account would only leave it more expensive or less recoverable.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=protect)
        guarded = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        account_name: pulumi.Input[str]
        if "account_name" in args:
            account_name = args["account_name"]
        else:
            # Storage account names are global and take no '-'.
            account_name = unique_name(f"{name}-account-suffix", name, MAX_ACCOUNT_NAME_LENGTH, child)

        encryption = None
        if args.get("infrastructure_encryption", False):
            encryption = storage.EncryptionArgs(
                key_source=storage.KeySource.MICROSOFT_STORAGE,
                require_infrastructure_encryption=True,
                services=storage.EncryptionServicesArgs(
                    blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT)
                ),
            )
        account = storage.StorageAccount(
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
            network_rule_set=storage.NetworkRuleSetArgs(
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
            ),
            encryption=encryption,
            tags=self._tags,
            opts=guarded,
        )

        soft_delete_days = args.get("soft_delete_days", DEFAULT_SOFT_DELETE_DAYS)
        container_soft_delete_days = args.get("container_soft_delete_days", DEFAULT_SOFT_DELETE_DAYS)
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=account.name,
            resource_group_name=self._resource_group_name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=_retention(soft_delete_days),
            container_delete_retention_policy=_retention(container_soft_delete_days),
            opts=kept,
        )
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
        storage.ManagementPolicy(
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
            opts=pulumi.ResourceOptions.merge(kept, after_blob_service),
        )

        for index, principal in enumerate(args.get("writer_principal_ids") or []):
            roles.role_assignment(
                roles.principal_resource_name(f"{name}-writer", index, principal),
                scope=container.id,
                principal_id=principal,
                role=roles.STORAGE_BLOB_DATA_CONTRIBUTOR,
                principal_type=args.get("writer_principal_type", DEFAULT_WRITER_PRINCIPAL_TYPE),
                opts=child,
            )

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
        identity = managedidentity.UserAssignedIdentity(
            prefix,
            resource_group_name=self._resource_group_name,
            location=self._location,
            resource_name_=self.account_name.apply(lambda account: identity_name(account, namespace, service_account)),
            tags=self._tags,
            opts=child,
        )
        credential = managedidentity.FederatedIdentityCredential(
            f"{prefix}-federation",
            resource_group_name=self._resource_group_name,
            resource_name_=identity.name,
            federated_identity_credential_resource_name=_bounded_name(
                f"{namespace}-{service_account}", MAX_FEDERATED_CREDENTIAL_NAME_LENGTH
            ),
            issuer=oidc_issuer_url,
            subject=workload_identity_subject(namespace, service_account),
            audiences=[WORKLOAD_IDENTITY_AUDIENCE],
            opts=child,
        )
        reader = roles.role_assignment(
            f"{prefix}-reader",
            scope=self._container.id,
            principal_id=identity.principal_id,
            role=roles.STORAGE_BLOB_DATA_READER,
            # A new identity may not have replicated through Entra yet; the type lets Azure assign anyway.
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            opts=child,
        )
        return ReadGrant(
            identity_client_id=identity.client_id,
            principal_id=identity.principal_id,
            namespace=namespace,
            service_account=service_account,
            service_account_annotations={CLIENT_ID_ANNOTATION: identity.client_id},
            pod_labels={USE_LABEL: "true"},
            resources=[identity, credential, reader],
        )


def _retention(days: int) -> storage.DeleteRetentionPolicyArgs:
    """Return a soft delete policy keeping deleted items ``days`` days; 0 turns it off."""
    if days == 0:
        return storage.DeleteRetentionPolicyArgs(enabled=False)
    return storage.DeleteRetentionPolicyArgs(enabled=True, days=days)
