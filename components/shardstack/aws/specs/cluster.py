"""Cluster's arguments: the EKS control plane, who reaches its API, its logs and its system pool."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shardstack import catalog
from shardstack.api_access import PUBLIC_API_NEEDS_NETWORKS, authorized_networks, private_endpoint
from shardstack.aws.specs.kinds import KUBERNETES_VERSION, SUBNET_ID, VPC_ID
from shardstack.aws.tags import aws_tags
from shardstack.cidr import WHOLE_INTERNET_REFUSED
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION
from shardstack.specs.kinds import Choice, Input, Kind, ListOf, Record, Text
from shardstack.specs.problem import Path, Problem
from shardstack.specs.spec import Arg, Spec
from shardstack.specs.system_pool import DEFAULT_DISK_SIZE_GIB, DEFAULT_MAX_NODES, DEFAULT_MIN_NODES, system_pool_spec

LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log EKS can send to CloudWatch."""
DEFAULT_LOG_TYPES = LOG_TYPES
DEFAULT_LOG_RETENTION_DAYS = 90
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""Retention periods CloudWatch Logs accepts (0, "never expire", is left out on purpose)."""

DEFAULT_SYSTEM_INSTANCE_TYPE = "m6i.large"
"""2 vCPU, 8 GiB, x86_64: room for CoreDNS, the add-ons' controllers and Shardstack's own services."""
SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"

_INSTANCE_TYPE = re.compile(r"^([a-z][a-z0-9-]*)\.([a-z0-9]+)$")
# Graviton families carry a "g" right after the generation digit: m7g, c6gn, r8gd, t4g, g5g.
_ARM_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/([\w+=,.@/-]*/)?([\w+=,.@-]+)$")


def _system_instance_type(value: str) -> str | None:
    match = _INSTANCE_TYPE.match(value)
    if match is None:
        return f"is not an EC2 instance type like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
    if any(o.instance_type == value for model in catalog.GPUS.values() for o in model.offers_on("aws")):
        return (
            "has GPUs; the system pool runs cluster services on CPU nodes: use a type like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r} and a GPU node pool for GPUs"
        )
    if _ARM_FAMILY.match(match.group(1)):
        return (
            f"is an Arm (Graviton) type; the system pool uses the x86_64 AMI ({SYSTEM_AMI_TYPE}): use a type like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    return None


SYSTEM_POOL = system_pool_spec(
    Arg(
        "instance_type",
        Text(f"an x86_64 EC2 instance type without GPUs, like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}", _system_instance_type),
        "EC2 instance type, x86_64 without GPUs.",
        default=DEFAULT_SYSTEM_INSTANCE_TYPE,
    )
)
"""The EKS cluster's system pool."""


@dataclass(frozen=True)
class PrincipalArns(ListOf):
    """IAM role or user ARNs whose names must differ: the name names each principal's access entry."""

    def problems(self, value: Any, path: Path) -> list[Problem]:
        problems = super().problems(value, path)
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            return problems
        first: dict[str, int] = {}
        for i, arn in enumerate(value):
            match = _PRINCIPAL_ARN.match(arn) if isinstance(arn, str) else None
            if match is None:
                continue
            if match.group(4) in first:
                problems.append(
                    Problem(
                        (*path, i),
                        f"has the same role or user name as {path[-1]}[{first[match.group(4)]}]",
                        arn,
                    )
                )
            first.setdefault(match.group(4), i)
        return problems


@dataclass(frozen=True)
class RetentionDays(Kind):
    """A number of days CloudWatch Logs accepts as a retention period."""

    periods: tuple[int, ...]

    @property
    def annotation(self) -> str:
        return "int"

    @property
    def allowed(self) -> str:
        return f"one of {', '.join(str(d) for d in self.periods)}"

    def reason(self, value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value in self.periods:
            return None
        return f"is not a retention period CloudWatch accepts; use {self.allowed}"


CLUSTER = Spec(
    "ClusterArgs",
    "Arguments of Cluster.",
    (
        Arg(
            "subnet_ids",
            Input(ListOf(SUBNET_ID.plain, min_items=2, unique=True)),
            "Private subnets, in at least two availability zones, for the control plane's network interfaces and "
            "the system nodes; at least 2.",
            required=True,
        ),
        Arg(
            "vpc_id",
            VPC_ID,
            "The VPC of ``subnet_ids``: clients in it (a bastion, a VPN, a CI runner) may reach the Kubernetes API's "
            "private endpoint on port 443.",
            required=True,
        ),
        Arg(
            "kubernetes_version",
            KUBERNETES_VERSION,
            "Kubernetes minor version; EKS picks the patch release.",
            default=DEFAULT_KUBERNETES_VERSION,
        ),
        private_endpoint("inside the cluster's VPC"),
        authorized_networks(
            "CIDR blocks allowed to reach the public Kubernetes API endpoint, e.g. ['203.0.113.0/24']. Required when "
            "private_endpoint is off, unused otherwise; " + WHOLE_INTERNET_REFUSED
        ),
        Arg(
            "admin_role_arns",
            PrincipalArns(
                Text(
                    "an IAM role or user ARN like 'arn:aws:iam::123456789012:role/platform-admin'",
                    lambda v: (
                        None
                        if _PRINCIPAL_ARN.match(v)
                        else "is not an IAM role or user ARN like 'arn:aws:iam::123456789012:role/platform-admin'"
                    ),
                )
            ),
            "IAM role or user ARNs given cluster-admin through EKS access entries. The identity that runs "
            "``pulumi up`` is made admin when the cluster is created: do not list it.",
        ),
        Arg(
            "system_pool",
            Record(SYSTEM_POOL),
            "The CPU node group for cluster services.",
            default_doc=f"{DEFAULT_MIN_NODES} to {DEFAULT_MAX_NODES} {DEFAULT_SYSTEM_INSTANCE_TYPE} nodes with "
            f"{DEFAULT_DISK_SIZE_GIB} GiB disks",
        ),
        Arg(
            "log_types",
            ListOf(Choice(LOG_TYPES), unique=True),
            "Control-plane logs sent to CloudWatch: any of 'api', 'audit', 'authenticator', 'controllerManager', "
            "'scheduler'.",
            default=DEFAULT_LOG_TYPES,
            default_doc="all five",
        ),
        Arg(
            "log_retention_days",
            RetentionDays(LOG_RETENTION_DAYS),
            "Days CloudWatch keeps the control-plane logs, one of the periods CloudWatch accepts (1, 3, 5, 7, 14, "
            "30, 60, 90, ..., 3653).",
            default=DEFAULT_LOG_RETENTION_DAYS,
        ),
        Arg("tags", aws_tags(), "AWS tags added to every resource, next to ``shardstack:component: <name>``."),
    ),
    rules=(PUBLIC_API_NEEDS_NETWORKS,),
)
"""Cluster's arguments."""

WIRED_CLUSTER_ARGS = ("vpc_id", "subnet_ids")
"""What AwsInstallation sets on its cluster itself: its network's VPC and private subnets."""

INSTALLATION_CLUSTER = CLUSTER.without(
    WIRED_CLUSTER_ARGS,
    name="InstallationCluster",
    doc="Cluster arguments (see :class:`~shardstack.aws.cluster.Cluster`) without ``vpc_id`` and ``subnet_ids``.",
)
"""An AwsInstallation's cluster."""
