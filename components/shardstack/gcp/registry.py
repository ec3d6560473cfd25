"""Registry: the Artifact Registry Docker repository for Shardstack's runtime image.

Usage::

    from shardstack.gcp.registry import Registry

    registry = Registry("registry", {"location": "us-central1", "reader_service_accounts": [nodes.email]})
    image = pulumi.Output.concat(registry.repository_url, "/runtime:0.1.0")

Tags are immutable (a tag always names the same image, so every rank of a replica group runs the same
bytes), and cleanup policies keep the repository small: untagged versions (superseded builds) are
deleted 7 days after upload, and tagged versions are deleted unless they are among the newest
``keep_images`` versions of their image (Artifact Registry counts untagged versions among those too).
A multi-platform image's per-platform manifests are untagged versions: tag them as well, or push
single-platform images (the runtime image is linux/amd64 only). Images are encrypted at rest by Google,
or with your Cloud KMS key (``kms_key_name``): the project's Artifact Registry service agent is then
granted ``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on that key, which it needs before the
repository can be created.

GKE nodes pull as their node service account: list it in ``reader_service_accounts`` and it gets
``roles/artifactregistry.reader`` on this repository only, not on the project. Images are named
``<location>-docker.pkg.dev/<project>/<repository_id>/<image>:<tag>``.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp

from shardstack.errors import ArgumentError
from shardstack.gcp.args import RegistryArgs
from shardstack.gcp.labels import component_labels
from shardstack.gcp.storage_specs import (
    AR_MULTI_REGIONS,
    AR_REGION,
    DEFAULT_KEEP_IMAGES,
    DEFAULT_REPOSITORY_ID,
    REGISTRY,
    REPOSITORY_ID,
    SERVICE_ACCOUNT_EMAIL,
)
from shardstack.gcp.weight_store import KMS_ROLE, component_label_value
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:gcp:Registry"

UNTAGGED_IMAGE_DAYS = 7
"""Untagged images are superseded builds nobody references by tag any more."""
SECONDS_PER_DAY = 86_400

READ_ROLE = "roles/artifactregistry.reader"
"""Pull images (and list them): nothing that pushes, deletes or changes IAM."""

__all__ = [
    "AR_MULTI_REGIONS",
    "AR_REGION",
    "DEFAULT_KEEP_IMAGES",
    "DEFAULT_REPOSITORY_ID",
    "REPOSITORY_ID",
    "SERVICE_ACCOUNT_EMAIL",
    "Registry",
    "RegistryArgs",
    "validate_registry_args",
]


def validate_registry_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with Registry arguments, one line each."""
    return as_arguments(REGISTRY.check(args))


def cleanup_policies(keep_images: int) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgs]:
    """Return the cleanup policies: untagged versions go after 7 days, the newest tagged are kept."""
    return [
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-untagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED", older_than=f"{UNTAGGED_IMAGE_DAYS * SECONDS_PER_DAY}s"
            ),
        ),
        # Artifact Registry keeps what a KEEP policy matches even when a DELETE policy matches it too:
        # every tagged version is a deletion candidate, and the newest keep_images of each image stay.
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-old-tagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(tag_state="TAGGED"),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-newest",
            action="KEEP",
            most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=keep_images
            ),
        ),
    ]


def _registry_host_path(location: str, project: str, repository_id: str) -> str:
    # A domain-scoped project ('example.com:proj') appears as 'example.com/proj' in image paths.
    return f"{location}-docker.pkg.dev/{project.replace(':', '/')}/{repository_id}"


def _reader_name(name: str, index: int, email: pulumi.Input[str]) -> str:
    # Named after the email where it is known, so removing one reader does not rename (and so
    # briefly revoke) the others.
    return f"{name}-reader-{email}" if isinstance(email, str) else f"{name}-reader-{index}"


class Registry(pulumi.ComponentResource):
    """Creates an Artifact Registry Docker repository with immutable tags and cleanup policies."""

    repository_url: pulumi.Output[str]
    """``<location>-docker.pkg.dev/<project>/<repository_id>``: append ``/<image>:<tag>`` to name an image."""
    repository_id: pulumi.Output[str]
    """ID of the repository."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_registry_args(args)
        if problems:
            raise ArgumentError(f"Registry {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        location = args["location"].lower()

        repository_depends_on: list[pulumi.Resource] = []
        if "kms_key_name" in args:
            project = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(parent=self))
            # Artifact Registry checks at creation that its service agent may use the key.
            key_binding = gcp.kms.CryptoKeyIAMMember(
                f"{name}-registry-agent-key",
                crypto_key_id=args["kms_key_name"],
                role=KMS_ROLE,
                member=project.number.apply(
                    lambda number: f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
                ),
                opts=child,
            )
            repository_depends_on.append(key_binding)

        repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            repository_id=args.get("repository_id", DEFAULT_REPOSITORY_ID),
            location=location,
            format="DOCKER",
            mode="STANDARD_REPOSITORY",
            description=f"Shardstack runtime images (Registry {name})",
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policies=cleanup_policies(args.get("keep_images", DEFAULT_KEEP_IMAGES)),
            cleanup_policy_dry_run=False,
            kms_key_name=args.get("kms_key_name"),
            labels=component_labels(component_label_value(name), args.get("labels")),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=repository_depends_on)),
        )
        for index, email in enumerate(args.get("reader_service_accounts") or []):
            gcp.artifactregistry.RepositoryIamMember(
                _reader_name(name, index, email),
                project=repository.project,
                location=repository.location,
                repository=repository.repository_id,
                role=READ_ROLE,
                member=pulumi.Output.concat("serviceAccount:", email),
                opts=child,
            )

        self.repository_id = repository.repository_id
        self.repository_url = pulumi.Output.all(
            repository.location, repository.project, repository.repository_id
        ).apply(lambda values: _registry_host_path(*values))
        self.register_outputs({"repository_url": self.repository_url, "repository_id": self.repository_id})
