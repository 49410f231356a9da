"""Old → new per changed field: read by replaying the real diff's patch over the normalised live
object, Secret values redacted, nothing shown when the patch does not fit."""

from __future__ import annotations

from typing import Any

from planner.analysis.records import DiffReport
from planner.diff import Change, diff_objects
from planner.objects import KubeObject, ObjectKey
from planner.render.fields import (
    ABSENT,
    FieldChange,
    field_changes,
    field_line,
    field_name,
    show_value,
)
from planner.render.json_report import report_to_dict
from planner.render.text import render_text
from tests.render.sample_report import sample_changes

KEY = ObjectKey("Service", "dns", "dns-tcp")


def _service(policy: str, ports: list[dict[str, Any]], **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "dns-tcp", "namespace": "dns"}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy, "ports": ports},
    }


def _update(desired: dict[str, Any], live: dict[str, Any], key: ObjectKey = KEY) -> Change:
    (change,) = diff_objects([KubeObject(key, desired)], [KubeObject(key, live)])
    assert change.op == "update"
    return change


def test_a_policy_edit_reads_cluster_to_local() -> None:
    port = [{"name": "dns", "port": 53, "protocol": "TCP"}]
    change = _update(_service("Local", port), _service("Cluster", port))
    assert [field_line(f) for f in field_changes(change)] == [
        "spec.externalTrafficPolicy: Cluster → Local"
    ]


def test_list_indices_mean_what_they_meant_to_the_diff() -> None:
    # Live lists the ports in another order; the diff compares them in desired order, so
    # /spec/ports/1 is "b" and its old port is 81, not the live list's second entry.
    live_ports = [
        {"name": "b", "port": 81, "protocol": "TCP"},
        {"name": "a", "port": 80, "protocol": "TCP"},
    ]
    desired_ports = [
        {"name": "a", "port": 80, "protocol": "TCP"},
        {"name": "b", "port": 8081, "protocol": "TCP"},
    ]
    change = _update(_service("Cluster", desired_ports), _service("Cluster", live_ports))
    assert [field_line(f) for f in field_changes(change)] == ["spec.ports[1].port: 81 → 8081"]


def test_added_and_removed_fields_say_absent() -> None:
    port = [{"port": 53, "protocol": "TCP"}]
    shared = {"team": "dns", "metallb.io/allow-shared-ip": "dns"}
    added = _update(_service("Cluster", port, **shared), _service("Cluster", port, team="dns"))
    assert [field_line(f) for f in field_changes(added)] == [
        'metadata.annotations["metallb.io/allow-shared-ip"]: (absent) → dns'
    ]
    removed = _update(_service("Cluster", port, team="dns"), _service("Cluster", port, **shared))
    assert [field_line(f) for f in field_changes(removed)] == [
        'metadata.annotations["metallb.io/allow-shared-ip"]: dns → (absent)'
    ]


def test_secret_values_are_redacted_before_and_after() -> None:
    key = ObjectKey("Secret", "dns", "creds")
    meta = {"name": "creds", "namespace": "dns"}
    old, new = "b2xkLXBhc3N3b3Jk", "bmV3LXBhc3N3b3Jk"
    change = _update(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**meta, "labels": {"v": "2"}},
            "data": {"pw": new},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**meta, "labels": {"v": "1"}},
            "data": {"pw": old},
        },
        key,
    )
    lines = [field_line(f) for f in field_changes(change)]
    assert lines == ['metadata.labels.v: "1" → "2"', 'data.pw: "<redacted>" → "<redacted>"']
    report = DiffReport(changes=(change,), groups=(), conflicts=(), predictions={}, target="fixed")
    for text in (render_text(report), str(report_to_dict(report))):
        assert old not in text and new not in text


def test_a_patch_that_does_not_fit_its_base_shows_no_fields() -> None:
    secret_update = next(c for c in sample_changes() if c.key.name == "tsig-key")
    assert (
        field_changes(secret_update) == ()
    )  # its hand-made patch adds under a missing /metadata/labels
    creation = next(c for c in sample_changes() if c.op == "create")
    assert field_changes(creation) == ()


def test_field_names_and_values_read_plainly() -> None:
    assert field_name("/spec/ports/0/port") == "spec.ports[0].port"
    assert field_name("/metadata/annotations/a~1b") == 'metadata.annotations["a/b"]'
    assert show_value("Local") == "Local"
    assert show_value("10.0.0.1") == "10.0.0.1"
    assert show_value("80") == '"80"'  # a string that would read as a number stays quoted
    assert show_value("") == '""'
    assert show_value({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    assert show_value("x" * 200).endswith("…") and len(show_value("x" * 200)) == 80
    assert field_line(FieldChange("/spec/x", ABSENT, 3)) == "spec.x: (absent) → 3"


def test_the_json_report_carries_old_and_new() -> None:
    port = [{"port": 53, "protocol": "TCP"}]
    change = _update(_service("Local", port), _service("Cluster", port))
    report = DiffReport(changes=(change,), groups=(), conflicts=(), predictions={}, target="fixed")
    (data,) = report_to_dict(report)["changes"]
    assert data["fields"] == [
        {
            "path": "/spec/externalTrafficPolicy",
            "field": "spec.externalTrafficPolicy",
            "old": "Cluster",
            "new": "Local",
        }
    ]
