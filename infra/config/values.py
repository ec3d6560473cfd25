"""The stack config's value types (a CIDR block, a DNS label, a Kubernetes version, ...): each checks its own values."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    SecretStr,
)

from shardstack import catalog
from shardstack.errors import did_you_mean
from shardstack.k8s.labels import RESERVED_LABEL_PREFIXES
from shardstack.k8s.names import DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_NAME, QUANTITY, SECRET_KEY
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_KUBERNETES_VERSIONS
from shardstack.specs.problem import show

from .defaults import ALL_MODEL_URI_SCHEMES, DEFAULT_IMAGE, DEMO_MODEL_URI, KUBERNETES_LABEL_PREFIXES, VERSION
from .problems import Problem, listing, raise_problems, rule_error

# --- Value types: each checks its own values ---------------------------------------------------------


def _check_dns_label(value: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.fullmatch(value):
        raise rule_error(
            f"{value!r} is not a DNS-1123 label: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _check_cidr(value: str) -> str:
    try:
        return ipaddress.ip_network(value).with_prefixlen
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise rule_error(f"{value!r} is not a CIDR block like '203.0.113.0/24'") from None
    raise rule_error(f"{value!r} has host bits set; the network it is in is {network.with_prefixlen!r}")


def is_whole_internet(cidr: str) -> bool:
    return ipaddress.ip_network(cidr).prefixlen == 0


def _check_not_whole_internet(value: str) -> str:
    if is_whole_internet(value):
        raise rule_error(
            f"{value!r} would open the Kubernetes API to the whole internet; list the networks "
            "that need to reach it (e.g. your office or VPN egress), or keep private_endpoint: true"
        )
    return value


def _reject_number(value: Any) -> Any:
    # YAML reads an unquoted 1.30 as the float 1.3: the version the user meant is already lost.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise rule_error(
            f"{show(value)} is a number; write the version as a quoted string, e.g. "
            f"'{DEFAULT_KUBERNETES_VERSION}' (YAML reads 1.30 as 1.3)"
        )
    return value


def _check_kubernetes_version(value: str) -> str:
    supported = f"supported: {SUPPORTED_KUBERNETES_VERSIONS[0]!r} to {SUPPORTED_KUBERNETES_VERSIONS[-1]!r}"
    if not VERSION.fullmatch(value):
        patch = " (the cloud picks the patch release)" if re.fullmatch(r"\d+\.\d+\.\d+", value) else ""
        raise rule_error(f"{value!r} is not a MAJOR.MINOR version like '1.33'{patch}; {supported}")
    if value not in SUPPORTED_KUBERNETES_VERSIONS:
        raise rule_error(f"{value!r} is not supported; {supported}")
    return value


def _check_unique(values: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for index, value in enumerate(values):
        if value in seen:
            problems.append(Problem((index,), f"{value!r} is already listed at [{seen[value]}]", value))
        seen.setdefault(value, index)
    raise_problems("zones", problems)
    return values


def normalise_gpu(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _check_gpu(value: str) -> str:
    if value not in catalog.GPUS:
        raise rule_error(
            f"{value!r} is not a GPU in the catalogue; allowed: {listing(sorted(catalog.GPUS))}"
            f"{did_you_mean(value, catalog.GPUS)}"
        )
    return value


def _number_to_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _check_quantity(value: str) -> str:
    match = QUANTITY.fullmatch(value)
    if match is None or float(match.group(1)) == 0:
        raise rule_error(f"{value!r} is not a positive Kubernetes quantity like '2', '500m' or '4Gi'")
    return value


def _check_label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    problem = ""
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        problem = "its prefix is not a DNS subdomain"
    elif len(name) > 63 or not LABEL_NAME.fullmatch(name):
        problem = "its name is not 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
    elif any(prefix == p or prefix.endswith("." + p) for p in KUBERNETES_LABEL_PREFIXES):
        problem = "the kubernetes.io and k8s.io prefixes are reserved for Kubernetes"
    elif value.startswith(RESERVED_LABEL_PREFIXES):
        problem = f"keys starting with {', '.join(map(repr, RESERVED_LABEL_PREFIXES))} are set by Shardstack itself"
    if problem:
        raise rule_error(f"label key {value!r} is not allowed: {problem}")
    return value


def _check_label_value(value: str) -> str:
    if value and (len(value) > 63 or not LABEL_NAME.fullmatch(value)):
        raise rule_error(
            f"{value!r} is not a label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending alphanumeric"
        )
    return value


def _check_model_uri(value: str) -> str:
    if value == DEMO_MODEL_URI:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ALL_MODEL_URI_SCHEMES or "://" not in value:
        schemes = ", ".join(f"{s}://" for s in ALL_MODEL_URI_SCHEMES)
        raise rule_error(f"{value!r} is not a model location; use {DEMO_MODEL_URI!r} or a URI starting {schemes}")
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise rule_error(f"{value!r} is not an absolute file URI; write file:///path/to/model")
    elif not parts.netloc:
        what = "host" if parts.scheme.startswith("http") else "bucket"
        raise rule_error(f"{value!r} has no {what}; write {parts.scheme}://<{what}>/<path>")
    return value


def _check_absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise rule_error(f"{value!r} is not an absolute path like '/srv/shardstack/models'")
    return value


def _check_secret_name(value: str) -> str:
    if len(value) > 253 or not DNS1123_SUBDOMAIN.fullmatch(value):
        raise rule_error(f"{value!r} is not a Kubernetes Secret name (a lower-case DNS subdomain)")
    return value


def _check_secret_key(value: str) -> str:
    if len(value) > 253 or not SECRET_KEY.fullmatch(value):
        raise rule_error(f"{value!r} is not a Secret data key: use letters, digits, '-', '_' and '.'")
    return value


def _check_namespace(value: str) -> str:
    _check_dns_label(value)
    if value.startswith("kube-"):
        raise rule_error(f"{value!r} starts with 'kube-', which is reserved for Kubernetes")
    return value


def _check_image(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise rule_error(f"{value!r} is not an image reference like {DEFAULT_IMAGE!r}")
    return value


def _check_api_key(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise rule_error("is empty; set it with `pulumi config set --secret shardstack:api_key`")
    return value


def _parse_shards(value: Any) -> Literal["auto"] | int:
    # A plain validator, so that one message covers both forms instead of pydantic's two.
    if value == "auto":
        return "auto"
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < 1:
        raise rule_error(f"{show(value)} is not 'auto' or a whole number ≥ 1")
    return number


NonEmptyStr = Annotated[str, Field(min_length=1)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
Cidr = Annotated[str, AfterValidator(_check_cidr)]
ClusterApiCidr = Annotated[str, AfterValidator(_check_cidr), AfterValidator(_check_not_whole_internet)]
KubernetesVersion = Annotated[str, BeforeValidator(_reject_number), AfterValidator(_check_kubernetes_version)]
Zones = Annotated[list[NonEmptyStr], Field(min_length=1), AfterValidator(_check_unique)]
GpuType = Annotated[str, BeforeValidator(normalise_gpu), AfterValidator(_check_gpu)]
Quantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_check_quantity)]
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]
ModelUri = Annotated[str, AfterValidator(_check_model_uri)]
Shards = Annotated[Literal["auto"] | int, PlainValidator(_parse_shards, json_schema_input_type=str | int)]
AbsolutePath = Annotated[str, AfterValidator(_check_absolute_path)]
SecretName = Annotated[str, AfterValidator(_check_secret_name)]
SecretKey = Annotated[str, AfterValidator(_check_secret_key)]
Namespace = Annotated[str, AfterValidator(_check_namespace)]
Image = Annotated[str, AfterValidator(_check_image)]
ApiKey = Annotated[SecretStr, AfterValidator(_check_api_key)]
