"""Write the group-wide annotations into the repo's YAML files in place, changing nothing else.

The files are read with planner.sources (the same objects `planner diff` and the plugins see), so
the annotations are the same bytes everywhere. ruamel.yaml's round-trip parser then only LOCATES
things: every node carries its exact character span in the original text, and the edits are
spliced into that text. Comments, key order, quoting, indentation, flow/block style, document
separators, other documents and line endings (CRLF included) stay byte for byte; only lines
holding the planner's annotations change.

    >>> result = annotate_paths([Path("deploy/")], check=True)
    >>> result.changed            # files that would change (nothing is written with check=True)

Directories rendered by kustomize or Helm are skipped with the reason: their Services only exist
after rendering, so the Argo CD plugin (plugins/argocd/) or the Flux hook (plugins/flux/) stamps
them at render time. YAML that is not Kubernetes (mkdocs.yml with `!!python/name:` tags, CI files,
Ansible playbooks) is skipped too: a file none of whose documents is a mapping with apiVersion and
kind is no manifest, whatever else it holds.

With `tree` (the pre-commit hook), the groups come from every manifest under `tree` and only the
files the given paths touch are checked or written (`_touched`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from planner.errors import InputError, Origin, PlannerError
from planner.files import stage_beside
from planner.model.group_annotations import (
    GROUP_ANNOTATION_KEYS,
    GROUP_MEMBERS_ANNOTATION,
    group_annotations,
)
from planner.model.service import ServiceInputError, allocation_inputs
from planner.objects import KubeObject
from planner.sources.desired import Source, find_sources
from planner.sources.documents import decode_text, parse_yaml, read_documents, read_file_bytes
from planner.sources.kinds import check_unique, to_objects
from planner.sources.known_fields import unknown_field_notes

# A directory holding one of these is rendered before apply; its files are not the manifests.
RENDER_MARKERS = {
    "kustomization.yaml": "kustomize",
    "kustomization.yml": "kustomize",
    "Kustomization": "kustomize",
    "Chart.yaml": "Helm",
}
RENDERED_HINT = (
    "its Services cannot be annotated in place; the Argo CD plugin (plugins/argocd/) "
    "or the Flux pre-sync hook (plugins/flux/) stamps them at render time"
)
NOT_KUBERNETES = "not a Kubernetes manifest (no document has apiVersion and kind)"
_BOM = "\ufeff"
_NULLS = ("", "~", "null", "Null", "NULL")
# In a file no YAML parser can read, only text naming an apiVersion key marks a manifest.
_API_VERSION_KEY = re.compile(r"""["']?\bapiVersion\b["']?\s*:""")

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
    """One file's bytes before and after annotation."""

    path: Path
    before: bytes
    after: bytes


@dataclass(frozen=True)
class AnnotateResult:
    """What `annotate_paths` found: files changed (or that would change), paths skipped."""

    changed: tuple[Path, ...]
    skipped: tuple[Skipped, ...]
    services: int
    warnings: tuple[str, ...] = ()  # Service fields Kubernetes does not know (as diff notes them)


@dataclass(frozen=True)
class _Edit:
    """Replace text[start:end] with `text` (start == end: an insertion)."""

    start: int
    end: int
    text: str


_MappingEntry = tuple[Node, MappingNode]  # a key and the mapping it holds
_Line = tuple[int, str, str | None]  # column, key, value (None: the key opens a nested mapping)


@dataclass(frozen=True)
class _LoadedFile:
    path: Path
    raw: bytes
    services: tuple[KubeObject, ...]


@dataclass(frozen=True)
class _Found:
    stale: list[_LoadedFile]  # files holding a Service without its wanted annotations
    skipped: list[Skipped]
    wanted: dict[str, dict[str, str]]
    services: int
    loaded: list[_LoadedFile]


def annotate_paths(
    paths: Sequence[Path], check: bool = False, tree: Path | None = None, lb_class: str = ""
) -> AnnotateResult:
    """Annotate every plain manifest file under `paths` in place (with check=True, write nothing).

    All edits are computed before the first write; each file is replaced atomically. `check`
    decides from the parsed manifests alone (a file changes exactly when one of its Services
    lacks its wanted annotations), so it never needs to locate anything. With `tree`, every
    manifest under `tree` forms the groups, and only the files `paths` touch change (`_touched`).
    `lb_class`: MetalLB's --lb-class (the Services of any other class are in no group).
    """
    found = _find_stale([tree] if tree is not None else paths, lb_class)
    stale, skipped = found.stale, found.skipped
    if tree is not None:
        stale, skipped = _touched(found, paths, tree)
    if not check:
        write_atomically([_change_of(file, found.wanted) for file in stale])
    warnings = unknown_field_notes(s for file in found.loaded for s in file.services)
    return AnnotateResult(
        tuple(file.path for file in stale), tuple(skipped), found.services, tuple(warnings)
    )


def _find_stale(paths: Sequence[Path], lb_class: str = "") -> _Found:
    sources, skipped = collect_sources(paths)
    loaded: list[_LoadedFile] = []
    for source in sources:
        result = _load(source)
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            loaded.append(result)
    services = [service for file in loaded for service in file.services]
    check_unique(services)
    wanted = _wanted_annotations(services, lb_class)
    stale = [file for file in loaded if _stale_services(list(file.services), wanted)]
    return _Found(stale, skipped, wanted, len(services), loaded)


def _touched(
    found: _Found, paths: Sequence[Path], tree: Path
) -> tuple[list[_LoadedFile], list[Skipped]]:
    """The stale files `paths` touch, and the skipped paths that concern them.

    A commit that edits one member of a group makes the other members' files stale too, and a
    deleted file is never passed to a hook at all. So besides the named files, a stale file is
    touched when one of its Services is related (below) to a Service of a named file, or still
    lists a member that no longer exists under `tree` (deleted or renamed).
    """
    named = [path.resolve() for path in paths]
    root = tree.resolve()
    outside = [
        Skipped(path, f"outside {tree}, the tree the groups are computed from")
        for path, real in zip(paths, named, strict=True)
        if real != root and root not in real.parents
    ]
    known = {service.key.svc_key for file in found.loaded for service in file.services}
    related: set[str] = set()
    for file in found.loaded:
        if _is_named(file.path, named):
            related.update(key for s in file.services for key in _related(s, found.wanted))
    stale = [
        file
        for file in found.stale
        if _is_named(file.path, named)
        or any(
            _related(s, found.wanted) & related or _related(s, found.wanted) - known
            for s in file.services
        )
    ]
    skipped = [s for s in found.skipped if _concerns(s.path.resolve(), named)]
    return stale, outside + skipped


def _related(service: KubeObject, wanted: dict[str, dict[str, str]]) -> set[str]:
    """The Service and every member of its group: the one it will have, and the one it lists now."""
    current = (service.body.get("metadata") or {}).get("annotations") or {}
    keys = {service.key.svc_key}
    for carried in (wanted.get(service.key.svc_key, {}), current):
        members = carried.get(GROUP_MEMBERS_ANNOTATION)
        if isinstance(members, str):
            keys.update(member.strip() for member in members.split(",") if member.strip())
    return keys


def _is_named(path: Path, named: list[Path]) -> bool:
    """Whether `path` is one of `named` or lies in a directory among them."""
    real = path.resolve()
    return any(real == p or p in real.parents for p in named)


def _concerns(skipped: Path, named: list[Path]) -> bool:
    """Whether a skipped path is named, holds a named path, or lies in a named directory."""
    return any(skipped == p or skipped in p.parents or p in skipped.parents for p in named)


def annotate_text(text: str, wanted: dict[str, dict[str, str]], name: str = "<text>") -> str:
    """`text` (one YAML file) with every Service's group annotations set to `wanted[svc_key]`.

    Services missing from `wanted` lose the planner's annotations. Only annotation lines change.
    """
    objects, _ = to_objects(parse_yaml(text.removeprefix(_BOM), name).documents)
    services = [obj for obj in objects if obj.is_service]
    return _edited_text(text.removeprefix(_BOM), services, wanted)


def collect_sources(paths: Sequence[Path]) -> tuple[list[Source], list[Skipped]]:
    """The plain manifest files under `paths` (each once, in reading order) and what is skipped."""
    files: dict[Path, Source] = {}
    skipped: list[Skipped] = []
    for path in paths:
        rendered = _rendered_by(path if path.is_dir() else path.parent)
        if rendered:
            skipped.append(Skipped(path, rendered))
            continue
        for source in find_sources(str(path)):
            if source.kind == "file":
                # realpath, not resolve(): a symlink loop must reach the reader, which reports it
                files.setdefault(Path(os.path.realpath(source.path)), source)
            else:
                reason = _render_marker(source.path) or f"rendered by {source.kind}"
                skipped.append(Skipped(source.path, reason))
    return list(files.values()), skipped


def write_atomically(changes: Sequence[FileChange]) -> None:
    """Write every change through a temporary file beside its target, then rename them all.

    Every temporary file is complete (and synced) before the first rename, so a failure to write
    leaves every file as it was. A symlink's target is written, not the link; modes are kept.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for change in changes:
            target = change.path.resolve()
            staged.append((stage_beside(target, change.after), target))
    except BaseException as err:
        for temp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        if isinstance(err, OSError):
            raise PlannerError(
                f"cannot write {err.filename}: {err.strerror}; nothing was changed"
            ) from err
        raise
    for temp, target in staged:
        os.replace(temp, target)


# --- finding and reading files -------------------------------------------------------------------


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
            return f"rendered by {tool} ({_shown(directory / marker)}); {RENDERED_HINT}"
    return None


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it (messages stay short)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load(source: Source) -> _LoadedFile | Skipped:
    """A file's bytes and Services; a template or YAML that is not Kubernetes is skipped."""
    raw = read_file_bytes(source.path, source.label)  # a FIFO or a device is refused, not read
    try:
        parsed = read_documents(source.path, source.label)
    except InputError:
        if b"{{" in raw or b"{%" in raw:
            return Skipped(source.path, f"a template, not YAML; {RENDERED_HINT}")
        if not _may_be_kubernetes(raw):
            return Skipped(source.path, NOT_KUBERNETES)
        raise
    objects, _ = to_objects(parsed.documents)
    services = tuple(obj for obj in objects if obj.is_service)
    return _LoadedFile(source.path, raw, services)


def _may_be_kubernetes(raw: bytes) -> bool:
    """Whether a file that failed to load holds a document with apiVersion and kind.

    Only composed, never constructed: custom tags (`!ENV`, `!!python/name:`) need no
    constructor, and aliases are not expanded. The pure-Python composer runs out of recursion
    (caught) where libyaml's would crash; a file it cannot read at all counts as a manifest when
    its text names an apiVersion key, so a broken manifest is still reported.
    """
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return _API_VERSION_KEY.search(text) is not None
    return any(_names_api_version_and_kind(root) for root in roots)


def _names_api_version_and_kind(root: Node | yaml.Node | None) -> bool:
    if not isinstance(root, yaml.MappingNode):
        return False
    keys = {key.value for key, _ in root.value if isinstance(key, yaml.ScalarNode)}
    return {"apiVersion", "kind"} <= keys


def _wanted_annotations(services: list[KubeObject], lb_class: str) -> dict[str, dict[str, str]]:
    """The group annotations of every Service; a bad field is reported with its origin."""
    for service in services:
        annotations = (service.body.get("metadata") or {}).get("annotations")
        if annotations is not None and not isinstance(annotations, dict):
            raise InputError("`metadata.annotations` must be a mapping", service.origin)
    try:
        return group_annotations([service.body for service in services], lb_class)
    except ServiceInputError:
        for service in services:  # only on failure: find which Service it was
            try:
                allocation_inputs(service.body)
            except ServiceInputError as err:
                raise err.with_origin(service.origin) from None
        raise


# --- computing the edits -------------------------------------------------------------------------


def _change_of(file: _LoadedFile, wanted: dict[str, dict[str, str]]) -> FileChange:
    text = decode_text(file.raw, str(file.path))
    edited = _edited_text(text, list(file.services), wanted)
    if edited == text:
        return FileChange(file.path, file.raw, file.raw)
    bom = _BOM.encode("utf-8") if file.raw.startswith(_BOM.encode("utf-8")) else b""
    return FileChange(file.path, file.raw, bom + edited.encode("utf-8"))


def _edited_text(text: str, services: list[KubeObject], wanted: dict[str, dict[str, str]]) -> str:
    """`text` with the edits that give each of `services` (all from this text) its annotations."""
    stale = _stale_services(services, wanted)
    if not stale:
        return text  # the common case in CI: no need to locate anything
    roots = _compose(text, stale[0].origin)
    edits: list[_Edit] = []
    for service in stale:
        origin = service.origin or Origin("<text>")
        node = _service_node(roots, origin)
        editor = _ServiceEditor(text, node, origin)
        edits.extend(editor.edits(wanted.get(service.key.svc_key, {})))
    edited = _apply(text, edits)
    _check_only_annotations_changed(edited, services, stale, wanted)
    return edited


def _check_only_annotations_changed(
    edited: str,
    services: list[KubeObject],
    stale: list[KubeObject],
    wanted: dict[str, dict[str, str]],
) -> None:
    """Read the edited text back: each Service must mean what it meant, with exactly its wanted
    annotations. Anchors, aliases and merge keys share text between places, so an edit in one
    place can change another; such a file is refused rather than written."""
    file = services[0].origin.file if services[0].origin else "<text>"
    objects, _ = to_objects(parse_yaml(edited, file).documents)
    after = [obj for obj in objects if obj.is_service]  # in file order, as `services` are
    stale_ids = {id(service) for service in stale}
    for index, service in enumerate(services):
        expected = service.body
        if id(service) in stale_ids:
            expected = _with_annotations(service.body, wanted.get(service.key.svc_key, {}))
        got = after[index].body if index < len(after) else None
        if _without_empty_annotations(got) != _without_empty_annotations(expected):
            raise InputError(
                "annotating this Service in place would change more than its own group "
                "annotations (YAML anchors, aliases or merge keys share its metadata); write "
                "its metadata.annotations out in full",
                service.origin,
            )


def _with_annotations(body: dict[str, Any], desired: dict[str, str]) -> dict[str, Any]:
    """`body` with the planner's annotations replaced by `desired` (a copy)."""
    metadata = dict(body.get("metadata") or {})
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k not in GROUP_ANNOTATION_KEYS
    }
    metadata["annotations"] = {**annotations, **desired}
    return {**body, "metadata": metadata}


def _without_empty_annotations(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """`body` with an empty or null `metadata.annotations` left out (both read as none)."""
    if body is None or not isinstance(body.get("metadata"), dict):
        return body
    metadata = body["metadata"]
    if "annotations" not in metadata or metadata["annotations"]:
        return body
    return {**body, "metadata": {k: v for k, v in metadata.items() if k != "annotations"}}


def _stale_services(
    services: list[KubeObject], wanted: dict[str, dict[str, str]]
) -> list[KubeObject]:
    return [s for s in services if not _carries(s.body, wanted.get(s.key.svc_key, {}))]


def _carries(manifest: dict[str, Any], desired: dict[str, str]) -> bool:
    """Whether the parsed manifest already holds exactly `desired` of the planner's annotations."""
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    ours = {key: annotations[key] for key in GROUP_ANNOTATION_KEYS if key in annotations}
    return ours == desired


def _compose(text: str, origin: Origin | None) -> list[Node]:
    """The node trees of every document, with their exact positions in `text`."""
    try:
        return list(YAML(typ="rt").compose_all(text))
    except MarkedYAMLError as err:
        file = origin.file if origin else "<text>"
        line = err.problem_mark.line + 1 if err.problem_mark else 1
        raise InputError(
            f"ruamel.yaml cannot parse it: {err.problem}", Origin(file, 0, line)
        ) from None


def _service_node(roots: list[Node], origin: Origin) -> MappingNode:
    """The mapping node of the Service at `origin`: a document, or an item of a List document."""
    root = roots[origin.document] if origin.document < len(roots) else None
    if isinstance(root, MappingNode) and root.start_mark.line + 1 == origin.line:
        return root
    for key, value in root.value if isinstance(root, MappingNode) else []:
        if isinstance(key, ScalarNode) and key.value == "items" and isinstance(value, SequenceNode):
            for item in value.value:
                if isinstance(item, MappingNode) and item.start_mark.line + 1 == origin.line:
                    return item
    raise InputError("cannot locate this Service in the file to annotate it", origin)


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

    def __init__(self, text: str, root: MappingNode, origin: Origin) -> None:
        self.text = text
        self.root = root
        self.origin = origin
        # quote like the document does where a mapping has no entry to copy (JSON: all quoted)
        self.document_styles = _styles_of(root, (None, None))

    def edits(self, desired: dict[str, str]) -> list[_Edit]:
        """The edits for this Service (none when it already carries exactly `desired`)."""
        found = self._child(self.root, "metadata")
        if found is None and _has_merge_key(self.root):
            raise InputError(_MERGED.format(what="metadata"), self.origin)
        if found is None or not isinstance(found[1], MappingNode):
            return []  # no metadata mapping: sources refused the Service already
        metadata = (found[0], found[1])
        annotations = self._child(metadata[1], "annotations")
        if annotations is None and _has_merge_key(metadata[1]):
            # An `annotations:` key written here would hide every merged annotation.
            raise InputError(_MERGED.format(what="metadata.annotations"), self.origin)
        if annotations is None:
            return self._add_annotations_key(metadata, desired) if desired else []
        key, value = annotations
        if isinstance(value, MappingNode):
            flow = bool(self.root.flow_style or metadata[1].flow_style or value.flow_style)
            return self._edit_mapping((key, value), desired, flow)
        if isinstance(value, ScalarNode) and value.style is None and value.value in _NULLS:
            return self._fill_null(metadata[1], annotations, desired) if desired else []
        raise InputError("metadata.annotations: must be a mapping", self.origin)

    # -- an existing annotations mapping --

    def _edit_mapping(
        self, annotations: _MappingEntry, desired: dict[str, str], flow: bool
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
        style = node.style if isinstance(node, ScalarNode) else None
        unchanged = isinstance(node, ScalarNode) and node.value == value
        if unchanged and (style is not None or _plain_safe(value, flow)):
            return None
        return _Edit(node.start_mark.index, node.end_mark.index, _render(value, style, flow))

    def _insert_entries(self, mapping: MappingNode, entries: dict[str, str]) -> _Edit:
        if mapping.flow_style:
            return self._insert_flow(mapping, entries)
        column = mapping.value[0][0].start_mark.column
        return self._insert_block_lines(mapping, column, entries, self._styles(mapping))

    def _remove_entries(
        self, annotations: _MappingEntry, stale: list[tuple[Node, Node]]
    ) -> list[_Edit]:
        mapping = annotations[1]
        if mapping.flow_style:
            return self._remove_flow(mapping, stale)
        if len(stale) == len(mapping.value):  # nothing else left: the `annotations:` key goes too
            return [self._delete_lines(*annotations)]
        return [self._delete_lines(key, value) for key, value in stale]

    # -- no annotations mapping yet --

    def _add_annotations_key(self, metadata: _MappingEntry, desired: dict[str, str]) -> list[_Edit]:
        meta_key, mapping = metadata
        if mapping.flow_style or not mapping.value:
            return [self._insert_flow(mapping, {"annotations": desired})]
        column = mapping.value[0][0].start_mark.column
        step = max(column - meta_key.start_mark.column, 1)
        styles = self._styles(mapping)
        lines: list[_Line] = [(column, "annotations", None)]
        lines += [(column + step, k, v) for k, v in desired.items()]
        return [self._insert_lines(mapping, lines, styles)]

    def _fill_null(
        self, metadata: MappingNode, annotations: tuple[Node, Node], desired: dict[str, str]
    ) -> list[_Edit]:
        key, null = annotations
        styles = self._styles(metadata)
        if null.start_mark.index == null.end_mark.index and not metadata.flow_style:
            step = max(metadata.value[0][0].start_mark.column - self._key_column(metadata), 1)
            lines: list[_Line] = [(key.start_mark.column + step, k, v) for k, v in desired.items()]
            return [self._insertion(key.end_mark.index, lines, styles)]
        return [_Edit(null.start_mark.index, null.end_mark.index, _flow_text(desired, styles))]

    def _styles(self, mapping: MappingNode) -> _Styles:
        return _styles_of(mapping, self.document_styles)

    def _key_column(self, mapping: MappingNode) -> int:
        """Column of the key that holds `mapping` (the parent's key column)."""
        for key, value in self.root.value:
            if value is mapping:
                return int(key.start_mark.column)
        return 0

    # -- block style --

    def _insert_block_lines(
        self, mapping: MappingNode, column: int, entries: dict[str, str], styles: _Styles
    ) -> _Edit:
        return self._insert_lines(mapping, [(column, k, v) for k, v in entries.items()], styles)

    def _insert_lines(self, mapping: MappingNode, lines: list[_Line], styles: _Styles) -> _Edit:
        last_key, last_value = mapping.value[-1]
        end = max(self._content_end(last_key), self._content_end(last_value))
        return self._insertion(end, lines, styles)

    def _insertion(self, end: int, lines: list[_Line], styles: _Styles) -> _Edit:
        """Block lines inserted after the line holding text[end - 1], with that line's ending."""
        insert_at, eol = self._line_after(end)
        body = self._block_lines(lines, eol, styles)
        if insert_at == len(self.text) and not self.text.endswith(("\n", "\r")):
            body = eol + body.removesuffix(eol)
        return _Edit(insert_at, insert_at, body)

    def _block_lines(self, lines: list[_Line], eol: str, styles: _Styles) -> str:
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
        styles = self._styles(mapping)
        if not mapping.value:  # `{}` or `{ }`: keep the padding on both sides
            inner = self.text[mapping.start_mark.index + 1 : close]
            padding = " " if inner and not inner.strip() else ""
            body = padding + _flow_entries(entries, styles, ", ") + padding
            return _Edit(mapping.start_mark.index + 1, close, body)
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
            return f",{eol}" + " " * int(first_key.start_mark.column)
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
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            return int(end)  # trailing blank lines may be content (`|+`): stay after them
        while end > start and self.text[end - 1] in " \t\r\n":
            end -= 1
        return int(end)

    def _line_after(self, index: int) -> tuple[int, str]:
        """Start of the line after the one holding text[index - 1], and that line's ending."""
        newline = self.text.find("\n", max(index - 1, 0))
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


def _styles_of(mapping: MappingNode, fallback: _Styles) -> _Styles:
    """Quote keys and values the way the mapping's first entry does (`fallback` when empty)."""
    if not mapping.value:
        return fallback
    key, value = mapping.value[0]
    value_style = value.style if isinstance(value, ScalarNode) else None
    return (key.style if isinstance(key, ScalarNode) else None, value_style)


_MERGED = (
    "{what} comes from a YAML merge key (`<<: *anchor`); annotate cannot edit it in place "
    "without hiding or changing what the anchor holds: write metadata.annotations out in this "
    "Service"
)


def _has_merge_key(mapping: MappingNode) -> bool:
    return any(_is_scalar(key, ("<<",)) for key, _ in mapping.value)


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
    return bool(by_pyyaml == {"k": value} and by_ruamel == {"k": value})


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
