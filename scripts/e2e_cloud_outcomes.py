"""How a run of scripts/e2e_cloud.py ends short of passing, and the exit code each ending gives.

Every step raises one of these; only ``main`` turns them into an exit code and a line for the user.
"""

from __future__ import annotations

EXIT_PASSED_OR_SKIPPED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

OUTPUT_TAIL_CHARS = 3000
"""How much of a failing tool's output a failure shows: its end, where the cause is."""


def tail(text: str) -> str:
    """The end of ``text``, at most OUTPUT_TAIL_CHARS characters."""
    return text if len(text) <= OUTPUT_TAIL_CHARS else "…" + text[-OUTPUT_TAIL_CHARS:]


class Skipped(Exception):
    """A precondition of this opt-in test is missing: report it and exit 0."""


class UsageError(Exception):
    """The command line asks for something that cannot work: exit 2."""


class StepFailed(Exception):
    """One step of the run failed: exit 1, naming the step."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step, self.detail = step, detail
