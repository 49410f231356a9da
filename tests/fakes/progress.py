"""A progress sink that keeps what apply reports, for assertions."""

from __future__ import annotations

from collections.abc import Sequence


class RecordingProgress:
    """Keeps every line and every waiting report (wave, Services, elapsed seconds)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.waits: list[tuple[int, tuple[str, ...], float]] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def waiting(self, wave: int, services: Sequence[str], elapsed: float) -> None:
        self.waits.append((wave, tuple(services), elapsed))
