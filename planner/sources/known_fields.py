"""Fields of a Service or IPAddressPool that Kubernetes or MetalLB do not know: a warning each.

The API server drops (or, with strict field validation, refuses) a field its schema lacks, so
`annotations:` written under `spec:` silently loses the sharing key. The known fields come from
the vendored `planner/schemas/known-fields.json`, trimmed from the Kubernetes OpenAPI schema and
MetalLB's CRD by `tools/vendor_known_fields.py` (its docstring says how it was generated).

    >>> [u.path for u in unknown_fields({"kind": "Service", "spec": {"annotations": {}}})]
    ['spec.annotations']
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.objects import KubeObject, is_mapping

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "known-fields.json"
CHECKED_KINDS = ("Service", "IPAddressPool")
_OWNER = {"Service": "Kubernetes", "IPAddressPool": "MetalLB"}

Tree = Mapping[str, Any]  # {"fields": {name: Tree}} | {"items": Tree} | {"any": True} | {}


@dataclass(frozen=True)
class UnknownField:
    """One field the kind's schema lacks: where it is, and where a field of that name belongs."""

    path: str  # e.g. "spec.annotations" or "spec.ports[0].prot"
    belongs: str  # e.g. "metadata.annotations"; "" when no known field looks like it


@functools.cache
def _kinds() -> Mapping[str, Tree]:
    with SCHEMA_FILE.open(encoding="utf-8") as handle:
        kinds: Mapping[str, Tree] = json.load(handle)["kinds"]
    return kinds


def unknown_fields(body: Mapping[str, Any]) -> list[UnknownField]:
    """The unknown fields of a Service or IPAddressPool manifest, in document order; [] for
    other kinds. Values of the wrong type are left to planner.sources.validate."""
    tree = _kinds().get(str(body.get("kind", "")))
    if tree is None:
        return []
    if _all_known(body, tree):
        return []  # most manifests: no path is spelt out for them
    known = _known_paths(str(body["kind"]))
    found = []
    for path, generic, name in _unknown(body, tree, "", ""):
        found.append(UnknownField(path, _belongs(name, generic, known)))
    return found


def unknown_field_notes(objects: Iterable[KubeObject]) -> list[str]:
    """One warning per unknown field of the objects, naming the origin, the field and where a
    field of that name probably belongs."""
    notes = []
    for obj in objects:
        if obj.key.kind not in CHECKED_KINDS:
            continue
        owner = _OWNER[obj.key.kind]
        for field in unknown_fields(obj.body):
            where = f"{obj.origin}: " if obj.origin else ""
            hint = f"; it probably belongs at `{field.belongs}`" if field.belongs else ""
            notes.append(
                f"{where}warning: {obj.key}: field `{field.path}` is not in the {owner} "
                f"{obj.key.kind} schema (the API server drops it){hint}"
            )
    return notes


def _unknown(value: Any, tree: Tree, path: str, generic: str) -> Iterator[tuple[str, str, str]]:
    """(path, path with `[]` for list indexes, field name) of every unknown field under value."""
    if tree.get("any"):
        return
    if "fields" in tree and isinstance(value, Mapping):
        fields: Mapping[str, Tree] = tree["fields"]
        for name, child in value.items():
            here, here_generic = _join(path, str(name)), _join(generic, str(name))
            if name in fields:
                yield from _unknown(child, fields[name], here, here_generic)
            else:
                yield here, here_generic, str(name)
    elif "items" in tree and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unknown(item, tree["items"], f"{path}[{index}]", f"{generic}[]")


def _all_known(value: Any, tree: Tree) -> bool:
    """Whether _unknown finds nothing under value (walked without building its paths)."""
    if tree.get("any"):
        return True
    if "fields" in tree and is_mapping(value):
        fields: Mapping[str, Tree] = tree["fields"]
        for name, child in value.items():
            if name not in fields:
                return False
            if _is_container(child) and not _all_known(child, fields[name]):
                return False
    elif "items" in tree and isinstance(value, list):
        items = tree["items"]
        return all(_all_known(item, items) for item in value if _is_container(item))
    return True


# Parsed YAML and JSON give plain dicts, lists and scalars: their exact types are checked
# before the Mapping ABC, whose check costs some ten times more (a third of this walk at 10,000
# Services).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_container(value: Any) -> bool:
    kind = type(value)
    if kind is dict or kind is list:
        return True
    return kind not in _SCALARS and isinstance(value, Mapping | list)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@functools.cache
def _known_paths(kind: str) -> tuple[str, ...]:
    """Every known field path of the kind (lists as `[]`), shortest first."""
    paths: list[str] = []

    def walk(tree: Tree, path: str) -> None:
        for name, child in (tree.get("fields") or {}).items():
            here = _join(path, name)
            paths.append(here)
            walk(child, here)
        if "items" in tree:
            walk(tree["items"], f"{path}[]")

    walk(_kinds()[kind], "")
    return tuple(sorted(paths, key=lambda p: (p.count("."), len(p), p)))


def _belongs(name: str, generic: str, known: tuple[str, ...]) -> str:
    """The known path ending in the same field name (exactly, else ignoring case) nearest the
    top, other than the misplaced one; "" when there is none."""
    candidates = [p for p in known if p != generic]
    for ignore_case in (False, True):
        for path in candidates:
            last = path.rsplit(".", 1)[-1].removesuffix("[]")
            if last == name or (ignore_case and last.lower() == name.lower()):
                return path
    return ""
