"""Azure Cluster under recording mocks: identities and role scopes, Entra ID, endpoint, Cilium, pool, kubeconfig."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import uuid
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from component_schema import component_schema

from shardstack.azure import network as azure_network
from shardstack.azure.cluster import (
    Cluster,
    _api_server,
    validate_cluster_args,
)
from shardstack.azure.network import Network
from shardstack.azure.roles import role_assignment_name
from shardstack.errors import ArgumentError
from shardstack.testing import SECRET, UNKNOWN, Graph, Resource, run_program, run_refused

CLUSTER_COMPONENT = "shardstack:azure:Cluster"
AKS = "azure-native:containerservice:ManagedCluster"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SLEEP = "time:index/sleep:Sleep"
K8S_PROVIDER = "pulumi:providers:kubernetes"

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # what the mocks answer
DEPLOYER = "33333333-3333-3333-3333-333333333333"  # the mocks' getClientConfig objectId
NETWORK_SUBSCRIPTION = "22222222-2222-2222-2222-222222222222"
SUBNET = (
    f"/subscriptions/{NETWORK_SUBSCRIPTION}/resourceGroups/llm-network/providers/Microsoft.Network/"
    "virtualNetworks/llm-vnet/subnets/nodes"
)
ADMIN_GROUP = "55555555-5555-5555-5555-555555555555"
ADMIN = "44444444-4444-4444-4444-444444444444"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
ROLE_DEFINITION = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-f-]{36})/providers/Microsoft\.Authorization/roleDefinitions/"
    r"(?P<role>[0-9a-f-]{36})$"
)
CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-f-]{36})/resourceGroups/(?P<group>[^/]+)/providers/"
    r"Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)$"
)
OUTPUTS = (
    "cluster_name",
    "cluster_id",
    "resource_group_name",
    "node_resource_group",
    "oidc_issuer_url",
    "kubelet_identity_object_id",
    "kubeconfig",
)


def cluster_args(**args: Any) -> dict[str, Any]:
    return {"resource_group_name": "llm-rg", "location": "eastus", "node_subnet_id": SUBNET, **args}


def render(**args: Any) -> Graph:
    return run_program(lambda: Cluster("llm", cluster_args(**args)))  # type: ignore[arg-type]


def failure(args: dict[str, Any]) -> ArgumentError:
    return run_refused(lambda: Cluster("llm", args), ArgumentError)  # type: ignore[arg-type]


def problems(**args: Any) -> list[str]:
    return failure(cluster_args(**args)).problems


def aks(graph: Graph) -> dict[str, Any]:
    return graph.one(AKS).inputs


def system_pool(graph: Graph) -> dict[str, Any]:
    (pool,) = aks(graph)["agentPoolProfiles"]
    return pool


def depends_on(resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies


def role_of(assignment: Resource) -> tuple[str, str]:
    """Return (subscription, role GUID) of a role assignment's role definition ID, which must be fully formed."""
    match = ROLE_DEFINITION.match(assignment.inputs["roleDefinitionId"])
    assert match, assignment.inputs["roleDefinitionId"]
    return match["subscription"], match["role"]


def kubeconfig_of(**args: Any) -> tuple[Graph, dict[str, Any]]:
    plaintext: list[str] = []

    def program() -> None:
        cluster = Cluster("llm", cluster_args(**args))  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        cluster.kubeconfig.apply(plaintext.append)

    graph = run_program(program)
    (kubeconfig,) = plaintext
    return graph, json.loads(kubeconfig)


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


# -- control plane identity -------------------------------------------------------------------------


def test_control_plane_runs_as_a_user_assigned_identity_created_in_the_clusters_group() -> None:
    graph = render()
    identity = graph.one(IDENTITY)
    assert (identity.inputs["resourceGroupName"], identity.inputs["location"]) == ("llm-rg", "eastus")
    assert aks(graph)["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    # The kubelet identity is AKS's own (created in the node resource group), not given here.
    assert "identityProfile" not in aks(graph)


def test_control_plane_identity_is_network_contributor_on_the_node_subnet_only_before_the_cluster() -> None:
    graph = render()
    (network_role,) = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name == "llm-control-plane-network"]
    inputs = network_role.inputs
    assert inputs["scope"] == SUBNET  # the subnet, not its VNet, group or subscription
    assert inputs["principalId"] == graph.one(IDENTITY).outputs["principalId"]
    assert inputs["principalType"] == "ServicePrincipal"
    # The role definition lives in the subnet's subscription, which may differ from the cluster's.
    assert role_of(network_role) == (NETWORK_SUBSCRIPTION, NETWORK_CONTRIBUTOR)
    assert depends_on(graph.one(AKS), network_role)


# -- Kubernetes access --------------------------------------------------------------------------------


def test_entra_id_with_azure_rbac_and_no_local_accounts() -> None:
    inputs = aks(render(admin_group_object_ids=[ADMIN_GROUP]))
    assert inputs["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "adminGroupObjectIDs": [ADMIN_GROUP]}
    assert inputs["disableLocalAccounts"] is True
    assert inputs["enableRBAC"] is True
    assert aks(render())["aadProfile"]["adminGroupObjectIDs"] == []


def test_deployer_gets_cluster_admin_on_this_cluster_only() -> None:
    graph = render()
    cluster = graph.one(AKS)
    (deployer,) = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name == "llm-admin-deployer"]
    scope = CLUSTER_ID.match(deployer.inputs["scope"])
    assert scope, deployer.inputs["scope"]
    assert (scope["subscription"], scope["group"], scope["name"]) == (SUBSCRIPTION, "llm-rg", "llm")
    assert deployer.inputs["scope"] == cluster.id
    assert role_of(deployer) == (SUBSCRIPTION, CLUSTER_ADMIN)
    assert deployer.inputs["principalId"] == DEPLOYER
    assert deployer.inputs["principalType"] == "User"
    ci = [
        a
        for a in render(deployer_principal_type="ServicePrincipal").of_type(ROLE_ASSIGNMENT)
        if a.name == "llm-admin-deployer"
    ]
    assert ci[0].inputs["principalType"] == "ServicePrincipal"


def test_grant_deployer_admin_false_leaves_kubernetes_access_to_others() -> None:
    graph = render(grant_deployer_admin=False)
    assert [a.name for a in graph.of_type(ROLE_ASSIGNMENT)] == ["llm-control-plane-network"]


def test_admin_principals_get_cluster_admin_at_cluster_scope_under_their_own_names() -> None:
    other = "66666666-6666-6666-6666-666666666666"
    graph = render(admin_principal_ids=[ADMIN, other], admin_principal_type="Group", grant_deployer_admin=False)
    cluster = graph.one(AKS)
    admins = {a.name: a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name.startswith("llm-admin-")}
    assert set(admins) == {f"llm-admin-{ADMIN}", f"llm-admin-{other}"}
    for principal in (ADMIN, other):
        inputs = admins[f"llm-admin-{principal}"].inputs
        assert (inputs["principalId"], inputs["principalType"]) == (principal, "Group")
        assert inputs["scope"] == cluster.id
        assert role_of(admins[f"llm-admin-{principal}"]) == (SUBSCRIPTION, CLUSTER_ADMIN)


def test_role_assignment_names_are_guids_fixed_by_scope_principal_and_role() -> None:
    graph = render(admin_principal_ids=[ADMIN])
    for assignment in graph.of_type(ROLE_ASSIGNMENT):
        inputs = assignment.inputs
        name = inputs["roleAssignmentName"]
        assert str(uuid.UUID(name)) == name
        assert name == role_assignment_name(inputs["scope"], inputs["principalId"], inputs["roleDefinitionId"])
    again = {
        a.name: a.inputs["roleAssignmentName"] for a in render(admin_principal_ids=[ADMIN]).of_type(ROLE_ASSIGNMENT)
    }
    assert again == {a.name: a.inputs["roleAssignmentName"] for a in graph.of_type(ROLE_ASSIGNMENT)}
    assert len(set(again.values())) == 3
    # ARM ids are case-insensitive: so is the name.
    assert role_assignment_name(SUBNET.upper(), ADMIN, "X") == role_assignment_name(SUBNET, ADMIN.upper(), "x")


def test_oidc_issuer_and_workload_identity_are_enabled() -> None:
    inputs = aks(render())
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}


# -- API server endpoint ----------------------------------------------------------------------------


def test_api_server_is_private_by_default() -> None:
    assert aks(render())["apiServerAccessProfile"] == {
        "enablePrivateCluster": True,
        "privateDNSZone": "system",
        "enablePrivateClusterPublicFQDN": True,
    }


def test_public_api_server_is_open_to_the_authorized_networks_only() -> None:
    networks = ["203.0.113.0/24", "198.51.100.7/32"]
    assert aks(render(private_endpoint=False, authorized_networks=networks))["apiServerAccessProfile"] == {
        "enablePrivateCluster": False,
        "authorizedIPRanges": networks,
    }


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


# -- Kubernetes provider and outputs ----------------------------------------------------------------


def test_kubeconfig_is_a_secret_whose_user_gets_a_token_from_kubelogin_azurecli() -> None:
    graph, config = kubeconfig_of()
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    (cluster,) = config["clusters"]
    # The FQDN (public DNS that resolves to the private endpoint), port 443.
    assert cluster["cluster"]["server"] == f"https://{graph.one(AKS).outputs['fqdn']}:443"
    ca = cluster["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca) == b"mock-ca-llm"  # from listManagedClusterUserCredentials
    (user,) = config["users"]
    assert user["name"] == "clusterUser_llm-rg_llm"
    assert user["user"] == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubelogin",
            "args": ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID],
            "installHint": user["user"]["exec"]["installHint"],
            "provideClusterInfo": False,
            "interactiveMode": "Never",
        }
    }
    assert "kubelogin" in user["user"]["exec"]["installHint"]
    assert config["contexts"] == [{"name": "llm", "context": {"cluster": "llm", "user": "clusterUser_llm-rg_llm"}}]
    assert config["current-context"] == "llm"


def test_api_server_url_prefers_the_fqdn_and_falls_back_to_the_private_one() -> None:
    assert _api_server("llm-1.hcp.eastus.azmk8s.io", "llm-1.x.privatelink.eastus.azmk8s.io") == (
        "https://llm-1.hcp.eastus.azmk8s.io:443"
    )
    assert _api_server(None, "llm-1.x.privatelink.eastus.azmk8s.io") == (
        "https://llm-1.x.privatelink.eastus.azmk8s.io:443"
    )
    with pytest.raises(ValueError, match="neither an FQDN nor a private FQDN"):
        _api_server(None, None)


def test_provider_is_a_kubernetes_provider_ready_after_the_cluster_and_its_admin_grants() -> None:
    providers: list[Any] = []
    graph = run_program(
        lambda: providers.append(Cluster("llm", cluster_args(admin_principal_ids=[ADMIN])).provider)  # type: ignore[arg-type]
    )
    assert isinstance(providers[0], k8s.Provider)
    provider = graph.one(K8S_PROVIDER)
    assert depends_on(provider, graph.one(AKS))
    admins = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name.startswith("llm-admin-")]
    assert len(admins) == 2
    assert all(depends_on(provider, a) for a in admins)
    # ... and only after they have had Microsoft's documented propagation time, taken again when one changes.
    sleep = graph.one(SLEEP)
    assert depends_on(provider, sleep) and all(depends_on(sleep, a) for a in admins)
    assert sleep.inputs["createDuration"] == "5m"
    assert sorted(sleep.inputs["triggers"]["assignments"].split(",")) == sorted(a.id for a in admins if a.id)


def test_without_admin_grants_there_is_nothing_to_wait_for() -> None:
    graph = run_program(lambda: Cluster("llm", cluster_args(grant_deployer_admin=False)))  # type: ignore[arg-type]
    assert graph.of_type(SLEEP) == []


def test_outputs() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program)
    aks_outputs = graph.one(AKS).outputs
    assert graph.outputs == {
        "cluster_name": "llm",
        "cluster_id": graph.one(AKS).id,
        "resource_group_name": "llm-rg",
        "node_resource_group": "MC_llm-rg_llm_eastus",
        "oidc_issuer_url": aks_outputs["oidcIssuerProfile"]["issuerURL"],
        "kubelet_identity_object_id": aks_outputs["identityProfile"]["kubeletidentity"]["objectId"],
        "kubeconfig": SECRET,
    }
    assert graph.outputs["oidc_issuer_url"].startswith("https://eastus.oic.prod-aks.azure.com/")
    assert uuid.UUID(graph.outputs["kubelet_identity_object_id"])


def test_plans_in_preview_with_what_azure_computes_still_unknown() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in ("kubeconfig", "kubelet_identity_object_id", "cluster_id", "node_resource_group"):
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program, preview=True)
    assert set(graph.outputs.values()) == {UNKNOWN}
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    assert graph.count_by_type() == render().count_by_type()


def test_wires_to_the_network_components_outputs() -> None:
    def program() -> None:
        network = Network("net", {"location": "eastus", "resource_group_name": "shardstack-prod"})
        Cluster(
            "llm",
            {
                "resource_group_name": network.resource_group_name,
                "location": "eastus",
                "node_subnet_id": network.node_subnet_id,
            },
        )

    graph = run_program(program)
    subnet_id = graph.one("azure-native:network:Subnet").id
    assert system_pool(graph)["vnetSubnetID"] == subnet_id
    assert aks(graph)["resourceGroupName"] == "shardstack-prod"
    (network_role,) = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name == "llm-control-plane-network"]
    assert network_role.inputs["scope"] == subnet_id
    assert role_of(network_role) == (SUBSCRIPTION, NETWORK_CONTRIBUTOR)


# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = cluster_args(
        private_endpoint=False,
        authorized_networks=["203.0.113.0/24"],
        auto_upgrade_channel="stable",
        pod_cidr="100.64.0.0/16",
        service_cidr="192.168.0.0/20",
        dns_service_ip="192.168.0.10",
        system_pool={"instance_type": "Standard_E8as_v5", "min_nodes": 3, "max_nodes": 6, "disk_size_gib": 30},
        zones=["1", "3"],
        admin_group_object_ids=[ADMIN_GROUP],
        admin_principal_ids=[ADMIN],
        admin_principal_type="ServicePrincipal",
        deployer_principal_type="ServicePrincipal",
        sku_tier="Premium",
        protect=False,
        tags={"team": "ml"},
    )
    assert validate_cluster_args(args, name="llm") == []


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = problems(
        private_endpoint=False,
        kubernetes_version="1.29",
        auto_upgrade_channel="Patch",
        pod_cidr="10.0.0.0/14",
        system_pool={"instance_type": "Standard_NC24ads_A100_v4", "min_nodes": 3, "max_nodes": 2},
        zones=[1],
        sku_tier="standard",
        grant_deployer_admin="yes",
        tags={"shardstack-component": "x"},
        locaton="eastus",
    )
    assert found == [
        "unknown argument 'locaton' (did you mean 'location'?)",
        "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'",
        "auto_upgrade_channel='Patch' must be one of 'patch', 'stable', 'rapid', 'none' (did you mean 'patch'?)",
        "system_pool.instance_type='Standard_NC24ads_A100_v4' has GPUs; the system pool runs cluster services "
        "on CPU nodes: use a size like 'Standard_D4s_v5' and a GPU node pool for GPUs",
        "system_pool.max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes",
        "zones[0]=1 is not an Azure availability zone; use one of '1', '2', '3' (write it as a string: '1')",
        "grant_deployer_admin='yes' must be true or false",
        "sku_tier='standard' must be one of 'Free', 'Standard', 'Premium' (did you mean 'Standard'?)",
        "tags['shardstack-component'] is set by Shardstack itself; choose another key",
        "authorized_networks is empty, but private_endpoint is False: list the CIDR blocks that may reach the "
        "Kubernetes API, e.g. ['203.0.113.0/24'], or keep private_endpoint True",
        "pod_cidr='10.0.0.0/14' overlaps service_cidr='10.0.0.0/16' (the default): pod and Service addresses "
        "must be disjoint; move one of them",
    ]


def test_required_arguments_are_named() -> None:
    assert failure({}).problems == [
        "resource_group_name is required: a resource group name: 1 to 90 letters, digits, '_', '-', '.', '(' and "
        "')', not ending with '.'",
        "location is required: an Azure region name such as 'eastus' or 'westeurope'",
        "node_subnet_id is required: a subnet resource ID, '/subscriptions/<subscription id>/resourceGroups/<group>/"
        "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
    ]


def test_location_group_and_subnet_must_have_azure_shapes() -> None:
    found = problems(location="East US", resource_group_name="rg/1", node_subnet_id="nodes")
    assert found == [
        "resource_group_name='rg/1' is not a resource group name: use 1 to 90 letters, digits, '_', '-', '.', "
        "'(' and ')', not ending with '.'",
        "location='East US' is not an Azure region name such as 'eastus' or 'westeurope' ('East US' looks like a "
        "display name; its region name is 'eastus')",
        "node_subnet_id='nodes' is not a subnet resource ID: use '/subscriptions/<subscription id>/resourceGroups/"
        "<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
    ]


def test_authorized_networks_only_apply_to_a_public_api_server() -> None:
    (problem,) = problems(authorized_networks=["10.8.0.0/24"])
    assert problem.startswith(
        "authorized_networks=['10.8.0.0/24'] cannot be combined with a private API server: AKS applies authorized "
        "IP ranges to a public API server only"
    )


def test_the_whole_internet_and_too_many_networks_are_refused() -> None:
    (internet,) = problems(private_endpoint=False, authorized_networks=["0.0.0.0/0"])
    assert internet.startswith("authorized_networks[0]='0.0.0.0/0' would open the Kubernetes API to the whole internet")
    many = [f"203.0.{i // 256}.{i % 256}/32" for i in range(201)]
    (too_many,) = problems(private_endpoint=False, authorized_networks=many)
    assert too_many == "authorized_networks lists 201 blocks; AKS accepts at most 200"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"pod_cidr": "10.244.0.0"}, "pod_cidr='10.244.0.0' is not an IPv4 CIDR block: use e.g. '10.244.0.0/14'"),
        (
            {"pod_cidr": "10.244.0.1/16"},
            "pod_cidr='10.244.0.1/16' has host bits set; the block it lies in is '10.244.0.0/16'",
        ),
        (
            {"pod_cidr": "10.244.0.0/23"},
            "pod_cidr='10.244.0.0/23' is a /23; use a /8 to a /22: every node takes a /24 of it",
        ),
        ({"service_cidr": "10.0.0.0/12"}, "service_cidr='10.0.0.0/12' is a /12; use a /13 to a /24"),
        ({"pod_cidr": "52.0.0.0/16"}, "pod_cidr='52.0.0.0/16' is not a private range"),
        (
            {"pod_cidr": "172.16.0.0/12"},
            "pod_cidr='172.16.0.0/12' overlaps 172.30.0.0/16, 172.31.0.0/16, which AKS reserves",
        ),
        (
            {"dns_service_ip": "10.1.0.10"},
            "dns_service_ip='10.1.0.10' is not inside service_cidr='10.0.0.0/16' (the default)",
        ),
        (
            {"dns_service_ip": "10.0.0.1"},
            "dns_service_ip='10.0.0.1' is the network, first or broadcast address of "
            "service_cidr='10.0.0.0/16' (the default); the first one is the kubernetes Service's: use e.g. '10.0.0.10'",
        ),
        ({"dns_service_ip": "10.0.0.0/32"}, "dns_service_ip='10.0.0.0/32' is not an IPv4 address like '10.0.0.10'"),
        (
            {"service_cidr": "172.19.0.0/20", "dns_service_ip": "10.0.0.10"},
            "dns_service_ip='10.0.0.10' is not inside service_cidr='172.19.0.0/20'",
        ),
    ],
)
def test_pod_and_service_ranges_and_the_dns_ip_are_checked(args: dict[str, Any], expected: str) -> None:
    (problem,) = problems(**args)
    assert problem.startswith(expected), problem


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("Standard_ND96asr_v4", "has GPUs"),
        ("Standard_D4ps_v5", "is an Arm size; cluster services need x86_64 nodes"),
        ("Standard_B4ms", "is burstable (B-series), which AKS refuses for system pools"),
        ("Standard_D2s_v5", "has 2 vCPUs; AKS wants at least 4 on a system pool"),
        ("Standard_M64-2ms", "has 2 vCPUs"),
        ("D4s_v5", "is not an Azure VM size like 'Standard_D4s_v5'"),
    ],
)
def test_system_pool_vm_size_must_suit_cluster_services(instance_type: str, expected: str) -> None:
    (problem,) = problems(system_pool={"instance_type": instance_type})
    assert problem.startswith(f"system_pool.instance_type={instance_type!r} {expected}"), problem


def test_system_pool_fields_and_disk_are_checked() -> None:
    (unknown,) = problems(system_pool={"disk_size": 80})
    assert unknown == "system_pool has unknown argument 'disk_size' (did you mean 'disk_size_gib'?)"
    (small,) = problems(system_pool={"disk_size_gib": 25})
    assert small == (
        "system_pool.disk_size_gib=25 must be a whole number from 30 to 2048 (what AKS accepts for an OS disk)"
    )
    (tiny,) = problems(system_pool={"disk_size_gib": 10})
    assert tiny == (
        "system_pool.disk_size_gib=10 must be a whole number from 30 to 2048 (what AKS accepts for an OS disk)"
    )
    (huge,) = problems(system_pool={"disk_size_gib": 4096})
    assert huge.startswith("system_pool.disk_size_gib=4096 must be a whole number from 30 to 2048")
    (nodes,) = problems(system_pool={"min_nodes": 0})
    assert nodes == (
        "system_pool.min_nodes=0 must be a whole number ≥ 1 (CoreDNS and the controllers need somewhere to run)"
    )


def test_zones_must_be_distinct_zone_names() -> None:
    assert problems(zones=["1", "1", "4"]) == [
        "zones[1]='1' is listed twice; give each zone once",
        "zones[2]='4' is not an Azure availability zone; use one of '1', '2', '3'",
    ]
    (empty,) = problems(zones=[])
    assert empty == "zones=[] must list at least one zone (leave it out to place the nodes without zone pinning)"


def test_principals_must_be_distinct_entra_object_ids_of_a_known_type() -> None:
    found = problems(
        admin_group_object_ids=["admins"],
        admin_principal_ids=[ADMIN, ADMIN.upper()],
        admin_principal_type="user",
        deployer_principal_type="Group",
    )
    assert found == [
        "admin_group_object_ids[0]='admins' is not a Microsoft Entra object ID: use the principal's object ID, a "
        "GUID such as '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b' (not a name, email or client ID URI)",
        f"admin_principal_ids[1]={ADMIN.upper()!r} is listed twice",
        "admin_principal_type='user' must be one of 'User', 'Group', 'ServicePrincipal' (did you mean 'User'?)",
        "deployer_principal_type='Group' must be one of 'User', 'ServicePrincipal'",
    ]
    (not_a_list,) = problems(admin_principal_ids=ADMIN)
    assert not_a_list == f"admin_principal_ids={ADMIN!r} must be a list of Microsoft Entra object IDs"


def test_name_must_be_a_valid_aks_name_and_dns_prefix() -> None:
    (problem,) = validate_cluster_args(cluster_args(), name="llm_prod")
    assert problem.startswith("name='llm_prod' cannot name an AKS cluster (it is also its DNS prefix)")
    (too_long,) = validate_cluster_args(cluster_args(), name="a" * 55)
    assert too_long.startswith(f"name={'a' * 55!r} cannot name an AKS cluster")


def test_inputs_from_other_components_may_be_outputs() -> None:
    def program() -> None:
        Cluster(
            "llm",
            {
                "resource_group_name": pulumi.Output.from_input("llm-rg"),
                "location": "eastus",
                "node_subnet_id": pulumi.Output.from_input(SUBNET),
                "admin_principal_ids": [pulumi.Output.from_input(ADMIN)],
            },
        )

    graph = run_program(program)
    assert system_pool(graph)["vnetSubnetID"] == SUBNET
    # A principal known only as an Output is named by its position.
    assert any(a.name == "llm-admin-0" for a in graph.of_type(ROLE_ASSIGNMENT))


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Cluster", module="shardstack.azure.cluster")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["location", "nodeSubnetId", "resourceGroupName"]
    assert sorted(resource["properties"]) == [
        "clusterId",
        "clusterName",
        "kubeconfig",
        "kubeletIdentityObjectId",
        "nodeResourceGroup",
        "oidcIssuerUrl",
        "resourceGroupName",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (system_pool_type,) = [t for name, t in schema["types"].items() if name.endswith(":SystemPool")]
    assert sorted(system_pool_type["properties"]) == ["diskSizeGib", "instanceType", "maxNodes", "minNodes"]
