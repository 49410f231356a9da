"""A live snapshot's `managedFields`, kept only where the diff reads them.

The diff reads one thing from `metadata.managedFields`: the field sets of server-side `Apply`
entries (`planner.diff.project.applied_template`); `Update` entries (client-side apply, controllers,
status writers) are never read, and are most of a snapshot printed with `--show-managed-fields`.
So a snapshot's objects keep their `Apply` entries only (`applied_fields_only`), and a YAML
snapshot's other entries are cut from the text before the YAML parser sees them
(`slim_managed_fields`): blank lines replace them, so every line number stays what it was.

An entry is cut only when it cannot be an `Apply` one and its text is of the simple form kubectl
prints (plain keys, `{}`, short plain or quoted values: no tags, anchors, aliases, escapes or
comments); anything else is left for the YAML parser. The caller checks, on the composed nodes,
that each edit was a real `metadata.managedFields` key holding the entries it kept
(`managed_fields_keys`), and parses the original text when not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from planner.objects import Manifest

APPLY = "Apply"

# A `managedFields:` key in block style, its value (a block sequence) on the lines below. The
# pattern starts with the name, which the regex engine finds fast; `_key_indent` checks that only
# spaces come before it on its line.
_KEY = re.compile(r"managedFields:[ \t]*$", re.MULTILINE)
# One line of an entry kubectl prints: a fieldsV1 key (`f:`, `k:`, `v:`, `i:`, `.`) or an entry
# key, then nothing, `{}`, or a short plain or quoted value. Keys are never YAML 1.1 booleans,
# nulls or numbers, values never tags, anchors, aliases, escapes or integers of 100+ digits.
_ENTRY_KEY = (
    r"(?:[fkvi]:[^\s#]*|\.|apiVersion|fieldsType|fieldsV1|manager|operation|subresource|time"
    r"|'[fkvi]:[^'\n]*'|\"[fkvi]:[^\"\\\n]*\")"  # a quoted key is a string whatever it holds
)
_ENTRY_VALUE = r"(?:\{\}|[A-Za-z0-9][\w.:/+-]{0,98}|'[^'\n]*'|\"[^\"\\\n]*\")"
_SIMPLE_ENTRY = re.compile(rf"(?:[ ]*(?:-[ ]+)?{_ENTRY_KEY}:(?:[ ]+{_ENTRY_VALUE})?[ ]*\n|[ ]*\n)*")


@dataclass(frozen=True)
class Slimmed:
    """A snapshot's text with entries cut, and what each edited key must hold once parsed."""

    text: str
    edits: dict[int, int]  # 0-based line of an edited `managedFields:` key -> entries kept


def slim_managed_fields(text: str) -> Slimmed | None:
    """The text with the `managedFields` entries that cannot be `Apply` ones replaced by blank
    lines (a key left with none reads `managedFields: []`); None when nothing was cut."""
    if "managedFields:" not in text:
        return None
    pieces: list[str] = []
    edits: dict[int, int] = {}
    done = 0  # text[:done] is in pieces
    line, counted = 0, 0  # 0-based line of text[counted]
    for key in _KEY.finditer(text):
        line_start = text.rfind("\n", 0, key.start()) + 1
        indent = key.start() - line_start
        if (
            line_start < done
            or key.end() >= len(text)
            or text.count(" ", line_start, key.start()) != indent
        ):
            continue
        start = key.end() + 1  # the value's first line
        end = _value_end(text, start, indent)
        entries = _entries(text, start, end, indent)
        if entries is None:
            continue
        cut = [_cuttable(text[begin:finish]) for begin, finish in entries]
        if not any(cut):
            continue
        line += text.count("\n", counted, line_start)
        counted = line_start
        kept = cut.count(False)
        edits[line] = kept
        pieces.append(text[done:line_start])
        pieces.append(text[line_start : key.end()] if kept else f"{' ' * indent}managedFields: []")
        pieces.append(text[key.end() : entries[0][0]])
        for (begin, finish), blank in zip(entries, cut, strict=True):
            pieces.append("\n" * text.count("\n", begin, finish) if blank else text[begin:finish])
        done = end
    if not edits:
        return None
    pieces.append(text[done:])
    return Slimmed("".join(pieces), edits)


def _value_end(text: str, start: int, indent: int) -> int:
    """Where the block value of a key at `indent` ends: the first non-blank line indented no
    deeper than the key that is not a sequence entry at the key's own column."""
    found = _end_pattern(indent).search(text, start)
    return found.start() if found else len(text)


def _entries(text: str, start: int, end: int, indent: int) -> list[tuple[int, int]] | None:
    """The (start, end) of each entry of a block sequence in text[start:end], or None when the
    value is not one laid out as kubectl prints it (every other line deeper than the dashes)."""
    first = _FIRST_CONTENT.search(text, start, end)
    if first is None:
        return None
    column = len(first.group(1))
    if column < indent or not _DASH.match(text, first.end(1), end):
        return None
    # The value ends before any line at or left of the key that starts no entry; with dashes
    # deeper than the key, no such line may come between the key's column and theirs either.
    if column > indent and _end_pattern(column).search(text, first.start(), end):
        return None
    starts = [m.start() for m in _entry_pattern(column).finditer(text, first.start(), end)]
    return list(zip(starts, [*starts[1:], end], strict=True))


def _cuttable(entry: str) -> bool:
    """Whether an entry's text can be dropped: it cannot spell `Apply` and is of kubectl's form."""
    if APPLY in entry:
        return False
    return _SIMPLE_ENTRY.fullmatch(entry if entry.endswith("\n") else entry + "\n") is not None


_FIRST_CONTENT = re.compile(r"^( *)[^ \n]", re.MULTILINE)
_DASH = re.compile(r"-(?:[ \t]|\n|$)")


@functools.lru_cache(maxsize=64)
def _end_pattern(indent: int) -> re.Pattern[str]:
    """A non-blank line indented `indent` columns or less that is not an entry at `indent`."""
    return re.compile(
        rf"^(?![ ]{{{indent + 1}}})(?![ ]{{{indent}}}-(?:[ \t]|$))[ \t]*[^ \t\n]", re.MULTILINE
    )


@functools.lru_cache(maxsize=64)
def _entry_pattern(column: int) -> re.Pattern[str]:
    """The first line of a sequence entry whose dash is at `column`."""
    return re.compile(rf"^[ ]{{{column}}}-(?:[ \t]|$)", re.MULTILINE)


def managed_fields_keys(root: yaml.Node, offset: int = 0) -> Iterator[tuple[int, int]]:
    """(0-based line + offset, entries or -1) of each `metadata.managedFields` key of the
    object composed in `root`, or of the items of a List composed there."""
    for obj in _objects(root):
        metadata = _value(obj, "metadata")
        if not isinstance(metadata, yaml.MappingNode):
            continue
        for key, value in metadata.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "managedFields":
                count = len(value.value) if isinstance(value, yaml.SequenceNode) else -1
                yield key.start_mark.line + offset, count


def _objects(root: yaml.Node) -> Iterator[yaml.MappingNode]:
    if not isinstance(root, yaml.MappingNode):
        return
    yield root
    items = _value(root, "items")
    if isinstance(items, yaml.SequenceNode):
        yield from (item for item in items.value if isinstance(item, yaml.MappingNode))


def _value(mapping: yaml.MappingNode, name: str) -> yaml.Node | None:
    for key, value in mapping.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            return value  # type: ignore[no-any-return]
    return None


def applied_only(body: Manifest) -> None:
    """Keep only the `Apply` entries of the object's `metadata.managedFields` (in place); the
    key goes when none is left."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return
    entries: Any = metadata.get("managedFields")
    if not isinstance(entries, list):
        return
    applied = [e for e in entries if isinstance(e, dict) and e.get("operation") == APPLY]
    if not applied:
        del metadata["managedFields"]
    elif len(applied) < len(entries):
        metadata["managedFields"] = applied
