"""GCP Network under recording mocks: ranges, Private Google Access, Cloud NAT, firewall, existing, validation."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.gcp.network import MAX_NAME_LENGTH, Network, validate_network_args
from shardstack.testing import Graph, run_program, run_refused

NETWORK = "shardstack:gcp:Network"
VPC = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ROUTER = "gcp:compute/router:Router"
NAT = "gcp:compute/routerNat:RouterNat"
FIREWALL = "gcp:compute/firewall:Firewall"

OUTPUTS = (
    "network_name",
    "network_self_link",
    "subnetwork_name",
    "subnetwork_self_link",
    "pods_range_name",
    "services_range_name",
    "region",
)
COMPUTE = "https://www.googleapis.com/compute/v1/"
EXISTING = {
    "network": f"{COMPUTE}projects/host-project/global/networks/shared-vpc",
    "subnetwork": f"{COMPUTE}projects/host-project/regions/us-central1/subnetworks/gke-nodes",
    "pods_range_name": "gke-pods",
    "services_range_name": "gke-services",
}


def render(**args: Any) -> Graph:
    return run_program(lambda: Network("net", {"region": "us-central1", **args}))  # type: ignore[typeddict-item]


def outputs(**args: Any) -> dict[str, Any]:
    def program() -> None:
        network = Network("net", {"region": "us-central1", **args})  # type: ignore[typeddict-item]
        for key in OUTPUTS:
            pulumi.export(key, getattr(network, key))

    return run_program(program).outputs


def failure(args: dict[str, Any], name: str = "net") -> ArgumentError:
    return run_refused(lambda: Network(name, args), ArgumentError)  # type: ignore[arg-type]


# -- the network and its subnetwork -----------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render(flow_logs=True)
    component = graph.one(NETWORK)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("net-") for r in children)


def test_defaults_create_a_custom_mode_regional_vpc_with_one_subnetwork_a_nat_and_one_firewall_rule() -> None:
    graph = render()
    assert graph.count_by_type() == {FIREWALL: 1, VPC: 1, ROUTER: 1, NAT: 1, SUBNET: 1}
    vpc = graph.one(VPC).inputs
    assert vpc["autoCreateSubnetworks"] is False
    assert vpc["routingMode"] == "REGIONAL"
    # The default internet route stays: NAT and Private Google Access need it.
    assert vpc["deleteDefaultRoutesOnCreate"] is False
    subnet = graph.one(SUBNET).inputs
    assert subnet["network"] == graph.one(VPC).outputs["selfLink"]
    assert subnet["region"] == "us-central1"
    assert subnet["ipCidrRange"] == "10.0.0.0/20"
    assert "logConfig" not in subnet


def test_subnetwork_carries_the_pod_and_service_secondary_ranges() -> None:
    ranges = render().one(SUBNET).inputs["secondaryIpRanges"]
    assert ranges == [
        {"rangeName": "pods", "ipCidrRange": "10.16.0.0/14"},
        {"rangeName": "services", "ipCidrRange": "10.20.0.0/20"},
    ]
    custom = render(subnet_cidr="172.16.0.0/22", pods_cidr="172.20.0.0/16", services_cidr="172.19.0.0/24")
    subnet = custom.one(SUBNET).inputs
    assert subnet["ipCidrRange"] == "172.16.0.0/22"
    assert [(r["rangeName"], r["ipCidrRange"]) for r in subnet["secondaryIpRanges"]] == [
        ("pods", "172.20.0.0/16"),
        ("services", "172.19.0.0/24"),
    ]


def test_default_ranges_are_disjoint() -> None:
    subnet = render().one(SUBNET).inputs
    blocks = [ipaddress.IPv4Network(subnet["ipCidrRange"])]
    blocks += [ipaddress.IPv4Network(r["ipCidrRange"]) for r in subnet["secondaryIpRanges"]]
    for i, a in enumerate(blocks):
        for b in blocks[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_nodes_reach_google_apis_through_private_google_access() -> None:
    assert render().one(SUBNET).inputs["privateIpGoogleAccess"] is True
    assert render(nat=False).one(SUBNET).inputs["privateIpGoogleAccess"] is True


def test_flow_logs_record_every_flow_of_the_subnetwork() -> None:
    log_config = render(flow_logs=True).one(SUBNET).inputs["logConfig"]
    assert log_config == {
        "aggregationInterval": "INTERVAL_5_SEC",
        "flowSampling": 1,
        "metadata": "INCLUDE_ALL_METADATA",
    }


# -- internet egress --------------------------------------------------------------------------------


def test_cloud_nat_in_the_region_translates_every_range_of_every_subnetwork() -> None:
    graph = render(region="europe-west4")
    router = graph.one(ROUTER)
    nat = graph.one(NAT).inputs
    assert router.inputs["network"] == graph.one(VPC).outputs["selfLink"]
    assert router.inputs["region"] == "europe-west4"
    assert nat["router"] == router.outputs["name"]
    assert nat["region"] == "europe-west4"
    assert nat["natIpAllocateOption"] == "AUTO_ONLY"
    # Pods (a secondary range) reach the internet too, not only the nodes' primary range.
    assert nat["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert nat["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}
    assert graph.one(SUBNET).inputs["region"] == "europe-west4"


def test_nat_false_creates_no_router_and_no_nat() -> None:
    graph = render(nat=False)
    assert graph.of_type(ROUTER) == []
    assert graph.of_type(NAT) == []
    assert len(graph.of_type(SUBNET)) == 1


# -- firewall ---------------------------------------------------------------------------------------


def test_firewall_allows_only_traffic_from_the_node_and_pod_ranges() -> None:
    graph = render(subnet_cidr="10.1.0.0/20", pods_cidr="10.64.0.0/14")
    (rule,) = graph.of_type(FIREWALL)
    inputs = rule.inputs
    assert inputs["network"] == graph.one(VPC).outputs["selfLink"]
    assert inputs["direction"] == "INGRESS"
    assert inputs["sourceRanges"] == ["10.1.0.0/20", "10.64.0.0/14"]
    assert sorted(a["protocol"] for a in inputs["allows"]) == ["icmp", "tcp", "udp"]
    assert all("ports" not in a for a in inputs["allows"])
    assert not inputs.get("denies")
    assert not inputs.get("sourceTags") and not inputs.get("targetTags")


# -- outputs ----------------------------------------------------------------------------------------


def test_outputs_name_the_created_network_subnetwork_and_ranges() -> None:
    graph = render()
    vpc, subnet = graph.one(VPC).outputs, graph.one(SUBNET).outputs
    assert outputs() == {
        "network_name": vpc["name"],
        "network_self_link": vpc["selfLink"],
        "subnetwork_name": subnet["name"],
        "subnetwork_self_link": subnet["selfLink"],
        "pods_range_name": "pods",
        "services_range_name": "services",
        "region": "us-central1",
    }


def test_existing_network_creates_nothing_and_passes_its_names_through() -> None:
    graph = render(existing=EXISTING)
    assert [r.type for r in graph] == [NETWORK]
    assert outputs(existing=EXISTING) == {
        "network_name": "shared-vpc",
        "network_self_link": EXISTING["network"],
        "subnetwork_name": "gke-nodes",
        "subnetwork_self_link": EXISTING["subnetwork"],
        "pods_range_name": "gke-pods",
        "services_range_name": "gke-services",
        "region": "us-central1",
    }


def test_existing_names_become_self_links_in_the_providers_project() -> None:
    existing = {**EXISTING, "network": "vpc", "subnetwork": "projects/other/regions/us-central1/subnetworks/nodes"}
    result = outputs(existing=existing)
    # The mocks' provider project is 'shardstack-test'.
    assert result["network_name"] == "vpc"
    assert result["network_self_link"] == f"{COMPUTE}projects/shardstack-test/global/networks/vpc"
    assert result["subnetwork_name"] == "nodes"
    assert result["subnetwork_self_link"] == f"{COMPUTE}projects/other/regions/us-central1/subnetworks/nodes"
    named = outputs(existing={**EXISTING, "network": "vpc", "subnetwork": "nodes"})
    assert named["subnetwork_self_link"] == f"{COMPUTE}projects/shardstack-test/regions/us-central1/subnetworks/nodes"


def test_preview_plans_the_same_resources_before_ids_are_known() -> None:
    def program() -> None:
        Network("net", {"region": "us-central1", "flow_logs": True})

    assert run_program(program, preview=True).count_by_type() == render(flow_logs=True).count_by_type()


# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_network_args({"region": "us-central1"}, name="net") == []
    assert validate_network_args({"region": "us-central1", "existing": EXISTING}, name="Any Name") == []
    assert (
        validate_network_args(
            {
                "region": "northamerica-northeast2",
                "subnet_cidr": "192.168.0.0/24",
                "pods_cidr": "10.0.0.0/9",
                "services_cidr": "172.16.0.0/16",
                "nat": False,
                "flow_logs": True,
                "labels": {"team": "ml", "cost_center": "42"},
            },
            name="a" * MAX_NAME_LENGTH,
        )
        == []
    )


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    problems = failure(
        {
            "region": "us-central1-a",
            "subnet_cidr": "10.0.0.0/26",
            "pods_cidr": "10.16.0.0/14",
            "services_cidr": "10.17.0.0/20",
            "existing": EXISTING,
            "flow_log": True,
            "labels": {"Team": "ml"},
        }
    ).problems
    assert problems == [
        "unknown argument 'flow_log' (did you mean 'flow_logs'?)",
        "region='us-central1-a' is not a GCP region name such as 'us-central1' or 'europe-west4' "
        "('us-central1-a' is a zone; its region is 'us-central1')",
        "subnet_cidr='10.0.0.0/26' is a /26; use a /16 to a /24: every node takes one address of it",
        "labels['Team'] is not a GCP label key: use 1 to 63 lowercase letters, digits, '_' and '-', "
        "starting with a letter",
        # subnet_cidr is reported once, as a bad range: its clash with existing shows once it is a range.
        "existing and pods_cidr cannot be combined: existing uses a network as it is, so "
        "pods_cidr='10.16.0.0/14' would be ignored; drop one of them",
        "existing and services_cidr cannot be combined: existing uses a network as it is, so "
        "services_cidr='10.17.0.0/20' would be ignored; drop one of them",
        "pods_cidr='10.16.0.0/14' and services_cidr='10.17.0.0/20' overlap: the node, pod and "
        "service ranges of a subnetwork must be disjoint; move one of them",
    ]


def test_overlapping_ranges_are_named_both_including_a_default() -> None:
    problems = failure({"region": "us-central1", "pods_cidr": "10.0.0.0/14", "services_cidr": "10.1.0.0/20"}).problems
    assert problems == [
        "subnet_cidr='10.0.0.0/20' (the default) and pods_cidr='10.0.0.0/14' overlap: the node, pod and "
        "service ranges of a subnetwork must be disjoint; move one of them",
        "pods_cidr='10.0.0.0/14' and services_cidr='10.1.0.0/20' overlap: the node, pod and "
        "service ranges of a subnetwork must be disjoint; move one of them",
    ]


def test_existing_with_range_arguments_reports_each_pair_and_its_own_problems() -> None:
    problems = failure(
        {
            "region": "us-central1",
            "pods_cidr": "10.16.0.0/14",
            "nat": False,
            "existing": {
                **EXISTING,
                "subnetwork": "projects/host-project/regions/europe-west4/subnetworks/gke-nodes",
                "services_range_name": "gke-pods",
            },
        }
    ).problems
    assert problems == [
        "existing and pods_cidr cannot be combined: existing uses a network as it is, so "
        "pods_cidr='10.16.0.0/14' would be ignored; drop one of them",
        "existing and nat cannot be combined: existing uses a network as it is, so "
        "nat=False would be ignored; drop one of them",
        "existing.subnetwork='projects/host-project/regions/europe-west4/subnetworks/gke-nodes' is in region "
        "'europe-west4', not in region='us-central1': the cluster's nodes must be in its region's subnetwork",
        "existing.services_range_name='gke-pods' is also pods_range_name: "
        "pods and Services need separate secondary ranges",
    ]


@pytest.mark.parametrize(
    ("key", "cidr", "expected"),
    [
        ("subnet_cidr", "10.0.0.0", "subnet_cidr='10.0.0.0' is not an IPv4 CIDR block"),
        ("subnet_cidr", "fd00::/64", "subnet_cidr='fd00::/64' is not an IPv4 CIDR block"),
        ("subnet_cidr", "10.0.0.1/20", "subnet_cidr='10.0.0.1/20' has host bits set; the block it lies in is"),
        ("subnet_cidr", "10.0.0.0/12", "subnet_cidr='10.0.0.0/12' is a /12; use a /16 to a /24"),
        ("pods_cidr", "10.0.0.0/8", "pods_cidr='10.0.0.0/8' is a /8; use a /9 to a /21"),
        ("pods_cidr", "10.16.0.0/22", "pods_cidr='10.16.0.0/22' is a /22; use a /9 to a /21"),
        ("services_cidr", "10.20.0.0/25", "services_cidr='10.20.0.0/25' is a /25; use a /16 to a /24"),
        ("services_cidr", "127.0.0.0/20", "services_cidr='127.0.0.0/20' lies in a reserved range"),
        ("subnet_cidr", "169.254.0.0/20", "subnet_cidr='169.254.0.0/20' lies in a reserved range"),
    ],
)
def test_fails_when_a_range_is_not_a_usable_ipv4_block(key: str, cidr: str, expected: str) -> None:
    (problem,) = failure({"region": "us-central1", key: cidr}).problems
    assert problem.startswith(expected), problem


@pytest.mark.parametrize("region", ["us-central", "US-CENTRAL1", "uscentral1", "", 1])
def test_fails_when_the_region_is_not_a_region_name(region: Any) -> None:
    (problem,) = failure({"region": region}).problems
    verb = "is not" if isinstance(region, str) and region else "must be"  # "" or a number is not even a name
    assert problem == f"region={region!r} {verb} a GCP region name such as 'us-central1' or 'europe-west4'"


def test_fails_when_the_region_is_missing() -> None:
    (problem,) = failure({}).problems
    assert problem.startswith("region is required")


def test_fails_when_existing_misses_fields_or_names_are_malformed() -> None:
    problems = failure(
        {"region": "us-central1", "existing": {"network": "My_VPC", "subnetwork": "nodes", "pod_range_name": "p"}}
    ).problems
    assert problems == [
        "existing has unknown argument 'pod_range_name' (did you mean 'pods_range_name'?)",
        "existing.network='My_VPC' is neither a network name nor a self-link such as "
        "'projects/my-project/global/networks/my-vpc'",
        "existing.pods_range_name is required: the name of the subnetwork's secondary range for pods",
        "existing.services_range_name is required: the name of the subnetwork's secondary range for Services",
    ]


def test_fails_when_the_component_name_cannot_prefix_gcp_names() -> None:
    for name in ("Net", "net_1", "1net", "a" * (MAX_NAME_LENGTH + 1)):
        (problem,) = failure({"region": "us-central1"}, name=name).problems
        assert problem.startswith(f"name={name!r} cannot prefix GCP resource names"), problem


def test_fails_when_a_flag_is_not_a_boolean_or_a_label_is_reserved() -> None:
    problems = failure(
        {"region": "us-central1", "nat": "yes", "labels": {"shardstack-component": "x", "team": "ML"}}
    ).problems
    assert problems == [
        "nat='yes' must be true or false",
        "labels['shardstack-component'] is set by Shardstack itself; choose another key",
        "labels['team']='ML' is not a GCP label value: use at most 63 lowercase letters, digits, '_' and '-'",
    ]


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Network", module="shardstack.gcp.network")
    (resource,) = schema["resources"].values()
    assert resource["requiredInputs"] == ["region"]
    assert sorted(resource["properties"]) == [
        "networkName",
        "networkSelfLink",
        "podsRangeName",
        "region",
        "servicesRangeName",
        "subnetworkName",
        "subnetworkSelfLink",
    ]
    assert sorted(resource["inputProperties"]) == [
        "existing",
        "flowLogs",
        "labels",
        "nat",
        "podsCidr",
        "region",
        "servicesCidr",
        "subnetCidr",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (existing,) = [t for token, t in schema["types"].items() if token.endswith("ExistingNetwork")]
    assert sorted(existing["required"]) == ["network", "podsRangeName", "servicesRangeName", "subnetwork"]
