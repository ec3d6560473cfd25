"""What the AWS Network tests share: rendering it under recording mocks, its outputs and refusals, and
reading subnets, route tables, NAT gateways and VPC endpoints from what it planned."""

from __future__ import annotations

from typing import Any

import pulumi

from shardstack.aws.network import Network
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
