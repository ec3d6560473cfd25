"""`shardstack:cloud: azure`: the stack config as AzureInstallation's arguments, under a provider made here."""

from __future__ import annotations

from typing import Any

import config
import pulumi
import pulumi_azure_native as azure_native
from installation_args import cloud_outputs, cluster_access, gpu_pool_args, serving_args
from model_sizing import ModelSizing

from shardstack.azure import (
    AzureInstallation,
    AzureInstallationArgs,
    InstallationCluster,
    InstallationWeightStore,
    NamedGpuPool,
)


def provider(cfg: config.StackConfig) -> azure_native.Provider:
    """The azure-native provider, in the stack's region, signed in as the stack's `azure-native:*` keys say.

    A provider made in code reads none of those keys by itself: pass the ones a stack sets to pick its
    subscription and sign-in. Unset, the provider's own lookup applies (ARM_SUBSCRIPTION_ID, ARM_CLIENT_ID,
    ..., else `az login`'s subscription).
    """
    settings = pulumi.Config("azure-native")
    return azure_native.Provider(
        "azure-native",
        location=cfg.region,
        subscription_id=settings.get("subscriptionId"),
        tenant_id=settings.get("tenantId"),
        client_id=settings.get("clientId"),
        use_oidc=settings.get_bool("useOidc"),
    )


def gpu_pool(cfg: config.StackConfig, pool: config.GpuPoolConfig) -> NamedGpuPool:
    """One GPU pool, in its zones (the pool's own, else the stack's)."""
    args = NamedGpuPool(name=pool.name, **gpu_pool_args(pool))
    zones = pool.zones if pool.zones is not None else cfg.zones
    if zones:
        args["zones"] = list(zones)
    return args


def install(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """A VNet, an AKS cluster, GPU pools, a Blob weight store, a registry, and the inference; its outputs."""
    stack = pulumi.get_stack()
    cluster = InstallationCluster(**cluster_access(cfg), deployer_principal_type=cfg.cluster.deployer_principal_type)
    if cfg.zones:
        cluster["zones"] = list(cfg.zones)
    assert cfg.region is not None  # config requires a region for every cloud
    args = AzureInstallationArgs(
        location=cfg.region,
        cluster=cluster,
        gpu_pools=[gpu_pool(cfg, pool) for pool in cfg.gpu_pools],
        weight_store=InstallationWeightStore(
            allowed_ip_ranges=[str(c) for c in cfg.weight_store.allowed_networks],
            allowed_subnet_ids=list(cfg.weight_store.allowed_subnet_ids),
        ),
        # azure-native has no default tags: the installation passes them to every part.
        tags={"shardstack-stack": stack},
        **serving_args(cfg, sizing.shards),
    )
    install = AzureInstallation(stack, args, opts=pulumi.ResourceOptions(providers={"azure-native": provider(cfg)}))
    return {**cloud_outputs(install, sizing), "resource_group_name": install.resource_group_name}
