#!/usr/bin/env python3
"""A day of traffic on an autoscaled deployment, simulated: the load, the replica groups KEDA gives it, and the time
to first token users see; written as docs/scaling.png (the README's picture) with a summary on stdout.

    .venv/bin/python scripts/simulate_capacity.py            # writes docs/scaling.png
    .venv/bin/python scripts/simulate_capacity.py --no-plot  # the summary only

The deployment: Llama-3.1-8B-sized (8e9 parameters, bf16) on one L4 per group, 16 slots, prompts of 1,000 tokens
and answers of 200, a 2 s p99 TTFT SLO; autoscaling 0 to 8 groups with the defaults of ShardedInference's
``autoscaling``; a new group serves 5 minutes after it is wanted. The group's speed is shardstack.performance's
model; the queueing and the autoscaler are shardstack.simulation's.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from shardstack.performance import Load, plan_capacity
from shardstack.simulation import Minute, Scaler, simulate

REPO = Path(__file__).resolve().parents[1]
PICTURE = REPO / "docs" / "scaling.png"
HOURS = 14
PEAK_REQUESTS_PER_S = 6.0
LOAD = Load(requests_per_s=PEAK_REQUESTS_PER_S, prompt_tokens=1000, output_tokens=200, ttft_slo_s=2.0)
MODEL = {"params": 8e9, "dtype_bytes": 2, "gpu": "l4", "shards": 1, "slots": 16}
SCALER = Scaler(max_groups=8)


def profile(t: float) -> float:
    """Requests/s at second t: quiet until 1 h, a working day's hump to the peak, a burst at 6 h, quiet after 12 h."""
    hour = t / 3600
    if hour < 1 or hour >= 12:
        return 0.0
    day = math.sin(math.pi * (hour - 1) / 11) ** 2
    burst = 0.5 if 6 <= hour < 6.5 else 0.0
    return PEAK_REQUESTS_PER_S * (0.15 + 0.85 * day) * (1 + burst)


def summary(minutes: list[Minute]) -> list[str]:
    served = sum(m.served for m in minutes)
    refused = sum(m.refused for m in minutes)
    gpu_hours = sum(m.groups_wanted for m in minutes) / 60 * MODEL["shards"]
    always_on = SCALER.max_groups * MODEL["shards"] * len(minutes) / 60
    busy = [m for m in minutes if m.ttft_p99_s is not None and m.requests_per_s > 0]
    within = sum(1 for m in busy if m.ttft_p99_s is not None and m.ttft_p99_s <= LOAD.ttft_slo_s)
    return [
        f"requests served: {served}, answered 503 after waiting for a group: {refused}",
        f"minutes with requests whose TTFT p99 met the {LOAD.ttft_slo_s:g} s SLO: {within} of {len(busy)}",
        f"GPU-hours: {gpu_hours:.1f} autoscaled vs {always_on:.1f} with {SCALER.max_groups} groups always on "
        f"({gpu_hours / always_on:.2f}x)",
    ]


def plot(minutes: list[Minute], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [m.start_s / 3600 for m in minutes]
    fig, (load, groups, ttft) = plt.subplots(3, 1, sharex=True, figsize=(9, 7), constrained_layout=True)
    load.plot(hours, [m.requests_per_s for m in minutes], color="tab:blue")
    load.set_ylabel("requests/s")
    load.set_title("A day on an autoscaled deployment (scripts/simulate_capacity.py)")
    groups.step(hours, [m.groups_wanted for m in minutes], where="post", label="wanted", color="tab:gray")
    groups.step(hours, [m.groups_ready for m in minutes], where="post", label="serving", color="tab:green")
    groups.set_ylabel("replica groups")
    groups.legend(loc="upper right")
    ttft.semilogy(hours, [m.ttft_p99_s or float("nan") for m in minutes], color="tab:red", label="TTFT p99")
    ttft.axhline(LOAD.ttft_slo_s, color="black", linestyle="--", linewidth=1, label=f"SLO {LOAD.ttft_slo_s:g} s")
    ttft.set_ylabel("seconds")
    ttft.set_xlabel("hour")
    ttft.legend(loc="upper right")
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-plot", action="store_true", help="print the summary, write no picture")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    capacity = plan_capacity(LOAD, **MODEL)  # type: ignore[arg-type]
    print(f"model: {capacity.groups} groups meet the SLO at the peak; one group: {capacity.speed}")
    minutes = simulate(profile, duration_s=HOURS * 3600, speed=capacity.speed, scaler=SCALER, seed=args.seed)
    print("\n".join(summary(minutes)))
    if not args.no_plot:
        plot(minutes, PICTURE)
        print(f"wrote {PICTURE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
