"""VPC flow logs of a Shardstack network: a CloudWatch log group and the role that writes to it."""

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

__all__ = ["FLOW_LOG_RETENTION_DAYS", "vpc_flow_logs"]

FLOW_LOG_RETENTION_DAYS = 365
"""A year of flow logs: what CIS/checkov ask for, and long enough to investigate an incident."""


def vpc_flow_logs(name: str, vpc: aws.ec2.Vpc, tags: Callable[[str], dict[str, str]], parent: pulumi.Resource) -> None:
    """Record every flow of ``vpc`` in a CloudWatch log group kept a year, written through a role of its own."""
    child = pulumi.ResourceOptions(parent=parent)
    lookup = pulumi.InvokeOutputOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-flow-logs",
        retention_in_days=FLOW_LOG_RETENTION_DAYS,
        tags=tags("flow-logs"),
        opts=child,
    )
    account_id = aws.get_caller_identity_output(opts=lookup).account_id
    partition = aws.get_partition_output(opts=lookup).partition
    region = aws.get_region_output(opts=lookup).region

    def trust_policy(values: list[Any]) -> str:
        account, partition_name, region_name = values
        # Only the flow-logs service, and only on behalf of this account's flow logs (no
        # confused deputy).
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": account},
                            "ArnLike": {
                                "aws:SourceArn": f"arn:{partition_name}:ec2:{region_name}:{account}:vpc-flow-log/*"
                            },
                        },
                    }
                ],
            }
        )

    role = aws.iam.Role(
        f"{name}-flow-logs-role",
        description=f"Lets VPC flow logs of {name} write to their log group",
        assume_role_policy=pulumi.Output.all(account_id, partition, region).apply(trust_policy),
        tags=tags("flow-logs-role"),
        opts=child,
    )

    def write_policy(log_group_arn: str) -> str:
        # The ':*' form covers the group and its streams; no other log group is reachable.
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": f"{log_group_arn}:*",
                    }
                ],
            }
        )

    aws.iam.RolePolicy(f"{name}-flow-logs-policy", role=role.id, policy=log_group.arn.apply(write_policy), opts=child)
    aws.ec2.FlowLog(
        f"{name}-flow-log",
        vpc_id=vpc.id,
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_destination=log_group.arn,
        iam_role_arn=role.arn,
        tags=tags("flow-log"),
        opts=child,
    )
