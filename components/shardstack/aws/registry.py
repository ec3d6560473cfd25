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
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from shardstack.aws.tags import COMPONENT_TAG, tag_problems
from shardstack.errors import ArgumentError, did_you_mean
from shardstack.k8s import names

TYPE_TOKEN = "shardstack:aws:Registry"

DEFAULT_REPOSITORY_NAME = "shardstack/runtime"
DEFAULT_KEEP_IMAGES = 30
"""Enough to roll back through weeks of releases; older images only cost storage and scan noise."""
UNTAGGED_IMAGE_DAYS = 7
"""Untagged images are superseded builds and layers of multi-arch indexes nobody references any more."""

PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
"""What pulling an image needs at the repository; nothing that pushes, deletes or changes policy."""

REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/.+|user/.+)$")


class RegistryArgs(TypedDict, total=False):
    """Arguments of Registry."""

    repository_name: str
    """Repository name: 2 to 256 lowercase letters, digits and '.', '_', '-' between them, in
    '/'-separated parts. Default: 'shardstack/runtime'."""
    kms_key_arn: pulumi.Input[str]
    """ARN of a KMS key to encrypt the images with. Default: KMS encryption with the AWS managed key
    for ECR (aws/ecr)."""
    keep_images: int
    """Tagged images to keep; older ones expire, newest first kept. At least 1. Default: 30."""
    pull_principal_arns: Sequence[pulumi.Input[str]]
    """IAM principals (role, user or account root ARNs) allowed to pull, through a repository policy.
    Default: none and no repository policy; the cluster's nodes pull through their own role."""
    tags: Mapping[str, str]
    """Tags added to the repository, next to ``shardstack:component: <name>``. Default: none."""


def repository_name_problem(arg: str, value: Any) -> str | None:
    """Check an ECR repository name."""
    if not isinstance(value, str) or not 2 <= len(value) <= 256 or not REPOSITORY_NAME.match(value):
        return (
            f"{arg}={value!r} is not an ECR repository name: use 2 to 256 lowercase letters and digits, "
            "with single '.', '_' or '-' between them, in parts separated by '/' (e.g. 'shardstack/runtime')"
        )
    return None


def _pull_principal_problems(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [f"pull_principal_arns must be a list of IAM principal ARNs; got {value!r}"]
    problems: list[str] = []
    for i, arn in enumerate(value):
        if isinstance(arn, pulumi.Output):
            continue
        if not isinstance(arn, str) or not IAM_PRINCIPAL_ARN.match(arn):
            problems.append(
                f"pull_principal_arns[{i}]={arn!r} is not an IAM principal ARN: use a role, user or account "
                "root ARN such as 'arn:aws:iam::123456789012:role/nodes'"
            )
    return problems


def validate_registry_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with Registry arguments, one line each."""
    problems: list[str] = []
    for key in sorted(set(args) - set(RegistryArgs.__annotations__)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, RegistryArgs.__annotations__)}")
    checks = [
        repository_name_problem("repository_name", args["repository_name"]) if "repository_name" in args else None,
        names.int_problem("keep_images", args["keep_images"], minimum=1) if "keep_images" in args else None,
    ]
    kms_key_arn = args.get("kms_key_arn")
    if (
        "kms_key_arn" in args
        and not isinstance(kms_key_arn, pulumi.Output)
        and (not isinstance(kms_key_arn, str) or not KMS_KEY_ARN.match(kms_key_arn))
    ):
        checks.append(
            f"kms_key_arn={kms_key_arn!r} is not a KMS key ARN: use 'arn:aws:kms:<region>:<account>:key/<key id>'"
        )
    problems.extend(p for p in checks if p)
    problems.extend(_pull_principal_problems(args.get("pull_principal_arns")))
    problems.extend(tag_problems(args.get("tags")))
    return problems


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
