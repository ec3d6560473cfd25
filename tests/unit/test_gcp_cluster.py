"""GCP Cluster under recording mocks: endpoint access, Workload Identity, Dataplane V2, node identity, system pool."""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.gcp.cluster import Cluster, known_project, node_service_account_id, validate_cluster_args
from shardstack.testing import SECRET, UNKNOWN, Graph, Resource, run_program, run_refused

CLUSTER_COMPONENT = "shardstack:gcp:Cluster"
GKE = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
K8S_PROVIDER = "pulumi:providers:kubernetes"

PROJECT = "shardstack-test"  # what the mocks answer for gcp:organizations/getClientConfig
NETWORK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/llm-vpc"
SUBNETWORK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/us-central1/subnetworks/llm-nodes"
NODE_ROLES = {
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
}
CLOUD_PLATFORM = ["https://www.googleapis.com/auth/cloud-platform"]
OUTPUTS = (
    "cluster_name",
    "location",
    "endpoint",
    "certificate_authority",
    "kubeconfig",
    "node_service_account_email",
    "workload_pool",
)


def cluster_args(**args: Any) -> dict[str, Any]:
    return {
        "region": "us-central1",
        "network": NETWORK,
        "subnetwork": SUBNETWORK,
        "pods_range_name": "pods",
        "services_range_name": "services",
        **args,
    }


def render(**args: Any) -> Graph:
    return run_program(lambda: Cluster("llm", cluster_args(**args)))  # type: ignore[arg-type]


def failure(args: dict[str, Any]) -> ArgumentError:
    return run_refused(lambda: Cluster("llm", args), ArgumentError)  # type: ignore[arg-type]


def problems(**args: Any) -> list[str]:
    return failure(cluster_args(**args)).problems


def gke(graph: Graph) -> dict[str, Any]:
    return graph.one(GKE).inputs


def system_pool(graph: Graph) -> dict[str, Any]:
    return graph.one(NODE_POOL).inputs


def depends_on(resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies


# -- shape ------------------------------------------------------------------------------------------


def test_a_provider_without_a_project_is_refused_naming_how_to_set_one() -> None:
    assert known_project("acme-ml") == "acme-ml"
    for missing in ("", None):
        with pytest.raises(ArgumentError) as error:
            known_project(missing)
        (problem,) = error.value.problems
        assert "pulumi config set gcp:project" in problem and "GOOGLE_CLOUD_PROJECT" in problem


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one(CLUSTER_COMPONENT)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("llm-") for r in children)


def test_default_creates_a_cluster_one_pool_one_node_account_and_its_five_roles() -> None:
    assert render().count_by_type() == {
        ACCOUNT: 1,
        GKE: 1,
        NODE_POOL: 1,
        PROJECT_MEMBER: 5,
        K8S_PROVIDER: 1,
    }


def test_regional_vpc_native_cluster_named_after_the_component_at_the_requested_version() -> None:
    inputs = gke(render(kubernetes_version="1.31", release_channel="STABLE"))
    assert inputs["name"] == "llm"
    assert inputs["location"] == "us-central1"
    assert (inputs["network"], inputs["subnetwork"]) == (NETWORK, SUBNETWORK)
    assert inputs["networkingMode"] == "VPC_NATIVE"
    assert inputs["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert inputs["minMasterVersion"] == "1.31"
    assert inputs["releaseChannel"] == {"channel": "STABLE"}
    defaults = gke(render())
    assert defaults["minMasterVersion"] == "1.33"
    assert defaults["releaseChannel"] == {"channel": "REGULAR"}


def test_the_default_node_pool_is_removed_and_never_runs_as_the_compute_default_account() -> None:
    graph = render()
    inputs = gke(graph)
    assert inputs["removeDefaultNodePool"] is True
    assert inputs["initialNodeCount"] == 1
    # While it lives, the default pool runs as the least-privilege node account.
    assert inputs["nodeConfig"]["serviceAccount"] == graph.one(ACCOUNT).outputs["email"]
    assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_every_labelled_resource_carries_the_component_and_user_labels() -> None:
    graph = render(labels={"team": "ml", "cost-center": "r_and_d"})
    expected = {"team": "ml", "cost-center": "r_and_d", "shardstack-component": "llm"}
    assert gke(graph)["resourceLabels"] == expected
    assert gke(graph)["nodeConfig"]["resourceLabels"] == expected
    assert system_pool(graph)["nodeConfig"]["resourceLabels"] == expected
    assert gke(render())["resourceLabels"] == {"shardstack-component": "llm"}


def test_deletion_protection_is_on_unless_turned_off() -> None:
    assert gke(render())["deletionProtection"] is True
    assert gke(render(deletion_protection=False))["deletionProtection"] is False


# -- endpoint ---------------------------------------------------------------------------------------


def test_nodes_and_kubernetes_api_are_private_by_default() -> None:
    inputs = gke(render())
    assert inputs["privateClusterConfig"] == {
        "enablePrivateNodes": True,
        "enablePrivateEndpoint": True,
        "masterIpv4CidrBlock": "172.16.0.0/28",
    }
    # Authorized networks stay enforced; with none listed only the nodes' subnetwork reaches the API.
    assert inputs["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [], "gcpPublicCidrsAccessEnabled": False}


def test_a_private_endpoint_admits_the_listed_internal_networks() -> None:
    inputs = gke(render(authorized_networks=["10.8.0.0/24"], master_ipv4_cidr="172.16.32.0/28"))
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert inputs["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.32.0/28"
    assert [b["cidrBlock"] for b in inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["10.8.0.0/24"]


def test_public_endpoint_is_open_to_the_authorized_networks_only() -> None:
    networks = ["203.0.113.0/24", "198.51.100.7/32"]
    inputs = gke(render(private_endpoint=False, authorized_networks=networks))
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert inputs["privateClusterConfig"]["enablePrivateNodes"] is True  # nodes stay private
    authorized = inputs["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in authorized["cidrBlocks"]] == networks
    assert all(b["displayName"] for b in authorized["cidrBlocks"])
    # Not even Google Cloud's own public IPs (other customers' VMs) get in.
    assert authorized["gcpPublicCidrsAccessEnabled"] is False


# -- cluster security features ----------------------------------------------------------------------


def test_workload_identity_pool_is_the_projects_and_exported_from_the_cluster() -> None:
    def program() -> None:
        pulumi.export("workload_pool", Cluster("llm", cluster_args()).workload_pool)  # type: ignore[arg-type]

    graph = run_program(program)
    assert gke(graph)["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert graph.outputs["workload_pool"] == f"{PROJECT}.svc.id.goog"


def test_dataplane_v2_enforces_network_policy() -> None:
    inputs = gke(render())
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    # Dataplane V2 enforces NetworkPolicy itself; the Calico add-on must not be asked for as well.
    assert "networkPolicy" not in inputs


def test_shielded_nodes_cluster_wide_and_secure_boot_on_every_node() -> None:
    graph = render()
    assert gke(graph)["enableShieldedNodes"] is True
    shielded = {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert system_pool(graph)["nodeConfig"]["shieldedInstanceConfig"] == shielded
    assert gke(graph)["nodeConfig"]["shieldedInstanceConfig"] == shielded


def test_system_and_workload_logs_and_system_metrics_are_collected() -> None:
    inputs = gke(render())
    assert inputs["loggingConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}
    assert inputs["monitoringConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS"]}


# -- node identity ----------------------------------------------------------------------------------


def test_node_service_account_has_exactly_the_least_privilege_node_roles_on_the_project() -> None:
    graph = render()
    account = graph.one(ACCOUNT)
    assert account.inputs["accountId"] == "llm-nodes"
    members = graph.of_type(PROJECT_MEMBER)
    assert {m.inputs["role"] for m in members} == NODE_ROLES
    assert len(members) == len(NODE_ROLES)
    for member in members:
        assert member.inputs["member"] == account.outputs["member"]
        assert member.inputs["member"] == f"serviceAccount:llm-nodes@{PROJECT}.iam.gserviceaccount.com"
        assert member.inputs["project"] == PROJECT
        assert "condition" not in member.inputs


def test_system_pool_runs_as_the_node_account_after_its_roles_are_granted() -> None:
    graph = render()
    config = system_pool(graph)["nodeConfig"]
    assert config["serviceAccount"] == graph.one(ACCOUNT).outputs["email"]
    assert config["oauthScopes"] == CLOUD_PLATFORM  # IAM alone decides what the nodes may do
    pool = graph.one(NODE_POOL)
    assert all(depends_on(pool, member) for member in graph.of_type(PROJECT_MEMBER))


def test_pods_see_the_gke_metadata_server_not_the_node_credentials() -> None:
    config = system_pool(render())["nodeConfig"]
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["metadata"] == {"disable-legacy-endpoints": "true"}


def test_long_cluster_names_get_a_distinct_service_account_id_of_at_most_30_characters() -> None:
    long_names = ["a-rather-long-cluster-name-for-prod", "a-rather-long-cluster-name-for-test"]
    ids = [node_service_account_id(n) for n in long_names]
    assert all(6 <= len(i) <= 30 and i[0].isalpha() and i.endswith("-nodes") for i in ids), ids
    assert ids[0] != ids[1]
    graph = run_program(lambda: Cluster(long_names[0], cluster_args()))  # type: ignore[arg-type]
    assert graph.one(ACCOUNT).inputs["accountId"] == ids[0]


# -- system pool ------------------------------------------------------------------------------------


def test_system_pool_has_no_gpus_autoscales_per_zone_and_is_labelled_system() -> None:
    graph = render()
    pool = system_pool(graph)
    assert pool["name"] == "system"
    assert (pool["cluster"], pool["location"], pool["project"]) == ("llm", "us-central1", PROJECT)
    assert pool["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3}
    assert pool["initialNodeCount"] == 1
    config = pool["nodeConfig"]
    assert config["machineType"] == "e2-standard-4"
    assert "guestAccelerators" not in config
    assert config["labels"] == {"shardstack.dev/pool": "system"}
    assert "taints" not in config
    assert (config["diskSizeGb"], config["diskType"]) == (50, "pd-balanced")
    assert config["imageType"] == "COS_CONTAINERD"
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_system_pool_settings_reach_the_node_pool() -> None:
    pool = system_pool(
        render(system_pool={"instance_type": "n2-standard-8", "min_nodes": 2, "max_nodes": 5, "disk_size_gib": 80})
    )
    assert pool["nodeConfig"]["machineType"] == "n2-standard-8"
    assert pool["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 5}
    assert pool["initialNodeCount"] == 2
    assert pool["nodeConfig"]["diskSizeGb"] == 80


# -- Kubernetes provider and outputs ----------------------------------------------------------------


def test_kubeconfig_is_a_secret_that_gets_a_token_from_the_gke_auth_plugin() -> None:
    plaintext: list[str] = []

    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        cluster.kubeconfig.apply(plaintext.append)

    graph = run_program(program)
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    (kubeconfig,) = plaintext
    config = json.loads(kubeconfig)
    cluster_outputs = graph.one(GKE).outputs
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == f"https://{cluster_outputs['endpoint']}"
    ca = cluster["cluster"]["certificate-authority-data"]
    assert ca == cluster_outputs["masterAuth"]["clusterCaCertificate"]
    assert base64.b64decode(ca)  # kubectl wants the base64 text itself
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert "token" not in user["user"]  # no credential is stored in it
    assert config["current-context"] == f"gke_{PROJECT}_us-central1_llm"


def test_provider_is_a_kubernetes_provider_ready_after_the_system_nodes() -> None:
    providers: list[Any] = []
    graph = run_program(lambda: providers.append(Cluster("llm", cluster_args()).provider))  # type: ignore[arg-type]
    assert isinstance(providers[0], k8s.Provider)
    assert depends_on(graph.one(K8S_PROVIDER), graph.one(NODE_POOL))


def test_outputs() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program)
    outputs = graph.outputs
    assert set(outputs) == set(OUTPUTS)
    assert outputs["cluster_name"] == "llm"
    assert outputs["location"] == "us-central1"
    assert outputs["endpoint"] == graph.one(GKE).outputs["endpoint"]
    assert outputs["certificate_authority"] == graph.one(GKE).outputs["masterAuth"]["clusterCaCertificate"]
    assert outputs["kubeconfig"] == SECRET
    assert outputs["node_service_account_email"] == f"llm-nodes@{PROJECT}.iam.gserviceaccount.com"
    assert outputs["workload_pool"] == f"{PROJECT}.svc.id.goog"


def test_plans_in_preview_with_what_the_cloud_computes_still_unknown() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("endpoint", cluster.endpoint)

    graph = run_program(program, preview=True)
    assert graph.outputs == {"kubeconfig": UNKNOWN, "endpoint": UNKNOWN}
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    assert len(graph.of_type(PROJECT_MEMBER)) == 5


def test_network_and_ranges_may_be_outputs() -> None:
    def program() -> None:
        Cluster(
            "llm",
            {
                "region": pulumi.Output.from_input("us-central1"),
                "network": pulumi.Output.from_input(NETWORK),
                "subnetwork": pulumi.Output.from_input(SUBNETWORK),
                "pods_range_name": pulumi.Output.from_input("pods"),
                "services_range_name": pulumi.Output.from_input("services"),
            },
        )

    inputs = gke(run_program(program))
    assert inputs["subnetwork"] == SUBNETWORK
    assert inputs["ipAllocationPolicy"]["servicesSecondaryRangeName"] == "services"


# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = cluster_args(
        private_endpoint=False,
        authorized_networks=["203.0.113.0/24"],
        release_channel="EXTENDED",
        master_ipv4_cidr="10.100.0.16/28",
        system_pool={"instance_type": "n1-standard-4"},
        labels={"team": "ml"},
    )
    assert validate_cluster_args(args, name="llm") == []


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = problems(
        private_endpoint=False,
        kubernetes_version="1.29",
        release_channel="regular",
        master_ipv4_cidr="172.16.0.0/24",
        system_pool={"instance_type": "a2-highgpu-1g", "min_nodes": 3, "max_nodes": 2},
        deletion_protection="yes",
        labels={"Team": "ml"},
        regoin="us-east1",
    )
    assert found[0] == "unknown argument 'regoin' (did you mean 'region'?)"
    assert "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'" in found
    assert any(p.startswith("release_channel='regular' must be one of 'RAPID', 'REGULAR'") for p in found)
    assert any("(did you mean 'REGULAR'?)" in p for p in found)
    assert any(p.startswith("master_ipv4_cidr='172.16.0.0/24' is a /24; GKE gives the control plane") for p in found)
    assert any(p.startswith("authorized_networks is empty, but private_endpoint is False") for p in found)
    assert any(p.startswith("system_pool.instance_type='a2-highgpu-1g' has GPUs") for p in found)
    assert "system_pool.max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes" in found
    assert "deletion_protection='yes' must be true or false" in found
    assert any(p.startswith("labels key 'Team' is not a GCP label key") for p in found)
    assert len(found) == 9, found


def test_the_whole_internet_is_refused_even_with_a_private_endpoint() -> None:
    (public,) = problems(private_endpoint=False, authorized_networks=["0.0.0.0/0"])
    assert public.startswith("authorized_networks[0]='0.0.0.0/0' would open the Kubernetes API to the whole internet")
    (private,) = problems(authorized_networks=["0.0.0.0/0"])
    assert private == public


def test_authorized_networks_must_be_distinct_cidr_blocks_without_host_bits() -> None:
    found = problems(
        private_endpoint=False, authorized_networks=["203.0.113.7/24", "office", "198.51.100.0/24", "198.51.100.0/24"]
    )
    assert found == [
        "authorized_networks[0]='203.0.113.7/24' has host bits set; the network it is in is '203.0.113.0/24'",
        "authorized_networks[1]='office' is not a CIDR block like '203.0.113.0/24'",
        "authorized_networks lists '198.51.100.0/24' more than once",
    ]
    (not_a_list,) = problems(authorized_networks="203.0.113.0/24")
    assert not_a_list == "authorized_networks must be a list of CIDR blocks; got '203.0.113.0/24'"


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("172.16.0.0/27", "master_ipv4_cidr='172.16.0.0/27' is a /27; GKE gives the control plane exactly a /28"),
        (
            "172.16.0.1/28",
            "master_ipv4_cidr='172.16.0.1/28' has host bits set; the network it is in is '172.16.0.0/28'",
        ),
        ("fd00::/28", "master_ipv4_cidr='fd00::/28' is not an IPv4 CIDR block like '172.16.0.0/28'"),
    ],
)
def test_master_ipv4_cidr_must_be_an_ipv4_slash_28(cidr: str, expected: str) -> None:
    (problem,) = problems(master_ipv4_cidr=cidr)
    assert problem.startswith(expected)


def test_required_arguments_are_named() -> None:
    found = failure({}).problems
    assert found == [
        "region is required: the region of the cluster, e.g. 'us-central1'",
        "network is required: the VPC network's name or self-link",
        "subnetwork is required: the name or self-link of the subnetwork in the cluster's region",
        "pods_range_name is required: the name of the subnetwork's secondary range that pod IPs come from",
        "services_range_name is required: the name of the subnetwork's secondary range that Service IPs come from",
    ]


def test_region_must_be_a_region_not_a_zone() -> None:
    (zone,) = problems(region="us-central1-a")
    assert zone.startswith("region='us-central1-a' is a zone; the cluster is regional")
    assert zone.endswith("use the region 'us-central1'")
    (other,) = problems(region="US Central")
    assert other == "region='US Central' is not a GCP region like 'us-central1'"


def test_secondary_ranges_must_be_distinct_range_names() -> None:
    (same,) = problems(pods_range_name="ranges", services_range_name="ranges")
    assert same.startswith("pods_range_name and services_range_name are both 'ranges'")
    (bad,) = problems(pods_range_name="Pods_Range")
    assert bad.startswith("pods_range_name='Pods_Range' is not a secondary range name")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "1.33.2",
            "kubernetes_version='1.33.2' must be one of '1.30', '1.31', '1.32', '1.33', '1.34' (give the minor "
            "version only: GKE picks",
        ),
        ("1.35", "kubernetes_version='1.35' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'"),
    ],
)
def test_kubernetes_version_must_be_a_supported_minor_version(version: str, expected: str) -> None:
    (problem,) = problems(kubernetes_version=version)
    assert problem.startswith(expected)


def test_system_pool_is_checked_field_by_field() -> None:
    (unknown,) = problems(system_pool={"disk_size": 80})
    assert unknown == "system_pool has unknown argument 'disk_size' (did you mean 'disk_size_gib'?)"
    (arm,) = problems(system_pool={"instance_type": "t2a-standard-4"})
    assert arm.startswith("system_pool.instance_type='t2a-standard-4' is an Arm type")
    (gpu,) = problems(system_pool={"instance_type": "g2-standard-8"})
    assert gpu.startswith("system_pool.instance_type='g2-standard-8' has GPUs")
    (typo,) = problems(system_pool={"instance_type": "e2.standard.4"})
    assert typo.startswith("system_pool.instance_type='e2.standard.4' is not a Compute Engine machine type")
    (disk,) = problems(system_pool={"disk_size_gib": 10})
    assert disk.startswith("system_pool.disk_size_gib=10 must be a whole number ≥ 20")
    (nodes,) = problems(system_pool={"min_nodes": 0})
    assert nodes.startswith("system_pool.min_nodes=0 must be a whole number ≥ 1")


def test_labels_must_follow_gcp_rules_and_leave_the_component_label_alone() -> None:
    found = problems(labels={"shardstack-component": "x", "goog-owner": "me", "team": "ML Platform"})
    assert found == [
        "labels key 'shardstack-component' is set by Shardstack itself; choose another key",
        "labels key 'goog-owner' starts with 'goog', which Google reserves for its own labels",
        "labels['team']='ML Platform' is not a GCP label value: use at most 63 lowercase letters, digits, '_' and '-'",
    ]


def test_name_must_be_a_valid_gke_cluster_name() -> None:
    (problem,) = validate_cluster_args(cluster_args(), name="LLM_prod")
    assert problem.startswith("name='LLM_prod' cannot name a GKE cluster")
    (too_long,) = validate_cluster_args(cluster_args(), name="a" * 41)
    assert too_long.startswith(f"name={'a' * 41!r} cannot name a GKE cluster: use at most 40")


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Cluster", module="shardstack.gcp.cluster")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == [
        "network",
        "podsRangeName",
        "region",
        "servicesRangeName",
        "subnetwork",
    ]
    assert sorted(resource["properties"]) == [
        "certificateAuthority",
        "clusterName",
        "endpoint",
        "kubeconfig",
        "location",
        "nodeServiceAccountEmail",
        "workloadPool",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (system_pool_type,) = [t for name, t in schema["types"].items() if name.endswith(":SystemPool")]
    assert sorted(system_pool_type["properties"]) == ["diskSizeGib", "instanceType", "maxNodes", "minNodes"]
