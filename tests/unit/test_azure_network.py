"""Azure Network under recording mocks: resource group, VNet, node subnet, NSG, existing, validation."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack.azure.arm import SUBNET_ID as ARM_SUBNET_ID
from shardstack.azure.network import MAX_NAME_LENGTH, Network, validate_network_args
from shardstack.errors import ArgumentError
from shardstack.testing import UNKNOWN, Graph, run_program, run_refused

NETWORK = "shardstack:azure:Network"
GROUP = "azure-native:resources:ResourceGroup"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # what the mocks answer
OUTPUTS = (
    "resource_group_name",
    "location",
    "vnet_id",
    "vnet_name",
    "node_subnet_id",
    "network_security_group_id",
)
HUB = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/hub-network/providers/Microsoft.Network"
EXISTING_VNET = f"{HUB}/virtualNetworks/spoke"
EXISTING_SUBNET = f"{EXISTING_VNET}/subnets/aks-nodes"
EXISTING = {"resource_group_name": "shardstack-prod", "node_subnet_id": EXISTING_SUBNET}
SUBNET_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/Microsoft\.Network/"
    r"virtualNetworks/(?P<vnet>[^/]+)/subnets/(?P<subnet>[^/]+)$"
)


def render(**args: Any) -> Graph:
    return run_program(lambda: Network("net", {"location": "eastus", **args}))  # type: ignore[typeddict-item]


def outputs(**args: Any) -> dict[str, Any]:
    def program() -> None:
        network = Network("net", {"location": "eastus", **args})  # type: ignore[typeddict-item]
        for key in OUTPUTS:
            pulumi.export(key, getattr(network, key))

    return run_program(program).outputs


def failure(args: dict[str, Any], name: str = "net") -> ArgumentError:
    return run_refused(lambda: Network(name, args), ArgumentError)  # type: ignore[arg-type]


def problems(**args: Any) -> list[str]:
    return failure({"location": "eastus", **args}).problems


# -- what is created --------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one(NETWORK)
    children = graph.children(component)
    assert len(children) == len(graph) - 1 == 4
    assert all(r.name.startswith("net-") for r in children)


def test_defaults_create_one_group_one_vnet_one_node_subnet_and_its_nsg() -> None:
    graph = render()
    assert graph.count_by_type() == {GROUP: 1, NSG: 1, SUBNET: 1, VNET: 1}
    group = graph.one(GROUP)
    assert group.inputs["location"] == "eastus"
    # No name given: Pulumi names the group '<name>-rg' plus a random suffix.
    assert "resourceGroupName" not in group.inputs
    vnet = graph.one(VNET).inputs
    assert vnet["resourceGroupName"] == group.outputs["name"]
    assert vnet["location"] == "eastus"
    assert vnet["addressSpace"] == {"addressPrefixes": ["10.224.0.0/12"]}
    # The node subnet is its own resource: inline subnets on the VNet would fight it.
    assert "subnets" not in vnet


def test_resource_group_takes_the_given_name_and_everything_goes_in_it() -> None:
    graph = render(resource_group_name="shardstack-prod", location="westeurope")
    assert graph.one(GROUP).inputs["resourceGroupName"] == "shardstack-prod"
    assert graph.one(GROUP).inputs["location"] == "westeurope"
    for kind in (VNET, NSG, SUBNET):
        assert graph.one(kind).inputs["resourceGroupName"] == "shardstack-prod"
    assert graph.one(VNET).inputs["location"] == graph.one(NSG).inputs["location"] == "westeurope"


def test_node_subnet_is_a_private_subnet_of_the_vnet_with_the_storage_service_endpoint() -> None:
    graph = render()
    subnet = graph.one(SUBNET).inputs
    assert subnet["virtualNetworkName"] == graph.one(VNET).outputs["name"]
    assert subnet["subnetName"] == "nodes"
    assert subnet["addressPrefix"] == "10.224.0.0/20"
    # Exactly one service endpoint, the one the weight store's firewall admits the subnet through.
    assert subnet["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]
    # No implicit public egress: nodes leave through the cluster's load balancer only.
    assert subnet["defaultOutboundAccess"] is False
    assert "delegations" not in subnet  # AKS refuses delegated node subnets


def test_nsg_is_associated_with_the_node_subnet_and_adds_no_rule_to_azures_defaults() -> None:
    graph = render()
    nsg = graph.one(NSG)
    assert graph.one(SUBNET).inputs["networkSecurityGroup"] == {"id": nsg.id}
    # Only Azure's default rules: DenyAllInBound refuses the internet. Left unset (not []), rules added
    # later as separate SecurityRule resources are kept.
    assert "securityRules" not in nsg.inputs
    assert nsg.inputs["resourceGroupName"] == graph.one(GROUP).outputs["name"]


def test_ranges_reach_the_vnet_and_the_subnet() -> None:
    graph = render(cidr_block="10.30.0.0/16", node_subnet_cidr="10.30.4.0/22")
    assert graph.one(VNET).inputs["addressSpace"] == {"addressPrefixes": ["10.30.0.0/16"]}
    assert graph.one(SUBNET).inputs["addressPrefix"] == "10.30.4.0/22"


def test_default_subnet_lies_in_the_default_vnet() -> None:
    graph = render()
    vnet = ipaddress.IPv4Network(graph.one(VNET).inputs["addressSpace"]["addressPrefixes"][0])
    subnet = ipaddress.IPv4Network(graph.one(SUBNET).inputs["addressPrefix"])
    assert subnet.subnet_of(vnet)


def test_every_taggable_resource_carries_the_component_and_user_tags() -> None:
    graph = render(tags={"team": "ml", "cost-center": "42"})
    expected = {"team": "ml", "cost-center": "42", "shardstack-component": "net"}
    for kind in (GROUP, VNET, NSG):
        assert graph.one(kind).inputs["tags"] == expected
    assert render().one(VNET).inputs["tags"] == {"shardstack-component": "net"}


# -- outputs ----------------------------------------------------------------------------------------


def test_outputs_name_the_created_group_vnet_subnet_and_nsg() -> None:
    graph = render(resource_group_name="shardstack-prod")
    result = outputs(resource_group_name="shardstack-prod")
    assert result == {
        "resource_group_name": "shardstack-prod",
        "location": "eastus",
        "vnet_id": graph.one(VNET).id,
        "vnet_name": graph.one(VNET).outputs["name"],
        "node_subnet_id": graph.one(SUBNET).id,
        "network_security_group_id": graph.one(NSG).id,
    }
    subnet = SUBNET_ID.match(result["node_subnet_id"])
    assert subnet is not None, result["node_subnet_id"]
    assert (subnet["subscription"], subnet["group"], subnet["vnet"], subnet["subnet"]) == (
        SUBSCRIPTION,
        "shardstack-prod",
        result["vnet_name"],
        "nodes",
    )
    assert result["node_subnet_id"].startswith(result["vnet_id"] + "/subnets/")
    # The cluster, the GPU pools and the weight store take it as it is.
    assert ARM_SUBNET_ID.fullmatch(result["node_subnet_id"])


def test_existing_subnet_creates_nothing_and_passes_its_ids_through() -> None:
    graph = render(existing=EXISTING)
    assert [r.type for r in graph] == [NETWORK]
    assert outputs(existing=EXISTING) == {
        "resource_group_name": "shardstack-prod",
        "location": "eastus",
        "vnet_id": EXISTING_VNET,
        "vnet_name": "spoke",
        "node_subnet_id": EXISTING_SUBNET,
        "network_security_group_id": "",
    }


def test_existing_vnet_id_is_passed_through_as_given() -> None:
    # ARM ids are case-insensitive; the VNet id given is kept as it is.
    vnet_id = EXISTING_VNET.replace("resourceGroups", "resourcegroups")
    result = outputs(existing={**EXISTING, "vnet_id": vnet_id})
    assert (result["vnet_id"], result["vnet_name"]) == (vnet_id, "spoke")


def test_existing_ids_may_be_outputs() -> None:
    def program() -> None:
        network = Network(
            "net",
            {
                "location": "eastus",
                "existing": {
                    "resource_group_name": pulumi.Output.from_input("shardstack-prod"),
                    "node_subnet_id": pulumi.Output.from_input(EXISTING_SUBNET),
                },
            },
        )
        pulumi.export("vnet_id", network.vnet_id)
        pulumi.export("group", network.resource_group_name)

    assert run_program(program).outputs == {"vnet_id": EXISTING_VNET, "group": "shardstack-prod"}


def test_preview_plans_the_same_resources_before_ids_are_known() -> None:
    def program() -> None:
        network = Network("net", {"location": "eastus"})
        pulumi.export("node_subnet_id", network.node_subnet_id)

    graph = run_program(program, preview=True)
    assert graph.count_by_type() == render().count_by_type()
    assert graph.outputs == {"node_subnet_id": UNKNOWN}


# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_network_args({"location": "eastus"}, name="net") == []
    assert validate_network_args({"location": "eastus", "existing": EXISTING}, name="Any Name!") == []
    assert (
        validate_network_args(
            {
                "location": "germanywestcentral",
                "resource_group_name": "shardstack_(prod).eu",
                "cidr_block": "192.168.0.0/16",
                "node_subnet_cidr": "192.168.10.0/27",
                "tags": {"team": "ml"},
            },
            name="a" * MAX_NAME_LENGTH,
        )
        == []
    )
    assert validate_network_args({"location": "eastus", "cidr_block": "100.64.0.0/10"}, name="net") == [
        "node_subnet_cidr='10.224.0.0/20' (the default) is not inside cidr_block='100.64.0.0/10': the node "
        "subnet takes its addresses from the VNet's address space"
    ]


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = failure(
        {
            "location": "East US",
            "resource_group_name": "prod.",
            "cidr_block": "10.0.0.0/16",
            "node_subnet_cidr": "10.1.0.0/24",
            "existing": {**EXISTING, "node_subnet_id": "aks-nodes"},
            "tag": {"team": "ml"},
            "tags": {"shardstack-component": "x"},
        }
    ).problems
    # A rule across values runs once the values it reads pass their own checks; one that only asks whether
    # existing is given (what it may not be combined with) speaks even while existing is refused.
    assert found == [
        "unknown argument 'tag' (did you mean 'tags'?)",
        "location='East US' is not an Azure region name such as 'eastus' or 'westeurope' ('East US' looks like "
        "a display name; its region name is 'eastus')",
        "resource_group_name='prod.' is not a resource group name: use 1 to 90 letters, digits, '_', '-', '.', "
        "'(' and ')', not ending with '.'",
        "existing.node_subnet_id='aks-nodes' is not a subnet resource ID: use '/subscriptions/<subscription "
        "id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
        "tags['shardstack-component'] is set by Shardstack itself; choose another key",
        "cidr_block='10.0.0.0/16' cannot be combined with existing, which uses a subnet as it is (this would be "
        "ignored); drop one of them",
        "node_subnet_cidr='10.1.0.0/24' cannot be combined with existing, which uses a subnet as it is (this would "
        "be ignored); drop one of them",
    ]


def test_existing_cannot_be_combined_with_what_shapes_a_new_network() -> None:
    found = problems(
        resource_group_name="prod",
        cidr_block="10.0.0.0/16",
        node_subnet_cidr="10.1.0.0/24",
        existing=EXISTING,
    )
    assert found == [
        "resource_group_name='prod' cannot be combined with existing, which uses a subnet as it is (this would be "
        "ignored); drop one of them",
        "cidr_block='10.0.0.0/16' cannot be combined with existing, which uses a subnet as it is (this would be "
        "ignored); drop one of them",
        "node_subnet_cidr='10.1.0.0/24' cannot be combined with existing, which uses a subnet as it is (this would "
        "be ignored); drop one of them",
        "node_subnet_cidr='10.1.0.0/24' is not inside cidr_block='10.0.0.0/16': the node subnet takes its "
        "addresses from the VNet's address space",
    ]


def test_subnet_outside_the_default_vnet_names_the_default() -> None:
    (problem,) = problems(node_subnet_cidr="10.0.0.0/24")
    assert problem == (
        "node_subnet_cidr='10.0.0.0/24' is not inside cidr_block='10.224.0.0/12' (the default): the node subnet "
        "takes its addresses from the VNet's address space"
    )


@pytest.mark.parametrize(
    ("key", "cidr", "expected"),
    [
        ("cidr_block", "10.224.0.0", "cidr_block='10.224.0.0' is not an IPv4 CIDR block: use e.g. '10.224.0.0/12'"),
        ("cidr_block", "fd00::/48", "cidr_block='fd00::/48' is not an IPv4 CIDR block"),
        (
            "cidr_block",
            "10.224.0.1/12",
            "cidr_block='10.224.0.1/12' has host bits set; the block it lies in is '10.224.0.0/12'",
        ),
        ("cidr_block", "10.224.0.0/25", "cidr_block='10.224.0.0/25' is a /25; use a /8 to a /24"),
        (
            "node_subnet_cidr",
            "10.224.0.0/28",
            "node_subnet_cidr='10.224.0.0/28' is a /28; use a /16 to a /27: every node takes one address of it",
        ),
        ("node_subnet_cidr", "10.224.0.0/14", "node_subnet_cidr='10.224.0.0/14' is a /14; use a /16 to a /27"),
        ("cidr_block", "20.0.0.0/16", "cidr_block='20.0.0.0/16' is not a private range: use RFC 1918"),
        (
            "cidr_block",
            "172.30.0.0/15",
            "cidr_block='172.30.0.0/15' overlaps 172.30.0.0/16, 172.31.0.0/16, which AKS reserves",
        ),
        ("cidr_block", "169.254.0.0/16", "cidr_block='169.254.0.0/16' is not a private range"),
    ],
)
def test_fails_when_a_range_is_not_a_usable_private_ipv4_block(key: str, cidr: str, expected: str) -> None:
    # The other range stays valid against it (or is not compared): exactly one problem.
    other = {"node_subnet_cidr": "10.224.0.0/20"} if key == "node_subnet_cidr" else {}
    found = problems(**{key: cidr}, **{k: v for k, v in other.items() if k != key})
    assert found[0].startswith(expected), found
    assert len(found) == 1, found


@pytest.mark.parametrize("location", ["East US", "east-us", "", 1, "eastus 2"])
def test_fails_when_the_location_is_not_a_region_name(location: Any) -> None:
    (problem,) = problems(location=location)
    assert problem.startswith(f"location={location!r} is not an Azure region name such as 'eastus'")


def test_fails_when_the_location_is_missing() -> None:
    (problem,) = failure({}).problems
    assert problem == "location is required: an Azure region name such as 'eastus' or 'westeurope'"


def test_fails_when_existing_misses_fields_or_ids_are_malformed() -> None:
    found = problems(existing={"node_subnet": EXISTING_SUBNET, "vnet_id": "spoke"})
    assert found == [
        "existing has unknown argument 'node_subnet' (did you mean 'node_subnet_id'?)",
        "existing.resource_group_name is required: a resource group name: 1 to 90 letters, digits, '_', '-', '.', "
        "'(' and ')', not ending with '.'",
        "existing.vnet_id='spoke' is not a virtual network resource ID: use '/subscriptions/<subscription id>/"
        "resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>'",
        "existing.node_subnet_id is required: a subnet resource ID, '/subscriptions/<subscription id>/"
        "resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
    ]
    (not_a_mapping,) = problems(existing="spoke")
    assert not_a_mapping == "existing='spoke' must be a mapping of resource_group_name, vnet_id, node_subnet_id"


def test_fails_when_the_existing_subnet_is_not_in_the_given_vnet() -> None:
    other = f"{HUB}/virtualNetworks/other"
    (problem,) = problems(existing={**EXISTING, "vnet_id": other})
    assert problem == (
        f"existing.node_subnet_id is in virtual network {EXISTING_VNET!r}, not in vnet_id={other!r}: give the "
        "subnet's own VNet, or leave vnet_id out"
    )


@pytest.mark.parametrize(
    "subnet_id",
    [
        f"{EXISTING_VNET}/subnets",  # no subnet name
        EXISTING_VNET,  # a VNet, not a subnet
        EXISTING_SUBNET.replace("22222222-2222-2222-2222-222222222222", "my-subscription"),  # not a GUID
        EXISTING_SUBNET.replace("Microsoft.Network", "Microsoft.Compute"),
        EXISTING_SUBNET + "/extra",
        EXISTING_SUBNET.removeprefix("/"),
    ],
)
def test_subnet_ids_must_have_the_full_arm_shape(subnet_id: str) -> None:
    (problem,) = problems(existing={**EXISTING, "node_subnet_id": subnet_id, "vnet_id": EXISTING_VNET})
    assert problem.startswith(f"existing.node_subnet_id={subnet_id!r} is not a subnet resource ID")
    # ARM ids are case-insensitive in their fixed segments.
    lower = {**EXISTING, "node_subnet_id": EXISTING_SUBNET.lower()}
    assert validate_network_args({"location": "eastus", "existing": lower}) == []


def test_fails_when_the_component_name_cannot_prefix_azure_names() -> None:
    for name in ("-net", "net/1", "a" * (MAX_NAME_LENGTH + 1)):
        (problem,) = failure({"location": "eastus"}, name=name).problems
        assert problem.startswith(f"name={name!r} cannot prefix Azure resource names"), problem


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Network", module="shardstack.azure.network")
    (resource,) = schema["resources"].values()
    assert resource["requiredInputs"] == ["location"]
    assert sorted(resource["properties"]) == [
        "location",
        "networkSecurityGroupId",
        "nodeSubnetId",
        "resourceGroupName",
        "vnetId",
        "vnetName",
    ]
    assert sorted(resource["inputProperties"]) == [
        "cidrBlock",
        "existing",
        "location",
        "nodeSubnetCidr",
        "resourceGroupName",
        "tags",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (existing,) = [t for token, t in schema["types"].items() if token.endswith("ExistingNetwork")]
    assert sorted(existing["required"]) == ["nodeSubnetId", "resourceGroupName"]
    assert sorted(existing["properties"]) == ["nodeSubnetId", "resourceGroupName", "vnetId"]
