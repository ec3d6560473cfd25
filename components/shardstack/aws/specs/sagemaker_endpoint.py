"""SageMakerEndpoint's arguments: the managed endpoint every cloud shares, plus what is AWS's own."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shardstack.aws.specs.kinds import KMS_KEY
from shardstack.aws.tags import aws_tags
from shardstack.specs.kinds import Whole
from shardstack.specs.managed_endpoint import managed_endpoint_spec
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Values

PLATFORM = "sagemaker"

ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repository>[^:@]+)[:@].+$"
)
"""An image in a private ECR repository, with its tag or digest: SageMaker pulls from nowhere else (short of a
VPC-hosted registry), and the execution role is granted that one repository."""

DEFAULT_TARGET_INVOCATIONS_PER_INSTANCE = 60
"""Invocations per instance per minute the autoscaling keeps each instance at: one a second, about what one
replica group of a chat model answers while keeping its latency (the runtime batches concurrent requests)."""


def _ecr_image(values: Values) -> Iterator[Problem]:
    image = values["image"]
    if isinstance(image, str) and not ECR_IMAGE.match(image):
        yield Problem(
            ("image",),
            "is not an image in a private ECR repository with a tag or digest "
            "('<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>'): SageMaker pulls only from ECR; "
            "push the runtime image to the Registry's repository_url",
            image,
        )


SAGEMAKER_ENDPOINT = managed_endpoint_spec(PLATFORM).extend(
    "SageMakerEndpointArgs",
    "Arguments of SageMakerEndpoint: the managed endpoint every cloud shares, plus what is AWS's own.",
    (
        Arg(
            "weights_kms_key_arn",
            KMS_KEY,
            "KMS key the weight bucket is encrypted with (a WeightStore's ``kms_key_arn``): the endpoint's role may "
            "decrypt with it, through S3 only.",
            default_doc="none: the bucket uses S3-managed keys",
        ),
        Arg(
            "target_invocations_per_instance",
            Whole(1, 100_000, why="SageMaker counts invocations per instance per minute"),
            "Invocations per instance per minute that autoscaling keeps each instance at, between min_instances and "
            "max_instances (used when max_instances > min_instances).",
            default=DEFAULT_TARGET_INVOCATIONS_PER_INSTANCE,
        ),
        Arg(
            "tags",
            aws_tags(),
            "AWS tags for every resource the endpoint creates.",
            default_doc="none (``shardstack:component`` is always set)",
        ),
    ),
    rules=(Rule(("image",), _ecr_image),),
)
"""SageMakerEndpoint's arguments."""
