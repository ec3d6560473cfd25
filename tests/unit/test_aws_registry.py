"""Registry under recording mocks: the ECR repository, its lifecycle and pull policies, and validation."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack.aws.registry import Registry, validate_registry_args
from shardstack.errors import ArgumentError
from shardstack.testing import Graph, run_program, run_refused

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"

USER_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NODES = "arn:aws:iam::210987654321:role/gpu-nodes"
CI = "arn:aws:iam::123456789012:role/ci"


def render(**args: Any) -> Graph:
    return run_program(lambda: Registry("registry", args))  # type: ignore[arg-type]


def failure(**args: Any) -> ArgumentError:
    return run_refused(lambda: Registry("registry", args), ArgumentError)  # type: ignore[arg-type]


def lifecycle_rules(graph: Graph) -> dict[str, dict[str, Any]]:
    policy = graph.one(LIFECYCLE)
    assert policy.inputs["repository"] == graph.one(REPOSITORY).outputs["name"]
    rules = json.loads(policy.inputs["policy"])["rules"]
    assert sorted(r["rulePriority"] for r in rules) == list(range(1, len(rules) + 1))
    return {r["selection"]["tagStatus"]: r for r in rules}


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render(pull_principal_arns=[NODES])
    (component,) = graph.of_type("shardstack:aws:Registry")
    custom = [r for r in graph if r.custom]
    assert len(custom) == 3 and all(r.parent == component.urn for r in custom)


def test_repository_has_immutable_tags_scan_on_push_and_no_force_delete() -> None:
    repository = render().one(REPOSITORY, "registry-repository").inputs
    assert repository["name"] == "shardstack/runtime"
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["forceDelete"] is False
    assert repository["tags"] == {"shardstack:component": "registry"}


def test_images_are_encrypted_with_the_aws_managed_kms_key_by_default() -> None:
    assert render().one(REPOSITORY).inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]


def test_images_are_encrypted_with_a_given_key() -> None:
    assert render(kms_key_arn=USER_KEY).one(REPOSITORY).inputs["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": USER_KEY}
    ]


def test_lifecycle_expires_untagged_images_after_7_days_and_keeps_30_tagged() -> None:
    rules = lifecycle_rules(render())
    assert set(rules) == {"untagged", "tagged"}
    assert rules["untagged"]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    assert rules["tagged"]["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 30,
    }
    assert all(r["action"] == {"type": "expire"} for r in rules.values())


def test_keep_images_sets_how_many_tagged_images_are_kept() -> None:
    assert lifecycle_rules(render(keep_images=5))["tagged"]["selection"]["countNumber"] == 5


def test_no_repository_policy_without_pull_principals() -> None:
    assert render().of_type(POLICY) == []
    assert render(pull_principal_arns=[]).of_type(POLICY) == []


def test_pull_principals_may_only_pull() -> None:
    def program() -> None:
        Registry("registry", {"pull_principal_arns": [NODES, pulumi.Output.from_input(CI)]})

    graph = run_program(program)
    policy = graph.one(POLICY)
    assert policy.inputs["repository"] == graph.one(REPOSITORY).outputs["name"]
    document = json.loads(policy.inputs["policy"])
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": [NODES, CI]}
    assert sorted(statement["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert "Resource" not in statement and "Condition" not in statement


def test_repository_name_and_tags_are_passed_through() -> None:
    repository = render(repository_name="ml/shardstack-runtime", tags={"team": "ml"}).one(REPOSITORY).inputs
    assert repository["name"] == "ml/shardstack-runtime"
    assert repository["tags"] == {"shardstack:component": "registry", "team": "ml"}


def test_outputs() -> None:
    def program() -> None:
        registry = Registry("registry", {})
        pulumi.export("repository_url", registry.repository_url)
        pulumi.export("repository_arn", registry.repository_arn)

    outputs = run_program(program).outputs
    assert outputs["repository_url"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/shardstack/runtime"
    assert outputs["repository_arn"].startswith("arn:aws:ecr:us-east-1:123456789012:")


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {"repository_name": "a/b.c_d-e", "kms_key_arn": USER_KEY, "keep_images": 1, "pull_principal_arns": [NODES]}
    assert validate_registry_args(args) == []


@pytest.mark.parametrize(
    "name", ["a", "Shardstack/runtime", "shardstack//runtime", "shardstack/runtime-", "-x", "a" * 257]
)
def test_bad_repository_names_are_reported(name: str) -> None:
    (problem,) = failure(repository_name=name).problems
    assert problem.startswith(f"repository_name={name!r} is not an ECR repository name")


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        repository_name="Runtime",
        keep_images=0,
        kms_key_arn="alias/aws/ecr",
        pull_principal_arns=["*", NODES],
        tags={"aws:x": "y"},
        keep_image=3,
    )
    assert error.what == "invalid arguments for Registry 'registry'"
    assert error.problems[0] == "unknown argument 'keep_image' (did you mean 'keep_images'?)"
    assert error.problems[1].startswith("repository_name='Runtime' is not an ECR repository name")
    assert (
        "keep_images=0 must be a whole number from 1 to 10000 (more than any release history of one runtime image)"
        in error.problems
    )
    assert any(p.startswith("kms_key_arn='alias/aws/ecr' is not a KMS key ARN") for p in error.problems)
    assert any(p.startswith("pull_principal_arns[0]='*' is not an IAM principal ARN") for p in error.problems)
    assert "tags['aws:x'] is not allowed: AWS reserves keys starting with 'aws:'" in error.problems
    assert len(error.problems) == 6


def test_pull_principal_arns_must_be_a_list() -> None:
    (problem,) = failure(pull_principal_arns=NODES).problems
    assert problem.startswith(f"pull_principal_arns={NODES!r} must be a list, each item an IAM principal ARN")


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Registry", module="shardstack.aws.registry")
    (token,) = schema["resources"]
    resource = schema["resources"][token]
    assert resource.get("requiredInputs", []) == []
    assert sorted(resource["inputProperties"]) == [
        "keepImages",
        "kmsKeyArn",
        "pullPrincipalArns",
        "repositoryName",
        "tags",
    ]
    assert sorted(resource["properties"]) == ["registryId", "repositoryArn", "repositoryUrl"]
    assert all(p.get("description") for p in resource["inputProperties"].values())
