"""The ``autoscaling`` argument of ShardedInference: whole replica groups added and removed with the load.

The objects it becomes are in :mod:`shardstack.k8s.group_scaler`; what the cluster needs for them (the
LeaderWorkerSet controller, KEDA and its HTTP add-on) is :class:`shardstack.k8s.GroupAutoscaling`.

Why the queue is the default signal: a request that waits for a decode slot is latency a user feels (its time to
first token grows by about one request's decode time divided by the slots, per request ahead of it), and the
queue grows only when every group's slots are full, whatever the prompts' lengths. The KV cache's usage is a
weaker signal for this runtime: it counts tokens held against every slot's full context length, so a group whose
slots are all busy with short requests can read 10% while requests queue. It fits long-context traffic, where the
cache fills before the slots do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from shardstack.k8s import charts
from shardstack.k8s.kinds import NAMESPACE
from shardstack.limits import MAX_REPLICA_GROUPS, REPLICA_GROUPS
from shardstack.specs.gpu_pool import ordered_range
from shardstack.specs.kinds import Choice, Count, Input, Text, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

METRIC_QUEUE = "num_requests_waiting"
METRIC_KV_CACHE = "kv_cache_usage_perc"
METRICS = (METRIC_QUEUE, METRIC_KV_CACHE)
"""The load signals, named as the runtime's vLLM metrics are (``vllm:<name>``)."""

DEFAULT_TARGETS = {METRIC_QUEUE: 4.0, METRIC_KV_CACHE: 0.8}
"""Four waiting requests per group: with the default 8 slots, a waiting request's time to first token grows by
about half a request's decode time, and a queue that long on every group is a clear sign of missing capacity
rather than a burst. 80% of the KV cache leaves room for the running sequences to grow."""

DEFAULT_SCALE_UP_STABILIZATION_S = 0
"""Add a group as soon as the queue says so (the HPA's own default): a new group takes minutes to serve."""
DEFAULT_SCALE_DOWN_STABILIZATION_S = 300
"""Remove a group only when five minutes of load all said it was not needed (the HPA's own default)."""
DEFAULT_SCALE_TO_ZERO_AFTER_S = 900
"""Idle time before the last group goes: about what its cold start costs in GPU time, several times over."""
DEFAULT_WAKE_TIMEOUT_S = 300
"""How long a request is held while a group wakes from zero: a GPU node's boot and the image's pull fit in it; a
large checkpoint's first load may not (the README's "Scaling and monitoring" sums the parts), and such requests get
503 and Retry-After. Under the OpenAI SDKs' 600 s request timeout."""
DEFAULT_KEDA_NAMESPACE = charts.KEDA.namespace
WIRED_AUTOSCALING_KEYS = ("keda_namespace",)
"""What an installation sets itself, from the GroupAutoscaling it installs."""

SECONDS = Whole(0, 3600, why="an hour is longer than any load pattern a stabilisation window smooths")
IDLE_SECONDS = Whole(60, 86400, why="under a minute the last group would go between two requests; over a day, pin it")
WAKE_SECONDS = Whole(10, 3600, why="clients give up long before an hour; under 10 s no group can wake")


def _url_reason(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "is not an HTTP URL: write e.g. 'http://prometheus-operated.monitoring.svc:9090'"
    if "@" in parts.netloc:
        return "carries credentials: give the Prometheus server's address alone"
    return None


IDENTITY_AWS = "aws"
IDENTITY_GCP = "gcp"
IDENTITY_AZURE = "azure-workload"
PROMETHEUS_IDENTITIES = (IDENTITY_AWS, IDENTITY_GCP, IDENTITY_AZURE)
"""KEDA's pod identity providers that sign its queries to a cloud's managed Prometheus: EKS Pod Identity (SigV4
for Amazon Managed Service for Prometheus), GKE Workload Identity (Google Cloud Managed Service for Prometheus) and
Azure Workload Identity (Azure Monitor managed Prometheus)."""

_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def _aws_region(value: str) -> str | None:
    return None if _AWS_REGION.match(value) else "is not an AWS region like 'us-east-1'"


def _identity_region(values: Values) -> Iterator[Problem]:
    aws = values.get("prometheus_identity") == IDENTITY_AWS
    if aws and not values.given("aws_region"):
        yield Problem(
            ("aws_region",),
            f"is required with prometheus_identity {IDENTITY_AWS!r}: the region of the Amazon Managed Service for "
            "Prometheus workspace, which KEDA signs its queries for",
        )
    elif not aws and values.given("aws_region"):
        yield Problem(
            ("aws_region",),
            f"only applies with prometheus_identity {IDENTITY_AWS!r} (got {values.get('prometheus_identity')!r}): "
            "drop it",
            values["aws_region"],
        )


def _kv_target(values: Values) -> Iterator[Problem]:
    if values["metric"] == METRIC_KV_CACHE and values.get("target") is not None and values["target"] > 1:
        yield Problem(
            ("target",), f"is above 1: {METRIC_KV_CACHE} is a fraction of the KV cache, e.g. 0.8", values["target"]
        )


ZERO_ONLY = ("scale_to_zero_after_s", "wake_timeout_s")
"""The keys that only mean something for a deployment that scales to zero groups."""


def _zero_only(values: Values) -> Iterator[Problem]:
    for key in ZERO_ONLY:
        if values.given(key) and values["min_groups"] != 0:
            yield Problem(
                (key,), f"only applies with min_groups 0 (got {values['min_groups']}): set min_groups 0 or drop it"
            )


AUTOSCALING = Spec(
    "Autoscaling",
    "Replica groups added and removed with the load, a whole group (all its ranks) at a time: KEDA scales the "
    "LeaderWorkerSet, reading the leaders' metrics from Prometheus. Needs mode 'leaderworkerset' and, in the "
    "cluster, what ``GroupAutoscaling`` installs.",
    (
        Arg(
            "min_groups",
            Whole(0, MAX_REPLICA_GROUPS, why="for more copies, use more installations"),
            "Fewest groups. 0 lets the last group, and through the node autoscaler its GPU nodes, go when idle; the "
            "first request then wakes one, held meanwhile by the KEDA HTTP add-on's interceptor (the API must be "
            "private: ``public`` False).",
            default=1,
        ),
        Arg(
            "max_groups", REPLICA_GROUPS, "Most groups; the GPU pools must hold that many groups' ranks.", required=True
        ),
        Arg(
            "metric",
            Choice(METRICS),
            f"The load signal: '{METRIC_QUEUE}' (requests waiting for a decode slot, per group; running requests "
            f"keep the groups that hold them) or '{METRIC_KV_CACHE}' (the leaders' average KV cache usage, for "
            "long-context traffic).",
            default=METRIC_QUEUE,
        ),
        Arg(
            "target",
            Count(example="4"),
            "The signal's value per group that groups are added and removed to hold: waiting requests per group, or "
            "a fraction of the KV cache. A lower queue target buys time to first token with more GPUs.",
            default=None,
            default_doc=", ".join(f"{value:g} for {metric}" for metric, value in DEFAULT_TARGETS.items()),
        ),
        Arg(
            "scale_up_stabilization_s",
            SECONDS,
            "Seconds of load that must all ask for more groups before one is added.",
            default=DEFAULT_SCALE_UP_STABILIZATION_S,
        ),
        Arg(
            "scale_down_stabilization_s",
            SECONDS,
            "Seconds of load that must all ask for fewer groups before one is removed (one at a time, a minute apart).",
            default=DEFAULT_SCALE_DOWN_STABILIZATION_S,
        ),
        Arg(
            "scale_to_zero_after_s",
            IDLE_SECONDS,
            "With min_groups 0: seconds without a request before the last group goes.",
            default=DEFAULT_SCALE_TO_ZERO_AFTER_S,
        ),
        Arg(
            "wake_timeout_s",
            WAKE_SECONDS,
            "With min_groups 0: seconds the KEDA HTTP interceptor holds a request while a group wakes; then the "
            "request is answered 503 with Retry-After.",
            default=DEFAULT_WAKE_TIMEOUT_S,
        ),
        Arg(
            "prometheus_url",
            Input(Text("an HTTP URL", _url_reason)),
            "The Prometheus (or compatible) server KEDA queries for the leaders' metrics, e.g. "
            "'http://prometheus-operated.monitoring.svc:9090', or a managed Prometheus' query URL (without "
            "``/api/v1/query``: KEDA adds it). Its series must carry the pods' ``namespace`` and ``pod`` labels, as "
            "PodMonitors give them.",
            required=True,
        ),
        Arg(
            "prometheus_identity",
            Choice(PROMETHEUS_IDENTITIES),
            f"The cloud identity KEDA's operator queries ``prometheus_url`` as, for a managed Prometheus: "
            f"'{IDENTITY_AWS}' (EKS Pod Identity, with ``aws_region``), '{IDENTITY_GCP}' (GKE Workload Identity) or "
            f"'{IDENTITY_AZURE}' (Azure Workload Identity). A TriggerAuthentication names it; the identity itself is "
            "KEDA's operator's: an EKS Pod Identity association or a GKE IAM grant for its service account, or "
            "GroupAutoscaling's ``keda_azure_*`` arguments.",
            default_doc="none: the queries go unsigned, as an in-cluster Prometheus takes them",
        ),
        Arg(
            "aws_region",
            Input(Text("an AWS region like 'us-east-1'", _aws_region)),
            f"The AWS region of the Amazon Managed Service for Prometheus workspace (with prometheus_identity "
            f"'{IDENTITY_AWS}').",
            default_doc="none",
        ),
        Arg(
            "keda_namespace",
            NAMESPACE,
            "Namespace of KEDA and its HTTP add-on (GroupAutoscaling's).",
            default=DEFAULT_KEDA_NAMESPACE,
        ),
    ),
    rules=(
        ordered_range("min_groups", "max_groups"),
        Rule(("metric", "target"), _kv_target),
        Rule(("min_groups", *ZERO_ONLY), _zero_only),
        Rule(("prometheus_identity", "aws_region"), _identity_region),
    ),
)
"""ShardedInference's ``autoscaling``."""
