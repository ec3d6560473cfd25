"""Tolerations as component arguments: their shape and their checks (GpuEnablement and ShardedInference take them)."""

# No `from __future__ import annotations` here: Toleration is a component argument, and Pulumi's
# ComponentProvider reads its annotations at run time to infer the package schema.

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi_kubernetes as k8s

from shardstack.errors import did_you_mean, one_of
from shardstack.k8s import names

TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class Toleration(TypedDict, total=False):
    """A toleration on pods, as Kubernetes spells it."""

    key: str
    """Taint key; empty with operator 'Exists' tolerates every taint."""
    operator: str
    """'Exists' or 'Equal'. Default: 'Equal'."""
    value: str
    """Taint value, for operator 'Equal'."""
    effect: str
    """'NoSchedule', 'PreferNoSchedule' or 'NoExecute'; empty matches every effect."""


def toleration_problems(tolerations: Any) -> list[str]:
    """Every problem with a ``tolerations`` argument, naming the entry."""
    if tolerations is None:
        return []
    if isinstance(tolerations, str | Mapping) or not isinstance(tolerations, Sequence):
        return [f"tolerations must be a list of tolerations; got {tolerations!r}"]
    problems: list[str] = []
    for i, toleration in enumerate(tolerations):
        arg = f"tolerations[{i}]"
        if not isinstance(toleration, Mapping):
            problems.append(f"{arg} must be a mapping with key/operator/value/effect; got {toleration!r}")
            continue
        for field in sorted(set(toleration) - set(Toleration.__annotations__)):
            problems.append(
                f"{arg} has unknown field {field!r}{did_you_mean(field, Toleration.__annotations__)}"
            )
        operator = toleration.get("operator", "Equal")
        if operator not in TOLERATION_OPERATORS:
            problems.append(f"{arg}['operator']={operator!r} must be {one_of(TOLERATION_OPERATORS)}")
        effect = toleration.get("effect", "")
        if effect and effect not in TAINT_EFFECTS:
            problems.append(
                f"{arg}['effect']={effect!r} must be {one_of(TAINT_EFFECTS)}"
                f"{did_you_mean(str(effect), TAINT_EFFECTS)}"
            )
        if operator == "Exists" and toleration.get("value"):
            problems.append(f"{arg} has operator 'Exists' and value {toleration['value']!r}: drop the value")
        if toleration.get("key"):
            problem = names.qualified_name_problem(f"{arg}['key']", toleration["key"])
            if problem:
                problems.append(problem)
        elif operator != "Exists":
            problems.append(f"{arg} has no key: a toleration without a key needs operator 'Exists'")
    return problems


def toleration_args(toleration: Toleration) -> k8s.core.v1.TolerationArgs:
    """A checked toleration as a pod spec's entry; empty fields are left out, as Kubernetes does."""
    return k8s.core.v1.TolerationArgs(
        key=toleration.get("key") or None,
        operator=toleration.get("operator", "Equal"),
        value=toleration.get("value") or None,
        effect=toleration.get("effect") or None,
    )
