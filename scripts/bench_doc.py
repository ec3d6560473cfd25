"""docs/BENCHMARKS.md, where every benchmark script writes its own section between its own markers.

from bench_doc import BENCHMARKS, write_section
write_section(section, "<!-- bench_x:begin -->", "<!-- bench_x:end -->")   # section includes both markers
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCHMARKS", "REPO", "write_section"]

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "docs" / "BENCHMARKS.md"


def write_section(section: str, begin: str, end: str, *, after: str = "") -> None:
    """Replace the section between ``begin`` and ``end`` in docs/BENCHMARKS.md with ``section``, or add it.

    ``section`` starts with ``begin`` and ends with ``end``. A new section goes right after the marker
    ``after`` when that is present, else at the end.
    """
    text = BENCHMARKS.read_text()
    if begin in text:
        head, _, rest = text.partition(begin)
        text = head + section + rest.partition(end)[2]
    elif after and after in text:
        head, _, rest = text.partition(after)
        text = head + after + "\n\n" + section + rest
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)
