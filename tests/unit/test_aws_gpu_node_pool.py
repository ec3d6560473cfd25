"""GpuNodePool under recording mocks: the EKS node group, its launch template, autoscaler tags and validation."""

from __future__ import annotations

from typing import Any

import pulumi
from component_schema import component_schema

from shardstack import catalog
from shardstack.aws.gpu_node_pool import (
    EFA_NETWORK_CARDS,
    GpuNodePool,
    GpuNodePoolArgs,
    validate_gpu_node_pool_args,
)
from shardstack.errors import ArgumentError
from shardstack.gpu_pool import GpuPoolArgs
from shardstack.testing import UNKNOWN, Graph, Resource, run_program, run_refused

COMPONENT = "shardstack:aws:GpuNodePool"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"

ROLE = "arn:aws:iam::123456789012:role/shardstack-nodes"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
RESERVATION = "cr-0123456789abcdef0"
BASE: dict[str, Any] = {"gpu": "l4", "cluster_name": "shardstack", "node_role_arn": ROLE, "subnet_ids": SUBNETS}
H100_X8: dict[str, Any] = {"gpu": "h100-80gb", "gpus_per_node": 8}

CA = "k8s.io/cluster-autoscaler/"
TEMPLATE = CA + "node-template/"


def render(name: str = "l4", preview: bool = False, **overrides: Any) -> Graph:
    args = {**BASE, **overrides}
    return run_program(lambda: GpuNodePool(name, args), preview=preview)  # type: ignore[arg-type]


def failure(name: str = "l4", **overrides: Any) -> ArgumentError:
    return run_refused(lambda: GpuNodePool(name, {**BASE, **overrides}), ArgumentError)  # type: ignore[typeddict-item]


def node_group(graph: Graph) -> dict[str, Any]:
    return graph.one(NODE_GROUP).inputs


def launch_template(graph: Graph) -> dict[str, Any]:
    return graph.one(LAUNCH_TEMPLATE).inputs


def asg_tags(graph: Graph) -> dict[str, Resource]:
    return {r.inputs["tag"]["key"]: r for r in graph.of_type(ASG_TAG)}


# -- structure ------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one(COMPONENT)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("l4-") for r in children)
    assert graph.count_by_type() == {ASG_TAG: 5, LAUNCH_TEMPLATE: 1, NODE_GROUP: 1}


def test_l4_spot_pool_scales_from_zero_on_the_catalogue_instance_type() -> None:
    group = node_group(render(spot=True, max_nodes=3))
    assert group["instanceTypes"] == [catalog.gpu("l4").offer("aws", 1).instance_type] == ["g6.xlarge"]
    assert group["capacityType"] == "SPOT"
    assert group["scalingConfig"] == {"minSize": 0, "maxSize": 3, "desiredSize": 0}
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["clusterName"] == "shardstack"
    assert group["nodeRoleArn"] == ROLE
    assert group["subnetIds"] == SUBNETS
    assert group["updateConfig"] == {"maxUnavailable": 1}
    assert group["nodeGroupNamePrefix"] == "l4-"


def test_nodes_are_labelled_and_tainted_for_gpu_workloads_only() -> None:
    group = node_group(render(labels={"team": "ml"}, taints=[{"key": "dedicated", "effect": "NoExecute"}]))
    assert group["labels"] == {
        "shardstack.dev/gpu": "true",
        "shardstack.dev/pool": "l4",
        "shardstack.dev/gpu-type": "l4",
        "team": "ml",
    }
    assert group["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
        {"key": "dedicated", "effect": "NO_EXECUTE"},
    ]


def test_node_group_carries_the_autoscaler_discovery_and_node_template_tags() -> None:
    tags = node_group(render(spot=True, tags={"team": "ml"}))["tags"]
    assert tags == {
        "team": "ml",
        "shardstack:component": "l4",
        CA + "enabled": "true",
        CA + "shardstack": "owned",
        TEMPLATE + "label/shardstack.dev/gpu": "true",
        TEMPLATE + "label/shardstack.dev/pool": "l4",
        TEMPLATE + "label/shardstack.dev/gpu-type": "l4",
        TEMPLATE + "taint/nvidia.com/gpu": "present:NoSchedule",
        TEMPLATE + "resources/nvidia.com/gpu": "1",
    }


def test_autoscaling_group_gets_every_node_template_tag() -> None:
    graph = render(labels={"team": "ml"}, taints=[{"key": "dedicated", "value": "llm", "effect": "NoExecute"}])
    tags = asg_tags(graph)
    assert {key: r.inputs["tag"]["value"] for key, r in tags.items()} == {
        TEMPLATE + "label/shardstack.dev/gpu": "true",
        TEMPLATE + "label/shardstack.dev/pool": "l4",
        TEMPLATE + "label/shardstack.dev/gpu-type": "l4",
        TEMPLATE + "label/team": "ml",
        TEMPLATE + "taint/nvidia.com/gpu": "present:NoSchedule",
        TEMPLATE + "taint/dedicated": "llm:NoExecute",
        TEMPLATE + "resources/nvidia.com/gpu": "1",
    }
    # On the node group's own Auto Scaling group, which only EKS knows; not copied onto the nodes.
    groups = {r.inputs["autoscalingGroupName"] for r in tags.values()}
    (asg,) = graph.one(NODE_GROUP).outputs["resources"][0]["autoscalingGroups"]
    assert groups == {asg["name"]}
    assert all(r.inputs["tag"]["propagateAtLaunch"] is False for r in tags.values())
    # EKS puts the auto-discovery tags on the group itself; a Tag resource would take them over.
    assert CA + "enabled" not in tags and CA + "shardstack" not in tags


def test_autoscaling_group_name_is_unknown_in_preview() -> None:
    tags = asg_tags(render(preview=True))
    assert {r.inputs["autoscalingGroupName"] for r in tags.values()} == {UNKNOWN}


def test_node_count_is_left_to_the_autoscaler() -> None:
    ignored: dict[str, list[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        ignored[args.type_] = list(args.opts.ignore_changes or [])

    run_program(
        lambda: GpuNodePool(
            "l4",
            BASE,  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(transformations=[record]),
        )
    )
    assert ignored[NODE_GROUP] == ["scalingConfig.desiredSize"]
    assert ignored[LAUNCH_TEMPLATE] == []


def test_h100_on_demand_pool_has_eight_gpus_per_node() -> None:
    graph = render("h100", **H100_X8, min_nodes=1, max_nodes=2)
    group = node_group(graph)
    assert group["instanceTypes"] == ["p5.48xlarge"]
    assert group["capacityType"] == "ON_DEMAND"
    assert group["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}
    assert group["tags"][TEMPLATE + "resources/nvidia.com/gpu"] == "8"
    assert group["labels"]["shardstack.dev/gpu-type"] == "h100-80gb"


def test_instance_type_override_picks_another_catalogue_shape() -> None:
    assert node_group(render(instance_type="g6.4xlarge"))["instanceTypes"] == ["g6.4xlarge"]


def test_node_group_uses_the_launch_template_latest_version() -> None:
    graph = render()
    template = graph.one(LAUNCH_TEMPLATE)
    assert node_group(graph)["launchTemplate"] == {"id": template.id, "version": str(template.outputs["latestVersion"])}
    assert template.inputs["updateDefaultVersion"] is True


# -- launch template ------------------------------------------------------------------------------


def test_pods_cannot_reach_the_node_role_through_instance_metadata() -> None:
    assert launch_template(render())["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    }


def test_node_disk_is_an_encrypted_gp3_volume_of_the_requested_size() -> None:
    template = launch_template(render(disk_size_gib=500))
    assert template["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {"volumeType": "gp3", "volumeSize": 500, "encrypted": "true", "deleteOnTermination": "true"},
        }
    ]
    # EKS refuses a node group disk size next to a launch template; the template sizes it.
    assert "diskSize" not in node_group(render())


def test_bottlerocket_sizes_its_data_volume_and_encrypts_both() -> None:
    graph = render(ami_type="BOTTLEROCKET_x86_64_NVIDIA")
    assert node_group(graph)["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert launch_template(graph)["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}},
        {
            "deviceName": "/dev/xvdb",
            "ebs": {"volumeType": "gp3", "volumeSize": 200, "encrypted": "true", "deleteOnTermination": "true"},
        },
    ]


def test_default_launch_template_has_no_efa_placement_or_reservation() -> None:
    template = launch_template(render())
    for key in ("networkInterfaces", "placement", "capacityReservationSpecification", "instanceMarketOptions"):
        assert key not in template, key
    # Spot is asked for through the node group; EKS refuses Spot market options in the template.
    assert "instanceMarketOptions" not in launch_template(render(spot=True))


def test_every_taggable_resource_and_the_instances_carry_the_tags() -> None:
    graph = render("h100", **H100_X8, efa=True, tags={"team": "ml"})
    expected = {"team": "ml", "shardstack:component": "h100"}
    for resource in (graph.one(LAUNCH_TEMPLATE), graph.one(PLACEMENT_GROUP)):
        assert resource.inputs["tags"] == expected, resource.name
    assert expected.items() <= node_group(graph)["tags"].items()
    specs = launch_template(graph)["tagSpecifications"]
    assert specs == [{"resourceType": kind, "tags": expected} for kind in ("instance", "volume", "network-interface")]


# -- EFA and reserved capacity --------------------------------------------------------------------


def test_efa_places_nodes_in_a_cluster_placement_group_with_one_efa_per_card() -> None:
    graph = render("h100", **H100_X8, efa=True)
    placement = graph.one(PLACEMENT_GROUP)
    assert placement.inputs["strategy"] == "cluster"
    assert placement.parent == graph.one(COMPONENT).urn
    template = launch_template(graph)
    assert template["placement"] == {"groupName": placement.id}
    interfaces = template["networkInterfaces"]
    assert len(interfaces) == EFA_NETWORK_CARDS["p5.48xlarge"] == 32
    assert interfaces[0] == {
        "networkCardIndex": 0,
        "deviceIndex": 0,
        "interfaceType": "efa",
        "associatePublicIpAddress": "false",
        "deleteOnTermination": "true",
    }
    assert [(i["networkCardIndex"], i["deviceIndex"], i["interfaceType"]) for i in interfaces[1:]] == [
        (card, 1, "efa-only") for card in range(1, 32)
    ]
    assert all("securityGroups" not in i and "subnetId" not in i for i in interfaces)


def test_efa_needs_an_efa_instance_type() -> None:
    (problem,) = failure(efa=True).problems
    assert problem.startswith("efa=True needs an instance type with EFA; 'g6.xlarge' has none here. EFA types: ")
    assert "'p5.48xlarge'" in problem


def test_capacity_block_is_targeted_by_the_launch_template() -> None:
    graph = render("h100", **H100_X8, capacity_reservation_id=RESERVATION, min_nodes=2, max_nodes=2)
    template = launch_template(graph)
    assert template["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": RESERVATION}
    }
    assert template["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert node_group(graph)["capacityType"] == "CAPACITY_BLOCK"


def test_on_demand_capacity_reservation_is_an_on_demand_launch() -> None:
    graph = render("h100", **H100_X8, capacity_reservation_id=RESERVATION, capacity_reservation_type="on-demand")
    template = launch_template(graph)
    assert template["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": RESERVATION}
    }
    assert "instanceMarketOptions" not in template
    assert node_group(graph)["capacityType"] == "ON_DEMAND"


def test_efa_and_a_capacity_reservation_conflict() -> None:
    (problem,) = failure("h100", **H100_X8, efa=True, capacity_reservation_id=RESERVATION).problems
    assert problem.startswith(f"efa=True and capacity_reservation_id={RESERVATION!r} conflict: ")
    assert "cluster placement group" in problem


def test_spot_and_a_capacity_reservation_conflict() -> None:
    (problem,) = failure(spot=True, capacity_reservation_id=RESERVATION).problems
    assert problem.startswith(f"spot=True and capacity_reservation_id={RESERVATION!r} conflict")


def test_reservation_type_without_a_reservation_is_refused() -> None:
    (problem,) = failure(capacity_reservation_type="on-demand").problems
    assert problem.startswith("capacity_reservation_type='on-demand' is given without capacity_reservation_id")


# -- outputs and inputs ---------------------------------------------------------------------------


def test_outputs_give_the_shape_and_the_hourly_price() -> None:
    pools: list[GpuNodePool] = []

    def program() -> None:
        pool = GpuNodePool("l4", {**BASE, "min_nodes": 1, "max_nodes": 4})  # type: ignore[typeddict-item]
        pools.append(pool)
        pulumi.export("node_group_name", pool.node_group_name)
        pulumi.export("node_group_arn", pool.node_group_arn)

    graph = run_program(program)
    (pool,) = pools
    price = catalog.gpu("l4").offer("aws", 1).usd_per_hour
    assert (pool.instance_type, pool.gpus_per_node) == ("g6.xlarge", 1)
    assert (pool.hourly_usd_min, pool.hourly_usd_max) == (price, round(4 * price, 6))
    assert graph.outputs["node_group_name"] == "l4-20260101000000000000000001"
    assert graph.outputs["node_group_arn"].startswith("arn:aws:eks:us-east-1:123456789012:")


def test_cluster_name_may_be_an_output() -> None:
    def program() -> None:
        args = {
            **BASE,
            "cluster_name": pulumi.Output.from_input("prod"),
            "subnet_ids": pulumi.Output.from_input(SUBNETS),
        }
        GpuNodePool("l4", args)  # type: ignore[arg-type]

    group = node_group(run_program(program))
    assert group["clusterName"] == "prod"
    assert group["tags"][CA + "prod"] == "owned"
    assert group["subnetIds"] == SUBNETS


def test_a_long_pool_name_is_cut_to_fit_the_node_group_name() -> None:
    name = "a" * 40
    group = node_group(render(name))
    assert group["nodeGroupNamePrefix"] == "a" * 36 + "-"
    assert group["labels"]["shardstack.dev/pool"] == name


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_gpu_node_pool_args({**BASE, **H100_X8, "efa": True, "tags": {"team": "ml"}}, name="h100") == []


def test_cloud_neutral_problems_are_reported_with_the_aws_ones() -> None:
    problems = failure(gpu="a10", node_role_arn="nodes").problems
    assert len(problems) == 2, problems
    assert problems[0].startswith("gpu='a10' is not offered on aws in the catalogue")
    assert problems[0].endswith("(did you mean 'a10g'?)")
    assert problems[1].startswith("node_role_arn='nodes' is not an IAM role ARN")


def test_unknown_argument_suggests_an_aws_one() -> None:
    (problem,) = failure(ami_typ="AL2023_x86_64_NVIDIA").problems
    assert problem == "unknown argument 'ami_typ' (did you mean 'ami_type'?)"
    (problem,) = failure(capacity_reservaton_id=RESERVATION).problems
    assert problem == "unknown argument 'capacity_reservaton_id' (did you mean 'capacity_reservation_id'?)"


def test_cluster_role_and_subnets_are_required() -> None:
    errors: list[ArgumentError] = []

    def program() -> None:
        try:
            GpuNodePool("l4", {"gpu": "l4"})  # type: ignore[typeddict-item]
        except ArgumentError as error:
            errors.append(error)

    assert len(run_program(program)) == 0
    assert [p.split(":")[0] for p in errors[0].problems] == [
        "cluster_name is required",
        "node_role_arn is required",
        "subnet_ids is required",
    ]


def test_subnets_must_be_subnet_ids() -> None:
    assert failure(subnet_ids=[]).problems == [
        "subnet_ids=[] must be a list of at least 1 item, each item a subnet ID like 'subnet-0123456789abcdef0'"
    ]
    (problem,) = failure(subnet_ids=["sn-1"]).problems
    assert problem.startswith("subnet_ids[0]='sn-1' is not a subnet ID")


def test_ami_type_must_be_an_nvidia_ami() -> None:
    (problem,) = failure(ami_type="AL2023_x86_64_STANDARD").problems
    assert problem.startswith("ami_type='AL2023_x86_64_STANDARD' must be one of 'AL2023_x86_64_NVIDIA', ")
    assert problem.endswith("(did you mean 'AL2023_x86_64_NVIDIA'?)")


def test_capacity_reservation_id_must_look_like_one() -> None:
    (problem,) = failure(capacity_reservation_id="r-123").problems
    assert problem.startswith("capacity_reservation_id='r-123' is not a capacity reservation ID")


def test_tags_may_not_use_reserved_keys() -> None:
    problems = failure(tags={"aws:owner": "x", "shardstack:component": "y"}).problems
    assert problems == [
        "tags['aws:owner'] is not allowed: AWS reserves keys starting with 'aws:'",
        "tags['shardstack:component'] is set by Shardstack itself; choose another key",
    ]


def test_pool_name_must_be_a_kubernetes_name() -> None:
    (problem,) = failure("L4_Pool").problems
    assert problem.startswith("name='L4_Pool' is not a valid Kubernetes name")


def test_every_problem_is_reported_at_once() -> None:
    problems = failure(max_nodes=0, spot="no", ami_type="x", efa=1, tags=[]).problems
    assert len(problems) == 5, problems


# -- schema ---------------------------------------------------------------------------------------


def test_aws_args_repeat_every_cloud_neutral_argument() -> None:
    neutral = GpuPoolArgs.__annotations__
    assert {k: GpuNodePoolArgs.__annotations__[k] for k in neutral} == neutral
    assert GpuPoolArgs.__required_keys__ <= GpuNodePoolArgs.__required_keys__


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("GpuNodePool", module="shardstack.aws.gpu_node_pool")
    resource = schema["resources"]["shardstack:index:GpuNodePool"]
    assert sorted(resource["requiredInputs"]) == ["clusterName", "gpu", "nodeRoleArn", "subnetIds"]
    assert sorted(resource["properties"]) == [
        "gpusPerNode",
        "hourlyUsdMax",
        "hourlyUsdMin",
        "instanceType",
        "nodeGroupArn",
        "nodeGroupName",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    # Inputs that come from other resources take outputs; the ones that shape the pool must be plain.
    assert "plain" not in resource["inputProperties"]["clusterName"]
    assert resource["inputProperties"]["gpu"]["plain"] is True
    assert schema["types"]["shardstack:index:Taint"]["required"] == ["effect", "key"]
