"""The PR comment: layout (golden snapshot), escaping, fences, and GitHub's 65,536-character cap."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.analysis.records import Conflict, DiffReport, SharingGroupReport
from planner.diff import Change
from planner.objects import ObjectKey
from planner.render.markdown import (
    COMMENT_MARKER_ROOM,
    GITHUB_COMMENT_LIMIT,
    Section,
    fenced,
    fit,
    html_text,
    md_text,
    render_markdown,
)
from tests.render.golden import assert_matches_golden
from tests.render.sample_report import sample_predictions, sample_report

FENCE = re.compile(r"^(`{3,})", re.MULTILINE)


def test_markdown_report_matches_its_snapshot() -> None:
    assert_matches_golden("diff-report.md", render_markdown(sample_report()))


def test_one_details_per_touched_group_conflict_and_behaviour() -> None:
    text = render_markdown(sample_report())
    summaries = re.findall(r"<details><summary>(.*?)</summary>", text)
    groups = [s for s in summaries if s.startswith("Group ")]
    conflicts = [s for s in summaries if s.startswith(("❌", "⚠️"))]
    behaviours = [s for s in summaries if s.startswith(("<b>metallb", "<b>fixed"))]
    assert len(groups) == 2  # the untouched group gets no section
    assert len(conflicts) == 1  # the warning; the blocking error is never folded
    assert len(behaviours) == 3
    assert text.count("<details>") == text.count("</details>")


def test_prediction_details_give_metallb_reasons() -> None:
    text = render_markdown(sample_report())
    # The stuck cell also says what brings it back under that release (v0.14.9, IPv4 pools).
    assert (
        "| dns/dns-tcp | yes (some orders) | yes (some orders), until the next Namespace or pool"
        " change, a controller restart, or a nudge | no | can't change"
    ) in text
    assert "**metallb-0.15 (target)** | 1 | 0 | 1 |" in text


def test_mermaid_block_only_when_the_report_has_one() -> None:
    assert "```mermaid\nflowchart LR" in render_markdown(sample_report())
    without = replace(sample_report(), extras={})
    assert "mermaid" not in render_markdown(without)
    assert "### Plan" not in render_markdown(without)


def test_user_text_cannot_format_link_or_mention() -> None:
    assert md_text("a*b_c`d[e](f)|g~h\\i") == "a\\*b\\_c\\`d\\[e\\](f)\\|g\\~h\\\\i"
    assert md_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert html_text("ping @admins\nnext</summary>") == "ping &#64;admins next&lt;/summary&gt;"
    text = render_markdown(sample_report())
    assert "<b>|admin" not in text
    assert "@admins" not in text


def test_fences_outgrow_backticks_in_the_body() -> None:
    assert fenced("plain") == "```\nplain\n```"
    assert fenced("has ``` inside", "text") == "````text\nhas ``` inside\n````"


def test_a_report_that_fits_is_not_cut() -> None:
    text = render_markdown(sample_report())
    assert "Cut to stay under" not in text
    assert len(text) < GITHUB_COMMENT_LIMIT


def _huge_report(services: int) -> DiffReport:
    """Thousands of changes, groups and conflicts with long patches: far over the cap."""
    changes = tuple(
        Change(
            key=ObjectKey("Service", "bulk", f"svc-{i:05d}"),
            op="update",
            patch=[{"op": "replace", "path": "/spec/externalTrafficPolicy", "value": "Local" * 8}],
        )
        for i in range(services)
    )
    groups = tuple(
        SharingGroupReport(
            id=f"bulk-{i}",
            members=(f"bulk/svc-{2 * i:05d}", f"bulk/svc-{2 * i + 1:05d}"),
            ips=(f"10.0.{i // 250}.{i % 250}",),
            ips_source="live",
            key_changing=True,
            touched=True,
        )
        for i in range(services // 2)
    )
    conflicts = tuple(
        Conflict(f"clash {i} `x`", (f"bulk/svc-{i:05d}",)) for i in range(services // 10)
    )
    return replace(
        sample_report(),
        changes=changes,
        groups=groups,
        conflicts=conflicts,
        predictions=sample_predictions(),
    )


def test_a_huge_report_is_cut_to_the_comment_limit() -> None:
    text = render_markdown(_huge_report(4000))
    assert len(text) <= GITHUB_COMMENT_LIMIT - COMMENT_MARKER_ROOM  # room for a comment marker
    assert len(text) > GITHUB_COMMENT_LIMIT - COMMENT_MARKER_ROOM - 1000  # filled, not gutted
    assert text.startswith("❌ **blocks: 400 static conflicts**\n\n### ❌ Blocking")
    assert "\n## shared-ip planner" in text
    assert "- **Changes:** 0 create · 4000 update" in text  # the summary is kept whole
    assert "| **metallb-0.15 (target)** |" in text
    note = text.rstrip("\n").splitlines()[-1]
    assert note.startswith("> **Cut to stay under GitHub's 65,536-character comment limit:**")
    assert "4,000 object change(s)" in note  # the changes come last and go first
    assert "touched group(s)" in note
    assert text.count("<details>") == text.count("</details>")
    assert len(FENCE.findall(text)) % 2 == 0  # never cut inside a fenced block


def _fixed(kind: str, text: str) -> Section:
    return Section(kind, lambda: text)


def test_only_kept_sections_are_rendered() -> None:
    rendered: list[int] = []

    def build(i: int) -> str:
        rendered.append(i)
        return "z" * 100

    sections = [Section("change", partial(build, i)) for i in range(1000)]
    fit("SUMMARY", sections, limit=2000)
    assert len(rendered) < 25


def test_the_cut_keeps_whole_sections_from_the_start() -> None:
    sections = [_fixed("change", f"section {i} " + "x" * 90) for i in range(20)]
    text = fit("SUMMARY", sections, limit=1000)
    assert len(text) <= 1000
    kept = re.findall(r"section (\d+) ", text)
    assert kept == [str(i) for i in range(len(kept))]
    assert 0 < len(kept) < 20
    assert f"{20 - len(kept)} object change(s) left out" in text


def test_the_summary_stays_even_when_nothing_else_fits() -> None:
    text = fit("SUMMARY", [_fixed("group", "y" * 500)], limit=260)
    assert text.startswith("SUMMARY\n\n> **Cut to stay under GitHub's")
    assert "1 touched group(s) left out" in text


def test_a_git_base_says_statuses_are_unknown() -> None:
    report = replace(sample_report(), live_source="git origin/main", statuses_known=False)
    text = render_markdown(report)
    assert "**Live state:** git origin/main (statuses unknown: IPs are requested or predicted)" in (
        text
    )


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_escaped_text_has_no_live_markup(text: str) -> None:
    escaped = md_text(text)
    assert "<" not in escaped and ">" not in escaped and "@" not in escaped
    assert "\n" not in escaped
    unescaped = re.sub(r"\\.", "", escaped)  # drop every backslash escape
    assert not set(unescaped) & set("`*_[]|~\\")


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=400), max_size=40),
    limit=st.integers(min_value=300, max_value=5000),
)
def test_fit_keeps_a_prefix_within_the_limit(sizes: list[int], limit: int) -> None:
    sections = [_fixed("change", f"<{i}>" + "x" * size) for i, size in enumerate(sizes)]
    text = fit("SUMMARY", sections, limit=limit)
    assert len(text) <= limit
    kept = [int(i) for i in re.findall(r"<(\d+)>", text)]
    assert kept == list(range(len(kept)))
    assert ("Cut to stay under" in text) == (len(kept) < len(sizes))


def test_the_note_counts_sections_of_any_kind() -> None:
    sections = [_fixed("change", "a" * 50), _fixed("info", "b" * 500)]
    text = fit("SUMMARY", sections, limit=400)
    assert "1 other section(s) left out" in text
    assert "a" * 50 in text
