"""scripts/bench_serving.py's nearest-rank percentile: always a measured latency, never an interpolation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

# scripts/ is not a package: `python scripts/bench_serving.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from bench_serving import percentile  # noqa: E402


def test_the_p99_of_128_latencies_is_the_127th_smallest_and_of_100_the_99th():
    assert percentile([float(v) for v in reversed(range(1, 129))], 99) == 127.0
    assert percentile([float(v) for v in range(1, 101)], 99) == 99.0


def test_a_median_of_an_even_count_is_the_lower_middle_value_not_an_average():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
