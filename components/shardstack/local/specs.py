"""LocalInstallation's arguments, declared once (see :mod:`shardstack.specs`): where a local cluster keeps the
weights, and the inference. The stack config's ``local.weights`` takes the weights over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from shardstack.k8s.specs import LOCAL_WEIGHTS_STORE
from shardstack.specs.installation import serving_args
from shardstack.specs.kinds import Choice, Record, Text
from shardstack.specs.problem import Problem
from shardstack.specs.render import ArgsModule
from shardstack.specs.spec import Arg, Rule, Spec, Values

IN_CLUSTER_S3 = "in-cluster-s3"
HOST_PATH = "host-path"
WEIGHTS_STORES = (IN_CLUSTER_S3, HOST_PATH)


def _absolute_path_reason(value: str) -> str | None:
    return None if value.startswith("/") else "is not an absolute path like '/srv/shardstack/models'"


def _host_path_with_its_store(values: Values) -> Iterator[Problem]:
    host_path = values.get("host_path")
    if values["store"] == HOST_PATH and host_path is None:
        yield Problem(
            ("host_path",),
            "is required when store is 'host-path': the node's directory holding the checkpoints, e.g. "
            "'/srv/shardstack/models'",
        )
    if values["store"] != HOST_PATH and host_path is not None:
        yield Problem(
            ("host_path",), f"is only used when store is 'host-path', but store is {values['store']!r}", host_path
        )


LOCAL_WEIGHTS = Spec(
    "LocalWeights",
    "Where a local cluster keeps the weights.",
    (
        Arg(
            "store",
            Choice(WEIGHTS_STORES),
            "'in-cluster-s3' (an S3-compatible store deployed in the cluster; the weights are pushed after "
            "``pulumi up``, and a model URI is s3://) or 'host-path' (a directory on the node that already holds "
            "them; a model URI is file://).",
            default=IN_CLUSTER_S3,
        ),
        Arg(
            "host_path",
            Text("an absolute path like '/srv/shardstack/models'", _absolute_path_reason),
            "The node's directory holding the checkpoints; required with 'host-path'.",
            default=None,
            default_doc="none",
        ),
        replace(LOCAL_WEIGHTS_STORE.arg("storage_gib"), doc="Size of the weights volume, GiB."),
    ),
    rules=(Rule(("store", "host_path"), _host_path_with_its_store),),
)
"""A local installation's weights."""

LOCAL_INSTALLATION = Spec(
    "LocalInstallationArgs",
    "Arguments of LocalInstallation.",
    (
        *serving_args(
            "The deployment (see ShardedInference), on CPU: ``gpus_per_shard`` defaults to 0 and ``zone_spread`` to "
            "False (local nodes carry no zone labels); the installation creates the namespace. ``model_uri`` defaults "
            "to the store's URI plus ``model_path``."
        ),
        Arg(
            "weights",
            Record(LOCAL_WEIGHTS),
            "Where the weights are kept.",
            default_doc="the in-cluster S3-compatible store",
        ),
    ),
)
"""LocalInstallation's arguments."""

ARGS = ArgsModule(
    "shardstack.local.args", "Local installation arguments.", __name__, (LOCAL_WEIGHTS, LOCAL_INSTALLATION)
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
