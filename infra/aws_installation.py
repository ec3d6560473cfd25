"""`shardstack:cloud: aws`: the stack config as AwsInstallation's arguments, under an AWS provider made here."""

from __future__ import annotations

from typing import Any

import config
import pulumi
import pulumi_aws as aws
from installation_args import cloud_outputs, cluster_access, gpu_pool_args, serving_args
from model_sizing import ModelSizing

from shardstack.aws import AwsInstallation, AwsInstallationArgs, InstallationCluster, InstallationNetwork, NamedGpuPool


def provider(cfg: config.StackConfig) -> aws.Provider:
    """The AWS provider in the stack's region, tagging everything with the stack's name."""
    # A provider made in code reads no `aws:*` stack key by itself; `aws:profile` picks the credentials.
    return aws.Provider(
        "aws",
        region=cfg.region,
        profile=pulumi.Config("aws").get("profile"),
        default_tags=aws.ProviderDefaultTagsArgs(tags={"shardstack:stack": pulumi.get_stack()}),
    )


def install(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """A VPC, an EKS cluster, GPU pools, an S3 weight store, ECR, and the inference deployment; its outputs."""
    stack = pulumi.get_stack()
    network = InstallationNetwork(nat_gateways=cfg.network.nat_gateways)
    if cfg.zones:
        network["availability_zones"] = list(cfg.zones)
    args = AwsInstallationArgs(
        network=network,
        cluster=InstallationCluster(**cluster_access(cfg)),
        gpu_pools=[NamedGpuPool(name=pool.name, **gpu_pool_args(pool)) for pool in cfg.gpu_pools],
        **serving_args(cfg, sizing.shards),
    )
    return cloud_outputs(
        AwsInstallation(stack, args, opts=pulumi.ResourceOptions(providers={"aws": provider(cfg)})), sizing
    )
