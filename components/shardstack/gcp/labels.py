"""The GCP labels every Shardstack GCP resource carries, and the checks on the labels a caller adds."""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from shardstack.specs.kinds import Worded

COMPONENT_LABEL = "shardstack-component"
"""Set on every labelled resource to the name of the component that made it."""

MAX_LABELS = 64
"""Labels one GCP resource may carry."""
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def label_problems(labels: Any, arg: str = "labels", reserved: Iterable[str] = (COMPONENT_LABEL,)) -> list[str]:
    """Every problem with caller GCP ``labels`` (given as ``arg``), naming the key; ``reserved`` keys are ours."""
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [f"{arg} must be a mapping of GCP label keys to values; got {labels!r}"]
    reserved = tuple(reserved)
    problems: list[str] = []
    if len(labels) + len(reserved) > MAX_LABELS:
        problems.append(
            f"{arg} has {len(labels)} entries; GCP allows {MAX_LABELS} labels per resource and "
            f"Shardstack sets {len(reserved)}, so give at most {MAX_LABELS - len(reserved)}"
        )
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            problems.append(
                f"{arg} key {key!r} is not a GCP label key: use 1 to 63 lowercase letters, digits, "
                "'_' and '-', starting with a letter"
            )
        elif key.startswith("goog"):
            problems.append(f"{arg} key {key!r} starts with 'goog', which Google reserves for its own labels")
        elif key in reserved:
            problems.append(f"{arg} key {key!r} is set by Shardstack itself; choose another key")
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            problems.append(
                f"{arg}[{key!r}]={value!r} is not a GCP label value: use at most 63 lowercase "
                "letters, digits, '_' and '-'"
            )
    return problems


def component_labels(name: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's labels plus the component's own."""
    return {**dict(labels or {}), COMPONENT_LABEL: name}


GCP_LABELS = Worded(
    "Mapping[str, str]",
    "a mapping of GCP label keys to values",
    # Worded by label_problems, which GcpInstallation's own labels share.
    lambda name, value: label_problems(value, name),
)
"""The kind of a labels argument of a GCP component: labels a caller adds (``shardstack-component`` is ours)."""
