"""Projection of a live object onto the fields somebody manages ("templates").

A template is a manifest-shaped value: a mapping keeps only the live keys it names, a list
matches live elements to its elements by identity (`name`, or `port`/`containerPort` with
protocol), and anything else (a scalar, or `WHOLE`) keeps the live value as it is.
Templates come from the desired manifest, from `last-applied-configuration`, and from the
`fieldsV1` sets of server-side-apply managers; `union` merges them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from planner.objects import Manifest


class _Whole:
    """Template leaf: keep the whole live value (an owned atomic field)."""

    def __repr__(self) -> str:
        return "WHOLE"


WHOLE: Any = _Whole()

Identity = tuple[Any, ...]


def identities(item: Any) -> set[Identity]:
    """The ways a list element can be matched: by `name`, and by (port, protocol)."""
    if not isinstance(item, dict):
        return set()
    found: set[Identity] = set()
    name = item.get("name")
    if isinstance(name, str) and name:
        found.add(("name", name))
    for number_field in ("port", "containerPort"):
        number = item.get(number_field)
        if isinstance(number, int) and not isinstance(number, bool):
            protocol = item.get("protocol")
            found.add((number_field, number, protocol if isinstance(protocol, str) else "TCP"))
    return found


def union(first: Any, second: Any) -> Any:
    """The template that keeps what either template keeps."""
    if first is None:
        return second
    if second is None:
        return first
    if isinstance(first, dict) and isinstance(second, dict):
        merged = dict(first)
        for key, value in second.items():
            merged[key] = union(merged.get(key), value)
        return merged
    if isinstance(first, list) and isinstance(second, list):
        return [*first, *second]
    return WHOLE


# Only containers are projected: a scalar is kept whatever its template, so the walks below
# take it as it is without a call (a live Service has some 40 of them; bench/README.md read10k).
_CONTAINERS = (dict, list)


def project(live: Any, template: Any) -> Any:
    """The part of `live` that `template` names (a new value; `live` is not changed)."""
    if isinstance(template, dict) and isinstance(live, dict):
        return {
            k: project(v, template[k]) if isinstance(v, _CONTAINERS) else v
            for k, v in live.items()
            if k in template
        }
    if isinstance(template, list) and isinstance(live, list):
        return _project_list(live, template)
    return live


def project_either(live: Any, first: Any, second: Any) -> Any:
    """`project(live, union(first, second))`, without building the union template."""
    if first is None:
        return project(live, second)
    if second is None:
        return project(live, first)
    if isinstance(first, dict) and isinstance(second, dict):
        if not isinstance(live, dict):
            return live
        return {
            k: project_either(v, first.get(k), second.get(k)) if isinstance(v, _CONTAINERS) else v
            for k, v in live.items()
            if k in first or k in second
        }
    if isinstance(first, list) and isinstance(second, list):
        return _project_list(live, [*first, *second]) if isinstance(live, list) else live
    return live  # union() of any other two templates is WHOLE


def _project_list(live: list[Any], template: list[Any]) -> list[Any]:
    # Lists of scalars are atomic in Kubernetes: compare them whole.
    if not all(isinstance(t, dict) for t in template):
        return live
    if not all(isinstance(item, dict) for item in live):
        return live
    if template and all(identities(t) for t in template):
        return _project_by_identity(live, template)
    return [
        project(item, template[index]) if index < len(template) else item
        for index, item in enumerate(live)
    ]


def _project_by_identity(live: list[Any], template: list[Any]) -> list[Any]:
    """Keep live elements some template element matches, in the template's order."""
    ranked: list[tuple[int, int, Any]] = []
    for position, item in enumerate(live):
        matches = [i for i, t in enumerate(template) if identities(t) & identities(item)]
        if not matches:
            continue
        merged = None
        for index in matches:
            merged = union(merged, template[index])
        ranked.append((matches[0], position, project(item, merged)))
    return [item for _, _, item in sorted(ranked, key=lambda entry: entry[:2])]


def template_from_fields_v1(fields: Mapping[str, Any]) -> Any:
    """A template from a managedFields `fieldsV1` set (server-side apply's ownership record)."""
    children = {k: v for k, v in fields.items() if k != "."}
    if not children:
        return {} if "." in fields else WHOLE
    mapping: dict[str, Any] = {}
    elements: list[Any] = []
    for key, sub in children.items():
        prefix, _, rest = key.partition(":")
        if prefix == "f":
            mapping[rest] = template_from_fields_v1(sub or {})
        elif prefix == "k":
            elements.append(_keyed_element(rest, sub or {}))
        elif prefix == "v":
            elements.append(WHOLE)  # a set member: the list is compared whole
        else:  # "i:<index>" (rare): no identity, the list is projected by position
            elements.append(_as_mapping(template_from_fields_v1(sub or {})))
    return elements if elements else mapping


def _keyed_element(key_json: str, sub: Mapping[str, Any]) -> Any:
    try:
        key_values = json.loads(key_json)
    except ValueError:
        return WHOLE
    if not isinstance(key_values, dict):
        return WHOLE
    # The key's values are kept as written so that `identities` can match live elements.
    return {**_as_mapping(template_from_fields_v1(sub)), **key_values}


def _as_mapping(template: Any) -> Any:
    return template if isinstance(template, dict) else {}


def applied_template(live: Manifest) -> Any | None:
    """What the appliers of `live` own: last-applied-configuration and Apply-operation field sets.

    None when the object records neither (e.g. `kubectl get -o yaml` hides managedFields).
    """
    template: Any = None
    metadata = live.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    last_applied = annotations.get("kubectl.kubernetes.io/last-applied-configuration")
    if isinstance(last_applied, str):
        try:
            parsed = json.loads(last_applied)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            template = union(template, parsed)
    for entry in metadata.get("managedFields") or []:
        if not isinstance(entry, Mapping) or entry.get("operation") != "Apply":
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, Mapping) and fields:
            template = union(template, template_from_fields_v1(fields))
    return template
