"""What a ShardedInference pod gives the runtime process: environment, ports, paths and probes.

One pod is one rank. A replica group is ``SHARDSTACK_WORLD_SIZE`` pods holding one copy of the
model; rank 0 is the leader. The leader serves the OpenAI-compatible HTTP API on
``SHARDSTACK_API_PORT``; every rank (leader included) serves ``/health``, ``/ready`` and
``/metrics`` on ``SHARDSTACK_METRICS_PORT``, which is what the kubelet probes, so workers are
probed the same way as the leader. Ranks find each other through the leader's rendezvous port.

This module is the IaC side of the contract; the runtime's settings module is the other side,
and a test feeds the env of a rendered pod spec to it. Change both together.
"""

from __future__ import annotations

# -- environment ----------------------------------------------------------------------------------

ENV_MODEL_URI = "SHARDSTACK_MODEL_URI"
"""Where the weights are: ``s3://``, ``gs://``, ``az://``, ``file://`` or ``https://`` (public download)."""
ENV_WORLD_SIZE = "SHARDSTACK_WORLD_SIZE"
"""Ranks in this pod's replica group (the number of shards)."""
ENV_RANK = "SHARDSTACK_RANK"
"""This pod's rank, 0 … world size - 1; 0 is the leader."""
ENV_POD_NAME = "SHARDSTACK_POD_NAME"
"""This pod's name, for logs and metrics labels."""
ENV_LEADER_ADDR = "SHARDSTACK_LEADER_ADDR"
"""The rank-0 pod's stable DNS name; ranks rendezvous there."""
ENV_API_PORT = "SHARDSTACK_API_PORT"
"""The leader's HTTP API port."""
ENV_RENDEZVOUS_PORT = "SHARDSTACK_RENDEZVOUS_PORT"
"""The leader's torch.distributed rendezvous (TCPStore) port."""
ENV_METRICS_PORT = "SHARDSTACK_METRICS_PORT"
"""Every rank's port for ``/health``, ``/ready`` and ``/metrics``."""
ENV_DTYPE = "SHARDSTACK_DTYPE"
"""Compute dtype: one of :data:`DTYPES`."""
ENV_API_KEY = "SHARDSTACK_API_KEY"
"""Bearer token the API requires; present only when an API key Secret was given."""
ENV_CACHE_DIR = "SHARDSTACK_CACHE_DIR"
"""A writable directory for downloaded weight bytes, kept for the pod's (or PVC's) lifetime."""
ENV_PLATFORM = "SHARDSTACK_PLATFORM"
"""Where the image runs: 'kubernetes' (a pod), or the managed platform whose container contract it serves."""
ENV_RANKS_HERE = "SHARDSTACK_RANKS_HERE"
"""On a managed endpoint: how many ranks the container starts, one replica group on the instance's GPUs."""

CONTRACT_ENV = (
    ENV_MODEL_URI,
    ENV_WORLD_SIZE,
    ENV_RANK,
    ENV_POD_NAME,
    ENV_LEADER_ADDR,
    ENV_API_PORT,
    ENV_RENDEZVOUS_PORT,
    ENV_METRICS_PORT,
    ENV_DTYPE,
    ENV_API_KEY,
    ENV_CACHE_DIR,
)
"""Every variable of a pod's contract; extra env passed by callers may not reuse these names."""
MANAGED_ENV = (ENV_PLATFORM, ENV_RANKS_HERE)
"""What a managed endpoint's container gets beside the pod's contract (``shardstack.managed_endpoint``)."""

RESERVED_ENV_PREFIXES = ("SHARDSTACK_", "LWS_")
"""Prefixes owned by the contract and by LeaderWorkerSet's injected variables."""

LWS_LEADER_ADDRESS = "LWS_LEADER_ADDRESS"
LWS_GROUP_SIZE = "LWS_GROUP_SIZE"
LWS_WORKER_INDEX = "LWS_WORKER_INDEX"
"""Injected by the LeaderWorkerSet controller into every container, ahead of the template's own env
(so ``$(LWS_LEADER_ADDRESS)`` expands inside it). In LeaderWorkerSet mode the SHARDSTACK_*
variables are derived from these, so the runtime reads one set of names in both modes."""

# -- ports ----------------------------------------------------------------------------------------

DEFAULT_API_PORT = 8000
"""The port vLLM and most OpenAI-compatible servers use, so clients' defaults work."""
DEFAULT_RENDEZVOUS_PORT = 29500
"""torch.distributed's conventional MASTER_PORT."""
DEFAULT_METRICS_PORT = 9090
"""Prometheus' conventional port."""

API_PORT_NAME = "api"
RENDEZVOUS_PORT_NAME = "rendezvous"
METRICS_PORT_NAME = "metrics"

# -- HTTP paths (on the metrics port, every rank) ---------------------------------------------------

HEALTH_PATH = "/health"
"""200 while the process is alive and its event loop answers (liveness)."""
READY_PATH = "/ready"
"""200 once this rank's weights are loaded and a warm-up forward pass ran on every rank (readiness)."""
METRICS_PATH = "/metrics"
"""Prometheus metrics, vLLM-like names."""

# -- stopping ---------------------------------------------------------------------------------------

DRAIN_TIMEOUT_S = 30
"""How long a stopping leader lets its running requests finish, refusing new ones with 503 (the runtime's
``--drain-timeout`` default; a contract test checks the two agree)."""
PRE_STOP_SLEEP_S = 5
"""A rank waits this long before it is told to stop: the time for its endpoints to leave the Service, so that
new requests go elsewhere before the leader starts refusing them."""

# -- filesystem -----------------------------------------------------------------------------------

CACHE_DIR = "/var/cache/shardstack"
"""Mount point of the weights cache volume; passed as SHARDSTACK_CACHE_DIR."""
TMP_DIR = "/tmp"
"""A writable emptyDir: the root filesystem is read-only. HOME points here too, for library caches."""
SHM_DIR = "/dev/shm"
"""A memory-backed emptyDir: NCCL and torch's shared-memory transports need more than the 64 MiB
a container gets by default."""
WEIGHTS_DIR = "/models"
"""Mount point of a read-only weights volume (``weights_volume_claim``): model URIs ``file:///models/...``."""
SECRET_FILES_DIR = "/var/run/secrets/shardstack"
"""Where ``secret_files`` are mounted, one file per key, read-only."""

# -- values ---------------------------------------------------------------------------------------

DTYPES = ("bf16", "fp16", "fp32")
DEFAULT_DTYPE = "bf16"
"""bf16 halves memory against fp32 without fp16's overflow risk on the GPUs this targets."""

MODEL_URI_SCHEMES = ("s3://", "gs://", "az://", "file://", "http://", "https://")
