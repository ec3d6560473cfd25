"""Registry's arguments."""

from __future__ import annotations

import re

from shardstack.aws.specs.kinds import KMS_KEY
from shardstack.aws.tags import aws_tags
from shardstack.limits import KEPT_IMAGES
from shardstack.specs.kinds import Input, ListOf, Shaped, Text
from shardstack.specs.spec import Arg, Spec

DEFAULT_REPOSITORY_NAME = "shardstack/runtime"
DEFAULT_KEEP_IMAGES = 30
"""Enough to roll back through weeks of releases; older images only cost storage and scan noise."""

_REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/.+|user/.+)$")


def _repository_name(value: str) -> str | None:
    if 2 <= len(value) <= 256 and _REPOSITORY_NAME.match(value):
        return None
    return (
        "is not an ECR repository name: use 2 to 256 lowercase letters and digits, with single '.', '_' or '-' "
        "between them, in parts separated by '/' (e.g. 'shardstack/runtime')"
    )


REGISTRY = Spec(
    "RegistryArgs",
    "Arguments of Registry.",
    (
        Arg(
            "repository_name",
            Text("an ECR repository name like 'shardstack/runtime'", _repository_name),
            "Repository name: 2 to 256 lowercase letters, digits and '.', '_', '-' between them, in '/'-separated "
            "parts.",
            default=DEFAULT_REPOSITORY_NAME,
        ),
        Arg(
            "kms_key_arn",
            KMS_KEY,
            "ARN of a KMS key to encrypt the images with.",
            default_doc="KMS encryption with the AWS managed key for ECR (aws/ecr)",
        ),
        Arg(
            "keep_images",
            KEPT_IMAGES,
            "Tagged images to keep; older ones expire, newest first kept. At least 1.",
            default=DEFAULT_KEEP_IMAGES,
        ),
        Arg(
            "pull_principal_arns",
            ListOf(
                Input(
                    Shaped(
                        "an IAM principal ARN like 'arn:aws:iam::123456789012:role/nodes'",
                        _IAM_PRINCIPAL_ARN,
                        "is not an IAM principal ARN: use a role, user or account root ARN such as "
                        "'arn:aws:iam::123456789012:role/nodes'",
                    )
                )
            ),
            "IAM principals (role, user or account root ARNs) allowed to pull, through a repository policy.",
            default_doc="none and no repository policy; the cluster's nodes pull through their own role",
        ),
        Arg(
            "tags",
            aws_tags(),
            "Tags added to the repository, next to ``shardstack:component: <name>``.",
        ),
    ),
)
"""Registry's arguments."""
