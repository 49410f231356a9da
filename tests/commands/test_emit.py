"""A long report reaches stdout in pieces of whole lines, never as one write."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from unittest import mock

import pytest

from planner.commands import _shared
from planner.commands._shared import Terminal


def _emitted(report: str | Iterable[str]) -> list[str]:
    """What Terminal.emit hands to click.echo, write by write (each still written to stdout)."""
    written: list[str] = []
    echo = _shared.click.echo

    def recorded(message: str, **kwargs: object) -> None:
        written.append(message)
        echo(message, **kwargs)  # type: ignore[arg-type]

    terminal = Terminal(color=False, quiet=False, progress=mock.Mock())
    with mock.patch.object(_shared.click, "echo", new=recorded):
        terminal.emit(report, None)
    return written


def test_a_long_report_is_written_in_pieces_of_whole_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Written whole, a 344 MB JSON plan was encoded into one more copy of itself: stdout gets
    pieces of about a megabyte, each ending at a line's end, and the same text in the end."""
    line = '    "service": "team-000/g00000-p1024",\n'
    text = line * (3 * _shared._PIECE_CHARS // len(line)) + "last line, no newline"
    written = _emitted(text)
    assert capsys.readouterr().out == text
    assert len(written) == 3
    assert all(piece.endswith("\n") for piece in written[:-1])
    assert max(len(piece) for piece in written) <= _shared._PIECE_CHARS + len(line)


def test_a_short_report_is_one_write() -> None:
    assert list(_shared._pieces("a\nb\n")) == ["a\nb\n"]
    assert list(_shared._pieces("")) == [""]


def test_a_report_in_pieces_reaches_stdout_in_whole_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Pieces cut anywhere (a JSON plan's, as it is written) reach stdout as the same text, each
    write ending at a line's end: never joined into one string first."""
    text = "".join(f'  "svc-{i}": "10.0.{i % 250}.1",\n' for i in range(5000)) + "tail"
    pieces = [text[i : i + 997] for i in range(0, len(text), 997)]
    written = _emitted(iter(pieces))
    assert capsys.readouterr().out == text
    assert len(written) > 100
    assert all(piece.endswith("\n") for piece in written[:-1]) and written[-1] == "tail"


def test_a_report_in_pieces_is_written_whole_to_its_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    terminal = Terminal(color=False, quiet=True, progress=mock.Mock())
    terminal.emit(iter(["{\n", '  "a": 1', "\n}\n"]), target)
    assert target.read_text(encoding="utf-8") == '{\n  "a": 1\n}\n'
