"""WeightStore: the Cloud Storage bucket that holds model checkpoints, and read-only access to it for pods.

Usage::

    from shardstack.gcp.weight_store import WeightStore

    weights = WeightStore("weights", {"location": "US-CENTRAL1", "labels": {"team": "ml-platform"}})
    grant = weights.grant_read("shardstack", "shardstack-inference")
    ShardedInference("llm", {
        "model_uri": pulumi.Output.concat(weights.model_uri_prefix, "llama-3-70b/"),
        "service_account_annotations": grant.service_account_annotations,
        ...
    }, opts=pulumi.ResourceOptions(depends_on=grant.resources))

The bucket is private (uniform bucket-level access, so no object ACLs; public access prevention
enforced), versioned, keeps deleted objects recoverable for a week (soft delete), deletes overwritten or
deleted versions after 30 days and aborts abandoned multipart uploads. Objects are encrypted at rest by
Google; give ``kms_key_name`` to encrypt them with your own Cloud KMS key (CMEK). Cloud Storage then
encrypts and decrypts through the project's Cloud Storage service agent
(``service-<project number>@gs-project-accounts.iam.gserviceaccount.com``), which needs
``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on the key: the WeightStore grants it that role on that
key only, before it creates the bucket (Cloud Storage checks the permission when the default key is
set). Readers need no KMS permission: the service agent decrypts for them. By default the bucket is
protected and kept on ``pulumi destroy``, together with that key binding, so a destroy never deletes a
user's weights nor makes kept ones unreadable; pass ``protect=False`` for throwaway stacks.

Pods read the weights through Workload Identity Federation for GKE, with the Kubernetes service
account itself as the IAM principal: :meth:`WeightStore.grant_read` gives
``principal://iam.googleapis.com/projects/<project number>/locations/global/workloadIdentityPools/
<project id>.svc.id.goog/subject/ns/<namespace>/sa/<service account>`` the role
``roles/storage.objectViewer`` (get and list objects, nothing else) on this bucket only. This was picked
over the older pattern, a Google service account that the Kubernetes service account impersonates
through ``roles/iam.workloadIdentityUser`` and an ``iam.gke.io/gcp-service-account`` annotation,
because it has fewer moving parts and a narrower blast radius: there is no Google service account to
create, name, protect and clean up, no key that could ever be minted for it, no annotation the
service account must carry (so ``service_account_annotations`` is empty, as on AWS), and the binding
names exactly one Kubernetes service account in one namespace rather than an identity that other
bindings could also grant roles to or let others impersonate. The cluster needs Workload Identity
enabled (workload pool ``<project id>.svc.id.goog``; Shardstack's GKE cluster enables it) and the
node pools the GKE metadata server.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from shardstack.bucket_names import GCS_BUCKET_NAME_CHARS as BUCKET_NAME_CHARS
from shardstack.errors import ArgumentError
from shardstack.gcp.args import WeightStoreArgs
from shardstack.gcp.labels import component_labels
from shardstack.gcp.storage_specs import (
    DEFAULT_NONCURRENT_VERSION_DAYS,
    DEFAULT_SOFT_DELETE_DAYS,
    GCS_MULTI_AND_DUAL_REGIONS,
    GCS_REGION,
    KMS_KEY_NAME,
    MAX_SOFT_DELETE_DAYS,
    MIN_SOFT_DELETE_DAYS,
    WEIGHT_STORE,
)
from shardstack.k8s import names
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:gcp:WeightStore"

__all__ = [
    "BUCKET_NAME_CHARS",
    "DEFAULT_NONCURRENT_VERSION_DAYS",
    "DEFAULT_SOFT_DELETE_DAYS",
    "GCS_MULTI_AND_DUAL_REGIONS",
    "GCS_REGION",
    "KMS_KEY_NAME",
    "MAX_SOFT_DELETE_DAYS",
    "MIN_SOFT_DELETE_DAYS",
    "ReadGrant",
    "WeightStore",
    "WeightStoreArgs",
    "validate_read_grant",
    "validate_weight_store_args",
]

ABORT_INCOMPLETE_UPLOAD_DAYS = 7
"""A multipart upload of a checkpoint still unfinished after a week was abandoned; its parts cost money."""
SECONDS_PER_DAY = 86_400

READ_ROLE = "roles/storage.objectViewer"
"""Get and list objects: what loading a checkpoint needs, and nothing that writes or changes IAM."""
KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
"""What the Cloud Storage service agent needs on a CMEK key to write and read the bucket's objects."""

MAX_LABEL_LENGTH = 63

MAX_AUTO_NAMED_COMPONENT = 48
"""Pulumi names the bucket ``<name>-bucket-<7 random hex characters>`` (63 characters at most) and,
unlike for S3, does not lowercase it."""

PROJECT_ID = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")


@dataclass(frozen=True)
class ReadGrant:
    """Read-only access to a WeightStore for one Kubernetes service account, through Workload Identity.

    ``service_account_annotations`` is empty: with Workload Identity Federation for GKE the Kubernetes
    service account is itself the IAM principal, so it needs no ``iam.gke.io/gcp-service-account``
    annotation. It is here so that code written for every cloud can pass it to ``ShardedInference``
    unchanged.
    """

    member: pulumi.Output[str]
    """The IAM principal granted read access: ``principal://iam.googleapis.com/projects/<number>/
    locations/global/workloadIdentityPools/<project id>.svc.id.goog/subject/ns/<namespace>/sa/<name>``."""
    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the service account."""
    service_account_annotations: dict[str, str]
    """Annotations the service account needs: none with Workload Identity Federation."""
    resources: list[pulumi.Resource]
    """The bucket IAM member: put it in the pods' ``depends_on`` so that no pod starts before it can
    read the weights."""


def component_label_value(name: str) -> str:
    """Return a component name as a valid GCP label value: lowercased, other characters turned into '-'."""
    return re.sub(r"[^a-z0-9_-]", "-", name.lower())[:MAX_LABEL_LENGTH]


def _auto_bucket_name_problem(name: str) -> str | None:
    """Check that Pulumi can auto-name the bucket from the component name."""
    prefix = f"{name}-bucket"
    # The random suffix is hex, so the rules on the end of the name are met whatever the prefix.
    if (
        len(name) > MAX_AUTO_NAMED_COMPONENT
        or not BUCKET_NAME_CHARS.match(prefix)
        or not prefix[0].isalnum()
        or "." in prefix
        or prefix.startswith("goog")
        or "google" in prefix
    ):
        return (
            f"name={name!r} cannot start an auto-generated bucket name ('{prefix}-<random>'): use a "
            f"component name of at most {MAX_AUTO_NAMED_COMPONENT} lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit and without 'goog', or give bucket_name"
        )
    return None


def validate_weight_store_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with WeightStore arguments, one line each (``name``: the component's, which Pulumi
    names the bucket after unless ``bucket_name`` is given)."""
    problems = as_arguments(WEIGHT_STORE.check(args))
    if name is not None and isinstance(args, Mapping) and "bucket_name" not in args:
        problem = _auto_bucket_name_problem(name)
        if problem:
            problems.append(problem)
    return problems


def validate_read_grant(namespace: Any, service_account: Any, project: Any = None) -> list[str]:
    """Return every problem with the arguments of :meth:`WeightStore.grant_read`, one line each."""
    problems = [
        p
        for p in (
            names.dns_label_problem("namespace", namespace),
            names.subdomain_problem("service_account", service_account),
        )
        if p
    ]
    if (
        project is not None
        and not isinstance(project, pulumi.Output)
        and (not isinstance(project, str) or not PROJECT_ID.match(project))
    ):
        problems.append(
            f"project={project!r} is not a GCP project ID: use 6 to 30 lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'"
        )
    return problems


def workload_identity_member(project_number: str, project_id: str, namespace: str, service_account: str) -> str:
    """Return the IAM principal of a Kubernetes service account under Workload Identity Federation for GKE."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{project_id}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}"
    )


class WeightStore(pulumi.ComponentResource):
    """Creates a private, versioned Cloud Storage bucket for model weights, kept on destroy."""

    bucket_name: pulumi.Output[str]
    """Name of the bucket."""
    bucket_url: pulumi.Output[str]
    """``gs://<bucket>``, the bucket's URL."""
    model_uri_prefix: pulumi.Output[str]
    """``gs://<bucket>/``: append a model's directory to get its ``model_uri``."""

    def __init__(self, name: str, args: WeightStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_weight_store_args(args, name=name)
        if problems:
            raise ArgumentError(f"WeightStore {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        self._name = name
        self._grants: set[tuple[str, str]] = set()
        protect = args.get("protect", True)
        # A key binding of a kept bucket is kept too: deleting it would make every kept object unreadable.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=protect)
        guarded = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        encryption = None
        bucket_depends_on: list[pulumi.Resource] = []
        if "kms_key_name" in args:
            # The invoke also creates the service agent if the project has none yet, so the binding
            # never names an account that does not exist.
            storage_agent = gcp.storage.get_project_service_account_output(opts=pulumi.InvokeOutputOptions(parent=self))
            key_binding = gcp.kms.CryptoKeyIAMMember(
                f"{name}-storage-agent-key",
                crypto_key_id=args["kms_key_name"],
                role=KMS_ROLE,
                member=storage_agent.member,
                opts=kept,
            )
            bucket_depends_on.append(key_binding)
            encryption = gcp.storage.BucketEncryptionArgs(default_kms_key_name=args["kms_key_name"])

        noncurrent_days = args.get("noncurrent_version_days", DEFAULT_NONCURRENT_VERSION_DAYS)
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=args.get("bucket_name"),
            location=args["location"],
            # IAM only, no object ACLs: one place decides who reads the weights.
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=args.get("soft_delete_days", DEFAULT_SOFT_DELETE_DAYS) * SECONDS_PER_DAY
            ),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    # ARCHIVED: only noncurrent versions, never the live checkpoint.
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        with_state="ARCHIVED", days_since_noncurrent_time=noncurrent_days
                    ),
                ),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=ABORT_INCOMPLETE_UPLOAD_DAYS),
                ),
            ],
            encryption=encryption,
            force_destroy=args.get("force_destroy", False),
            labels=component_labels(component_label_value(name), args.get("labels")),
            opts=pulumi.ResourceOptions.merge(guarded, pulumi.ResourceOptions(depends_on=bucket_depends_on)),
        )

        self._bucket = bucket
        self.bucket_name = bucket.name
        self.bucket_url = bucket.url
        self.model_uri_prefix = pulumi.Output.concat("gs://", bucket.name, "/")
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_url": self.bucket_url,
                "model_uri_prefix": self.model_uri_prefix,
            }
        )

    def grant_read(
        self,
        namespace: str,
        service_account: str,
        *,
        project: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> ReadGrant:
        """Let pods of ``service_account`` in ``namespace`` read the weights, through Workload Identity.

        Creates, as a child of this WeightStore, one bucket IAM member giving ``roles/storage.objectViewer``
        on this bucket to the Kubernetes service account's Workload Identity Federation principal.
        ``project`` is the ID of the GKE cluster's project, whose workload identity pool
        (``<project>.svc.id.goog``) names the service account; default: the provider's project.
        ``opts`` (e.g. ``depends_on`` the cluster) apply to the IAM member. Raises
        :class:`~shardstack.errors.ArgumentError`, creating nothing, when a name is invalid or this
        service account was already granted.
        """
        what = f"WeightStore {self._name!r}.grant_read"
        problems = validate_read_grant(namespace, service_account, project)
        if (namespace, service_account) in self._grants:
            problems.append(f"{namespace}/{service_account} already has read access to this WeightStore")
        if problems:
            raise ArgumentError(what, problems)
        self._grants.add((namespace, service_account))

        cluster_project = gcp.organizations.get_project_output(
            project_id=project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        member = pulumi.Output.all(cluster_project.number, cluster_project.project_id).apply(
            lambda values: workload_identity_member(values[0], values[1], namespace, service_account)
        )
        reader = gcp.storage.BucketIAMMember(
            f"{self._name}-read-{namespace}-{service_account}",
            bucket=self._bucket.name,
            role=READ_ROLE,
            member=member,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self)),
        )
        return ReadGrant(
            member=member,
            namespace=namespace,
            service_account=service_account,
            service_account_annotations={},
            resources=[reader],
        )
