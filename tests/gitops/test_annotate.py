"""`planner annotate`: golden files for the in-place splice, whole trees, --check, atomic writes.

Golden cases live in tests/golden/annotate/<case>/: `input.yaml`, `expected.yaml`, and optionally
`wanted.yaml` (annotations forced onto Services; without it they come from the file's groups).
Regenerate after a deliberate change with `PLANNER_UPDATE_GOLDEN=1 python -m pytest
tests/test_annotate.py`, then review the diff of the golden files.
"""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from planner.cli import main
from planner.errors import InputError, PlannerError
from planner.gitops.annotate import (
    NOT_KUBERNETES,
    FileChange,
    annotate_paths,
    annotate_text,
    write_atomically,
)
from planner.model.group_annotations import (
    GROUP_ANNOTATION_KEYS,
    GROUP_MEMBERS_ANNOTATION,
    group_annotations,
    stamp_group_annotations,
)
from planner.sources.documents import parse_yaml

GOLDEN = Path(__file__).parents[1] / "golden" / "annotate"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.yaml").exists())
UPDATE = os.environ.get("PLANNER_UPDATE_GOLDEN") == "1"
SEED = Path(__file__).parents[2] / "samples" / "seed-dns-local" / "desired"


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _wanted(case: Path, text: str) -> dict[str, dict[str, str]]:
    forced = case / "wanted.yaml"
    if forced.exists():
        return yaml.safe_load(_read(forced))
    services = [d.body for d in parse_yaml(text, "input.yaml").documents if d.body["kind"]]
    return group_annotations(services)


def _changed_line_numbers(before: str, after: str) -> tuple[set[int], set[int]]:
    """0-based numbers of the lines removed from `before` and of those added in `after`."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    removed: set[int] = set()
    added: set[int] = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag != "equal":
            removed.update(range(i1, i2))
            added.update(range(j1, j2))
    return removed, added


def _annotation_lines(text: str) -> set[int]:
    """0-based lines of every Service's `annotations` entry (key line to last content line)."""
    lines = text.splitlines()
    found: set[int] = set()
    for root in YAML(typ="rt").compose_all(text):
        for service in _service_nodes(root):
            entry = _entry(_entry(service, "metadata"), "annotations")
            if entry is None:
                continue
            key, value = entry
            end = len(text[: value.end_mark.index].rstrip())
            last = text.count("\n", 0, end)
            while last > key.start_mark.line and lines[last].strip()[:1] in ("", "#"):
                last -= 1
            found.update(range(key.start_mark.line, last + 1))
    return found


def _service_nodes(root: Node | None) -> list[MappingNode]:
    if not isinstance(root, MappingNode):
        return []
    items = _entry(root, "items")
    if items is not None and isinstance(items[1], SequenceNode):
        return [item for item in items[1].value if isinstance(item, MappingNode)]
    return [root]


def _entry(mapping: Node | tuple | None, name: str) -> tuple[Node, Node] | None:
    node = mapping[1] if isinstance(mapping, tuple) else mapping
    if not isinstance(node, MappingNode):
        return None
    matches = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == name]
    return matches[-1] if matches else None


def _without_ours(text: str) -> list[object]:
    """Every document with the planner's annotations (and then-empty annotations) dropped."""
    documents = list(yaml.safe_load_all(text))
    for document in documents:
        for manifest in (document or {}).get("items", [document]) if document else []:
            metadata = manifest.get("metadata") or {}
            annotations = metadata.get("annotations") or {}
            for key in GROUP_ANNOTATION_KEYS:
                annotations.pop(key, None)
            if "annotations" in metadata and not annotations:
                del metadata["annotations"]
    return documents


@pytest.mark.parametrize("name", CASES)
def test_golden_splice(name: str) -> None:
    case = GOLDEN / name
    before = _read(case / "input.yaml")
    after = annotate_text(before, _wanted(case, before))
    if UPDATE:
        (case / "expected.yaml").write_bytes(after.encode("utf-8"))
    assert after == _read(case / "expected.yaml")


@pytest.mark.parametrize("name", CASES)
def test_golden_changes_only_annotation_lines(name: str) -> None:
    case = GOLDEN / name
    before, after = _read(case / "input.yaml"), _read(case / "expected.yaml")
    removed, added = _changed_line_numbers(before, after)
    assert removed or added, "every golden case exercises at least one edit"
    assert removed <= _annotation_lines(before)
    assert added <= _annotation_lines(after)
    assert _without_ours(before) == _without_ours(after)


@pytest.mark.parametrize("name", CASES)
def test_golden_second_run_changes_nothing(name: str) -> None:
    case = GOLDEN / name
    once = _read(case / "expected.yaml")
    assert annotate_text(once, _wanted(case, _read(case / "input.yaml"))) == once


@pytest.mark.parametrize("name", CASES)
def test_golden_output_carries_the_wanted_annotations(name: str) -> None:
    case = GOLDEN / name
    wanted = _wanted(case, _read(case / "input.yaml"))
    after = yaml.safe_load_all(_read(case / "expected.yaml"))
    for document in after:
        for manifest in (document or {}).get("items", [document]) if document else []:
            if manifest.get("kind") != "Service":
                continue
            meta = manifest["metadata"]
            key = f"{meta.get('namespace') or 'default'}/{meta['name']}"
            annotations = meta.get("annotations") or {}
            ours = {k: v for k, v in annotations.items() if k in GROUP_ANNOTATION_KEYS}
            assert ours == wanted.get(key, {}), key


def test_crlf_case_keeps_every_line_ending() -> None:
    expected = (GOLDEN / "crlf" / "expected.yaml").read_bytes()
    assert expected.count(b"\n") == expected.count(b"\r\n")
    assert b"shared-ip-planner.dev/group-digest" in expected


# --- whole trees ---------------------------------------------------------------------------------


@pytest.fixture
def seed_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "repo"
    shutil.copytree(SEED, tree)
    return tree


def _snapshot(tree: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()
    }


def test_annotate_writes_then_second_run_is_a_no_op(seed_tree: Path) -> None:
    first = annotate_paths([seed_tree])
    assert first.changed == (seed_tree / "dns.yaml",)
    after_first = _snapshot(seed_tree)
    second = annotate_paths([seed_tree])
    assert second.changed == ()
    assert _snapshot(seed_tree) == after_first


def test_check_changes_nothing_and_exits_1(seed_tree: Path, capsys: pytest.CaptureFixture) -> None:
    before = _snapshot(seed_tree)
    assert main(["annotate", "--check", str(seed_tree)]) == 1
    assert _snapshot(seed_tree) == before
    assert f"would annotate {seed_tree / 'dns.yaml'}" in capsys.readouterr().out


def test_check_exits_0_once_annotated(seed_tree: Path) -> None:
    assert main(["annotate", str(seed_tree)]) == 0
    assert main(["annotate", "--check", str(seed_tree)]) == 0


def test_group_spans_files_given_separately(tmp_path: Path) -> None:
    documents = _read(SEED / "dns.yaml").split("---\n")
    (tmp_path / "tcp.yaml").write_text(documents[0])
    (tmp_path / "udp.yaml").write_text(documents[1])
    result = annotate_paths([tmp_path / "udp.yaml", tmp_path / "tcp.yaml"])
    assert sorted(result.changed) == [tmp_path / "tcp.yaml", tmp_path / "udp.yaml"]
    assert "dns/dns-tcp,dns/dns-udp" in _read(tmp_path / "udp.yaml")


def test_file_order_does_not_change_the_bytes(tmp_path: Path) -> None:
    documents = _read(SEED / "dns.yaml").split("---\n")
    names = [f"{i:02d}.yaml" for i in range(len(documents))]
    results = []
    for attempt in range(3):
        tree = tmp_path / f"run{attempt}"
        tree.mkdir()
        for name, document in zip(names, documents, strict=True):
            (tree / name).write_text(document)
        order = [tree / name for name in names]
        random.Random(attempt).shuffle(order)
        annotate_paths(order)
        results.append([_read(tree / name) for name in names])
    assert results[0] == results[1] == results[2]


def test_kustomize_directory_is_skipped_with_a_pointer(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(SEED, app)
    (app / "kustomization.yaml").write_text("resources: [dns.yaml]\n")
    before = _snapshot(app)
    result = annotate_paths([tmp_path])
    assert result.changed == ()
    assert [s.path for s in result.skipped] == [app]
    assert "plugins/argocd/" in result.skipped[0].reason
    assert "plugins/flux/" in result.skipped[0].reason
    assert _snapshot(app) == before


def test_file_inside_a_chart_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    shutil.copy(SEED / "dns.yaml", chart / "templates" / "dns.yaml")
    assert main(["annotate", str(chart / "templates" / "dns.yaml")]) == 0
    assert "rendered by Helm" in capsys.readouterr().err
    assert _read(chart / "templates" / "dns.yaml") == _read(SEED / "dns.yaml")


def test_template_outside_a_chart_is_skipped(tmp_path: Path) -> None:
    shutil.copy(SEED / "dns.yaml", tmp_path / "dns.yaml")
    (tmp_path / "svc.yaml").write_text("metadata:\n  name: {{ .Values.name }}\n  x: [\n")
    result = annotate_paths([tmp_path])
    assert [s.path.name for s in result.skipped] == ["svc.yaml"]
    assert result.changed == (tmp_path / "dns.yaml",)


def test_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.copy(SEED / "dns.yaml", tmp_path / "a.yaml")
    bad = _read(SEED / "dns.yaml").split("---\n")[0].replace(" port: 53", " port: x")
    (tmp_path / "b.yaml").write_text(bad.replace("dns-tcp", "dns-other"))
    before = _snapshot(tmp_path)
    assert main(["annotate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "b.yaml: document 1" in err and "spec.ports[0].port" in err
    assert _snapshot(tmp_path) == before


def test_duplicate_service_is_refused(tmp_path: Path) -> None:
    shutil.copy(SEED / "dns.yaml", tmp_path / "a.yaml")
    shutil.copy(SEED / "dns.yaml", tmp_path / "b.yaml")
    with pytest.raises(InputError, match="defined twice"):
        annotate_paths([tmp_path])


def test_byte_order_mark_and_file_mode_are_kept(seed_tree: Path) -> None:
    path = seed_tree / "dns.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    path.chmod(0o640)
    annotate_paths([seed_tree])
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"shared-ip-planner.dev/group:" in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o640


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"old\n")
    write_atomically([FileChange(path, b"old\n", b"new\n")])
    assert path.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]


def test_a_failed_write_changes_no_file(tmp_path: Path) -> None:
    good = tmp_path / "a.yaml"
    good.write_bytes(b"old\n")
    gone = tmp_path / "removed-meanwhile" / "b.yaml"  # staging this one fails
    changes = [FileChange(good, b"old\n", b"new\n"), FileChange(gone, b"old\n", b"new\n")]
    with pytest.raises(PlannerError, match="cannot write .*b.yaml.*nothing was changed"):
        write_atomically(changes)
    assert good.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]


def test_a_symlinked_manifest_keeps_its_link(seed_tree: Path) -> None:
    real = seed_tree / "dns.yaml"
    link = seed_tree / "link" / "dns.yaml"
    link.parent.mkdir()
    link.symlink_to(real)
    annotate_paths([link])
    assert link.is_symlink()
    assert b"shared-ip-planner.dev/group:" in real.read_bytes()


def annotate_hook() -> dict[str, Any]:
    """The `planner-annotate-check` entry of the repository's .pre-commit-hooks.yaml."""
    hooks = yaml.safe_load((Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "planner-annotate-check"]
    return hook


def test_pre_commit_hook_definition() -> None:
    hook = annotate_hook()
    assert hook["id"] == "planner-annotate-check"
    assert hook["entry"] == "planner annotate --check"
    assert re.search(hook["files"], "deploy/dns.yaml") and re.search(hook["files"], "a.yml")
    assert not re.search(hook["files"], "README.md")


def test_pre_commit_hook_takes_the_changed_files_and_the_tree() -> None:
    hook = annotate_hook()
    assert hook["pass_filenames"] is True
    assert hook["args"] == ["--tree", "."]
    assert re.search(hook["files"], "deploy/dns.json")


# --- YAML that is not Kubernetes, and the pre-commit hook on the files it is passed -------------

MKDOCS = """site_name: docs
theme:
  name: material
  custom_dir: !ENV [THEME_DIR, "overrides"]
markdown_extensions:
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
      emoji_generator: !!python/name:material.extensions.emoji.to_svg
"""
WORKFLOW = """name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pre-commit run --all-files
"""
GITLAB_CI = "stages: [test]\ntest:\n  image: python:3.12\n  script: [make test]\n"
PLAYBOOK = "- hosts: all\n  tasks:\n    - name: ping\n      ping: {}\n"
LONER = """apiVersion: v1
kind: Service
metadata: {name: web, namespace: web}
spec: {type: LoadBalancer, ports: [{port: 80}]}
"""


@pytest.fixture
def mixed_repo(tmp_path: Path) -> Path:
    """A repository with docs, CI files, a playbook and a DNS group split over two files."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "deploy").mkdir()
    (repo / "mkdocs.yml").write_text(MKDOCS)
    (repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (repo / ".gitlab-ci.yml").write_text(GITLAB_CI)
    (repo / "playbook.yml").write_text(PLAYBOOK)
    tcp, udp = _read(SEED / "dns.yaml").split("---\n")
    (repo / "deploy" / "tcp.yaml").write_text(tcp)
    (repo / "deploy" / "udp.yaml").write_text(udp)
    (repo / "deploy" / "web.yaml").write_text(LONER)
    return repo


NOT_MANIFESTS = ["mkdocs.yml", ".github/workflows/ci.yml", ".gitlab-ci.yml", "playbook.yml"]


def run_hook(repo: Path, files: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """The hook's command line as pre-commit builds it (entry, args, the passed files), in `repo`."""
    hook = annotate_hook()
    entry = shlex.split(hook["entry"])
    assert entry[0] == "planner"
    monkeypatch.chdir(repo)
    return main([*entry[1:], *hook["args"], *files])


@pytest.mark.parametrize("name", NOT_MANIFESTS)
def test_yaml_that_is_not_kubernetes_is_skipped(mixed_repo: Path, name: str) -> None:
    result = annotate_paths([mixed_repo / name])
    assert result.changed == () and result.services == 0
    if name in ("mkdocs.yml", "playbook.yml"):  # the safe loader refuses their tags / list
        assert [(s.path.name, s.reason) for s in result.skipped] == [
            (Path(name).name, NOT_KUBERNETES)
        ]


def test_a_tree_with_docs_and_ci_files_is_annotated_and_they_stay_as_they_were(
    mixed_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(mixed_repo)
    assert main(["annotate", "--check", str(mixed_repo)]) == 1
    out, err = capsys.readouterr()
    assert "mkdocs.yml: not a Kubernetes manifest" in err and "playbook.yml" in err
    assert "would annotate" in out and "mkdocs" not in out
    assert main(["annotate", str(mixed_repo)]) == 0
    after = _snapshot(mixed_repo)
    assert {name for name in before if before[name] != after[name]} == {
        "deploy/tcp.yaml",
        "deploy/udp.yaml",
    }
    assert main(["annotate", "--check", str(mixed_repo)]) == 0


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: Service\nmetadata: {name: x\n",  # a syntax error
        "apiVersion: v1\nkind: Service\nmetadata: {name: !Ref x}\n",  # a tag in a manifest
        '{"apiVersion": "v1", "kind": "Service", ',  # broken JSON-style YAML
    ],
)
def test_a_broken_manifest_is_still_an_error(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "svc.yaml").write_text(text)
    assert main(["annotate", "--check", str(tmp_path)]) == 2
    assert "svc.yaml" in capsys.readouterr().err


def test_hook_on_passed_files_checks_the_group_members_in_other_files(
    mixed_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(mixed_repo)
    assert run_hook(mixed_repo, [*NOT_MANIFESTS, "deploy/udp.yaml"], monkeypatch) == 1
    out = capsys.readouterr().out
    # tcp.yaml was not passed, but it holds the other member of udp's group
    assert set(out.split("\n")) >= {
        "would annotate deploy/tcp.yaml",
        "would annotate deploy/udp.yaml",
    }
    assert _snapshot(mixed_repo) == before
    assert main(["annotate", "deploy"]) == 0
    assert run_hook(mixed_repo, [*NOT_MANIFESTS, "deploy/udp.yaml"], monkeypatch) == 0


def test_hook_passes_when_the_passed_files_touch_no_stale_group(
    mixed_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # deploy/ needs annotations, but this commit changes only files unrelated to its group
    assert run_hook(mixed_repo, [*NOT_MANIFESTS, "deploy/web.yaml"], monkeypatch) == 0


def test_hook_catches_a_member_edited_in_another_file(
    mixed_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(mixed_repo)
    assert main(["annotate", "deploy"]) == 0
    udp = mixed_repo / "deploy" / "udp.yaml"
    udp.write_text(_read(udp).replace("port: 53", "port: 5353"))  # a new digest for both
    capsys.readouterr()
    assert run_hook(mixed_repo, ["deploy/udp.yaml"], monkeypatch) == 1
    assert "would annotate deploy/tcp.yaml" in capsys.readouterr().out


def test_hook_catches_a_member_whose_file_was_deleted(
    mixed_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(mixed_repo)
    assert main(["annotate", "deploy"]) == 0
    (mixed_repo / "deploy" / "udp.yaml").unlink()  # pre-commit never passes a deleted file
    capsys.readouterr()
    assert run_hook(mixed_repo, ["deploy/web.yaml"], monkeypatch) == 1
    assert capsys.readouterr().out.split("\n")[0] == "would annotate deploy/tcp.yaml"


def test_hook_writes_only_what_the_passed_files_touch(
    mixed_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = mixed_repo / "other"
    other.mkdir()
    for name in ("tcp.yaml", "udp.yaml"):  # another group, needing annotations too
        text = _read(mixed_repo / "deploy" / name).replace("namespace: dns", "namespace: dns2")
        (other / name).write_text(text.replace("192.168.10.53", "192.168.10.54"))
    monkeypatch.chdir(mixed_repo)
    assert main(["annotate", "--tree", ".", "deploy/tcp.yaml"]) == 0
    assert "shared-ip-planner.dev/group" in _read(mixed_repo / "deploy" / "udp.yaml")
    assert "shared-ip-planner.dev/group" not in _read(other / "udp.yaml")


def test_files_outside_the_tree_are_noted_not_checked(
    mixed_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(mixed_repo)
    (mixed_repo / "stale.yaml").write_text(_read(SEED / "dns.yaml").replace("dns-", "x-"))
    assert main(["annotate", "--check", "--tree", "deploy", "stale.yaml", "mkdocs.yml"]) == 0
    assert "stale.yaml: outside deploy" in capsys.readouterr().err


# --- property: any formatting, any wanted state ---------------------------------------------------

TRICKY_VALUES = ["k@10.0.0.1", "a/b,c/d", "123", "true", "x: y", "#x", "k@pool/*", "2001:db8::1"]
OTHER_ANNOTATIONS = {"metallb.io/allow-shared-ip": "k", "example.com/team": "net ops"}


def _quote(text: str, style: str) -> str:
    return {"plain": text, "single": f"'{text}'", "double": f'"{text}"'}[style]


@st.composite
def _service_texts(draw: st.DrawFn, name: str) -> tuple[str, dict[str, str]]:
    """One Service document in a random but valid style, and the planner annotations it has."""
    step = draw(st.sampled_from([2, 4]))
    quote = draw(st.sampled_from(["plain", "single", "double"]))
    layout = draw(st.sampled_from(["block", "flow", "empty-flow", "null", "absent", "flow-meta"]))
    comment = draw(st.booleans())
    others = draw(
        st.sampled_from([{}, dict(list(OTHER_ANNOTATIONS.items())[:1]), OTHER_ANNOTATIONS])
    )
    ours = {
        key: draw(st.sampled_from(TRICKY_VALUES))
        for key in GROUP_ANNOTATION_KEYS
        if layout in ("block", "flow", "flow-meta") and draw(st.booleans())
    }
    entries = {**others, **ours} if layout in ("block", "flow", "flow-meta") else {}
    if not entries and layout in ("block", "flow", "flow-meta"):
        layout = "absent"
    pad = " " * step
    pairs = [f'{_quote(k, quote)}: "{v}"' for k, v in entries.items()]
    head = f"apiVersion: v1\nkind: Service\n# {name} starts here\n"
    spec = f"spec:\n{pad}type: LoadBalancer\n{pad}ports:\n{pad}- port: 80\n"
    if layout == "flow-meta":
        meta = f"metadata: {{name: {name}, namespace: ns, annotations: {{{', '.join(pairs)}}}}}\n"
        return head + meta + spec, ours
    meta = f"metadata:\n{pad}name: {name}\n{pad}namespace: ns\n"
    tail = "  # beside" if comment else ""
    if layout == "block":
        lines = [f"{pad * 2}{pair}{tail}\n" for pair in pairs]
        if comment:
            lines.insert(0, f"{pad * 2}# above\n")
        meta += f"{pad}annotations:\n" + "".join(lines)
    elif layout == "flow":
        meta += f"{pad}annotations: {{{', '.join(pairs)}}}{tail}\n"
    elif layout == "empty-flow":
        meta += f"{pad}annotations: {{}}{tail}\n"
    elif layout == "null":
        meta += f"{pad}annotations:{tail}\n"
    return head + meta + (f"{pad}labels: {{a: b}}\n" if comment else "") + spec, ours


@st.composite
def _files(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, str]]]:
    count = draw(st.integers(min_value=1, max_value=3))
    documents = [draw(_service_texts(f"s{i}")) for i in range(count)]
    wanted = {}
    for i in range(count):
        if draw(st.booleans()):
            wanted[f"ns/s{i}"] = {
                k: draw(st.sampled_from(TRICKY_VALUES)) for k in GROUP_ANNOTATION_KEYS
            }
    text = "---\n".join(document for document, _ in documents)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text, wanted


def _expected_documents(text: str, wanted: dict[str, dict[str, str]]) -> list[object]:
    documents = _without_ours(text)
    for document in documents:
        metadata = document["metadata"]
        add = wanted.get(f"ns/{metadata['name']}")
        if add:
            metadata["annotations"] = {**(metadata.get("annotations") or {}), **add}
    return documents


def _metadata_without_empty_annotations(document: dict) -> dict:
    """`metadata`, with `annotations: {}` treated as absent (flow maps keep their braces)."""
    metadata = dict(document["metadata"])
    if not metadata.get("annotations"):
        metadata.pop("annotations", None)
    return metadata


@settings(max_examples=60, deadline=None)
@given(_files())
def test_any_style_gets_exactly_the_wanted_annotations_and_nothing_else(
    case: tuple[str, dict[str, dict[str, str]]],
) -> None:
    text, wanted = case
    after = annotate_text(text, wanted)
    got = [_metadata_without_empty_annotations(d) for d in yaml.safe_load_all(after)]
    expected = [_metadata_without_empty_annotations(d) for d in _expected_documents(text, wanted)]
    assert got == expected
    assert _without_ours(after) == _without_ours(text)
    removed, added = _changed_line_numbers(text, after)
    assert removed <= _annotation_lines(text)
    assert added <= _annotation_lines(after)
    assert annotate_text(after, wanted) == after
    if "\r\n" in text:
        assert after.count("\n") == after.count("\r\n")


# --- other inputs ----------------------------------------------------------------------------------


def test_json_manifests_are_annotated_as_json(tmp_path: Path) -> None:
    manifests = list(yaml.safe_load_all(_read(SEED / "dns.yaml")))
    for index, manifest in enumerate(manifests):
        (tmp_path / f"{index}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    result = annotate_paths([tmp_path])
    assert sorted(p.name for p in result.changed) == ["0.json", "1.json"]
    stamped = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(2)]
    assert stamped == stamp_group_annotations(manifests)
    assert annotate_paths([tmp_path]).changed == ()


def test_an_aliased_annotations_mapping_is_refused(tmp_path: Path) -> None:
    listed = _read(GOLDEN / "list-document" / "input.yaml")
    block = "    annotations:\n      metallb.io/allow-shared-ip: syslog\n"
    assert listed.count(block) == 2
    first, second = listed.split(block)[0], listed.split(block)[1:]
    anchored = (
        first + block.replace(":\n", ": &shared\n", 1) + second[0] + "    annotations: *shared\n"
    )
    (tmp_path / "list.yaml").write_text(anchored + second[1])
    with pytest.raises(InputError, match="annotations is a YAML alias"):
        annotate_paths([tmp_path])


def test_annotations_that_are_not_a_mapping_are_refused(tmp_path: Path) -> None:
    text = _read(SEED / "dns.yaml").replace("  labels:\n", "  annotations: [a]\n  labels:\n", 1)
    (tmp_path / "dns.yaml").write_text(text.replace("  annotations:\n", "  x:\n", 1))
    with pytest.raises(InputError, match="dns.yaml: document 1.*must be a mapping"):
        annotate_paths([tmp_path])


# --- YAML merge keys and shared anchors (issue 14) ------------------------------------------------

_MERGED_METADATA = """\
base: &base
  namespace: dns
  annotations:
    metallb.io/allow-shared-ip: dns-192.168.10.53
    metallb.io/loadBalancerIPs: 192.168.10.53
    team: net
apiVersion: v1
kind: Service
metadata:
  <<: *base
  name: dns-udp
spec:
  type: LoadBalancer
  ports:
    - {name: dns-udp, port: 53, protocol: UDP}
"""


_MERGED_SERVICE = """\
meta: &meta
  name: dns-udp
  namespace: dns
  annotations:
    metallb.io/allow-shared-ip: dns-192.168.10.53
    metallb.io/loadBalancerIPs: 192.168.10.53
apiVersion: v1
kind: Service
<<: {metadata: *meta}
spec: {type: LoadBalancer, ports: [{name: u, port: 53, protocol: UDP}]}
"""


def _seed_tcp_and(second: str) -> str:
    tcp = _read(SEED / "dns.yaml").split("---\n")[0]
    return tcp + "---\n" + second


@pytest.mark.parametrize(
    ("second", "what"),
    [
        (_MERGED_METADATA, "metadata.annotations comes from a YAML merge key"),
        (
            _MERGED_SERVICE,
            "metadata comes from a YAML merge key",
        ),
    ],
    ids=["annotations-merged-into-metadata", "metadata-merged-into-the-service"],
)
def test_merged_metadata_is_refused_never_dropped(tmp_path: Path, second: str, what: str) -> None:
    text = _seed_tcp_and(second)
    (tmp_path / "dns.yaml").write_text(text)
    with pytest.raises(InputError, match=f"dns.yaml: document 2, line 25: {what}"):
        annotate_paths([tmp_path])
    assert (tmp_path / "dns.yaml").read_text() == text


def test_an_anchor_shared_with_another_place_is_refused(tmp_path: Path) -> None:
    """Adding to an anchored annotations mapping would change its alias too."""
    tcp, udp = _read(SEED / "dns.yaml").split("---\n")
    tcp = tcp.replace("  annotations:\n", "  annotations: &ann\n", 1) + "extra: *ann\n"
    text = tcp + "---\n" + udp
    (tmp_path / "dns.yaml").write_text(text)
    with pytest.raises(InputError, match="would change more than its own group annotations"):
        annotate_paths([tmp_path])
    assert (tmp_path / "dns.yaml").read_text() == text


def test_a_merge_key_inside_explicit_annotations_keeps_the_merged_ones(tmp_path: Path) -> None:
    """Entries written next to `<<:` in the annotations mapping override, never hide, the merged
    ones: that case is edited in place."""
    tcp, udp = _read(SEED / "dns.yaml").split("---\n")
    shared = "    metallb.io/allow-shared-ip: dns-192.168.10.53\n"
    common = "common: &common\n  team: net\n"
    udp = common + udp.replace(shared, shared + "    <<: *common\n", 1)
    (tmp_path / "dns.yaml").write_text(tcp + "---\n" + udp)
    assert annotate_paths([tmp_path]).changed == (tmp_path / "dns.yaml",)
    after = list(yaml.safe_load_all((tmp_path / "dns.yaml").read_text()))
    assert after[1]["metadata"]["annotations"]["team"] == "net"
    assert GROUP_MEMBERS_ANNOTATION in after[1]["metadata"]["annotations"]


def test_lb_class_stamps_the_groups_of_metallbs_own_class(seed_tree: Path) -> None:
    """MetalLB run with `--lb-class X` is handed only Services of class X: annotate stamps their
    groups under the same flag, and leaves them alone without it (they are not MetalLB's then)."""
    path = seed_tree / "dns.yaml"
    documents = list(yaml.safe_load_all(path.read_text()))
    for document in documents:
        if document and document.get("kind") == "Service":
            document["spec"]["loadBalancerClass"] = "example.com/x"
    path.write_text(yaml.safe_dump_all(documents))
    assert main(["annotate", "--check", str(seed_tree)]) == 0
    assert main(["annotate", "--check", "--lb-class", "example.com/x", str(seed_tree)]) == 1
    assert main(["annotate", "--lb-class", "example.com/x", str(seed_tree)]) == 0
    stamped = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Service"]
    members = {d["metadata"]["annotations"].get(GROUP_MEMBERS_ANNOTATION) for d in stamped}
    assert members == {"dns/dns-tcp,dns/dns-udp"}
