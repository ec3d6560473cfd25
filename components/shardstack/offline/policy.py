"""Run a CrossGuard policy pack (``pulumi-policy``) against a recorded graph, offline, as the engine would.

Usage::

    pack = load_pack(Path("policy"))                      # the pack's own __main__.py, run without serving it
    violations = check(pack, plan.graph, config={"all": "advisory", "gpu-pools-bounded": {"maxNodes": 16}})
    mandatory = [v for v in violations if v.level == "mandatory"]

The adapter builds the policy SDK's own validation arguments from the graph: each resource's inputs (the engine's
property names) behind the SDK's unknown-checking proxy, its options and parent; a stack policy gets every resource
with its parent and dependencies linked (and, like the resource policies, its inputs: the engine gives it outputs,
which a plan only has from its fakes). A value the plan could not know (``<known after apply>``) is the SDK's
unknown: a policy reading one is not run for that resource and says so, as ``pulumi preview`` does. Each policy's
config is reconciled as the engine does: the schema's defaults, then the pack's ``initial_config``, then the
user's (``"all"`` sets every level), checked against the policy's JSON schema.
"""

from __future__ import annotations

import asyncio
import inspect
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardstack.errors import InputError
from shardstack.offline.graph import Graph, Resource
from shardstack.offline.values import SECRET, UNKNOWN

__all__ = ["LEVELS", "LoadedPack", "Violation", "check", "load_pack"]

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
"""CrossGuard's enforcement levels."""


@dataclass(frozen=True)
class Violation:
    """One policy violation: the policy, its enforcement level, the message and the resource (None: the stack)."""

    policy: str
    level: str
    message: str
    urn: str | None

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy}: {self.message}"


@dataclass
class LoadedPack:
    """What a pack's ``PolicyPack(...)`` call was given."""

    name: str
    policies: list[Any]
    enforcement_level: str = "advisory"
    initial_config: Mapping[str, Any] = field(default_factory=dict)


class _Captured(Exception):
    def __init__(self, pack: LoadedPack) -> None:
        self.pack = pack


def load_pack(directory: Path) -> LoadedPack:
    """Run ``directory/__main__.py`` as the policy host does, capturing its ``PolicyPack(...)`` instead of serving it.

    ``PolicyPack()`` starts the analyzer's gRPC server and blocks; here it records its arguments and returns.
    """
    try:
        import pulumi_policy
        import pulumi_policy.policy
    except ImportError:
        raise InputError(
            "cannot run a policy pack", ["--policy: it needs the policy SDK: pip install --no-deps pulumi-policy"]
        ) from None

    main = directory / "__main__.py"
    if not main.is_file():
        raise InputError(f"cannot load the policy pack {directory}", [f"--policy: {directory} has no __main__.py"])

    def capture(name: str, policies: list[Any], enforcement_level: Any = None, initial_config: Any = None, **_: Any):
        level = getattr(enforcement_level, "value", enforcement_level) or "advisory"
        raise _Captured(LoadedPack(name, list(policies), level, dict(initial_config or {})))

    real = pulumi_policy.PolicyPack, pulumi_policy.policy.PolicyPack
    pulumi_policy.PolicyPack = pulumi_policy.policy.PolicyPack = capture  # type: ignore[assignment,misc]
    sys.path.insert(0, str(directory))
    try:
        runpy.run_path(str(main), run_name="__main__")
    except _Captured as captured:
        return captured.pack
    finally:
        sys.path.remove(str(directory))
        pulumi_policy.PolicyPack, pulumi_policy.policy.PolicyPack = real
    raise InputError(f"cannot load the policy pack {directory}", [f"--policy: {main} made no PolicyPack"])


def _level(value: Any) -> str:
    return str(getattr(value, "value", value))


def reconcile(pack: LoadedPack, user: Mapping[str, Any] | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each policy's enforcement level and config, as the engine works them out; a bad entry raises InputError.

    Stricter than the engine in one way: a key that names no policy of the pack is refused (the engine ignores
    it), so that a misspelt policy name is not silently left unconfigured.
    """
    import jsonschema

    names = {policy.name for policy in pack.policies}
    problems = [
        f"{key}: no such policy in the pack {pack.name!r} (it has: {', '.join(sorted(names))})"
        for key in (user or {})
        if key != "all" and key not in names
    ]
    settled: dict[str, tuple[str, dict[str, Any]]] = {}
    for policy in pack.policies:
        schema = getattr(policy.config_schema, "properties", None) or {}
        level = _level(policy.enforcement_level or pack.enforcement_level)
        config = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        for layer in (pack.initial_config, user or {}):
            for key in ("all", policy.name):
                entry = layer.get(key)
                if isinstance(entry, Mapping):
                    level = _level(entry.get("enforcementLevel", level))
                    if key == policy.name:
                        config.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
                elif entry is not None:  # a level alone: "advisory", or the SDK's EnforcementLevel in initial_config
                    level = _level(entry)
        if level not in LEVELS:
            problems.append(f"{policy.name}: enforcement level {level!r}; allowed: {', '.join(LEVELS)}")
        required = getattr(policy.config_schema, "required", None) or []
        try:
            jsonschema.validate(config, {"type": "object", "properties": schema, "required": required})
        except jsonschema.ValidationError as error:
            where = ".".join(str(p) for p in error.absolute_path) or "(config)"
            problems.append(f"{policy.name}.{where}: {error.message}")
        settled[policy.name] = (level, config)
    if problems:
        raise InputError(f"invalid policy config for the pack {pack.name!r}", problems)
    return settled


def _sdk_values(value: Any) -> Any:
    """Recorded values as the analyzer receives them: unknowns as the SDK's sentinel, secrets as a placeholder."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    if value == UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if value == SECRET:
        return SECRET  # the plan never holds a secret's plaintext; the engine would unwrap it
    if isinstance(value, Mapping):
        return {key: _sdk_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sdk_values(item) for item in value]
    return value


def _options(resource: Resource) -> Any:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _run(validate: Any, args: Any, report: Any) -> str | None:
    """Run one validation; a value unknown in the plan stops it, as in the engine: the reason, else None. A policy
    that calls ``args.not_applicable()`` simply ends, as the engine records it (not a violation)."""
    from pulumi_policy.policy import _NotApplicableError
    from pulumi_policy.proxy import UnknownValueError

    try:
        result = validate(args, report)
        if inspect.isawaitable(result):
            asyncio.run(result)  # type: ignore[arg-type]
    except UnknownValueError as error:
        return f"can't be checked before apply: {error}"
    except _NotApplicableError:
        pass
    return None


def check(pack: LoadedPack, graph: Graph, config: Mapping[str, Any] | None = None) -> list[Violation]:
    """Every violation of ``pack``'s policies in ``graph``, with each policy's reconciled level and config."""
    from pulumi_policy import PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs
    from pulumi_policy.proxy import unknown_checking_proxy

    settled = reconcile(pack, config)
    props = {r.urn: unknown_checking_proxy(_sdk_values(r.inputs)) for r in graph}
    stack: dict[str, Any] = {}
    for resource in graph:  # registration order: a parent and every dependency come first
        stack[resource.urn] = PolicyResource(
            resource.type, props[resource.urn], resource.urn, resource.name, _options(resource), None,
            stack.get(resource.parent or ""), [stack[u] for u in resource.dependencies if u in stack], {},
        )  # fmt: skip
    violations: list[Violation] = []
    for policy in pack.policies:
        level, policy_config = settled[policy.name]
        if level == "disabled":
            continue
        level = "mandatory" if level == "remediate" else level  # what the engine reports a remediation as

        def reporter(owner: str | None, name: str = policy.name, level: str = level) -> Any:
            """The report_violation callback: a resource policy's violations are always its resource's."""

            def report(message: str, urn: str | None = None) -> None:
                violations.append(Violation(name, level, message, owner or urn))

            return report

        if isinstance(policy, ResourceValidationPolicy):
            for resource in graph:
                args = ResourceValidationArgs(
                    resource.type, props[resource.urn], resource.urn, resource.name, _options(resource), None,
                    policy_config,
                )  # fmt: skip
                if skipped := _run(policy.validate, args, reporter(resource.urn)):
                    violations.append(Violation(policy.name, "advisory", f"{resource.name}: {skipped}", resource.urn))
        else:
            stack_args = StackValidationArgs(list(stack.values()), policy_config)
            if skipped := _run(policy.validate, stack_args, reporter(None)):
                violations.append(Violation(policy.name, "advisory", skipped, None))
    return violations
