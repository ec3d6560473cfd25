"""Infer the multi-language package schema of a component, as `pulumi package` would, in a fresh process.

The component provider loads Pulumi's gRPC protos, which clash with googleapis' copies of
`google.rpc.Status` when another test in this session imported a Google client library (the
runtime's GCS tests do). A fresh interpreter keeps the check independent of test order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

_SCRIPT = """
import sys
from pulumi.provider.experimental.component import ComponentProvider
import shardstack.k8s
component = getattr(shardstack.k8s, sys.argv[1])
print(ComponentProvider([component], "shardstack", "0.1.0").schema)
"""


def component_schema(component: str) -> dict[str, Any]:
    """Return the schema ComponentProvider infers for ``shardstack.k8s.<component>``."""
    result = subprocess.run([sys.executable, "-c", _SCRIPT, component], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
