"""GcpInstallation's arguments: its region, each part's own arguments minus what the installation wires, and the
inference."""

from __future__ import annotations

from dataclasses import replace

from shardstack.gcp import specs
from shardstack.gcp.cluster_specs import INSTALLATION_CLUSTER, REGION
from shardstack.gcp.labels import GCP_LABELS
from shardstack.gcp.network_specs import INSTALLATION_NETWORK
from shardstack.gcp.specs import NAMED_GPU_POOL
from shardstack.gcp.storage_specs import INSTALLATION_REGISTRY, INSTALLATION_WEIGHT_STORE
from shardstack.k8s.specs import GPU_ENABLEMENT
from shardstack.specs.installation import cloud_inference_doc, create_registry_arg, gpu_pools_arg, serving_args
from shardstack.specs.kinds import Record
from shardstack.specs.spec import Arg, Spec

GCP_INSTALLATION = Spec(
    "GcpInstallationArgs",
    "Arguments of GcpInstallation: each part's own arguments, minus what the installation wires.",
    (
        Arg(
            "region",
            REGION,
            "The region of the network, the cluster and its node pools, e.g. 'us-central1'; also the default "
            "location of the weight bucket and the registry (so that loading weights and pulling images stay "
            "in-region).",
            required=True,
        ),
        Arg(
            "network",
            Record(INSTALLATION_NETWORK),
            "The VPC.",
            default_doc="a new network with a subnetwork in ``region`` and Cloud NAT",
        ),
        Arg(
            "cluster",
            Record(INSTALLATION_CLUSTER),
            "The GKE cluster, named after the installation.",
            default_doc="private endpoint only",
        ),
        gpu_pools_arg(NAMED_GPU_POOL, "the cluster, its location and node service account"),
        Arg(
            "weight_store",
            Record(INSTALLATION_WEIGHT_STORE),
            "The Cloud Storage bucket for the weights (see WeightStore).",
            default_doc="a new, protected bucket in ``region``",
        ),
        Arg(
            "registry",
            Record(INSTALLATION_REGISTRY),
            "The Artifact Registry repository for the runtime image (see Registry); the nodes' service account is "
            "added to its readers.",
            default_doc="repository 'shardstack' in ``region``",
        ),
        create_registry_arg("Artifact Registry repository"),
        Arg(
            "gpu_enablement",
            Record(GPU_ENABLEMENT),
            "Only for the DCGM exporter (``{'dcgm_exporter': True}``): GKE installs the NVIDIA device plugin itself, "
            "so ``device_plugin`` is always False here.",
            default_doc="nothing is deployed",
        ),
        *serving_args(cloud_inference_doc("bucket", "Workload Identity Federation")),
        Arg("labels", GCP_LABELS, "GCP labels on every resource that takes them, beside each component's own."),
    ),
)
"""GcpInstallation's arguments."""

ARGS = replace(specs.ARGS, specs=(*specs.ARGS.specs, GCP_INSTALLATION))
"""The GCP TypedDicts (``shardstack.gcp.args``): the components' and the installation's."""
