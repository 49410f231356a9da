"""Live snapshots keep only the Apply entries of managedFields; a YAML snapshot's other entries
are cut from the text before parsing, with the same documents and lines as a full parse (issue 17)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.diff.project import applied_template
from planner.errors import InputError
from planner.sources import documents
from planner.sources.documents import Parsed, parse_json, parse_snapshot, parse_yaml
from planner.sources.live import load_live_file
from planner.sources.managed_fields import applied_only, slim_managed_fields

TIME = "2026-11-01T00:00:00Z"


def _entry(operation: str, fields: dict[str, Any], manager: str = "kubectl") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": operation,
        "time": TIME,
    }


def _service(name: str, entries: list[dict[str, Any]], last_applied: bool = True) -> dict[str, Any]:
    # copies: PyYAML would write an object met twice as an anchor and an alias
    managed = json.loads(json.dumps(entries))  # (a deep copy keeps what is shared)
    metadata: dict[str, Any] = {"name": name, "namespace": "dns", "managedFields": managed}
    if last_applied:
        applied = {"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}}
        metadata["annotations"] = {
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied) + "\n"
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"type": "LoadBalancer", "ports": [{"port": 53, "protocol": "UDP"}]},
    }


UPDATE = _entry("Update", {"f:spec": {"f:ports": {".": {}, 'k:{"port":53,"protocol":"UDP"}': {}}}})
STATUS = {**_entry("Update", {"f:status": {"f:loadBalancer": {}}}), "subresource": "status"}
APPLY = _entry("Apply", {"f:spec": {"f:type": {}}}, manager="argocd-controller")


def _kubectl_list(items: list[dict[str, Any]]) -> str:
    """A List as `kubectl get -o yaml` prints it (sequences at their key's column)."""
    body = {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
    return yaml.safe_dump(body, sort_keys=True, default_flow_style=False)


def _reference(text: str) -> Parsed:
    """The full parse of every line, then managedFields reduced to Apply entries."""
    parsed = parse_yaml(text, "live.yaml")
    for document in parsed.documents:
        applied_only(document.body)
    return parsed


def _same(slim: Parsed, full: Parsed) -> None:
    assert [d.origin for d in slim.documents] == [d.origin for d in full.documents]
    assert [d.body for d in slim.documents] == [d.body for d in full.documents]
    assert slim.notes == full.notes


# --- what is kept ------------------------------------------------------------------------------


def test_update_entries_are_cut_and_apply_entries_kept() -> None:
    text = _kubectl_list([_service("a", [UPDATE, APPLY, STATUS]), _service("b", [UPDATE])])
    slimmed = slim_managed_fields(text)
    assert slimmed is not None
    assert sorted(slimmed.edits.values()) == [0, 1]  # b keeps none, a keeps its Apply entry
    assert slimmed.text.count("\n") == text.count("\n")  # every line where it was
    parsed = parse_snapshot(text, "live.yaml")
    first, second = (d.body["metadata"] for d in parsed.documents)
    assert first["managedFields"] == [APPLY]
    assert "managedFields" not in second
    _same(parsed, _reference(text))


def test_the_applied_template_is_the_same_as_from_every_entry() -> None:
    items = [_service("a", [UPDATE, APPLY, STATUS]), _service("b", [UPDATE], last_applied=True)]
    text = _kubectl_list(items)
    full = parse_yaml(text, "live.yaml").documents
    slim = parse_snapshot(text, "live.yaml").documents
    for whole, slimmed in zip(full, slim, strict=True):
        assert applied_template(slimmed.body) == applied_template(whole.body)


def test_lines_of_later_items_stay_exact() -> None:
    items = [_service(f"s{n}", [UPDATE, STATUS]) for n in range(5)]
    text = _kubectl_list(items)
    slim = parse_snapshot(text, "live.yaml")
    lines = [n + 1 for n, line in enumerate(text.splitlines()) if line.startswith("- ")]
    assert [d.origin.line for d in slim.documents] == lines


def test_json_snapshots_keep_apply_entries_only(tmp_path: Path) -> None:
    body = {"apiVersion": "v1", "kind": "List", "items": [_service("a", [UPDATE, APPLY])]}
    parsed = parse_json(json.dumps(body), "live.json", snapshot=True)
    assert parsed.documents[0].body["metadata"]["managedFields"] == [APPLY]
    snapshot = tmp_path / "live.json"
    snapshot.write_text(json.dumps(body, indent=4))
    state = load_live_file(str(snapshot))
    assert state.services["dns/a"]["metadata"]["managedFields"] == [APPLY]
    # a desired manifest is not a snapshot: nothing of it is dropped
    assert parse_json(json.dumps(body), "x.json").documents[0].body == body["items"][0]


def test_live_yaml_files_are_read_as_snapshots(tmp_path: Path) -> None:
    snapshot = tmp_path / "live.yaml"
    snapshot.write_text(_kubectl_list([_service("a", [UPDATE, APPLY])]))
    state = load_live_file(str(snapshot))
    assert state.services["dns/a"]["metadata"]["managedFields"] == [APPLY]


def test_desired_yaml_is_not_slimmed() -> None:
    text = _kubectl_list([_service("a", [UPDATE])])
    assert parse_yaml(text, "a.yaml").documents[0].body["metadata"]["managedFields"] == [UPDATE]


# --- what is left to the YAML parser -----------------------------------------------------------


def test_sequences_indented_under_their_key_are_cut_too() -> None:
    # go-yaml v3 (and other printers) indent a sequence under its key
    text = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  managedFields:\n"
        "    - manager: kubectl\n      operation: Update\n      fieldsV1:\n        f:spec: {}\n"
        "    - manager: argocd\n      operation: Apply\n"
        "  namespace: dns\n"
    )
    slimmed = slim_managed_fields(text)
    assert slimmed is not None
    assert slimmed.edits == {4: 1}
    parsed = parse_snapshot(text, "live.yaml")
    assert parsed.documents[0].body["metadata"] == {
        "name": "a",
        "managedFields": [{"manager": "argocd", "operation": "Apply"}],
        "namespace": "dns",
    }
    _same(parsed, _reference(text))
    # a line between the key's column and the dashes is not a layout the text pass knows
    odd = text.replace("  namespace: dns\n", "   # a comment\n  namespace: dns\n")
    assert slim_managed_fields(odd) is None
    _same(parse_snapshot(odd, "live.yaml"), _reference(odd))


@pytest.mark.parametrize(
    "oddity",
    [
        "manager: &who kubectl\n",  # an anchor a later alias may use
        "manager: !!str kubectl\n",  # a tag
        'manager: "kube\\u0063tl"\n',  # an escape
        "manager: kubectl # says who\n",  # a comment
        "manager: a value with spaces\n",  # not of kubectl's simple form
        "manager: ApplyOperator\n",  # spells Apply
    ],
)
def test_entries_of_other_forms_are_left_to_the_parser(oddity: str) -> None:
    entry = "    - apiVersion: v1\n      fieldsType: FieldsV1\n      " + oddity
    entry += "      operation: Update\n"
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  managedFields:\n" + entry
    text = text.replace("\n    - ", "\n  - ").replace("\n      ", "\n    ")
    assert slim_managed_fields(text) is None
    _same(parse_snapshot(text, "live.yaml"), _reference(text))


def test_a_managed_fields_line_inside_a_string_is_not_cut() -> None:
    # A ConfigMap holding a manifest: the lines look like managedFields but are text.
    inner = "managedFields:\n- manager: kubectl\n  operation: Update\n"
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "dns"},
        "data": {"object.yaml": inner},
    }
    text = yaml.safe_dump(config, default_flow_style=False)
    assert "  managedFields:\n" in text or "managedFields:" in text
    parsed = parse_snapshot(text, "live.yaml")
    assert parsed.documents[0].body["data"]["object.yaml"] == inner
    literal = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: |\n"
        "    managedFields:\n    - manager: kubectl\n      operation: Update\n"
    )
    assert slim_managed_fields(literal) is not None  # the text pass cannot tell...
    body = parse_snapshot(literal, "live.yaml").documents[0].body  # ...the parse check can
    assert body["data"]["x"] == "managedFields:\n- manager: kubectl\n  operation: Update\n"


def test_malformed_yaml_elsewhere_is_reported_as_before() -> None:
    text = _kubectl_list([_service("a", [UPDATE])]) + "oops: [\n"
    with pytest.raises(InputError) as full:
        parse_yaml(text, "live.yaml")
    with pytest.raises(InputError) as slim:
        parse_snapshot(text, "live.yaml")
    assert str(slim.value) == str(full.value)


# --- the property: any mix of entries, whole or item by item ------------------------------------

_FIELD_KEYS = st.sampled_from(
    [
        "f:spec",
        "f:ports",
        "f:type",
        ".",
        'k:{"port":53,"protocol":"TCP"}',
        'k:{"port": 53}',  # written quoted (": " inside)
        'v:"a"',
        "f:metadata",
    ]
)
_FIELDS = st.recursive(
    st.just({}),
    lambda children: st.dictionaries(_FIELD_KEYS, children, max_size=3),
    max_leaves=6,
)
_OPERATIONS = st.sampled_from(["Update", "Apply", "Update", "Other"])
_MANAGERS = st.sampled_from(["kubectl-client-side-apply", "metallb-controller", "ApplySet", "x"])
_ENTRIES = st.lists(
    st.builds(
        lambda operation, fields, manager, status: {
            **_entry(operation, fields, manager),
            **({"subresource": "status"} if status else {}),
        },
        _OPERATIONS,
        _FIELDS,
        _MANAGERS,
        st.booleans(),
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(_ENTRIES, min_size=1, max_size=4),
    last_applied=st.booleans(),
    item_by_item=st.booleans(),
)
def test_slim_parse_is_the_full_parse_with_apply_entries_only(
    entries: list[list[dict[str, Any]]], last_applied: bool, item_by_item: bool
) -> None:
    items = [_service(f"s{n}", e, last_applied) for n, e in enumerate(entries)]
    text = _kubectl_list(items)
    large = documents.LARGE_LIST_CHARS
    documents.LARGE_LIST_CHARS = 0 if item_by_item else large
    slimmed = slim_managed_fields(text)
    try:
        slim, full = parse_snapshot(text, "live.yaml"), _reference(text)
        every_entry = parse_yaml(text, "live.yaml")
        # the cut text itself passed the node check (the result above is not the fallback's)
        fast = documents._parse_slimmed(slimmed, "live.yaml", None) if slimmed else None
    finally:
        documents.LARGE_LIST_CHARS = large
    _same(slim, full)
    for whole, one in zip(every_entry.documents, slim.documents, strict=True):
        assert applied_template(one.body) == applied_template(copy.deepcopy(whole.body))
    cuttable = any(
        e["operation"] != "Apply" and "Apply" not in e["manager"] for es in entries for e in es
    )
    assert (slimmed is not None) == cuttable
    assert (fast is not None) == cuttable
