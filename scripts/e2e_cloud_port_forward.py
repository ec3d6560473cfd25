"""Reaching a private stack's API from here: `kubectl port-forward` to the Service its in-cluster URL names.

The stacks keep the API private by default, so their `endpoint` output is an in-cluster URL that nothing
outside the cluster reaches; :func:`reachable_endpoint` turns it into a local one (or passes a public one on).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from e2e_cloud_outcomes import StepFailed
from e2e_cloud_seams import HttpGet, HttpPost, Seams

PORT_FORWARD_START_S = 30.0


@dataclass(frozen=True)
class InClusterService:
    """A Service named by an in-cluster URL."""

    name: str
    namespace: str
    port: int


def parse_in_cluster_url(url: str) -> InClusterService | None:
    """Return the Service of ``http://<service>.<namespace>.svc[.cluster.local][:<port>]``, else None."""
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    if len(labels) not in (3, 5) or labels[2:] not in (["svc"], ["svc", "cluster", "local"]):
        return None
    if not all(labels[:2]):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return InClusterService(name=labels[0], namespace=labels[1], port=port)


class PortForward:
    """`kubectl port-forward` to an in-cluster Service, started again whenever it has exited.

    kubectl forwards to one pod of the Service; when that pod restarts (or was not running yet), kubectl
    exits, and the next request starts it again.
    """

    def __init__(self, kubeconfig_path: str, service: InClusterService, seams: Seams) -> None:
        self.service, self.seams = service, seams
        self.local_port = seams.free_local_port()
        self.command = [
            "kubectl",
            "--kubeconfig",
            kubeconfig_path,
            "--namespace",
            service.namespace,
            "port-forward",
            f"service/{service.name}",
            f"{self.local_port}:{service.port}",
        ]
        self.process: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def ensure_running(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:
            self.seams.log(f"kubectl port-forward exited ({self.process.returncode}); starting it again")
        # stdout only says "Handling connection for ..." per request; errors (stderr) still show.
        self.process = self.seams.popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        started = self.seams.clock()
        while not self.seams.port_open(self.local_port) and self.process.poll() is None:
            if self.seams.clock() - started > PORT_FORWARD_START_S:
                break  # the request that follows reports the port as unreachable
            self.seams.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def reachable_endpoint(
    endpoint: str, outputs: Mapping[str, Any], *, port_forward: bool, seams: Seams
) -> Iterator[tuple[str, HttpGet, HttpPost]]:
    """Yield (base URL, http_get, http_post) that reach ``endpoint`` from here, port-forwarding if asked."""
    service = parse_in_cluster_url(endpoint)
    if service is None:
        if port_forward:
            seams.log(f"endpoint {endpoint} is not in-cluster: using it directly, no port-forward")
        yield endpoint.rstrip("/"), seams.http_get, seams.http_post
        return
    if not port_forward:
        raise StepFailed(
            "endpoint",
            f"{endpoint} is an in-cluster address, not reachable from here: "
            "rerun with --port-forward, or serve publicly (shardstack:serving.public)",
        )
    kubeconfig = outputs.get("kubeconfig")
    if not kubeconfig:
        raise StepFailed("port-forward", "the stack has no `kubeconfig` output to reach the cluster with")
    # mkstemp creates the file readable by this user only (0600): a kubeconfig may carry credentials.
    fd, path = tempfile.mkstemp(prefix="shardstack-kubeconfig-", suffix=".yaml")
    forward = PortForward(path, service, seams)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(kubeconfig if isinstance(kubeconfig, str) else json.dumps(kubeconfig))
        seams.log(f"port-forward: {endpoint} -> {forward.base_url} ({' '.join(forward.command[3:])})")

        def get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
            forward.ensure_running()
            return seams.http_get(url, headers, timeout_s)

        def post(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
            forward.ensure_running()
            return seams.http_post(url, body, headers, timeout_s)

        yield forward.base_url, get, post
    finally:
        forward.stop()
        Path(path).unlink(missing_ok=True)
