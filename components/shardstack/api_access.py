"""Who may reach a managed cluster's Kubernetes API: the same rules on every cloud.

``private_endpoint`` (default True) keeps the API inside the cluster's network; with it False,
``authorized_networks`` must list the CIDR blocks allowed to reach the public endpoint, and the whole
internet (0.0.0.0/0) is refused.
"""

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from shardstack.k8s import names


def api_access_problems(args: Mapping[str, Any]) -> list[str]:
    """Every problem with ``private_endpoint`` and ``authorized_networks`` in a cluster's arguments."""
    problems: list[str] = []
    private = args.get("private_endpoint", True)
    problem = names.bool_problem("private_endpoint", private)
    if problem:
        problems.append(problem)
    networks = args.get("authorized_networks", [])
    if not isinstance(networks, Sequence) or isinstance(networks, str):
        return [*problems, f"authorized_networks must be a list of CIDR blocks; got {networks!r}"]
    for i, cidr in enumerate(networks):
        problem = cidr_problem(f"authorized_networks[{i}]", cidr)
        if problem:
            problems.append(problem)
    for cidr in sorted({c for c in networks if isinstance(c, str) and list(networks).count(c) > 1}):
        problems.append(f"authorized_networks lists {cidr!r} more than once")
    if private is False and not networks:
        problems.append(
            "authorized_networks is empty, but private_endpoint is False: list the CIDR blocks that may "
            "reach the Kubernetes API, e.g. ['203.0.113.0/24'], or keep private_endpoint True"
        )
    return problems


def cidr_problem(arg: str, value: Any) -> str | None:
    """Why ``value`` is not a CIDR block allowed to reach the API, or None."""
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError(value)
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{arg}={value!r} is not a CIDR block like '203.0.113.0/24'"
    if network.with_prefixlen != value:
        return f"{arg}={value!r} has host bits set; the network it is in is {network.with_prefixlen!r}"
    if network.prefixlen == 0:
        return (
            f"{arg}={value!r} would open the Kubernetes API to the whole internet; list the networks that "
            "need to reach it (e.g. your office or VPN egress), or keep private_endpoint True"
        )
    return None
