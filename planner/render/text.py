"""The terminal report of `planner diff`: summary table, groups, conflicts, prediction, changes.

    print(render_text(report, color=sys.stdout.isatty()), end="")

Colour only when the caller says so (it writes to a TTY); user text is stripped of control
characters so a name or message cannot move the cursor or change colours.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import click

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
from planner.render.fields import field_changes, field_line
from planner.render.redact import safe_patch
from planner.render.summary import (
    Counts,
    changed,
    counts,
    extra_text,
    live_source_line,
    located_objects,
    names,
    ordered_predictions,
    patch_line,
    shown_groups,
)

Paint = Callable[..., str]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_OP_MARK = {"create": "+", "update": "~", "delete": "-"}
_OP_COLOR = {"create": "green", "update": "yellow", "delete": "red"}


def render_text(report: DiffReport, color: bool = False, fail_on: str = DEFAULT_FAIL_ON) -> str:
    """The whole terminal report, ending in a newline; ANSI colours only when `color`.

    It begins with the verdict under `fail_on`, then what blocks, if anything."""
    paint = _painter(color)
    judged = verdict(report, fail_on)
    sections = [
        _header(report, judged, paint),
        _blocking(report, judged, paint),
        _summary(report, counts(report), paint),
        _groups(shown_groups(report), paint),
        _warnings(report.warnings, paint),
        _predictions(report, paint),
        _plan(report, paint),
        _notes(report.notes, paint),
        _changes(changed(report), paint),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def plain(text: str) -> str:
    """User text with control characters (escape sequences, newlines) shown as `\\xNN`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).replace("\n", "\\n")


def _painter(color: bool) -> Paint:
    """click.style when colouring, else a function that returns the text as it is."""

    def paint(text: str, **style: object) -> str:
        return click.style(text, **style) if color else text  # type: ignore[arg-type]

    return paint


def _header(report: DiffReport, verdict: Verdict, paint: Paint) -> list[str]:
    return [
        paint(plain(verdict.sentence), fg="red" if verdict.blocks else "green", bold=True),
        paint(f"planner diff: target {plain(report.target)}", bold=True),
        plain(live_source_line(report)),
    ]


def _summary(report: DiffReport, total: Counts, paint: Paint) -> list[str]:
    ops = ", ".join(f"{n} {op}" for op, n in total.ops.items())
    conflict_color = "red" if total.errors else None
    lines = [
        paint("Summary", bold=True),
        f"  changes    {ops}",
        (
            f"  groups     {total.groups} ({total.groups_touched} touched, "
            f"{total.groups_key_changing} key-changing)"
        ),
        "  conflicts  "
        + paint(f"{total.errors} error(s)", fg=conflict_color)
        + f", {total.warnings} warning(s)",
    ]
    return lines + [""] + _behaviour_table(report, paint)


def _behaviour_table(report: DiffReport, paint: Paint) -> list[str]:
    """One row per MetalLB behaviour: how many services go pending, stay stuck, change IP."""
    rows = [("behaviour", "pending", "stuck", "ip changed")]
    for p in ordered_predictions(report):
        label = f"{p.behavior} (target)" if p.behavior == report.target else p.behavior
        rows.append((plain(label), str(len(p.pending)), str(len(p.stuck)), str(len(p.ip_changed))))
    if len(rows) == 1:
        return ["  no prediction"]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(width[0])] + [row[i].rjust(width[i]) for i in (1, 2, 3)]
        line = "  " + "  ".join(cells)
        stuck = index > 0 and row[2] != "0"
        lines.append(
            paint(line, bold=True) if index == 0 else paint(line, fg="red") if stuck else line
        )
    return lines


def _groups(groups: tuple[SharingGroupReport, ...], paint: Paint) -> list[str]:
    touched = [g for g in groups if g.touched]
    if not groups:
        return []
    lines = [paint("Sharing groups touched by this change", bold=True)]
    for group in touched:
        lines += _group(group, paint)
    untouched = len(groups) - len(touched)
    if untouched:
        lines.append(f"  ({untouched} untouched group(s) not shown)")
    if not touched:
        lines.append("  none")
    return lines


def _group(group: SharingGroupReport, paint: Paint) -> list[str]:
    flag = paint(" [key-changing]", fg="yellow") if group.key_changing else ""
    lines = [
        f"  on {plain(names(group.ips))} ({plain(group.ips_source)}){flag}",
        f"    members  {plain(names(group.members))}",
    ]
    if group.joining:
        lines.append(f"    joining  {plain(names(group.joining))}")
    if group.leaving:
        lines.append(f"    leaving  {plain(names(group.leaving))}")
    for service, fields in group.key_changes:
        lines.append(f"    {plain(service)} changes {plain(names(fields))}")
    lines.append(f"    group id {plain(group.id)}")
    return lines


def _blocking(report: DiffReport, verdict: Verdict, paint: Paint) -> list[str]:
    """What makes the verdict "blocks": the static conflicts, else the Services the policy
    refuses with MetalLB's words; nothing when it passes."""
    if report.errors:
        lines = [paint("Blocking: static conflicts (never converge)", bold=True)]
        for conflict in report.errors:
            lines += _conflict(conflict, paint)
        return lines
    if not verdict.services:
        return []
    prediction = report.predictions[report.target]
    title = f"Blocking: Services under {plain(report.target)} (--fail-on {verdict.fail_on})"
    fates = [f for f in prediction.fates if f.service in set(verdict.services)]
    return [paint(title, bold=True)] + ["  " + _fate(fate, paint) for fate in fates]


def _warnings(warnings: tuple[Conflict, ...], paint: Paint) -> list[str]:
    if not warnings:
        return []
    lines = [paint("Warnings", bold=True)]
    for conflict in warnings:
        lines += _conflict(conflict, paint)
    return lines


def _conflict(conflict: Conflict, paint: Paint) -> list[str]:
    mark = paint(conflict.severity, fg="red" if conflict.severity == "error" else "yellow")
    lines = [f"  {mark}: {plain(conflict.message)}"]
    for obj, where in located_objects(conflict):
        at = f" ({plain(where)})" if where else ""
        lines.append(f"    - {plain(obj)}{at}")
    return lines


def _predictions(report: DiffReport, paint: Paint) -> list[str]:
    predictions = ordered_predictions(report)
    if not predictions:
        return []
    lines = [paint("Prediction: the change applied as it is, per MetalLB version", bold=True)]
    for prediction in predictions:
        lines += _prediction(prediction, prediction.behavior == report.target, paint)
    return lines


def _prediction(prediction: Prediction, is_target: bool, paint: Paint) -> list[str]:
    target = " (target)" if is_target else ""
    heading = f"  {plain(prediction.behavior)}{release_note(prediction.behavior)}{target}"
    lines = [f"{heading}: {prediction.explored}"]
    notable = [f for f in prediction.fates if _notable(f)]
    for fate in notable:
        lines.append("    " + _fate(fate, paint))
    if not notable:
        lines.append("    nobody goes pending or changes IP")
    return lines


def _notable(fate: ServiceFate) -> bool:
    return fate.pending or fate.stuck or fate.ip_changed or bool(fate.never_settles)


def _fate(fate: ServiceFate, paint: Paint) -> str:
    what = [w for w, on in (("pending", fate.pending), ("stuck", fate.stuck)) if on]
    if fate.ip_changed:
        what.append("IP changed")
    if fate.never_settles:
        what.append("never settles")
    text = f"{plain(fate.service)}: {', '.join(what)} ({fate.when})"
    if fate.stuck_until:
        text += f" {plain(fate.stuck_until)}"
    says = "; ".join(plain(s) for s in (fate.reason, fate.never_settles) if s)
    if says:
        text += f": {says}"
    if fate.stuck:
        return paint(text, fg="red")
    return paint(text, fg="yellow") if fate.never_settles else text


def _plan(report: DiffReport, paint: Paint) -> list[str]:
    if "plan" not in report.extras:
        return []
    body = extra_text(report.extras["plan"]).splitlines()
    return [paint("Plan", bold=True)] + ["  " + plain(line) for line in body]


def _notes(notes: tuple[str, ...], paint: Paint) -> list[str]:
    if not notes:
        return []
    return [paint("Notes", bold=True)] + [f"  - {plain(note)}" for note in notes]


def _changes(changes: tuple[Change, ...], paint: Paint) -> list[str]:
    if not changes:
        return [paint("Changes", bold=True), "  no changes"]
    lines = [paint("Changes", bold=True)]
    for change in changes:
        head = f"  {_OP_MARK.get(change.op, '?')} {change.op} {plain(str(change.key))}"
        where = f"  ({plain(str(change.origin))})" if change.origin else ""
        lines.append(paint(head, fg=_OP_COLOR.get(change.op)) + where)
        if change.key_changing:
            key_fields = paint(plain(names(change.key_changing)), fg="yellow")
            lines.append(f"      key-changing: {key_fields}")
        lines += ["      " + plain(field_line(field)) for field in field_changes(change)]
        lines += ["      " + plain(patch_line(op)) for op in safe_patch(change)]
    return lines
