"""Checks for the Kubernetes names, labels and quantities a component's arguments end up in.

Each check returns ``None`` when the value is fine, or one problem line that names the argument,
shows the bad value and says what is allowed, ready for :class:`shardstack.errors.ArgumentError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# RFC 1123 label: namespaces, most object names.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# RFC 1035 label: Service names (must start with a letter).
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")

MAX_LABEL_LENGTH = 63
MAX_SUBDOMAIN_LENGTH = 253


def dns_label_problem(arg: str, value: Any, *, max_length: int = MAX_LABEL_LENGTH) -> str | None:
    """Check an RFC 1123 label (a namespace, a Secret's object name part)."""
    if not isinstance(value, str) or not DNS1123_LABEL.match(value) or len(value) > max_length:
        return (
            f"{arg}={value!r} is not a valid Kubernetes name: use at most {max_length} lowercase letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return None


def service_name_problem(arg: str, value: Any, *, max_length: int = MAX_LABEL_LENGTH) -> str | None:
    """Check an RFC 1035 label, the stricter form Service names (and so rank DNS names) need."""
    if not isinstance(value, str) or not DNS1035_LABEL.match(value) or len(value) > max_length:
        return (
            f"{arg}={value!r} is not a valid name: use at most {max_length} lowercase letters, digits and "
            "'-', starting with a letter and ending with a letter or digit (it becomes part of DNS names)"
        )
    return None


def subdomain_problem(arg: str, value: Any) -> str | None:
    """Check an RFC 1123 subdomain (Secret names, storage class names)."""
    if not isinstance(value, str) or not DNS1123_SUBDOMAIN.match(value) or len(value) > MAX_SUBDOMAIN_LENGTH:
        return (
            f"{arg}={value!r} is not a valid Kubernetes object name: use lowercase letters, digits, '-' "
            "and '.', starting and ending with a letter or digit"
        )
    return None


def qualified_name_problem(arg: str, value: Any) -> str | None:
    """Check a label key or resource name such as ``nvidia.com/gpu`` (optional DNS prefix + name)."""
    if not isinstance(value, str) or not value:
        return f"{arg}={value!r} is not a valid key: use [prefix/]name, e.g. 'example.com/gpu'"
    prefix, _, name = value.rpartition("/")
    if (prefix and subdomain_problem(arg, prefix)) or not LABEL_NAME.match(name) or len(name) > MAX_LABEL_LENGTH:
        return (
            f"{arg}={value!r} is not a valid key: use [prefix/]name where prefix is a DNS subdomain and "
            "name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def label_value_problem(arg: str, value: Any) -> str | None:
    """Check a label value: at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends."""
    if not isinstance(value, str) or not LABEL_VALUE.match(value) or len(value) > MAX_LABEL_LENGTH:
        return (
            f"{arg}={value!r} is not a valid label value: use at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_map_problems(arg: str, value: Any, *, reserved_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Check a ``{label key: label value}`` mapping (node selectors, extra labels, namespace selectors)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [f"{arg} must be a mapping of label keys to values; got {value!r}"]
    problems: list[str] = []
    for key, item in value.items():
        key_problem = qualified_name_problem(f"{arg} key", key)
        if key_problem:
            problems.append(key_problem)
        elif any(str(key).startswith(p) for p in reserved_prefixes):
            problems.append(
                f"{arg} key {key!r} is set by Shardstack itself (keys starting with "
                f"{', '.join(repr(p) for p in reserved_prefixes)}); choose another key"
            )
        value_problem = label_value_problem(f"{arg}[{key!r}]", item)
        if value_problem:
            problems.append(value_problem)
    return problems


def env_name_problem(arg: str, value: Any) -> str | None:
    """Check an environment variable name as Kubernetes accepts it."""
    if not isinstance(value, str) or not ENV_NAME.match(value):
        return (
            f"{arg} has an invalid environment variable name {value!r}: use letters, digits, '_', '-' "
            "or '.', not starting with a digit"
        )
    return None


def secret_key_problem(arg: str, value: Any) -> str | None:
    """Check a key inside a Secret (also a file name when the Secret is mounted)."""
    if not isinstance(value, str) or not SECRET_KEY.match(value) or len(value) > MAX_SUBDOMAIN_LENGTH:
        return f"{arg}={value!r} is not a valid Secret key: use letters, digits, '-', '_' or '.'"
    return None


def int_problem(arg: str, value: Any, *, minimum: int, maximum: int | None = None) -> str | None:
    """Check a plain integer within bounds (``True``/``False`` are not integers here)."""
    in_range = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if in_range and (maximum is None or value <= maximum):
        return None
    bounds = f"an integer ≥ {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    return f"{arg} must be {bounds}; got {value!r}"


def bool_problem(arg: str, value: Any) -> str | None:
    """Check a plain boolean."""
    if not isinstance(value, bool):
        return f"{arg} must be True or False; got {value!r}"
    return None
