"""One rank of a test pipeline, run as its own process by test_pipeline.py.

    python pipeline_worker.py '{"rank": 0, "world_size": 2, "port": 29500, "uri": ..., "ranges": [[0, 2], [2, 4]],
                                "prompts": [[1, 2, 3]], "max_tokens": 8, "out": "result-0.json"}'

Rank 0 serves the prompts concurrently through a pipeline_engine and reports each one's tokens, logprobs,
likeliest tokens at each step (``top``, as ``[id, logprob]`` pairs) and finish reason; the other ranks run
``run_worker``. Optional: ``"dtype"`` (``"fp32"``, the default, or ``"bf16"``), and ``"params"``:
SamplingParams fields (besides max_tokens and ignore_eos) for every prompt, or a list of them, one per
prompt (default: greedy). With ``"hang_after_steps": N`` a worker stops
responding after N steps (it writes ``args["hung"]`` and sleeps), so that the test can kill it by PID
while the leader's request is certainly in flight. Writes ``{"ok": true, ...}`` or
``{"ok": false, "type": ..., "message": ...}`` to ``args["out"]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from pathlib import Path


async def _collect(engine, request) -> dict:
    tokens, logprobs, top, reason = [], [], [], None
    async for event in engine.generate(request):
        if event.token_id is not None:
            tokens.append(event.token_id)
            logprobs.append(event.logprob)
            top.append([list(pair) for pair in event.top_logprobs])
        reason = event.finish_reason
    return {"tokens": tokens, "logprobs": logprobs, "top": top, "finish_reason": reason}


def leader(args: dict, group, shard) -> dict:
    from shardstack_runtime.engine.engine import EngineStoppedError
    from shardstack_runtime.engine.pipeline import pipeline_engine
    from shardstack_runtime.generation import GenerationRequest, SamplingParams

    engine = pipeline_engine(
        group, shard, max_slots=args.get("max_slots", 4), max_model_len=args.get("max_model_len", 128), verify=False
    )
    try:
        engine.wait_ready(args["timeout_s"])
        prompts = args["prompts"]
        params = args.get("params", {"temperature": 0.0})
        per_prompt = params if isinstance(params, list) else [params] * len(prompts)
        requests = [
            GenerationRequest(
                request_id=f"req-{i}",
                prompt_token_ids=p,
                arrival_time=time.monotonic(),
                params=SamplingParams(max_tokens=args["max_tokens"], ignore_eos=True, **kw),
            )
            for i, (p, kw) in enumerate(zip(prompts, per_prompt, strict=True))
        ]

        async def together() -> list[dict]:
            return await asyncio.gather(*(_collect(engine, r) for r in requests))

        results = asyncio.run(asyncio.wait_for(together(), args["timeout_s"] * 2))
        after: dict = {"ready": engine.ready, "error": repr(engine.error) if engine.error else None}
        try:
            asyncio.run(_collect(engine, requests[0]))
            after["new_request"] = "accepted"
        except EngineStoppedError as e:
            after["new_request"] = f"EngineStoppedError: {e}"
        stats = engine.stats().extra
        return {"ok": True, "results": results, "after": after, "steps": stats["steps"]}
    finally:
        engine.shutdown(args["timeout_s"])


def worker(args: dict, group, shard) -> dict:
    from shardstack_runtime.engine.worker import run_worker

    hang_after = args.get("hang_after_steps")
    if hang_after is not None:
        forward, calls = shard.model.forward, [0]

        def hanging_forward(*a, **k):
            calls[0] += 1
            if calls[0] > hang_after:
                Path(args["hung"]).write_text("hung")
                while True:  # until the test kills this process
                    time.sleep(1)
            return forward(*a, **k)

        shard.model.forward = hanging_forward
    return {"ok": True, "steps": run_worker(group, shard)}


def main(args: dict) -> dict:
    from shardstack_runtime.model.llama import LayerRange
    from shardstack_runtime.rendezvous import join_and_load, leave_group
    from shardstack_runtime.settings import RankSettings

    settings = RankSettings(
        model_uri=args["uri"],
        world_size=args["world_size"],
        rank=args["rank"],
        leader_addr="127.0.0.1",
        rendezvous_port=args["port"],
        dtype=args.get("dtype", "fp32"),
        device="cpu",
    )
    ranges = [LayerRange(start, end) for start, end in args["ranges"]]
    group, shard = join_and_load(settings, ranges, timeout_s=args["timeout_s"], verify=False)
    try:
        return (leader if args["rank"] == 0 else worker)(args, group, shard)
    finally:
        leave_group(group)


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    try:
        result = main(arguments)
    except Exception as e:
        result = {"ok": False, "type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}
    Path(arguments["out"]).write_text(json.dumps(result))
