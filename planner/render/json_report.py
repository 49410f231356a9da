"""The machine report of `planner diff`: JSON with sorted keys and stable bytes.

    data = report_to_dict(report)   # the document, as plain Python values
    text = render_json(report)      # the same, one line; schema: planner/schemas/diff-report.schema.json

Unchanged objects are counted in `summary.changes` but not listed in `changes`.
"""

from __future__ import annotations

import json
from importlib import resources
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
from planner.render.fields import ABSENT, FieldChange, field_changes, field_name
from planner.render.redact import safe_patch
from planner.render.summary import changed, counts, ordered_predictions, to_jsonable

REPORT_VERSION = 1
SCHEMA_FILE = "diff-report.schema.json"


def render_json(report: DiffReport, fail_on: str = DEFAULT_FAIL_ON) -> str:
    """The report as compact JSON on one line with sorted keys, ending in a newline; its verdict
    is judged under `fail_on`."""
    # Compact on purpose: with `indent`, json falls back to its pure-Python encoder, about
    # four times slower on a 10,000-Service report. `jq .` pretty-prints it for people.
    data = report_to_dict(report, fail_on)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def report_to_dict(report: DiffReport, fail_on: str = DEFAULT_FAIL_ON) -> dict[str, Any]:
    """The JSON document of a report as plain dicts and lists (Secret values redacted)."""
    total = counts(report)
    judged = verdict(report, fail_on)
    return {
        "version": REPORT_VERSION,
        "verdict": _verdict(judged),
        "target": report.target,
        "live_source": report.live_source,
        "statuses_known": report.statuses_known,
        "summary": {
            "changes": dict(total.ops),
            "groups": total.groups,
            "groups_touched": total.groups_touched,
            "groups_key_changing": total.groups_key_changing,
            "errors": total.errors,
            "warnings": total.warnings,
        },
        "changes": [_change(c) for c in changed(report)],
        "groups": [_group(g) for g in report.groups],
        "conflicts": [_conflict(c) for c in report.conflicts],
        "predictions": {p.behavior: _prediction(p) for p in ordered_predictions(report)},
        "notes": list(report.notes),
        "unrendered": [str(entry) for entry in report.unrendered],
        "extras": {str(k): to_jsonable(v) for k, v in report.extras.items()},
    }


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report, read from the package data."""
    text = resources.files("planner").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _change(change: Change) -> dict[str, Any]:
    return {
        "kind": change.key.kind,
        "namespace": change.key.namespace,
        "name": change.key.name,
        "op": change.op,
        "patch": to_jsonable(safe_patch(change)),
        "fields": [_field(f) for f in field_changes(change)],
        "key_changing": list(change.key_changing),
        "origin": str(change.origin) if change.origin else "",
    }


def _verdict(verdict: Verdict) -> dict[str, Any]:
    return {
        "exit_code": verdict.code,
        "blocks": verdict.blocks,
        "text": verdict.sentence,
        "fail_on": verdict.fail_on,
        "services": list(verdict.services),
    }


def _field(field: FieldChange) -> dict[str, Any]:
    """A changed field; `old` is left out when the field was added, `new` when removed."""
    data: dict[str, Any] = {"path": field.path, "field": field_name(field.path)}
    if field.old is not ABSENT:
        data["old"] = to_jsonable(field.old)
    if field.new is not ABSENT:
        data["new"] = to_jsonable(field.new)
    return data


def _group(group: SharingGroupReport) -> dict[str, Any]:
    return {
        "id": group.id,
        "members": list(group.members),
        "ips": list(group.ips),
        "ips_source": group.ips_source,
        "key_changing": group.key_changing,
        "touched": group.touched,
        "joining": list(group.joining),
        "leaving": list(group.leaving),
        "key_changes": [
            {"service": service, "fields": list(fields)} for service, fields in group.key_changes
        ],
    }


def _conflict(conflict: Conflict) -> dict[str, Any]:
    return {
        "message": conflict.message,
        "objects": list(conflict.objects),
        "severity": conflict.severity,
        "origin": conflict.origin,
        "origins": list(conflict.origins),
    }


def _prediction(prediction: Prediction) -> dict[str, Any]:
    found: dict[str, Any] = {
        "pending": list(prediction.pending),
        "stuck": list(prediction.stuck),
        "ip_changed": list(prediction.ip_changed),
        "fates": [_fate(f) for f in prediction.fates],
        "orders_explored": prediction.orders_explored,
        "exhaustive": prediction.exhaustive,
    }
    if prediction.unfinished:
        # Only when some did not finish: reports without any stay as they were.
        found["unfinished"] = prediction.unfinished
    if prediction.never_settling:
        found["never_settles"] = list(prediction.never_settling)  # only when any, likewise
    if prediction.sampled_components:
        found["sampled_orders"] = prediction.sampled_orders  # likewise
        found["sampled_components"] = prediction.sampled_components
    return found


def _fate(fate: ServiceFate) -> dict[str, Any]:
    return {
        "service": fate.service,
        "pending": fate.pending,
        "stuck": fate.stuck,
        "ip_changed": fate.ip_changed,
        "reason": fate.reason,
        "always": fate.always,
        # Only when set: reports without them stay as they were.
        **({"stuck_until": fate.stuck_until} if fate.stuck_until else {}),
        **({"never_settles": fate.never_settles} if fate.never_settles else {}),
        **({"sampled": True} if fate.sampled else {}),
    }
