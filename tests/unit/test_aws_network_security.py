"""AWS Network under recording mocks: the emptied default security group, tags, and flow logs."""

from __future__ import annotations

import json

from aws_network_helpers import ASSOCIATION, DEFAULT_SG, FLOW_LOG, LOG_GROUP, ROLE, ROLE_POLICY, ROUTE, VPC, render


def test_default_security_group_is_emptied() -> None:
    graph = render()
    group = graph.one(DEFAULT_SG).inputs
    assert group["vpcId"] == graph.one(VPC).id
    assert not group.get("ingress") and not group.get("egress")


def test_every_taggable_resource_carries_the_component_and_user_tags() -> None:
    graph = render(flow_logs=True, tags={"team": "ml"})
    untaggable = {ROUTE, ASSOCIATION, ROLE_POLICY}
    taggable = [r for r in graph if r.custom and r.type not in untaggable]
    assert len(taggable) == 28
    for r in taggable:
        assert r.inputs["tags"]["shardstack:component"] == "net", r.name
        assert r.inputs["tags"]["team"] == "ml", r.name
        assert r.inputs["tags"]["Name"].startswith("net-"), r.name


def test_flow_logs_are_off_by_default() -> None:
    graph = render()
    assert graph.of_type(FLOW_LOG) == [] and graph.of_type(ROLE) == [] and graph.of_type(LOG_GROUP) == []


def test_flow_logs_go_to_a_kept_log_group_through_a_role_that_can_write_only_there() -> None:
    graph = render(flow_logs=True)
    log_group = graph.one(LOG_GROUP)
    role = graph.one(ROLE)
    flow_log = graph.one(FLOW_LOG).inputs
    assert flow_log["vpcId"] == graph.one(VPC).id
    assert flow_log["logDestinationType"] == "cloud-watch-logs"
    assert flow_log["logDestination"] == log_group.outputs["arn"]
    assert flow_log["iamRoleArn"] == role.outputs["arn"]
    assert flow_log["trafficType"] == "ALL"
    assert log_group.inputs["retentionInDays"] == 365

    (statement,) = json.loads(graph.one(ROLE_POLICY).inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert statement["Resource"] == f"{log_group.outputs['arn']}:*"
    assert graph.one(ROLE_POLICY).inputs["role"] == role.id

    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"}
