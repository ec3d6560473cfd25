"""GCP WeightStore under recording mocks: the bucket's settings, protection, CMEK, grant_read and validation."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.gcp.weight_store import ReadGrant, WeightStore, validate_read_grant, validate_weight_store_args
from shardstack.testing import Graph, run_program, run_refused

BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
COMPONENT = "shardstack:gcp:WeightStore"

USER_KEY = "projects/acme-kms/locations/us-central1/keyRings/weights/cryptoKeys/weights"
STORAGE_AGENT = "service-123456789@gs-project-accounts.iam.gserviceaccount.com"
PRINCIPAL_PREFIX = (
    "principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/"
    "shardstack-test.svc.id.goog/subject"
)


def render(**args: Any) -> Graph:
    args.setdefault("location", "US-CENTRAL1")
    return run_program(lambda: WeightStore("weights", args))  # type: ignore[arg-type]


def render_grant(namespace: str = "shardstack", service_account: str = "inference", **args: Any) -> Graph:
    args.setdefault("location", "US-CENTRAL1")

    def program() -> None:
        store = WeightStore("weights", args)  # type: ignore[arg-type]
        store.grant_read(namespace, service_account)

    return run_program(program)


def failure(name: str = "weights", **args: Any) -> ArgumentError:
    args.setdefault("location", "US-CENTRAL1")
    return run_refused(lambda: WeightStore(name, args), ArgumentError)  # type: ignore[arg-type]


def bucket(graph: Graph) -> dict[str, Any]:
    return graph.one(BUCKET, "weights-bucket").inputs


# -- the bucket and its settings ------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render_grant(kms_key_name=USER_KEY)
    (component,) = graph.of_type(COMPONENT)
    assert component.name == "weights"
    custom = [r for r in graph if r.custom]
    assert len(custom) == 3 and all(r.parent == component.urn for r in custom)


def test_bucket_is_private_with_uniform_access_and_public_access_prevention() -> None:
    inputs = bucket(render())
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"


def test_bucket_is_in_the_given_location_and_auto_named_by_default() -> None:
    inputs = bucket(render(location="EU"))
    assert inputs["location"] == "EU"
    assert "name" not in inputs  # left to Pulumi's auto-naming: weights-bucket-<random>
    assert inputs["forceDestroy"] is False


def test_bucket_name_and_force_destroy_are_passed_through() -> None:
    inputs = bucket(render(bucket_name="acme-model-weights", force_destroy=True))
    assert inputs["name"] == "acme-model-weights"
    assert inputs["forceDestroy"] is True


def test_versioning_is_enabled() -> None:
    assert bucket(render())["versioning"] == {"enabled": True}


def test_deleted_objects_stay_restorable_for_7_days_by_default() -> None:
    assert bucket(render())["softDeletePolicy"] == {"retentionDurationSeconds": 7 * 86_400}


def test_soft_delete_days_sets_the_retention_and_0_turns_it_off() -> None:
    assert bucket(render(soft_delete_days=90))["softDeletePolicy"] == {"retentionDurationSeconds": 90 * 86_400}
    assert bucket(render(soft_delete_days=0))["softDeletePolicy"] == {"retentionDurationSeconds": 0}


def test_lifecycle_deletes_only_noncurrent_versions_after_30_days_and_aborts_stale_uploads() -> None:
    rules = bucket(render())["lifecycleRules"]
    assert rules == [
        {"action": {"type": "Delete"}, "condition": {"withState": "ARCHIVED", "daysSinceNoncurrentTime": 30}},
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7}},
    ]


def test_noncurrent_version_days_sets_when_old_versions_go() -> None:
    (delete, _) = bucket(render(noncurrent_version_days=14))["lifecycleRules"]
    assert delete["condition"] == {"withState": "ARCHIVED", "daysSinceNoncurrentTime": 14}


def test_google_managed_encryption_by_default_and_no_key_binding() -> None:
    graph = render()
    assert "encryption" not in bucket(graph)
    assert graph.of_type(KEY_MEMBER) == []


def test_labels_carry_the_component_name_and_user_labels() -> None:
    assert bucket(render(labels={"team": "ml", "cost-center": "r_d"}))["labels"] == {
        "shardstack-component": "weights",
        "team": "ml",
        "cost-center": "r_d",
    }


def test_component_label_is_a_valid_label_value_whatever_the_component_name() -> None:
    graph = run_program(lambda: WeightStore("Weights.V2", {"location": "EU", "bucket_name": "acme-weights"}))
    assert graph.one(BUCKET).inputs["labels"] == {"shardstack-component": "weights-v2"}


# -- customer managed encryption ------------------------------------------------------------------


def test_a_kms_key_encrypts_the_bucket_and_the_storage_agent_may_use_it() -> None:
    graph = render(kms_key_name=USER_KEY)
    assert bucket(graph)["encryption"] == {"defaultKmsKeyName": USER_KEY}
    binding = graph.one(KEY_MEMBER)
    assert binding.inputs == {
        "cryptoKeyId": USER_KEY,
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "member": f"serviceAccount:{STORAGE_AGENT}",
    }
    # Cloud Storage checks the agent's access when the default key is set.
    assert binding.urn in graph.one(BUCKET).dependencies


def test_a_kms_key_given_as_an_output_is_accepted_without_validation() -> None:
    def program() -> None:
        WeightStore("weights", {"location": "US", "kms_key_name": pulumi.Output.from_input(USER_KEY)})

    graph = run_program(program)
    assert graph.one(BUCKET).inputs["encryption"] == {"defaultKmsKeyName": USER_KEY}
    assert graph.one(KEY_MEMBER).inputs["cryptoKeyId"] == USER_KEY


# -- protection -----------------------------------------------------------------------------------


def test_bucket_is_protected_and_kept_on_destroy_with_its_key_binding_by_default() -> None:
    graph = render(kms_key_name=USER_KEY)
    kept = graph.one(BUCKET)
    assert (kept.protect, kept.retain_on_delete) == (True, True)
    # Deleting the binding of a kept bucket would make its objects unreadable.
    assert graph.one(KEY_MEMBER).retain_on_delete is True


def test_protect_false_lets_destroy_delete_everything() -> None:
    graph = render_grant(protect=False, kms_key_name=USER_KEY)
    custom = [r for r in graph if r.custom]
    assert len(custom) == 3
    for resource in custom:
        assert (resource.protect, resource.retain_on_delete) == (False, False), resource.type


def test_read_access_is_not_kept_after_a_destroy() -> None:
    reader = render_grant().one(BUCKET_MEMBER)
    assert (reader.protect, reader.retain_on_delete) == (False, False)


# -- outputs --------------------------------------------------------------------------------------


def test_outputs() -> None:
    def program() -> None:
        store = WeightStore("weights", {"location": "US-CENTRAL1", "bucket_name": "acme-model-weights"})
        pulumi.export("bucket_name", store.bucket_name)
        pulumi.export("bucket_url", store.bucket_url)
        pulumi.export("model_uri_prefix", store.model_uri_prefix)

    assert run_program(program).outputs == {
        "bucket_name": "acme-model-weights",
        "bucket_url": "gs://acme-model-weights",
        "model_uri_prefix": "gs://acme-model-weights/",
    }


# -- grant_read -----------------------------------------------------------------------------------


def test_grant_read_gives_the_service_account_principal_object_viewer_on_this_bucket_only() -> None:
    graph = render_grant()
    (reader,) = [r for r in graph if r.type.startswith("gcp:") and "IAM" in r.type and r.type != KEY_MEMBER]
    assert reader.type == BUCKET_MEMBER
    assert reader.name == "weights-read-shardstack-inference"
    assert reader.inputs == {
        "bucket": graph.one(BUCKET).outputs["name"],
        "role": "roles/storage.objectViewer",
        "member": f"{PRINCIPAL_PREFIX}/ns/shardstack/sa/inference",
    }


def test_grant_read_member_names_the_projects_number_pool_namespace_and_service_account() -> None:
    member = render_grant("serving", "llm.v1").one(BUCKET_MEMBER).inputs["member"]
    assert member == (
        "principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/"
        "shardstack-test.svc.id.goog/subject/ns/serving/sa/llm.v1"
    )


def test_grant_read_returns_the_member_and_the_resources_to_depend_on() -> None:
    grants: list[ReadGrant] = []

    def program() -> None:
        store = WeightStore("weights", {"location": "US-CENTRAL1"})
        grant = store.grant_read("shardstack", "inference", project="shardstack-test")
        grants.append(grant)
        pulumi.export("member", grant.member)

    graph = run_program(program)
    (grant,) = grants
    assert graph.outputs["member"] == f"{PRINCIPAL_PREFIX}/ns/shardstack/sa/inference"
    assert (grant.namespace, grant.service_account) == ("shardstack", "inference")
    assert grant.service_account_annotations == {}  # Workload Identity Federation needs no annotation
    assert [type(r) for r in grant.resources] == [gcp.storage.BucketIAMMember]
    with pytest.raises(AttributeError):
        grant.namespace = "other"  # type: ignore[misc]


def test_grant_read_passes_options_to_what_it_creates() -> None:
    def program() -> None:
        store = WeightStore("weights", {"location": "US-CENTRAL1"})
        cluster = gcp.container.Cluster("gke", location="us-central1")
        store.grant_read("shardstack", "inference", opts=pulumi.ResourceOptions(depends_on=[cluster]))

    graph = run_program(program)
    reader = graph.one(BUCKET_MEMBER)
    assert reader.parent == graph.one(COMPONENT).urn
    assert graph.one("gcp:container/cluster:Cluster").urn in reader.dependencies


def grant_failure(namespace: Any, service_account: Any, project: Any = None) -> ArgumentError:
    errors: list[ArgumentError] = []

    def program() -> None:
        store = WeightStore("weights", {"location": "US-CENTRAL1"})
        try:
            store.grant_read(namespace, service_account, project=project)
        except ArgumentError as error:
            errors.append(error)

    graph = run_program(program)
    assert errors, "expected an ArgumentError"
    assert graph.of_type(BUCKET_MEMBER) == []
    return errors[0]


def test_grant_read_reports_every_bad_name_and_creates_nothing() -> None:
    error = grant_failure("Shard_Stack", "Inference!", project="My Project")
    assert error.what == "invalid arguments for WeightStore 'weights'.grant_read"
    assert len(error.problems) == 3
    assert error.problems[0].startswith("namespace='Shard_Stack' is not a valid Kubernetes name")
    assert error.problems[1].startswith("service_account='Inference!' is not a valid Kubernetes object name")
    assert error.problems[2].startswith("project='My Project' is not a GCP project ID")


def test_grant_read_twice_for_the_same_service_account_is_refused() -> None:
    errors: list[ArgumentError] = []

    def program() -> None:
        store = WeightStore("weights", {"location": "US-CENTRAL1"})
        store.grant_read("shardstack", "inference")
        store.grant_read("shardstack", "other")
        try:
            store.grant_read("shardstack", "inference")
        except ArgumentError as error:
            errors.append(error)

    graph = run_program(program)
    (error,) = errors
    assert error.problems == ["shardstack/inference already has read access to this WeightStore"]
    assert len(graph.of_type(BUCKET_MEMBER)) == 2


def test_read_grant_validation_accepts_outputs_and_valid_project_ids() -> None:
    problems: list[list[str]] = []
    # Outputs only inside a program: one made outside leaves work behind that the next run waits on.
    run_program(lambda: problems.append(validate_read_grant("ns", "sa", pulumi.Output.from_input("Not An ID"))))
    assert problems == [[]]
    assert validate_read_grant("shardstack", "inference", "my-gke-project-1") == []
    assert validate_read_grant("shardstack", "inference", "example.com:gke-proj") == []


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {
        "location": "us-central1",
        "bucket_name": "acme_model.weights",
        "kms_key_name": USER_KEY,
        "noncurrent_version_days": 1,
        "soft_delete_days": 7,
        "protect": False,
        "force_destroy": True,
        "labels": {"team": "ml", "env": ""},
    }
    assert validate_weight_store_args(args) == []
    for location in ("US", "eu", "ASIA", "NAM4", "eur4", "europe-west4", "ASIA-SOUTH1"):
        assert validate_weight_store_args({"location": location}) == [], location


def test_location_is_required() -> None:
    (problem,) = run_refused(lambda: WeightStore("weights", {}), ArgumentError).problems  # type: ignore[typeddict-item]
    assert problem.startswith("location is required")


@pytest.mark.parametrize("location", ["us-central", "Iowa", "US CENTRAL1", "", 1])
def test_bad_locations_are_reported(location: Any) -> None:
    (problem,) = failure(location=location).problems
    assert problem.startswith(f"location={location!r} ")
    assert "a Cloud Storage location" in problem


@pytest.mark.parametrize(
    ("name", "rules"),
    [
        ("ab", 1),  # too short
        ("a" * 64, 1),  # too long
        ("Weights", 1),  # uppercase
        ("-weights", 1),  # first character
        ("weights_", 1),  # last character
        ("192.168.5.4", 1),  # an IP address
        ("goog-weights", 1),  # reserved prefix
        ("my-google-weights", 1),  # contains google
        ("a." + "b" * 64 + ".com", 1),  # a dotted part over 63
    ],
)
def test_bad_bucket_names_are_reported(name: str, rules: int) -> None:
    problems = failure(bucket_name=name).problems
    assert len(problems) == rules, problems
    assert all(p.startswith(f"bucket_name={name!r}") for p in problems)


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        location="moon-base",
        bucket_name="Weights_",
        kms_key_name="weights-key",
        noncurrent_version_days=0,
        soft_delete_days=3,
        protect="yes",
        force_destroy=1,
        labels={"Team": "ML"},
        label={"x": "y"},
    )
    assert error.what == "invalid arguments for WeightStore 'weights'"
    problems = error.problems
    assert problems[0] == "unknown argument 'label' (did you mean 'labels'?)"
    assert any(p.startswith("location='moon-base' is not a Cloud Storage location") for p in problems)
    assert sum(p.startswith("bucket_name='Weights_'") for p in problems) == 2  # characters, last character
    assert any(p.startswith("kms_key_name='weights-key' is not a Cloud KMS key name") for p in problems)
    assert (
        "noncurrent_version_days=0 must be a whole number from 1 to 3650 (ten years is an archive's horizon, not a "
        "weight store's history)"
    ) in problems
    assert "soft_delete_days=3 must be a whole number from 7 to 90, or 0 to turn soft delete off" in problems
    assert "protect='yes' must be true or false" in problems
    assert "force_destroy=1 must be true or false" in problems
    assert any(p.startswith("labels['Team'] is not a GCP label key") for p in problems)
    assert any(p.startswith("labels['Team']='ML' is not a GCP label value") for p in problems)
    assert len(problems) == 11


@pytest.mark.parametrize("days", [1, 6, 91, True, "7"])
def test_soft_delete_days_outside_what_cloud_storage_accepts_are_reported(days: Any) -> None:
    (problem,) = failure(soft_delete_days=days).problems
    assert problem.startswith(f"soft_delete_days={days!r} must be a whole number from 7 to 90")


def test_the_component_label_cannot_be_overridden_and_labels_must_be_a_mapping() -> None:
    (problem,) = failure(labels={"shardstack-component": "x"}).problems
    assert problem == "labels['shardstack-component'] is set by Shardstack itself; choose another key"
    (problem,) = failure(labels=["team"]).problems
    assert problem == "labels=['team'] must be a mapping of GCP label keys to values"
    (problem,) = failure(labels={f"k{i}": "v" for i in range(64)}).problems
    assert problem == (
        "labels has 64 entries; a resource carries at most 64 GCP labels and Shardstack sets 1, so give at most 63"
    )


def test_a_component_name_that_cannot_start_a_bucket_name_needs_bucket_name() -> None:
    (problem,) = failure(name="Weights").problems  # Pulumi does not lowercase GCS auto-names
    assert problem.startswith("name='Weights' cannot start an auto-generated bucket name")
    (problem,) = failure(name="w" * 49).problems
    assert "at most 48" in problem
    assert validate_weight_store_args({"location": "US"}, name="w" * 48) == []
    assert validate_weight_store_args({"location": "US", "bucket_name": "acme-weights"}, name="Weights") == []


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("WeightStore", module="shardstack.gcp.weight_store")
    (token,) = schema["resources"]
    resource = schema["resources"][token]
    assert resource["requiredInputs"] == ["location"]
    assert sorted(resource["inputProperties"]) == [
        "bucketName",
        "forceDestroy",
        "kmsKeyName",
        "labels",
        "location",
        "noncurrentVersionDays",
        "protect",
        "softDeleteDays",
    ]
    assert sorted(resource["properties"]) == ["bucketName", "bucketUrl", "modelUriPrefix"]
    assert all(p.get("description") for p in resource["inputProperties"].values())
