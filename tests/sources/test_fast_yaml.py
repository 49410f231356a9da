"""The fast YAML path (planner/sources/fast_yaml.py) reads every document exactly as the libyaml
path does, or declines it.

The properties compare, over generated scalars (every YAML 1.1 resolver family, quoted and
plain, as keys and values, in block and flow style) and generated documents and streams, the
fast path's result with PyYAML's SafeLoader (the planner's `_Loader`): equal values of equal
types, equal origins, the same error message, or a decline. `test_a_weakened_check_is_caught`
shows the scalar property fails when the text check lets everything through.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.sources import documents, fast_yaml
from planner.sources.desired import load_desired
from planner.sources.documents import MAX_NESTING, Parsed, parse_snapshot, parse_yaml

ROOT = Path(__file__).resolve().parents[2]

# Scalars of every YAML 1.1 resolver family (bool, null, int, float, timestamp, merge, value),
# the spellings YAML 1.2 and yaml_rs read differently, and the strings Kubernetes manifests hold.
TRICKY = [
    *[
        "yes",
        "Yes",
        "YES",
        "no",
        "No",
        "NO",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
        "y",
        "Y",
        "n",
        "N",
        "true",
        "True",
        "TRUE",
        "tRue",
        "false",
        "False",
    ],
    *[
        "FALSE",
        "null",
        "Null",
        "NULL",
        "nUll",
        "~",
        "inf",
        "Inf",
        "infinity",
        "NaN",
        "nan",
        ".inf",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
    ],
    *[
        "0",
        "-0",
        "+0",
        "00",
        "007",
        "012",
        "0777",
        "0o17",
        "0O17",
        "0x1F",
        "0X1F",
        "0b1",
        "0B1",
        "1_000",
        "1__",
        "_1",
        "+1",
        "-1",
        "42",
        "-17",
    ],
    *[
        "1:30",
        "12:30",
        "190:20:30",
        "1:30.5",
        "-1:30",
        "1.5",
        "-1.5",
        "+1.5",
        "1.",
        ".5",
        "+.5",
        "-.5",
        "4.",
        "01.5",
        "1_0.5",
        "0.0",
    ],
    *[
        "1e3",
        "1E3",
        "1e+3",
        "1e-3",
        "1.0e+3",
        "1.0e-3",
        "1.e3",
        "1.5E3",
        "1.5e400",
        "1e",
        "1e-",
        "0x",
        "0xg",
        "e5",
        "-inf",
        "+inf",
    ],
    *[
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2002-12-14T21:59:43Z",
        "2001-1-1",
        "=",
        "<<",
        "-",
        "--",
        "---",
    ],
    *["9223372036854775807", "9223372036854775808", "99999999999999999999", "123456789012345678"],
    "1" * 101,
    *[
        "10.0.0.1",
        "10.0.0.0/16",
        "10.0.0.1-10.0.0.9",
        "1.2.3",
        "1.2.3e4",
        "100m",
        "1Gi",
        "500Mi",
        "2d3e4",
        "1inf",
    ],
    *["00000000-0000-4000-8000-000000000000", "g00000-dns-tcp", "app.kubernetes.io/name"],
    *[
        "f:metadata",
        'k:{"port":53}',
        "/path",
        "${VAR}",
        "--flag",
        "x#y",
        "a&b",
        "*a",
        "&a",
        "!tag",
        "@x",
        "`x",
        "%x",
        ".status.phase",
        '.status.conditions[?(@.type=="Ready")].status',
        ".inf",
        ".Inf",
        ".NaN",
        "-.inf",
        ".5",
        "._5",
        "-_5",
        "-c",
        "-conf",
        "-y",
        "-yes",
        ".yes",
        "^(data|stringData)$",
        "^.{2,}|[^./]$",
    ],
    "2001-12-14 21:59:43.10 -5",
    "a b",
    "True story",
    "",
]
_CHARACTERS = st.characters(
    codec="utf-8", exclude_categories=("Cs",), include_characters="\t\r\x85\u2028\ufeff"
)
_PLAIN = st.one_of(
    st.sampled_from(TRICKY),
    st.from_regex(r"[-+]?[0-9_]{1,6}([.:][0-9_]{0,4}){0,2}([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.from_regex(r"(0[xXoObB])?[0-9a-fA-F_]{1,6}", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([tT ][0-9:.]{1,12}([zZ]|[-+][0-9:]{1,5})?)?"),
    st.from_regex(r"[A-Za-z.~<=/$^-][A-Za-z0-9 ._:/#,{}\[\]&*!'\"-]{0,8}", fullmatch=True),
    st.from_regex(r"[0-9][0-9a-zA-Z_.:,/@%=+ -]{0,8}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{1,4}(:[0-9a-f]{0,4}){1,4}(/[0-9]{1,3})?", fullmatch=True),
    st.text(_CHARACTERS, max_size=6),
    st.text("aeNnoOyY01:.-+ #'\"{}[],&*!|>%@`?\\", max_size=6),
)


def _quoted(text: str, double: bool) -> str:
    if not double:
        return "'" + text.replace("'", "''") + "'"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\t", "\\t") + '"'


@st.composite
def scalars(draw: st.DrawFn) -> str:
    """One scalar's text: plain, single- or double-quoted (escapes included)."""
    text = draw(_PLAIN)
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    return text if style == "plain" else _quoted(text, style == "double")


_PLACES = [
    "key: {s}\n",
    "{s}: value\n",
    "key:\n- {s}\n",
    "key:\n  {s}: value\n",
    "- {s}: {s}\n",
    "key: {s} # a comment\n",
    "key: {{a: {s}}}\n",
    "key: [{s}, b]\n",
    "{{{s}: {s}}}\n",
    "key: {s}\nother: {s}\n",
]


def same(left: Any, right: Any) -> bool:
    """Equal values of equal types all the way down (1 == True == 1.0 in Python)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def libyaml(text: str) -> tuple[Any, int] | None:
    """SafeLoader's (the planner's) value and first line of a one-document text; None on error."""
    loader = documents._Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, 0
        return loader.construct_document(node), node.start_mark.line
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def agrees(text: str) -> bool:
    """The fast path declines the text or reads what libyaml reads, from the same line."""
    loaded = fast_yaml.load(text, fast_yaml.Memo(), MAX_NESTING)
    if loaded is None:
        return True
    expected = libyaml(text)
    return expected is not None and same(loaded.value, expected[0]) and loaded.line == expected[1]


@given(scalar=scalars(), place=st.sampled_from(_PLACES))
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_scalar_reads_the_same_or_is_declined(scalar: str, place: str) -> None:
    assert agrees(place.format(s=scalar))


# What a CRD, a container's args or a pattern holds: `.status.phase`, `-c`, `^a|b$`, and the
# numbers and words that start alike (`.5`, `-.inf`, `._5`, `.NaN`, `-yes`).
_DOT_DASH_CARET = st.from_regex(
    r"[-.^][A-Za-z_.0-9^$|][A-Za-z0-9_.\[\]()?@=\"|^$ -]{0,8}", fullmatch=True
)


@given(
    scalar=st.one_of(_DOT_DASH_CARET, _DOT_DASH_CARET.map(lambda s: _quoted(s, False))),
    place=st.sampled_from(_PLACES),
)
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_scalar_starting_with_a_dot_a_dash_or_a_caret_reads_the_same_or_is_declined(
    scalar: str, place: str
) -> None:
    assert agrees(place.format(s=scalar))


@pytest.mark.parametrize("token", TRICKY)
def test_each_tricky_scalar_reads_the_same_or_is_declined(token: str) -> None:
    for place in _PLACES:
        for text in (token, _quoted(token, False), _quoted(token, True)):
            assert agrees(place.format(s=text))


@pytest.mark.parametrize(
    ("token", "fast"),
    [("yes", False), ("on", False), ("0777", False), ("012", False), ("1:30", False),
     ("1e3", False), ("0o17", False), ("'yes'", True), ("53", True), ("10.0.0.1", True),
     ("true", True), ("g00000-dns-tcp", True), ("'0777'", True), ("1.5", True)],
)  # fmt: skip
def test_the_spellings_yaml_1_2_reads_differently_are_declined(token: str, fast: bool) -> None:
    """The check is not vacuous: common values go the fast way, the 1.1-only ones never do."""
    assert (fast_yaml.load(f"key: {token}\n", fast_yaml.Memo(), MAX_NESTING) is not None) is fast


def test_a_weakened_check_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a line check that lets every line through, the scalar property finds a difference
    (so the property can fail, and the check is what keeps it true)."""
    monkeypatch.setattr(fast_yaml, "_line_form", lambda: re.compile(r"[^\n]*\n"))
    text = find(
        st.builds(str.format, st.sampled_from(_PLACES), s=scalars()),
        lambda text: not agrees(text),
        settings=settings(max_examples=5000, derandomize=True, database=None),
    )
    assert not agrees(text)


# What manifests mostly hold: words, numbers, addresses, quoted strings (the fast path's bread).
_COMMON = st.one_of(
    st.from_regex(r"[a-z][a-zA-Z0-9./-]{0,12}", fullmatch=True),
    st.integers(-(10**6), 10**6).map(str),
    st.from_regex(r"10\.[0-9]{1,2}\.[0-9]\.[0-9]{1,3}(/16)?", fullmatch=True),
    st.sampled_from(["true", "false", "''", "'80'", '"a b"', "~", "1.5", "100m"]),
)
_DOCUMENT_SCALARS = st.one_of(*[_COMMON] * 7, scalars())
_WORD = st.from_regex(r"[a-z][a-zA-Z0-9./-]{0,12}", fullmatch=True)
_KEYS = st.one_of(*[_WORD] * 7, scalars())


# Documents: nested block mappings and sequences of generated scalars, indented by 1 to 4
# columns, with comments, blank lines and sometimes a line pushed off its indentation.
@dataclass(frozen=True)
class Block:
    """A block scalar: its header and its lines (extra indentation, text)."""

    header: str
    lines: tuple[tuple[int, str], ...]

    def render(self, base: int) -> Iterator[str]:
        for extra, text in self.lines:
            yield " " * max(base + extra, 0) + text if text else ""


_BLOCKS = st.builds(
    Block,
    st.sampled_from(["|", ">", "|-", ">-", "|+", ">+", "|2", "> "]),
    st.lists(
        st.tuples(st.sampled_from([0, 0, 0, 1, 2, -1]), st.text("ab #:-|>'\"{}", max_size=6)),
        max_size=4,
    ).map(tuple),
)
_LEAF = st.one_of(
    *[_DOCUMENT_SCALARS] * 4, _BLOCKS, st.sampled_from(["", "{}", "[]", "{a: b}", "[1, {a: 2}]"])
)
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(st.tuples(_KEYS, inner), min_size=1, max_size=4),
        st.lists(inner, min_size=1, max_size=3).map(tuple),
    ),
    max_leaves=12,
)


def _render(node: Any, indent: int, step: int) -> Iterator[str]:
    """Block-style lines for a tree of (key, value) lists, tuples (sequences) and scalars."""
    pad = " " * indent
    if isinstance(node, list):
        for key, value in node:
            if isinstance(value, list | tuple):
                yield f"{pad}{key}:"
                yield from _render(value, indent + (step if isinstance(value, list) else 0), step)
            elif isinstance(value, Block):
                yield f"{pad}{key}: {value.header}"
                yield from value.render(indent + step)
            else:
                yield f"{pad}{key}: {value}".rstrip()
    elif isinstance(node, tuple):
        for item in node:
            if isinstance(item, list | tuple):
                lines = list(_render(item, indent + 2, step))
                yield f"{pad}- {lines[0].lstrip()}" if lines else f"{pad}-"
                yield from lines[1:]
            elif isinstance(item, Block):
                yield f"{pad}- {item.header}"
                yield from item.render(indent + 2)
            else:
                yield f"{pad}- {item}".rstrip()


@st.composite
def document_texts(draw: st.DrawFn) -> str:
    """A document's text: a mapping of generated trees, with comments and noise."""
    pairs = draw(st.lists(st.tuples(_KEYS, _TREE), min_size=1, max_size=4))
    lines = list(_render(pairs, draw(st.integers(0, 2)), draw(st.integers(1, 4))))
    for _ in range(draw(st.integers(0, 3)) // 2):
        position = draw(st.integers(0, len(lines)))
        noise = draw(st.sampled_from(["", "  # a comment", "#", "   ", "", " x", "-", "  - z"]))
        lines.insert(position, noise)
    if lines and draw(st.integers(0, 3)) == 0:
        position = draw(st.integers(0, len(lines) - 1))
        lines[position] = " " * draw(st.integers(1, 3)) + lines[position]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@given(text=document_texts())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_document_reads_the_same_or_is_declined(text: str) -> None:
    assert agrees(text)


def test_generated_documents_do_go_the_fast_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The document property is not vacuous: a fair share of its documents are read fast (the
    fast path taken from the first character on, whatever this worker parsed before)."""
    monkeypatch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 0)
    fast = []

    @given(text=document_texts())
    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    def count(text: str) -> None:
        fast.append(fast_yaml.load(text, fast_yaml.Memo(), MAX_NESTING) is not None)

    count()
    # about a tenth are read fast; the floor sits below that, since the examples hypothesis
    # draws may vary with time (29 of 300 once, on a loaded machine)
    assert sum(fast) >= len(fast) // 20


# Streams through parse_yaml: the same documents, origins, notes and errors as without the fast
# path (yaml_rs hidden), whatever mix of fast, declined and broken documents a stream holds.
def _kubernetes(name: str, extra: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n{extra}"


_DOCUMENT_PARTS = st.one_of(
    st.builds(_kubernetes, st.from_regex(r"[a-z][a-z0-9-]{0,5}", fullmatch=True), document_texts()),
    document_texts(),
    st.sampled_from(
        [
            "",
            "# only a comment\n",
            (
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n"
                "  metadata: {name: a}\n-\n  apiVersion: v1\n  kind: Pod\n"
            ),
            "apiVersion: v1\nkind: ServiceList\nitems:\n- metadata:\n    name: b\n",
            "apiVersion: 1\nkind: Service\n",
            "apiVersion: v1\nkind: Service\nmetadata:\n  80: x\n",
            "apiVersion: v1\nkind: Service\nspec:\n  port: " + "9" * 101 + "\n",
            "- a\n- b\n",
            "key: [unclosed\n",
            "%YAML 1.1\n---\na: 1\n",
            "a: 1\n...\n",
            "--- a: 1\n",
            "a: &x 1\nb: *x\n",
            "a: b\na: c\n",
        ]
    ),
)


@st.composite
def streams(draw: st.DrawFn) -> str:
    """Documents joined by `---` lines (sometimes with a comment, a leading one, or a trailing
    one), each maybe led by comments and blank lines."""
    parts = draw(st.lists(_DOCUMENT_PARTS, min_size=1, max_size=4))
    separator = draw(st.sampled_from(["---\n", "--- # next\n", "---   \n"]))
    lead = draw(st.sampled_from(["", "---\n", "# head\n", "\n\n"]))
    tail = draw(st.sampled_from(["", "---\n", "\n# end\n"]))
    return lead + separator.join(p if p.endswith("\n") else p + "\n" for p in parts) + tail


def _outcome(parse: Any) -> Any:
    """What a parse gives: its documents and notes, or its error's one line."""
    try:
        parsed: Parsed = parse()
    except InputError as err:
        return ("error", str(err))
    return [(d.body, d.origin) for d in parsed.documents], parsed.notes


def _without_fast(parse: Any) -> Any:
    saved = fast_yaml.yaml_rs
    fast_yaml.yaml_rs = None  # type: ignore[assignment]
    try:
        return _outcome(parse)
    finally:
        fast_yaml.yaml_rs = saved


def assert_same_outcome(parse: Any) -> None:
    fast, slow = _outcome(parse), _without_fast(parse)
    if fast[0] == "error" or slow[0] == "error":
        assert fast == slow
        return
    assert len(fast[0]) == len(slow[0]) and fast[1] == slow[1]
    for (fast_body, fast_origin), (slow_body, slow_origin) in zip(*(fast[0], slow[0]), strict=True):
        assert fast_origin == slow_origin
        assert same(fast_body, slow_body)


@given(text=streams(), large=st.booleans())
@example(text="0b_: true\n", large=False)  # digits all underscores: PyYAML's int() failed on it
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_stream_parses_the_same_with_and_without_the_fast_path(text: str, large: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "LARGE_LIST_CHARS", 0 if large else 10**12)
        assert_same_outcome(lambda: parse_yaml(text, "s.yaml"))


def _yaml_files() -> list[Path]:
    found = [*ROOT.glob("samples/**/*.yaml"), *ROOT.glob("samples/**/*.yml")]
    found += [*ROOT.glob("tests/**/*.yaml"), *ROOT.glob("tests/**/*.yml")]
    return sorted(found)


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sample_and_test_file_parses_the_same_both_ways(path: Path) -> None:
    text = documents.decode_text(path.read_bytes(), path.name)
    assert_same_outcome(lambda: parse_yaml(text, path.name))
    assert_same_outcome(lambda: parse_snapshot(text, path.name))


def test_the_samples_mostly_go_the_fast_way() -> None:
    """The file test above is not vacuous: most of the samples' documents are read fast."""
    fast, total = 0, 0
    for path in _yaml_files():
        segments = fast_yaml.split_stream(path.read_text()) or []
        total += len(segments)
        fast += sum(
            fast_yaml.load(s.text, fast_yaml.Memo(), MAX_NESTING) is not None for s in segments
        )
    assert total > 100 and fast > total // 2


@pytest.mark.parametrize("large", [True, False])
def test_a_list_item_by_item_keeps_its_lines_and_shares_strings(
    large: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "LARGE_LIST_CHARS", 0 if large else 10**12)
    item = "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s{n}\n  spec:\n"
    item += "    ports:\n    - port: 53\n      protocol: UDP\n"
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(item.format(n=n) for n in range(3))
    text += "# the end\n"
    parsed = parse_yaml(text, "live.yaml")
    assert [d.origin.line for d in parsed.documents] == [4, 12, 20]
    first, second = (d.body for d in parsed.documents[:2])
    assert first["spec"]["ports"][0]["protocol"] is second["spec"]["ports"][0]["protocol"]
    assert next(iter(first["spec"])) is next(iter(second["spec"]))
    assert_same_outcome(lambda: parse_yaml(text, "live.yaml"))


def test_the_fast_path_shares_keys_and_values() -> None:
    memo = fast_yaml.Memo()
    one = fast_yaml.load("spec:\n  protocol: TCP\n", memo, MAX_NESTING)
    two = fast_yaml.load("spec:\n  protocol: TCP\n", memo, MAX_NESTING)
    assert one is not None and two is not None
    assert next(iter(one.value)) is next(iter(two.value))
    assert one.value["spec"]["protocol"] is two.value["spec"]["protocol"]


def test_the_planner_works_without_yaml_rs(tmp_path: Path) -> None:
    """With yaml_rs not importable, every document goes the libyaml way and `planner diff`
    gives the same report."""
    sample = ROOT / "samples" / "seed-dns-local"
    args = ["diff", str(sample / "desired"), "--live", str(sample / "live.yaml"), "-o", "json"]
    hide = "import sys; sys.modules['yaml_rs'] = None; "
    run = "from planner.cli import main; import planner.sources.fast_yaml as f; "
    run += "print('fast' if f.available() else 'libyaml'); sys.exit(main(sys.argv[1:]))"
    reports = []
    for prefix in ("import sys; ", hide):
        done = subprocess.run(
            [sys.executable, "-c", prefix + run, *args],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        reports.append(done.stdout)
    assert reports[0].startswith("fast\n") and reports[1].startswith("libyaml\n")
    assert reports[0].split("\n", 1)[1] == reports[1].split("\n", 1)[1]


@pytest.mark.parametrize("large", [True, False])
@pytest.mark.parametrize("levels", [40, 260, 600])
def test_deep_nesting_is_bounded_or_left_to_libyaml(
    levels: int, large: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents nested near or past MAX_NESTING (one column per level) read the same, or fail
    with the same message, both ways; the fast path takes only those its bound clears."""
    monkeypatch.setattr(documents, "LARGE_LIST_CHARS", 0 if large else 10**12)
    nested = "".join(f"\n  {' ' * level}a:" for level in range(levels)) + " 1\n"
    text = f"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  spec:{nested}"
    assert_same_outcome(lambda: parse_yaml(text, "deep.yaml"))
    item = "apiVersion: v1\nkind: Service\nspec:" + nested.replace("\n  ", "\n")
    loaded = fast_yaml.load(item, fast_yaml.Memo(), MAX_NESTING)
    assert (loaded is not None) is (2 * levels + 4 <= MAX_NESTING)


def _forget_compiled() -> None:
    fast_yaml._line_form.cache_clear()
    fast_yaml._line_form_without_flow.cache_clear()


def test_small_inputs_go_to_libyaml_until_compiling_the_check_pays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The line check is compiled only once a process has been handed enough YAML; from then
    on every document may go the fast way (the seed sample's `planner diff` never compiles it)."""
    monkeypatch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 100)
    monkeypatch.setattr(fast_yaml, "_HANDED", fast_yaml._Handed())
    _forget_compiled()
    small = "key: value\n"
    assert fast_yaml.load(small, fast_yaml.Memo(), MAX_NESTING) is None
    assert not fast_yaml._compiled()
    large = "".join(f"key{n}: value\n" for n in range(20))
    assert fast_yaml.load(large, fast_yaml.Memo(), MAX_NESTING) is not None
    assert fast_yaml.load(small, fast_yaml.Memo(), MAX_NESTING) is not None


def test_expected_input_opens_the_fast_path_from_the_first_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller about to hand over enough YAML (the files of a large repo) says so: its first
    small documents then go the fast way too, not libyaml's."""
    monkeypatch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 100)
    monkeypatch.setattr(fast_yaml, "_HANDED", fast_yaml._Handed())
    _forget_compiled()
    small = "key: value\n"
    fast_yaml.expect(50)
    assert fast_yaml.load(small, fast_yaml.Memo(), MAX_NESTING) is None
    fast_yaml.expect(100)
    assert fast_yaml.load(small, fast_yaml.Memo(), MAX_NESTING) is not None


def test_load_desired_announces_its_files_to_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Reading a directory expects the size of all its files before parsing the first one."""
    monkeypatch.setattr(fast_yaml, "_HANDED", fast_yaml._Handed())
    first = tmp_path / "a.yaml"
    first.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n")
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n")
    load_desired([str(tmp_path)])
    assert fast_yaml._HANDED.expected == 2 * first.stat().st_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\n---\nb: 2\n", [("a: 1\n", 0, False), ("b: 2\n", 2, True)]),
        ("---\na: 1\n--- # two\n", [("a: 1\n", 1, True), ("", 3, True)]),
        ("# only\n---\n", [("", 2, True)]),  # before the first `---`, comments make no document
        ("a: |\n  ---\n", [("a: |\n  ---\n", 0, False)]),  # indented: not a separator
        ("a: 1\n--- b: 2\n", None),  # content after `---`
        ("a: 1\n...\n", None),
        ("%YAML 1.2\n---\na: 1\n", None),
    ],
)
def test_a_stream_is_split_at_its_separator_lines(text: str, expected: object) -> None:
    segments = fast_yaml.split_stream(text)
    found = None if segments is None else [(s.text, s.line, s.explicit) for s in segments]
    assert found == expected


# The line check reads the digits 1 to 9 as 1 (fast_yaml._DIGIT_SHAPES): sound only while no
# form tells them apart. Proved on the parsed patterns: no literal 1-9, and every character
# class holds all of them or none.
_ONE_TO_NINE = [ord(digit) for digit in "123456789"]
_C = re._constants  # type: ignore[attr-defined]
_CATEGORY_HOLDS_DIGITS = {
    _C.CATEGORY_DIGIT: True,
    _C.CATEGORY_NOT_DIGIT: False,
    _C.CATEGORY_SPACE: False,
    _C.CATEGORY_NOT_SPACE: True,
    _C.CATEGORY_WORD: True,
    _C.CATEGORY_NOT_WORD: False,
}


def _in_class(items: list[tuple[Any, Any]], code: int) -> bool:
    member = False
    for op, arg in items:
        if op is _C.LITERAL:
            member |= arg == code
        elif op is _C.RANGE:
            member |= arg[0] <= code <= arg[1]
        elif op is _C.CATEGORY:
            member |= _CATEGORY_HOLDS_DIGITS[arg]
        elif op is not _C.NEGATE:
            raise AssertionError(f"unexpected class item {op}")
    negated = bool(items) and items[0][0] is _C.NEGATE
    return member != negated


def _digit_blind(pattern: Any) -> bool:
    """Whether a parsed pattern treats the digits 1 to 9 alike (unknown constructs: False)."""
    for op, arg in pattern:
        if op in (_C.LITERAL, _C.NOT_LITERAL):
            blind = arg not in _ONE_TO_NINE
        elif op is _C.IN:
            blind = len({_in_class(arg, code) for code in _ONE_TO_NINE}) == 1
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT):
            blind = _digit_blind(arg[2])
        elif op is _C.SUBPATTERN:
            blind = _digit_blind(arg[3])
        elif op is _C.BRANCH:
            blind = all(_digit_blind(branch) for branch in arg[1])
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            blind = _digit_blind(arg[1])
        else:
            blind = op in (_C.AT, _C.ANY)
        if not blind:
            return False
    return True


@pytest.mark.parametrize(
    ("pattern", "blind"),
    [(r"[0-9]+\.[0-9a-f]", True), (r"(?!0)[^\s:]", True), (r"0|[1-9][0-9]*", True),
     (r"a[0-5]", False), (r"7", False), (r"[^3]", False), (r"(?=x)1", False), (r"\1", False)],
)  # fmt: skip
def test_the_digit_blindness_check_can_fail(pattern: str, blind: bool) -> None:
    if pattern == r"\1":
        pattern = r"(a)\1"
    assert _digit_blind(re._parser.parse(pattern)) is blind  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["_LINE", "_LINE_WITHOUT_FLOW"])
def test_the_line_forms_read_the_digits_1_to_9_alike(name: str) -> None:
    assert _digit_blind(re._parser.parse(getattr(fast_yaml, name)))  # type: ignore[attr-defined]


@given(scalar=scalars(), place=st.sampled_from(_PLACES))
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_line_and_its_digit_shape_get_the_same_verdict(scalar: str, place: str) -> None:
    for line in place.format(s=scalar).split("\n"):
        shape = line.translate(fast_yaml._DIGIT_SHAPES)
        assert fast_yaml._simple_line(line) is fast_yaml._simple_line(shape)


def test_lines_differing_in_digits_1_to_9_are_checked_once() -> None:
    memo = fast_yaml.Memo()
    assert fast_yaml.simple_lines("a: 12\nb: 10.0.3.7\nc: 'x9'\nd: 0\n", memo)
    assert fast_yaml.simple_lines("a: 98\nb: 10.0.5.2\nc: 'x4'\n", memo)
    assert memo.simple_lines == {"a: 11", "b: 10.0.1.1", "c: 'x1'", "d: 0", ""}
    # 0 keeps its own shape: a leading zero makes a YAML 1.1 octal
    assert not fast_yaml.simple_lines("a: 0777\n", memo)
    assert fast_yaml.simple_lines("a: 1777\n", memo)


@given(scalar=scalars(), place=st.sampled_from(_PLACES), text=document_texts())
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_form_without_flow_collections_is_a_subset(scalar: str, place: str, text: str) -> None:
    """A line the smaller form accepts is one the whole form accepts."""
    small = fast_yaml._line_form_without_flow()
    for line in [*place.format(s=scalar).split("\n"), *text.split("\n")]:
        if small.fullmatch(line + "\n"):
            assert fast_yaml._line_form().fullmatch(line + "\n")


def test_a_line_with_a_flow_collection_is_checked_by_the_whole_form() -> None:
    line = "selector: {app: web, tier: '1'}"
    assert fast_yaml._line_form_without_flow().fullmatch(line + "\n") is None
    assert fast_yaml._simple_line(line)
    assert fast_yaml._simple_line("status: {}") and fast_yaml._simple_line("- []")


@given(
    texts=st.lists(document_texts(), min_size=1, max_size=4),
    batch=st.sampled_from([1, 40, 1 << 20]),
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_checking_texts_together_says_what_checking_each_says(texts: list[str], batch: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 0)
        patch.setattr(fast_yaml, "CHECK_BATCH_CHARS", batch)
        together = fast_yaml.check_lines(texts, fast_yaml.Memo())
        each = all(fast_yaml.simple_lines(text, fast_yaml.Memo()) for text in texts)
    assert together is (each and all(text.endswith("\n") for text in texts))


def test_a_block_scalar_ends_with_its_own_text_when_checked_together() -> None:
    """The next text's indented first line is no content of the block scalar before it."""
    texts = ["a: |\n  x\n", "    yes: no\nb: 1\n"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 0)
        assert fast_yaml.simple_lines(texts[0], fast_yaml.Memo())
        assert not fast_yaml.simple_lines(texts[1], fast_yaml.Memo())
        assert not fast_yaml.check_lines(texts, fast_yaml.Memo())


def test_a_large_list_checks_its_lines_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The items of a large List are checked in one pass, then each is loaded unchecked."""
    monkeypatch.setattr(documents, "LARGE_LIST_CHARS", 0)
    monkeypatch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 0)
    calls = []
    check = fast_yaml.simple_lines
    monkeypatch.setattr(fast_yaml, "simple_lines", lambda *a: calls.append(1) or check(*a))
    item = "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s{n}\n"
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(item.format(n=n) for n in range(5))
    parsed = parse_yaml(text, "live.yaml")
    assert [d.body["metadata"]["name"] for d in parsed.documents] == [f"s{n}" for n in range(5)]
    assert len(calls) == 1
    assert_same_outcome(lambda: parse_yaml(text, "live.yaml"))


@given(
    text=st.one_of(
        st.text(st.characters(max_codepoint=0x7F), max_size=12),
        st.text(_CHARACTERS, max_size=12),
        st.text("ab \n|>-+\x7f\x00\t\r\x85é", max_size=12),
    )
)
@settings(max_examples=2000, deadline=None)
def test_the_quick_character_and_block_tests_say_what_the_patterns_say(text: str) -> None:
    unsure = fast_yaml._unsure_character().search(text) is not None
    assert fast_yaml.has_unsure_character(text) is unsure
    assert fast_yaml._block_hint(text) is (fast_yaml._BLOCK_HINT.search(text) is not None)


@pytest.mark.parametrize(
    ("text", "unsure"),
    [("a: b\n", False), ("a:\tb\n", True), ("a\x7f", True), ("a\x1f", True), ("~ }", False),
     ("é", False), ("é\r", True), ("\ufeff", True)],
)  # fmt: skip
def test_unsure_characters_are_found_in_ascii_and_other_text(text: str, unsure: bool) -> None:
    assert fast_yaml.has_unsure_character(text) is unsure


@pytest.mark.parametrize("limit", [1, 5, 7, 100])
def test_texts_are_checked_in_batches_of_about_the_limit(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_yaml, "CHECK_BATCH_CHARS", limit)
    texts = ["ab\n", "cde\n", "f\n", "ghij\n", "k\n"]
    batches = list(fast_yaml._batches(texts))
    assert [text for batch in batches for text in batch] == texts
    assert all(batches)
    assert all(sum(map(len, batch)) >= limit for batch in batches[:-1])
    assert all(sum(map(len, batch[:-1])) < limit for batch in batches)
