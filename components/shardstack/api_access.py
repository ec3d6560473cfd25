"""Who may reach a managed cluster's Kubernetes API: the same arguments and rule on every cloud.

``private_endpoint`` (default True) keeps the API inside the cluster's network; with it False,
``authorized_networks`` must list the CIDR blocks allowed to reach the public endpoint, and the whole
internet is refused, whether one block spans it (0.0.0.0/0) or several do together. Each cloud's cluster
spec takes these arguments, with its own words for where the private endpoint lives; the stack config's
``cluster`` section takes them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from shardstack.cidr import WHOLE_INTERNET_REFUSED, admitted_networks
from shardstack.specs.kinds import Flag
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Values

API_NETWORKS = admitted_networks("the Kubernetes API", "keep private_endpoint True")
"""CIDR blocks that may reach a Kubernetes API: never the whole internet."""

PRIVATE_ENDPOINT = Arg(
    "private_endpoint",
    Flag(),
    "Reach the Kubernetes API only from inside the cluster's network. When off the API also gets a public "
    "endpoint, open to ``authorized_networks`` only. Nodes are private either way.",
    default=True,
)

AUTHORIZED_NETWORKS = Arg(
    "authorized_networks",
    API_NETWORKS,
    "CIDR blocks allowed to reach the public Kubernetes API endpoint, e.g. ['203.0.113.0/24']. Required when "
    "private_endpoint is off; " + WHOLE_INTERNET_REFUSED,
)


def private_endpoint(where: str) -> Arg:
    """Return ``private_endpoint``, saying ``where`` the private endpoint lives ('inside the cluster's VPC')."""
    return replace(PRIVATE_ENDPOINT, doc=PRIVATE_ENDPOINT.doc.replace("inside the cluster's network", where))


def authorized_networks(doc: str) -> Arg:
    """Return ``authorized_networks``, with what the cloud does with them in ``doc``."""
    return replace(AUTHORIZED_NETWORKS, doc=doc)


def _public_api_needs_networks(values: Values) -> Iterator[Problem]:
    if values["private_endpoint"] is False and not values.get("authorized_networks"):
        yield Problem(
            ("authorized_networks",),
            "is empty, but private_endpoint is False: list the CIDR blocks that may reach the Kubernetes API, "
            "e.g. ['203.0.113.0/24'], or keep private_endpoint True",
        )


PUBLIC_API_NEEDS_NETWORKS = Rule(("private_endpoint", "authorized_networks"), _public_api_needs_networks)
"""A public API endpoint is open to listed networks only."""
