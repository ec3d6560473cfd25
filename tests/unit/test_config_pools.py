"""Stack config: the cluster's API access, the system pool, the network and the GPU pools."""

from __future__ import annotations

from config_cases import AWS, LOCAL, aws_pool, config, problem_at, stack

from shardstack import catalog

# --- cluster and system_pool ------------------------------------------------------------------------


def test_fails_when_public_endpoint_has_no_authorized_networks() -> None:
    line = problem_at(stack(AWS, cluster={"private_endpoint": False}), "shardstack:cluster.authorized_networks")
    assert "is empty, but private_endpoint is False" in line and "203.0.113.0/24" in line


def test_fails_when_authorized_network_is_the_whole_internet() -> None:
    values = stack(AWS, cluster={"private_endpoint": False, "authorized_networks": ["0.0.0.0/0"]})
    line = problem_at(values, "shardstack:cluster.authorized_networks[0]")
    assert "'0.0.0.0/0'" in line and "whole internet" in line


def test_fails_when_authorized_network_has_host_bits() -> None:
    values = stack(AWS, cluster={"authorized_networks": ["203.0.113.5/24"]})
    line = problem_at(values, "shardstack:cluster.authorized_networks[0]")
    assert "'203.0.113.5/24'" in line and "host bits" in line and "'203.0.113.0/24'" in line


def test_fails_when_authorized_network_is_not_a_cidr() -> None:
    values = stack(AWS, cluster={"authorized_networks": ["office"]})
    line = problem_at(values, "shardstack:cluster.authorized_networks[0]")
    assert "'office'" in line and "CIDR" in line


def test_fails_when_cluster_given_for_local() -> None:
    line = problem_at(stack(LOCAL, cluster={"private_endpoint": True}), "shardstack:cluster")
    assert "local" in line


def test_fails_when_system_pool_max_below_min() -> None:
    line = problem_at(stack(AWS, system_pool={"min_nodes": 3, "max_nodes": 2}), "shardstack:system_pool.max_nodes")
    assert "2 is less than min_nodes=3" in line


def test_fails_when_system_pool_disk_too_small() -> None:
    line = problem_at(stack(AWS, system_pool={"disk_size_gib": 10}), "shardstack:system_pool.disk_size_gib")
    assert "10" in line and "from 20 to 65536" in line


def test_fails_when_system_pool_given_for_local() -> None:
    line = problem_at(stack(LOCAL, system_pool={"max_nodes": 2}), "shardstack:system_pool")
    assert "local" in line


def test_network_defaults_to_a_nat_gateway_per_zone() -> None:
    assert config.load(AWS, stack="t").network.nat_gateways == "one_per_zone"
    assert config.load(stack(AWS, network={"nat_gateways": "single"}), stack="t").network.nat_gateways == "single"


def test_fails_on_an_unknown_nat_mode_and_on_network_for_local() -> None:
    line = problem_at(stack(AWS, network={"nat_gateways": "one"}), "shardstack:network.nat_gateways")
    assert "'one'" in line and "one_per_zone" in line and "single" in line
    assert "local" in problem_at(stack(LOCAL, network={"nat_gateways": "single"}), "shardstack:network")


# --- gpu_pools --------------------------------------------------------------------------------------


def test_fails_when_cloud_has_no_gpu_pools() -> None:
    line = problem_at(stack(AWS, gpu_pools=None), "shardstack:gpu_pools")
    assert "empty" in line and "'aws'" in line


def test_fails_when_local_has_gpu_pools() -> None:
    line = problem_at(stack(LOCAL, gpu_pools=[{"gpu": "l4"}]), "shardstack:gpu_pools")
    assert "1 pool(s)" in line and "local" in line


def test_fails_when_gpu_unknown() -> None:
    line = problem_at(aws_pool(gpu="h100"), "shardstack:gpu_pools[0].gpu")
    assert "'h100' is not in the GPU catalogue" in line and "(did you mean 'h100-80gb'?)" in line
    assert "use one of " in line and "'a100-40gb'" in line
    assert line.endswith("(did you mean 'h100-80gb'?)")


def test_fails_when_gpu_not_offered_on_cloud() -> None:
    not_on_aws = next(key for key, gpu in catalog.GPUS.items() if not gpu.offers_on("aws"))
    line = problem_at(aws_pool(gpu=not_on_aws), "shardstack:gpu_pools[0].gpu")
    assert f"{not_on_aws!r} is not offered on aws" in line and "'l4'" in line


def test_fails_when_gpus_per_node_not_offered() -> None:
    counts = catalog.GPUS["l4"].gpu_counts("aws")
    line = problem_at(aws_pool(gpus_per_node=3), "shardstack:gpu_pools[0].gpus_per_node")
    assert "3 is not a node size for 'l4' on aws" in line
    assert f"allowed: {', '.join(str(c) for c in counts)}" in line


def test_fails_when_pool_name_not_dns_label() -> None:
    line = problem_at(aws_pool(name="GPU_Pool"), "shardstack:gpu_pools[0].name")
    assert "'GPU_Pool' is not a valid Kubernetes name" in line and "lowercase letters" in line


def test_fails_when_pool_names_repeat() -> None:
    values = stack(AWS, gpu_pools=[{"name": "gpu", "gpu": "l4"}, {"name": "gpu", "gpu": "t4"}])
    line = problem_at(values, "shardstack:gpu_pools[1].name")
    assert "'gpu'" in line and "gpu_pools[0]" in line and "unique" in line


def test_fails_when_pool_name_missing_and_gpu_unknown() -> None:
    line = problem_at(stack(AWS, gpu_pools=[{"gpu": "nope"}]), "shardstack:gpu_pools[0].name")
    assert "required" in line


def test_fails_when_min_nodes_negative() -> None:
    line = problem_at(aws_pool(min_nodes=-1), "shardstack:gpu_pools[0].min_nodes")
    assert "-1" in line and "from 0 to 5000" in line


def test_fails_when_max_nodes_zero() -> None:
    line = problem_at(aws_pool(max_nodes=0), "shardstack:gpu_pools[0].max_nodes")
    assert "0 must be a whole number from 1 to 5000" in line


def test_fails_when_max_nodes_below_min_nodes() -> None:
    line = problem_at(aws_pool(min_nodes=2, max_nodes=1), "shardstack:gpu_pools[0].max_nodes")
    assert line == ("shardstack:gpu_pools[0].max_nodes: 1 is less than min_nodes=2; max_nodes must be ≥ min_nodes")


def test_fails_when_max_nodes_not_a_number() -> None:
    line = problem_at(aws_pool(max_nodes="three"), "shardstack:gpu_pools[0].max_nodes")
    assert "'three' must be a whole number" in line


def test_fails_when_spot_not_a_boolean() -> None:
    line = problem_at(aws_pool(spot="sometimes"), "shardstack:gpu_pools[0].spot")
    assert "'sometimes' must be true or false" in line


def test_fails_when_gpu_disk_too_small() -> None:
    line = problem_at(aws_pool(disk_size_gib=30), "shardstack:gpu_pools[0].disk_size_gib")
    assert "30 must be a whole number from 50 to 65536" in line


def test_fails_when_node_label_key_reserved() -> None:
    line = problem_at(
        aws_pool(labels={"node.kubernetes.io/role": "gpu"}),
        "shardstack:gpu_pools[0].labels['node.kubernetes.io/role']",
    )
    assert "'node.kubernetes.io/role'" in line and "reserved" in line


def test_fails_when_node_label_value_invalid() -> None:
    line = problem_at(aws_pool(labels={"team": "ml team"}), "shardstack:gpu_pools[0].labels.team")
    assert "'ml team'" in line and "label value" in line


def test_fails_when_gpu_pool_not_a_mapping() -> None:
    line = problem_at(stack(AWS, gpu_pools=["l4"]), "shardstack:gpu_pools[0]")
    assert "'l4' is not a mapping" in line


def test_fails_when_shards_exceed_gpu_capacity() -> None:
    values = stack(aws_pool(max_nodes=2), model={"shards": 2}, serving={"replica_groups": 2})
    line = problem_at(values, "shardstack:model.shards")
    assert "need at least 4 GPUs" in line and "at most 2" in line
