"""The runtime side of the contract with the Kubernetes objects: what one rank reads from its env.

One pod is one rank. The IaC side (``shardstack.k8s.runtime_contract``) sets these variables;
this module is the single place that reads them, and a test feeds it the env of a rendered
ShardedInference pod. Sources, first match wins:

| setting       | variables                                                                      |
| ------------- | ------------------------------------------------------------------------------ |
| model_uri     | SHARDSTACK_MODEL_URI                                                           |
| world_size    | SHARDSTACK_WORLD_SIZE, LWS_GROUP_SIZE                                          |
| rank          | SHARDSTACK_RANK, LWS_WORKER_INDEX, the ordinal of SHARDSTACK_POD_NAME/HOSTNAME |
| leader_addr   | SHARDSTACK_LEADER_ADDR, LWS_LEADER_ADDRESS                                     |
| ports         | SHARDSTACK_API_PORT, SHARDSTACK_RENDEZVOUS_PORT, SHARDSTACK_METRICS_PORT       |
| dtype         | SHARDSTACK_DTYPE                                                               |
| api_key       | SHARDSTACK_API_KEY                                                             |
| cache_dir     | SHARDSTACK_CACHE_DIR                                                           |
| device        | SHARDSTACK_DEVICE (default: cuda when a GPU is visible, else cpu)              |
| host          | SHARDSTACK_HOST (default 0.0.0.0: every interface)                             |
| ranks_here    | SHARDSTACK_RANKS_HERE: > 1 starts that many ranks in this container (managed endpoints) |
| platform      | SHARDSTACK_PLATFORM; Vertex AI's AIP_MODE=PREDICTION says vertex (default: kubernetes) |
| predict_route | SHARDSTACK_PREDICT_ROUTE, AIP_PREDICT_ROUTE (Vertex AI)                        |
| health_route  | SHARDSTACK_HEALTH_ROUTE, AIP_HEALTH_ROUTE (Vertex AI)                          |

On a managed platform the API port is the platform's unless SHARDSTACK_API_PORT says otherwise: 8080 on
SageMaker, AIP_HTTP_PORT (default 8080) on Vertex AI (see :mod:`.http.platforms`).

Credentials never come from here: each cloud's SDK finds the pod's workload identity itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

DEFAULT_API_PORT = 8000
DEFAULT_RENDEZVOUS_PORT = 29500
DEFAULT_METRICS_PORT = 9090
DEFAULT_CACHE_DIR = "/var/cache/shardstack"
DTYPES = ("bf16", "fp16", "fp32")
Platform = Literal["kubernetes", "sagemaker", "vertex", "azureml"]
"""Where the image runs: a pod of a replica group, or a managed endpoint's container (see :mod:`.http.platforms`)."""
PLATFORM_PORTS: Mapping[str, tuple[str | None, int]] = {"sagemaker": (None, 8080), "vertex": ("AIP_HTTP_PORT", 8080)}
"""The API port a platform's contract fixes: the variable that carries it (None: fixed) and its default."""

# A StatefulSet pod is named <statefulset>-<ordinal>.
_ORDINAL = re.compile(r"-(\d+)$")


class SettingsError(ValueError):
    """The environment does not describe a rank this process can run; names every bad variable."""


class RankSettings(BaseModel):
    """Everything one rank needs to know about itself and its group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_uri: str = Field(description="Where the checkpoint is: s3://, gs://, az://, file:// or a path.")
    world_size: int = Field(default=1, ge=1, description="Ranks in this replica group.")
    rank: int = Field(default=0, ge=0, description="This rank; 0 is the leader.")
    leader_addr: str = Field(default="127.0.0.1", description="The leader's address for the rendezvous.")
    api_port: int = Field(default=DEFAULT_API_PORT, ge=1, le=65535)
    rendezvous_port: int = Field(default=DEFAULT_RENDEZVOUS_PORT, ge=1, le=65535)
    metrics_port: int = Field(default=DEFAULT_METRICS_PORT, ge=1, le=65535)
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    api_key: SecretStr | None = None
    cache_dir: str = DEFAULT_CACHE_DIR
    device: Literal["auto", "cpu", "cuda"] = "auto"
    host: str = Field(default="0.0.0.0", min_length=1, description="The address the servers listen on.")
    ranks_here: int = Field(default=1, ge=1)
    """Ranks this container runs itself: a managed endpoint's instance holds a whole replica group, so ``serve``
    starts the ranks as local processes (one per GPU share), rank 0 answering the platform."""
    platform: Platform = "kubernetes"
    predict_route: str | None = Field(default=None, pattern=r"^/")
    """Vertex AI's predict route (its AIP_PREDICT_ROUTE), where ``{"instances": ...}`` bodies arrive."""
    health_route: str | None = Field(default=None, pattern=r"^/")
    """Vertex AI's health route (its AIP_HEALTH_ROUTE): 200 once the model serves."""

    @model_validator(mode="after")
    def _rank_within_group(self) -> RankSettings:
        if self.rank >= self.world_size:
            last = self.world_size - 1
            raise ValueError(f"rank {self.rank} is outside a group of {self.world_size} ranks (0..{last})")
        return self

    @property
    def is_leader(self) -> bool:
        return self.rank == 0


# setting → the variables that may carry it, in order of precedence.
_SOURCES: Mapping[str, tuple[str, ...]] = {
    "model_uri": ("SHARDSTACK_MODEL_URI",),
    "world_size": ("SHARDSTACK_WORLD_SIZE", "LWS_GROUP_SIZE"),
    "rank": ("SHARDSTACK_RANK", "LWS_WORKER_INDEX"),
    "leader_addr": ("SHARDSTACK_LEADER_ADDR", "LWS_LEADER_ADDRESS"),
    "api_port": ("SHARDSTACK_API_PORT",),
    "rendezvous_port": ("SHARDSTACK_RENDEZVOUS_PORT",),
    "metrics_port": ("SHARDSTACK_METRICS_PORT",),
    "dtype": ("SHARDSTACK_DTYPE",),
    "api_key": ("SHARDSTACK_API_KEY",),
    "cache_dir": ("SHARDSTACK_CACHE_DIR",),
    "device": ("SHARDSTACK_DEVICE",),
    "host": ("SHARDSTACK_HOST",),
    "ranks_here": ("SHARDSTACK_RANKS_HERE",),
    "platform": ("SHARDSTACK_PLATFORM",),
    "predict_route": ("SHARDSTACK_PREDICT_ROUTE", "AIP_PREDICT_ROUTE"),
    "health_route": ("SHARDSTACK_HEALTH_ROUTE", "AIP_HEALTH_ROUTE"),
}

VERTEX_MODE = ("AIP_MODE", "PREDICTION")
"""What Vertex AI sets in every serving container (its documented environment)."""


def _pod_ordinal(env: Mapping[str, str]) -> str | None:
    for variable in ("SHARDSTACK_POD_NAME", "HOSTNAME"):
        match = _ORDINAL.search(env.get(variable, ""))
        if match:
            return match.group(1)
    return None


def from_env(env: Mapping[str, str] | None = None, **overrides: object) -> RankSettings:
    """Read this rank's settings from ``env`` (default: the process environment).

    ``overrides`` (e.g. from command-line flags) win over the environment. Every problem is
    reported at once, naming the variable that carried the bad value.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    for setting, variables in _SOURCES.items():
        for variable in variables:
            if env.get(variable, "") != "":
                values[setting], origin[setting] = env[variable], variable
                break
    if "rank" not in values and (ordinal := _pod_ordinal(env)) is not None:
        values["rank"], origin["rank"] = ordinal, "the pod name's ordinal"
    if "platform" not in values and env.get(VERTEX_MODE[0]) == VERTEX_MODE[1]:
        values["platform"], origin["platform"] = "vertex", VERTEX_MODE[0]
    if "api_port" not in values and (fixed := PLATFORM_PORTS.get(str(values.get("platform")))) is not None:
        variable, default = fixed
        values["api_port"] = (env.get(variable) if variable else None) or default
        origin["api_port"] = variable or f"the {values['platform']} contract"
    for setting, value in overrides.items():
        if value is not None:
            values[setting], origin[setting] = value, f"--{setting.replace('_', '-')}"
    try:
        return RankSettings.model_validate(values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            setting = str(item["loc"][0]) if item["loc"] else ""
            where = origin.get(setting, _SOURCES.get(setting, (setting,))[0]) if setting else "settings"
            if item["type"] == "missing":
                problems.append(f"{where}: is required")
                continue
            shown = "" if setting == "api_key" else f" (got {item.get('input')!r})"
            problems.append(f"{where}: {item['msg']}{shown}" if setting else item["msg"])
        raise SettingsError("invalid runtime settings:\n" + "\n".join(f"  - {p}" for p in problems)) from None
