"""AWS Network's argument checks (every problem at once, nothing registered) and its multi-language
schema."""

from __future__ import annotations

import pytest
from aws_network_helpers import EXISTING, failure
from component_schema import component_schema

from shardstack.aws.network import validate_network_args

# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_network_args({"cluster_name": "llm"}, name="net") == []
    assert validate_network_args({"cluster_name": "llm", "existing": EXISTING}, name="net") == []
    assert (
        validate_network_args(
            {"cluster_name": "llm", "cidr_block": "172.20.0.0/18", "availability_zones": ["us-west-2a", "us-west-2b"]}
        )
        == []
    )


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    problems = failure(
        {
            "cluster_name": "llm",
            "cidr_block": "10.0.0.0/33",
            "availability_zones": ["us-east-1a"],
            "nat_gateways": "one-per-zone",
            "vpc_endpoint": False,
        }
    ).problems
    assert problems == [
        "unknown argument 'vpc_endpoint' (did you mean 'vpc_endpoints'?)",
        "cidr_block='10.0.0.0/33' is not an IPv4 CIDR block: use e.g. '10.0.0.0/16'",
        "availability_zones=['us-east-1a'] must be a list of at least 2 items, each item an availability zone name "
        "such as 'us-east-1a'",
        "nat_gateways='one-per-zone' must be one of 'one_per_zone', 'single' (did you mean 'one_per_zone'?)",
    ]


def test_existing_reports_its_own_problems_and_each_creation_argument_given_with_it() -> None:
    problems = failure(
        {
            "cluster_name": "llm",
            "cidr_block": "10.1.0.0/16",
            "zone_count": 2,
            "existing": {**EXISTING, "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa"], "public_subnet_ids": []},
        }
    ).problems
    # existing's own problems and each creation argument given with it, all at once.
    assert problems == [
        "existing.private_subnet_ids=['subnet-0aaaaaaaaaaaaaaaa'] must be a list of at least 2 items, each item a "
        "subnet ID like 'subnet-0123456789abcdef0'",
        "existing.public_subnet_ids=[] must be a list of at least 1 item, each item a subnet ID like "
        "'subnet-0123456789abcdef0'",
        "cidr_block='10.1.0.0/16' cannot be combined with existing: existing uses a VPC as it is, so it would be "
        "ignored; drop one of them",
        "zone_count=2 cannot be combined with existing: existing uses a VPC as it is, so it would be ignored; "
        "drop one of them",
    ]
    # The same with a valid existing.
    problems = failure(
        {"cluster_name": "llm", "cidr_block": "10.1.0.0/16", "zone_count": 2, "existing": EXISTING}
    ).problems
    assert problems == [
        "cidr_block='10.1.0.0/16' cannot be combined with existing: existing uses a VPC as it is, so it would be "
        "ignored; drop one of them",
        "zone_count=2 cannot be combined with existing: existing uses a VPC as it is, so it would be ignored; "
        "drop one of them",
    ]


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("10.0.0.0", "cidr_block='10.0.0.0' is not an IPv4 CIDR block"),
        ("fd00::/56", "cidr_block='fd00::/56' is not an IPv4 CIDR block"),
        ("10.0.0.1/16", "cidr_block='10.0.0.1/16' has host bits set; the block it lies in is '10.0.0.0/16'"),
        ("10.0.0.0/8", "cidr_block='10.0.0.0/8' is a /8; use a /16"),
        ("10.0.0.0/26", "cidr_block='10.0.0.0/26' is a /26; use a /16"),
        ("127.0.0.0/16", "cidr_block='127.0.0.0/16' is a reserved range"),
    ],
)
def test_fails_when_the_cidr_block_is_not_a_usable_ipv4_block(cidr: str, expected: str) -> None:
    (problem,) = failure({"cluster_name": "llm", "cidr_block": cidr}).problems
    assert problem.startswith(expected), problem


def test_fails_when_fewer_than_two_zones_are_asked_for() -> None:
    (problem,) = failure({"cluster_name": "llm", "zone_count": 1}).problems
    assert problem == "zone_count=1 must be a whole number ≥ 2 (EKS needs subnets in at least 2 availability zones)"


def test_fails_when_zone_ids_are_given_instead_of_names() -> None:
    problems = failure({"cluster_name": "llm", "availability_zones": ["use1-az1", "us-east-1b"]}).problems
    assert problems == [
        "availability_zones[0]='use1-az1' is not an availability zone name such as 'us-east-1a' "
        "(zone IDs such as 'use1-az1' are not accepted)"
    ]


def test_fails_when_zones_are_given_twice_over() -> None:
    problems = failure(
        {"cluster_name": "llm", "availability_zones": ["us-east-1a", "us-east-1b"], "zone_count": 2}
    ).problems
    assert problems == [
        "zone_count=2 and availability_zones=['us-east-1a', 'us-east-1b'] cannot be combined: give the zone names, "
        "or how many of the region's zones to use",
    ]
    problems = failure({"cluster_name": "llm", "availability_zones": ["us-east-1a", "us-east-1a"]}).problems
    assert problems == ["availability_zones[1]='us-east-1a' is listed twice; give each item once"]


def test_fails_when_the_cluster_name_is_missing_or_invalid() -> None:
    (missing,) = failure({}).problems
    assert missing.startswith("cluster_name is required")
    (invalid,) = failure({"cluster_name": "my cluster"}).problems
    assert invalid.startswith("cluster_name='my cluster' is not an EKS cluster name")


def test_fails_when_an_existing_id_is_malformed() -> None:
    problems = failure(
        {"cluster_name": "llm", "existing": {**EXISTING, "vpc_id": "my-vpc", "public_subnet_ids": ["sn-1"]}}
    ).problems
    assert problems == [
        "existing.vpc_id='my-vpc' is not a VPC ID such as 'vpc-0123456789abcdef0'",
        "existing.public_subnet_ids[0]='sn-1' is not a subnet ID such as 'subnet-0123456789abcdef0'",
    ]


def test_fails_when_a_flag_is_not_a_boolean_or_a_tag_is_reserved() -> None:
    problems = failure({"cluster_name": "llm", "flow_logs": "yes", "tags": {"Name": "x", "aws:owner": "me"}}).problems
    assert problems == [
        "flow_logs='yes' must be true or false",
        "tags['Name'] is set by Shardstack itself; choose another key",
        "tags['aws:owner'] is not allowed: AWS reserves keys starting with 'aws:'",
    ]


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Network", module="shardstack.aws.network")
    (resource,) = schema["resources"].values()
    assert resource["requiredInputs"] == ["clusterName"]
    assert sorted(resource["properties"]) == [
        "availabilityZones",
        "cidrBlock",
        "privateSubnetIds",
        "publicSubnetIds",
        "vpcId",
    ]
    assert sorted(resource["inputProperties"]) == [
        "availabilityZones",
        "cidrBlock",
        "clusterName",
        "existing",
        "flowLogs",
        "natGateways",
        "tags",
        "vpcEndpoints",
        "zoneCount",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (existing,) = [t for token, t in schema["types"].items() if token.endswith("ExistingNetwork")]
    assert sorted(existing["required"]) == ["privateSubnetIds", "publicSubnetIds", "vpcId"]
