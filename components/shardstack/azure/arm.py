"""Azure Resource Manager names and IDs: the shapes every Azure component checks the same way.

Usage::

    from shardstack.azure import arm

    arm.location_problem("East US")        # "location='East US' is not an Azure region name ... 'eastus')"
    arm.resource_group_name_problem("rg.")  # "resource_group_name='rg.' is not a resource group name: ..."
    arm.subnet_id_problem("node_subnet_id", "/subscriptions/<guid>/resourceGroups/g/providers/..."
                          "Microsoft.Network/virtualNetworks/v/subnets/s")  # None
    arm.subscription_id("/subscriptions/<guid>/resourceGroups/g")               # '<guid>'
    arm.unique_name(f"{name}-account-suffix", name, 24, opts)  # '<name's letters and digits><8 random>'

Every ``*_problem`` function returns why a value is wrong, naming the argument, or None; values that are
Pulumi Outputs are not known yet and are never refused. ARM treats the fixed segments of resource IDs
(``subscriptions``, ``resourceGroups``, ``providers``) case-insensitively, so the ID checks do too.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import pulumi
import pulumi_random as random

from shardstack.errors import one_of

GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
"""A GUID (Entra object IDs, subscription IDs, role definition names), to compose into other patterns."""

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


def is_guid(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is a GUID string such as '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b' (any case)."""
    return isinstance(value, str) and re.fullmatch(GUID_PATTERN, value) is not None


def location_problem(value: Any) -> str | None:
    """Why ``value`` is not an Azure region name such as 'eastus', or None; a display name such as
    'East US' gets its region name as a hint."""
    if isinstance(value, str) and LOCATION.fullmatch(value):
        return None
    hint = ""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ]*", value):
        hint = f" ({value!r} looks like a display name; its region name is {value.replace(' ', '').lower()!r})"
    return f"location={value!r} is not an Azure region name such as 'eastus' or 'westeurope'{hint}"


def resource_group_name_problem(value: Any, arg: str = "resource_group_name") -> str | None:
    """Why ``value`` is not a resource group name, or None (Outputs are not checked)."""
    if isinstance(value, pulumi.Output):
        return None
    if isinstance(value, str) and RESOURCE_GROUP_NAME.fullmatch(value) and not value.endswith("."):
        return None
    return (
        f"{arg}={value!r} is not a resource group name: use 1 to 90 letters, digits, '_', '-', '.', '(' "
        "and ')', not ending with '.'"
    )


def placement_problems(args: Mapping[str, Any], what: str, *, resource_group: bool = True) -> list[str]:
    """Return the problems with the two arguments that place ``what`` (e.g. 'the registry') in Azure:
    ``resource_group_name`` (required; not looked at when ``resource_group`` is False) and ``location``
    (required)."""
    problems: list[str] = []
    if resource_group:
        if "resource_group_name" not in args:
            problems.append(f"resource_group_name is required: the resource group of {what}")
        elif problem := resource_group_name_problem(args["resource_group_name"]):
            problems.append(problem)
    if "location" not in args:
        problems.append(f"location is required: the Azure region of {what}, e.g. 'eastus'")
    elif problem := location_problem(args["location"]):
        problems.append(problem)
    return problems


def zones_problems(zones: Any) -> list[str]:
    """Return every problem with a ``zones`` list of availability zones for nodes (None: not given, no zone
    pinning)."""
    if zones is None:
        return []
    if isinstance(zones, str) or not isinstance(zones, Sequence):
        return [f"zones must be a list of availability zones like ['1', '2']; got {zones!r}"]
    if not zones:
        return ["zones=[] must list at least one zone (leave it out to place the nodes without zone pinning)"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        if zone not in ZONES:
            hint = f" (write it as a string: {str(zone)!r})" if str(zone) in ZONES else ""
            problems.append(f"zones[{i}]={zone!r} is not an Azure availability zone; use {one_of(ZONES)}{hint}")
        elif zone in seen:
            problems.append(f"zones[{i}]={zone!r} is listed twice; give each zone once")
        else:
            seen.add(zone)
    return problems


def subnet_id_problem(arg: str, value: Any) -> str | None:
    """Why ``value`` is not a subnet's Azure resource ID, or None (Outputs are not checked)."""
    if isinstance(value, pulumi.Output) or (isinstance(value, str) and SUBNET_ID.fullmatch(value)):
        return None
    return f"{arg}={value!r} is not a subnet resource ID: use {SUBNET_ID_EXAMPLE}"


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
