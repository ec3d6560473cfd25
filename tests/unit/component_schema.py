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
import importlib
import sys
from pulumi.provider.experimental.component import ComponentProvider
component = getattr(importlib.import_module(sys.argv[2]), sys.argv[1])
print(ComponentProvider([component], "shardstack", "0.1.0").schema)
"""


def component_schema(component: str, module: str = "shardstack.k8s") -> dict[str, Any]:
    """Return the schema ComponentProvider infers for ``<module>.<component>`` (e.g. ``shardstack.aws``)."""
    result = subprocess.run([sys.executable, "-c", _SCRIPT, component, module], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
