"""Write the group-wide annotations into the repo's YAML files in place, changing nothing else.

ruamel.yaml (round-trip parser) only LOCATES things: every node carries its exact character span
in the original text. The edits are then spliced into that text, so comments, key order, quoting,
indentation, flow/block style, document separators, other documents and line endings (CRLF
included) stay byte for byte; only lines holding the planner's annotations change.

    >>> result = annotate_paths([Path("deploy/")], check=True)
    >>> result.changed            # files that would change (nothing is written with check=True)

Files rendered by kustomize or Helm are skipped with the reason: their Services only exist after
rendering, so the Argo CD plugin (plugins/argocd/) or the Flux hook (plugins/flux/) stamps them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from planner.annotations import GROUP_ANNOTATION_KEYS, group_annotations
from planner.errors import InputError, Origin
from planner.model.service import ServiceInputError, allocation_inputs
from planner.objects import svc_key_of

YAML_SUFFIXES = (".yaml", ".yml")
# A directory holding one of these is rendered before apply; its files are not the manifests.
RENDER_MARKERS = {
    "kustomization.yaml": "kustomize",
    "kustomization.yml": "kustomize",
    "Kustomization": "kustomize",
    "Chart.yaml": "Helm",
}
RENDERED_HINT = (
    "stamp its Services at render time with the Argo CD plugin (plugins/argocd/) "
    "or the Flux pre-sync hook (plugins/flux/)"
)
_BOM = "\ufeff"
_NULLS = ("", "~", "null", "Null", "NULL")

try:  # the C loader when PyYAML has it: same results, faster
    _SafeLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _SafeLoader = yaml.SafeLoader


@dataclass(frozen=True)
class Skipped:
    """A path that cannot be annotated in place, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FileChange:
    """One file's text before and after annotation."""

    path: Path
    before: bytes
    after: bytes


@dataclass(frozen=True)
class AnnotateResult:
    """What `annotate_paths` found: files changed (or that would change), paths skipped."""

    changed: tuple[Path, ...]
    skipped: tuple[Skipped, ...]
    services: int


@dataclass(frozen=True)
class _Edit:
    """Replace text[start:end] with `text` (start == end: an insertion)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Document:
    index: int
    node: Node
    data: Any


@dataclass(frozen=True)
class _ParsedFile:
    path: Path
    raw: bytes
    text: str  # decoded, without a byte order mark
    bom: bool
    documents: tuple[_Document, ...]


@dataclass(frozen=True)
class _ServiceDoc:
    file: _ParsedFile
    document: _Document
    svc_key: str

    @property
    def origin(self) -> Origin:
        return Origin(
            str(self.file.path), self.document.index, self.document.node.start_mark.line + 1
        )


def annotate_paths(paths: Sequence[Path], check: bool = False) -> AnnotateResult:
    """Annotate every plain YAML file under `paths` in place (with check=True, write nothing).

    All edits are computed before the first write; each file is replaced atomically.
    """
    changes, skipped, services = plan_file_changes(paths)
    if not check:
        for change in changes:
            write_atomically(change.path, change.after)
    return AnnotateResult(tuple(c.path for c in changes), tuple(skipped), services)


def plan_file_changes(paths: Sequence[Path]) -> tuple[list[FileChange], list[Skipped], int]:
    """The file changes annotation needs, the skipped paths and the number of Services seen."""
    files, skipped = collect_files(paths)
    parsed: list[_ParsedFile] = []
    for path in files:
        result = _parse_file(path)
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            parsed.append(result)
    services = _services_of(parsed)
    wanted = group_annotations([s.document.data for s in services])
    changes = [_change_of(f, [s for s in services if s.file is f], wanted) for f in parsed]
    return [c for c in changes if c.after != c.before], skipped, len(services)


def annotate_text(text: str, wanted: dict[str, dict[str, str]]) -> str:
    """`text` (one YAML file) with every Service's group annotations set to `wanted[svc_key]`.

    Services missing from `wanted` lose the planner's annotations. Only annotation lines change.
    """
    parsed = _parse_text(Path("<text>"), text)
    services = _services_of([parsed])
    return _edited_text(parsed, services, wanted)


def collect_files(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """The YAML files under `paths` (sorted, each once) and the rendered paths left out."""
    files: dict[Path, Path] = {}
    skipped: list[Skipped] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        rendered = _rendered_by(path if path.is_dir() else path.parent)
        if rendered:
            skipped.append(Skipped(path, rendered))
        elif path.is_dir():
            _walk(path, files, skipped)
        else:
            files.setdefault(path.resolve(), path)
    return sorted(files.values(), key=lambda p: str(p.resolve())), skipped


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` through a temporary file and a rename (mode kept)."""
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


# --- finding and reading files -------------------------------------------------------------------


def _walk(root: Path, files: dict[Path, Path], skipped: list[Skipped]) -> None:
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in list(dirnames):
            sub = Path(directory) / name
            reason = _render_marker(sub)
            if name.startswith(".") or reason:
                dirnames.remove(name)
            if reason and not name.startswith("."):
                skipped.append(Skipped(sub, reason))
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES):
                path = Path(directory) / name
                files.setdefault(path.resolve(), path)


def _rendered_by(directory: Path) -> str | None:
    """Why `directory` holds rendered sources (a marker in it or an ancestor up to the repo root)."""
    for candidate in [directory.resolve(), *directory.resolve().parents]:
        reason = _render_marker(candidate)
        if reason:
            return reason
        if (candidate / ".git").exists():
            return None
    return None


def _render_marker(directory: Path) -> str | None:
    for marker, tool in RENDER_MARKERS.items():
        if (directory / marker).is_file():
            return f"rendered by {tool} ({directory / marker}); {RENDERED_HINT}"
    return None


def _parse_file(path: Path) -> _ParsedFile | Skipped:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", Origin(str(path))) from None
    try:
        return _parse_text(path, text, raw)
    except InputError:
        if "{{" in text or "{%" in text:
            return Skipped(path, f"a template, not YAML; {RENDERED_HINT}")
        raise


def _parse_text(path: Path, text: str, raw: bytes | None = None) -> _ParsedFile:
    bom = text.startswith(_BOM)
    body = text[1:] if bom else text
    try:
        nodes = list(YAML(typ="rt").compose_all(body))
        data = list(yaml.load_all(body, Loader=_SafeLoader))
    except (MarkedYAMLError, yaml.MarkedYAMLError) as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        problem = err.problem or err.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", Origin(str(path), 0, line)) from None
    if len(nodes) != len(data):
        raise InputError("the YAML parsers disagree on the number of documents", Origin(str(path)))
    documents = tuple(_Document(i, n, d) for i, (n, d) in enumerate(zip(nodes, data, strict=True)))
    raw_bytes = text.encode("utf-8") if raw is None else raw
    return _ParsedFile(path, raw_bytes, body, bom, documents)


def _services_of(files: Iterable[_ParsedFile]) -> list[_ServiceDoc]:
    """Every Service document, checked (name, allocation inputs) and each defined once."""
    seen: dict[str, _ServiceDoc] = {}
    for parsed in files:
        for document in parsed.documents:
            if not isinstance(document.data, dict) or document.data.get("kind") != "Service":
                continue
            service = _ServiceDoc(parsed, document, svc_key_of(document.data))
            _check_service(service)
            if service.svc_key in seen:
                first = seen[service.svc_key].origin
                message = f"Service {service.svc_key} is also defined at {first}"
                raise InputError(message, service.origin)
            seen[service.svc_key] = service
    return list(seen.values())


def _check_service(service: _ServiceDoc) -> None:
    metadata = service.document.data.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise InputError("metadata.name: a Service needs a name", service.origin)
    if not isinstance(metadata.get("annotations") or {}, dict):
        raise InputError("metadata.annotations: must be a mapping", service.origin)
    try:
        allocation_inputs(service.document.data)
    except ServiceInputError as err:
        raise err.with_origin(service.origin) from None


# --- computing the edits -------------------------------------------------------------------------


def _change_of(
    parsed: _ParsedFile, services: list[_ServiceDoc], wanted: dict[str, dict[str, str]]
) -> FileChange:
    if not services:
        return FileChange(parsed.path, parsed.raw, parsed.raw)
    text = _edited_text(parsed, services, wanted)
    if text == parsed.text:
        return FileChange(parsed.path, parsed.raw, parsed.raw)
    after = ((_BOM if parsed.bom else "") + text).encode("utf-8")
    return FileChange(parsed.path, parsed.raw, after)


def _edited_text(
    parsed: _ParsedFile, services: list[_ServiceDoc], wanted: dict[str, dict[str, str]]
) -> str:
    edits: list[_Edit] = []
    for service in services:
        desired = wanted.get(service.svc_key, {})
        editor = _ServiceEditor(parsed.text, service.document.node, service.origin)
        edits.extend(editor.edits(desired))
    return _apply(parsed.text, edits)


def _apply(text: str, edits: list[_Edit]) -> str:
    pieces: list[str] = []
    position = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < position:
            raise AssertionError(f"overlapping annotation edits at offset {edit.start}")
        pieces.append(text[position : edit.start])
        pieces.append(edit.text)
        position = edit.end
    pieces.append(text[position:])
    return "".join(pieces)


class _ServiceEditor:
    """Computes the text edits that give one Service document the wanted group annotations."""

    def __init__(self, text: str, root: Node, origin: Origin) -> None:
        self.text = text
        self.root = root
        self.origin = origin

    def edits(self, desired: dict[str, str]) -> list[_Edit]:
        """The edits for this Service (none when it already carries exactly `desired`)."""
        metadata = self._child(self.root, "metadata")
        if metadata is None or not isinstance(metadata[1], MappingNode):
            return []  # no metadata mapping: the Service check already refused it
        annotations = self._child(metadata[1], "annotations")
        if annotations is None:
            return self._add_annotations_key(metadata, desired) if desired else []
        value = annotations[1]
        if isinstance(value, MappingNode):
            flow = bool(self.root.flow_style or metadata[1].flow_style or value.flow_style)
            return self._edit_mapping(annotations, desired, flow)
        if isinstance(value, ScalarNode) and value.style is None and value.value in _NULLS:
            return self._fill_null(metadata[1], annotations, desired) if desired else []
        raise InputError("metadata.annotations: must be a mapping", self.origin)

    # -- an existing annotations mapping --

    def _edit_mapping(
        self, annotations: tuple[Node, Node], desired: dict[str, str], flow: bool
    ) -> list[_Edit]:
        mapping = annotations[1]
        ours = {k.value: (k, v) for k, v in mapping.value if _is_scalar(k, GROUP_ANNOTATION_KEYS)}
        updates = [
            self._update(v, desired[name], flow) for name, (_, v) in ours.items() if name in desired
        ]
        edits = [e for e in updates if e is not None]
        missing = [name for name in GROUP_ANNOTATION_KEYS if name in desired and name not in ours]
        if missing:
            edits.append(self._insert_entries(mapping, {n: desired[n] for n in missing}))
        stale = [entry for name, entry in ours.items() if name not in desired]
        if stale:
            edits.extend(self._remove_entries(annotations, stale))
        return edits

    def _update(self, node: Node, value: str, flow: bool) -> _Edit | None:
        unchanged = isinstance(node, ScalarNode) and node.value == value
        if unchanged and (node.style is not None or _plain_safe(value, flow)):
            return None
        style = node.style if isinstance(node, ScalarNode) else None
        return _Edit(node.start_mark.index, node.end_mark.index, _render(value, style, flow))

    def _insert_entries(self, mapping: MappingNode, entries: dict[str, str]) -> _Edit:
        if mapping.flow_style:
            return self._insert_flow(mapping, entries)
        column = mapping.value[0][0].start_mark.column
        return self._insert_block_lines(mapping, column, entries, _styles_of(mapping))

    def _remove_entries(
        self, annotations: tuple[Node, Node], stale: list[tuple[Node, Node]]
    ) -> list[_Edit]:
        mapping = annotations[1]
        if mapping.flow_style:
            return self._remove_flow(mapping, stale)
        if len(stale) == len(mapping.value):  # nothing else left: the `annotations:` key goes too
            stale = [annotations, *stale]
        return [self._delete_lines(key, value) for key, value in stale]

    # -- no annotations mapping yet --

    def _add_annotations_key(
        self, metadata: tuple[Node, Node], desired: dict[str, str]
    ) -> list[_Edit]:
        meta_key, mapping = metadata
        if mapping.flow_style or not mapping.value:
            return [self._insert_flow(mapping, {"annotations": desired})]
        column = mapping.value[0][0].start_mark.column
        step = max(column - meta_key.start_mark.column, 1)
        styles = _styles_of(mapping)
        lines = [(column, "annotations", None)]
        lines += [(column + step, k, v) for k, v in desired.items()]
        return [self._insert_lines(mapping, lines, styles)]

    def _fill_null(
        self, metadata: MappingNode, annotations: tuple[Node, Node], desired: dict[str, str]
    ) -> list[_Edit]:
        key, null = annotations
        if null.start_mark.index == null.end_mark.index and not metadata.flow_style:
            step = max(metadata.value[0][0].start_mark.column - self._key_column(metadata), 1)
            insert_at, eol = self._line_after(key.end_mark.index)
            body = self._block_lines(
                [(key.start_mark.column + step, k, v) for k, v in desired.items()],
                eol,
                (None, None),
            )
            return [_Edit(insert_at, insert_at, body)]
        flow = _flow_text(desired, (None, None))
        if null.start_mark.index == null.end_mark.index:
            return [_Edit(key.end_mark.index + 1, key.end_mark.index + 1, " " + flow)]
        return [_Edit(null.start_mark.index, null.end_mark.index, flow)]

    def _key_column(self, mapping: MappingNode) -> int:
        """Column of the key that holds `mapping` (the parent's key column)."""
        for key, value in self.root.value:
            if value is mapping:
                return key.start_mark.column
        return 0

    # -- block style --

    def _insert_block_lines(
        self, mapping: MappingNode, column: int, entries: dict[str, str], styles: _Styles
    ) -> _Edit:
        return self._insert_lines(mapping, [(column, k, v) for k, v in entries.items()], styles)

    def _insert_lines(
        self, mapping: MappingNode, lines: list[tuple[int, str, str | None]], styles: _Styles
    ) -> _Edit:
        last_key, last_value = mapping.value[-1]
        end = max(self._content_end(last_key), self._content_end(last_value))
        insert_at, eol = self._line_after(end)
        body = self._block_lines(lines, eol, styles)
        if insert_at == len(self.text) and not self.text.endswith(("\n", "\r")):
            body = eol + body.removesuffix(eol)
        return _Edit(insert_at, insert_at, body)

    def _block_lines(
        self, lines: list[tuple[int, str, str | None]], eol: str, styles: _Styles
    ) -> str:
        out = []
        for column, key, value in lines:
            rendered_key = _render(key, styles[0], flow=False)
            if value is None:
                out.append(f"{' ' * column}{rendered_key}:{eol}")
            else:
                out.append(f"{' ' * column}{rendered_key}: {_render(value, styles[1], False)}{eol}")
        return "".join(out)

    def _delete_lines(self, key: Node, value: Node) -> _Edit:
        start = self.text.rfind("\n", 0, key.start_mark.index) + 1
        end = max(self._content_end(key), self._content_end(value))
        stop, _ = self._line_after(end)
        return _Edit(start, stop, "")

    # -- flow style --

    def _insert_flow(self, mapping: MappingNode, entries: dict[str, Any]) -> _Edit:
        close = mapping.end_mark.index - 1
        if self.text[close] != "}":
            raise InputError("cannot find the end of a flow mapping in metadata", self.origin)
        styles = _styles_of(mapping)
        if not mapping.value:
            return _Edit(close, close, _flow_entries(entries, styles, ", "))
        last_key, last_value = mapping.value[-1]
        end = max(self._content_end(last_key), self._content_end(last_value))
        separator = self._flow_separator(mapping)
        return _Edit(end, end, separator + _flow_entries(entries, styles, separator))

    def _flow_separator(self, mapping: MappingNode) -> str:
        """The text between two entries of `mapping`, as this file writes it."""
        if len(mapping.value) >= 2:
            before = mapping.value[-2]
            end = max(self._content_end(before[0]), self._content_end(before[1]))
            between = self.text[end : mapping.value[-1][0].start_mark.index]
            if between.strip() == "," and "#" not in between:
                return between
        first_key = mapping.value[0][0]
        if first_key.start_mark.line != mapping.start_mark.line:
            _, eol = self._line_after(first_key.start_mark.index)
            return "," + eol + " " * first_key.start_mark.column
        return ", "

    def _remove_flow(self, mapping: MappingNode, stale: list[tuple[Node, Node]]) -> list[_Edit]:
        entries = mapping.value
        gone = {id(key) for key, _ in stale}
        spans = []
        for i, (key, value) in enumerate(entries):
            if id(key) not in gone:
                continue
            end = max(self._content_end(key), self._content_end(value))
            if i + 1 < len(entries):
                spans.append((key.start_mark.index, entries[i + 1][0].start_mark.index))
                continue
            kept = [k_v for k_v in entries[:i] if id(k_v[0]) not in gone]
            start = (
                max(self._content_end(kept[-1][0]), self._content_end(kept[-1][1]))
                if kept
                else key.start_mark.index
            )
            spans.append((start, end))
        return [_Edit(start, end, "") for start, end in _merged(spans)]

    # -- positions --

    def _content_end(self, node: Node) -> int:
        """Index just after the last character of `node`'s own text (-1 for an empty scalar)."""
        if isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
            last = node.value[-1]
            if isinstance(last, tuple):
                return max(self._content_end(last[0]), self._content_end(last[1]))
            return self._content_end(last)
        start, end = node.start_mark.index, node.end_mark.index
        if start == end:
            return -1
        while end > start and self.text[end - 1] in " \t\r\n":
            end -= 1
        return end

    def _line_after(self, index: int) -> tuple[int, str]:
        """Start of the line after the one holding text[index - 1], and that line's ending."""
        newline = self.text.find("\n", max(index, 0))
        if newline < 0:
            return len(self.text), _dominant_eol(self.text)
        eol = "\r\n" if newline > 0 and self.text[newline - 1] == "\r" else "\n"
        return newline + 1, eol

    def _child(self, mapping: Node, name: str) -> tuple[Node, Node] | None:
        if not isinstance(mapping, MappingNode):
            return None
        found = None
        for key, value in mapping.value:
            if _is_scalar(key, (name,)):
                found = (key, value)
        if found and found[1].start_mark.index < found[0].end_mark.index:
            raise InputError(f"{name} is a YAML alias; it cannot be edited in place", self.origin)
        return found


# --- rendering -----------------------------------------------------------------------------------

_Styles = tuple[str | None, str | None]  # (key style, value style) of a mapping's first entry


def _styles_of(mapping: MappingNode) -> _Styles:
    """Quote keys and values the way the mapping's first entry does (plain when it is empty)."""
    if not mapping.value:
        return (None, None)
    key, value = mapping.value[0]
    value_style = value.style if isinstance(value, ScalarNode) else None
    return (key.style if isinstance(key, ScalarNode) else None, value_style)


def _is_scalar(node: Node, names: Iterable[str]) -> bool:
    return isinstance(node, ScalarNode) and node.value in names


def _flow_entries(entries: dict[str, Any], styles: _Styles, separator: str) -> str:
    parts = []
    for key, value in entries.items():
        rendered = (
            _flow_text(value, styles)
            if isinstance(value, dict)
            else _render(value, styles[1], True)
        )
        parts.append(f"{_render(key, styles[0], True)}: {rendered}")
    return separator.join(parts)


def _flow_text(entries: dict[str, str], styles: _Styles) -> str:
    return "{" + _flow_entries(entries, styles, ", ") + "}"


def _render(value: str, style: str | None, flow: bool) -> str:
    """`value` as a YAML scalar in `style` (' or " or plain), falling back to double quotes."""
    if style == "'" and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    if style not in ('"', "'") and _plain_safe(value, flow):
        return value
    return json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _plain_safe(value: str, flow: bool) -> bool:
    """Whether `value` unquoted reads back as the same string in YAML 1.1 and 1.2."""
    if not value or not value.isprintable() or value != value.strip():
        return False
    snippet = f"{{k: {value}}}" if flow else f"k: {value}\n"
    try:
        by_pyyaml = yaml.load(snippet, Loader=_SafeLoader)
        by_ruamel = YAML(typ="safe", pure=True).load(snippet)
    except Exception:  # noqa: BLE001 - any parse failure means "quote it"
        return False
    return by_pyyaml == {"k": value} and by_ruamel == {"k": value}


def _dominant_eol(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return result
