"""Registry: the ECR repository for Shardstack's runtime image.

Usage::

    from shardstack.aws.registry import Registry

    registry = Registry("registry", {"keep_images": 50})
    image = pulumi.Output.concat(registry.repository_url, ":0.1.0")

Tags are immutable (a tag always names the same image, so every rank of a replica group runs the same
bytes), every push is scanned for known vulnerabilities, images are encrypted with KMS, untagged images
expire after 7 days and only the newest ``keep_images`` tagged images are kept.

EKS nodes need no repository policy to pull: Shardstack's Cluster gives its node role AWS's managed
``AmazonEC2ContainerRegistryReadOnly`` policy. Give ``pull_principal_arns`` only for principals that
pull from elsewhere (e.g. another account's nodes); they still need ``ecr:GetAuthorizationToken`` in
their own IAM policy, as that action has no repository to scope it to.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from shardstack.aws.args import RegistryArgs
from shardstack.aws.specs import DEFAULT_KEEP_IMAGES, DEFAULT_REPOSITORY_NAME, REGISTRY
from shardstack.aws.tags import COMPONENT_TAG
from shardstack.errors import ArgumentError
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:aws:Registry"

__all__ = [
    "DEFAULT_KEEP_IMAGES",
    "DEFAULT_REPOSITORY_NAME",
    "PULL_ACTIONS",
    "UNTAGGED_IMAGE_DAYS",
    "Registry",
    "RegistryArgs",
    "lifecycle_policy",
    "validate_registry_args",
]

UNTAGGED_IMAGE_DAYS = 7
"""Untagged images are superseded builds and layers of multi-arch indexes nobody references any more."""

PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
"""What pulling an image needs at the repository; nothing that pushes, deletes or changes policy."""


def validate_registry_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with Registry arguments, one line each."""
    return as_arguments(REGISTRY.check(args))


def lifecycle_policy(keep_images: int) -> str:
    """Return the ECR lifecycle policy: untagged images expire after 7 days, the newest tagged are kept."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images {UNTAGGED_IMAGE_DAYS} days after push",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": UNTAGGED_IMAGE_DAYS,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the newest {keep_images} tagged images",
                    # 'tagged' needs a tag pattern; '*' matches every tag.
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


def _pull_policy(principal_arns: list[str]) -> str:
    # A repository policy applies to its own repository: it has no Resource element.
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowPull",
                    "Effect": "Allow",
                    "Principal": {"AWS": principal_arns},
                    "Action": list(PULL_ACTIONS),
                }
            ],
        }
    )


class Registry(pulumi.ComponentResource):
    """Creates an ECR repository with immutable tags, scan on push, KMS encryption and image expiry."""

    repository_url: pulumi.Output[str]
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>``: append ``:<tag>`` to name an image."""
    repository_arn: pulumi.Output[str]
    """ARN of the repository."""
    registry_id: pulumi.Output[str]
    """Account ID of the registry that holds the repository."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_registry_args(args)
        if problems:
            raise ArgumentError(f"Registry {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        encryption = aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")
        if "kms_key_arn" in args:
            encryption = aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=args["kms_key_arn"]
            )
        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.get("repository_name", DEFAULT_REPOSITORY_NAME),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[encryption],
            # Deleting the stack must not delete images that running clusters may still pull.
            force_delete=False,
            tags={**args.get("tags", {}), COMPONENT_TAG: name},
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(args.get("keep_images", DEFAULT_KEEP_IMAGES)),
            opts=child,
        )
        principals = list(args.get("pull_principal_arns") or [])
        if principals:
            aws.ecr.RepositoryPolicy(
                f"{name}-pull",
                repository=repository.name,
                policy=pulumi.Output.all(*principals).apply(lambda arns: _pull_policy(list(arns))),
                opts=child,
            )

        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.registry_id = repository.registry_id
        self.register_outputs(
            {
                "repository_url": self.repository_url,
                "repository_arn": self.repository_arn,
                "registry_id": self.registry_id,
            }
        )
