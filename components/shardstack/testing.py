"""Run a Pulumi program in-process under recording mocks and return the resource graph.

For your own tests, with no Pulumi CLI and no cloud account::

    from shardstack.testing import run_program
    from shardstack.k8s import ShardedInference

    def test_one_group_per_replica():
        graph = run_program(lambda: ShardedInference("llm", {"image": "img:1", "model_uri": "s3://b/m",
                                                             "shards": 2, "replica_groups": 2}))
        assert len(graph.of_type("kubernetes:apps/v1:StatefulSet")) == 2

Every registered resource is recorded with its urn, type, name, parent, inputs, outputs,
dependencies and provider. Mock outputs are realistic (ids, ARNs, self-links, endpoints,
kubeconfigs) so that values derived from them are known and can be asserted on.

With ``preview=True`` the run behaves like ``pulumi preview``: what the cloud computes on
create (ids, ARNs, endpoints, ...) stays unknown, and shows up in the graph as :data:`UNKNOWN`.

This module is the stable public API for tests. The engine behind it, which ``shardstack plan``
runs too, lives in :mod:`shardstack.offline`; the mock account, region, project and subscription
(``MOCK_AWS_REGION``, ...) come from its fakes, one module per cloud under
:mod:`shardstack.offline.fakes`.
"""

# The mock ids stay importable from here, as tests have always imported them (``as`` marks a re-export).
from shardstack.offline.fakes.aws import MOCK_ACCOUNT_ID as MOCK_ACCOUNT_ID
from shardstack.offline.fakes.aws import MOCK_AWS_REGION as MOCK_AWS_REGION
from shardstack.offline.fakes.azure import MOCK_AZURE_SUBSCRIPTION as MOCK_AZURE_SUBSCRIPTION
from shardstack.offline.fakes.azure import MOCK_AZURE_TENANT as MOCK_AZURE_TENANT
from shardstack.offline.fakes.gcp import MOCK_GCP_PROJECT as MOCK_GCP_PROJECT
from shardstack.offline.fakes.gcp import MOCK_GCP_REGION as MOCK_GCP_REGION
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
