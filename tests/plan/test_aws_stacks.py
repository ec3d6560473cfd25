"""The `aws-dev` and `aws-prod` stacks planned from their real stack files: what `pulumi up` would create."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shardstack import catalog
from shardstack.cli import main
from shardstack.plan import plan_stack
from shardstack.testing import UNKNOWN, Graph, Resource

REPO = Path(__file__).resolve().parents[2]

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
SUBNET = "aws:ec2/subnet:Subnet"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GPU_NODE_POOL = "shardstack:aws:GpuNodePool"
WEIGHT_STORE = "shardstack:aws:WeightStore"
BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
GPU = "nvidia.com/gpu"

# Inputs that hold an IAM policy document (JSON) on aws:iam/* resources.
POLICY_INPUTS = ("policy", "assumeRolePolicy")


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def dev() -> Graph:
    return plan_stack("aws-dev", REPO).graph


@pytest.fixture(scope="module")
def prod() -> Graph:
    return plan_stack("aws-prod", REPO).graph


@pytest.fixture(scope="module")
def prod_applied() -> Graph:
    """In preview the IAM policies built from the bucket's and keys' ARNs are wholly "<known after apply>";
    this is the same program and stack file as `pulumi up` runs it, with those ARNs known."""
    return plan_stack("aws-prod", REPO, preview=False).graph


def gpu_pools(graph: Graph) -> dict[str, Resource]:
    """The node group of each GPU pool, by pool name."""
    groups = {}
    for pool in graph.of_type(GPU_NODE_POOL):
        (group,) = [r for r in graph.children(pool) if r.type == NODE_GROUP]
        groups[pool.name] = group
    return groups


def gpus_per_node(group: Resource) -> int:
    # The autoscaler's node-template tag says how many GPUs a node of the pool has.
    return int(group.inputs["tags"]["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"])


def containers(graph: Graph) -> list[dict[str, Any]]:
    return [c for s in graph.of_type(STATEFULSET) for c in s.inputs["spec"]["template"]["spec"]["containers"]]


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def catalogue_offer(gpu: str, instance_type: str) -> catalog.InstanceOffer:
    (offer,) = [o for o in catalog.GPUS[gpu].offers if o.cloud == "aws" and o.instance_type == instance_type]
    return offer


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(document: str) -> list[dict[str, Any]]:
    assert document != UNKNOWN
    parsed = json.loads(document)
    assert parsed["Version"] == "2012-10-17"
    return parsed["Statement"]


def gpus_requested(graph: Graph) -> int:
    return sum(
        s.inputs["spec"]["replicas"] * int(c["resources"]["limits"].get(GPU, 0))
        for s in graph.of_type(STATEFULSET)
        for c in s.inputs["spec"]["template"]["spec"]["containers"]
    )


def something_scales_the_gpu_pools(graph: Graph) -> bool:
    """A cluster-autoscaler Deployment that discovers this cluster's node groups by their tags."""
    cluster = graph.one(EKS_CLUSTER).outputs["name"]
    discovery = (
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{cluster}"
    )
    for deployment in graph.of_type("kubernetes:apps/v1:Deployment"):
        for container in deployment.inputs["spec"]["template"]["spec"]["containers"]:
            if discovery in [*(container.get("command") or []), *(container.get("args") or [])]:
                return True
    return False


# -- aws-dev --------------------------------------------------------------------------------------------


def test_dev_has_exactly_one_nat_gateway(dev: Graph) -> None:
    assert stack_file("aws-dev")["shardstack:network"]["nat_gateways"] == "single"
    assert len(dev.of_type(NAT_GATEWAY)) == 1
    # Every private route still leaves through it.
    private_routes = [r for r in dev.of_type("aws:ec2/route:Route") if "-private-" in r.name]
    nat = dev.one(NAT_GATEWAY)
    assert len(private_routes) == 3 and all(nat.urn in r.dependencies for r in private_routes)


def test_dev_l4_pool_is_spot_scales_to_zero_on_a_catalogue_g6(dev: Graph) -> None:
    group = gpu_pools(dev)["l4"].inputs
    (instance_type,) = group["instanceTypes"]

    assert group["capacityType"] == "SPOT"
    assert group["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 2}
    assert instance_type.startswith("g6.")
    assert catalogue_offer("l4", instance_type).gpu_count == 1
    assert group["labels"]["shardstack.dev/pool"] == "l4"


def test_dev_api_endpoint_is_public_only_to_the_stack_files_networks(dev: Graph) -> None:
    vpc = dev.one(EKS_CLUSTER).inputs["vpcConfig"]
    networks = stack_file("aws-dev")["shardstack:cluster"]["authorized_networks"]
    assert networks == ["203.0.113.0/24"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == networks
    assert vpc["endpointPrivateAccess"] is True


def test_dev_runs_two_ranks_with_one_gpu_each(dev: Graph) -> None:
    (statefulset,) = dev.of_type(STATEFULSET)
    (container,) = containers(dev)
    assert statefulset.inputs["spec"]["replicas"] == 2
    assert env(container)["SHARDSTACK_WORLD_SIZE"] == "2"
    assert container["resources"]["requests"][GPU] == container["resources"]["limits"][GPU] == "1"


def test_dev_exports_what_a_user_needs_next(dev: Graph) -> None:
    assert {"endpoint", "bucket_uri", "registry_url", "cluster_name", "kubeconfig"} <= set(dev.outputs)
    assert dev.outputs["cluster_name"] == "aws-dev"
    assert dev.outputs["endpoint"] == "http://aws-dev-api.shardstack.svc.cluster.local:8000"


def test_dev_gpu_cost_is_zero_at_min_and_the_on_demand_price_of_two_nodes_at_max(dev: Graph) -> None:
    # The catalogue has on-demand prices only; GpuNodePool documents its max as an upper bound for spot.
    (instance_type,) = gpu_pools(dev)["l4"].inputs["instanceTypes"]
    price = catalogue_offer("l4", instance_type).usd_per_hour
    cost = dev.outputs["gpu_usd_per_hour"]
    assert cost["at_min_nodes"] == 0
    assert cost["at_max_nodes"] == pytest.approx(2 * price, abs=0.005)  # to the cent


def test_dev_ranks_can_get_gpu_nodes(dev: Graph) -> None:
    at_min = sum(g.inputs["scalingConfig"]["desiredSize"] * gpus_per_node(g) for g in gpu_pools(dev).values())
    assert at_min >= gpus_requested(dev) or something_scales_the_gpu_pools(dev)


# -- aws-prod -------------------------------------------------------------------------------------------


def test_prod_has_a_nat_gateway_in_each_configured_zone(prod: Graph) -> None:
    zones = stack_file("aws-prod")["shardstack:zones"]
    subnets = {s.urn: s for s in prod.of_type(SUBNET)}
    nat_zones = []
    for nat in prod.of_type(NAT_GATEWAY):
        (subnet,) = [subnets[d] for d in nat.dependencies if d in subnets]
        assert "kubernetes.io/role/elb" in subnet.inputs["tags"]  # a public subnet
        nat_zones.append(subnet.inputs["availabilityZone"])
    assert sorted(nat_zones) == sorted(zones) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_prod_api_endpoint_is_private_only(prod: Graph) -> None:
    vpc = prod.one(EKS_CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False
    assert vpc["endpointPrivateAccess"] is True
    assert not vpc.get("publicAccessCidrs")


def test_prod_h100_pool_is_on_demand_p5_with_eight_gpus_per_node(prod: Graph) -> None:
    group = gpu_pools(prod)["h100"]
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["instanceTypes"] == ["p5.48xlarge"]
    assert gpus_per_node(group) == catalogue_offer("h100-80gb", "p5.48xlarge").gpu_count == 8
    assert group.inputs["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 2}


def test_prod_serves_two_replica_groups_of_two_ranks(prod: Graph) -> None:
    statefulsets = prod.of_type(STATEFULSET)
    assert len(statefulsets) == 2
    assert [s.inputs["spec"]["replicas"] for s in statefulsets] == [2, 2]
    assert all(env(c)["SHARDSTACK_WORLD_SIZE"] == "2" for c in containers(prod))
    # The nodes that are always there hold every rank.
    at_min = sum(g.inputs["scalingConfig"]["desiredSize"] * gpus_per_node(g) for g in gpu_pools(prod).values())
    assert at_min >= gpus_requested(prod) == 4


def test_prod_weight_bucket_and_its_key_are_protected_and_kept(prod: Graph) -> None:
    bucket = prod.one(BUCKET)
    (key,) = [k for k in prod.of_type(KMS_KEY) if k.parent == prod.one(WEIGHT_STORE).urn]
    assert bucket.protect and bucket.retain_on_delete
    assert key.protect and key.retain_on_delete
    assert bucket.inputs["forceDestroy"] is False


def test_prod_weight_read_policy_grants_only_get_list_and_decrypt(prod: Graph, prod_applied: Graph) -> None:
    # In preview the read policy exists on the grant's role, its document known only after apply.
    store = prod.one(WEIGHT_STORE)
    (policy,) = [p for p in prod.of_type(ROLE_POLICY) if p.parent == store.urn]
    (role,) = [r for r in prod.of_type(ROLE) if r.parent == store.urn]
    assert role.urn in policy.dependencies

    store = prod_applied.one(WEIGHT_STORE)
    (policy,) = [p for p in prod_applied.of_type(ROLE_POLICY) if p.parent == store.urn]
    (role,) = [r for r in prod_applied.of_type(ROLE) if r.parent == store.urn]
    bucket_arn = prod_applied.one(BUCKET).outputs["arn"]
    (key,) = [k for k in prod_applied.of_type(KMS_KEY) if k.parent == store.urn]
    assert policy.inputs["role"] == role.id
    (association,) = [r for r in prod_applied.of_type(ASSOCIATION) if "weights-read" in r.name]
    assert association.inputs["roleArn"] == role.outputs["arn"]

    granted: dict[str, list[str]] = {}
    for statement in statements(policy.inputs["policy"]):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    assert granted == {
        "s3:GetObject": [f"{bucket_arn}/*"],
        "s3:ListBucket": [bucket_arn],
        "kms:Decrypt": [key.outputs["arn"]],
    }


def test_prod_iam_policies_grant_no_wildcard_actions(prod_applied: Graph) -> None:
    documents = [
        (r.name, key, r.inputs[key])
        for r in prod_applied
        if r.type.startswith("aws:iam/")
        for key in POLICY_INPUTS
        if key in r.inputs
    ]
    # At least the trust policies of the cluster, node and weights-reader roles and the inline policies of
    # the cluster role (secrets key) and the weights reader: the scan is never vacuous.
    names = {name for name, _, _ in documents}
    assert {"aws-prod-cluster-role", "aws-prod-node-role", "aws-prod-cluster-secrets-key"} <= names, names
    assert len(documents) >= 5, [d[:2] for d in documents]
    for name, key, document in documents:
        for statement in statements(document):
            assert "NotAction" not in statement and "NotResource" not in statement, (name, statement)
            actions = as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], (name, key, actions)
            if key == "policy" and "*" in as_list(statement["Resource"]):
                # The documented exceptions (cluster_autoscaler.py): Describe calls, which AWS cannot scope
                # to a resource, and the autoscaler's two scaling calls, scoped by a tag condition instead.
                read_only = all(a.split(":")[1].startswith(("Describe", "Get")) for a in actions)
                tag_scoped = "aws:ResourceTag/k8s.io/cluster-autoscaler/aws-prod" in json.dumps(
                    statement.get("Condition", {})
                )
                assert read_only or tag_scoped, (name, statement)


def test_prod_other_policies_use_wildcards_only_to_deny(prod_applied: Graph) -> None:
    # The weight bucket's TLS-only policy denies s3:* to "*" over plain HTTP (commented in weight_store.py).
    policies = [
        r
        for r in prod_applied
        if r.type.startswith("aws:")
        and not r.type.startswith("aws:iam/")
        and isinstance(r.inputs.get("policy"), str)
        and '"Statement"' in r.inputs["policy"]
    ]
    assert "aws:s3/bucketPolicy:BucketPolicy" in [r.type for r in policies]
    for policy in policies:
        for statement in statements(policy.inputs["policy"]):
            if any("*" in a for a in as_list(statement["Action"])) or statement.get("Principal") == "*":
                assert statement["Effect"] == "Deny", (policy.name, statement)


def test_prod_gpu_cost_is_the_catalogue_price_times_the_nodes(prod: Graph) -> None:
    price = catalogue_offer("h100-80gb", "p5.48xlarge").usd_per_hour
    assert prod.outputs["gpu_usd_per_hour"] == {
        "at_min_nodes": pytest.approx(1 * price, abs=0.005),
        "at_max_nodes": pytest.approx(2 * price, abs=0.005),
    }


# -- both -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_every_node_keeps_its_instance_metadata_from_pods(stack: str, dev: Graph, prod: Graph) -> None:
    graph = dev if stack == "aws-dev" else prod
    templates = graph.of_type(LAUNCH_TEMPLATE)
    assert len(templates) == 2  # the system nodes' and the GPU pool's
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required", template.name
        assert metadata["httpPutResponseHopLimit"] == 1, template.name
    # Every node group launches from one of them.
    ids = {t.urn for t in templates}
    assert all(ids & set(g.dependencies) for g in graph.of_type(NODE_GROUP))


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_every_kubernetes_object_goes_to_the_new_cluster(stack: str, dev: Graph, prod: Graph) -> None:
    graph = dev if stack == "aws-dev" else prod
    provider = graph.one("pulumi:providers:kubernetes")
    assert provider.parent == graph.one("shardstack:aws:Cluster").urn
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.provider and r.provider.startswith(provider.urn) for r in objects)


@pytest.mark.parametrize(("stack", "gpu", "nodes"), [("aws-dev", "l4", (0, 2)), ("aws-prod", "h100-80gb", (1, 2))])
def test_plan_cli_prints_the_gpu_cost_per_hour(stack: str, gpu: str, nodes: tuple[int, int], capsys) -> None:
    assert main(["plan", stack, "--project-dir", str(REPO)]) == 0

    lines = capsys.readouterr().out.splitlines()
    start = lines.index("  gpu_usd_per_hour:")
    cost = yaml.safe_load("\n".join(line.strip() for line in lines[start + 1 : start + 3]))
    price = catalog.GPUS[gpu].offer("aws", 8 if gpu == "h100-80gb" else 1).usd_per_hour
    assert cost == {
        "at_min_nodes": pytest.approx(nodes[0] * price, abs=0.005),
        "at_max_nodes": pytest.approx(nodes[1] * price, abs=0.005),
    }
