"""AWS Cluster's argument checks (every problem at once, nothing registered) and its multi-language
schema."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from aws_cluster_helpers import ADMIN, NODE_GROUP, SUBNETS, VPC_ID, cluster_args, failure, problems
from component_schema import component_schema

from shardstack.aws.cluster import Cluster, validate_cluster_args
from shardstack.testing import run_program

# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = cluster_args(private_endpoint=False, authorized_networks=["203.0.113.0/24"], admin_role_arns=[ADMIN])
    assert validate_cluster_args(args, name="llm") == []


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = problems(
        subnet_ids=SUBNETS[:1],
        private_endpoint=False,
        kubernetes_version="1.29",
        log_types=["api", "audti"],
        log_retention_day=30,
    )
    assert len(found) == 5, found
    assert found[0] == "unknown argument 'log_retention_day' (did you mean 'log_retention_days'?)"
    assert any(
        p.startswith("subnet_ids=['subnet-0aaaaaaaaaaaaaaaa'] must be a list of at least 2 items") for p in found
    )
    assert "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'" in found
    assert any(p.startswith("authorized_networks is empty, but private_endpoint is False") for p in found)
    assert any(
        p.startswith("log_types[1]='audti' must be one of 'api', 'audit',") and "(did you mean 'audit'?)" in p
        for p in found
    )


def test_the_whole_internet_is_refused() -> None:
    (problem,) = problems(private_endpoint=False, authorized_networks=["0.0.0.0/0"])
    assert problem.startswith("authorized_networks[0]='0.0.0.0/0' would open the Kubernetes API to the whole internet")


def test_blocks_that_together_cover_the_internet_are_refused_as_it() -> None:
    quarters = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    (problem,) = problems(private_endpoint=False, authorized_networks=quarters)
    assert problem.startswith(
        f"authorized_networks={quarters!r} together would open the Kubernetes API to the whole internet (all of IPv4)"
    ), problem
    (ipv6,) = problems(private_endpoint=False, authorized_networks=["::/2", "4000::/2", "8000::/2"])
    assert "(75% of IPv6)" in ipv6
    # The issue's [0.0.0.0/1, 128.0.0.0/1]: each half is refused on its own.
    halves = problems(private_endpoint=False, authorized_networks=["0.0.0.0/1", "128.0.0.0/1"])
    assert [p.split(" would open")[0] for p in halves] == [
        "authorized_networks[0]='0.0.0.0/1'",
        "authorized_networks[1]='128.0.0.0/1'",
    ]


def test_authorized_networks_must_be_cidr_blocks_without_host_bits() -> None:
    found = problems(private_endpoint=False, authorized_networks=["203.0.113.7/24", "office"])
    assert found == [
        "authorized_networks[0]='203.0.113.7/24' has host bits set; the network it is in is '203.0.113.0/24'",
        "authorized_networks[1]='office' is not a CIDR block like '203.0.113.0/24'",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "1.33.2",
            "kubernetes_version='1.33.2' must be one of '1.30', '1.31', '1.32', '1.33', '1.34' (give the minor "
            "version only: EKS picks the patch release)",
        ),
        (1.3, "kubernetes_version=1.3 is a number; write the version as a quoted string, e.g. '1.33'"),
        ("1.35", "kubernetes_version='1.35' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'"),
    ],
)
def test_kubernetes_version_must_be_a_supported_minor_version(version: Any, expected: str) -> None:
    (problem,) = problems(kubernetes_version=version)
    assert problem.startswith(expected)


def test_vpc_and_subnets_are_required() -> None:
    found = failure({}).problems
    assert found == [
        "subnet_ids is required: a list of at least 2 items, each item a subnet ID like 'subnet-0123456789abcdef0'",
        "vpc_id is required: a VPC ID like 'vpc-0123456789abcdef0'",
    ]


def test_subnet_ids_may_be_an_output() -> None:
    def program() -> None:
        Cluster("llm", {"vpc_id": VPC_ID, "subnet_ids": pulumi.Output.from_input(SUBNETS)})

    assert run_program(program).one(NODE_GROUP).inputs["subnetIds"] == SUBNETS


def test_admin_role_arns_must_be_iam_role_or_user_arns_with_distinct_names() -> None:
    other_account = "arn:aws:iam::210987654321:role/platform-admin"
    found = problems(admin_role_arns=[ADMIN, "arn:aws:sts::123456789012:assumed-role/admin/me", other_account])
    assert found == [
        "admin_role_arns[1]='arn:aws:sts::123456789012:assumed-role/admin/me' is not an IAM role or user ARN "
        "like 'arn:aws:iam::123456789012:role/platform-admin'",
        f"admin_role_arns[2]={other_account!r} has the same role or user name as admin_role_arns[0]",
    ]


def test_system_pool_is_checked_field_by_field() -> None:
    found = problems(system_pool={"instance_type": "g6.xlarge", "min_nodes": 3, "max_nodes": 2, "disk_size": 10})
    assert found[0] == "system_pool has unknown argument 'disk_size' (did you mean 'disk_size_gib'?)"
    assert found[1].startswith("system_pool.instance_type='g6.xlarge' has GPUs")
    assert found[2] == "system_pool.max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes"
    assert len(found) == 3
    (arm,) = problems(system_pool={"instance_type": "m7g.large"})
    assert arm.startswith("system_pool.instance_type='m7g.large' is an Arm (Graviton) type")
    (disk,) = problems(system_pool={"disk_size_gib": 10})
    assert disk == (
        "system_pool.disk_size_gib=10 must be a whole number from 20 to 65536 (the node image and the system pods' "
        "images need the room; 64 TiB is the largest disk)"
    )


def test_log_retention_must_be_a_period_cloudwatch_accepts() -> None:
    (problem,) = problems(log_retention_days=100)
    assert problem.startswith("log_retention_days=100 is not a retention period CloudWatch accepts; use one of 1, 3,")


def test_tags_may_not_use_reserved_keys() -> None:
    found = problems(tags={"aws:owner": "me", "shardstack:component": "x"})
    assert found == [
        "tags['aws:owner'] is not allowed: AWS reserves keys starting with 'aws:'",
        "tags['shardstack:component'] is set by Shardstack itself; choose another key",
    ]


def test_name_must_be_a_valid_eks_cluster_name() -> None:
    (problem,) = validate_cluster_args(cluster_args(), name="llm.prod")
    assert problem.startswith("name='llm.prod' cannot name an EKS cluster")


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Cluster", module="shardstack.aws.cluster")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["subnetIds", "vpcId"]
    assert sorted(resource["properties"]) == [
        "certificateAuthority",
        "clusterArn",
        "clusterName",
        "clusterSecurityGroupId",
        "endpoint",
        "kubeconfig",
        "nodeRoleArn",
        "nodeRoleName",
        "oidcIssuer",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (system_pool,) = [t for name, t in schema["types"].items() if name.endswith(":SystemPool")]
    assert sorted(system_pool["properties"]) == ["diskSizeGib", "instanceType", "maxNodes", "minNodes"]
