"""Parse YAML and JSON text into Kubernetes documents that remember where they came from.

Each document keeps an `Origin` (file, 0-based document index, 1-based line of its first
content). `List` kinds are unrolled; empty documents are dropped; mappings without
apiVersion/kind are skipped with a note the caller reports. Bad input raises `InputError`.

    >>> parsed = parse_yaml("apiVersion: v1\\nkind: Service\\nmetadata: {name: dns}\\n", "a.yaml")
    >>> parsed.documents[0].origin
    Origin(file='a.yaml', document=0, line=1)
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import select
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.errors import InputError, Origin
from planner.kube_yaml import INT_TAG, STRING_TAGS, KubeLoader
from planner.objects import Manifest
from planner.sources import fast_yaml
from planner.sources.managed_fields import (
    Slimmed,
    applied_only,
    managed_fields_keys,
    slim_managed_fields,
)

# No integer Kubernetes reads needs more characters than this (a 64-bit one in binary, with
# prefix, sign and separators); a longer literal is refused before Python converts it (thousands
# of digits would hit Python's own int conversion limit). Field ranges are checked in validate.py.
MAX_INT_CHARS = 100
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KEY_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:bool": "a boolean",
}

# How many nodes YAML aliases may add to one document once expanded; beyond that the document
# is refused as an alias bomb ("billion laughs") before anything walks or copies it.
ALIAS_NODE_BUDGET = 100_000

# libyaml's C composer recurses once per nesting level and crashes the interpreter (a segfault,
# not an exception) somewhere past 20,000 levels, and PyYAML 6.0.4's scanner has its own limit of
# 1,000 (with its own message). Our limit fires first with every supported PyYAML, so the message
# is always ours; real manifests (even CRD schemas) nest a few dozen levels.
MAX_NESTING = 500
TOO_DEEP = f"the document is nested more than {MAX_NESTING:,} levels deep"

# A kubectl `List` this large is parsed item by item: composing it whole would hold a node graph
# of every item at once (some 35 bytes of memory per byte of YAML).
LARGE_LIST_CHARS = 1_000_000

JSON_SUFFIXES = frozenset({".json"})

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_LINE_KEY = re.compile(r"^[ \t]*(?:-[ \t]+)*([A-Za-z0-9_./-]+)[ \t]*:(?:[ \t]|$)")
_DOCUMENT_START = re.compile(r"^---", re.MULTILINE)
_BLOCK_PREFIX = re.compile(r"^[ \-?:]*", re.MULTILINE)
_ITEMS_KEY = re.compile(r"^items:[ \t]*\n", re.MULTILINE)
# Both start at the line break before the line they find (the match's start + 1): a pattern that
# starts with a literal is searched for at C speed, a `^` is tried at every position (0.085 ->
# 0.01 s over a 9.5 MB List).
_ITEM_START = re.compile(r"\n-(?=[ \t\n])")
# The first line at column 0 that can neither start an item nor belong to one ends the items.
_AFTER_ITEMS = re.compile(r"\n(?:(?![-#\s])|-(?![ \t\n]))")


class _Loader(KubeLoader):
    """Kubernetes' reading of YAML (KubeLoader), returning one string object per distinct
    string of the loaders sharing `strings`."""

    def __init__(self, stream: str, strings: dict[str, str] | None = None) -> None:
        super().__init__(stream)
        self.strings: dict[str, str] = {} if strings is None else strings

    def construct_yaml_str(self, node: yaml.ScalarNode) -> str:
        """The scalar's string, shared with every equal one already loaded: a List of 10,000
        Services repeats `name`, `spec`, `TCP`... 600,000 times in 45,000 distinct strings, and
        one string object each took 33 of the parsed snapshot's 68 MB (bench/README.md)."""
        value: str = self.construct_scalar(node)
        return self.strings.setdefault(value, value)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int | str:  # type: ignore[override]
        """An integer (or the scalar, as KubeLoader reads it), or a (marked, one-line) error
        for a literal too long to be one."""
        if len(node.value) > MAX_INT_CHARS:
            problem = f"an integer of {len(node.value):,} characters is out of range"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        return super().construct_yaml_int(node)


# The stubs type the loader of add_constructor after the pure-Python classes, not the C ones.
_Loader.read_as_strings((_STR_TAG, *STRING_TAGS))
_Loader.add_constructor(INT_TAG, _Loader.construct_yaml_int)  # type: ignore[type-var,unused-ignore]


@dataclass(frozen=True)
class Document:
    """One Kubernetes manifest and where it starts."""

    body: Manifest
    origin: Origin


@dataclass(frozen=True)
class Parsed:
    """The documents of one input and the notes about what was skipped."""

    documents: list[Document] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def manifest_files(
    root: Path,
    suffixes: frozenset[str] = MANIFEST_SUFFIXES,
    *,
    recurse: bool = True,
    skip_holding: str | None = None,
) -> Iterator[Path]:
    """Manifest files below the directory `root`: each directory's files (sorted) before its
    subdirectories (sorted), only `root`'s own without `recurse`; hidden entries skipped, and
    below `root` every directory holding a file named `skip_holding` (a chart's Chart.yaml)."""
    return _manifest_files_in(root, str(root), suffixes, recurse, skip_holding, below=False)


def _manifest_files_in(
    here: Path,
    directory: str,
    suffixes: frozenset[str],
    recurse: bool,
    skip: str | None,
    below: bool,
) -> Iterator[Path]:
    # os.scandir, not os.walk: the entries' types come with the listing, so neither the skip
    # test nor the walk stats a file (a 189-file tree: 4.8 -> 2.1 ms, paid by every named path)
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=_entry_name)
    except OSError:
        return  # as os.walk: an unreadable directory is left out
    files: list[str] = []
    directories: list[os.DirEntry[str]] = []
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.is_symlink():  # os.walk's default: a link to a directory is not followed
                directories.append(entry)
        elif below and name == skip and entry.is_file():
            return
        elif os.path.splitext(name)[1].lower() in suffixes:
            files.append(name)
    for name in files:
        yield here / name
    if recurse:
        for entry in directories:
            yield from _manifest_files_in(
                here / entry.name, entry.path, suffixes, recurse, skip, below=True
            )


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def read_documents(
    path: Path, label: str | None = None, pipes: bool = False, snapshot: bool = False
) -> Parsed:
    """Read and parse one file (JSON by its suffix, else YAML); `label` names it in messages.
    Only a regular file is read, or with `pipes` also a FIFO (`--live <(kubectl get ...)`).
    `snapshot`: a live snapshot, whose managedFields keep only their Apply entries."""
    name = label if label is not None else str(path)
    text = decode_text(read_file_bytes(path, name, pipes), name)
    if path.suffix.lower() in JSON_SUFFIXES:
        return parse_json(text, name, snapshot=snapshot)
    return parse_yaml(text, name, snapshot=snapshot)


def parse_snapshot(text: str, file: str, rendered_by: str | None = None) -> Parsed:
    """A live snapshot of unknown format: JSON (`kubectl get -o json`) when it parses as JSON,
    else YAML. JSON is a subset of YAML, so the documents are the same either way; the JSON
    parser is only much faster. ManagedFields keep only their Apply entries."""
    if text.lstrip()[:1] == "{":
        try:
            return parse_json(text, file, snapshot=True)
        except InputError:
            pass  # not JSON after all (e.g. a YAML flow mapping): YAML says what is wrong
    return parse_yaml(text, file, rendered_by, snapshot=True)


# What a file that is not a regular file is, in messages.
_FILE_TYPES = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def read_file_bytes(path: Path, label: str, pipes: bool = False) -> bytes:
    """The bytes of a regular file (or, with `pipes`, a FIFO); InputError for anything else
    (a FIFO, socket or device named *.yaml would block or never end) or an unreadable file."""
    try:
        # Non-blocking: opening a FIFO with no writer must not hang before we can look at it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise InputError(f"cannot read the file: {err.strerror or err}", Origin(label)) from err
    mode = os.fstat(descriptor).st_mode
    if not (stat.S_ISREG(mode) or (pipes and stat.S_ISFIFO(mode))):
        os.close(descriptor)
        raise InputError(_not_regular(mode), Origin(label))
    if stat.S_ISFIFO(mode):
        try:
            return _read_fifo(descriptor)
        except OSError as err:
            raise InputError(f"cannot read the file: {err.strerror or err}", Origin(label)) from err
        finally:
            os.close(descriptor)
    os.set_blocking(descriptor, True)
    with os.fdopen(descriptor, "rb") as file:
        try:
            return file.read()
        except OSError as err:
            raise InputError(f"cannot read the file: {err.strerror or err}", Origin(label)) from err


def _read_fifo(descriptor: int) -> bytes:
    """Everything a FIFO's writer sends, waiting for a writer that comes later.

    Read non-blocking and poll: a FIFO opened before its writer reads as empty (end of file),
    and closing it to reopen blocking would break a writer that came in between. Linux's poll
    reports a hang-up only once a writer has been and gone."""
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLHUP)
    chunks: list[bytes] = []
    while True:
        poller.poll()
        try:
            chunk = os.read(descriptor, 1 << 16)
        except BlockingIOError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return f"cannot read the file: {os.strerror(errno.EISDIR)}"
    what = _FILE_TYPES.get(stat.S_IFMT(mode), "a special file")
    return f"{what}, not a regular file; refusing to read it"


def decode_text(data: bytes, file: str) -> str:
    """UTF-8 text (a byte-order mark is dropped), or InputError naming the line of a bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8-sig", errors="replace")
        origin = Origin(file, _document_index_at(before), before.count("\n") + 1)
        raise InputError(f"the file is not UTF-8 text (byte {err.start})", origin) from err


def parse_yaml(
    text: str, file: str, rendered_by: str | None = None, *, snapshot: bool = False
) -> Parsed:
    """Parse a YAML stream (one or more documents) into Kubernetes documents. `snapshot`: a live
    snapshot, whose managedFields keep only their Apply entries; the others are cut from the
    text unparsed where that is sure to give the same documents (see managed_fields)."""
    if not snapshot:
        return _parse_yaml(text, file, rendered_by)
    slimmed = slim_managed_fields(text)
    parsed = _parse_slimmed(slimmed, file, rendered_by) if slimmed is not None else None
    if parsed is None:
        parsed = _parse_yaml(text, file, rendered_by)
    for document in parsed.documents:
        applied_only(document.body)
    return parsed


def _parse_slimmed(slimmed: Slimmed, file: str, rendered_by: str | None) -> Parsed | None:
    """The documents of a slimmed snapshot, or None when it fails to parse or an edit was not a
    `metadata.managedFields` key holding the entries it kept (the original text decides then)."""
    keys: dict[int, int] = {}
    try:
        parsed = _parse_yaml(slimmed.text, file, rendered_by, keys)
    except InputError:
        return None
    if any(keys.get(line) != kept for line, kept in slimmed.edits.items()):
        return None
    return parsed


def _parse_yaml(
    text: str, file: str, rendered_by: str | None, keys: dict[int, int] | None = None
) -> Parsed:
    """Parse a YAML stream; `keys` collects the line and entry count of each object's
    `metadata.managedFields` key (see managed_fields_keys)."""
    if len(text) >= LARGE_LIST_CHARS:
        parsed_list = _parse_large_list(text, file, keys)
        if parsed_list is not None:
            return parsed_list
    fast = _parse_fast(text, file, keys)
    if fast is not None:
        return fast
    _check_nesting(text, file)
    parsed = Parsed()
    loader = _Loader(text)
    index = 0
    may_alias = "&" in text and "*" in text  # no anchor, no alias: skip the budget walk
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # check_node said there is one; an empty stream has none
                break
            _take_node(
                loader, node, Origin(file, index, node.start_mark.line + 1), may_alias, keys, parsed
            )
            index += 1
    except yaml.YAMLError as err:
        raise yaml_error(err, file, text, index, rendered_by) from err
    except RecursionError as err:
        raise InputError(TOO_DEEP, Origin(file, index)) from err
    finally:
        loader.dispose()
    return parsed


def _parse_fast(text: str, file: str, keys: dict[int, int] | None) -> Parsed | None:
    """The stream's documents, each the fast way (fast_yaml) when it is sure of it and the
    libyaml way when not; None when the stream cannot be split or any document fails (the
    caller then parses it whole, so every error keeps its message)."""
    segments = fast_yaml.split_stream(text)
    if segments is None:
        return None
    memo = fast_yaml.Memo()
    checked = fast_yaml.check_lines([segment.text for segment in segments], memo)
    parsed = Parsed()
    nesting_checked = False  # fast_yaml bounds the nesting of what it loads; libyaml does not
    try:
        for index, segment in enumerate(segments):
            loaded = fast_yaml.load(segment.text, memo, MAX_NESTING, checked)
            if loaded is None or _needs_nodes(loaded.value, keys):
                if not nesting_checked:
                    _check_nesting(text, file)  # too deep: None, and the caller says so
                    nesting_checked = True
                _parse_one(segment, file, index, memo.strings, keys, parsed)
            else:
                origin = Origin(file, index, segment.line + loaded.line + 1)
                _collect(loaded.value, None, origin, parsed)
    except (yaml.YAMLError, InputError, RecursionError):
        return None
    return parsed


def _needs_nodes(body: Any, keys: dict[int, int] | None) -> bool:
    """Whether a document's origins need libyaml's nodes: the lines of a List's items, or of
    `metadata.managedFields` when `keys` asks for them."""
    if not isinstance(body, dict):
        return False
    kind = body.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in body:
        return True
    metadata = body.get("metadata")
    return keys is not None and isinstance(metadata, dict) and "managedFields" in metadata


def _parse_one(
    segment: fast_yaml.Segment,
    file: str,
    index: int,
    strings: dict[str, str],
    keys: dict[int, int] | None,
    parsed: Parsed,
) -> None:
    """One document of a stream the libyaml way, alone; blank lines stand in for the lines
    before it, so every line libyaml reports is the stream's."""
    padded = "\n" * segment.line + segment.text
    loader = _Loader(padded, strings)
    try:
        node = loader.get_single_node()
        if node is None:  # blank and comments after a `---`: an empty document
            return
        origin = Origin(file, index, node.start_mark.line + 1)
        _take_node(loader, node, origin, "&" in padded and "*" in padded, keys, parsed)
    finally:
        loader.dispose()


def _take_node(
    loader: _Loader,
    node: yaml.Node,
    origin: Origin,
    may_alias: bool,
    keys: dict[int, int] | None,
    parsed: Parsed,
) -> None:
    """Check one document's node (aliases only when the text may have them, keys, numbers),
    note its managedFields lines when `keys` asks, and collect its value."""
    if may_alias:  # no anchor, no alias: skip the budget walk
        _check_alias_budget(node, origin)
    _check_keys_and_numbers(node, origin)
    if keys is not None:
        keys.update(managed_fields_keys(node))
    _collect(loader.construct_document(node), node, origin, parsed)


def parse_json(text: str, file: str, *, snapshot: bool = False) -> Parsed:
    """Parse one JSON document into Kubernetes documents (List items get the List's line);
    `snapshot`: a live snapshot, whose managedFields keep only their Apply entries."""
    try:
        body = json.loads(text, parse_int=_json_int)
    except _LongNumberError as err:
        raise InputError(str(err), Origin(file, 0)) from err
    except json.JSONDecodeError as err:
        origin = Origin(file, 0, err.lineno)
        raise InputError(f"malformed JSON: {err.msg} (column {err.colno})", origin) from err
    except RecursionError as err:  # far deeper than MAX_NESTING: the decoder itself gave up
        raise InputError(TOO_DEEP, Origin(file, 0)) from err
    # Checked on the parsed value: walking its containers is some 7x cheaper than scanning
    # the text's brackets outside strings (json_nesting: 0.34 s against 0.05 s for a
    # 10,000-Service List). The decoder raises RecursionError at the interpreter's C recursion
    # limit (deeper on 3.13 than on 3.11, still an exception), which is caught above.
    if _shared_nesting(body) > MAX_NESTING:
        raise InputError(TOO_DEEP, Origin(file, 0))
    parsed = Parsed()
    stripped = text.lstrip()
    _collect(body, None, Origin(file, 0, text[: len(text) - len(stripped)].count("\n") + 1), parsed)
    if snapshot:
        for document in parsed.documents:
            applied_only(document.body)
    return parsed


class _LongNumberError(ValueError):
    """A JSON integer literal too long to be a number Kubernetes reads."""


def _json_int(literal: str) -> int:
    if len(literal) > MAX_INT_CHARS:
        raise _LongNumberError(f"a number of {len(literal):,} characters is out of range")
    return int(literal)


def _collect(body: Any, node: yaml.Node | None, origin: Origin, parsed: Parsed) -> None:
    """Add one parsed document to `parsed`: as is, unrolled from a List, or as a note."""
    if body is None:
        return  # an empty document, e.g. after a trailing `---` or a disabled helm template
    if not isinstance(body, dict):
        raise InputError(f"the document is {_a_type(body)}, not a mapping", origin)
    if _is_list(body, origin):
        _collect_items(body, node, origin, parsed)
    elif _is_kubernetes(body, origin):
        parsed.documents.append(Document(body, origin))
    else:
        parsed.notes.append(f"{origin}: skipped a document without apiVersion and kind")


def _parse_large_list(text: str, file: str, keys: dict[int, int] | None = None) -> Parsed | None:
    """A one-document List in kubectl's layout (`items:` at column 0, each item at `- `), parsed
    item by item; None when the text is not laid out so or any part fails (the caller then
    parses it whole and reports what is wrong)."""
    split = split_list_items(text)
    if split is None:
        return None
    header, chunks = split
    memo = fast_yaml.Memo()  # one object per distinct string across the items
    checked = fast_yaml.check_lines([header, *(chunk for _, chunk in chunks)], memo)
    try:
        body, line = _load_list_header(header, file, memo, checked)
        items, lines = [], []
        for chunk_line, chunk in chunks:
            item, item_line = _load_part(chunk, file, memo, keys, chunk_line - 1, checked)
            items.append(item)
            lines.append(chunk_line + item_line)
    except (yaml.YAMLError, InputError, RecursionError):
        return None
    if body is None:
        return None
    parsed = Parsed()
    _add_items(body, items, lines, Origin(file, 0, line), parsed)
    return parsed


def split_list_items(text: str) -> tuple[str, list[tuple[int, str]]] | None:
    """(the text without its items, [(1-based first line of an item, its text)]) of a List laid
    out as kubectl prints it; None for anything else. Public for the bench's parser floor."""
    key = _ITEMS_KEY.search(text)
    if key is None:
        return None
    # key.end() is just after the `items:` line's break, where the search starts from.
    end = _AFTER_ITEMS.search(text, key.end() - 1)
    region_end = end.start() + 1 if end else len(text)
    starts = [m.start() + 1 for m in _ITEM_START.finditer(text, key.end() - 1, region_end)]
    if not starts or not _only_comments(text[key.end() : starts[0]]):
        return None  # something other than items right under `items:`
    bounds = [*starts, region_end]
    chunks = []
    line = text.count("\n", 0, starts[0]) + 1
    for begin, finish in itertools.pairwise(bounds):
        chunks.append((line, " " + text[begin + 1 : finish]))  # "- a: 1" -> "  a: 1"
        line += text.count("\n", begin, finish)
    return text[: key.start()] + text[region_end:], chunks


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _load_list_header(
    header: str, file: str, memo: fast_yaml.Memo, lines_checked: bool = False
) -> tuple[Manifest | None, int]:
    """The List without its items, and its first line; None when it is not a List."""
    body, line = _load_part(header, file, memo, lines_checked=lines_checked)
    if not isinstance(body, dict) or "items" in body or not str(body.get("kind")).endswith("List"):
        return None, 1
    return body, line + 1


def _load_part(
    text: str,
    file: str,
    memo: fast_yaml.Memo,
    keys: dict[int, int] | None = None,
    offset: int = 0,
    lines_checked: bool = False,
) -> tuple[Any, int]:
    """A one-document text's value (a List's header, or one item in a chunk starting at 0-based
    line `offset`; `keys` as in _parse_yaml) and the 0-based line of its first content: the fast way
    when fast_yaml is sure of it (and no managedFields line is asked for), else libyaml's
    (which checks the nesting first; fast_yaml bounds it from the lines it checked)."""
    loaded = fast_yaml.load(text, memo, MAX_NESTING, lines_checked)
    if loaded is not None and loaded.value is not None and not _needs_nodes(loaded.value, keys):
        return loaded.value, loaded.line
    node, value = _load_single(text, file, memo.strings)
    if keys is not None:
        keys.update(managed_fields_keys(node, offset))
    return value, node.start_mark.line


def _load_single(text: str, file: str, strings: dict[str, str]) -> tuple[yaml.Node, Any]:
    """Compose and construct a one-document text with the nesting and alias checks."""
    _check_nesting(text, file)
    loader = _Loader(text, strings)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("an empty item", Origin(file))
        if "&" in text and "*" in text:
            _check_alias_budget(node, Origin(file))
        _check_keys_and_numbers(node, Origin(file))
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _is_kubernetes(body: Manifest, origin: Origin) -> bool:
    """True for a mapping with apiVersion and kind; InputError when they are not strings."""
    if not body.get("apiVersion") or not body.get("kind"):
        return False
    for field_name in ("apiVersion", "kind"):
        if not isinstance(body[field_name], str):
            raise InputError(
                f"`{field_name}` must be a string, not {_a_type(body[field_name])}", origin
            )
    return True


def _is_list(body: Manifest, origin: Origin) -> bool:
    """True for a `List` (or `ServiceList`...) whose items are to be unrolled."""
    kind = body.get("kind")
    if not isinstance(kind, str) or not kind.endswith("List") or "items" not in body:
        return False
    if not isinstance(body["items"], list | None):
        raise InputError(f"`items` of the {kind} must be a list", origin)
    return True


def _collect_items(body: Manifest, node: yaml.Node | None, origin: Origin, parsed: Parsed) -> None:
    """Unroll a List: each item keeps the List's file and document, with its own line."""
    items = body["items"] or []
    _add_items(body, items, _item_lines(node, len(items), origin.line), origin, parsed)


def _add_items(
    body: Manifest, items: list[Any], lines: list[int], origin: Origin, parsed: Parsed
) -> None:
    """Add a List's items (at the given lines) to `parsed`, or notes for non-Kubernetes ones."""
    for position, (item, line) in enumerate(zip(items, lines, strict=True)):
        item_origin = Origin(origin.file, origin.document, line)
        if not isinstance(item, dict):
            message = f"item {position + 1} of the {body['kind']} is {_a_type(item)}, not a mapping"
            raise InputError(message, item_origin)
        item = _with_list_kind(item, body)
        if _is_kubernetes(item, item_origin):
            parsed.documents.append(Document(item, item_origin))
        else:
            parsed.notes.append(f"{item_origin}: skipped a List item without apiVersion and kind")


def _with_list_kind(item: Manifest, body: Manifest) -> Manifest:
    """An item of a typed list (`ServiceList`) as the API server omits it: kind filled in."""
    kind = body["kind"][: -len("List")]
    if item.get("kind") or not kind:
        return item
    return {**item, "kind": kind, "apiVersion": item.get("apiVersion") or body.get("apiVersion")}


def _item_lines(node: yaml.Node | None, count: int, fallback: int) -> list[int]:
    """1-based lines of a List's items from its composed node (the List's line without one)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            is_items = key_node.value == "items" and isinstance(value_node, yaml.SequenceNode)
            if is_items and len(value_node.value) == count:
                return [item.start_mark.line + 1 for item in value_node.value]
    return [fallback] * count


def json_nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return 0
    brackets = _JSON_NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(1 if char in "[{" else -1 for char in brackets), default=0)


def _shared_nesting(body: Any) -> int:
    """The deepest container nesting of a parsed JSON value (its bracket nesting), counted
    level by level without recursion and no further than just past MAX_NESTING (a level at a
    time is some 1.5x faster than a stack of (node, depth) pairs); on the way, equal string
    values are made one object, in place (json shares a document's keys, not its values:
    `TCP`, `Cluster`, `v1`... one object each held 11 of a 10,000-Service snapshot's 47 MB;
    bench/README.md). One walk for both: two were a fifth of reading that snapshot."""
    strings: dict[str, str] = {}
    share = strings.setdefault
    depth = 0
    level: list[Any] = [body] if isinstance(body, dict | list) else []
    while level and depth <= MAX_NESTING:
        depth += 1
        below: list[Any] = []
        add = below.append
        for node in level:
            # Replacing a value keeps a dict's keys, so iterating while assigning is safe.
            for key, value in node.items() if type(node) is dict else enumerate(node):
                kind = type(value)
                if kind is str:
                    node[key] = share(value, value)
                elif kind is dict or kind is list:
                    add(value)
        level = below
    return depth


def _check_nesting(text: str, file: str) -> None:
    """Refuse YAML nested deeper than MAX_NESTING; the exact walk runs only when a cheap bound
    fails: depth <= flow bound + block bound (a block collection inside a flow one is not YAML)."""
    if 3 * len(text) + 2 <= MAX_NESTING:
        return
    if _flow_bound(text) + _block_bound(text) <= MAX_NESTING:
        return
    _walk_nesting(text, file)


def _flow_bound(text: str) -> int:
    """At most one flow level per non-empty bracket of one document (an empty `{}` / `[]`, as in
    managedFields, holds nothing deeper)."""
    return 1 + max(
        chunk.count("[") - chunk.count("[]") + chunk.count("{") - chunk.count("{}")
        for chunk in _DOCUMENT_START.split(text)
    )


def _block_bound(text: str) -> int:
    """Block nesting needs a column per level in a line's indentation and indicators
    (`- `, `? `, `: `); two levels per column and two more are a safe upper bound."""
    longest_line = max(map(len, text.splitlines()), default=0)
    if 2 * longest_line + 2 <= MAX_NESTING:
        return 2 * longest_line + 2
    return 2 * max(len(prefix) for prefix in _BLOCK_PREFIX.findall(text)) + 2


def _walk_nesting(text: str, file: str) -> None:
    """The exact nesting depth from libyaml's (iterative) event stream; InputError when too deep."""
    loader = _Loader(text)
    depth = 0
    index = -1
    seen = 0  # where the last event started
    try:
        while loader.check_event():
            event = loader.get_event()
            if event is None or event.start_mark is None:  # check_event said there is one
                break
            seen = event.start_mark.index
            if isinstance(event, yaml.DocumentStartEvent):
                index += 1
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    line = event.start_mark.line + 1
                    raise InputError(TOO_DEEP, Origin(file, max(index, 0), line))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as err:
        _refuse_scanned_ahead_nesting(err, text, depth, seen, Origin(file, max(index, 0)))
    except yaml.YAMLError:
        return  # malformed: parse_yaml reports it with its own message
    finally:
        loader.dispose()


def _refuse_scanned_ahead_nesting(
    err: yaml.MarkedYAMLError, text: str, depth: int, seen: int, origin: Origin
) -> None:
    """The scanner reads up to a kilobyte of one line ahead of the events (a simple key may
    start there), so a newer PyYAML's own flow limit can fire before our count reaches ours.
    An error at a bracket with more than MAX_NESTING levels open there is ours to report."""
    mark = err.problem_mark
    if mark is None or mark.index >= len(text) or text[mark.index] not in "[{":
        return  # malformed: parse_yaml reports it with its own message
    ahead = text[seen : mark.index + 1]
    if depth + ahead.count("[") + ahead.count("{") > MAX_NESTING:
        raise InputError(TOO_DEEP, replace(origin, line=mark.line + 1)) from err


def _check_alias_budget(root: yaml.Node, origin: Origin) -> None:
    """Refuse a document whose aliases expand it by more than ALIAS_NODE_BUDGET nodes."""
    expanded: dict[int, int] = {}  # id(node) -> node count with aliases expanded
    on_path: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack[-1]
        if id(node) in expanded:
            stack.pop()
        elif id(node) not in on_path:
            on_path.add(id(node))
            stack.extend(_unvisited_children(node, expanded, on_path, origin))
        else:
            stack.pop()
            on_path.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in _children(node))
    if expanded[id(root)] - len(expanded) > ALIAS_NODE_BUDGET:
        message = (
            f"YAML aliases expand this document by more than {ALIAS_NODE_BUDGET:,} nodes "
            "(an alias bomb?); refusing to load it"
        )
        raise InputError(message, origin)


def _unvisited_children(
    node: yaml.Node, expanded: dict[int, int], on_path: set[int], origin: Origin
) -> list[yaml.Node]:
    """Children still to size; InputError on an alias that points back at its own ancestor."""
    pending = []
    for child in _children(node):
        if id(child) in on_path:
            raise InputError("a YAML alias refers to its own enclosing node (a cycle)", origin)
        if id(child) not in expanded:
            pending.append(child)
    return pending


def _check_keys_and_numbers(root: yaml.Node, origin: Origin) -> None:
    """In a Kubernetes document (a mapping with apiVersion and kind), refuse mapping keys that
    are not strings and integer literals too long to be numbers, naming the field and its line."""
    if not _looks_kubernetes(root):
        return  # other YAML (values files, notes) is skipped later, whatever its keys
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue  # an alias: its target was (or will be) checked once
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                field_path = _key_path(path, key, origin)
                stack.append((value, field_path))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node.value))
        elif node.tag == INT_TAG and len(node.value) > MAX_INT_CHARS:
            where = replace(origin, line=node.start_mark.line + 1)
            what = f"is a number of {len(node.value):,} characters, out of range"
            raise InputError(f"field {path} {what}", where)


def _key_path(path: str, key: yaml.Node, origin: Origin) -> str:
    """`path` extended by a mapping key; InputError when the key is not a string."""
    if isinstance(key, yaml.ScalarNode) and key.tag in (_STR_TAG, _MERGE_TAG):
        return f"{path}.{key.value}" if path else str(key.value)
    what = _KEY_KINDS.get(key.tag, "not a scalar") if isinstance(key, yaml.ScalarNode) else None
    text = key.value if isinstance(key, yaml.ScalarNode) else "?"
    field_path = f"{path}.{text}" if path else text
    where = replace(origin, line=key.start_mark.line + 1)
    kind = what or "a collection"
    message = f"field {field_path}: a mapping key must be a string, not {kind} (quote it in YAML)"
    raise InputError(message, where)


def _looks_kubernetes(root: yaml.Node) -> bool:
    if not isinstance(root, yaml.MappingNode):
        return False
    names = {key.value for key, _ in root.value if isinstance(key, yaml.ScalarNode)}
    return {"apiVersion", "kind"} <= names


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_yaml_file(path: Path, shown: str) -> Any:
    """The one YAML document of a file the planner reads for itself (a kustomization), as
    Kubernetes reads it; InputError naming the line, as for manifests (never the source text)."""
    text = decode_text(read_file_bytes(path, shown), shown)
    try:
        return kube_yaml.load(text)
    except yaml.YAMLError as err:
        raise yaml_error(err, shown, text) from err


def yaml_error(
    err: yaml.YAMLError, file: str, text: str, index: int = 0, rendered_by: str | None = None
) -> InputError:
    """A YAML error of `text` (document `index` when the error has no position) as one sentence
    naming its document and line."""
    if isinstance(err, yaml.MarkedYAMLError):
        return _malformed_yaml(err, file, index, rendered_by, text)
    if isinstance(err, yaml.reader.ReaderError) and isinstance(err.character, int):
        # libyaml counts the position in UTF-8 bytes, PyYAML in characters: the reader stops at
        # the first character YAML does not allow, which is that character's first occurrence
        before = text[: max(text.find(chr(err.character)), 0)]
        origin = Origin(file, _document_index_at(before), before.count("\n") + 1)
        what = f"character U+{err.character:04X}, which YAML does not allow in a file"
        return InputError(f"malformed YAML{_in(rendered_by)}: {what}", origin)
    return InputError(f"malformed YAML{_in(rendered_by)}: {err}", Origin(file, index))


def _malformed_yaml(
    err: yaml.MarkedYAMLError, file: str, index: int, rendered_by: str | None, text: str = ""
) -> InputError:
    """One sentence from a YAML error naming its line and key, never the source text: the value
    or tag there may be a secret (`password: !Value` reads as a tag)."""
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 1
    column = f" (column {mark.column + 1})" if mark is not None else ""
    what = " ".join(part for part in (err.problem, err.context) if part) or "cannot be parsed"
    what = _QUOTED.sub("…", what)  # a tag, a character, a value: source text
    key = _key_at(text, mark.line) if mark is not None else None
    at_key = f", at key `{key}`" if key else ""
    return InputError(
        f"malformed YAML{_in(rendered_by)}: {what}{column}{at_key}", Origin(file, index, line)
    )


def _key_at(text: str, line: int) -> str | None:
    """The plain mapping key that starts the 0-based `line` of `text`, if any."""
    lines = text.splitlines()
    match = _LINE_KEY.match(lines[line]) if 0 <= line < len(lines) else None
    return match.group(1) if match else None


def _in(rendered_by: str | None) -> str:
    return f" in the output of {rendered_by}" if rendered_by else ""


def _a_type(value: Any) -> str:
    """A value's YAML type in words: "a list", "a string"..."""
    names = {
        type(None): "empty",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _document_index_at(prefix: str) -> int:
    """The 0-based index of the YAML document in which the text after `prefix` lies."""
    index = 0
    started = False  # the first `---` only opens document 0 when nothing came before it
    for line in prefix.splitlines():
        if line.startswith("---"):
            index += 1 if started else 0
            started = True
        elif line.strip() and not line.lstrip().startswith(("#", "%")):
            started = True
    return index
