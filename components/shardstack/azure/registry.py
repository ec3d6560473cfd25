"""Registry: the Azure Container Registry for Shardstack's runtime image.

Usage::

    from shardstack.azure.registry import Registry

    registry = Registry("registry", {
        "resource_group_name": network.resource_group_name,
        "location": "eastus",
        "reader_principal_ids": [cluster.kubelet_identity_object_id],
    })
    image = pulumi.Output.concat(registry.registry_url, "/shardstack-runtime:0.1.0")

Only Microsoft Entra identities can pull or push: the admin user (a shared username and password) is
off, and so is anonymous pull. AKS nodes pull as the cluster's kubelet identity: list its object ID in
``reader_principal_ids`` and it gets AcrPull (pull, nothing else: no push, no delete, no management) on
this registry only, not on the resource group or subscription. Push with a principal you give AcrPush
yourself (e.g. CI).

The SKU is Premium by default, for what a GPU fleet needs: the most concurrent pulls and bandwidth (a
scale-out of GPU nodes pulls a multi-GiB CUDA image at once), 500 GiB of included storage, and the
features only Premium has: the retention policy that deletes untagged manifests (superseded builds) after
``untagged_retention_days`` (7), private endpoints and firewall rules, and geo-replication. 'Standard'
costs about 40% of Premium's daily price and suits small or dev stacks: it has none of those, so untagged
manifests are kept until deleted by hand. 'Basic' is not offered: its throughput is too low for GPU nodes pulling
large images. Azure makes registries zone-redundant at no cost, on every SKU, in regions with availability
zones, whatever the registry's ``zoneRedundancy`` property says; so it keeps the provider's default
('Disabled'), as an explicit 'Enabled' would add nothing there and be refused in regions without zones.

The registry's public endpoint stays on: AKS nodes pull through it unless the registry has a private
endpoint in the cluster's network (which Shardstack does not create), and authentication, not the
network, is what keeps others out. Images are named ``<registry_url>/<image>:<tag>``. The registry keeps
Azure's default role assignment mode (registry-wide RBAC), in which AcrPull is honoured.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import re
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi
from pulumi_azure_native import authorization, containerregistry

from shardstack.azure import roles
from shardstack.azure.arm import name_prefix, placement_problems, unique_name
from shardstack.azure.tags import component_tags, tag_problems
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.k8s import names

TYPE_TOKEN = "shardstack:azure:Registry"

SKUS = ("Standard", "Premium")
DEFAULT_SKU = "Premium"
"""Highest pull concurrency and bandwidth, and the untagged-manifest retention policy (see the module doc)."""
RETENTION_SKUS = ("Premium",)
"""The SKUs that support the retention policy for untagged manifests."""
DEFAULT_UNTAGGED_RETENTION_DAYS = 7
"""Untagged manifests are superseded builds nobody references by tag any more."""
MAX_UNTAGGED_RETENTION_DAYS = 365

REGISTRY_NAME = re.compile(r"^[A-Za-z0-9]{5,50}$")
MAX_REGISTRY_NAME_LENGTH = 50


class RegistryArgs(TypedDict, total=False):
    """Arguments of Registry."""

    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the registry, e.g. the Network's ``resource_group_name``. Required."""
    location: Required[str]
    """Azure region of the registry, e.g. 'eastus': best the cluster's, so that pulls stay in-region.
    Required."""
    registry_name: str
    """Globally unique registry name: 5 to 50 letters and digits; the registry URL is
    ``<lowercased name>.azurecr.io``. Default: the component name's lowercase letters and digits (at most
    42) followed by 8 random ones."""
    sku: str
    """Service tier: 'Premium' (most pull throughput, untagged-manifest retention, private endpoints) or
    'Standard' (cheaper, none of those). Default: 'Premium'."""
    untagged_retention_days: int
    """Days an untagged manifest is kept before the retention policy deletes it: 0 to 365 (0 deletes it
    as soon as it is untagged). Premium only. Default: 7 on Premium; on Standard untagged manifests are
    kept."""
    reader_principal_ids: Sequence[pulumi.Input[str]]
    """Object IDs of the service principals or managed identities that may pull (e.g. the Cluster's
    ``kubelet_identity_object_id``), each given AcrPull on this registry. Default: none."""
    tags: Mapping[str, str]
    """Tags added to the registry, next to ``shardstack-component: <name>``. Default: none."""


def registry_name_problems(value: Any) -> list[str]:
    """Return every container registry naming rule ``value`` breaks."""
    if not isinstance(value, str):
        return [f"registry_name must be a string; got {value!r}"]
    problems: list[str] = []
    if not 5 <= len(value) <= MAX_REGISTRY_NAME_LENGTH:
        problems.append(f"registry_name={value!r} has {len(value)} characters; a registry name has 5 to 50")
    if bad := sorted({c for c in value if not (c.isascii() and c.isalnum())}):
        problems.append(
            f"registry_name={value!r} contains {', '.join(repr(c) for c in bad)}; a registry name may contain "
            "only letters and digits"
        )
    return problems


def validate_registry_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Registry arguments, one line each."""
    problems: list[str] = []
    for key in sorted(set(args) - set(RegistryArgs.__annotations__)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, RegistryArgs.__annotations__)}")
    problems.extend(placement_problems(args, "the registry"))
    if "registry_name" in args:
        problems.extend(registry_name_problems(args["registry_name"]))
    elif name is not None and not name_prefix(name, MAX_REGISTRY_NAME_LENGTH):
        problems.append(
            f"name={name!r} has no letters or digits to start a registry name with: give registry_name "
            "(5 to 50 letters and digits)"
        )
    sku = args.get("sku", DEFAULT_SKU)
    if sku not in SKUS:
        hint = " ('Basic' has too little pull throughput for GPU nodes)" if sku == "Basic" else ""
        problems.append(f"sku={sku!r} is not allowed: use {one_of(SKUS)}{hint}")
    if "untagged_retention_days" in args:
        days = args["untagged_retention_days"]
        problem = names.int_problem("untagged_retention_days", days, minimum=0, maximum=MAX_UNTAGGED_RETENTION_DAYS)
        if problem:
            problems.append(problem)
        elif sku in SKUS and sku not in RETENTION_SKUS:
            problems.append(
                f"untagged_retention_days={days!r} needs sku 'Premium': the retention policy for untagged "
                f"manifests is a Premium feature (sku is {sku!r})"
            )
    problems.extend(roles.principal_ids_problems("reader_principal_ids", args.get("reader_principal_ids")))
    problems.extend(tag_problems(args.get("tags")))
    return problems


class Registry(pulumi.ComponentResource):
    """Creates an Azure Container Registry that only Entra identities can use, AcrPull for its readers."""

    registry_url: pulumi.Output[str]
    """Login server, ``<name>.azurecr.io``: append ``/<image>:<tag>`` to name an image."""
    registry_id: pulumi.Output[str]
    """Resource ID of the registry."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_registry_args(args, name=name)
        if problems:
            raise ArgumentError(f"Registry {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        sku = args.get("sku", DEFAULT_SKU)

        registry_name: pulumi.Input[str]
        if "registry_name" in args:
            registry_name = args["registry_name"]
        else:
            # Registry names are global and take no '-'.
            registry_name = unique_name(f"{name}-registry-suffix", name, MAX_REGISTRY_NAME_LENGTH, child)

        policies = None
        if sku in RETENTION_SKUS:
            policies = containerregistry.PoliciesArgs(
                retention_policy=containerregistry.RetentionPolicyArgs(
                    status=containerregistry.PolicyStatus.ENABLED,
                    days=args.get("untagged_retention_days", DEFAULT_UNTAGGED_RETENTION_DAYS),
                )
            )
        registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=registry_name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            sku=containerregistry.SkuArgs(name=sku),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            # AKS nodes pull through the public endpoint (there is no private endpoint); Entra
            # authentication keeps everyone else out.
            public_network_access=containerregistry.PublicNetworkAccess.ENABLED,
            policies=policies,
            tags=component_tags(name, args.get("tags")),
            opts=child,
        )

        for index, principal in enumerate(args.get("reader_principal_ids") or []):
            roles.role_assignment(
                roles.principal_resource_name(f"{name}-reader", index, principal),
                scope=registry.id,
                principal_id=principal,
                role=roles.ACR_PULL,
                # Kubelet and other managed identities are service principals; a fresh one may not have
                # replicated through Entra yet, and the type lets Azure assign the role anyway.
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                opts=child,
            )

        self.registry_url = registry.login_server
        self.registry_id = registry.id
        self.register_outputs({"registry_url": self.registry_url, "registry_id": self.registry_id})
