"""What scripts/e2e_cloud.py checks before it deploys anything: the stack, its cloud, the tools and credentials.

All of it is read from the stack file, the environment and the home directory, never from the cloud, so that a
missing piece skips this opt-in test before it costs money. A new cloud is a new row of :data:`CLOUDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from e2e_cloud_outcomes import Skipped, UsageError


@dataclass(frozen=True)
class Setting:
    """A provider setting: a key of the stack's config, or one of the environment variables the provider reads."""

    what: str
    config_key: str
    env: tuple[str, ...]


@dataclass(frozen=True)
class CloudAccess:
    """How to tell, without calling the cloud, that credentials for it are present."""

    env: tuple[tuple[str, ...], ...]
    """Any one group of environment variables, every variable of the group set (non-empty)."""
    files: tuple[str, ...]
    """Or any of these paths under the home directory."""
    kubeconfig_tools: tuple[str, ...] = ()
    """Commands the stack's kubeconfig runs to get a token (needed on PATH for --port-forward)."""
    settings: tuple[Setting, ...] = ()
    """Provider settings `pulumi up` cannot do without, each from the stack's config or the environment."""


# The one cloud-specific table: a new cloud is a new row.
CLOUDS: dict[str, CloudAccess] = {
    "aws": CloudAccess(
        env=(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE",), ("AWS_WEB_IDENTITY_TOKEN_FILE",)),
        files=(".aws/credentials",),
        kubeconfig_tools=("aws",),  # the EKS kubeconfig runs `aws eks get-token`
    ),
    "gcp": CloudAccess(
        # GOOGLE_CREDENTIALS: what the Pulumi gcp provider reads besides Application Default Credentials.
        env=(("GOOGLE_APPLICATION_CREDENTIALS",), ("GOOGLE_CREDENTIALS",)),
        files=(".config/gcloud/application_default_credentials.json",),
        kubeconfig_tools=("gke-gcloud-auth-plugin",),  # the GKE kubeconfig's exec credential plugin
        # The stacks name no project (it is yours): the provider reads gcp:project or these variables.
        settings=(
            Setting(
                "the GCP project",
                "gcp:project",
                ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
            ),
        ),
    ),
    "azure": CloudAccess(
        # ARM_*: the names the Pulumi azure-native provider reads for a service principal.
        env=(("AZURE_CLIENT_ID", "AZURE_TENANT_ID"), ("ARM_CLIENT_ID", "ARM_TENANT_ID")),
        files=(".azure",),  # `az login`
        # The AKS kubeconfig runs `kubelogin get-token --login azurecli`, which asks the Azure CLI for a token.
        kubeconfig_tools=("kubelogin", "az"),
    ),
}


def available_stacks(stacks_dir: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))


def check_stack(stack: str, stacks_dir: Path) -> str:
    """Return the stack's cloud; raise UsageError when the stack file or the cloud is wrong."""
    stack_file = stacks_dir / f"Pulumi.{stack}.yaml"
    stacks = available_stacks(stacks_dir)
    if not stack_file.is_file():
        raise UsageError(f"no stack file {stack_file}; the stacks are: {', '.join(stacks) or 'none'}")
    cloud = stack.split("-", 1)[0]
    if cloud not in CLOUDS:
        cloud_stacks = [s for s in stacks if s.split("-", 1)[0] in CLOUDS]
        prefixes = ", ".join(f"{c}-" for c in CLOUDS)
        raise UsageError(
            f"stack {stack!r} is not a cloud stack: its name must start with one of {prefixes}; "
            f"the cloud stacks are: {', '.join(cloud_stacks) or 'none'}"
        )
    return cloud


def stack_config(stack: str, stacks_dir: Path) -> dict[str, Any]:
    """The ``config`` block of the stack's file."""
    config = (yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    return config if isinstance(config, dict) else {}


def needs_port_forward(stack: str, stacks_dir: Path, *, asked: bool) -> bool:
    """Whether to reach the API through `kubectl port-forward`: when asked, or when the stack keeps it private.

    Decided from the stack file before `pulumi up`, so that a missing kubectl skips the test before it costs.
    """
    serving = stack_config(stack, stacks_dir).get("shardstack:serving") or {}
    return asked or not (isinstance(serving, dict) and serving.get("public") is True)


def check_preconditions(
    cloud: str,
    *,
    port_forward: bool,
    which: Callable[[str], str | None],
    environ: Mapping[str, str],
    home: Path,
    config: Mapping[str, Any] | None = None,
    tools: tuple[str, ...] = (),
) -> None:
    """Raise Skipped naming the first missing tool or credential; return when all are there."""
    if which("pulumi") is None:
        raise Skipped("the Pulumi CLI is not on PATH (install it: https://www.pulumi.com/docs/install/)")
    pulumi_home = Path(environ.get("PULUMI_HOME") or home / ".pulumi")
    if not (
        _set(environ, "PULUMI_ACCESS_TOKEN")
        or _set(environ, "PULUMI_BACKEND_URL")
        or (pulumi_home / "credentials.json").is_file()
    ):
        raise Skipped(
            "not logged in to a Pulumi backend: run `pulumi login` (or `pulumi login --local`), "
            "or set PULUMI_ACCESS_TOKEN or PULUMI_BACKEND_URL"
        )
    access = CLOUDS[cloud]
    has_env = any(all(_set(environ, name) for name in group) for group in access.env)
    if not has_env and not any((home / path).exists() for path in access.files):
        ways = [" and ".join(group) for group in access.env] + [f"create ~/{path}" for path in access.files]
        raise Skipped(f"no {cloud} credentials: set {' or '.join(ways)}")
    for setting in access.settings:
        if not (config or {}).get(setting.config_key) and not any(_set(environ, name) for name in setting.env):
            raise Skipped(
                f"{setting.what} is not set: run `pulumi config set {setting.config_key} <value> -s "
                f"<stack>` or set {' or '.join(setting.env)}"
            )
    for tool in tools:
        if which(tool) is None:
            raise Skipped(f"a managed stack needs `{tool}` on PATH (to push the runtime image to its registry)")
    if port_forward:
        for tool in ("kubectl", *access.kubeconfig_tools):
            if which(tool) is None:
                raise Skipped(f"--port-forward needs `{tool}` on PATH")


def _set(environ: Mapping[str, str], name: str) -> bool:
    return bool(environ.get(name))
