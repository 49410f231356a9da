"""The terminal side of progress: a `planner.progress.Progress` callback that draws the latest
stage on one rewritten stderr line, only on a terminal and only after two seconds.

The command creates it and passes it down the pipeline as the stages' `progress` callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

DELAY_SECONDS = 2.0  # shorter runs print nothing: progress that flashes by is noise
REDRAW_SECONDS = 0.1  # at most ten redraws a second within one stage

Clock = Callable[[], float]


def progress_text(stage: str, done: int, total: int) -> str:
    """One status line: "planner: planning 2/5" (or "planner: loading 120" without a total)."""
    if total:
        return f"planner: {stage} {done}/{total}"
    return f"planner: {stage} {done}" if done else f"planner: {stage}"


class ProgressReporter:
    """Shows the latest stage on one rewritten stderr line, after `delay` seconds, on a tty.

    `rewrite` False (TERM=dumb) prints one plain line per redraw instead of moving the cursor.
    Call `finish()` before printing anything else on the terminal: it clears the line.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Clock = time.monotonic,
        delay: float = DELAY_SECONDS,
        enabled: bool = True,
        rewrite: bool = True,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.delay = delay
        self.enabled = enabled and _isatty(stream)
        self.rewrite = rewrite
        self._started = clock()
        self._drawn_at: float | None = None
        self._drawn_stage = ""
        self._line_open = False

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        """Remember the stage; draw it when the run is old enough and the line is due."""
        if not self.enabled:
            return
        now = self.clock()
        if now - self._started < self.delay:
            return
        due = (
            self._drawn_at is None
            or stage != self._drawn_stage
            or now - self._drawn_at >= REDRAW_SECONDS
            or (total and done == total)
        )
        if not due:
            return
        self._drawn_at, self._drawn_stage = now, stage
        text = progress_text(stage, done, total)[:160]
        if self.rewrite:
            self.stream.write("\r\x1b[K" + text)
            self._line_open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Clear the progress line (if one is shown) so the report starts on a clean line."""
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_open = False


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
