"""A Shardstack installation on Google Cloud: a VPC, a GKE cluster, a GPU pool, an encrypted GCS weight store
with a read-only identity for the ranks, Artifact Registry, and the OpenAI-compatible API. The answers to
`pulumi new`'s prompts are this stack's config (`pulumi config`); README.md says what to change next."""

import pulumi

from shardstack.gcp import GcpInstallation, GcpInstallationArgs, InstallationCluster, NamedGpuPool
from shardstack.template_config import TemplateSettings

settings = TemplateSettings.read("shardstack-gcp")
installation = GcpInstallation(
    pulumi.get_project(),
    GcpInstallationArgs(
        region=pulumi.Config("gcp").require("region"),
        cluster=InstallationCluster(**settings.cluster()),
        gpu_pools=[NamedGpuPool(name="gpu", **settings.gpu_pool())],
        **settings.serving(),
    ),
)

pulumi.export("endpoint", installation.endpoint)
pulumi.export("bucket_uri", installation.bucket_uri)
pulumi.export("model_uri", installation.model_uri)
pulumi.export("kubeconfig", installation.kubeconfig)
pulumi.export("gpu_usd_per_hour_max", installation.gpu_usd_per_hour_max)
