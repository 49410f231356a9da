"""A long report reaches stdout in pieces of whole lines, never as one write."""

from __future__ import annotations

from unittest import mock

import pytest

from planner.commands import _shared
from planner.commands._shared import Terminal


def test_a_long_report_is_written_in_pieces_of_whole_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Written whole, a 344 MB JSON plan was encoded into one more copy of itself: stdout gets
    pieces of about a megabyte, each ending at a line's end, and the same text in the end."""
    line = '    "service": "team-000/g00000-p1024",\n'
    text = line * (3 * _shared._PIECE_CHARS // len(line)) + "last line, no newline"
    written: list[str] = []
    echo = _shared.click.echo

    def recorded(message: str, **kwargs: object) -> None:
        written.append(message)
        echo(message, **kwargs)  # type: ignore[arg-type]

    terminal = Terminal(color=False, quiet=False, progress=mock.Mock())
    with mock.patch.object(_shared.click, "echo", new=recorded):
        terminal.emit(text, None)
    assert capsys.readouterr().out == text
    assert len(written) == 3
    assert all(piece.endswith("\n") for piece in written[:-1])
    assert max(len(piece) for piece in written) <= _shared._PIECE_CHARS + len(line)


def test_a_short_report_is_one_write() -> None:
    assert list(_shared._pieces("a\nb\n")) == ["a\nb\n"]
    assert list(_shared._pieces("")) == [""]
