"""A Shardstack installation on Azure: a VNet, an AKS cluster, a GPU pool, an encrypted Blob weight store with a
read-only identity for the ranks, a container registry, and the OpenAI-compatible API. The answers to
`pulumi new`'s prompts are this stack's config (`pulumi config`); README.md says what to change next."""

import pulumi

from shardstack.azure import (
    AzureInstallation,
    AzureInstallationArgs,
    InstallationCluster,
    InstallationWeightStore,
    NamedGpuPool,
)
from shardstack.template_config import TemplateSettings

settings = TemplateSettings.read("shardstack-azure")
installation = AzureInstallation(
    pulumi.get_project(),
    AzureInstallationArgs(
        location=pulumi.Config("azure-native").require("location"),
        cluster=InstallationCluster(**settings.cluster()),
        gpu_pools=[NamedGpuPool(name="gpu", **settings.gpu_pool())],
        # The storage account's firewall admits the same networks: `weights push` runs from there.
        weight_store=InstallationWeightStore(allowed_ip_ranges=list(settings.authorized_networks)),
        **settings.serving(),
    ),
)

pulumi.export("endpoint", installation.endpoint)
pulumi.export("bucket_uri", installation.bucket_uri)
pulumi.export("model_uri", installation.model_uri)
pulumi.export("kubeconfig", installation.kubeconfig)
pulumi.export("resource_group_name", installation.resource_group_name)
pulumi.export("gpu_usd_per_hour_max", installation.gpu_usd_per_hour_max)
