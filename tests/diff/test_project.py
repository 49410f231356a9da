"""Templates: projection, union, and the fieldsV1 ownership sets of server-side apply."""

from __future__ import annotations

import json

from planner.diff.project import (
    WHOLE,
    applied_template,
    project,
    project_either,
    template_from_fields_v1,
    union,
)
from tests.diff.builders import fields_v1


def test_a_mapping_template_keeps_only_the_keys_it_names() -> None:
    live = {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}
    assert project(live, {"a": "x", "b": {"c": WHOLE}}) == {"a": 1, "b": {"c": 2}}


def test_a_leaf_template_keeps_the_whole_live_value() -> None:
    live = {"selector": {"app": "x", "tier": "y"}}
    assert project(live, {"selector": WHOLE}) == live
    assert project(live, {"selector": "anything scalar"}) == live


def test_list_elements_are_matched_by_name_or_port_and_protocol_in_template_order() -> None:
    live = [
        {"name": "b", "port": 2, "protocol": "UDP", "nodePort": 30002},
        {"name": "a", "port": 1, "protocol": "TCP", "nodePort": 30001},
        {"name": "z", "port": 9, "protocol": "TCP"},
    ]
    template = [{"name": "a", "port": 1}, {"port": 2, "protocol": "UDP"}]
    assert project(live, template) == [
        {"name": "a", "port": 1},
        {"port": 2, "protocol": "UDP"},
    ]


def test_lists_without_identities_are_projected_by_position_and_scalar_lists_kept_whole() -> None:
    live = [{"x": 1, "y": 2}, {"x": 3, "y": 4}]
    assert project(live, [{"x": 0}]) == [{"x": 1}, {"x": 3, "y": 4}]
    assert project(["a", "b", "c"], ["a"]) == ["a", "b", "c"]


def test_union_merges_mappings_concatenates_lists_and_widens_leaves() -> None:
    assert union({"a": {"b": 1}}, {"a": {"c": 2}, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}
    assert union([{"name": "a"}], [{"name": "b"}]) == [{"name": "a"}, {"name": "b"}]
    assert union({"a": 1}, {"a": {"b": 2}}) == {"a": WHOLE}
    assert union(None, {"a": 1}) == {"a": 1}


def test_fields_v1_becomes_a_template_with_keyed_list_elements() -> None:
    fields = {
        "f:metadata": {"f:annotations": {".": {}, "f:metallb.io/allow-shared-ip": {}}},
        "f:spec": {
            "f:selector": {},
            "f:ports": {
                'k:{"port":53,"protocol":"UDP"}': {".": {}, "f:name": {}, "f:port": {}},
            },
            "f:externalIPs": {'v:"1.2.3.4"': {}},
        },
    }
    assert template_from_fields_v1(fields) == {
        "metadata": {"annotations": {"metallb.io/allow-shared-ip": WHOLE}},
        "spec": {
            "selector": WHOLE,
            "ports": [{"name": WHOLE, "port": 53, "protocol": "UDP"}],
            "externalIPs": [WHOLE],
        },
    }


def test_a_map_owned_without_keys_keeps_an_empty_map() -> None:
    assert template_from_fields_v1({"f:labels": {".": {}}}) == {"labels": {}}


def test_the_applied_template_unites_last_applied_and_every_apply_manager() -> None:
    recorded = {"metadata": {"labels": {"a": "1"}}}
    ssa = {"metadata": {"annotations": {"b": "2"}}}
    live = {
        "metadata": {
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(recorded)
            },
            "managedFields": [
                {"manager": "flux", "operation": "Apply", "fieldsV1": fields_v1(ssa)},
                {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {}}},
            ],
        }
    }
    assert applied_template(live) == {
        "metadata": {"labels": {"a": "1"}, "annotations": {"b": WHOLE}},
    }


def test_no_record_means_no_applied_template() -> None:
    trimmed = {
        "metadata": {"managedFields": [{"manager": "argocd-controller", "operation": "Apply"}]}
    }
    assert applied_template(trimmed) is None
    broken = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{"}}
    }
    assert applied_template(broken) is None


def test_a_scalar_is_kept_as_it_is_whatever_its_template() -> None:
    """Scalars are taken without a recursive call; a container under the same templates is
    still projected (both walks, one template and two)."""
    live = {"a": 1, "b": "x", "c": None, "d": {"e": 2, "f": 3}, "g": [{"name": "p", "h": 4}]}
    template = {"a": {"z": WHOLE}, "b": [{}], "c": {}, "d": {"e": WHOLE}, "g": [{"name": "p"}]}
    expected = {"a": 1, "b": "x", "c": None, "d": {"e": 2}, "g": [{"name": "p"}]}
    assert project(live, template) == expected
    assert project_either(live, template, {"d": {}}) == expected
    assert project_either(live, {"a": WHOLE}, {"d": {"f": WHOLE}}) == {"a": 1, "d": {"f": 3}}
