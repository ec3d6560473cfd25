"""AwsInstallation's arguments: each part's own arguments, minus what the installation wires, and the inference."""

from __future__ import annotations

from shardstack.aws.specs.cluster import INSTALLATION_CLUSTER
from shardstack.aws.specs.cluster_autoscaler import INSTALLATION_AUTOSCALER
from shardstack.aws.specs.gpu_pool import NAMED_GPU_POOL
from shardstack.aws.specs.network import INSTALLATION_NETWORK
from shardstack.aws.specs.registry import REGISTRY
from shardstack.aws.specs.weight_store import WEIGHT_STORE
from shardstack.aws.tags import COMPONENT_TAG, aws_tags
from shardstack.k8s.specs import GPU_ENABLEMENT
from shardstack.specs.installation import cloud_inference_doc, create_registry_arg, gpu_pools_arg, serving_args
from shardstack.specs.kinds import Record
from shardstack.specs.spec import Arg, Spec

AWS_INSTALLATION = Spec(
    "AwsInstallationArgs",
    "Arguments of AwsInstallation: each part's own arguments, minus what the installation wires.",
    (
        Arg(
            "network",
            Record(INSTALLATION_NETWORK),
            "The VPC.",
            default_doc="a new VPC over 3 zones, a NAT gateway per zone",
        ),
        Arg("cluster", Record(INSTALLATION_CLUSTER), "The EKS cluster.", default_doc="private endpoint only"),
        gpu_pools_arg(NAMED_GPU_POOL, "the cluster, node role and subnets"),
        Arg(
            "weight_store",
            Record(WEIGHT_STORE),
            "The S3 bucket for the weights (see WeightStore).",
            default_doc="a new, protected, KMS-encrypted bucket",
        ),
        Arg(
            "registry",
            Record(REGISTRY),
            "The ECR repository for the runtime image (see Registry).",
            default_doc="'shardstack/runtime'",
        ),
        create_registry_arg("ECR repository"),
        Arg(
            "cluster_autoscaler",
            Record(INSTALLATION_AUTOSCALER),
            "The cluster-autoscaler, which grows the GPU pools from ``min_nodes`` (even 0) when ranks are pending and "
            "shrinks them when idle.",
            default_doc="least-waste expander, idle nodes removed after 10 minutes",
        ),
        Arg(
            "gpu_enablement",
            Record(GPU_ENABLEMENT),
            "The NVIDIA device plugin (and optionally the DCGM exporter).",
            default_doc="the device plugin only",
        ),
        *serving_args(cloud_inference_doc("bucket", "Pod Identity")),
        Arg(
            "tags",
            # The installation's tags reach every resource of every part, beside its own "Name" on some.
            aws_tags(("Name", COMPONENT_TAG)),
            "Tags on every AWS resource, beside each component's own.",
            default_doc="none",
        ),
    ),
)
"""AwsInstallation's arguments."""
