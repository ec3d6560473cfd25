"""GCP Registry under recording mocks: the repository, its cleanup policies, readers and validation."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.gcp.registry import Registry, validate_registry_args
from shardstack.testing import Graph, run_program, run_refused

REPOSITORY = "gcp:artifactregistry/repository:Repository"
READER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
COMPONENT = "shardstack:gcp:Registry"

USER_KEY = "projects/acme-kms/locations/us-central1/keyRings/images/cryptoKeys/images"
NODES = "gke-nodes@acme-ml.iam.gserviceaccount.com"
CI = "ci@acme-build.iam.gserviceaccount.com"


def render(**args: Any) -> Graph:
    args.setdefault("location", "us-central1")
    return run_program(lambda: Registry("registry", args))  # type: ignore[arg-type]


def failure(**args: Any) -> ArgumentError:
    args.setdefault("location", "us-central1")
    return run_refused(lambda: Registry("registry", args), ArgumentError)  # type: ignore[arg-type]


def repository(graph: Graph) -> dict[str, Any]:
    return graph.one(REPOSITORY, "registry-repository").inputs


def policies(graph: Graph) -> dict[str, dict[str, Any]]:
    return {policy.pop("id"): policy for policy in repository(graph)["cleanupPolicies"]}


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render(reader_service_accounts=[NODES], kms_key_name=USER_KEY)
    (component,) = graph.of_type(COMPONENT)
    custom = [r for r in graph if r.custom]
    assert len(custom) == 3 and all(r.parent == component.urn for r in custom)


def test_repository_is_a_standard_docker_repository_with_immutable_tags() -> None:
    inputs = repository(render())
    assert inputs["repositoryId"] == "shardstack"
    assert inputs["location"] == "us-central1"
    assert inputs["format"] == "DOCKER"
    assert inputs["mode"] == "STANDARD_REPOSITORY"
    assert inputs["dockerConfig"] == {"immutableTags": True}
    assert inputs["labels"] == {"shardstack-component": "registry"}


def test_cleanup_policies_delete_untagged_after_7_days_and_keep_the_newest_30() -> None:
    graph = render()
    assert repository(graph)["cleanupPolicyDryRun"] is False  # the policies act, not only report
    assert policies(graph) == {
        "delete-untagged": {"action": "DELETE", "condition": {"tagState": "UNTAGGED", "olderThan": "604800s"}},
        "delete-old-tagged": {"action": "DELETE", "condition": {"tagState": "TAGGED"}},
        "keep-newest": {"action": "KEEP", "mostRecentVersions": {"keepCount": 30}},
    }


def test_keep_images_sets_how_many_versions_are_kept() -> None:
    assert policies(render(keep_images=5))["keep-newest"] == {"action": "KEEP", "mostRecentVersions": {"keepCount": 5}}


def test_google_managed_encryption_by_default_and_no_key_binding() -> None:
    graph = render()
    assert "kmsKeyName" not in repository(graph)
    assert graph.of_type(KEY_MEMBER) == []


def test_a_kms_key_encrypts_the_images_and_the_registry_agent_may_use_it_first() -> None:
    graph = render(kms_key_name=USER_KEY)
    assert repository(graph)["kmsKeyName"] == USER_KEY
    binding = graph.one(KEY_MEMBER)
    assert binding.inputs == {
        "cryptoKeyId": USER_KEY,
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        # The mocks' getProject answers project number 123456789.
        "member": "serviceAccount:service-123456789@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    }
    assert binding.urn in graph.one(REPOSITORY).dependencies


def test_no_reader_bindings_without_reader_service_accounts() -> None:
    assert render().of_type(READER) == []
    assert render(reader_service_accounts=[]).of_type(READER) == []


def test_each_reader_may_only_pull_from_this_repository() -> None:
    def program() -> None:
        Registry("registry", {"location": "europe", "reader_service_accounts": [NODES, pulumi.Output.from_input(CI)]})

    graph = run_program(program)
    created = graph.one(REPOSITORY).outputs
    readers = graph.of_type(READER)
    assert sorted(r.name for r in readers) == ["registry-reader-1", f"registry-reader-{NODES}"]
    assert sorted(r.inputs["member"] for r in readers) == [f"serviceAccount:{CI}", f"serviceAccount:{NODES}"]
    for reader in readers:
        assert reader.inputs["role"] == "roles/artifactregistry.reader"
        # Scoped to this repository: its ID, location and project, never a project-wide role.
        assert reader.inputs["repository"] == created["repositoryId"] == "shardstack"
        assert reader.inputs["location"] == created["location"] == "europe"
        assert reader.inputs["project"] == created["project"]


def test_repository_id_location_and_labels_are_passed_through() -> None:
    inputs = repository(render(repository_id="ml-runtime", location="US-EAST1", labels={"team": "ml"}))
    assert inputs["repositoryId"] == "ml-runtime"
    assert inputs["location"] == "us-east1"  # the registry host name is lowercase
    assert inputs["labels"] == {"shardstack-component": "registry", "team": "ml"}


def test_outputs() -> None:
    def program() -> None:
        registry = Registry("registry", {"location": "us-central1", "repository_id": "ml-runtime"})
        pulumi.export("repository_url", registry.repository_url)
        pulumi.export("repository_id", registry.repository_id)

    assert run_program(program).outputs == {
        "repository_url": "us-central1-docker.pkg.dev/shardstack-test/ml-runtime",
        "repository_id": "ml-runtime",
    }


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {
        "location": "asia",
        "repository_id": "a",
        "kms_key_name": USER_KEY,
        "keep_images": 1,
        "reader_service_accounts": [NODES, "123456789-compute@developer.gserviceaccount.com"],
        "labels": {"team": "ml"},
    }
    assert validate_registry_args(args) == []


def test_location_is_required() -> None:
    (problem,) = run_refused(lambda: Registry("registry", {}), ArgumentError).problems  # type: ignore[typeddict-item]
    assert problem.startswith("location is required")


@pytest.mark.parametrize("location", ["us-central", "eu", "US CENTRAL1", 3])
def test_bad_locations_are_reported(location: Any) -> None:
    (problem,) = failure(location=location).problems
    assert problem.startswith(f"location={location!r} ")
    assert "Artifact Registry location" in problem


@pytest.mark.parametrize("repository_id", ["", "Shardstack", "1runtime", "runtime-", "shard_stack", "a" * 64])
def test_bad_repository_ids_are_reported(repository_id: str) -> None:
    (problem,) = failure(repository_id=repository_id).problems
    assert problem.startswith(f"repository_id={repository_id!r} ")
    assert "Artifact Registry repository ID" in problem


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        location="mars1",
        repository_id="Runtime",
        keep_images=0,
        kms_key_name="images-key",
        reader_service_accounts=[f"serviceAccount:{NODES}", NODES, NODES],
        labels={"Team": "ml"},
        keep_image=3,
    )
    assert error.what == "invalid arguments for Registry 'registry'"
    problems = error.problems
    assert problems[0] == "unknown argument 'keep_image' (did you mean 'keep_images'?)"
    assert any(p.startswith("location='mars1' is not an Artifact Registry location") for p in problems)
    assert any(p.startswith("repository_id='Runtime' is not an Artifact Registry repository ID") for p in problems)
    assert (
        "keep_images=0 must be a whole number from 1 to 10000 (more than any release history of one runtime image)"
        in problems
    )
    assert any(p.startswith("kms_key_name='images-key' is not a Cloud KMS key name") for p in problems)
    assert any(
        p.startswith(f"reader_service_accounts[0]='serviceAccount:{NODES}' is not a service account email")
        and p.endswith("(give the email without 'serviceAccount:')")
        for p in problems
    )
    assert any(p.startswith(f"reader_service_accounts[2]={NODES!r} is listed twice") for p in problems)
    assert any(p.startswith("labels['Team'] is not a GCP label key") for p in problems)
    assert len(problems) == 8


def test_reader_service_accounts_must_be_a_list() -> None:
    (problem,) = failure(reader_service_accounts=NODES).problems
    assert problem.startswith(f"reader_service_accounts={NODES!r} must be a list, each item a service account email")


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Registry", module="shardstack.gcp.registry")
    (token,) = schema["resources"]
    resource = schema["resources"][token]
    assert resource["requiredInputs"] == ["location"]
    assert sorted(resource["inputProperties"]) == [
        "keepImages",
        "kmsKeyName",
        "labels",
        "location",
        "readerServiceAccounts",
        "repositoryId",
    ]
    assert sorted(resource["properties"]) == ["repositoryId", "repositoryUrl"]
    assert all(p.get("description") for p in resource["inputProperties"].values())
