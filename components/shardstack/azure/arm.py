"""Azure Resource Manager names and IDs: the shapes every Azure component checks the same way.

Usage::

    from shardstack.azure import arm

    arm.SUBNET_ID.fullmatch("/subscriptions/<guid>/resourceGroups/g/providers/Microsoft.Network/"
                            "virtualNetworks/v/subnets/s")                  # a match
    arm.subscription_id("/subscriptions/<guid>/resourceGroups/g")               # '<guid>'
    arm.unique_name(f"{name}-account-suffix", name, 24, opts)  # '<name's letters and digits><8 random>'

The argument kinds built on these shapes are in :mod:`shardstack.azure.kinds`. ARM treats the fixed segments
of resource IDs (``subscriptions``, ``resourceGroups``, ``providers``) case-insensitively, so the ID checks do
too.
"""

import re

import pulumi
import pulumi_random as random

from shardstack.specs.kinds import GUID_PATTERN as GUID_PATTERN  # declared with the cloud-neutral kinds

LOCATION = re.compile(r"[a-z][a-z0-9]*")
"""Azure region names such as 'eastus', 'westus3' or 'germanywestcentral' (the shape infra/config.py checks)."""
RESOURCE_GROUP_NAME = re.compile(r"[-\w.()]{1,90}")
"""1 to 90 letters, digits, '_', '-', '.', '(' and ')' (and not ending with '.', checked apart)."""

_VNET_ID = (
    rf"/subscriptions/(?P<subscription>{GUID_PATTERN})/resourceGroups/(?P<resource_group>[-\w.()]{{1,90}})"
    r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[-\w.]{2,64})"
)
VNET_ID = re.compile(_VNET_ID, re.IGNORECASE)
"""A virtual network's resource ID (use with ``fullmatch``)."""
SUBNET_ID = re.compile(_VNET_ID + r"/subnets/(?P<subnet>[-\w.]{1,80})", re.IGNORECASE)
"""A subnet's resource ID (use with ``fullmatch``)."""
VNET_ID_EXAMPLE = (
    "'/subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>'"
)
SUBNET_ID_EXAMPLE = (
    "'/subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>"
    "/subnets/<subnet>'"
)
_SUBSCRIPTION_SCOPE = re.compile(r"/subscriptions/(?P<subscription>[^/]+)(/|$)", re.IGNORECASE)

ZONES: tuple[str, ...] = ("1", "2", "3")
"""Availability zones of a region that has them, as ARM names them (strings)."""

NAME_SUFFIX_LENGTH = 8
"""Random lowercase letters and digits appended to a globally unique name derived from the component name."""


def subscription_id(resource_id: str) -> str:
    """Return the subscription of a resource ID or scope ('/subscriptions/<id>/...' → '<id>')."""
    match = _SUBSCRIPTION_SCOPE.match(resource_id)
    if match is None:
        raise ValueError(f"{resource_id!r} is not an Azure resource ID: it does not start with /subscriptions/<id>")
    return match["subscription"]


def parent_vnet_id(subnet_id: str) -> str:
    """Return the VNet ID of a subnet ID ('.../virtualNetworks/v/subnets/s' → '.../virtualNetworks/v')."""
    index = subnet_id.lower().rfind("/subnets/")
    return subnet_id[:index] if index >= 0 else subnet_id


def name_prefix(name: str, max_length: int) -> str:
    """Return the lowercase letters and digits of a component name, at most ``max_length`` of them."""
    return re.sub(r"[^a-z0-9]", "", name.lower())[:max_length]


def unique_name(
    resource_name: str, component_name: str, max_length: int, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """Return a globally unique name of at most ``max_length`` lowercase letters and digits (storage
    accounts, registries): the component name's letters and digits followed by ``NAME_SUFFIX_LENGTH``
    random ones, from a RandomString named ``resource_name`` that keeps them in state, so that the name
    stays the same on every update."""
    suffix = random.RandomString(
        resource_name,
        length=NAME_SUFFIX_LENGTH,
        lower=True,
        upper=False,
        numeric=True,
        special=False,
        opts=opts,
    )
    return pulumi.Output.concat(name_prefix(component_name, max_length - NAME_SUFFIX_LENGTH), suffix.result)
