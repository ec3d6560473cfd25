"""Files generated from the specs (TypedDicts, the stack config's GPU pool sections, docs/CONFIG.md) are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_files_match_their_specs() -> None:
    # A spec changed without regenerating would leave the TypedDicts (what Pulumi's schema and IDEs read), the
    # stack config sections or the reference saying something the checks no longer do.
    result = subprocess.run(
        [sys.executable, "scripts/generate_specs.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
