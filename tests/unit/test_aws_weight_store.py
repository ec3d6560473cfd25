"""WeightStore under recording mocks: the bucket and its settings, protection, grant_read and validation."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from component_schema import component_schema

from shardstack.aws.weight_store import ReadGrant, WeightStore, validate_weight_store_args
from shardstack.errors import ArgumentError
from shardstack.testing import Graph, run_program, run_refused

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

BUCKET_SETTINGS = (VERSIONING, ENCRYPTION, PUBLIC_ACCESS_BLOCK, OWNERSHIP, BUCKET_POLICY, LIFECYCLE)
USER_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def render(**args: Any) -> Graph:
    return run_program(lambda: WeightStore("weights", args))  # type: ignore[arg-type]


def render_grant(namespace: str = "shardstack", service_account: str = "inference", **args: Any) -> Graph:
    def program() -> None:
        store = WeightStore("weights", args)  # type: ignore[arg-type]
        store.grant_read(namespace, service_account, cluster_name="gpu-cluster")

    return run_program(program)


def failure(name: str = "weights", **args: Any) -> ArgumentError:
    return run_refused(lambda: WeightStore(name, args), ArgumentError)  # type: ignore[arg-type]


def bucket_name(graph: Graph) -> str:
    return graph.one(BUCKET).outputs["bucket"]


def statements(policy: str) -> list[dict[str, Any]]:
    document = json.loads(policy)
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def settings_of(graph: Graph, type_token: str) -> dict[str, Any]:
    resource = graph.one(type_token)
    assert resource.inputs["bucket"] == bucket_name(graph), f"{type_token} is not on the weights bucket"
    return resource.inputs


# -- the bucket and its settings ------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render_grant()
    (component,) = graph.of_type("shardstack:aws:WeightStore")
    assert component.name == "weights"
    custom = [r for r in graph if r.custom]
    assert custom and all(r.parent == component.urn for r in custom)


def test_bucket_is_auto_named_from_the_component_name_by_default() -> None:
    graph = render()
    bucket = graph.one(BUCKET, "weights-bucket")
    assert "bucket" not in bucket.inputs  # left to Pulumi's auto-naming: weights-bucket-<random>
    assert bucket.inputs["forceDestroy"] is False


def test_bucket_name_and_force_destroy_are_passed_through() -> None:
    bucket = render(bucket_name="acme-model-weights", force_destroy=True).one(BUCKET)
    assert bucket.inputs["bucket"] == "acme-model-weights"
    assert bucket.inputs["forceDestroy"] is True


def test_versioning_is_enabled() -> None:
    assert settings_of(render(), VERSIONING)["versioningConfiguration"] == {"status": "Enabled"}


def test_objects_are_encrypted_with_the_created_rotating_key_and_a_bucket_key() -> None:
    graph = render()
    key = graph.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert graph.one(ALIAS).inputs["namePrefix"] == "alias/shardstack/weights-"
    (rule,) = settings_of(graph, ENCRYPTION)["rules"]
    assert rule == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]},
        "bucketKeyEnabled": True,
    }


def test_an_existing_key_is_used_instead_of_creating_one() -> None:
    graph = render(kms_key_arn=USER_KEY)
    assert graph.of_type(KEY) == [] and graph.of_type(ALIAS) == []
    (rule,) = settings_of(graph, ENCRYPTION)["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == USER_KEY


def test_every_public_access_path_is_blocked_and_acls_are_off() -> None:
    graph = render()
    block = settings_of(graph, PUBLIC_ACCESS_BLOCK)
    assert {k: block[k] for k in block if k != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert settings_of(graph, OWNERSHIP)["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_bucket_policy_denies_every_request_without_tls_and_grants_nothing() -> None:
    graph = render()
    arn = graph.one(BUCKET).outputs["arn"]
    (statement,) = statements(settings_of(graph, BUCKET_POLICY)["policy"])
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert sorted(as_list(statement["Resource"])) == sorted([arn, f"{arn}/*"])
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bucket_policy_waits_for_the_public_access_block() -> None:
    graph = render()
    assert graph.one(PUBLIC_ACCESS_BLOCK).urn in graph.one(BUCKET_POLICY).dependencies


def test_lifecycle_expires_noncurrent_versions_and_aborts_stale_uploads() -> None:
    graph = render(noncurrent_version_days=14)
    rules = {rule["id"]: rule for rule in settings_of(graph, LIFECYCLE)["rules"]}
    assert set(rules) == {"expire-noncurrent-versions", "abort-incomplete-multipart-uploads"}
    assert all(rule["status"] == "Enabled" and rule["filter"] == {} for rule in rules.values())
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert graph.one(VERSIONING).urn in graph.one(LIFECYCLE).dependencies


def test_noncurrent_versions_are_kept_30_days_by_default() -> None:
    rules = {rule["id"]: rule for rule in settings_of(render(), LIFECYCLE)["rules"]}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}


def test_every_taggable_resource_carries_the_component_tag_and_user_tags() -> None:
    graph = render_grant(tags={"team": "ml"})
    tagged = [r for r in graph if r.type in (BUCKET, KEY, ROLE, ASSOCIATION)]
    assert len(tagged) == 4
    for resource in tagged:
        assert resource.inputs["tags"] == {"shardstack:component": "weights", "team": "ml"}, resource.type


# -- protection -----------------------------------------------------------------------------------


def test_bucket_and_key_are_protected_and_kept_on_destroy_by_default() -> None:
    graph = render()
    for resource in (graph.one(BUCKET), graph.one(KEY)):
        assert resource.protect is True, resource.type
        assert resource.retain_on_delete is True, resource.type
    # A kept bucket keeps its settings: a destroy must not leave it unencrypted or public-capable.
    for type_token in BUCKET_SETTINGS:
        assert graph.one(type_token).retain_on_delete is True, type_token


def test_protect_false_lets_destroy_delete_everything() -> None:
    graph = render(protect=False)
    for resource in graph:
        if resource.custom:
            assert resource.protect is False, resource.type
            assert resource.retain_on_delete is False, resource.type


# -- outputs --------------------------------------------------------------------------------------


def test_outputs() -> None:
    def program() -> None:
        store = WeightStore("weights", {"bucket_name": "acme-model-weights", "kms_key_arn": USER_KEY})
        pulumi.export("bucket_name", store.bucket_name)
        pulumi.export("bucket_arn", store.bucket_arn)
        pulumi.export("kms_key_arn", store.kms_key_arn)
        pulumi.export("model_uri_prefix", store.model_uri_prefix)

    assert run_program(program).outputs == {
        "bucket_name": "acme-model-weights",
        "bucket_arn": "arn:aws:s3:::acme-model-weights",
        "kms_key_arn": USER_KEY,
        "model_uri_prefix": "s3://acme-model-weights/",
    }


# -- grant_read -----------------------------------------------------------------------------------


def test_grant_read_role_trusts_only_eks_pod_identity_for_that_service_account() -> None:
    graph = render_grant()
    role = graph.one(ROLE)
    assert role.name == "weights-read-shardstack-inference-role"
    assert role.inputs["namePrefix"] == "weights-shardstack-inference-"
    (statement,) = statements(role.inputs["assumeRolePolicy"])
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(as_list(statement["Action"])) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": "gpu-cluster",
            "aws:RequestTag/kubernetes-namespace": "shardstack",
            "aws:RequestTag/kubernetes-service-account": "inference",
        }
    }


def test_grant_read_policy_allows_only_reading_this_bucket_with_this_key() -> None:
    graph = render_grant()
    arn = graph.one(BUCKET).outputs["arn"]
    key_arn = graph.one(KEY).outputs["arn"]
    policy = graph.one(ROLE_POLICY)
    assert policy.inputs["role"] == graph.one(ROLE).id
    granted = statements(policy.inputs["policy"])
    assert all(s["Effect"] == "Allow" for s in granted)
    assert sorted((a, r) for s in granted for a in as_list(s["Action"]) for r in as_list(s["Resource"])) == [
        ("kms:Decrypt", key_arn),
        ("s3:GetObject", f"{arn}/*"),
        ("s3:ListBucket", arn),
    ]
    for s in granted:
        assert not any("*" in a for a in as_list(s["Action"]))
        assert "*" not in as_list(s["Resource"])
    (decrypt,) = [s for s in granted if s["Action"] == ["kms:Decrypt"]]
    assert decrypt["Condition"] == {"StringLike": {"kms:ViaService": "s3.us-east-1.*"}}


def test_grant_read_with_an_existing_key_decrypts_with_that_key() -> None:
    granted = statements(render_grant(kms_key_arn=USER_KEY).one(ROLE_POLICY).inputs["policy"])
    assert [s["Resource"] for s in granted if s["Action"] == ["kms:Decrypt"]] == [[USER_KEY]]


def test_grant_read_associates_the_role_with_the_service_account() -> None:
    graph = render_grant()
    association = graph.one(ASSOCIATION)
    assert association.inputs["clusterName"] == "gpu-cluster"
    assert association.inputs["namespace"] == "shardstack"
    assert association.inputs["serviceAccount"] == "inference"
    assert association.inputs["roleArn"] == graph.one(ROLE).outputs["arn"]
    assert association.inputs["disableSessionTags"] is False  # the trust policy matches on them
    assert graph.one(ROLE_POLICY).urn in association.dependencies


def test_grant_read_returns_the_role_and_the_resources_to_depend_on() -> None:
    grants: list[ReadGrant] = []

    def program() -> None:
        store = WeightStore("weights", {})
        grant = store.grant_read("shardstack", "inference", cluster_name="gpu-cluster")
        grants.append(grant)
        pulumi.export("role_arn", grant.role_arn)

    graph = run_program(program)
    (grant,) = grants
    assert graph.outputs["role_arn"] == graph.one(ROLE).outputs["arn"]
    assert (grant.namespace, grant.service_account) == ("shardstack", "inference")
    assert grant.service_account_annotations == {}  # Pod Identity needs no annotation
    assert [type(r) for r in grant.resources] == [aws.iam.Role, aws.iam.RolePolicy, aws.eks.PodIdentityAssociation]
    with pytest.raises(AttributeError):
        grant.namespace = "other"  # type: ignore[misc]


def test_grant_read_passes_options_to_what_it_creates() -> None:
    def program() -> None:
        store = WeightStore("weights", {})
        agent = aws.eks.Addon("pod-identity-agent", cluster_name="gpu-cluster", addon_name="eks-pod-identity-agent")
        store.grant_read(
            "shardstack", "inference", cluster_name="gpu-cluster", opts=pulumi.ResourceOptions(depends_on=[agent])
        )

    graph = run_program(program)
    addon_urn = graph.one("aws:eks/addon:Addon").urn
    store_urn = graph.one("shardstack:aws:WeightStore").urn
    for type_token in (ROLE, ROLE_POLICY, ASSOCIATION):
        resource = graph.one(type_token)
        assert resource.parent == store_urn
        assert addon_urn in resource.dependencies, type_token


def grant_failure(namespace: Any, service_account: Any, cluster_name: Any = "gpu-cluster") -> ArgumentError:
    errors: list[ArgumentError] = []

    def program() -> None:
        store = WeightStore("weights", {})
        try:
            store.grant_read(namespace, service_account, cluster_name=cluster_name)
        except ArgumentError as error:
            errors.append(error)

    graph = run_program(program)
    assert errors, "expected an ArgumentError"
    assert [r for r in graph if r.type in (ROLE, ROLE_POLICY, ASSOCIATION)] == []
    return errors[0]


def test_grant_read_reports_every_bad_name_and_creates_nothing() -> None:
    error = grant_failure("Shard_Stack", "Inference!", cluster_name="-bad")
    assert error.what == "invalid arguments for WeightStore 'weights'.grant_read"
    assert len(error.problems) == 3
    assert error.problems[0].startswith("namespace='Shard_Stack' is not a valid Kubernetes name")
    assert error.problems[1].startswith("service_account='Inference!' is not a valid Kubernetes object name")
    assert error.problems[2].startswith("cluster_name='-bad' is not an EKS cluster name")


def test_grant_read_accepts_a_dotted_service_account_name() -> None:
    assert render_grant(service_account="inference.v1").one(ASSOCIATION).inputs["serviceAccount"] == "inference.v1"


def test_grant_read_twice_for_the_same_service_account_is_refused() -> None:
    errors: list[ArgumentError] = []

    def program() -> None:
        store = WeightStore("weights", {})
        store.grant_read("shardstack", "inference", cluster_name="gpu-cluster")
        try:
            store.grant_read("shardstack", "inference", cluster_name="gpu-cluster")
        except ArgumentError as error:
            errors.append(error)

    graph = run_program(program)
    (error,) = errors
    assert error.problems == ["shardstack/inference already has read access to this WeightStore"]
    assert len(graph.of_type(ROLE)) == 1


def test_long_names_still_give_a_valid_role_name_prefix() -> None:
    role = render_grant(namespace="n" * 63, service_account="s" * 100).one(ROLE)
    prefix = role.inputs["namePrefix"]
    assert len(prefix) <= 38 and prefix.startswith("weights-nnn") and prefix.endswith("-")


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {"bucket_name": "acme.model-weights", "kms_key_arn": USER_KEY, "noncurrent_version_days": 1}
    assert validate_weight_store_args(args, name="weights") == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "has 2 characters; a bucket name has 3 to 63"),
        ("a" * 64, "has 64 characters; a bucket name has 3 to 63"),
        ("Model_Weights", "contains 'M', 'W', '_'; a bucket name may contain only lowercase letters"),
        ("-weights", "must start and end with a lowercase letter or digit"),
        ("model..weights", "contains two adjacent periods"),
        ("192.168.5.4", "is formatted as an IP address"),
        ("xn--weights", "starts with 'xn--', a prefix S3 reserves"),
        ("sthree-weights", "starts with 'sthree-', a prefix S3 reserves"),
        ("amzn-s3-demo-weights", "starts with 'amzn-s3-demo-', a prefix S3 reserves"),
        ("weights-s3alias", "ends with '-s3alias', a suffix S3 reserves"),
        ("weights--ol-s3", "ends with '--ol-s3', a suffix S3 reserves"),
        ("weights.mrap", "ends with '.mrap', a suffix S3 reserves"),
        ("weights--x-s3", "ends with '--x-s3', a suffix S3 reserves"),
        ("weights--table-s3", "ends with '--table-s3', a suffix S3 reserves"),
    ],
)
def test_bucket_name_rules_are_named(name: str, rule: str) -> None:
    (problem,) = failure(bucket_name=name).problems
    assert problem == f"bucket_name={name!r} {rule}" or problem.startswith(f"bucket_name={name!r} {rule}")


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        bucket_name="Weights_", noncurrent_version_days=0, protect="yes", kms_key_arn="alias/weights", tag={}
    )
    assert error.what == "invalid arguments for WeightStore 'weights'"
    problems = error.problems
    assert problems[0] == "unknown argument 'tag' (did you mean 'tags'?)"
    assert sum(p.startswith("bucket_name='Weights_'") for p in problems) == 2  # characters, last character
    assert (
        "noncurrent_version_days=0 must be a whole number from 1 to 3650 (ten years is an archive's horizon, not a "
        "weight store's history)"
    ) in problems
    assert "protect='yes' must be true or false" in problems
    assert any(p.startswith("kms_key_arn='alias/weights' is not a KMS key ARN") for p in problems)
    assert len(problems) == 6


def test_a_component_name_that_cannot_start_a_bucket_name_needs_bucket_name() -> None:
    (problem,) = failure(name="model_weights").problems
    assert problem.startswith("name='model_weights' cannot start an auto-generated bucket name")
    (problem,) = failure(name="w" * 49).problems
    assert "at most 48" in problem
    assert validate_weight_store_args({"bucket_name": "model-weights"}, name="model_weights") == []
    assert validate_weight_store_args({}, name="Weights") == []  # Pulumi lowercases auto-names


def test_tags_are_checked() -> None:
    problems = failure(tags={"aws:owner": "x", "shardstack:component": "y", "team": 3}).problems
    assert problems == [
        "tags['aws:owner'] is not allowed: AWS reserves keys starting with 'aws:'",
        "tags['shardstack:component'] is set by Shardstack itself; choose another key",
        "tags['team']=3 must be a string of at most 256 characters",
    ]


def test_outputs_are_accepted_for_the_key_without_validation() -> None:
    def program() -> None:
        WeightStore("weights", {"kms_key_arn": pulumi.Output.from_input(USER_KEY)})

    (rule,) = run_program(program).one(ENCRYPTION).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == USER_KEY


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("WeightStore", module="shardstack.aws.weight_store")
    (token,) = schema["resources"]
    resource = schema["resources"][token]
    assert resource.get("requiredInputs", []) == []
    assert sorted(resource["inputProperties"]) == [
        "bucketName",
        "forceDestroy",
        "kmsKeyArn",
        "noncurrentVersionDays",
        "protect",
        "tags",
    ]
    assert sorted(resource["properties"]) == ["bucketArn", "bucketName", "kmsKeyArn", "modelUriPrefix"]
    assert all(p.get("description") for p in resource["inputProperties"].values())
