"""Fake outputs of the AWS provider: ARNs, EKS endpoints, bucket and registry addresses, caller identity."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from shardstack.offline.fakes import ProviderFakes, stable_hash

__all__ = ["FAKES", "MOCK_ACCOUNT_ID", "MOCK_AWS_REGION", "AwsFakes"]

MOCK_ACCOUNT_ID = "123456789012"
MOCK_AWS_REGION = "us-east-1"

CALLS: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": MOCK_ACCOUNT_ID,
        "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/mock",
        "userId": "AIDAMOCK",
        "id": MOCK_ACCOUNT_ID,
    },
    "aws:index/getRegion:getRegion": {"name": MOCK_AWS_REGION, "region": MOCK_AWS_REGION, "id": MOCK_AWS_REGION},
    "aws:index/region:Region": {"name": MOCK_AWS_REGION, "region": MOCK_AWS_REGION, "id": MOCK_AWS_REGION},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": {
        "names": [f"{MOCK_AWS_REGION}{zone}" for zone in "abc"],
        "zoneIds": [f"use1-az{i}" for i in range(1, 4)],
        "id": MOCK_AWS_REGION,
    },
}


class AwsFakes(ProviderFakes):
    """Every resource gets an ARN and its tags; clusters, buckets, repositories and node groups what AWS adds."""

    def outputs(self, type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        module, _, kind = type_token.removeprefix("aws:").partition(":")
        service = module.split("/")[0]
        out: dict[str, Any] = {
            "arn": f"arn:aws:{service}:{MOCK_AWS_REGION}:{MOCK_ACCOUNT_ID}:{kind.lower()}/{resource_id}",
            "tagsAll": inputs.get("tags") or {},
        }
        return out | _specific_outputs(type_token, name, inputs, resource_id)

    def call(self, token: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
        result = CALLS.get(token)
        return dict(result) if result is not None else None


def _specific_outputs(type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
    """What AWS computes for the resource types whose outputs the components read."""
    if type_token == "aws:eks/cluster:Cluster":
        return {
            "endpoint": f"https://{stable_hash(name).upper()}.gr7.{MOCK_AWS_REGION}.eks.amazonaws.com",
            "certificateAuthority": {"data": base64.b64encode(f"mock-ca-{name}".encode()).decode()},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{MOCK_AWS_REGION}.amazonaws.com/id/MOCK"}]}],
            "name": inputs.get("name") or resource_id,
            "status": "ACTIVE",
        }
    if type_token == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or resource_id
        return {
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "bucketRegionalDomainName": f"{bucket}.s3.{MOCK_AWS_REGION}.amazonaws.com",
            "region": MOCK_AWS_REGION,
        }
    if type_token == "aws:ecr/repository:Repository":
        repository = inputs.get("name") or resource_id
        return {"repositoryUrl": f"{MOCK_ACCOUNT_ID}.dkr.ecr.{MOCK_AWS_REGION}.amazonaws.com/{repository}"}
    if type_token == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{inputs.get('name') or resource_id}"}
    if type_token == "aws:eks/nodeGroup:NodeGroup":
        # EKS names a prefixed node group with a timestamp suffix and gives it an Auto Scaling group.
        group = inputs.get("nodeGroupName") or f"{inputs.get('nodeGroupNamePrefix') or name}20260101000000000000000001"
        return {
            "nodeGroupName": group,
            "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{stable_hash(group)[:8]}"}]}],
        }
    if type_token == "aws:amp/workspace:Workspace":
        return {
            "arn": f"arn:aws:aps:{MOCK_AWS_REGION}:{MOCK_ACCOUNT_ID}:workspace/{resource_id}",
            "prometheusEndpoint": f"https://aps-workspaces.{MOCK_AWS_REGION}.amazonaws.com/workspaces/{resource_id}/",
        }
    if type_token == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1, "defaultVersion": 1}
    if type_token == "aws:ec2/placementGroup:PlacementGroup" or type_token.startswith("aws:sagemaker/"):
        # Auto-named by the provider when the program gives no name.
        return {"name": inputs.get("name") or resource_id}
    return {}


FAKES = AwsFakes()
