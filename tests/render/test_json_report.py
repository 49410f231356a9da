"""The machine report: snapshot, schema validity, stable bytes, and the test's own validator."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from planner.render.json_report import load_schema, render_json, report_to_dict
from tests.render.golden import assert_matches_golden
from tests.render.sample_report import sample_report
from tests.render.schema_subset import validate


def test_json_report_matches_its_snapshot() -> None:
    assert_matches_golden("diff-report.json", render_json(sample_report()))


def test_json_report_is_valid_against_the_packaged_schema() -> None:
    assert validate(json.loads(render_json(sample_report())), load_schema()) == []


def test_an_empty_report_is_valid_too() -> None:
    empty = replace(sample_report(), changes=(), groups=(), conflicts=(), predictions={}, extras={})
    assert validate(report_to_dict(empty), load_schema()) == []


def test_the_issue_fields_are_there() -> None:
    data = report_to_dict(sample_report())
    assert data["version"] == 1
    assert {"kind", "namespace", "name", "op", "patch"} <= set(data["changes"][0])
    group = data["groups"][0]
    assert group["members"] == ["dns/dns-tcp", "dns/dns-udp"]
    assert (group["key_changing"], group["touched"]) == (True, True)
    assert data["conflicts"][0]["objects"] == ["ingress/http", "web/web-<b>|admin"]
    assert data["predictions"]["metallb-0.14"]["stuck"] == ["dns/dns-tcp"]
    assert data["predictions"]["metallb-0.15"]["ip_changed"] == ["ingress/https"]
    assert "unchanged" not in {c["op"] for c in data["changes"]}
    assert data["summary"]["changes"]["unchanged"] == 1


def test_same_report_same_bytes_whatever_the_dict_order() -> None:
    report = sample_report()
    reordered = replace(
        report,
        predictions=dict(reversed(list(report.predictions.items()))),
        extras=dict(reversed(list(report.extras.items()))),
    )
    assert render_json(reordered) == render_json(report)
    assert render_json(report).endswith("}\n")


def test_the_validator_reports_what_is_wrong() -> None:
    data = report_to_dict(sample_report())
    del data["target"]
    data["version"] = 2
    data["changes"][0]["op"] = "unchanged"
    data["groups"][0]["touched"] = "yes"
    data["summary"]["errors"] = -1
    data["predictions"]["fixed"]["orders_explored"] = True
    data["surprise"] = 1
    problems = validate(data, load_schema())
    assert "$: missing 'target'" in problems
    assert "$.version: expected 1, got 2" in problems
    assert "$: unexpected 'surprise'" in problems
    assert any(p.startswith("$.changes[0].op:") for p in problems)
    assert "$.groups[0].touched: expected boolean, got str" in problems
    assert "$.summary.errors: -1 is below 0" in problems
    assert "$.predictions.fixed.orders_explored: expected integer, got bool" in problems
    assert len(problems) == 7


def test_the_validator_refuses_keywords_it_does_not_check() -> None:
    with pytest.raises(ValueError, match="anyOf"):
        validate(1, {"anyOf": [{"type": "integer"}]})
    with pytest.raises(ValueError, match="local"):
        validate(1, {"$ref": "https://example.com/schema"})
