"""The stack configuration: every ``shardstack:`` key of ``stacks/Pulumi.<stack>.yaml``, typed and checked.

Usage, in the Pulumi program (``infra/`` is on ``sys.path`` when Pulumi runs it)::

    import config

    cfg = config.load(pulumi.Config("shardstack"), stack=pulumi.get_stack())
    cfg.gpu_pools[0].max_nodes

``load`` raises :class:`shardstack.errors.ConfigError` listing every problem at once, one line each,
naming the key as it is written in the YAML, the bad value and what is allowed::

    shardstack:gpu_pools[0].gpu: 'h100' is not a GPU in the catalogue; allowed: 'a10', ...
        (did you mean 'h100-80gb'?)
    shardstack:modle: unknown key (did you mean 'model'?)

The models below are the reference for the keys: each field's description is its documentation.
Values set with ``pulumi config set`` arrive as strings; ``"3"`` and ``"true"`` are read as the number
and the boolean wherever the key expects one.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, LiteralString, Self, cast, get_args, get_origin
from urllib.parse import urlsplit

import pulumi
import pulumi.runtime.config
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    SecretStr,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from shardstack import catalog
from shardstack.errors import ConfigError, did_you_mean, one_of
from shardstack.gpu_pool import MIN_GPU_DISK_SIZE_GIB, TAINT_EFFECTS
from shardstack.k8s.labels import RESERVED_LABEL_PREFIXES
from shardstack.k8s.names import DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_NAME, QUANTITY, SECRET_KEY
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_KUBERNETES_VERSIONS
from shardstack.system_pool import MIN_DISK_SIZE_GIB as MIN_SYSTEM_DISK_SIZE_GIB

__all__ = [
    "DEFAULT_API_KEY_SECRET_KEY",
    "DEFAULT_IMAGE",
    "DEFAULT_KUBERNETES_VERSION",
    "DEFAULT_NAMESPACE",
    "DEMO_MODEL_URI",
    "NAMESPACE",
    "SUPPORTED_KUBERNETES_VERSIONS",
    "ApiKeySecretRef",
    "ClusterConfig",
    "GpuPoolConfig",
    "LocalConfig",
    "LocalWeightsConfig",
    "ModelConfig",
    "NetworkConfig",
    "ServingConfig",
    "StackConfig",
    "SystemPoolConfig",
    "TaintConfig",
    "WeightStoreConfig",
    "format_errors",
    "load",
]

NAMESPACE = "shardstack"
"""The Pulumi config namespace of every key: ``shardstack:cloud``."""

DEFAULT_IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
"""The bundled torch runtime image, at the version this program was released with."""

DEFAULT_NAMESPACE = "shardstack"
"""Kubernetes namespace of the inference deployment."""

DEMO_MODEL_URI = "demo"
"""The ``model.uri`` that selects the small demo model shipped with the runtime."""

DEFAULT_API_KEY_SECRET_KEY = "api-key"
"""Key of the API key in its Secret's data, unless ``serving.api_key_secret.key`` says otherwise."""

Cloud = Literal["local", "aws", "gcp", "azure"]
Dtype = Literal["fp32", "bf16", "fp16"]
ServingMode = Literal["statefulset", "leaderworkerset"]
LocalWeightsStore = Literal["in-cluster-s3", "host-path"]
NatGateways = Literal["one_per_zone", "single"]

# Model URI schemes each cloud can read with the pod's workload identity; https is a public download
# and works everywhere. For local, s3 is the in-cluster object store and file a host path.
_MODEL_URI_SCHEMES: Mapping[str, tuple[str, ...]] = {
    "aws": ("s3", "http", "https"),
    "gcp": ("gs", "http", "https"),
    "azure": ("az", "http", "https"),
    "local": ("s3", "file", "http", "https"),
}
_ALL_MODEL_URI_SCHEMES = ("s3", "gs", "az", "file", "http", "https")

_CLOUD_NAMES: Mapping[str, str] = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
_REGION_EXAMPLES: Mapping[str, str] = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
_REGION_SHAPES: Mapping[str, re.Pattern[str]] = {
    "aws": re.compile(r"[a-z]{2}(-[a-z]+)+-\d+"),  # us-east-1, us-gov-west-1, ap-southeast-5
    "gcp": re.compile(r"[a-z]+-[a-z]+\d+"),  # us-central1, northamerica-northeast2
    "azure": re.compile(r"[a-z][a-z0-9]*"),  # eastus, westus3, switzerlandnorth
}
_AZURE_ZONES = ("1", "2", "3")

_VERSION = re.compile(r"(\d+)\.(\d+)")
_RESERVED_LABEL_PREFIXES = ("kubernetes.io", "k8s.io")

_RULE = "shardstack_rule"
"""Error type of every check written here, as opposed to pydantic's own (``int_parsing`` ...)."""


# --- Problems ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """One problem found by a check of this module, at ``loc`` relative to the model being checked."""

    loc: tuple[str | int, ...]
    message: str
    value: Any = None

    def details(self) -> InitErrorDetails:
        return InitErrorDetails(type=_rule_error(self.message), loc=self.loc, input=self.value)


def _rule_error(message: str) -> PydanticCustomError:
    # The message travels in the context so that braces in it are never read as a template.
    return PydanticCustomError(_RULE, "{message}", {"message": message})


def _raise_problems(title: str, problems: Sequence[_Problem]) -> None:
    """Raise every problem at once as one ValidationError (pydantic prefixes the locations)."""
    if problems:
        raise ValidationError.from_exception_data(title, [p.details() for p in problems])


def _show(value: Any) -> str:
    """Return ``value`` as the user would recognise it from YAML, shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _listing(values: Iterable[object]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


# --- Value types: each checks its own values ---------------------------------------------------------


def _check_dns_label(value: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.fullmatch(value):
        raise _rule_error(
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
        raise _rule_error(f"{value!r} is not a CIDR block like '203.0.113.0/24'") from None
    raise _rule_error(f"{value!r} has host bits set; the network it is in is {network.with_prefixlen!r}")


def _is_whole_internet(cidr: str) -> bool:
    return ipaddress.ip_network(cidr).prefixlen == 0


def _check_not_whole_internet(value: str) -> str:
    if _is_whole_internet(value):
        raise _rule_error(
            f"{value!r} would open the Kubernetes API to the whole internet; list the networks "
            "that need to reach it (e.g. your office or VPN egress), or keep private_endpoint: true"
        )
    return value


def _reject_number(value: Any) -> Any:
    # YAML reads an unquoted 1.30 as the float 1.3: the version the user meant is already lost.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _rule_error(
            f"{_show(value)} is a number; write the version as a quoted string, e.g. "
            f"'{DEFAULT_KUBERNETES_VERSION}' (YAML reads 1.30 as 1.3)"
        )
    return value


def _check_kubernetes_version(value: str) -> str:
    supported = f"supported: {SUPPORTED_KUBERNETES_VERSIONS[0]!r} to {SUPPORTED_KUBERNETES_VERSIONS[-1]!r}"
    if not _VERSION.fullmatch(value):
        patch = " (the cloud picks the patch release)" if re.fullmatch(r"\d+\.\d+\.\d+", value) else ""
        raise _rule_error(f"{value!r} is not a MAJOR.MINOR version like '1.33'{patch}; {supported}")
    if value not in SUPPORTED_KUBERNETES_VERSIONS:
        raise _rule_error(f"{value!r} is not supported; {supported}")
    return value


def _check_unique(values: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    problems: list[_Problem] = []
    for index, value in enumerate(values):
        if value in seen:
            problems.append(_Problem((index,), f"{value!r} is already listed at [{seen[value]}]", value))
        seen.setdefault(value, index)
    _raise_problems("zones", problems)
    return values


def _normalise_gpu(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _check_gpu(value: str) -> str:
    if value not in catalog.GPUS:
        raise _rule_error(
            f"{value!r} is not a GPU in the catalogue; allowed: {_listing(sorted(catalog.GPUS))}"
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
        raise _rule_error(f"{value!r} is not a positive Kubernetes quantity like '2', '500m' or '4Gi'")
    return value


def _check_label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    problem = ""
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        problem = "its prefix is not a DNS subdomain"
    elif len(name) > 63 or not LABEL_NAME.fullmatch(name):
        problem = "its name is not 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
    elif any(prefix == p or prefix.endswith("." + p) for p in _RESERVED_LABEL_PREFIXES):
        problem = "the kubernetes.io and k8s.io prefixes are reserved for Kubernetes"
    elif value.startswith(RESERVED_LABEL_PREFIXES):
        problem = f"keys starting with {', '.join(map(repr, RESERVED_LABEL_PREFIXES))} are set by Shardstack itself"
    if problem:
        raise _rule_error(f"label key {value!r} is not allowed: {problem}")
    return value


def _check_label_value(value: str) -> str:
    if value and (len(value) > 63 or not LABEL_NAME.fullmatch(value)):
        raise _rule_error(
            f"{value!r} is not a label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending alphanumeric"
        )
    return value


def _check_model_uri(value: str) -> str:
    if value == DEMO_MODEL_URI:
        return value
    parts = urlsplit(value)
    if parts.scheme not in _ALL_MODEL_URI_SCHEMES or "://" not in value:
        schemes = ", ".join(f"{s}://" for s in _ALL_MODEL_URI_SCHEMES)
        raise _rule_error(
            f"{value!r} is not a model location; use {DEMO_MODEL_URI!r} or a URI starting {schemes}"
        )
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise _rule_error(f"{value!r} is not an absolute file URI; write file:///path/to/model")
    elif not parts.netloc:
        what = "host" if parts.scheme.startswith("http") else "bucket"
        raise _rule_error(f"{value!r} has no {what}; write {parts.scheme}://<{what}>/<path>")
    return value


def _check_absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise _rule_error(f"{value!r} is not an absolute path like '/srv/shardstack/models'")
    return value


def _check_secret_name(value: str) -> str:
    if len(value) > 253 or not DNS1123_SUBDOMAIN.fullmatch(value):
        raise _rule_error(f"{value!r} is not a Kubernetes Secret name (a lower-case DNS subdomain)")
    return value


def _check_secret_key(value: str) -> str:
    if len(value) > 253 or not SECRET_KEY.fullmatch(value):
        raise _rule_error(f"{value!r} is not a Secret data key: use letters, digits, '-', '_' and '.'")
    return value


def _check_namespace(value: str) -> str:
    _check_dns_label(value)
    if value.startswith("kube-"):
        raise _rule_error(f"{value!r} starts with 'kube-', which is reserved for Kubernetes")
    return value


def _check_image(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise _rule_error(f"{value!r} is not an image reference like {DEFAULT_IMAGE!r}")
    return value


def _check_api_key(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise _rule_error("is empty; set it with `pulumi config set --secret shardstack:api_key`")
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
        raise _rule_error(f"{_show(value)} is not 'auto' or a whole number ≥ 1")
    return number


NonEmptyStr = Annotated[str, Field(min_length=1)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
Cidr = Annotated[str, AfterValidator(_check_cidr)]
ClusterApiCidr = Annotated[str, AfterValidator(_check_cidr), AfterValidator(_check_not_whole_internet)]
KubernetesVersion = Annotated[str, BeforeValidator(_reject_number), AfterValidator(_check_kubernetes_version)]
Zones = Annotated[list[NonEmptyStr], Field(min_length=1), AfterValidator(_check_unique)]
GpuType = Annotated[str, BeforeValidator(_normalise_gpu), AfterValidator(_check_gpu)]
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


# --- Rules across keys, run even when some keys are invalid ------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """Which keys of a section passed their own checks: the rules across keys read only those."""

    given: frozenset[str]
    """Keys the user wrote (the others hold defaults)."""
    invalid: frozenset[str]
    """Keys that failed their own checks (or required keys that are missing): never read these."""
    items: Mapping[str, tuple[_Item, ...]]
    """For each list of sections (``gpu_pools``): every item, each with what passed in it."""
    sections: Mapping[str, _Checked] = field(default_factory=dict)
    """For each invalid key that is a section: what passed in it (its section is partial)."""

    @classmethod
    def of(cls, section: _Section) -> _Checked:
        """Return the record of a section that passed every check."""
        items: dict[str, tuple[_Item, ...]] = {}
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, list) and all(isinstance(v, _Section) for v in value):
                sections = cast(list[_Section], value)
                items[name] = tuple(_Item(i, v, cls.of(v)) for i, v in enumerate(sections))
        return cls(frozenset(section.model_fields_set), frozenset(), items)

    def valid(self, *paths: str) -> bool:
        """Return whether every key in ``paths`` passed; a path reaches into sections: ``model.uri``."""
        return all(self._valid(path) for path in paths)

    def _valid(self, path: str) -> bool:
        name, _, rest = path.partition(".")
        if name not in self.invalid:
            return True
        section = self.sections.get(name)
        return bool(rest) and section is not None and section.valid(rest)


@dataclass(frozen=True)
class _Item:
    """One item of a list of sections, with its index; ``section`` is partial unless ``checked`` is clean."""

    index: int
    section: Any
    checked: _Checked


class _Section(BaseModel):
    """A mapping of keys in the stack config; unknown keys are errors, so that typos are caught.

    Rules that involve more than one key live in ``_rules``. They run after the keys' own checks and,
    when some keys failed, still run on the keys that passed, so that one run reports every problem.
    """

    model_config = ConfigDict(extra="forbid")

    def _rules(self, checked: _Checked) -> list[_Problem]:
        """Return every problem that involves more than one key; read only keys ``checked.valid``."""
        del checked
        return []

    def _resolve_defaults(self) -> None:
        """Fill in defaults that depend on other keys; called once every rule has passed."""

    @model_validator(mode="wrap")
    @classmethod
    def _check_rules(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            section = handler(data)
        except ValidationError as exc:
            if not isinstance(data, Mapping):
                raise
            partial, checked = cls._partial(cast(Mapping[str, Any], data))
            problems = partial._rules(checked)
            if not problems:
                raise
            details = [*(_reraisable(e) for e in exc.errors()), *(p.details() for p in problems)]
            raise ValidationError.from_exception_data(cls.__name__, details) from None
        _raise_problems(cls.__name__, section._rules(_Checked.of(section)))
        section._resolve_defaults()
        return section

    @classmethod
    def _partial(cls, data: Mapping[str, Any]) -> tuple[Self, _Checked]:
        """Check each key of ``data`` on its own; return a section built from the keys that passed."""
        values: dict[str, Any] = {}
        invalid: set[str] = set()
        items: dict[str, tuple[_Item, ...]] = {}
        sections: dict[str, _Checked] = {}
        for name, info in cls.model_fields.items():
            if name not in data:
                if info.is_required():
                    invalid.add(name)
                continue
            raw, item_type = data[name], _section_list_item(info.annotation)
            if item_type is not None and isinstance(raw, list):
                items[name] = tuple(_check_item(item_type, i, v) for i, v in enumerate(cast(list[Any], raw)))
                if not any(item.checked.invalid for item in items[name]):
                    values[name] = [item.section for item in items[name]]
                else:
                    invalid.add(name)
                continue
            try:
                values[name] = getattr(_single_key_model(cls, name).model_validate({name: raw}), name)
            except ValidationError:
                invalid.add(name)
                section_type = _unwrap(info.annotation)
                if (
                    isinstance(raw, Mapping)
                    and isinstance(section_type, type)
                    and issubclass(section_type, _Section)
                ):
                    values[name], sections[name] = section_type._partial(cast(Mapping[str, Any], raw))
        given = frozenset(name for name in data if name in cls.model_fields)
        return cls.model_construct(**values), _Checked(given, frozenset(invalid), items, sections)


def _check_item(item_type: type[_Section], index: int, raw: Any) -> _Item:
    if not isinstance(raw, Mapping):
        checked = _Checked(frozenset(), frozenset(item_type.model_fields), {})
        return _Item(index, item_type.model_construct(), checked)
    try:
        section = item_type.model_validate(raw)
    except ValidationError:
        section, checked = item_type._partial(cast(Mapping[str, Any], raw))
        return _Item(index, section, checked)
    return _Item(index, section, _Checked.of(section))


def _section_list_item(annotation: Any) -> type[_Section] | None:
    """Return ``X`` when ``annotation`` is ``list[X]`` of a section, else None."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, _Section):
            return item
    return None


@cache
def _single_key_model(section: type[BaseModel], name: str) -> type[BaseModel]:
    """Return a model holding only the key ``name`` of ``section``, to check that key on its own."""
    info = section.model_fields[name]
    definition: Any = (info.annotation, info)
    return create_model(f"{section.__name__}_{name}", **{name: definition})


def _reraisable(error: ErrorDetails) -> InitErrorDetails:
    """Turn a reported error back into one that can be raised again, keeping its type and context."""
    # The rendered message becomes the template: it has no placeholders left to fill.
    kind, message = cast(LiteralString, error["type"]), cast(LiteralString, error["msg"])
    return InitErrorDetails(
        type=PydanticCustomError(kind, message, error.get("ctx")), loc=error["loc"], input=error["input"]
    )


def _node_range_problems(section: SystemPoolConfig | GpuPoolConfig, checked: _Checked) -> list[_Problem]:
    if not checked.valid("min_nodes", "max_nodes") or section.max_nodes >= section.min_nodes:
        return []
    message = f"{section.max_nodes} is less than min_nodes {section.min_nodes}; max_nodes must be ≥ min_nodes"
    return [_Problem(("max_nodes",), message, section.max_nodes)]


# --- Sections ----------------------------------------------------------------------------------------


class ClusterConfig(_Section):
    """``shardstack:cluster``: the managed Kubernetes control plane (clouds only)."""

    private_endpoint: bool = Field(
        default=True,
        description="Reach the Kubernetes API only from inside the cluster's network. Default: true.",
    )
    authorized_networks: list[ClusterApiCidr] = Field(
        default_factory=list,
        description=(
            "CIDR blocks allowed to reach the Kubernetes API, e.g. ['203.0.113.0/24']. Required when "
            "private_endpoint is false; 0.0.0.0/0 is refused. Default: none."
        ),
    )

    deployer_principal_type: Literal["User", "ServicePrincipal"] = Field(
        default="User",
        description=(
            "azure only: what runs `pulumi up`, which gets cluster-admin and weight upload rights: 'User' "
            "(`az login` as a person) or 'ServicePrincipal' (CI; sign the Azure CLI in as it too, for the "
            "kubeconfig's kubelogin). Azure refuses a role assignment of the wrong type. Default: 'User'."
        ),
    )

    def _rules(self, checked: _Checked) -> list[_Problem]:
        if not checked.valid("private_endpoint", "authorized_networks"):
            return []
        if self.private_endpoint or self.authorized_networks:
            return []
        message = (
            "is empty, but private_endpoint is false; list the CIDR blocks that may reach the "
            "Kubernetes API, e.g. ['203.0.113.0/24']"
        )
        return [_Problem(("authorized_networks",), message, [])]


class NetworkConfig(_Section):
    """``shardstack:network``: the cluster's private network (clouds only)."""

    nat_gateways: NatGateways = Field(
        default="one_per_zone",
        description=(
            "Outbound internet for the private nodes: 'one_per_zone' (survives a zone outage) or 'single' "
            "(one NAT gateway for every zone, cheaper; a dev setting). On gcp, Cloud NAT is regional and "
            "survives a zone outage either way. Default: 'one_per_zone'."
        ),
    )


class WeightStoreConfig(_Section):
    """``shardstack:weight_store``: who reaches the weight store from outside the cluster (azure only)."""

    allowed_networks: list[ClusterApiCidr] = Field(
        default_factory=list,
        description=(
            "Public CIDR blocks or addresses the storage account's firewall admits besides the cluster's "
            "subnet, e.g. where you push the weights from: ['203.0.113.0/24']. azure only: S3 and GCS "
            "buckets admit callers by their credentials alone. Default: none."
        ),
    )
    allowed_subnet_ids: list[NonEmptyStr] = Field(
        default_factory=list,
        description=(
            "Resource IDs of Azure subnets the storage firewall admits besides the cluster's, e.g. a CI runner's "
            "or a VPN gateway's subnet in the same region (IP rules never match callers in the account's own "
            "region); each needs the Microsoft.Storage service endpoint. azure only. Default: none."
        ),
    )


class SystemPoolConfig(_Section):
    """``shardstack:system_pool``: the CPU nodes that run cluster services (clouds only)."""

    instance_type: NonEmptyStr | None = Field(
        default=None,
        description="Instance/VM type of the system nodes. Default: a small general-purpose type per cloud.",
    )
    min_nodes: int = Field(default=1, ge=1, description="Fewest system nodes. Default: 1.")
    max_nodes: int = Field(default=3, ge=1, description="Most system nodes; ≥ min_nodes. Default: 3.")
    disk_size_gib: int = Field(
        default=50, ge=MIN_SYSTEM_DISK_SIZE_GIB, description="Boot disk size per node, GiB. Default: 50."
    )

    def _rules(self, checked: _Checked) -> list[_Problem]:
        return _node_range_problems(self, checked)


class TaintConfig(_Section):
    """One entry of ``shardstack:gpu_pools[].taints``: a node taint besides the GPU taint every pool has."""

    key: LabelKey = Field(description="Taint key, e.g. 'dedicated'.")
    value: LabelValue = Field(default="", description="Taint value, e.g. 'llm'. Default: empty.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        description=f"One of {', '.join(map(repr, TAINT_EFFECTS))}."
    )


class GpuPoolConfig(_Section):
    """One entry of ``shardstack:gpu_pools``: an autoscaling pool of identical GPU nodes (clouds only)."""

    name: DnsLabel = Field(
        description="Pool name, a DNS-1123 label, unique among the pools. Default: the gpu key."
    )
    gpu: GpuType = Field(
        description=(
            "GPU model, a key of the GPU catalogue (shardstack.catalog.GPUS), e.g. 'l4' or 'h100-80gb'; "
            "it must be offered on the stack's cloud."
        )
    )
    gpus_per_node: int = Field(
        default=1,
        ge=1,
        description=(
            "GPUs per node; one of the counts the catalogue offers for this GPU on this cloud. "
            "Default: 1, or the smallest count offered when the cloud has no 1-GPU machine for it."
        ),
    )
    min_nodes: int = Field(
        default=0, ge=0, description="Fewest nodes; 0 lets the pool scale to zero. Default: 0."
    )
    max_nodes: int = Field(default=1, ge=1, description="Most nodes; ≥ min_nodes. Default: 1.")
    spot: bool = Field(default=False, description="Use spot/preemptible capacity. Default: false.")
    disk_size_gib: int = Field(
        default=200,
        ge=MIN_GPU_DISK_SIZE_GIB,
        description=f"Boot disk size per node, GiB; at least {MIN_GPU_DISK_SIZE_GIB}. Default: 200.",
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Extra Kubernetes labels on the pool's nodes. Default: none."
    )
    taints: list[TaintConfig] = Field(
        default_factory=list,
        description="Taints on the pool's nodes besides nvidia.com/gpu=present:NoSchedule. Default: none.",
    )
    instance_type: NonEmptyStr | None = Field(
        default=None,
        description=(
            "Instance/VM type, to pick another catalogue shape with the same GPUs than the cheapest one. "
            "Default: the cheapest shape the catalogue offers for gpu and gpus_per_node."
        ),
    )
    zones: Zones | None = Field(
        default=None,
        description=(
            "Zones of the region for this pool's nodes, e.g. the zones that have its GPU: GKE node locations "
            "on gcp, availability zones on azure. Not on aws, where pools use the network's subnets (set "
            "shardstack:zones). Default: the stack's zones, else every zone the cluster uses."
        ),
    )
    compact_placement: bool = Field(
        default=False,
        description=(
            "Place the nodes close together for fast traffic between shards on different nodes: a COMPACT "
            "placement policy on gcp, which needs exactly one zone in zones and an A2, A3 or G2 machine "
            "(A100, H100, H200, L4). gcp only. Default: false."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_gpu(cls, data: Any) -> Any:
        # Only a catalogue key is a sensible name; otherwise the missing name is reported as missing.
        if isinstance(data, Mapping) and "name" not in data:
            gpu = _normalise_gpu(cast(Mapping[str, Any], data).get("gpu"))
            if isinstance(gpu, str) and gpu in catalog.GPUS:
                return {**data, "name": gpu}
        return data

    def _rules(self, checked: _Checked) -> list[_Problem]:
        return _node_range_problems(self, checked)


class ModelConfig(_Section):
    """``shardstack:model``: the checkpoint to serve and how to split it."""

    uri: ModelUri = Field(
        default=DEMO_MODEL_URI,
        description=(
            "Where the safetensors checkpoint is: 'demo' (the small model shipped with the runtime), "
            "s3:// on aws, gs:// on gcp, az:// on azure, s3:// (the in-cluster store) or file:// on "
            "local, or http(s):// anywhere. Default: 'demo'."
        ),
    )
    dtype: Dtype = Field(
        default="bf16", description="Weight and compute dtype: fp32, bf16 or fp16. Default: bf16."
    )
    shards: Shards = Field(
        default="auto",
        description=(
            "Number of pipeline shards (pods) per copy of the model, or 'auto' to size them from params, "
            "dtype and the GPU memory. Default: 'auto'."
        ),
    )
    params: float | None = Field(
        default=None,
        gt=0,
        description="Number of model parameters, e.g. 7.0e9; required when shards is 'auto' (not for demo).",
    )
    revision: NonEmptyStr | None = Field(
        default=None, description="Checkpoint revision to load (e.g. a commit or tag). Default: the latest."
    )

    def _rules(self, checked: _Checked) -> list[_Problem]:
        if not checked.valid("shards", "uri", "params"):
            return []
        if self.shards == "auto" and self.uri != DEMO_MODEL_URI and self.params is None:
            message = (
                "is required when shards is 'auto' and uri is not 'demo'; give the parameter count "
                "(e.g. 7.0e9) so the shards can be sized, or set shards"
            )
            return [_Problem(("params",), message, None)]
        return []


class ApiKeySecretRef(_Section):
    """``shardstack:serving.api_key_secret``: an existing Kubernetes Secret holding the API key."""

    name: SecretName = Field(description="Name of the Secret, in the serving namespace.")
    key: SecretKey = Field(
        default=DEFAULT_API_KEY_SECRET_KEY,
        description=f"Key in the Secret's data. Default: {DEFAULT_API_KEY_SECRET_KEY!r}.",
    )


class ServingConfig(_Section):
    """``shardstack:serving``: the inference deployment and its HTTP API."""

    replica_groups: int = Field(
        default=1, ge=1, description="Copies of the model, each a group of `shards` pods. Default: 1."
    )
    public: bool = Field(
        default=False,
        description="Expose the API outside the cluster through a load balancer. Default: false, in-cluster.",
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="CIDR blocks that may reach the API when public; required non-empty when public is true.",
    )
    api_key_secret: ApiKeySecretRef | None = Field(
        default=None,
        description=(
            "An existing Secret holding the API key clients must send. Default: none; then "
            "shardstack:api_key, if set, is stored in a Secret the program creates."
        ),
    )
    image: Image = Field(default=DEFAULT_IMAGE, description=f"Runtime image. Default: {DEFAULT_IMAGE!r}.")
    namespace: Namespace = Field(
        default=DEFAULT_NAMESPACE,
        description=f"Kubernetes namespace of the deployment. Default: {DEFAULT_NAMESPACE!r}.",
    )
    mode: ServingMode = Field(
        default="statefulset",
        description=(
            "How the shard pods are run: 'statefulset' (no extra controller) or 'leaderworkerset' (the "
            "LeaderWorkerSet API, which must be installed). Default: 'statefulset'."
        ),
    )

    def _rules(self, checked: _Checked) -> list[_Problem]:
        if not checked.valid("public", "allowed_cidrs") or not self.public or self.allowed_cidrs:
            return []
        message = (
            "is empty, but public is true; list the CIDR blocks that may reach the API, "
            "e.g. ['203.0.113.0/24']"
        )
        return [_Problem(("allowed_cidrs",), message, [])]


class LocalWeightsConfig(_Section):
    """``shardstack:local.weights``: where a local cluster keeps model weights."""

    store: LocalWeightsStore = Field(
        default="in-cluster-s3",
        description=(
            "'in-cluster-s3' (an S3-compatible store deployed in the cluster; model.uri is s3://) or "
            "'host-path' (a directory on the node; model.uri is file://). Default: 'in-cluster-s3'."
        ),
    )
    host_path: AbsolutePath | None = Field(
        default=None,
        description="Directory on the node holding the weights; required when store is 'host-path'.",
    )
    storage_gib: int = Field(default=20, ge=1, description="Size of the weights volume, GiB. Default: 20.")

    def _rules(self, checked: _Checked) -> list[_Problem]:
        if not checked.valid("store", "host_path"):
            return []
        if self.store == "host-path" and self.host_path is None:
            message = "is required when store is 'host-path', e.g. '/srv/shardstack/models'"
            return [_Problem(("host_path",), message, None)]
        if self.store != "host-path" and self.host_path is not None:
            message = (
                f"{self.host_path!r} is only used when store is 'host-path', but store is {self.store!r}"
            )
            return [_Problem(("host_path",), message, self.host_path)]
        return []


class LocalConfig(_Section):
    """``shardstack:local``: settings for cloud 'local', an existing cluster from your kubeconfig."""

    kube_context: NonEmptyStr | None = Field(
        default=None, description="kubeconfig context to deploy to. Default: the current context."
    )
    weights: LocalWeightsConfig = Field(
        default_factory=LocalWeightsConfig,
        description="Where the weights are kept. Default: the in-cluster S3 store.",
    )
    cpu_per_shard: Quantity = Field(default="2", description="CPU request per shard pod. Default: '2'.")
    memory_per_shard: Quantity = Field(
        default="4Gi", description="Memory request per shard pod. Default: '4Gi'."
    )


class StackConfig(_Section):
    """The whole ``shardstack:`` namespace of a stack: what ``load`` returns."""

    cloud: Cloud = Field(
        description="Where to install: 'local' (an existing cluster), 'aws', 'gcp' or 'azure'."
    )
    region: NonEmptyStr | None = Field(
        default=None,
        description="Cloud region, e.g. 'us-east-1', 'us-central1', 'eastus'; required for clouds only.",
    )
    zones: Zones | None = Field(
        default=None,
        description=(
            "Availability zones of the region to use, unique, e.g. ['us-east-1a', 'us-east-1b'] "
            "(Azure: ['1', '2']): the network's zones on aws; the GPU pools' zones on gcp and azure (unless "
            "a pool sets its own), and the system nodes' on azure. Default: chosen by the cloud component."
        ),
    )
    kubernetes_version: KubernetesVersion = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description=(
            "Kubernetes MAJOR.MINOR version of the managed cluster, quoted; "
            f"{SUPPORTED_KUBERNETES_VERSIONS[0]} to {SUPPORTED_KUBERNETES_VERSIONS[-1]}. "
            f"Default: {DEFAULT_KUBERNETES_VERSION!r}. Clouds only."
        ),
    )
    cluster: ClusterConfig = Field(
        default_factory=ClusterConfig,
        description="The control plane. Default: a private endpoint. Clouds only.",
    )
    network: NetworkConfig = Field(
        default_factory=NetworkConfig, description="The private network. Default: a NAT gateway per zone. Clouds only."
    )
    system_pool: SystemPoolConfig = Field(
        default_factory=SystemPoolConfig, description="The CPU system nodes. Clouds only."
    )
    weight_store: WeightStoreConfig = Field(
        default_factory=WeightStoreConfig, description="Network access to the weight store. azure only."
    )
    gpu_pools: list[GpuPoolConfig] = Field(
        default_factory=list, description="GPU node pools; at least one for clouds, none for local."
    )
    model: ModelConfig = Field(
        default_factory=ModelConfig, description="The model to serve. Default: the demo model."
    )
    serving: ServingConfig = Field(default_factory=ServingConfig, description="The inference deployment.")
    local: LocalConfig = Field(default_factory=LocalConfig, description="Settings for cloud 'local' only.")
    api_key: ApiKey | None = Field(
        default=None,
        description=(
            "API key clients must send, set with `pulumi config set --secret shardstack:api_key`; the "
            "program stores it in a Secret. Wrap it with pulumi.Output.secret(...) before use. Default: none."
        ),
    )

    def _rules(self, checked: _Checked) -> list[_Problem]:
        problems = _pool_name_problems(checked.items.get("gpu_pools", ()))
        if not checked.valid("cloud"):
            return problems
        if self.cloud == "local":
            problems += _local_problems(self, checked)
        else:
            problems += _cloud_problems(self, checked)
        problems += _api_key_problems(self, checked)
        return problems

    def _resolve_defaults(self) -> None:
        if self.cloud != "local":
            for pool in self.gpu_pools:
                pool.gpus_per_node = _gpus_per_node(pool, self.cloud)


# --- Rules of the whole stack ------------------------------------------------------------------------


def _pool_name_problems(pools: Sequence[_Item]) -> list[_Problem]:
    problems: list[_Problem] = []
    first_index: dict[str, int] = {}
    for item in pools:
        if not item.checked.valid("name"):
            continue
        name: str = item.section.name
        if name in first_index:
            message = (
                f"{name!r} is already the name of gpu_pools[{first_index[name]}]; pool names must be unique"
            )
            problems.append(_Problem(("gpu_pools", item.index, "name"), message, name))
        first_index.setdefault(name, item.index)
    return problems


def _local_problems(cfg: StackConfig, checked: _Checked) -> list[_Problem]:
    problems: list[_Problem] = []
    for name in ("region", "zones", "kubernetes_version", "cluster", "network", "system_pool", "weight_store"):
        if name in checked.given:
            value = getattr(cfg, name) if checked.valid(name) else None
            shown = isinstance(value, str | list)
            subject = f"{_show(value)} is given, but this key" if shown else "this key"
            message = (
                f"{subject} is only used with cloud 'aws', 'gcp' or 'azure'; cloud 'local' uses the "
                "existing cluster from your kubeconfig, so remove it"
            )
            problems.append(_Problem((name,), message, value))
    pools = checked.items.get("gpu_pools", ())
    if pools:
        message = (
            f"{len(pools)} pool(s) given, but cloud 'local' uses the existing cluster's nodes; "
            "remove gpu_pools"
        )
        problems.append(_Problem(("gpu_pools",), message, None))
    if checked.valid("model.uri"):
        problems += _model_uri_problems(cfg.model.uri, "local")
    if checked.valid("model.uri", "local.weights.store"):
        uri, store = cfg.model.uri, cfg.local.weights.store
        needed = {"s3": "in-cluster-s3", "file": "host-path"}.get(urlsplit(uri).scheme)
        if needed is not None and needed != store:
            message = (
                f"{uri!r} needs local.weights.store {needed!r}, but store is {store!r}; change one of them"
            )
            problems.append(_Problem(("model", "uri"), message, uri))
    return problems


def _cloud_problems(cfg: StackConfig, checked: _Checked) -> list[_Problem]:
    cloud = cfg.cloud
    if cloud == "local":
        return []
    problems: list[_Problem] = []
    if "local" in checked.given:
        message = f"is only used with cloud 'local'; remove it for cloud {cloud!r}"
        problems.append(_Problem(("local",), message, None))
    if cloud != "azure" and checked.valid("weight_store"):
        for key in ("allowed_networks", "allowed_subnet_ids"):
            if value := getattr(cfg.weight_store, key):
                message = (f"is only used with cloud 'azure', whose storage firewall admits networks; the {cloud} "
                           "bucket admits callers by their credentials alone, so remove it")
                problems.append(_Problem(("weight_store", key), message, value))
    if cloud != "azure" and checked.valid("cluster") and "deployer_principal_type" in cfg.cluster.model_fields_set:
        message = "is only used with cloud 'azure', where role assignments name a principal type; remove it"
        problems.append(_Problem(("cluster", "deployer_principal_type"), message, cfg.cluster.deployer_principal_type))
    if checked.valid("region"):
        problems += _region_problems(cloud, cfg.region, cfg.zones if checked.valid("zones") else None)
    if checked.valid("gpu_pools") and not cfg.gpu_pools:
        message = (
            f"is empty, but cloud {cloud!r} needs at least one GPU pool, e.g. "
            "[{name: l4, gpu: l4, max_nodes: 2}]"
        )
        problems.append(_Problem(("gpu_pools",), message, []))
    stack_zones = cfg.zones if checked.valid("zones") else None
    region = cfg.region if checked.valid("region") and cfg.region else None
    for item in checked.items.get("gpu_pools", ()):
        found = _gpu_offer_problems(item.section, item.checked, cloud)
        found += _pool_placement_problems(item.section, item.checked, cloud, region, stack_zones)
        for problem in found:
            problems.append(_Problem(("gpu_pools", item.index, *problem.loc), problem.message, problem.value))
    if checked.valid("model.uri"):
        problems += _model_uri_problems(cfg.model.uri, cloud)
    if checked.valid("model.shards", "serving.replica_groups", "gpu_pools") and cfg.gpu_pools:
        problems += _capacity_problems(cfg, cloud)
    return problems


def _region_problems(cloud: catalog.Cloud, region: str | None, zones: list[str] | None) -> list[_Problem]:
    example = _REGION_EXAMPLES[cloud]
    if region is None:
        return [_Problem(("region",), f"is required for cloud {cloud!r}, e.g. {example!r}", None)]
    if not _REGION_SHAPES[cloud].fullmatch(region):
        # Azure's display names ("East US") are a common slip for the region name ("eastus").
        squashed = re.sub(r"\s+", "", region).lower()
        hint = f" (did you mean {squashed!r}?)" if _REGION_SHAPES[cloud].fullmatch(squashed) else ""
        message = f"{region!r} is not a region name of {_CLOUD_NAMES[cloud]} like {example!r}{hint}"
        return [_Problem(("region",), message, region)]
    return _zone_problems(cloud, region, zones or [], ("zones",))


def _zone_problems(cloud: catalog.Cloud, region: str, zones: list[str], loc: tuple[str | int, ...]) -> list[_Problem]:
    problems: list[_Problem] = []
    for index, zone in enumerate(zones):
        if cloud == "azure":
            belongs, zone_example = zone in _AZURE_ZONES, "'1', '2' or '3'"
        elif cloud == "aws":
            belongs, zone_example = (
                re.fullmatch(re.escape(region) + "[a-z]", zone) is not None,
                f"'{region}a'",
            )
        else:
            belongs, zone_example = (
                re.fullmatch(re.escape(region) + "-[a-z]", zone) is not None,
                f"'{region}-a'",
            )
        if not belongs:
            message = f"{zone!r} is not a zone of region {region!r}; zones there look like {zone_example}"
            problems.append(_Problem((*loc, index), message, zone))
    return problems


def _gpu_offer_problems(pool: GpuPoolConfig, checked: _Checked, cloud: catalog.Cloud) -> list[_Problem]:
    if not checked.valid("gpu"):
        return []
    counts = catalog.GPUS[pool.gpu].gpu_counts(cloud)
    if not counts:
        offered = sorted(key for key, model in catalog.GPUS.items() if model.offers_on(cloud))
        message = (
            f"{pool.gpu!r} is not offered on {cloud} in the catalogue; GPUs on {cloud}: {_listing(offered)}"
        )
        return [_Problem(("gpu",), message, pool.gpu)]
    given = "gpus_per_node" in checked.given and checked.valid("gpus_per_node")
    if given and pool.gpus_per_node not in counts:
        message = (
            f"{pool.gpus_per_node} is not a node size for {pool.gpu!r} on {cloud}; "
            f"allowed: {_listing(counts)}"
        )
        return [_Problem(("gpus_per_node",), message, pool.gpus_per_node)]
    return []


def _pool_placement_problems(
    pool: GpuPoolConfig, checked: _Checked, cloud: catalog.Cloud, region: str | None, stack_zones: list[str] | None
) -> list[_Problem]:
    problems: list[_Problem] = []
    if pool.zones is not None and checked.valid("zones"):
        if cloud == "aws":
            message = ("is not used on aws: its GPU pools run in the network's private subnets, one per zone of "
                       "shardstack:zones; set the zones there")
            problems.append(_Problem(("zones",), message, pool.zones))
        elif region is not None and _REGION_SHAPES[cloud].fullmatch(region):
            problems += _zone_problems(cloud, region, pool.zones, ("zones",))
    if pool.compact_placement and checked.valid("compact_placement"):
        zones = pool.zones if pool.zones is not None else stack_zones
        if cloud != "gcp":
            message = f"is only supported on gcp (a COMPACT placement policy); remove it for cloud {cloud!r}"
            problems.append(_Problem(("compact_placement",), message, True))
        elif zones is None or len(zones) != 1:
            given = _show(zones) if zones else "not set (so every zone of the cluster)"
            message = (f"needs exactly one zone for the pool, but its zones are {given}; "
                       f"set gpu_pools[].zones to one zone that has the GPU, e.g. ['{region or 'us-central1'}-a']")
            problems.append(_Problem(("compact_placement",), message, True))
    return problems


def _gpus_per_node(pool: GpuPoolConfig, cloud: catalog.Cloud) -> int:
    """Return the pool's GPUs per node, resolving the default against the catalogue."""
    counts = catalog.GPUS[pool.gpu].gpu_counts(cloud)
    if "gpus_per_node" in pool.model_fields_set or not counts or pool.gpus_per_node in counts:
        return pool.gpus_per_node
    return counts[0]


def _model_uri_problems(uri: str, cloud: Cloud) -> list[_Problem]:
    if uri == DEMO_MODEL_URI or urlsplit(uri).scheme in _MODEL_URI_SCHEMES[cloud]:
        return []
    allowed = ", ".join(f"{s}://" for s in _MODEL_URI_SCHEMES[cloud])
    message = f"{uri!r} cannot be read on cloud {cloud!r}; use {DEMO_MODEL_URI!r} or a URI starting {allowed}"
    return [_Problem(("model", "uri"), message, uri)]


def _capacity_problems(cfg: StackConfig, cloud: catalog.Cloud) -> list[_Problem]:
    # Every shard is one pod holding at least one GPU, so this is a lower bound on the GPUs needed.
    shards, replica_groups = cfg.model.shards, cfg.serving.replica_groups
    if shards == "auto":
        return []
    needed = shards * replica_groups
    capacity = sum(pool.max_nodes * _gpus_per_node(pool, cloud) for pool in cfg.gpu_pools)
    if needed <= capacity:
        return []
    message = (
        f"{shards} shards x {replica_groups} replica group(s) need at least {needed} GPUs, but "
        f"gpu_pools hold at most {capacity} (the sum of max_nodes x gpus_per_node); "
        "raise max_nodes or lower shards"
    )
    return [_Problem(("model", "shards"), message, shards)]


def _api_key_problems(cfg: StackConfig, checked: _Checked) -> list[_Problem]:
    if not checked.valid("api_key", "serving.api_key_secret"):
        return []
    problems: list[_Problem] = []
    serving = cfg.serving
    if cfg.api_key is not None and serving.api_key_secret is not None:
        message = (
            f"Secret {serving.api_key_secret.name!r} is given and so is shardstack:api_key; set only one"
        )
        problems.append(_Problem(("serving", "api_key_secret"), message, serving.api_key_secret.name))
    unauthenticated = cfg.api_key is None and serving.api_key_secret is None
    if checked.valid("serving.public", "serving.allowed_cidrs") and serving.public and unauthenticated:
        for index, cidr in enumerate(serving.allowed_cidrs):
            if _is_whole_internet(cidr):
                message = (
                    f"{cidr!r} opens the API to the whole internet without an API key; set one with "
                    "`pulumi config set --secret shardstack:api_key ...` (or serving.api_key_secret), "
                    "or list narrower networks"
                )
                problems.append(_Problem(("serving", "allowed_cidrs", index), message, cidr))
    return problems


# --- Messages ----------------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SECRET_LOCS = {("api_key",)}


def format_errors(error: ValidationError, *, namespace: str = NAMESPACE) -> list[str]:
    """Return one line per problem in ``error``: the key path as written in YAML, the value, what is allowed.

    ``error`` comes from validating a :class:`StackConfig`; its locations are read as stack config keys.
    """
    lines: list[str] = []
    for detail in error.errors():
        line = f"{_key_path(detail['loc'], namespace)}: {_describe(detail)}"
        if line not in lines:
            lines.append(line)
    return lines


def _key_path(loc: tuple[str | int, ...], namespace: str) -> str:
    path = f"{namespace}:"
    first = True
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":  # pydantic's marker for an error in a mapping's key, not its value
            continue
        elif _PLAIN_KEY.fullmatch(part):
            path += part if first else f".{part}"
        else:
            path += f"[{part!r}]"
        first = False
    return path.rstrip(":") if not loc else path


def _describe(detail: ErrorDetails) -> str:
    kind, loc = detail["type"], detail["loc"]
    ctx: dict[str, Any] = detail.get("ctx") or {}
    value = "'********'" if tuple(loc) in _SECRET_LOCS else _show(detail["input"])
    if kind == _RULE:
        return str(ctx.get("message", detail["msg"]))
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    allowed = _literal_values(loc)
    if kind == "missing":
        return "is required" + (f"; {one_of(allowed)}" if allowed else "")
    if kind in ("literal_error", "enum"):
        if allowed:
            hint = did_you_mean(str(detail["input"]), allowed)
            return f"{value} is not allowed; allowed: {_listing(allowed)}{hint}"
        return f"{value} is not allowed; allowed: {ctx.get('expected', '')}"
    simple = {
        "int_type": "is not a whole number",
        "int_parsing": "is not a whole number",
        "int_from_float": "is not a whole number",
        "float_type": "is not a number",
        "float_parsing": "is not a number",
        "bool_type": "is not true or false",
        "bool_parsing": "is not true or false",
        "string_type": "is not a string; quote it",
        "list_type": "is not a list; write a YAML list, e.g. [a, b]",
        "dict_type": "is not a mapping; write key: value pairs",
        "model_type": "is not a mapping; write key: value pairs",
        "model_attributes_type": "is not a mapping; write key: value pairs",
    }
    if kind in simple:
        return f"{value} {simple[kind]}"
    bounds = {
        "greater_than_equal": ("ge", "is less than {0}; must be ≥ {0}"),
        "greater_than": ("gt", "must be greater than {0}"),
        "less_than_equal": ("le", "is more than {0}; must be ≤ {0}"),
        "too_short": ("min_length", "has too few items; give at least {0}"),
        "string_too_short": ("min_length", "is too short; give at least {0} character(s)"),
        "too_long": ("max_length", "has too many items; give at most {0}"),
        "string_too_long": ("max_length", "is too long; give at most {0} character(s)"),
    }
    if kind in bounds:
        key, template = bounds[kind]
        return f"{value} {template.format(ctx.get(key))}"
    if kind == "value_error" and "error" in ctx:
        return f"{value}: {ctx['error']}"
    return f"{value} is not valid here ({kind.replace('_', ' ')})"


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    name = str(loc[-1])
    model = _annotation_at(loc[:-1])
    known = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    hint = did_you_mean(name, known)
    if hint or not known:
        return f"unknown key{hint}"
    return f"unknown key; known keys: {_listing(known)}"


def _literal_values(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    annotation = _annotation_at(loc)
    if get_origin(annotation) is Literal:
        return tuple(str(a) for a in get_args(annotation))
    return ()


def _annotation_at(loc: tuple[str | int, ...]) -> Any:
    """Return the type the stack config expects at ``loc``, or None when the path leaves the models."""
    annotation: Any = StackConfig
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            annotation = get_args(annotation)[0] if get_origin(annotation) is list else None
        elif (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and part in annotation.model_fields
        ):
            annotation = annotation.model_fields[part].annotation
        else:
            return None
    return _unwrap(annotation)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` from a type."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        args = get_args(annotation)
        if type(None) in args and len(args) == 2 and get_origin(annotation) is not Literal:
            annotation = next(a for a in args if a is not type(None))
            continue
        return annotation


# --- Loading -----------------------------------------------------------------------------------------


def load(source: pulumi.Config | Mapping[str, Any], *, stack: str) -> StackConfig:
    """Return the validated stack config, or raise ConfigError listing every problem.

    ``source`` is the program's ``pulumi.Config("shardstack")``, or a mapping of already-parsed values
    keyed without the namespace (``{"cloud": "local", "model": {"uri": "demo"}}``).
    """
    unreadable: dict[str, str] = {}
    if isinstance(source, pulumi.Config):
        raw, unreadable = _read_pulumi_config(source)
        namespace = source.name
    else:
        raw, namespace = dict(source), NAMESPACE
    problems = list(unreadable.values())
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        # An unreadable value stays in as text so that the rules skip its key; its type error says no more.
        keys = tuple(f"{namespace}:{key}" for key in unreadable)
        problems += [line for line in format_errors(exc, namespace=namespace) if not line.startswith(keys)]
        raise ConfigError(stack, problems) from None
    if problems:
        raise ConfigError(stack, problems)
    return config


def _read_pulumi_config(config: pulumi.Config) -> tuple[dict[str, Any], dict[str, str]]:
    """Return every key of ``config``'s namespace, parsed, and a problem line per unreadable key.

    ``pulumi.Config`` can only fetch a key by name, so a misspelled key would go unnoticed. The SDK keeps
    the whole map of the stack's config, which the language host passes to the program in the
    ``PULUMI_CONFIG`` environment variable (and tests and providers set in ``runtime.config.CONFIG``):
    listing its keys is the only way to see every key the user wrote. Keys given only as individual
    ``PULUMI_CONFIG_<KEY>`` variables are read when asked for but cannot be listed.
    """
    prefix = f"{config.name}:"
    names = {*pulumi.runtime.config.get_config_env(), *pulumi.runtime.config.CONFIG.get()}
    raw: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for full_key in sorted(name for name in names if name.startswith(prefix)):
        key = full_key.removeprefix(prefix)
        value: Any = config.get(key)
        # Structured values (mappings, lists) arrive as JSON text; scalars arrive as plain text.
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                reason = f"{exc.msg} at character {exc.pos}"
                unreadable[key] = f"{full_key}: {_show(value)} is not valid JSON ({reason})"
        raw[key] = value
    return raw, unreadable
