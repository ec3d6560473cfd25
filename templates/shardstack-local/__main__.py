"""The sharded runtime on a local cluster (kind, minikube, k3d), on CPU, with its weights in an in-cluster
S3-compatible store. The answers to `pulumi new`'s prompts are this stack's config (`pulumi config`); README.md
says what to change next."""

import pulumi
import pulumi_kubernetes as k8s

from shardstack.local import LocalInstallation, LocalInstallationArgs, LocalWeights
from shardstack.template_config import TemplateSettings

settings = TemplateSettings.read("shardstack-local")
serving = settings.serving()
serving["inference"].update(cpu="1", memory="2Gi")  # what one rank of the demo model needs on CPU
installation = LocalInstallation(
    LocalInstallationArgs(weights=LocalWeights(store="in-cluster-s3"), **serving),
    provider=k8s.Provider("local", context=settings.kube_context),
)

pulumi.export("endpoint", installation.endpoint)
pulumi.export("model_uri", installation.model_uri)
pulumi.export("weights_store_endpoint", installation.weights_store_endpoint)
