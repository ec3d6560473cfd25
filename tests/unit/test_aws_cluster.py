"""AWS Cluster under recording mocks: the EKS cluster's shape and tags, its system nodes and its
managed add-ons."""

from __future__ import annotations

from aws_cluster_helpers import (
    ACCESS_POLICY,
    ADDON,
    ADMIN,
    ATTACHMENT,
    CLUSTER_COMPONENT,
    EKS,
    K8S_PROVIDER,
    KEY,
    LAUNCH_TEMPLATE,
    LOG_GROUP,
    NODE_GROUP,
    ROLE,
    ROLE_POLICY,
    SG,
    SG_INGRESS,
    SUBNETS,
    depends_on,
    eks,
    launch_template,
    node_group,
    render,
)

from shardstack import catalog

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


# -- add-ons ----------------------------------------------------------------------------------------


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
