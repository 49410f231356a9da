"""A fast parse path for YAML documents that are sure to read the same under both parsers.

Kubernetes reads manifests with YAML 1.1 scalar resolution, and the planner with PyYAML's
SafeLoader (documents.py). yaml_rs (a Rust parser, some 6x faster than libyaml) resolves plain
scalars the YAML 1.2 way: `yes`, `on`, `0777`, `1:30`, `1e3`, `0o17` come out differently. So a
document goes the fast way only when a conservative check of its TEXT proves that every line is
of a simple block form and every plain scalar in it is of a kind both parsers read alike:

- every line is blank, a comment, `KEY:`, `KEY: VALUE`, `- VALUE` or a bare `-` (with any
  `- ` prefixes and a trailing ` # comment`): no multi-line scalars (plain, quoted or block),
  no flow collections but `{}` and `[]`, no anchors, aliases, tags, merge keys, `?` keys,
  directives, tabs or carriage returns;
- a key is a plain word (starting with a letter, `/`, `$`, `--`, `^`, or `.` or `-` and a
  letter, not a YAML 1.1 boolean, null or float word: CRDs' `.status.phase` JSONPaths,
  containers' `-c` flags, patterns), a dotted number (`10.0.0.1`, `1.2.3`), a quantity (`100m`, `1Gi`), a UUID or a quoted
  string (single-quoted, or double-quoted with only the escapes `\\\\`, `\\"`, `\\n`, `\\t`);
- a value is any of those, `true`/`True`/`TRUE`, `false`/`False`/`FALSE`, `null`/`Null`/
  `NULL`/`~`, nothing, a decimal integer without a leading zero (at most 18 digits), a decimal
  fraction (`1.5`), an IPv4 network (`10.0.0.0/16`) or range (`10.0.0.1-10.0.0.9`), `{}` or `[]`.

Anything else declines (`None`): the caller parses that document the old way, which also gives
every error its usual message. tests/sources/test_fast_yaml.py proves the equivalence with a
property over generated scalars and documents, and on every YAML file of samples/ and tests/.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# yaml_rs, optional at run time (without it every document goes the libyaml way): imported the
# first time a document is worth the fast path (3.6 ms, more than a small repo's whole parse).
# None once it failed to import (or a test hid it); _UNLOADED until then.
_UNLOADED: Any = object()
yaml_rs: Any = _UNLOADED


def _parser() -> Any:
    """The yaml_rs module, imported now if it was not yet; None when it cannot be."""
    global yaml_rs
    if yaml_rs is _UNLOADED:
        try:
            import yaml_rs as module
        except ImportError:  # pragma: no cover - exercised by hiding the module in a test
            module = None  # type: ignore[assignment]
        yaml_rs = module
    return yaml_rs


# Characters libyaml accepts in a stream, less tab, carriage return, NEL, the line and paragraph
# separators and a byte-order mark (which it reads as breaks or refuses, and yaml_rs may not).
# Compiled only for text that is not ASCII: its ranges up to U+10FFFF take some 4 ms, more than a
# small repo's whole parse.
@functools.cache
def _unsure_character() -> re.Pattern[str]:
    return re.compile(
        "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
    )


# Every ASCII character _unsure_character() lets through: deleting them leaves an ASCII text's
# unsure ones (str.translate deletes at C speed: 9 MB in 6 ms, the search takes 26).
_SURE_ASCII = str.maketrans("", "", "\n" + "".join(map(chr, range(0x20, 0x7F))))


def has_unsure_character(text: str) -> bool:
    """Whether the text holds a character the fast path is unsure of (_unsure_character())."""
    if text.isascii():  # a flag of the string, not a scan
        return bool(text.translate(_SURE_ASCII))
    return _unsure_character().search(text) is not None


# Both are searched for in "\n" + the text, from the line break before the line: a pattern that
# starts with a literal is scanned for at C speed, a `^` is tried at every position (split_stream
# over /tmp/g10k's desired files: 0.052 -> 0.024 s).
# A document separator the splitter understands: `---` alone (a comment may follow).
_SEPARATOR = re.compile(r"\n---[ ]*(?:[ ]#[^\n]*)?$", re.MULTILINE)
# Any other line that starts a directive, a document marker or a document with content.
_MARKER = re.compile(r"\n(?:%|---|\.\.\.)")
_CONTENT = re.compile(r"^[ ]*[^ #\n]", re.MULTILINE)

# The body of a one-line plain scalar after its first character. In block context: never `: `
# or ` #` (which end it), never a trailing `:` or space. In flow context (`{...}`, `[...]`)
# also no `,[]{}`, `#` or `:` at all (PyYAML refuses a `:` inside a flow plain scalar).
_BODY = r"(?:[^\s:]|:(?![ \n])|[ ]+(?=[^\s#]))*"
_FLOW_BODY = r"(?:[^\s:,\[\]{}#]|[ ]+(?=[^\s:,\[\]{}#]))*"
# Where a plain scalar ends: at the line's end, a comment, or (a key) `: ` / `:` + newline; in
# flow context at `,`, `]`, `}` or (a key) `: `.
_END = r"(?=[ ]*(?:\n|[ ]\#)|:(?:[ ]|\n))"
_FLOW_END = r"(?=[ ]*[,\]}]|:[ ])"
# Characters no number, boolean, null or timestamp of either parser holds: one of them in a
# scalar that starts with a digit makes it a string (`1Gi`, `10.0.0.1,10.0.0.2`, `80/TCP`).
_WITNESS = r"[,/@%=g-hj-mp-suvwG-HJ-MP-SUVW]"
_IP4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
_HEX = r"[0-9a-fA-F]"


def _not_words(end: str) -> str:
    """YAML 1.1 booleans and nulls in any case, and float words: never plain words here."""
    words = (
        "[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff]|[Yy]|[Nn]|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]"
        "|[Nn][Uu][Ll][Ll]|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn]"
    )
    return rf"(?!(?:{words}){end})"


def _string_token(body: str, end: str) -> str:
    """A scalar both parsers read as the same string (as a key or a value)."""
    # In flow context a `,` ends the scalar: there it is no witness.
    witness = _WITNESS if body == _BODY else _WITNESS.replace(",", "", 1)
    witness_free = body.replace("[^\\s", "[^\\s" + witness[1:-1], 1)
    return (
        rf"(?:{_not_words(end)}[A-Za-z]{body}"  # a word
        rf"|[/$]{body}|--{body}|\.\.?/{body}"  # a path, `${{VAR}}`, a flag, a relative path
        # a JSONPath or a dotted name (`.status.phase`), a short flag (`-c`), a pattern (`^a$`):
        # never a number in either parser; `.inf` and `.nan` (any case) are floats in both
        rf"|[-.]{_not_words(end)}[A-Za-z]{body}|\^{body}"
        rf"|[0-9]{witness_free}{witness}{body}"  # a digit, later a character no number has
        r"|[0-9]{1,9}(?:\.[0-9]{1,9}){2,}"  # dotted numbers: IPv4 addresses, versions
        r"|[0-9]{1,18}(?:\.[0-9]{1,15})?[ac-df-np-wyzAC-DF-NP-WYZ][A-Za-z]{0,8}"  # quantities
        rf"|[0-9](?![bBoOxX]){_HEX}{{0,127}}[a-dfA-DF]{_HEX}{{0,127}}"  # hex digests
        rf"|{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"  # UUIDs
        r"|'(?:[^'\n]|'')*'"  # single-quoted
        r'|"(?:[^"\\\n]|\\[\\"nt])*"'  # double-quoted, a few escapes
        rf"){end}"
    )


def _value_token(body: str, end: str) -> str:
    """A scalar both parsers read as the same value."""
    return (
        rf"(?:{_string_token(body, end)}"
        r"|(?:true|True|TRUE|false|False|FALSE|null|Null|NULL|~"
        r"|-?(?:0|[1-9][0-9]{0,17})"  # decimal integers
        r"|-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}"  # decimal fractions
        rf"|{_IP4}(?:/[0-9]{{1,3}}|-{_IP4})"  # IPv4 networks and ranges
        rf"){end})"
    )


_STRING_TOKEN = _string_token(_BODY, _END)
# IPv6 addresses (a `::` or a hex letter keeps them from being YAML 1.1 sexagesimal numbers);
# never in flow context, where PyYAML refuses the `:`.
_IP6 = rf"(?=[0-9:]*(?:::|[a-fA-F])){_HEX}{{0,4}}(?::{_HEX}{{0,4}}){{2,7}}(?:/[0-9]{{1,3}})?{_END}"
# One-line flow collections, two levels deep at most: `{app: web}`, `[{port: 80}]`, `{}`.
_FLOW_KEY = _string_token(_FLOW_BODY, _FLOW_END)
_FLOW_VALUE = _value_token(_FLOW_BODY, _FLOW_END)


def _flow(value: str) -> str:
    """A flow sequence or mapping of `value`s (keys are strings), on one line."""
    sequence = rf"\[[ ]*(?:{value}(?:[ ]*,[ ]*{value})*[ ]*)?\]"
    pair = rf"{_FLOW_KEY}:[ ]+{value}"
    return rf"(?:{sequence}|\{{[ ]*(?:{pair}(?:[ ]*,[ ]*{pair})*[ ]*)?\}})"


_FLAT_FLOW = _flow(_FLOW_VALUE)
_FLOW = rf"{_flow(f'(?:{_FLOW_VALUE}|{_FLAT_FLOW}[ ]*)')}{_END}"
_COMMENT = r"(?:[ ]+\#[^\n]*)?"


def _line(value_token: str) -> str:
    """The forms of a line (see above) with values of the form `value_token`."""
    return (
        r"[ ]*(?:"
        r"\#[^\n]*"  # a comment
        r"|(?:-[ ]+)*-(?:[ ]+\#[^\n]*)?[ ]*"  # a bare dash: the item is on the lines below
        rf"|(?:-[ ]+)*{_STRING_TOKEN}:(?:[ ]+{value_token})?[ ]*{_COMMENT}"
        rf"|(?:-[ ]+)+{value_token}[ ]*{_COMMENT}"
        r")?[ ]*\n"
    )


_LINE = _line(rf"(?:{_value_token(_BODY, _END)}|{_IP6}|{_FLOW})")
# The same without flow collections but `{}` and `[]` (fewer forms, so a subset): 3 kB instead
# of 62 kB, compiled in some 3 ms instead of 60. A line is tried against it first; the whole
# pattern is compiled only for a line that fails it (at 10,000 Services, none does).
_LINE_WITHOUT_FLOW = _line(rf"(?:{_value_token(_BODY, _END)}|{_IP6}|(?:\{{\}}|\[\]){_END})")
# Compiling the line check costs more than libyaml takes for the few kilobytes of a small repo:
# a process compiles it only once the YAML it has been handed is large enough for the fast path
# to win that back (about 0.17 s per MB at 10,000 Services).
COMPILE_AFTER_CHARS = 500_000


@dataclass
class _Handed:
    chars: int = 0
    # What the process is about to be handed (expect()): a repo of many small files then takes
    # the fast path from its first file, not only after its first COMPILE_AFTER_CHARS.
    expected: int = 0


_HANDED = _Handed()


@functools.cache
def _line_form() -> re.Pattern[str]:
    return re.compile(_LINE)


@functools.cache
def _line_form_without_flow() -> re.Pattern[str]:
    return re.compile(_LINE_WITHOUT_FLOW)


def _compiled() -> bool:
    """Whether a line check has been compiled (then the fast path is always worth trying)."""
    return _line_form_without_flow.cache_info().currsize + _line_form.cache_info().currsize > 0


def _simple_line(line: str) -> bool:
    """Whether one line (without its break) is of a form the fast path is sure of."""
    with_break = line + "\n"
    return (
        _line_form_without_flow().fullmatch(with_break) is not None
        or _line_form().fullmatch(with_break) is not None
    )


def expect(chars: int) -> None:
    """Announce `chars` more characters to be handed soon (the files a caller is to read)."""
    _HANDED.expected = max(_HANDED.expected, _HANDED.chars) + chars


def _would_be_worth_it(chars: int) -> bool:
    """What `worth_it(chars)` would say, without counting them as handed."""
    handed = max(_HANDED.chars + chars, _HANDED.expected)
    return handed >= COMPILE_AFTER_CHARS or _compiled()


def worth_it(chars: int) -> bool:
    """Whether to try the fast path on `chars` more characters: always once its check is
    compiled, before that only when this process has been handed (or expects) at least
    COMPILE_AFTER_CHARS."""
    _HANDED.chars += chars
    handed = max(_HANDED.chars, _HANDED.expected)
    return handed >= COMPILE_AFTER_CHARS or _compiled()


# A block scalar's header line: `key: |`, `- >-`, with its owner (the key, or the last dash).
@functools.cache
def _header() -> re.Pattern[str]:
    return re.compile(rf"([ ]*(?:-[ ]+)*)({_STRING_TOKEN}:[ ]+)?[|>][-+]?[ ]*")


_BLOCK_HINT = re.compile(r"[|>][-+]?[ ]*$", re.MULTILINE)


def _block_hint(text: str) -> bool:
    """Whether a line may start a block scalar (ends in `|` or `>`, maybe with a chomping
    indicator); `in` finds neither character at memchr speed in most texts."""
    return ("|" in text or ">" in text) and _BLOCK_HINT.search(text) is not None


# A simple key must fit in 1,024 characters for libyaml; no line on the fast path is near that.
MAX_LINE_CHARS = 1000


@dataclass(frozen=True)
class Segment:
    """One document's text in a stream, and the 0-based line of the stream it starts at."""

    text: str
    line: int
    explicit: bool  # after a `---`: a document even when empty (it then reads as null)


@dataclass(frozen=True)
class Loaded:
    """A document's value, and the 0-based line (in its text) of its first content."""

    value: Any
    line: int


def available() -> bool:
    """Whether the fast parser can be imported."""
    return _parser() is not None


def split_stream(text: str) -> list[Segment] | None:
    """The documents of a stream, split at its `---` lines; None when the stream has anything
    the split cannot be sure of (directives, `...`, `--- content`, unsure characters)."""
    # yaml_rs known missing: None. Not imported yet: split all the same, load() decides (a
    # stream of declined documents reads as the whole stream does, tests/sources check it).
    if yaml_rs is None or has_unsure_character(text):
        return None
    padded = "\n" + text
    # (start, end) of each separator line in `text`: a match starts one earlier in `padded`
    separators = [(found.start(), found.end() - 1) for found in _SEPARATOR.finditer(padded)]
    if len(separators) != len(_MARKER.findall(padded)):
        return None
    segments = []
    start, line = 0, 0
    explicit = False
    for separator_start, separator_end in separators:
        segments.append(Segment(text[start:separator_start], line, explicit))
        line += text.count("\n", start, separator_end) + 1
        start = separator_end + 1
        explicit = True
    segments.append(Segment(text[start:], line, explicit))
    # Before the first `---`, only content makes a document (comments alone do not).
    return [s for s in segments if s.explicit or _CONTENT.search(s.text)]


def first_content_line(text: str) -> int | None:
    """The 0-based line of a text's first line that is neither blank nor a comment."""
    found = _CONTENT.search(text)
    return None if found is None else text.count("\n", 0, found.start())


# The line forms treat the digits 1 to 9 alike (no literal among them, every class holds all
# or none of them; tests/sources/test_fast_yaml.py checks this on the compiled pattern), so a
# line is checked in its shape with each of them read as 1: lines that differ only there
# (`nodePort: 30000`, `uid: ...-000000000123`, `- ip: 10.10.4.7`) are checked once. A live
# List of 10,000 Services has 62,776 distinct lines and 327 distinct shapes.
_DIGIT_SHAPES = str.maketrans("23456789", "11111111")


@dataclass
class Memo:
    """What one parse shares across its documents: one object per distinct string, and the
    shapes of the lines already found to be of a simple form (documents repeat most of them)."""

    strings: dict[str, str] = field(default_factory=dict)
    simple_lines: set[str] = field(default_factory=set)
    deepest: int = 0  # the longest run of spaces and dashes that starts one of those lines


def simple_lines(text: str, memo: Memo) -> bool:
    """Whether every line of the text is of a form the fast path is sure of (see above); the
    content of block scalars (`key: |`) is text, and only its characters are checked."""
    if _block_hint(text):
        # Without a final line break yaml_rs 0.1.6 still ends a clipped block scalar with one.
        structural = _without_block_content(text.split("\n")) if text.endswith("\n") else None
        if structural is None or has_unsure_character(text):
            return False
        lines = [line.translate(_DIGIT_SHAPES) for line in structural]
    else:
        lines = text.translate(_DIGIT_SHAPES).split("\n")
    unchecked = set(lines)
    unchecked -= memo.simple_lines
    deepest = memo.deepest
    for line in unchecked:
        if len(line) > MAX_LINE_CHARS or has_unsure_character(line):
            return False
        if not _simple_line(line):
            return False
        deepest = max(deepest, len(line) - len(line.lstrip(" -")))
    memo.simple_lines |= unchecked
    memo.deepest = deepest
    return True


def check_lines(texts: Sequence[str], memo: Memo) -> bool:
    """Check the lines of all `texts` together, a batch at a time, as `load` checks each
    text's own (10,000 List items: 9 splits and sets of lines, not 10,000); True when every text
    would pass, after which `load(..., lines_checked=True)` skips the check. False when the fast
    path is not worth it yet, or when any text fails or ends without a line break: `load` then
    checks each text alone, as before."""
    if yaml_rs is None or not _would_be_worth_it(sum(map(len, texts))):
        return False
    if not all(text.endswith("\n") for text in texts):
        return False
    # A `#` line at column 0 between two texts ends any block scalar at the first one's end,
    # as that text's own end does, and is itself of a simple form.
    return all(simple_lines("\n#\n".join(batch), memo) for batch in _batches(texts))


# Texts are checked a batch of about this many characters at a time: the lines of a whole
# 100,000-Service List at once (4 million strings) raised the diff's peak memory by 80 MB.
CHECK_BATCH_CHARS = 1 << 20


def _batches(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """Consecutive runs of `texts` of about CHECK_BATCH_CHARS characters (at least one text)."""
    start, size = 0, 0
    for index, text in enumerate(texts):
        size += len(text)
        if size >= CHECK_BATCH_CHARS:
            yield texts[start : index + 1]
            start, size = index + 1, 0
    if start < len(texts):
        yield texts[start:]


def _without_block_content(lines: list[str]) -> list[str] | None:
    """The lines without block scalars (header and content); None when a block scalar is not
    of the plain kind: an owner (key or `- `), some content, indented deeper than the owner and
    at least as deep as its first line, no line of spaces only."""
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _header().fullmatch(line) if line.endswith(("|", ">", "-", "+", " ")) else None
        index += 1
        if header is None:
            kept.append(line)
            continue
        lead = header.group(1)
        if header.group(2) is None and not lead.rstrip().endswith("-"):
            return None  # a document that is a block scalar, or a `- - |` the rule below misses
        owner = len(lead) if header.group(2) is not None else len(lead.rstrip()) - 1
        content = None  # the content's indentation, from its first line
        while index < len(lines):
            following = lines[index]
            indent = len(following) - len(following.lstrip(" "))
            if following and indent == len(following):
                return None  # spaces only: where they end the parsers may disagree
            if following and indent <= owner:
                break
            if following:
                content = indent if content is None else content
                if indent < content:
                    return None
            index += 1
        if content is None:
            return None  # empty: yaml_rs 0.1.6 reads `a: |` at a document's end as "\n"
    return kept


def load(text: str, memo: Memo, max_nesting: int, lines_checked: bool = False) -> Loaded | None:
    """The value of one document (no `---` in it) when the fast path is sure of it, its strings
    shared through `memo` as the libyaml path shares them; None to decline, also when it might
    nest deeper than `max_nesting` (the libyaml path words that error). `lines_checked`: the
    text was among those `check_lines` passed with this memo."""
    if yaml_rs is None or not worth_it(len(text)) or _parser() is None:
        return None
    if not lines_checked and not simple_lines(text, memo):
        return None
    # Block nesting takes a column of spaces or dashes per two levels at most (as documents.py's
    # _block_bound); the line forms above allow two levels of flow collections.
    if 2 * memo.deepest + 2 + 2 > max_nesting:
        return None
    line = first_content_line(text)
    if line is None:
        return Loaded(None, 0)  # blank and comments: an empty document reads as null
    try:
        value = yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # noqa: BLE001 - any failure at all: the libyaml path decides
        return None
    if not isinstance(value, dict) or not _share(value, memo.strings):
        return None  # not a mapping: the libyaml path words the error
    return Loaded(value, line)


def _share(root: Any, strings: dict[str, str]) -> bool:
    """Make equal strings (keys and values) one object, in place; False when a key is not a
    string (the check above never lets one through; the libyaml path would name it). Written
    out flat: this walk is a third of the fast path's time."""
    share = strings.setdefault
    stack: list[Any] = [root] if isinstance(root, dict | list) else []
    while stack:
        node = stack.pop()
        if type(node) is dict:
            items = list(node.items())
            node.clear()
            for key, value in items:
                if type(key) is not str:
                    return False
                kind = type(value)
                if kind is str:
                    value = share(value, value)
                elif kind is dict or kind is list:
                    stack.append(value)
                node[share(key, key)] = value
        else:
            for index, value in enumerate(node):
                kind = type(value)
                if kind is str:
                    node[index] = share(value, value)
                elif kind is dict or kind is list:
                    stack.append(value)
    return True
