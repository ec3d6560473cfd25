"""One rank of a test replica group, run as its own process by test_rendezvous.py.

    python rendezvous_worker.py '{"mode": "agree", "rank": 0, "world_size": 2, "port": 29500, ...}'

Writes ``{"ok": true, ...}`` or ``{"ok": false, "type": ..., "message": ...}`` to ``args["out"]``.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def main(args: dict) -> dict:
    from shardstack_runtime.model.llama import LayerRange
    from shardstack_runtime.rendezvous import agree_on_model, join_and_load, join_group, leave_group
    from shardstack_runtime.settings import RankSettings

    if args["mode"] == "agree":
        group = join_group(
            args["rank"], args["world_size"], "127.0.0.1", args["port"], device="cpu", timeout_s=args["timeout_s"]
        )
        try:
            agree_on_model(group, args.get("digest"))
            return {"ok": True, "rank": group.rank, "world_size": group.world_size, "backend": group.backend}
        finally:
            leave_group(group)

    settings = RankSettings(
        model_uri=args["uri"],
        world_size=args["world_size"],
        rank=args["rank"],
        leader_addr="127.0.0.1",
        rendezvous_port=args["port"],
        dtype="fp32",
        device="cpu",
    )
    ranges = [LayerRange(start, end) for start, end in args["ranges"]]
    group, shard = join_and_load(settings, ranges, timeout_s=args["timeout_s"])
    try:
        report = shard.load_report
        assert report is not None  # join_and_load returns a loaded shard
        return {
            "ok": True,
            "bytes_fetched": report.bytes_fetched,
            "verified": report.verified,
            "digest": report.manifest_digest,
            "tensors": sorted(shard.model.checkpoint_targets()),
        }
    finally:
        leave_group(group)


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    try:
        result = main(arguments)
    except Exception as e:
        result = {"ok": False, "type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}
    Path(arguments["out"]).write_text(json.dumps(result))
