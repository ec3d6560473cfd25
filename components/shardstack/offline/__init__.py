"""The offline engine: run a Pulumi program in-process under recording mocks, and report its graph.

- :mod:`~shardstack.offline.program`: ``run_program``, ``run_refused`` (a program run, or its refusal).
- :mod:`~shardstack.offline.mocks` and :mod:`~shardstack.offline.monitor`: ``RecordingMocks`` and
  ``RecordingMonitor``, which record every registration.
- :mod:`~shardstack.offline.fakes`: what each cloud computes (ids, ARNs, endpoints), one module per
  provider, loaded when the first resource of that provider registers.
- :mod:`~shardstack.offline.graph`: ``Graph`` and ``Resource``, what a run returns.
- :mod:`~shardstack.offline.values`: ``SECRET`` and ``UNKNOWN``, how hidden values are recorded.
- :mod:`~shardstack.offline.report`: ``render_plan`` and ``write_plan``, the plan report.

``shardstack plan`` (:mod:`shardstack.plan`) runs a stack's program through it; your own tests use it
through :mod:`shardstack.testing`. No cloud SDK is imported here: a program imports the ones it uses.
"""

from shardstack.offline.graph import Graph, Resource
from shardstack.offline.mocks import RecordingMocks
from shardstack.offline.monitor import RecordingMonitor
from shardstack.offline.program import run_program, run_refused
from shardstack.offline.values import SECRET, UNKNOWN

__all__ = [
    "SECRET",
    "UNKNOWN",
    "Graph",
    "RecordingMocks",
    "RecordingMonitor",
    "Resource",
    "run_program",
    "run_refused",
]
