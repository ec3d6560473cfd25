"""Azure Cluster under recording mocks: the AKS cluster's shape, its network profile and upgrades,
and its system pool."""

from __future__ import annotations

import ipaddress

from azure_cluster_helpers import (
    ADMIN,
    AKS,
    CLUSTER_COMPONENT,
    IDENTITY,
    K8S_PROVIDER,
    ROLE_ASSIGNMENT,
    SLEEP,
    SUBNET,
    aks,
    render,
    system_pool,
)

from shardstack.azure import network as azure_network

# -- shape ------------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render(admin_principal_ids=[ADMIN])
    component = graph.one(CLUSTER_COMPONENT)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("llm-") for r in children)


def test_default_creates_a_cluster_its_control_plane_identity_two_role_assignments_and_a_provider() -> None:
    assert render().count_by_type() == {
        AKS: 1,
        ROLE_ASSIGNMENT: 2,  # Network Contributor on the subnet, Cluster Admin for the deployer
        IDENTITY: 1,
        K8S_PROVIDER: 1,
        SLEEP: 1,  # the wait for the admin grant to reach the API server
    }


def test_cluster_is_named_after_the_component_at_the_requested_version_and_tier() -> None:
    inputs = aks(render(kubernetes_version="1.31", sku_tier="Free", location="westeurope"))
    assert (inputs["resourceName"], inputs["dnsPrefix"]) == ("llm", "llm")
    assert (inputs["resourceGroupName"], inputs["location"]) == ("llm-rg", "westeurope")
    assert inputs["kubernetesVersion"] == "1.31"
    assert inputs["sku"] == {"name": "Base", "tier": "Free"}
    defaults = aks(render())
    assert defaults["kubernetesVersion"] == "1.33"
    assert defaults["sku"] == {"name": "Base", "tier": "Standard"}


def test_cluster_is_protected_unless_turned_off_and_nothing_else_is() -> None:
    graph = render()
    assert graph.one(AKS).protect is True
    assert not any(r.protect for r in graph if r.type != AKS)
    assert render(protect=False).one(AKS).protect is False


def test_tags_reach_the_cluster_its_nodes_and_its_identity() -> None:
    graph = render(tags={"team": "ml"})
    expected = {"team": "ml", "shardstack-component": "llm"}
    assert aks(graph)["tags"] == expected
    assert system_pool(graph)["tags"] == expected
    assert graph.one(IDENTITY).inputs["tags"] == expected


# -- networking and upgrades ------------------------------------------------------------------------


def test_azure_cni_overlay_with_cilium_enforces_network_policy_with_load_balancer_egress() -> None:
    assert aks(render())["networkProfile"] == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
        "podCidr": "10.244.0.0/14",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
        "outboundType": "loadBalancer",
        "loadBalancerSku": "standard",
    }


def test_custom_ranges_reach_the_network_profile_and_dns_defaults_to_the_tenth_service_address() -> None:
    profile = aks(render(pod_cidr="172.20.0.0/16", service_cidr="172.19.0.0/20"))["networkProfile"]
    assert (profile["podCidr"], profile["serviceCidr"], profile["dnsServiceIP"]) == (
        "172.20.0.0/16",
        "172.19.0.0/20",
        "172.19.0.10",
    )
    assert aks(render(dns_service_ip="10.0.0.53"))["networkProfile"]["dnsServiceIP"] == "10.0.0.53"


def test_default_pod_and_service_ranges_stay_clear_of_the_default_network() -> None:
    profile = aks(render())["networkProfile"]
    vnet = ipaddress.IPv4Network(azure_network.DEFAULT_CIDR_BLOCK)
    for key in ("podCidr", "serviceCidr"):
        assert not ipaddress.IPv4Network(profile[key]).overlaps(vnet), key


def test_kubernetes_is_patched_and_node_images_upgraded_automatically() -> None:
    assert aks(render())["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert aks(render(auto_upgrade_channel="stable"))["autoUpgradeProfile"]["upgradeChannel"] == "stable"


# -- system pool ------------------------------------------------------------------------------------


def test_system_pool_has_no_gpus_autoscales_in_the_node_subnet_and_is_labelled_system() -> None:
    pool = system_pool(render())
    assert pool == {
        "name": "system",
        "mode": "System",
        "type": "VirtualMachineScaleSets",
        "osType": "Linux",
        "osSKU": "AzureLinux",
        "vmSize": "Standard_D4s_v5",
        "osDiskSizeGB": 50,
        "vnetSubnetID": SUBNET,
        "enableAutoScaling": True,
        "count": 1,
        "minCount": 1,
        "maxCount": 3,
        "enableNodePublicIP": False,
        "nodeLabels": {"shardstack.dev/pool": "system"},
        "upgradeSettings": {"maxSurge": "1"},
        "tags": {"shardstack-component": "llm"},
    }
    # No taint (this is the only CPU pool), no zones unless asked, no GPU settings.
    assert not {"nodeTaints", "availabilityZones", "gpuProfile", "gpuInstanceProfile"} & set(pool)


def test_system_pool_settings_and_zones_reach_the_pool() -> None:
    pool = system_pool(
        render(
            system_pool={"instance_type": "Standard_D8ds_v5", "min_nodes": 2, "max_nodes": 5, "disk_size_gib": 128},
            zones=["1", "2", "3"],
        )
    )
    assert pool["vmSize"] == "Standard_D8ds_v5"
    assert (pool["count"], pool["minCount"], pool["maxCount"]) == (2, 2, 5)
    assert pool["osDiskSizeGB"] == 128
    assert pool["availabilityZones"] == ["1", "2", "3"]
