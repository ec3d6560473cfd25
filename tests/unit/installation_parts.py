"""What the AWS, GCP and Azure installation tests read from a planned graph, and the drift check of their parts."""

from __future__ import annotations

import typing
from collections.abc import Set as AbstractSet
from typing import Any

import pulumi

from shardstack.errors import ArgumentError
from shardstack.testing import Graph, Resource, run_program, run_refused

SHARDED_INFERENCE = "shardstack:k8s:ShardedInference"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def child_of(graph: Graph, type_token: str, parent_type: str) -> Resource:
    """The one resource of ``type_token`` whose parent is the one ``parent_type`` component."""
    (found,) = [r for r in graph.of_type(type_token) if r.parent == graph.one(parent_type).urn]
    return found


def pod_template(graph: Graph) -> dict[str, Any]:
    """The pod template of the one StatefulSet (a single replica group)."""
    (statefulset,) = graph.of_type(STATEFULSET)
    return statefulset.inputs["spec"]["template"]


def pod_spec(graph: Graph) -> dict[str, Any]:
    return pod_template(graph)["spec"]


def env(graph: Graph) -> dict[str, Any]:
    """The ranks' environment: plain values, or the valueFrom reference."""
    (container,) = pod_spec(graph)["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def skips_await(graph: Graph) -> bool:
    """Whether `pulumi up` returns without waiting for the ranks to be ready."""
    (statefulset,) = graph.of_type(STATEFULSET)
    return (statefulset.inputs["metadata"].get("annotations") or {}).get("pulumi.com/skipAwait") == "true"


def tolerates(tolerations: list[dict[str, Any]], key: str, value: str | None, effect: str) -> bool:
    """Whether a pod with ``tolerations`` may run on a node tainted ``key=value:effect``."""
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", effect):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", key):
            return True
        if toleration.get("key") == key and toleration.get("value") == value:
            return True
    return False


def _strip(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Required else annotation


def _fields(typed_dict: Any) -> dict[str, Any]:
    # typing.get_type_hints cannot resolve pulumi.Input's forward references; __annotations__ holds the
    # same objects (inherited fields included).
    return {key: _strip(value) for key, value in typed_dict.__annotations__.items()}


def assert_part_matches_component(
    part: Any,
    component: Any,
    wired: AbstractSet[str],
    added: AbstractSet[str] = frozenset(),
    defaulted: AbstractSet[str] = frozenset(),
) -> None:
    """An installation's part arguments are the component's arguments minus what the installation wires.

    ``added``: keys only the part has (a pool's name); ``defaulted``: required by the component, optional in
    the part because the installation supplies a default (a weight store's location).
    """
    mine, theirs = _fields(part), _fields(component)
    assert set(mine) == (set(theirs) - wired) | added
    assert {k: v for k, v in mine.items() if k not in added} == {k: v for k, v in theirs.items() if k not in wired}
    assert part.__required_keys__ == (component.__required_keys__ - wired - defaulted) | added


OUTPUTS = (
    "endpoint",
    "bucket_uri",
    "model_uri",
    "registry_url",
    "cluster_name",
    "kubeconfig",
    "gpu_usd_per_hour_min",
    "gpu_usd_per_hour_max",
)
"""The outputs every cloud's installation has."""


def render_installation(
    installation: Any, name: str, args: dict[str, Any], extra_outputs: tuple[str, ...] = ()
) -> Graph:
    """Run an installation and export its outputs, so that graph.outputs holds their values."""

    def program() -> None:
        install = installation(name, args)
        for output in (*OUTPUTS, *extra_outputs):
            pulumi.export(output, getattr(install, output))

    return run_program(program)


def refused_installation(installation: Any, name: str, args: dict[str, Any]) -> ArgumentError:
    """The ArgumentError an installation raises before it registers anything."""
    error = run_refused(lambda: installation(name, args), ArgumentError)
    assert error.what == f"invalid arguments for {installation.__name__} {name!r}"
    return error
