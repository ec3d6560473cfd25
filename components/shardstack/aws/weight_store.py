"""WeightStore: the S3 bucket that holds model checkpoints, and read-only access to it for pods.

Usage::

    from shardstack.aws.weight_store import WeightStore

    weights = WeightStore("weights", {"tags": {"team": "ml-platform"}})
    grant = weights.grant_read("shardstack", "shardstack-inference", cluster_name=cluster.name)
    ShardedInference("llm", {
        "model_uri": pulumi.Output.concat(weights.model_uri_prefix, "llama-3-70b/"),
        "service_account_annotations": grant.service_account_annotations,
        ...
    }, opts=pulumi.ResourceOptions(depends_on=grant.resources))

The bucket is private (all four public access blocks, ACLs disabled), versioned, encrypted with a
customer managed KMS key that rotates yearly (or a key you pass), refuses plain-HTTP requests, expires
old object versions and aborts abandoned multipart uploads. By default it is protected and kept on
``pulumi destroy``, together with its key and settings, so a destroy never deletes a user's weights;
pass ``protect=False`` for throwaway stacks.

Pods read the weights through EKS Pod Identity: :meth:`WeightStore.grant_read` creates an IAM role
that only the Pod Identity service may assume, and only for the given cluster, namespace and service
account, allowed to list the bucket, get its objects and decrypt them, and nothing else. The cluster
needs the ``eks-pod-identity-agent`` add-on (Shardstack's Cluster installs it).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from shardstack.aws.args import WeightStoreArgs
from shardstack.aws.pod_identity import pod_identity_role, role_name_prefix
from shardstack.aws.specs import (
    BUCKET_NAME_CHARS,
    DEFAULT_NONCURRENT_VERSION_DAYS,
    RESERVED_BUCKET_PREFIXES,
    RESERVED_BUCKET_SUFFIXES,
    WEIGHT_STORE,
)
from shardstack.aws.specs.kinds import EKS_CLUSTER_NAME
from shardstack.aws.tags import COMPONENT_TAG
from shardstack.errors import ArgumentError
from shardstack.k8s import names
from shardstack.specs.kinds import Input
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:aws:WeightStore"

__all__ = [
    "BUCKET_NAME_CHARS",
    "DEFAULT_NONCURRENT_VERSION_DAYS",
    "RESERVED_BUCKET_PREFIXES",
    "RESERVED_BUCKET_SUFFIXES",
    "ReadGrant",
    "WeightStore",
    "WeightStoreArgs",
    "bucket_name_problems",
    "validate_read_grant",
    "validate_weight_store_args",
]

ABORT_INCOMPLETE_UPLOAD_DAYS = 7
"""A multipart upload of a checkpoint still unfinished after a week was abandoned; its parts cost money."""
KMS_DELETION_WINDOW_DAYS = 30
"""The longest window AWS allows: a key deleted by mistake can be restored for 30 days."""

MAX_AUTO_NAMED_COMPONENT = 48
"""Pulumi names the bucket ``<name>-bucket-<7 random characters>``, lowercased: 63 characters at most."""


@dataclass(frozen=True)
class ReadGrant:
    """Read-only access to a WeightStore for one Kubernetes service account, through EKS Pod Identity.

    ``service_account_annotations`` is empty: Pod Identity binds the role to the service account on
    the EKS side, so the service account needs no annotation. It is here so that code written for
    every cloud can pass it to ``ShardedInference`` unchanged: the GCP and Azure weight stores will
    return the annotations Workload Identity needs (``iam.gke.io/gcp-service-account``,
    ``azure.workload.identity/client-id``).
    """

    role_arn: pulumi.Output[str]
    """ARN of the IAM role the service account's pods assume."""
    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the service account."""
    service_account_annotations: dict[str, str]
    """Annotations the service account needs: none on AWS."""
    resources: list[pulumi.Resource]
    """The role, its policy and the Pod Identity association: put them in the pods' ``depends_on`` so
    that no pod starts before it can read the weights."""


def bucket_name_problems(arg: str, value: Any) -> list[str]:
    """Return every S3 general purpose bucket naming rule ``value`` breaks, each naming the rule."""
    return as_arguments(WEIGHT_STORE.arg("bucket_name").kind.problems(value, (arg,)))


def _auto_bucket_name_problem(name: str) -> str | None:
    """Check that Pulumi can auto-name the bucket from the component name."""
    prefix = f"{name}-bucket".lower()
    # The random suffix is hex, so the rules on the end of the name are met whatever the prefix.
    if (
        len(name) > MAX_AUTO_NAMED_COMPONENT
        or not BUCKET_NAME_CHARS.match(prefix)
        or not prefix[0].isalnum()
        or ".." in prefix
        or prefix.startswith(RESERVED_BUCKET_PREFIXES)
    ):
        return (
            f"name={name!r} cannot start an auto-generated bucket name ('{prefix}-<random>'): use a "
            f"component name of at most {MAX_AUTO_NAMED_COMPONENT} letters, digits, '-' and '.', starting "
            "with a letter or digit, or give bucket_name"
        )
    return None


def validate_weight_store_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with WeightStore arguments (and with its name, when the bucket is named after it)."""
    problems = as_arguments(WEIGHT_STORE.check(args))
    if isinstance(args, Mapping) and "bucket_name" not in args and name is not None:
        problem = _auto_bucket_name_problem(name)
        if problem:
            problems.append(problem)
    return problems


def validate_read_grant(namespace: Any, service_account: Any, cluster_name: Any) -> list[str]:
    """Return every problem with the arguments of :meth:`WeightStore.grant_read`, one line each."""
    problems: list[str] = []
    for problem in (
        names.dns_label_problem("namespace", namespace),
        names.subdomain_problem("service_account", service_account),
    ):
        if problem:
            problems.append(problem)
    problems += as_arguments(Input(EKS_CLUSTER_NAME).problems(cluster_name, ("cluster_name",)))
    return problems


def _tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    # Principal "*" with Deny is AWS's standard TLS-only pattern: it refuses plain-HTTP
                    # requests from everyone, this account included, and grants nothing to anyone.
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def _read_policy(bucket_arn: str, key_arn: str, region: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListWeights", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
                {
                    "Sid": "ReadWeights",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"{bucket_arn}/*"],
                },
                {
                    "Sid": "DecryptWeights",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": [key_arn],
                    # Only through S3 in the bucket's region, not to decrypt arbitrary ciphertext. The
                    # endpoint's DNS suffix differs by partition (amazonaws.com, amazonaws.com.cn, ...).
                    "Condition": {"StringLike": {"kms:ViaService": f"s3.{region}.*"}},
                },
            ],
        }
    )


class WeightStore(pulumi.ComponentResource):
    """Creates a private, versioned, KMS-encrypted S3 bucket for model weights, kept on destroy."""

    bucket_name: pulumi.Output[str]
    """Name of the bucket."""
    bucket_arn: pulumi.Output[str]
    """ARN of the bucket."""
    kms_key_arn: pulumi.Output[str]
    """ARN of the KMS key that encrypts the objects."""
    model_uri_prefix: pulumi.Output[str]
    """``s3://<bucket>/``: append a model's directory to get its ``model_uri``."""

    def __init__(self, name: str, args: WeightStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_weight_store_args(args, name=name)
        if problems:
            raise ArgumentError(f"WeightStore {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        self._name = name
        self._grants: set[tuple[str, str]] = set()
        protect = args.get("protect", True)
        self._tags = {**args.get("tags", {}), COMPONENT_TAG: name}
        # Settings of a kept bucket are kept too: deleting them would leave it public-capable,
        # unencrypted by default and reachable over plain HTTP.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=protect)
        # The key goes with the bucket: deleting it would make every kept object unreadable.
        guarded = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        key_arn = self._encryption_key(name, args, guarded)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.get("bucket_name"),
            force_destroy=args.get("force_destroy", False),
            tags=self._tags,
            opts=guarded,
        )
        public_access_block = self._private_access(name, bucket, kept)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=kept,
        )
        self._default_encryption(name, bucket, key_arn, kept)
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(_tls_only_policy),
            # S3 checks a new policy against the public access block; setting both at once can race.
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=[public_access_block])),
        )
        self._lifecycle(name, args, bucket, versioning, kept)

        self._bucket = bucket
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = pulumi.Output.from_input(key_arn)
        self.model_uri_prefix = pulumi.Output.concat("s3://", bucket.bucket, "/")
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "kms_key_arn": self.kms_key_arn,
                "model_uri_prefix": self.model_uri_prefix,
            }
        )

    def _encryption_key(self, name: str, args: WeightStoreArgs, guarded: pulumi.ResourceOptions) -> pulumi.Input[str]:
        """Return the ARN of the key that encrypts the weights: the one given, or a new rotating key with an alias."""
        if "kms_key_arn" in args:
            return args["kms_key_arn"]
        # No key policy given: AWS's default key policy lets IAM policies of this account grant
        # use of the key, which is how grant_read's roles get kms:Decrypt.
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the model weights of Shardstack WeightStore {name}",
            enable_key_rotation=True,
            deletion_window_in_days=KMS_DELETION_WINDOW_DAYS,
            tags=self._tags,
            opts=guarded,
        )
        aws.kms.Alias(
            f"{name}-key",
            name_prefix=f"alias/shardstack/{re.sub(r'[^A-Za-z0-9/_-]', '-', name)}-",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key.arn

    def _private_access(
        self, name: str, bucket: aws.s3.Bucket, kept: pulumi.ResourceOptions
    ) -> aws.s3.BucketPublicAccessBlock:
        """Turn the bucket's ACLs off and block every kind of public access; return the public access block."""
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            # ACLs off: the bucket owner owns every object and only policies grant access.
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=kept,
        )
        return aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=kept,
        )

    def _default_encryption(
        self, name: str, bucket: aws.s3.Bucket, key_arn: pulumi.Input[str], kept: pulumi.ResourceOptions
    ) -> None:
        """Make the KMS key the bucket's default encryption, with S3 bucket keys."""
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms", kms_master_key_id=key_arn
                        )
                    ),
                    # One KMS call per bucket key instead of per object: checkpoints are many shards
                    # read in parallel, which would otherwise meet KMS request quotas and costs.
                    bucket_key_enabled=True,
                )
            ],
            opts=kept,
        )

    def _lifecycle(
        self,
        name: str,
        args: WeightStoreArgs,
        bucket: aws.s3.Bucket,
        versioning: aws.s3.BucketVersioning,
        kept: pulumi.ResourceOptions,
    ) -> None:
        """Expire old object versions and abort abandoned multipart uploads."""
        noncurrent_days = args.get("noncurrent_version_days", DEFAULT_NONCURRENT_VERSION_DAYS)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=noncurrent_days
                        )
                    ),
                    # Delete markers left with no versions behind them only slow listings down.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=ABORT_INCOMPLETE_UPLOAD_DAYS
                        )
                    ),
                ),
            ],
            # Noncurrent-version rules apply only once versioning is on.
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=[versioning])),
        )

    def grant_read(
        self,
        namespace: str,
        service_account: str,
        *,
        cluster_name: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> ReadGrant:
        """Let pods of ``service_account`` in ``namespace`` on ``cluster_name`` read the weights.

        Creates, as children of this WeightStore, an IAM role only EKS Pod Identity may assume for that
        cluster, namespace and service account; an inline policy allowing ``s3:ListBucket`` on the
        bucket, ``s3:GetObject`` on its objects and ``kms:Decrypt`` (through S3) with its key; and the
        Pod Identity association. ``opts`` (e.g. ``depends_on`` the cluster's Pod Identity add-on) apply
        to all three. Raises :class:`~shardstack.errors.ArgumentError`, creating nothing, when a name
        is invalid or this service account was already granted.
        """
        what = f"WeightStore {self._name!r}.grant_read"
        problems = validate_read_grant(namespace, service_account, cluster_name)
        if (namespace, service_account) in self._grants:
            problems.append(f"{namespace}/{service_account} already has read access to this WeightStore")
        if problems:
            raise ArgumentError(what, problems)
        self._grants.add((namespace, service_account))

        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        resource_name = f"{self._name}-read-{namespace}-{service_account}"

        read_policy = pulumi.Output.all(self._bucket.arn, self.kms_key_arn, self._bucket.region).apply(
            lambda values: _read_policy(*values)
        )
        access = pod_identity_role(
            resource_name,
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            policy=read_policy,
            role_name_prefix=role_name_prefix(self._name, namespace, service_account),
            description=pulumi.Output.concat(
                "Reads the model weights in s3://", self._bucket.bucket, f"/ for {namespace}/{service_account}"
            ),
            tags=self._tags,
            opts=child,
        )
        return ReadGrant(
            role_arn=access.role.arn,
            namespace=namespace,
            service_account=service_account,
            service_account_annotations={},
            resources=access.resources,
        )
