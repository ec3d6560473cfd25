"""AWS Network under recording mocks: the VPC, its zones and subnet carving, the outputs, and an
existing VPC."""

from __future__ import annotations

import ipaddress

import pytest
from aws_network_helpers import EXISTING, MOCK_ZONES, NETWORK, SUBNET, VPC, failure, outputs, render, subnets

from shardstack.aws.network import Network, carve_subnets, max_zones
from shardstack.testing import run_program

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
