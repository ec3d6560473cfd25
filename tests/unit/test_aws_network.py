"""Network under recording mocks: zones, subnet carving, NAT routing, VPC endpoints, an existing VPC, validation."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack.aws.network import Network, carve_subnets, max_zones, validate_network_args
from shardstack.errors import ArgumentError
from shardstack.testing import Graph, Resource, run_program, run_refused

NETWORK = "shardstack:aws:Network"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
IGW = "aws:ec2/internetGateway:InternetGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

MOCK_ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
OUTPUTS = ("vpc_id", "private_subnet_ids", "public_subnet_ids", "availability_zones", "cidr_block")
EXISTING = {
    "vpc_id": "vpc-0123456789abcdef0",
    "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
    "public_subnet_ids": ["subnet-0cccccccccccccccc"],
}


def render(**args: Any) -> Graph:
    return run_program(lambda: Network("net", {"cluster_name": "llm", **args}))  # type: ignore[typeddict-item]


def outputs(**args: Any) -> dict[str, Any]:
    def program() -> None:
        network = Network("net", {"cluster_name": "llm", **args})  # type: ignore[typeddict-item]
        for key in OUTPUTS:
            pulumi.export(key, getattr(network, key))

    return run_program(program).outputs


def failure(args: dict[str, Any]) -> ArgumentError:
    return run_refused(lambda: Network("net", args), ArgumentError)  # type: ignore[arg-type]


def subnets(graph: Graph, kind: str) -> list[Resource]:
    """The private or public subnets in zone order."""
    found = [r for r in graph.of_type(SUBNET) if r.name.startswith(f"net-{kind}-")]
    return sorted(found, key=lambda r: int(r.name.rsplit("-", 1)[1]))


def by_id(graph: Graph) -> dict[str, Resource]:
    return {r.id: r for r in graph if r.custom and r.id}


def route_table_of(graph: Graph, subnet: Resource) -> str:
    (table,) = [a.inputs["routeTableId"] for a in graph.of_type(ASSOCIATION) if a.inputs["subnetId"] == subnet.id]
    return table


def default_route(graph: Graph, route_table_id: str) -> Resource:
    (route,) = [
        r
        for r in graph.of_type(ROUTE)
        if r.inputs["routeTableId"] == route_table_id and r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    ]
    return route


def nat_of(graph: Graph, private_subnet: Resource) -> Resource:
    """The NAT gateway a private subnet's internet traffic leaves through."""
    route = default_route(graph, route_table_of(graph, private_subnet))
    return by_id(graph)[route.inputs["natGatewayId"]]


def endpoint(graph: Graph, service: str) -> Resource:
    (found,) = [r for r in graph.of_type(ENDPOINT) if r.inputs["serviceName"] == f"com.amazonaws.us-east-1.{service}"]
    return found


# -- the VPC and its subnets ------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render(flow_logs=True)
    component = graph.one(NETWORK)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("net-") for r in children)


def test_default_network_spans_three_zones_with_a_private_and_a_public_subnet_each() -> None:
    graph = render()
    assert [s.inputs["availabilityZone"] for s in subnets(graph, "private")] == MOCK_ZONES
    assert [s.inputs["availabilityZone"] for s in subnets(graph, "public")] == MOCK_ZONES
    assert len(graph.of_type(SUBNET)) == 6


def test_vpc_has_the_default_range_and_resolves_dns_names_as_eks_requires() -> None:
    vpc = render().one(VPC).inputs
    assert vpc["cidrBlock"] == "10.0.0.0/16"
    assert vpc["enableDnsSupport"] is True
    assert vpc["enableDnsHostnames"] is True


def test_subnets_carry_the_tags_eks_and_load_balancer_controllers_look_for() -> None:
    graph = render()
    for subnet in subnets(graph, "private"):
        tags = subnet.inputs["tags"]
        assert tags["kubernetes.io/role/internal-elb"] == "1"
        assert tags["kubernetes.io/cluster/llm"] == "shared"
        assert "kubernetes.io/role/elb" not in tags
    for subnet in subnets(graph, "public"):
        tags = subnet.inputs["tags"]
        assert tags["kubernetes.io/role/elb"] == "1"
        assert tags["kubernetes.io/cluster/llm"] == "shared"
        assert "kubernetes.io/role/internal-elb" not in tags
        assert subnet.inputs["mapPublicIpOnLaunch"] is False


@pytest.mark.parametrize(
    ("cidr", "private_prefix", "public_prefix"),
    [("10.0.0.0/16", 19, 22), ("172.16.32.0/20", 23, 26), ("192.168.7.0/24", 27, 28)],
)
def test_subnet_blocks_lie_inside_the_vpc_and_do_not_overlap(
    cidr: str, private_prefix: int, public_prefix: int
) -> None:
    graph = render(cidr_block=cidr)
    vpc = ipaddress.IPv4Network(cidr)
    private = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets(graph, "private")]
    public = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets(graph, "public")]
    assert {n.prefixlen for n in private} == {private_prefix}
    assert {n.prefixlen for n in public} == {public_prefix}
    blocks = private + public
    assert all(block.subnet_of(vpc) for block in blocks)
    for i, a in enumerate(blocks):
        for b in blocks[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_adding_a_zone_keeps_the_blocks_of_the_existing_subnets() -> None:
    two, three = render(zone_count=2), render(zone_count=3)
    for kind in ("private", "public"):
        before = [s.inputs["cidrBlock"] for s in subnets(two, kind)]
        after = [s.inputs["cidrBlock"] for s in subnets(three, kind)]
        assert after[:2] == before


def test_carving_refuses_zones_that_do_not_fit() -> None:
    assert max_zones(16) == 7
    assert max_zones(24) == 5
    assert len(carve_subnets("10.0.0.0/16", 7)[0]) == 7
    with pytest.raises(ValueError, match="8 zones do not fit"):
        carve_subnets("10.0.0.0/16", 8)
    (problem,) = failure({"cluster_name": "llm", "cidr_block": "192.168.7.0/24", "zone_count": 6}).problems
    assert problem.startswith("cidr_block='192.168.7.0/24' cannot hold 6 zones: a /24 holds at most 5")


def test_explicit_availability_zones_are_used_in_their_order() -> None:
    zones = ["eu-west-1c", "eu-west-1a"]
    graph = render(availability_zones=zones)
    assert [s.inputs["availabilityZone"] for s in subnets(graph, "private")] == zones
    assert [s.inputs["availabilityZone"] for s in subnets(graph, "public")] == zones
    assert outputs(availability_zones=zones)["availability_zones"] == zones


def test_zone_count_takes_the_first_zones_the_region_offers() -> None:
    graph = render(zone_count=2)
    assert [s.inputs["availabilityZone"] for s in subnets(graph, "private")] == MOCK_ZONES[:2]
    assert outputs(zone_count=2)["availability_zones"] == MOCK_ZONES[:2]


# -- routing ----------------------------------------------------------------------------------------


def test_each_zone_reaches_the_internet_through_its_own_nat_gateway() -> None:
    graph = render()
    assert len(graph.of_type(NAT)) == 3
    assert len(graph.of_type(EIP)) == 3
    ids = by_id(graph)
    used = set()
    for subnet in subnets(graph, "private"):
        nat = nat_of(graph, subnet)
        nat_subnet = ids[nat.inputs["subnetId"]]
        assert nat_subnet.name.startswith("net-public-")
        assert nat_subnet.inputs["availabilityZone"] == subnet.inputs["availabilityZone"]
        assert ids[nat.inputs["allocationId"]].type == EIP
        used.add(nat.name)
    assert len(used) == 3


def test_single_nat_gateway_serves_every_zone() -> None:
    graph = render(nat_gateways="single")
    (nat,) = graph.of_type(NAT)
    assert len(graph.of_type(EIP)) == 1
    private = subnets(graph, "private")
    assert {route_table_of(graph, s) for s in private} == {
        r.id for r in graph.of_type(ROUTE_TABLE) if r.name.startswith("net-private-")
    }
    assert len({route_table_of(graph, s) for s in private}) == 3
    assert all(nat_of(graph, s).name == nat.name for s in private)


def test_public_subnets_route_to_the_internet_gateway() -> None:
    graph = render()
    igw = graph.one(IGW)
    vpc = graph.one(VPC)
    assert igw.inputs["vpcId"] == vpc.id
    tables = {route_table_of(graph, s) for s in subnets(graph, "public")}
    (table,) = tables
    assert default_route(graph, table).inputs["gatewayId"] == igw.id
    for nat in graph.of_type(NAT):
        assert any(igw.urn == dependency for dependency in nat.dependencies)


# -- VPC endpoints ----------------------------------------------------------------------------------


def test_s3_gateway_endpoint_serves_the_private_route_tables() -> None:
    graph = render()
    s3 = endpoint(graph, "s3").inputs
    assert s3["vpcEndpointType"] == "Gateway"
    private_tables = [route_table_of(graph, s) for s in subnets(graph, "private")]
    assert sorted(s3["routeTableIds"]) == sorted(private_tables)
    public_table = route_table_of(graph, subnets(graph, "public")[0])
    assert public_table not in s3["routeTableIds"]


def test_interface_endpoints_sit_in_the_private_subnets_and_accept_https_from_the_vpc_only() -> None:
    graph = render()
    private_ids = [s.id for s in subnets(graph, "private")]
    group = graph.one(SG)
    for service in ("ecr.api", "ecr.dkr", "sts", "eks-auth"):
        inputs = endpoint(graph, service).inputs
        assert inputs["vpcEndpointType"] == "Interface"
        assert inputs["subnetIds"] == private_ids
        assert inputs["securityGroupIds"] == [group.id]
        assert inputs["privateDnsEnabled"] is True
    assert len(graph.of_type(ENDPOINT)) == 5
    (rule,) = group.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["cidrBlocks"] == ["10.0.0.0/16"]
    assert not group.inputs.get("egress")


def test_vpc_endpoints_can_be_turned_off() -> None:
    graph = render(vpc_endpoints=False)
    assert graph.of_type(ENDPOINT) == []
    assert graph.of_type(SG) == []


# -- security and tags ------------------------------------------------------------------------------


def test_default_security_group_is_emptied() -> None:
    graph = render()
    group = graph.one(DEFAULT_SG).inputs
    assert group["vpcId"] == graph.one(VPC).id
    assert not group.get("ingress") and not group.get("egress")


def test_every_taggable_resource_carries_the_component_and_user_tags() -> None:
    graph = render(flow_logs=True, tags={"team": "ml"})
    untaggable = {ROUTE, ASSOCIATION, ROLE_POLICY}
    taggable = [r for r in graph if r.custom and r.type not in untaggable]
    assert len(taggable) == 28
    for r in taggable:
        assert r.inputs["tags"]["shardstack:component"] == "net", r.name
        assert r.inputs["tags"]["team"] == "ml", r.name
        assert r.inputs["tags"]["Name"].startswith("net-"), r.name


def test_flow_logs_are_off_by_default() -> None:
    graph = render()
    assert graph.of_type(FLOW_LOG) == [] and graph.of_type(ROLE) == [] and graph.of_type(LOG_GROUP) == []


def test_flow_logs_go_to_a_kept_log_group_through_a_role_that_can_write_only_there() -> None:
    graph = render(flow_logs=True)
    log_group = graph.one(LOG_GROUP)
    role = graph.one(ROLE)
    flow_log = graph.one(FLOW_LOG).inputs
    assert flow_log["vpcId"] == graph.one(VPC).id
    assert flow_log["logDestinationType"] == "cloud-watch-logs"
    assert flow_log["logDestination"] == log_group.outputs["arn"]
    assert flow_log["iamRoleArn"] == role.outputs["arn"]
    assert flow_log["trafficType"] == "ALL"
    assert log_group.inputs["retentionInDays"] == 365

    (statement,) = json.loads(graph.one(ROLE_POLICY).inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert statement["Resource"] == f"{log_group.outputs['arn']}:*"
    assert graph.one(ROLE_POLICY).inputs["role"] == role.id

    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"}


# -- outputs ----------------------------------------------------------------------------------------


def test_outputs_name_the_created_vpc_and_subnets() -> None:
    graph = render()
    assert outputs() == {
        "vpc_id": graph.one(VPC).id,
        "private_subnet_ids": [s.id for s in subnets(graph, "private")],
        "public_subnet_ids": [s.id for s in subnets(graph, "public")],
        "availability_zones": MOCK_ZONES,
        "cidr_block": "10.0.0.0/16",
    }


def test_existing_vpc_creates_nothing_and_passes_its_ids_through() -> None:
    graph = render(existing=EXISTING)
    assert [r.type for r in graph] == [NETWORK]
    result = outputs(existing=EXISTING)
    assert result["vpc_id"] == EXISTING["vpc_id"]
    assert result["private_subnet_ids"] == EXISTING["private_subnet_ids"]
    assert result["public_subnet_ids"] == EXISTING["public_subnet_ids"]


def test_preview_plans_the_same_resources_before_ids_are_known() -> None:
    def program() -> None:
        Network("net", {"cluster_name": "llm", "flow_logs": True})

    assert run_program(program, preview=True).count_by_type() == render(flow_logs=True).count_by_type()


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
        "tags['Name'] is not allowed: Shardstack sets this key itself; choose another key",
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
