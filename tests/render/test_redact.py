"""Secret values are redacted by the renderers themselves, whatever upstream left in a patch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from planner.diff import Change
from planner.objects import ObjectKey
from planner.render import redact
from planner.render.redact import MASK, safe_patch, safe_secret_body
from tests.render.sample_report import SECRET_PLAIN, SECRET_VALUE

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _secret_change(patch: list[dict[str, Any]]) -> Change:
    return Change(key=ObjectKey("Secret", "ns", "creds"), op="update", patch=patch)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/data/password", SECRET_VALUE),
        ("/stringData/plain", SECRET_PLAIN),
        ("/data", {"password": SECRET_VALUE}),
        ("/stringData", {"plain": SECRET_PLAIN}),
        ("", {"kind": "Secret", "data": {"password": SECRET_VALUE}}),
        ("/metadata/annotations/" + LAST_APPLIED.replace("/", "~1"), SECRET_VALUE),
    ],
)
def test_secret_values_are_redacted_at_every_path(path: str, value: object) -> None:
    ops = safe_patch(_secret_change([{"op": "add", "path": path, "value": value}]))
    printed = json.dumps(ops)
    assert SECRET_VALUE not in printed
    assert SECRET_PLAIN not in printed
    assert ops[0]["path"] == path


def test_secret_metadata_outside_the_data_is_kept() -> None:
    ops = safe_patch(
        _secret_change([{"op": "add", "path": "/metadata/labels/team", "value": "dns"}])
    )
    assert ops == [{"op": "add", "path": "/metadata/labels/team", "value": "dns"}]


def test_operations_without_a_value_pass_through() -> None:
    patch = [{"op": "remove", "path": "/data/old"}, {"op": "move", "from": "/a", "path": "/b"}]
    assert safe_patch(_secret_change(patch)) == patch


def test_other_kinds_are_not_touched() -> None:
    op = {"op": "replace", "path": "/data/password", "value": "visible-in-a-configmap"}
    change = Change(key=ObjectKey("ConfigMap", "ns", "cm"), op="update", patch=[op])
    assert safe_patch(change) == [op]


def test_a_non_mapping_whole_body_is_masked() -> None:
    assert safe_patch(_secret_change([{"op": "add", "path": "", "value": "raw"}]))[0] == {
        "op": "add",
        "path": "",
        "value": MASK,
    }


def test_the_input_patch_is_not_mutated() -> None:
    patch = [{"op": "replace", "path": "/data/password", "value": SECRET_VALUE}]
    safe_patch(_secret_change(patch))
    assert patch[0]["value"] == SECRET_VALUE


def test_values_a_broken_upstream_redaction_leaves_are_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # If redact_secret ever stopped redacting, the renderers' own check still masks the values.
    monkeypatch.setattr(redact, "redact_secret", lambda body: body)
    body = {
        "kind": "Secret",
        "data": {"password": SECRET_VALUE},
        "stringData": "not-a-mapping",
        "metadata": {"annotations": {LAST_APPLIED: json.dumps({"data": SECRET_VALUE})}},
    }
    safe = safe_secret_body(body)
    assert safe["data"] == {"password": MASK}
    assert safe["stringData"] == MASK
    assert safe["metadata"]["annotations"][LAST_APPLIED] == MASK
    assert body["data"] == {"password": SECRET_VALUE}
