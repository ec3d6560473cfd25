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

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerregistry

from shardstack.azure import roles
from shardstack.azure.args import RegistryArgs
from shardstack.azure.arm import name_prefix, unique_name
from shardstack.azure.specs import (
    DEFAULT_REGISTRY_SKU,
    DEFAULT_UNTAGGED_RETENTION_DAYS,
    MAX_REGISTRY_NAME_LENGTH,
    MAX_UNTAGGED_RETENTION_DAYS,
    REGISTRY,
    REGISTRY_SKUS,
    RETENTION_SKUS,
)
from shardstack.azure.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:azure:Registry"

SKUS = REGISTRY_SKUS
DEFAULT_SKU = DEFAULT_REGISTRY_SKU

__all__ = [
    "DEFAULT_SKU",
    "DEFAULT_UNTAGGED_RETENTION_DAYS",
    "MAX_REGISTRY_NAME_LENGTH",
    "MAX_UNTAGGED_RETENTION_DAYS",
    "RETENTION_SKUS",
    "SKUS",
    "Registry",
    "RegistryArgs",
    "validate_registry_args",
]


def validate_registry_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Registry arguments (and its name, when given), one line each."""
    problems = as_arguments(REGISTRY.check(args))
    if name is not None and isinstance(args, Mapping):
        problems += name_problems(args, name)
    return problems


def name_problems(args: Mapping[str, Any], name: str) -> list[str]:
    """Why the component's name cannot start the registry's name (when ``args`` give none), if it can't."""
    if "registry_name" not in args and not name_prefix(name, MAX_REGISTRY_NAME_LENGTH):
        return [
            f"name={name!r} has no letters or digits to start a registry name with: give registry_name "
            "(5 to 50 letters and digits)"
        ]
    return []


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
