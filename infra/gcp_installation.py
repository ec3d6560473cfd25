"""`shardstack:cloud: gcp`: the stack config as GcpInstallation's arguments, under a GCP provider made here."""

from __future__ import annotations

import re
from typing import Any

import config
import pulumi
import pulumi_gcp as gcp
from installation_args import cloud_outputs, cluster_access, gpu_pool_args, serving_args
from model_sizing import ModelSizing

from shardstack.gcp import GcpInstallation, GcpInstallationArgs, InstallationCluster, NamedGpuPool


def label_value(value: str) -> str:
    """``value`` as a GCP label value: lowercase letters, digits, '_' and '-', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def gpu_pool(cfg: config.StackConfig, pool: config.GpuPoolConfig) -> NamedGpuPool:
    """One GPU pool: its zones (the pool's own, else the stack's) and its placement."""
    args = NamedGpuPool(name=pool.name, **gpu_pool_args(pool))
    zones = pool.zones if pool.zones is not None else cfg.zones
    if zones:
        args["node_locations"] = list(zones)
    if pool.compact_placement:
        args["placement"] = "COMPACT"
    return args


def provider(cfg: config.StackConfig) -> gcp.Provider:
    """The GCP provider in the stack's region, labelling everything with the stack's name."""
    # The project: `gcp:project` in the stack's config, else the provider's own lookup (GOOGLE_CLOUD_PROJECT, ...).
    return gcp.Provider(
        "gcp",
        project=pulumi.Config("gcp").get("project"),
        region=cfg.region,
        default_labels={"shardstack-stack": label_value(pulumi.get_stack())},
    )


def install(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """A VPC, a GKE cluster, GPU pools, a GCS weight store, Artifact Registry, and the inference; its outputs."""
    stack = pulumi.get_stack()
    assert cfg.region is not None  # config requires a region for every cloud
    args = GcpInstallationArgs(
        region=cfg.region,
        # Cloud NAT is regional and survives a zone outage: shardstack:network.nat_gateways has no GCP choice.
        cluster=InstallationCluster(**cluster_access(cfg)),
        gpu_pools=[gpu_pool(cfg, pool) for pool in cfg.gpu_pools],
        **serving_args(cfg, sizing.shards),
    )
    return cloud_outputs(
        GcpInstallation(stack, args, opts=pulumi.ResourceOptions(providers={"gcp": provider(cfg)})), sizing
    )
