"""What the Azure GpuNodePool tests share: base arguments, rendering a pool under recording mocks, its
refusals, and reading its agent pool and the options the component gives it."""

from __future__ import annotations

import re
from typing import Any

import pulumi

from shardstack.azure.gpu_node_pool import GpuNodePool
from shardstack.errors import ArgumentError
from shardstack.testing import MOCK_AZURE_SUBSCRIPTION, Graph, run_program, run_refused

COMPONENT = "shardstack:azure:GpuNodePool"
AGENT_POOL = "azure-native:containerservice:AgentPool"

SUBNET = (
    f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/shardstack-rg/providers/Microsoft.Network/"
    "virtualNetworks/shardstack-vnet/subnets/nodes"
)
BASE: dict[str, Any] = {
    "gpu": "t4",
    "cluster_name": "shardstack",
    "resource_group_name": "shardstack-rg",
    "node_subnet_id": SUBNET,
}
A100: dict[str, Any] = {"gpu": "a100-80gb"}
H100_X8: dict[str, Any] = {"gpu": "h100-80gb", "gpus_per_node": 8}

GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"
SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
SPOT_LABEL = "kubernetes.azure.com/scalesetpriority"
AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def render(name: str = "t4", preview: bool = False, **overrides: Any) -> Graph:
    args = {**BASE, **overrides}
    return run_program(lambda: GpuNodePool(name, args), preview=preview)  # type: ignore[arg-type]


def failure(name: str = "t4", **overrides: Any) -> ArgumentError:
    return run_refused(lambda: GpuNodePool(name, {**BASE, **overrides}), ArgumentError)  # type: ignore[typeddict-item]


def agent_pool(graph: Graph) -> dict[str, Any]:
    return graph.one(AGENT_POOL).inputs


def pools(program_args: dict[str, Any], name: str = "t4") -> tuple[GpuNodePool, Graph]:
    made: list[GpuNodePool] = []

    def program() -> None:
        pool = GpuNodePool(name, program_args)  # type: ignore[arg-type]
        made.append(pool)
        pulumi.export("node_pool_name", pool.node_pool_name)

    graph = run_program(program)
    return made[0], graph


def resource_options(**overrides: Any) -> pulumi.ResourceOptions:
    """Return the options the component gives its agent pool."""
    seen: dict[str, pulumi.ResourceOptions] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        seen[args.type_] = args.opts

    opts = pulumi.ResourceOptions(transformations=[record])
    run_program(lambda: GpuNodePool("t4", {**BASE, **overrides}, opts=opts))  # type: ignore[typeddict-item]
    return seen[AGENT_POOL]
