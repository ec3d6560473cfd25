"""How long the ranks of a replica group wait for each other (seconds); flags of ``serve`` and ``local``.

Kept apart from the modules that use them so that the command line can show the defaults without
importing torch.
"""

RENDEZVOUS_TIMEOUT_S = 600.0
"""Each wait while the group forms: for every rank to join, then for the slowest to load its weights
(a large shard over a slow link takes minutes)."""

PIPELINE_TIMEOUT_S = 60.0
"""Longest wait for a peer once serving: far above any pass on working hardware, short enough that requests
stuck behind a hung rank fail in a minute, not after the rendezvous timeout."""

KEEPALIVE_S = 1.0
"""How often an idle leader tells the workers it is alive (at most a quarter of the pipeline timeout);
this is also how soon an idle leader notices a dead worker."""

DRAIN_TIMEOUT_S = 30.0
"""How long a stopping leader lets running requests finish (:mod:`.http.drain`): a long answer streams at tens of
tokens a second, so this covers most; the pod's termination grace period (the IaC side) leaves room for it and
for leaving the group. Workers keep the pipeline up that long, and a little more, for the leader."""
