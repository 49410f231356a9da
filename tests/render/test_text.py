"""The terminal report: layout (golden snapshot), colour only on request, inert user text."""

from __future__ import annotations

import re
from dataclasses import replace

from planner.analysis.records import Conflict, DiffReport
from planner.diff import Change
from planner.objects import ObjectKey
from planner.render.text import plain, render_text
from tests.render.golden import assert_matches_golden
from tests.render.sample_report import sample_report

ESC = "\x1b["


def test_text_report_matches_its_snapshot() -> None:
    assert_matches_golden("diff-report.txt", render_text(sample_report(), color=False))


def test_sections_come_in_order() -> None:
    text = render_text(sample_report())
    headings = ["blocks: ", "Blocking: static conflicts", "Summary", "Sharing groups touched"]
    headings += ["Warnings", "Prediction:", "Plan", "Notes", "Changes"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)


def test_colour_only_when_asked() -> None:
    assert ESC not in render_text(sample_report(), color=False)
    coloured = render_text(sample_report(), color=True)
    assert ESC in coloured
    assert "\x1b[31m" in coloured  # the error and the stuck service in red


def test_colour_does_not_change_the_words() -> None:
    coloured = render_text(sample_report(), color=True)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render_text(sample_report())


def test_control_characters_in_user_text_are_shown_not_sent() -> None:
    report = replace(
        sample_report(),
        conflicts=(Conflict(message="evil\x1b[2Jname\nsecond line", objects=("a/b",)),),
    )
    text = render_text(report)
    assert "\x1b" not in text
    assert "evil\\x1b[2Jname\\nsecond line" in text
    assert plain("tab\tkept") == "tab\tkept"


def test_an_empty_report_says_so() -> None:
    unchanged = Change(key=ObjectKey("Service", "a", "b"), op="unchanged")
    report = DiffReport(
        changes=(unchanged,),
        groups=(),
        conflicts=(),
        predictions={},
        target="metallb-0.15",
        live_source="git origin/main",
        statuses_known=False,
    )
    text = render_text(report)
    assert "no prediction" in text
    assert "  no changes" in text
    assert "1 unchanged" in text
    assert "statuses unknown: IPs are requested or predicted" in text
    assert "Sharing groups" not in text
