"""The progress callback of long pipeline stages (pure: no clock, no I/O).

Stages take `progress: Progress = no_progress` and call it as `progress("planning", 2, 5)`
(stage, done, total; total 0 when unknown). The callback is the caller's; the default does
nothing. Commands pass a `planner.commands._progress.ProgressReporter`, which prints on a
terminal's stderr once the run has taken longer than two seconds.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What a stage calls: its name, how many of its steps are done, and how many there are."""

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None: ...


def no_progress(stage: str, done: int = 0, total: int = 0) -> None:
    """The default callback: report nothing."""
