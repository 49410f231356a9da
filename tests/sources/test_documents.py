"""planner.sources.documents: YAML/JSON streams into documents with origins; bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError, Origin
from planner.sources import documents
from planner.sources.documents import (
    ALIAS_NODE_BUDGET,
    parse_json,
    parse_yaml,
    read_documents,
    split_list_items,
)

SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n"


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_the_c_loader_is_used_when_libyaml_is_present() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml; the pure-Python loader is used")
    assert issubclass(documents._Loader, yaml.CSafeLoader)


def test_multi_document_stream_keeps_file_index_and_first_content_line(tmp_path: Path) -> None:
    text = (
        "# leading comment\n"
        + SERVICE.format(name="a")
        + "---\n# comment inside the second document\n\n"
        + SERVICE.format(name="b")
        + "---\n---\n"  # an empty document still counts as one
        + SERVICE.format(name="c")
    )
    parsed = read_documents(_write(tmp_path, "svc.yaml", text), "repo/svc.yaml")
    origins = [doc.origin for doc in parsed.documents]
    assert origins == [
        Origin("repo/svc.yaml", 0, 2),
        Origin("repo/svc.yaml", 1, 9),
        Origin("repo/svc.yaml", 3, 15),
    ]
    assert [doc.body["metadata"]["name"] for doc in parsed.documents] == ["a", "b", "c"]
    assert parsed.notes == []


def test_a_list_is_unrolled_and_items_keep_their_own_lines() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n"
        "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: dns}\n"
    )
    parsed = parse_yaml("---\n" + SERVICE.format(name="x") + "---\n" + text, "live.yaml")
    assert [(d.body["kind"], d.origin) for d in parsed.documents] == [
        ("Service", Origin("live.yaml", 0, 2)),
        ("Service", Origin("live.yaml", 1, 10)),
        ("Namespace", Origin("live.yaml", 1, 13)),
    ]


def test_items_of_a_typed_list_get_the_kind_the_api_server_leaves_out() -> None:
    text = "apiVersion: v1\nkind: ServiceList\nitems:\n- metadata: {name: a}\n  spec: {}\n"
    (doc,) = parse_yaml(text, "svcs.yaml").documents
    assert doc.body == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a"},
        "spec": {},
    }


def test_an_empty_list_gives_no_documents() -> None:
    assert parse_yaml("apiVersion: v1\nkind: List\nitems: []\n", "l.yaml").documents == []
    assert parse_yaml("apiVersion: v1\nkind: List\nitems:\n", "l.yaml").documents == []


def test_non_kubernetes_documents_are_skipped_with_a_note_and_empty_ones_silently() -> None:
    text = "---\n---\nfoo: bar\n---\n" + SERVICE.format(name="a") + "---\n"
    parsed = parse_yaml(text, "mixed.yaml")
    assert [d.body["metadata"]["name"] for d in parsed.documents] == ["a"]
    assert parsed.notes == [
        "mixed.yaml: document 2, line 3: skipped a document without apiVersion and kind"
    ]


def test_list_items_without_apiversion_and_kind_are_noted() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- just: data\n"
    parsed = parse_yaml(text, "l.yaml")
    assert parsed.documents == []
    assert parsed.notes == [
        "l.yaml: document 1, line 4: skipped a List item without apiVersion and kind"
    ]


def test_timestamps_stay_strings_as_kubernetes_reads_them() -> None:
    text = SERVICE.format(name="a") + "  annotations:\n    since: 2024-01-02\n"
    (doc,) = parse_yaml(text, "a.yaml").documents
    assert doc.body["metadata"]["annotations"]["since"] == "2024-01-02"


def test_base_60_and_the_value_type_stay_strings_as_kubernetes_reads_them() -> None:
    """go-yaml reads `1:30` and `=` as strings: an annotation of either is valid for the API
    server, and kustomize writes `=` unquoted; PyYAML's safe loader read 90 and failed on `=`."""
    text = SERVICE.format(name="a") + "  annotations:\n    window: 1:30\n    op: =\n"
    (doc,) = parse_yaml(text, "a.yaml").documents
    assert doc.body["metadata"]["annotations"] == {"window": "1:30", "op": "="}


def test_json_file_is_read_as_json_and_a_json_list_unrolled(tmp_path: Path) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}],
    }
    path = _write(tmp_path, "live.json", "\n\n" + json.dumps(body, indent=2))
    (doc,) = read_documents(path).documents
    assert doc.body["metadata"] == {"name": "a"}
    assert doc.origin == Origin(str(path), 0, 3)


# --- bad input: one sentence naming file, document and line -----------------------------------


def test_malformed_yaml_names_file_document_and_line_but_not_the_text() -> None:
    text = (
        SERVICE.format(name="a") + "---\napiVersion: v1\nkind: Secret\ndata:\n  token: abc: def\n"
    )
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "bad.yaml")
    message = str(caught.value)
    assert message.startswith("bad.yaml: document 2, line 9: malformed YAML: ")
    assert "mapping values are not allowed" in message
    assert "abc" not in message  # PyYAML's snippet of the line is left out: it may be a secret
    assert caught.value.origin == Origin("bad.yaml", 1, 9)


@pytest.mark.parametrize("before", ["", "é" * 40])  # libyaml counts bytes, PyYAML characters
def test_a_character_yaml_forbids_names_its_document_and_line(before: str) -> None:
    """Before: the reader's message, two lines with the position in the text, at line 1."""
    text = SERVICE.format(name="a") + f"---\nkind: ConfigMap\ndata:\n  a: {before}x\x1fy\n"
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "bad.yaml")
    assert str(caught.value) == (
        "bad.yaml: document 2, line 8: malformed YAML: character U+001F, which YAML does not "
        "allow in a file"
    )


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.json", '{\n  "kind": "Service",\n  "apiVersion" "v1"\n}\n')
    with pytest.raises(InputError) as caught:
        read_documents(path, "bad.json")
    assert str(caught.value) == (
        "bad.json: document 1, line 3: malformed JSON: Expecting ':' delimiter (column 16)"
    )


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("- a\n- b\n", "a list"),
        ("just a string\n", "a string"),
        ("42\n", "a number"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_refused(text: str, what: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml(SERVICE.format(name="a") + "---\n" + text, "x.yaml")
    assert str(caught.value) == f"x.yaml: document 2, line 6: the document is {what}, not a mapping"


def test_a_list_item_that_is_not_a_mapping_is_refused_at_its_line() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n- oops\n"
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "l.yaml")
    assert str(caught.value) == (
        "l.yaml: document 1, line 6: item 2 of the List is a string, not a mapping"
    )


def test_items_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(InputError, match=r"l.yaml: document 1, line 1: `items` of the List"):
        parse_yaml("apiVersion: v1\nkind: List\nitems: {a: 1}\n", "l.yaml")


def test_kind_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml("apiVersion: v1\nkind: [Service]\n", "k.yaml")
    assert str(caught.value) == "k.yaml: document 1, line 1: `kind` must be a string, not a list"


def test_an_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_documents(tmp_path, "manifests")  # a directory cannot be read as a file
    assert str(caught.value).startswith("manifests: document 1, line 1: cannot read the file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_an_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "secret.yaml", SERVICE.format(name="a"))
    path.chmod(0)
    with pytest.raises(InputError, match="cannot read the file: Permission denied"):
        read_documents(path)


def test_a_file_that_is_not_utf8_names_the_line_and_document(tmp_path: Path) -> None:
    data = (SERVICE.format(name="a") + "---\n" + SERVICE.format(name="b")).encode()
    data += b"  labels: {x: \xff}\n"
    with pytest.raises(InputError) as caught:
        read_documents(_write(tmp_path, "latin.yaml", data), "latin.yaml")
    assert str(caught.value).startswith("latin.yaml: document 2, line 10: the file is not UTF-8")


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.yaml", b"\xef\xbb\xbf" + SERVICE.format(name="a").encode())
    assert read_documents(path).documents[0].body["kind"] == "Service"


def _alias_bomb(levels: int) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "data:", "  a0: &a0 lol"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"  a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml(SERVICE.format(name="a") + "---\n" + _alias_bomb(levels=9), "lol.yaml")
    assert str(caught.value) == (
        f"lol.yaml: document 2, line 6: YAML aliases expand this document by more than "
        f"{ALIAS_NODE_BUDGET:,} nodes (an alias bomb?); refusing to load it"
    )


def test_modest_use_of_aliases_and_merge_keys_is_fine() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
        "  labels: &labels {app: dns, tier: edge}\n"
        "spec:\n  selector: *labels\n  ports:\n  - &p {port: 53, protocol: TCP}\n"
        "  - <<: *p\n    protocol: UDP\n"
    )
    (doc,) = parse_yaml(text, "a.yaml").documents
    assert doc.body["spec"]["selector"] == {"app": "dns", "tier": "edge"}
    assert doc.body["spec"]["ports"][1] == {"port": 53, "protocol": "UDP"}
    assert len(parse_yaml(_alias_bomb(levels=4), "small.yaml").documents) == 1  # 1,000 nodes


def test_an_alias_cycle_is_refused() -> None:
    with pytest.raises(InputError, match=r"c.yaml: document 1, line 1: a YAML alias refers"):
        parse_yaml("apiVersion: v1\nkind: X\nloop: &a [1, *a]\n", "c.yaml")


def test_a_deeply_nested_document_is_an_input_error_not_a_crash() -> None:
    with pytest.raises(
        InputError,
        match=r"deep.json: document 1, line 1: the document is nested more than 500 levels",
    ):
        parse_json("[" * 100_000 + "]" * 100_000, "deep.json")


@pytest.mark.parametrize("depth", [501, 999])
def test_json_and_yaml_refuse_the_same_depth_with_the_same_message(depth: int) -> None:
    text = '{"k": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    with pytest.raises(InputError) as from_json:
        parse_json(text, "d")
    with pytest.raises(InputError) as from_yaml:
        parse_yaml(text, "d")
    assert str(from_json.value).split(": ", 2)[-1] == str(from_yaml.value).split(": ", 2)[-1]
    assert str(from_yaml.value).endswith(documents.TOO_DEEP)


def test_brackets_inside_json_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "[" * 2_000}})
    (doc,) = parse_json(text, "cm.json").documents
    assert doc.body["data"]["k"] == "[" * 2_000


def _depth(value: object) -> int:
    """Container nesting, recursively (the reference for the level-by-level walk)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_JSON_VALUES)
def test_json_nesting_walk_counts_container_levels(value: object) -> None:
    assert documents._shared_nesting(value) == _depth(value)
    text = json.dumps(value)
    assert documents.json_nesting("[" * 600 + text + "]" * 600) == 600 + _depth(value)


def test_json_nesting_walk_stops_just_past_the_limit() -> None:
    deep: list[object] = []
    for _ in range(documents.MAX_NESTING + 50):
        deep = [deep]
    assert documents._shared_nesting(deep) == documents.MAX_NESTING + 1


def test_a_depth_just_under_the_limit_is_parsed() -> None:
    text = "a: " + "[" * 499 + "]" * 499 + "\n"
    assert parse_yaml(text, "ok.yaml").documents == []


def test_rendered_output_errors_say_which_tool_printed_it() -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml("a: [\n", "overlays/prod", rendered_by="kustomize")
    assert "malformed YAML in the output of kustomize" in str(caught.value)


def test_document_index_at_counts_separators_after_content() -> None:
    assert documents._document_index_at("") == 0
    assert documents._document_index_at("---\na: 1\n") == 0
    assert documents._document_index_at("# c\n%YAML 1.1\n---\na: 1\n---\n---\nb") == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.booleans(), st.sampled_from(["a", "b-1", "dns"])),
        min_size=1,
        max_size=8,
    )
)
def test_origins_point_at_the_line_where_each_document_starts(
    docs: list[tuple[int, bool, str]],
) -> None:
    lines: list[str] = []
    expected: list[tuple[int, int]] = []
    for index, (blank_lines, comment, name) in enumerate(docs):
        lines.append("---")
        lines += [""] * blank_lines + (["# a comment"] if comment else [])
        expected.append((index, len(lines) + 1))
        lines += SERVICE.format(name=name).splitlines()
    parsed = parse_yaml("\n".join(lines) + "\n", "p.yaml")
    assert [(d.origin.document, d.origin.line) for d in parsed.documents] == expected
    for doc in parsed.documents:
        assert lines[doc.origin.line - 1] == "apiVersion: v1"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "[" * 30_000 + "]" * 30_000, id="flow"),
        pytest.param("- " * 30_000 + "x", id="compact-block"),
        pytest.param("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 6_000)), id="indented"),
    ],
)
def test_nesting_that_would_crash_libyaml_is_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"deep.yaml: document 1, line \d+: .* nested more than"):
        parse_yaml(text, "deep.yaml")


def test_long_lines_and_many_brackets_at_a_modest_depth_are_fine() -> None:
    long_json = json.dumps({"k": [{"v": "x" * 50}] * 300})  # 300 flow mappings, one long line
    text = SERVICE.format(name="a") + f"  annotations:\n    last-applied: '{long_json}'\n"
    text += "spec:\n  ports: " + "[" * 40 + "]" * 40 + "\n"
    (doc,) = parse_yaml(text, "a.yaml").documents
    assert json.loads(doc.body["metadata"]["annotations"]["last-applied"])["k"][0]["v"] == "x" * 50


def test_many_empty_flow_collections_do_not_force_the_exact_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def walked(text: str, file: str) -> None:
        raise AssertionError("the exact nesting walk ran")

    monkeypatch.setattr(documents, "_walk_nesting", walked)
    text = "".join(
        SERVICE.format(name=f"s{n}") + "  managedFields:\n  - fieldsV1: {f:spec: {}}\n---\n"
        for n in range(3_000)
    )
    text += "a: [[[[]]]]\n"
    assert len(parse_yaml(text, "live.yaml").documents) == 3_000


# --- large Lists are parsed item by item, with the same result as parsing them whole ------------

KUBECTL_ITEMS = [
    "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: a\n    namespace: dns\n",
    "-\n  apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n",
    (
        "# a comment at column 0\n\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n"
        "  data:\n    script: |\n      - not an item\n      #!/bin/sh\n"
    ),
    "- metadata: {name: typed}\n  spec: {ports: [{port: 53}]}\n",
    "- just: data\n",
    "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: 'quoted\n      on two lines'\n",
]


def _kubectl_list(items: list[str], kind: str = "List") -> str:
    return (
        "apiVersion: v1\nitems:\n"
        + "".join(items)
        + f'kind: {kind}\nmetadata:\n  resourceVersion: ""\n'
    )


def _both_ways(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    monkeypatch.setattr(documents, "LARGE_LIST_CHARS", 10**12)
    whole = parse_yaml(text, "live.yaml")
    monkeypatch.setattr(documents, "LARGE_LIST_CHARS", 0)
    by_item = parse_yaml(text, "live.yaml")
    return whole, by_item


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from(KUBECTL_ITEMS), min_size=1, max_size=8),
    st.sampled_from(["List", "ServiceList"]),
)
def test_a_large_list_parsed_item_by_item_equals_the_whole_parse(
    items: list[str], kind: str
) -> None:
    text = _kubectl_list(items, kind)
    assert documents._parse_large_list(text, "live.yaml") is not None  # the item path is taken
    with pytest.MonkeyPatch.context() as monkeypatch:
        whole, by_item = _both_ways(text, monkeypatch)
    assert by_item == whole


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_kubectl_list(["- &x {apiVersion: v1, kind: A}\n", "- *x\n"]), id="alias"),
        pytest.param(
            _kubectl_list(['- apiVersion: v1\n  kind: A\n  note: "one\n- two"\n']), id="quoted"
        ),
        pytest.param(_kubectl_list(["- {apiVersion: v1, kind: A}\n"]) + "---\na: 1\n", id="stream"),
        pytest.param(
            "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: A}\n", id="indented"
        ),
        pytest.param("apiVersion: v1\nkind: Pod\nitems:\n- 1\n", id="not-a-list"),
    ],
)
def test_other_layouts_fall_back_to_the_whole_parse(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert documents._parse_large_list(text, "live.yaml") is None
    whole, by_item = _both_ways(text, monkeypatch)
    assert by_item == whole


@pytest.mark.parametrize(
    "items",
    [
        ["- {apiVersion: v1, kind: A}\n", "- oops\n"],
        ["- {apiVersion: v1, kind: A}\n", "-\n"],
        ["- {apiVersion: v1, kind: A}\n", "- a: [1\n"],
    ],
)
def test_bad_items_give_the_same_message_either_way(
    items: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _kubectl_list(items)
    messages = []
    for threshold in (10**12, 0):
        monkeypatch.setattr(documents, "LARGE_LIST_CHARS", threshold)
        with pytest.raises(InputError) as caught:
            parse_yaml(text, "live.yaml")
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("live.yaml: document 1, line ")


def test_a_json_integer_of_thousands_of_digits_is_one_line() -> None:
    text = '{"apiVersion": "v1", "kind": "Service", "spec": {"port": ' + "9" * 5000 + "}}"
    with pytest.raises(InputError) as raised:
        parse_json(text, "svc.json")
    assert str(raised.value) == (
        "svc.json: document 1, line 1: a number of 5,000 characters is out of range"
    )


def test_keys_and_long_numbers_of_non_kubernetes_documents_are_left_alone() -> None:
    parsed = parse_yaml("ports: {80: http, ~: x}\n", "values.yaml")
    assert parsed.documents == [] and len(parsed.notes) == 1
    with pytest.raises(InputError, match=r"values.yaml: document 1, line 1: malformed YAML: an "):
        parse_yaml("a: " + "1" * 200 + "\n", "values.yaml")


SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  user: admin\n"


@pytest.mark.parametrize(
    "line",
    [
        "  password: !Value hunter2\n",
        "  password: !Va%lue hunter2\n",
        '  password: "hunter2\\q"\n',
        "  password: hunter2: x\n",
    ],
)
def test_a_yaml_error_in_a_secret_names_the_key_never_the_value(line: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_yaml(SERVICE.format(name="a") + "---\n" + SECRET + line, "s.yaml")
    message = str(raised.value)
    assert message.startswith("s.yaml: document 2, line 11: malformed YAML"), message
    assert "key `password`" in message
    assert "hunter2" not in message and "Value" not in message and "Va%" not in message


def test_control_characters_in_a_message_are_escaped_and_it_stays_one_line() -> None:
    text = SERVICE.format(name='"a\\nb\\u001b[31m"') + "spec:\n  type: 5: x\n"
    with pytest.raises(InputError) as raised:
        parse_yaml(text, "dir\nx.yaml")
    assert "\n" not in str(raised.value) and "\x1b" not in str(raised.value)
    assert str(raised.value).startswith("dir\\nx.yaml: document 1, line 6: ")
    assert "\\n" in str(InputError("name 'a\nb\x1b[31m'"))
    assert str(InputError("name 'a\nb\x1b[31m'")) == "name 'a\\nb\\x1b[31m'"


def test_non_utf8_bytes_on_stdin_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    from planner.cli import main
    from tests.conftest import SAMPLES

    desired = str(SAMPLES / "seed-dns-local" / "desired")
    live = str(SAMPLES / "seed-dns-local" / "live.yaml")
    for argv in (["diff", "-", "--live", live], ["diff", desired, "--live", "-"]):
        stdin = io.TextIOWrapper(io.BytesIO(b"apiVersion: v1\nkind: Service\n# \xff\xfe\n"))
        monkeypatch.setattr(sys, "stdin", stdin)
        assert main(argv) == 2
        err = capsys.readouterr().err
        expected = "<stdin>: document 1, line 3: the file is not UTF-8 text (byte 31)"
        assert err == f"planner: error: {expected}\n"


def _deep_block(levels: int) -> str:
    nested = "".join(f"\n{'  ' * (level + 1)}a:" for level in range(levels)) + " 1\n"
    return f"apiVersion: v1\nkind: ConfigMap\ndata:{nested}"


@pytest.mark.parametrize(
    "first", ["", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n"]
)
def test_a_too_deep_document_in_a_stream_is_refused_after_fast_documents_too(first: str) -> None:
    """The nesting walk runs only once a document goes the libyaml way: a deep one, after
    documents the fast path read, still gets the message and line of the whole-text walk."""
    text = first + _deep_block(600)
    with pytest.raises(InputError) as err:
        parse_yaml(text, "deep.yaml")
    assert str(err.value).endswith(documents.TOO_DEEP)
    assert f"document {1 + bool(first)}," in str(err.value)


def test_the_nesting_walk_is_skipped_when_every_document_goes_the_fast_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[str] = []
    long = "# " + "x" * 200 + "\n"  # short texts skip the walk anyway
    monkeypatch.setattr(documents, "_walk_nesting", lambda text, file: walked.append(file))
    monkeypatch.setattr(documents, "_block_bound", lambda text: documents.MAX_NESTING)
    parse_yaml(long + "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n", "fast.yaml")
    assert walked == []
    aliased = "apiVersion: v1\nkind: Namespace\nmetadata: {name: &n a, other: *n}\n"
    parse_yaml(long + aliased, "slow.yaml")
    assert walked == ["slow.yaml"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "kind: List\nitems:\n- a: 1\n-\n  b: 2\nmetadata: {}\n",
            ("kind: List\nmetadata: {}\n", [(3, "  a: 1\n"), (4, " \n  b: 2\n")]),
        ),
        ("items:\n- a: 1\n-x: 2\n", ("-x: 2\n", [(2, "  a: 1\n")])),  # `-x` ends the items
        ("items:\n# c\n- a: 1\n# d\n- b", ("", [(3, "  a: 1\n# d\n"), (5, "  b")])),
        ("items:\n- a: 1\n\tb\n", ("", [(2, "  a: 1\n\tb\n")])),  # a tab does not
        ("items:\nx: 1\n- a: 1\n", None),  # a key before any item
        ("kind: List\n", None),
        ("items: \n-\ta\n", ("", [(2, " \ta\n")])),
    ],
)
def test_a_lists_items_are_split_at_column_0_dashes(text: str, expected: object) -> None:
    """Item starts (`- ` at column 0) and the line that ends the items, as kubectl lays a List
    out; the text around them is the List's header."""
    assert split_list_items(text) == expected


def _tree(root: Path) -> None:
    """A repository corner of every kind the walk must tell apart."""
    for name in (
        "a.yaml",
        "B.YML",
        "notes.txt",
        ".hidden.yaml",
        ".git/config.yaml",
        "apps/z.yaml",
        "apps/m/one.json",
        "apps/chart/Chart.yaml",
        "apps/chart/templates/svc.yaml",
        "apps/not-chart/Chart.yaml/inner.yaml",  # a directory named Chart.yaml: no chart
    ):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x: 1\n")
    os.symlink(root / "apps", root / "linked-dir")  # not followed, as os.walk does not
    os.symlink(root / "a.yaml", root / "linked.yaml")  # a linked file is read


def test_manifest_files_order_and_what_is_skipped(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in documents.manifest_files(tmp_path)]
    assert found == [
        "B.YML",
        "a.yaml",
        "linked.yaml",
        "apps/z.yaml",
        "apps/chart/Chart.yaml",
        "apps/chart/templates/svc.yaml",
        "apps/m/one.json",
        "apps/not-chart/Chart.yaml/inner.yaml",
    ]


def test_manifest_files_skip_charts_below_the_root_only(tmp_path: Path) -> None:
    _tree(tmp_path)
    yaml_only = frozenset({".yaml", ".yml"})
    found = documents.manifest_files(tmp_path, yaml_only, skip_holding="Chart.yaml")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "B.YML",
        "a.yaml",
        "linked.yaml",
        "apps/z.yaml",
        "apps/not-chart/Chart.yaml/inner.yaml",
    ]
    chart = tmp_path / "apps" / "chart"
    own = documents.manifest_files(chart, yaml_only, skip_holding="Chart.yaml")
    assert [p.relative_to(chart).as_posix() for p in own] == ["Chart.yaml", "templates/svc.yaml"]


def test_manifest_files_without_recursion(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = documents.manifest_files(tmp_path, recurse=False)
    assert [p.name for p in found] == ["B.YML", "a.yaml", "linked.yaml"]


def _walked(root: Path, suffixes: frozenset[str]) -> list[Path]:
    """The os.walk reading manifest_files replaced, as the oracle for a real tree."""
    found = []
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        if here != root and (here / "Chart.yaml").is_file():
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            here / n
            for n in sorted(files)
            if not n.startswith(".") and Path(n).suffix.lower() in suffixes
        ]
    return found


def test_manifest_files_walks_this_repository_as_os_walk_does() -> None:
    root = Path(__file__).resolve().parents[2]
    suffixes = frozenset({".yaml", ".yml"})
    walked = _walked(root, suffixes)
    assert len(walked) > 100
    assert list(documents.manifest_files(root, suffixes, skip_holding="Chart.yaml")) == walked
