"""Cluster under recording mocks: endpoint access, encryption, access entries, roles, system nodes, add-ons."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from component_schema import component_schema

from shardstack import catalog
from shardstack.aws.cluster import Cluster, validate_cluster_args
from shardstack.errors import ArgumentError
from shardstack.testing import SECRET, UNKNOWN, Graph, Resource, run_program, run_refused

CLUSTER_COMPONENT = "shardstack:aws:Cluster"
EKS = "aws:eks/cluster:Cluster"
KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
K8S_PROVIDER = "pulumi:providers:kubernetes"

VPC_ID = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
BREAK_GLASS = "arn:aws:iam::123456789012:role/ops/break-glass"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
OUTPUTS = (
    "cluster_name",
    "endpoint",
    "certificate_authority",
    "kubeconfig",
    "node_role_arn",
    "node_role_name",
    "cluster_security_group_id",
    "oidc_issuer",
)


def cluster_args(**args: Any) -> dict[str, Any]:
    return {"vpc_id": VPC_ID, "subnet_ids": SUBNETS, **args}


def render(**args: Any) -> Graph:
    return run_program(lambda: Cluster("llm", cluster_args(**args)))  # type: ignore[arg-type]


def failure(args: dict[str, Any]) -> ArgumentError:
    return run_refused(lambda: Cluster("llm", args), ArgumentError)  # type: ignore[arg-type]


def problems(**args: Any) -> list[str]:
    return failure(cluster_args(**args)).problems


def eks(graph: Graph) -> dict[str, Any]:
    return graph.one(EKS).inputs


def role(graph: Graph, suffix: str) -> Resource:
    return graph.one(ROLE, f"llm-{suffix}")


def managed_policies(graph: Graph, attached_to: Resource) -> set[str]:
    """Names of the AWS managed policies attached to a role, read from the recorded attachments."""
    arns = [a.inputs["policyArn"] for a in graph.of_type(ATTACHMENT) if a.inputs["role"] == attached_to.id]
    assert all(arn.startswith("arn:aws:iam::aws:policy/") for arn in arns), arns
    return {arn.rsplit("/", 1)[1] for arn in arns}


def statements(policy_json: str) -> list[dict[str, Any]]:
    return json.loads(policy_json)["Statement"]


def launch_template(graph: Graph) -> dict[str, Any]:
    return graph.one(LAUNCH_TEMPLATE).inputs


def node_group(graph: Graph) -> Resource:
    return graph.one(NODE_GROUP)


def depends_on(graph: Graph, resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies


# -- shape ------------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one(CLUSTER_COMPONENT)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("llm-") for r in children)


def test_default_creates_one_of_each_piece_and_four_add_ons() -> None:
    assert render().count_by_type() == {
        ADDON: 4,
        LOG_GROUP: 1,
        SG: 1,
        LAUNCH_TEMPLATE: 1,
        EKS: 1,
        NODE_GROUP: 1,
        ROLE: 2,
        ATTACHMENT: 4,
        ROLE_POLICY: 1,
        KEY: 1,
        K8S_PROVIDER: 1,
        SG_INGRESS: 1,
    }


def test_eks_cluster_is_named_after_the_component_at_the_requested_version() -> None:
    inputs = eks(render(kubernetes_version="1.31"))
    assert inputs["name"] == "llm"
    assert inputs["version"] == "1.31"
    assert eks(render())["version"] == "1.33"
    assert inputs["vpcConfig"]["subnetIds"] == SUBNETS


def test_every_taggable_resource_carries_the_component_and_user_tags() -> None:
    graph = render(tags={"team": "ml"}, admin_role_arns=[ADMIN])
    untaggable = {ATTACHMENT, ROLE_POLICY, ACCESS_POLICY}
    aws_resources = [r for r in graph if r.custom and r.type.startswith("aws:") and r.type not in untaggable]
    assert aws_resources
    for r in aws_resources:
        assert r.inputs["tags"] == {"team": "ml", "shardstack:component": "llm"}, r.name
    for spec in launch_template(graph)["tagSpecifications"]:
        assert spec["tags"] == {"team": "ml", "shardstack:component": "llm"}
    assert {s["resourceType"] for s in launch_template(graph)["tagSpecifications"]} >= {"instance", "volume"}


# -- endpoint ---------------------------------------------------------------------------------------


def test_kubernetes_api_is_private_by_default() -> None:
    vpc = eks(render())["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc


def test_public_endpoint_is_open_to_the_authorized_networks_only() -> None:
    networks = ["203.0.113.0/24", "198.51.100.7/32"]
    vpc = eks(render(private_endpoint=False, authorized_networks=networks))["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["endpointPrivateAccess"] is True  # nodes keep talking to the API inside the VPC
    assert vpc["publicAccessCidrs"] == networks


def test_private_endpoint_is_reachable_on_443_from_the_vpc() -> None:
    graph = render()
    group = graph.one(SG)
    assert group.inputs["vpcId"] == VPC_ID
    rule = graph.one(SG_INGRESS).inputs
    assert rule["securityGroupId"] == group.id
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert eks(graph)["vpcConfig"]["securityGroupIds"] == [group.id]


# -- encryption, logs, access -----------------------------------------------------------------------


def test_secrets_are_encrypted_with_the_created_rotating_key() -> None:
    graph = render()
    key = graph.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert eks(graph)["encryptionConfig"] == {"provider": {"keyArn": key.outputs["arn"]}, "resources": ["secrets"]}


def test_cluster_role_may_use_the_secrets_key_and_nothing_else() -> None:
    graph = render()
    policy = graph.one(ROLE_POLICY).inputs
    assert policy["role"] == role(graph, "cluster-role").id
    (statement,) = statements(policy["policy"])
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ListGrants"]
    assert statement["Resource"] == graph.one(KEY).outputs["arn"]


def test_control_plane_logs_go_to_a_log_group_with_retention_created_first() -> None:
    graph = render()
    group = graph.one(LOG_GROUP)
    assert group.inputs["name"] == "/aws/eks/llm/cluster"
    assert group.inputs["retentionInDays"] == 90
    assert depends_on(graph, graph.one(EKS), group)
    assert eks(graph)["enabledClusterLogTypes"] == LOG_TYPES


def test_log_types_and_retention_can_be_chosen() -> None:
    graph = render(log_types=["api", "audit"], log_retention_days=365)
    assert eks(graph)["enabledClusterLogTypes"] == ["api", "audit"]
    assert graph.one(LOG_GROUP).inputs["retentionInDays"] == 365


def test_access_is_through_access_entries_only_with_the_deployer_as_admin() -> None:
    access = eks(render())["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}


def test_admin_role_arns_get_cluster_admin_access_entries() -> None:
    graph = render(admin_role_arns=[ADMIN, BREAK_GLASS])
    entries = {r.inputs["principalArn"]: r.inputs for r in graph.of_type(ACCESS_ENTRY)}
    assert set(entries) == {ADMIN, BREAK_GLASS}
    assert all(e["type"] == "STANDARD" and e["clusterName"] == "llm" for e in entries.values())
    associations = {r.inputs["principalArn"]: r for r in graph.of_type(ACCESS_POLICY)}
    assert set(associations) == {ADMIN, BREAK_GLASS}
    for association in associations.values():
        assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert association.inputs["clusterName"] == "llm"
    # The policy can only be associated once the principal has an entry.
    entry = graph.one(ACCESS_ENTRY, "llm-admin-platform-admin")
    assert depends_on(graph, graph.one(ACCESS_POLICY, "llm-admin-platform-admin"), entry)


def test_no_access_entries_without_admin_role_arns() -> None:
    graph = render()
    assert graph.of_type(ACCESS_ENTRY) == [] and graph.of_type(ACCESS_POLICY) == []


# -- roles ------------------------------------------------------------------------------------------


def test_cluster_role_is_assumed_by_eks_and_has_only_the_cluster_policy() -> None:
    graph = render()
    cluster_role = role(graph, "cluster-role")
    (trust,) = statements(cluster_role.inputs["assumeRolePolicy"])
    assert trust == {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert managed_policies(graph, cluster_role) == {"AmazonEKSClusterPolicy"}
    assert eks(graph)["roleArn"] == cluster_role.outputs["arn"]


def test_node_role_is_assumed_by_ec2_and_has_exactly_the_three_node_policies() -> None:
    graph = render()
    node_role = role(graph, "node-role")
    (trust,) = statements(node_role.inputs["assumeRolePolicy"])
    assert trust == {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert managed_policies(graph, node_role) == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEKS_CNI_Policy",
    }
    # Pods get AWS access through Pod Identity: the node role has no inline policy either.
    assert all(p.inputs["role"] != node_role.id for p in graph.of_type(ROLE_POLICY))
    assert node_group(graph).inputs["nodeRoleArn"] == node_role.outputs["arn"]


# -- system nodes -----------------------------------------------------------------------------------


def test_system_node_group_has_no_gpus_and_is_labelled_system() -> None:
    nodes = node_group(render()).inputs
    assert nodes["amiType"] == "AL2023_x86_64_STANDARD"
    assert nodes["instanceTypes"] == ["m6i.large"]
    gpu_types = {o.instance_type for m in catalog.GPUS.values() for o in m.offers_on("aws")}
    assert not set(nodes["instanceTypes"]) & gpu_types
    assert nodes["labels"] == {"shardstack.dev/pool": "system"}
    assert "taints" not in nodes
    assert nodes["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 3}
    assert nodes["subnetIds"] == SUBNETS
    assert nodes["capacityType"] == "ON_DEMAND"


def test_system_nodes_boot_from_an_encrypted_gp3_disk_with_imdsv2_one_hop() -> None:
    graph = render()
    template = launch_template(graph)
    (disk,) = template["blockDeviceMappings"]
    assert disk["deviceName"] == "/dev/xvda"
    assert disk["ebs"]["volumeSize"] == 50
    assert disk["ebs"]["volumeType"] == "gp3"
    assert disk["ebs"]["encrypted"] == "true"
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    assert node_group(graph).inputs["launchTemplate"]["id"] == graph.one(LAUNCH_TEMPLATE).id
    assert "diskSize" not in node_group(graph).inputs  # the launch template owns the disk


def test_system_pool_settings_reach_the_node_group_and_its_disk() -> None:
    graph = render(system_pool={"instance_type": "m7i.xlarge", "min_nodes": 2, "max_nodes": 5, "disk_size_gib": 80})
    nodes = node_group(graph).inputs
    assert nodes["instanceTypes"] == ["m7i.xlarge"]
    assert nodes["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 5}
    assert launch_template(graph)["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 80


# -- add-ons and the Kubernetes provider ------------------------------------------------------------


def test_four_managed_add_ons_overwrite_conflicts_and_coredns_waits_for_nodes() -> None:
    graph = render()
    addons = {r.inputs["addonName"]: r for r in graph.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"}
    for addon in addons.values():
        assert addon.inputs["clusterName"] == "llm"
        assert addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
    nodes = node_group(graph)
    assert depends_on(graph, addons["coredns"], nodes)
    assert depends_on(graph, nodes, addons["vpc-cni"])


def test_kubeconfig_is_a_secret_that_gets_a_token_for_this_cluster() -> None:
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
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == graph.one(EKS).outputs["endpoint"]
    assert cluster["cluster"]["certificate-authority-data"] == graph.one(EKS).outputs["certificateAuthority"]["data"]
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "eks", "get-token", "--cluster-name", "llm", "--region", "us-east-1", "--output", "json",
    ]  # fmt: skip
    assert config["current-context"] == "llm"


def test_provider_is_a_kubernetes_provider_ready_after_nodes_and_add_ons() -> None:
    providers: list[Any] = []
    graph = run_program(lambda: providers.append(Cluster("llm", cluster_args()).provider))  # type: ignore[arg-type]
    assert isinstance(providers[0], k8s.Provider)
    provider = graph.one(K8S_PROVIDER)
    assert depends_on(graph, provider, node_group(graph))
    assert all(depends_on(graph, provider, addon) for addon in graph.of_type(ADDON))


def test_outputs() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program)
    node_role = role(graph, "node-role")
    outputs = graph.outputs
    assert outputs["cluster_name"] == "llm"
    assert outputs["endpoint"] == graph.one(EKS).outputs["endpoint"]
    assert outputs["endpoint"].startswith("https://")
    assert outputs["certificate_authority"] == graph.one(EKS).outputs["certificateAuthority"]["data"]
    assert outputs["kubeconfig"] == SECRET
    assert outputs["node_role_arn"] == node_role.outputs["arn"]
    assert outputs["node_role_name"] == node_role.id
    assert outputs["oidc_issuer"] == "https://oidc.eks.us-east-1.amazonaws.com/id/MOCK"
    assert set(outputs) == set(OUTPUTS)


def test_plans_in_preview_with_what_the_cloud_computes_still_unknown() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args(admin_role_arns=[ADMIN]))  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("endpoint", cluster.endpoint)

    graph = run_program(program, preview=True)
    assert graph.outputs == {"kubeconfig": UNKNOWN, "endpoint": UNKNOWN}
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    assert len(graph.of_type(ADDON)) == 4


# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = cluster_args(private_endpoint=False, authorized_networks=["203.0.113.0/24"], admin_role_arns=[ADMIN])
    assert validate_cluster_args(args, name="llm") == []


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = problems(
        subnet_ids=SUBNETS[:1],
        private_endpoint=False,
        kubernetes_version="1.29",
        log_types=["api", "audti"],
        log_retention_day=30,
    )
    assert len(found) == 5, found
    assert found[0] == "unknown argument 'log_retention_day' (did you mean 'log_retention_days'?)"
    assert any(
        p.startswith("subnet_ids=['subnet-0aaaaaaaaaaaaaaaa'] must be a list of at least 2 items") for p in found
    )
    assert "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'" in found
    assert any(p.startswith("authorized_networks is empty, but private_endpoint is False") for p in found)
    assert any(
        p.startswith("log_types[1]='audti' must be one of 'api', 'audit',") and "(did you mean 'audit'?)" in p
        for p in found
    )


def test_the_whole_internet_is_refused() -> None:
    (problem,) = problems(private_endpoint=False, authorized_networks=["0.0.0.0/0"])
    assert problem.startswith("authorized_networks[0]='0.0.0.0/0' would open the Kubernetes API to the whole internet")


def test_authorized_networks_must_be_cidr_blocks_without_host_bits() -> None:
    found = problems(private_endpoint=False, authorized_networks=["203.0.113.7/24", "office"])
    assert found == [
        "authorized_networks[0]='203.0.113.7/24' has host bits set; the network it is in is '203.0.113.0/24'",
        "authorized_networks[1]='office' is not a CIDR block like '203.0.113.0/24'",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "1.33.2",
            "kubernetes_version='1.33.2' must be one of '1.30', '1.31', '1.32', '1.33', '1.34' (give the minor "
            "version only: EKS picks the patch release)",
        ),
        (1.3, "kubernetes_version=1.3 must be one of '1.30', '1.31', '1.32', '1.33', '1.34'"),
        ("1.35", "kubernetes_version='1.35' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'"),
    ],
)
def test_kubernetes_version_must_be_a_supported_minor_version(version: Any, expected: str) -> None:
    (problem,) = problems(kubernetes_version=version)
    assert problem.startswith(expected)


def test_vpc_and_subnets_are_required() -> None:
    found = failure({}).problems
    assert found == [
        "subnet_ids is required: a list of at least 2 items, each item a subnet ID like 'subnet-0123456789abcdef0'",
        "vpc_id is required: a VPC ID like 'vpc-0123456789abcdef0'",
    ]


def test_subnet_ids_may_be_an_output() -> None:
    def program() -> None:
        Cluster("llm", {"vpc_id": VPC_ID, "subnet_ids": pulumi.Output.from_input(SUBNETS)})

    assert run_program(program).one(NODE_GROUP).inputs["subnetIds"] == SUBNETS


def test_admin_role_arns_must_be_iam_role_or_user_arns_with_distinct_names() -> None:
    other_account = "arn:aws:iam::210987654321:role/platform-admin"
    found = problems(admin_role_arns=[ADMIN, "arn:aws:sts::123456789012:assumed-role/admin/me", other_account])
    assert found == [
        "admin_role_arns[1]='arn:aws:sts::123456789012:assumed-role/admin/me' is not an IAM role or user ARN "
        "like 'arn:aws:iam::123456789012:role/platform-admin'",
        f"admin_role_arns[2]={other_account!r} has the same role or user name as admin_role_arns[0]",
    ]


def test_system_pool_is_checked_field_by_field() -> None:
    found = problems(system_pool={"instance_type": "g6.xlarge", "min_nodes": 3, "max_nodes": 2, "disk_size": 10})
    assert found[0] == "system_pool has unknown argument 'disk_size' (did you mean 'disk_size_gib'?)"
    assert found[1].startswith("system_pool.instance_type='g6.xlarge' has GPUs")
    assert found[2] == "system_pool.max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes"
    assert len(found) == 3
    (arm,) = problems(system_pool={"instance_type": "m7g.large"})
    assert arm.startswith("system_pool.instance_type='m7g.large' is an Arm (Graviton) type")
    (disk,) = problems(system_pool={"disk_size_gib": 10})
    assert disk == (
        "system_pool.disk_size_gib=10 must be a whole number ≥ 20 (the node image and the system pods' images need "
        "the room)"
    )


def test_log_retention_must_be_a_period_cloudwatch_accepts() -> None:
    (problem,) = problems(log_retention_days=100)
    assert problem.startswith("log_retention_days=100 is not a retention period CloudWatch accepts; use one of 1, 3,")


def test_tags_may_not_use_reserved_keys() -> None:
    found = problems(tags={"aws:owner": "me", "shardstack:component": "x"})
    assert found == [
        "tags['aws:owner'] is not allowed: AWS reserves keys starting with 'aws:'",
        "tags['shardstack:component'] is not allowed: Shardstack sets this key itself; choose another key",
    ]


def test_name_must_be_a_valid_eks_cluster_name() -> None:
    (problem,) = validate_cluster_args(cluster_args(), name="llm.prod")
    assert problem.startswith("name='llm.prod' cannot name an EKS cluster")


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Cluster", module="shardstack.aws.cluster")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["subnetIds", "vpcId"]
    assert sorted(resource["properties"]) == [
        "certificateAuthority",
        "clusterName",
        "clusterSecurityGroupId",
        "endpoint",
        "kubeconfig",
        "nodeRoleArn",
        "nodeRoleName",
        "oidcIssuer",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (system_pool,) = [t for name, t in schema["types"].items() if name.endswith(":SystemPool")]
    assert sorted(system_pool["properties"]) == ["diskSizeGib", "instanceType", "maxNodes", "minNodes"]
