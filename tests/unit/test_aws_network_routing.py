"""AWS Network under recording mocks: routes to the internet (a NAT gateway per zone or one, the
internet gateway) and the VPC endpoints."""

from __future__ import annotations

from aws_network_helpers import (
    EIP,
    ENDPOINT,
    IGW,
    NAT,
    ROUTE_TABLE,
    SG,
    VPC,
    by_id,
    default_route,
    endpoint,
    nat_of,
    render,
    route_table_of,
    subnets,
)

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
