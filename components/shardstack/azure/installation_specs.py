"""AzureInstallation's arguments: its location, each part's own arguments minus what the installation wires, and the
inference."""

from __future__ import annotations

from dataclasses import replace

from shardstack.azure import specs
from shardstack.azure.kinds import REGION, TAGS
from shardstack.azure.specs import (
    INSTALLATION_CLUSTER,
    INSTALLATION_NETWORK,
    INSTALLATION_REGISTRY,
    INSTALLATION_WEIGHT_STORE,
    NAMED_GPU_POOL,
)
from shardstack.k8s.specs import GPU_ENABLEMENT
from shardstack.specs.installation import cloud_inference_doc, create_registry_arg, gpu_pools_arg, serving_args
from shardstack.specs.kinds import Record
from shardstack.specs.spec import Arg, Spec

AZURE_INSTALLATION = Spec(
    "AzureInstallationArgs",
    "Arguments of AzureInstallation: each part's own arguments, minus what the installation wires.",
    (
        Arg("location", REGION, "The Azure region of every part, e.g. 'eastus'.", required=True),
        Arg(
            "network",
            Record(INSTALLATION_NETWORK),
            "The resource group and VNet.",
            default_doc="new ones, with a node subnet and its NSG",
        ),
        Arg("cluster", Record(INSTALLATION_CLUSTER), "The AKS cluster.", default_doc="a private cluster"),
        gpu_pools_arg(NAMED_GPU_POOL, "the cluster, its resource group and subnet"),
        Arg(
            "weight_store",
            Record(INSTALLATION_WEIGHT_STORE),
            "The storage account for the weights (see WeightStore).",
            default_doc="a new, protected account that only the cluster's subnet reaches",
        ),
        Arg(
            "registry",
            Record(INSTALLATION_REGISTRY),
            "The container registry for the runtime image (see Registry); the kubelet identity may pull.",
            default_doc="a Premium registry",
        ),
        create_registry_arg("container registry"),
        Arg(
            "gpu_enablement",
            Record(GPU_ENABLEMENT),
            "The NVIDIA device plugin (and optionally the DCGM exporter); it tolerates every pool's taints, AKS's "
            "Spot taint included.",
            default_doc="the device plugin only",
        ),
        *serving_args(cloud_inference_doc("container", "Workload Identity")),
        Arg("tags", TAGS, "Azure tags on every resource that takes them, beside each component's own."),
    ),
)
"""AzureInstallation's arguments."""

ARGS = replace(specs.ARGS, specs=(*specs.ARGS.specs, AZURE_INSTALLATION))
"""The Azure TypedDicts (``shardstack.azure.args``): the components' and the installation's."""
