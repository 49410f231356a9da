"""The pull-request comment of `planner diff`: the verdict line, what blocks (never folded), a
summary block, then one `<details>` per section.

    body = render_markdown(report, fail_on="stuck")   # never longer than GitHub's 65,536 characters

Sections are cut whole from the end when the comment would be too long (never inside a code
fence; the verdict and the summary always stay), and a closing note says what was left out.
User text (names, messages) is escaped for Markdown and HTML so it cannot add formatting, links
or mentions.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from planner.analysis.build import DEFAULT_FAIL_ON, Verdict, verdict
from planner.analysis.records import (
    Conflict,
    DiffReport,
    Prediction,
    ServiceFate,
    SharingGroupReport,
)
from planner.diff import Change
from planner.model.controller import release_note
from planner.render.fields import field_changes, field_name, show_value
from planner.render.redact import safe_patch
from planner.render.summary import (
    changed,
    counts,
    extra_text,
    located_objects,
    names,
    ordered_predictions,
    patch_line,
    shown_groups,
)

GITHUB_COMMENT_LIMIT = 65_536
# Comment actions add a hidden marker (e.g. "<!-- Sticky Pull Request Comment... -->") to find
# their comment again; leave room for it so the posted body still fits.
COMMENT_MARKER_ROOM = 256
# Relative, as no report links elsewhere yet: it resolves where the comment's repository holds
# the planner's docs; change it here once the docs have a stable public URL.
GLOSSARY_LINK = "docs/glossary.md"

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_WHITESPACE = re.compile(r"\s+")
_SEPARATOR = "\n\n"
_KIND_WORDS = {
    "blocking": "blocking Service list(s)",
    "prediction": "prediction detail(s)",
    "error": "conflict(s)",
    "warning": "warning(s)",
    "group": "touched group(s)",
    "plan": "plan section(s)",
    "notes": "note section(s)",
    "change": "object change(s)",
}


@dataclass(frozen=True)
class Section:
    """One piece of the comment that is kept or cut as a whole."""

    kind: str
    render: Callable[[], str]  # called only when the section is kept (a huge report has many)
    lead: bool = False  # shown before the summary (what blocks); lead sections come first


def render_markdown(
    report: DiffReport,
    limit: int = GITHUB_COMMENT_LIMIT - COMMENT_MARKER_ROOM,
    fail_on: str = DEFAULT_FAIL_ON,
) -> str:
    """The Markdown report, at most `limit` characters, ending in a newline; it begins with the
    verdict under `fail_on`."""
    judged = verdict(report, fail_on)
    summary = _summary(report)
    sections = (
        _blocking_sections(report, judged)
        + _prediction_sections(report)
        + _warning_sections(report.warnings)
        + _group_sections(shown_groups(report))
        + _plan_sections(report)
        + _notes_sections(report.notes)
        + _change_sections(changed(report))
    )
    return fit(summary, sections, limit, head=_verdict_line(judged))


def fit(
    summary: str, sections: list[Section], limit: int = GITHUB_COMMENT_LIMIT, head: str = ""
) -> str:
    """Join the head, the summary and as many whole sections (from the start) as fit in `limit`
    characters, then a note of what was cut. The head and the summary are always kept; kept
    `lead` sections go between them."""
    fixed = [part for part in (head, summary) if part]
    texts: list[str] = []
    used = sum(map(len, fixed)) + len(_SEPARATOR) * (len(fixed) - 1) + 1  # the final newline
    for section in sections:
        text = section.render()
        used += len(_SEPARATOR) + len(text)
        if used > limit:
            return _with_cut_note(head, summary, texts, sections, limit)
        texts.append(text)
    return _joined(head, summary, texts, sections)


def _joined(head: str, summary: str, texts: list[str], sections: list[Section], *tail: str) -> str:
    """Head, kept lead sections, summary, the other kept sections, then `tail`."""
    leads = sum(1 for section in sections[: len(texts)] if section.lead)
    parts = [head, *texts[:leads], summary, *texts[leads:], *tail]
    return _SEPARATOR.join(part for part in parts if part) + "\n"


def _with_cut_note(
    head: str, summary: str, texts: list[str], sections: list[Section], limit: int
) -> str:
    """The head, the summary, the kept texts and the note of what was cut, dropping kept texts
    from the end until the note fits as well."""
    fixed = [part for part in (head, summary) if part]
    used = sum(map(len, fixed)) + len(_SEPARATOR) * (len(fixed) - 1) + 1
    used += sum(len(_SEPARATOR) + len(t) for t in texts)
    while True:
        note = _cut_note(sections[len(texts) :])
        if used + len(_SEPARATOR) + len(note) <= limit or not texts:
            return _joined(head, summary, texts, sections, note)
        used -= len(_SEPARATOR) + len(texts.pop())


def md_text(text: str) -> str:
    """User text made inert in Markdown: HTML escaped, formatting characters backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html_text(text))


def html_text(text: str) -> str:
    """User text made inert inside an HTML line: entities escaped, @mentions defused, one line."""
    one_line = _WHITESPACE.sub(" ", text).strip()
    return html.escape(one_line, quote=False).replace("@", "&#64;")


def fenced(body: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run in `body`."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _section(kind: str, heading: str, build: Callable[..., str], *args: Any) -> Section:
    """A section whose text is `heading` + `build(*args)`, built when it is kept."""
    return Section(kind, partial(_headed, heading, build, *args))


def _headed(heading: str, build: Callable[..., str], *args: Any) -> str:
    return heading + build(*args)


def _details(summary_html: str, body: str) -> str:
    return f"<details><summary>{summary_html}</summary>\n\n{body}\n\n</details>"


def _verdict_line(verdict: Verdict) -> str:
    """The comment's first line: the verdict that explains the exit code."""
    icon = "❌" if verdict.blocks else "✅"
    return f"{icon} **{md_text(verdict.sentence)}**"


def _summary(report: DiffReport) -> str:
    total = counts(report)
    ops = " · ".join(f"{n} {op}" for op, n in total.ops.items())
    lines = [
        "## shared-ip planner: `planner diff`",
        "",
        f"**Target:** {md_text(report.target)} · **Live state:** {_live_source(report)}",
        "",
        f"- **Changes:** {ops}",
        (
            f"- **Sharing groups:** {total.groups} ({total.groups_touched} touched, "
            f"{total.groups_key_changing} with key-changing edits)"
        ),
        f"- **Conflicts:** {total.errors} error(s) · {total.warnings} warning(s)",
    ]
    glossary = (
        f"Pending, stuck, delivery order, sharing group, wave: see the [glossary]({GLOSSARY_LINK})."
    )
    return "\n".join(lines + _prediction_table(report) + ["", glossary])


def _live_source(report: DiffReport) -> str:
    source = md_text(report.live_source or "unknown")
    if report.statuses_known:
        return source
    return f"{source} (statuses unknown: IPs are requested or predicted)"


def _prediction_table(report: DiffReport) -> list[str]:
    """Behaviour → how many Services go pending, stay stuck, change IP (names in the details)."""
    predictions = ordered_predictions(report)
    if not predictions:
        return ["", "No prediction was made."]
    rows = ["", "| MetalLB behaviour | pending | stuck | IP changed |", "|---|---:|---:|---:|"]
    for p in predictions:
        label = md_text(p.behavior)
        label = f"**{label} (target)**" if p.behavior == report.target else label
        rows.append(f"| {label} | {len(p.pending)} | {len(p.stuck)} | {len(p.ip_changed)} |")
    return rows


def _prediction_sections(report: DiffReport) -> list[Section]:
    sections = []
    for index, prediction in enumerate(ordered_predictions(report)):
        heading = "### Prediction per MetalLB version\n\n" if index == 0 else ""
        sections.append(_section("prediction", heading, _prediction, prediction, report.target))
    return sections


def _prediction(prediction: Prediction, target: str) -> str:
    return _details(_prediction_title(prediction, target), _fate_table(prediction))


def _prediction_title(prediction: Prediction, target: str) -> str:
    target_mark = " (target)" if prediction.behavior == target else ""
    return (
        f"<b>{html_text(prediction.behavior)}</b>{release_note(prediction.behavior)}"
        f"{target_mark}: "
        f"{len(prediction.pending)} pending, {len(prediction.stuck)} stuck, "
        f"{len(prediction.ip_changed)} IP changed "
        f"({html_text(prediction.explored)})"
    )


def _fate_table(prediction: Prediction) -> str:
    notable = [
        f for f in prediction.fates if f.pending or f.stuck or f.ip_changed or f.never_settles
    ]
    if not notable:
        return "Nobody goes pending or changes IP."
    rows = ["| Service | pending | stuck | IP changed | MetalLB says |", "|---|---|---|---|---|"]
    rows += [_fate_row(fate) for fate in notable]
    return "\n".join(rows)


def _fate_row(fate: ServiceFate) -> str:
    when = fate.when.removeprefix("in ")

    def mark(on: bool) -> str:
        return f"yes ({when})" if on else "no"

    reason = "; ".join(md_text(s) for s in (fate.reason, fate.never_settles) if s)
    stuck = mark(fate.stuck) + (f", {md_text(fate.stuck_until)}" if fate.stuck_until else "")
    return (
        f"| {md_text(fate.service)} | {mark(fate.pending)} | {stuck} "
        f"| {mark(fate.ip_changed)} | {reason} |"
    )


def _blocking_sections(report: DiffReport, verdict: Verdict) -> list[Section]:
    """What blocks, unfolded and first: one section per static conflict, else one listing the
    Services the policy refuses; none when the verdict passes."""
    if report.errors:
        heading = "### ❌ Blocking: static conflicts (never converge)\n\n"
        return [
            Section("error", partial(_headed, heading if i == 0 else "", _open_conflict, c), True)
            for i, c in enumerate(report.errors)
        ]
    if not verdict.services:
        return []
    heading = (
        f"### ❌ Blocking: Services under {md_text(report.target)} "
        f"(`--fail-on {md_text(verdict.fail_on)}`)\n\n"
    )
    return [Section("blocking", partial(_headed, heading, _blocking_fates, report, verdict), True)]


def _open_conflict(conflict: Conflict) -> str:
    """A blocking conflict in the open: its message, then each object and where it is."""
    lines = [f"❌ **error:** {md_text(conflict.message)}", ""]
    for obj, where in located_objects(conflict):
        at = f" ({md_text(where)})" if where else ""
        lines.append(f"- {md_text(obj)}{at}")
    return "\n".join(lines).rstrip("\n")


def _blocking_fates(report: DiffReport, verdict: Verdict) -> str:
    blocking = set(verdict.services)
    fates = [f for f in report.predictions[report.target].fates if f.service in blocking]
    return "\n".join(f"- {_fate_words(fate)}" for fate in fates)


def _fate_words(fate: ServiceFate) -> str:
    what = [w for w, on in (("pending", fate.pending), ("stuck", fate.stuck)) if on]
    until = f" {md_text(fate.stuck_until)}" if fate.stuck_until else ""
    says = f": MetalLB says {md_text(fate.reason)}" if fate.reason else ""
    return f"**{md_text(fate.service)}**: {', '.join(what)} ({fate.when}){until}{says}"


def _warning_sections(warnings: tuple[Conflict, ...]) -> list[Section]:
    sections = []
    for index, conflict in enumerate(warnings):
        heading = "### Warnings\n\n" if index == 0 else ""
        sections.append(_section(conflict.severity, heading, _conflict, conflict))
    return sections


def _conflict(conflict: Conflict) -> str:
    icon = "❌" if conflict.severity == "error" else "⚠️"
    title = f"{icon} {html_text(conflict.severity)}: {html_text(conflict.message)}"
    lines = []
    for obj, where in located_objects(conflict):
        at = f" ({md_text(where)})" if where else ""
        lines.append(f"- {md_text(obj)}{at}")
    return _details(title, "\n".join(lines) or "No objects named.")


def _group_sections(groups: tuple[SharingGroupReport, ...]) -> list[Section]:
    touched = [g for g in groups if g.touched]
    sections = []
    for index, group in enumerate(touched):
        heading = "### Sharing groups touched by this change\n\n" if index == 0 else ""
        sections.append(_section("group", heading, _group, group))
    return sections


def _group(group: SharingGroupReport) -> str:
    flag = ", key-changing" if group.key_changing else ""
    title = (
        f"Group on <b>{html_text(names(group.ips))}</b> ({html_text(group.ips_source)}): "
        f"{len(group.members)} member(s){flag}"
    )
    lines = [
        f"- **Members:** {md_text(names(group.members))}",
        f"- **IPs:** {md_text(names(group.ips))} ({md_text(group.ips_source)})",
        f"- **Group id:** {md_text(group.id)}",
    ]
    if group.joining:
        lines.append(f"- **Joining:** {md_text(names(group.joining))}")
    if group.leaving:
        lines.append(f"- **Leaving:** {md_text(names(group.leaving))}")
    if group.key_changes:
        lines.append("- **Key-changing edits:**")
        lines += [f"  - {md_text(s)}: {md_text(names(f))}" for s, f in group.key_changes]
    return _details(title, "\n".join(lines))


def _plan_sections(report: DiffReport) -> list[Section]:
    if "plan" not in report.extras and not _mermaid(report):
        return []
    return [_section("plan", "### Plan\n\n", _plan, report)]


def _mermaid(report: DiffReport) -> str:
    mermaid = report.extras.get("mermaid")
    return mermaid.strip("\n") if isinstance(mermaid, str) and mermaid.strip() else ""


def _plan(report: DiffReport) -> str:
    parts = []
    if _mermaid(report):
        parts.append(fenced(_mermaid(report), "mermaid"))
    if "plan" in report.extras:
        parts.append(_details("Plan summary", fenced(extra_text(report.extras["plan"]))))
    return _SEPARATOR.join(parts)


def _notes_sections(notes: tuple[str, ...]) -> list[Section]:
    if not notes:
        return []
    return [_section("notes", "### Notes\n\n", _notes, notes)]


def _notes(notes: tuple[str, ...]) -> str:
    return "\n".join(f"- {md_text(note)}" for note in notes)


def _change_sections(changes: tuple[Change, ...]) -> list[Section]:
    sections = []
    for index, change in enumerate(changes):
        heading = f"### Changes ({len(changes)} object(s))\n\n" if index == 0 else ""
        sections.append(_section("change", heading, _change, change))
    return sections


def _change(change: Change) -> str:
    title = f"<b>{html_text(change.op)}</b> {html_text(str(change.key))}"
    if change.key_changing:
        title += f", key-changing: {html_text(names(change.key_changing))}"
    lines = [patch_line(op) for op in safe_patch(change)]
    body = fenced("\n".join(lines)) if lines else "No patch."
    fields = [
        f"- {md_text(field_name(f.path))}: "
        f"{md_text(show_value(f.old))} → {md_text(show_value(f.new))}"
        for f in field_changes(change)
    ]
    if fields:
        body = "\n".join(fields) + _SEPARATOR + body
    if change.origin:
        body = f"From {md_text(str(change.origin))}.\n\n{body}"
    return _details(title, body)


def _cut_note(cut: list[Section]) -> str:
    tally = Counter(s.kind if s.kind in _KIND_WORDS else "other" for s in cut)
    words = {**_KIND_WORDS, "other": "other section(s)"}
    listed = ", ".join(f"{tally[k]:,} {word}" for k, word in words.items() if tally[k])
    return (
        f"> **Cut to stay under GitHub's {GITHUB_COMMENT_LIMIT:,}-character comment limit:** "
        f"{listed} left out. Run `planner diff` with `--output text` or `--output json` "
        "for the whole report."
    )
