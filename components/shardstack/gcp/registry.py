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

import re
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi
import pulumi_gcp as gcp

from shardstack.errors import ArgumentError, did_you_mean
from shardstack.gcp.labels import component_labels, label_problems
from shardstack.gcp.weight_store import KMS_ROLE, component_label_value, kms_key_name_problem
from shardstack.k8s import names

TYPE_TOKEN = "shardstack:gcp:Registry"

DEFAULT_REPOSITORY_ID = "shardstack"
DEFAULT_KEEP_IMAGES = 30
"""Enough to roll back through weeks of releases; older images only cost storage and scan noise."""
UNTAGGED_IMAGE_DAYS = 7
"""Untagged images are superseded builds nobody references by tag any more."""
SECONDS_PER_DAY = 86_400

READ_ROLE = "roles/artifactregistry.reader"
"""Pull images (and list them): nothing that pushes, deletes or changes IAM."""

REPOSITORY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
AR_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
AR_MULTI_REGIONS = ("us", "europe", "asia")
SERVICE_ACCOUNT_EMAIL = re.compile(r"^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.:-]*\.gserviceaccount\.com$")


class RegistryArgs(TypedDict, total=False):
    """Arguments of Registry."""

    location: Required[str]
    """Region ('us-central1', best the cluster's: pulls stay in-region) or multi-region ('us',
    'europe', 'asia') of the repository. Case does not matter. Required."""
    repository_id: str
    """Repository ID: 1 to 63 lowercase letters, digits and '-', starting with a letter and not ending
    with '-'. Default: 'shardstack'."""
    kms_key_name: pulumi.Input[str]
    """Cloud KMS key to encrypt the images with (CMEK), as
    'projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>', in the repository's
    location. The project's Artifact Registry service agent is granted
    'roles/cloudkms.cryptoKeyEncrypterDecrypter' on it. Default: Google-managed encryption."""
    keep_images: int
    """Versions of each image kept from deletion, newest first: older tagged versions are deleted (and
    untagged ones after 7 days). At least 1. Default: 30."""
    reader_service_accounts: Sequence[pulumi.Input[str]]
    """Emails of the Google service accounts that may pull (e.g. the GKE nodes' service account), each
    given 'roles/artifactregistry.reader' on this repository. Default: none."""
    labels: Mapping[str, str]
    """Labels added to the repository, next to ``shardstack-component: <name>``: keys of 1 to 63
    lowercase letters, digits, '_' and '-' starting with a letter; values of at most 63 of the same.
    Default: none."""


def repository_id_problem(arg: str, value: Any) -> str | None:
    """Check an Artifact Registry repository ID."""
    if not isinstance(value, str) or not REPOSITORY_ID.match(value):
        return (
            f"{arg}={value!r} is not an Artifact Registry repository ID: use 1 to 63 lowercase letters, "
            "digits and '-', starting with a letter and ending with a letter or digit"
        )
    return None


def location_problem(value: Any) -> str | None:
    """Check an Artifact Registry location: a region or a multi-region."""
    if isinstance(value, str) and (AR_REGION.match(value.lower()) or value.lower() in AR_MULTI_REGIONS):
        return None
    return (
        f"location={value!r} is not an Artifact Registry location: use a region such as 'us-central1' or a "
        f"multi-region ({', '.join(repr(r) for r in AR_MULTI_REGIONS)})"
    )


def _reader_problems(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [f"reader_service_accounts must be a list of service account emails; got {value!r}"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, email in enumerate(value):
        if isinstance(email, pulumi.Output):
            continue
        if not isinstance(email, str) or not SERVICE_ACCOUNT_EMAIL.match(email):
            hint = " (give the email without 'serviceAccount:')" if str(email).startswith("serviceAccount:") else ""
            problems.append(
                f"reader_service_accounts[{i}]={email!r} is not a service account email such as "
                f"'gke-nodes@my-project.iam.gserviceaccount.com'{hint}"
            )
        elif email in seen:
            problems.append(f"reader_service_accounts[{i}]={email!r} is listed twice")
        else:
            seen.add(email)
    return problems


def validate_registry_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with Registry arguments, one line each."""
    problems: list[str] = []
    for key in sorted(set(args) - set(RegistryArgs.__annotations__)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, RegistryArgs.__annotations__)}")
    checks = [
        location_problem(args["location"])
        if "location" in args
        else "location is required: the region or multi-region of the repository, e.g. 'us-central1'",
        repository_id_problem("repository_id", args["repository_id"]) if "repository_id" in args else None,
        kms_key_name_problem("kms_key_name", args["kms_key_name"]) if "kms_key_name" in args else None,
        names.int_problem("keep_images", args["keep_images"], minimum=1) if "keep_images" in args else None,
    ]
    problems.extend(p for p in checks if p)
    problems.extend(_reader_problems(args.get("reader_service_accounts")))
    problems.extend(label_problems(args.get("labels")))
    return problems


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
