"""How long a stuck Service stays stuck, and a Service MetalLB never settles, in every report."""

from __future__ import annotations

import json
from dataclasses import replace

from planner.analysis.records import DiffReport, Prediction, ServiceFate
from planner.model.controller import STUCK_UNTIL_NUDGE
from planner.render.json_report import load_schema, render_json
from planner.render.markdown import render_markdown
from planner.render.text import render_text
from tests.render.sample_report import sample_report
from tests.render.schema_subset import validate

CAUSE = (
    "MetalLB v0.15.3 never settles it: a single-stack PreferDualStack Service on a pool with "
    "both families flips between one and two IPs"
)


def _report() -> DiffReport:
    """The sample report with metallb-0.15 (the target) leaving one Service stuck until a nudge
    or restart and never settling another; no static conflict, so the verdict lists them."""
    report = sample_report()
    stuck = ServiceFate(
        "web/api", pending=True, stuck=True, ip_changed=False, stuck_until=STUCK_UNTIL_NUDGE
    )
    flips = ServiceFate(
        "web/dual", pending=False, stuck=False, ip_changed=False, never_settles=CAUSE
    )
    predictions = dict(report.predictions)
    predictions["metallb-0.15"] = Prediction("metallb-0.15", (stuck, flips), 2, True)
    # No static conflict: the verdict then lists the Services the policy refuses.
    warnings = tuple(c for c in report.conflicts if c.severity != "error")
    return replace(report, predictions=predictions, conflicts=warnings)


def test_text_says_until_what_and_never_settles() -> None:
    text = render_text(_report())
    assert "web/api: pending, stuck (in some orders) until a nudge or restart" in text
    assert f"web/dual: never settles (in some orders): {CAUSE}" in text


def test_markdown_says_until_what_and_never_settles() -> None:
    text = render_markdown(_report())
    assert (
        "| web/api | yes (some orders) | yes (some orders), until a nudge or restart | no |" in text
    )
    assert f"| web/dual | no | no | no | {CAUSE} |" in text
    # The blocking list under --fail-on stuck says it too.
    assert "- **web/api**: pending, stuck (in some orders) until a nudge or restart" in text


def test_json_carries_both_and_stays_valid() -> None:
    data = json.loads(render_json(_report()))
    found = data["predictions"]["metallb-0.15"]
    fates = {f["service"]: f for f in found["fates"]}
    assert fates["web/api"]["stuck_until"] == STUCK_UNTIL_NUDGE
    assert fates["web/dual"]["never_settles"] == CAUSE
    assert "never_settles" not in fates["web/api"] and "stuck_until" not in fates["web/dual"]
    assert found["never_settles"] == ["web/dual"]
    assert "never_settles" not in data["predictions"]["fixed"]
    assert validate(data, load_schema()) == []
