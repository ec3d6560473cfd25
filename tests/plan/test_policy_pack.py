"""The policy pack (policy/) run offline: every stack passes it, and a deliberately insecure program is refused by
each rule, the message naming the resource and the property."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest
from pulumi_policy import EnforcementLevel

from shardstack.cli import main
from shardstack.errors import InputError
from shardstack.offline.policy import LoadedPack, Violation, check, load_pack
from shardstack.plan import find_project
from shardstack.testing import run_program

REPO = Path(__file__).resolve().parents[2]
PACK = load_pack(REPO / "policy")


def insecure_program() -> None:
    """One resource (or two) against each rule."""
    aws.s3.Bucket("open-weights", acl="public-read", opts=pulumi.ResourceOptions(protect=False))
    aws.eks.Cluster(
        "open-api",
        role_arn="arn:aws:iam::123456789012:role/eks",
        vpc_config={"subnet_ids": ["subnet-1"], "endpoint_public_access": True, "public_access_cidrs": ["0.0.0.0/0"]},
    )
    imds = aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="optional", http_put_response_hop_limit=2)
    aws.ec2.LaunchTemplate("imdsv1-nodes", metadata_options=imds)
    aws.eks.NodeGroup(
        "unbounded-gpus",
        cluster_name="c",
        node_role_arn="arn:aws:iam::123456789012:role/nodes",
        subnet_ids=["subnet-1"],
        instance_types=["p5.48xlarge"],
        scaling_config={"min_size": 0, "max_size": 500, "desired_size": 0},
    )
    gcp.container.Cluster("no-networks", location="us-central1", private_cluster_config={"enable_private_nodes": True})
    gcp.container.NodePool(
        "node-identity",
        cluster="c",
        location="us-central1",
        node_config={"workload_metadata_config": {"mode": "GCE_METADATA"}},
    )
    azure_native.containerservice.ManagedCluster(
        "local-accounts", resource_group_name="rg", disable_local_accounts=False, dns_prefix="x"
    )
    gcp.storage.Bucket("open-gcs", location="US", public_access_prevention="inherited")
    azure_native.storage.StorageAccount(
        "open-account",
        resource_group_name="rg",
        kind="StorageV2",
        sku={"name": "Standard_LRS"},
        allow_blob_public_access=True,
        encryption={"key_source": "Microsoft.Storage"},
    )
    spec: Any = {  # as a YAML or TypeScript program writes it
        "selector": {"matchLabels": {"app": "x"}},
        "template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "app", "image": "x", "securityContext": {"privileged": True}}]},
        },
    }
    k8s.apps.v1.Deployment("root-pod", metadata={"namespace": "apps"}, spec=spec)


@pytest.fixture(scope="module")
def refused() -> list[Violation]:
    return check(PACK, run_program(insecure_program))


@pytest.mark.parametrize("stack", find_project(REPO).stacks())
def test_every_stack_passes_the_pack(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", stack, "--policy", str(REPO / "policy")]) == 0
    assert "0 mandatory violations, 0 advisory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ("buckets-private", "open-weights: acl is 'public-read'"),
        ("buckets-private", "open-weights: no BucketPublicAccessBlock"),
        ("buckets-encrypted", "open-weights: no BucketServerSideEncryptionConfiguration"),
        ("buckets-versioned", "open-weights: no BucketVersioning with status 'Enabled'"),
        ("buckets-protected", "open-weights: protect is not set"),
        ("buckets-private", "open-gcs: publicAccessPrevention is 'inherited'; expected 'enforced'"),
        ("buckets-versioned", "open-gcs: versioning.enabled is not true"),
        ("buckets-private", "open-account: allowBlobPublicAccess is True; expected false"),
        ("buckets-versioned", "open-account: no BlobServiceProperties with isVersioningEnabled true"),
        (
            "kubernetes-api-not-open",
            "local-accounts: the Kubernetes API is public and apiServerAccessProfile.authorizedIPRanges is []",
        ),
        (
            "kubernetes-api-not-open",
            "open-api: the Kubernetes API is public and vpcConfig.publicAccessCidrs is "
            "['0.0.0.0/0'] (they admit all of IPv4)",
        ),
        (
            "kubernetes-api-not-open",
            "no-networks: the Kubernetes API is public and masterAuthorizedNetworksConfig.cidrBlocks is []",
        ),
        ("gcp-workload-identity", "no-networks: workloadIdentityConfig.workloadPool is not set"),
        ("aws-imdsv2", "imdsv1-nodes: metadataOptions.httpTokens is 'optional'"),
        ("aws-imdsv2", "imdsv1-nodes: metadataOptions.httpPutResponseHopLimit is 2"),
        ("gcp-workload-identity", "node-identity: nodeConfig.workloadMetadataConfig.mode is 'GCE_METADATA'"),
        ("azure-no-local-accounts", "local-accounts: disableLocalAccounts is False"),
        ("pods-restricted", "root-pod: spec.template.spec: container 'app': securityContext.privileged is true"),
        ("gpu-pools-bounded", "unbounded-gpus: a pool of p5.48xlarge GPU nodes may grow to 500 nodes"),
        ("gpu-cost-ceiling", "unbounded-gpus: 500 x p5.48xlarge"),
    ],
)
def test_each_rule_refuses_the_insecure_program(refused: list[Violation], policy: str, says: str) -> None:
    found = [v.message for v in refused if v.policy == policy]
    assert any(says in message for message in found), found


def test_every_rule_is_exercised(refused: list[Violation]) -> None:
    assert {v.policy for v in refused} == {p.name for p in PACK.policies}


def test_levels_follow_the_pack(refused: list[Violation]) -> None:
    levels = {v.policy: v.level for v in refused}
    assert levels["pods-restricted"] == "mandatory"
    assert levels["gpu-cost-ceiling"] == levels["buckets-protected"] == "advisory"


def test_config_sets_levels_and_parameters() -> None:
    graph = run_program(insecure_program)
    config = {"all": "advisory", "gpu-pools-bounded": {"enforcementLevel": "mandatory", "maxNodes": 400},
              "pods-restricted": {"exemptNamespaces": ["apps"]}, "aws-imdsv2": "disabled"}  # fmt: skip
    violations = check(PACK, graph, config)
    levels = {v.policy: v.level for v in violations}
    assert levels.pop("gpu-pools-bounded") == "mandatory"  # its own level wins over "all"; 500 nodes > 400
    assert "pods-restricted" not in levels and "aws-imdsv2" not in levels
    assert set(levels.values()) == {"advisory"}
    assert "gpu-pools-bounded" not in {v.policy for v in check(PACK, graph, {"gpu-pools-bounded": {"maxNodes": 500}})}


def test_all_as_an_object_and_the_packs_initial_config_set_levels() -> None:
    graph = run_program(insecure_program)
    assert {v.level for v in check(PACK, graph, {"all": {"enforcementLevel": "advisory"}})} == {"advisory"}
    quiet = LoadedPack(PACK.name, PACK.policies, "mandatory", {"pods-restricted": EnforcementLevel.DISABLED})
    assert "pods-restricted" not in {v.policy for v in check(quiet, graph)}
    # The user's config comes after the pack's.
    assert "pods-restricted" in {v.policy for v in check(quiet, graph, {"pods-restricted": "advisory"})}


def test_customer_managed_keys_when_required() -> None:
    violations = check(PACK, run_program(insecure_program), {"buckets-encrypted": {"requireCustomerManagedKeys": True}})
    messages = [v.message for v in violations if v.policy == "buckets-encrypted"]
    assert any("open-gcs: encryption.defaultKmsKeyName is not set" in m for m in messages), messages
    assert any("open-account: encryption.keySource is 'Microsoft.Storage'" in m for m in messages), messages


def test_bad_config_names_the_policy_and_what_is_allowed() -> None:
    with pytest.raises(InputError) as error:
        check(PACK, run_program(insecure_program), {"gpu-pools-bounded": {"maxNodes": 0}, "no-such": "advisory",
                                                    "aws-imdsv2": "strict"})  # fmt: skip
    text = str(error.value) + json.dumps(error.value.problems)
    assert "gpu-pools-bounded.maxNodes: 0 is less than the minimum of 1" in text
    assert "no-such: no such policy in the pack 'shardstack'" in text
    assert "aws-imdsv2: enforcement level 'strict'; allowed: advisory, mandatory, remediate, disabled" in text


def test_a_mandatory_violation_fails_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"gpu-pools-bounded": {"maxNodes": 1}}))
    assert main(["plan", "aws-dev", "--policy", str(REPO / "policy"), "--policy-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "[mandatory] gpu-pools-bounded: l4-node-group: a pool of g6.xlarge GPU nodes may grow to 2 nodes" in err


def test_the_readme_lists_every_policy_at_its_level() -> None:
    readme = (REPO / "policy" / "README.md").read_text()
    for policy in PACK.policies:
        level = getattr(policy.enforcement_level, "value", None) or PACK.enforcement_level
        assert f"| `{policy.name}` | {level} |" in readme, policy.name
