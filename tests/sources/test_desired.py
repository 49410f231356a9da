"""planner.sources.desired: files, directories, stdin, kustomize and helm into one desired state."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.errors import InputError, Origin, ToolMissingError
from planner.objects import ObjectKey
from planner.sources.desired import find_sources, load_desired
from planner.sources.helm import HelmOptions
from tests.sources.conftest import kustomize_available, service_yaml, write

needs_kustomize = pytest.mark.skipif(
    not kustomize_available(), reason="neither kustomize nor kubectl is installed"
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from tmp_path so that labels are the relative paths a user types."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_directory_is_walked_recursively_in_path_order(in_tmp: Path) -> None:
    write(in_tmp / "apps" / "b.yaml", service_yaml("b"))
    write(in_tmp / "apps" / "a" / "z.yml", service_yaml("az"))
    write(
        in_tmp / "apps" / "a.json",
        '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}',
    )
    write(in_tmp / "apps" / "c" / "x.yaml", service_yaml("cx", namespace="c"))
    write(in_tmp / "apps" / "README.md", "not a manifest")
    write(in_tmp / "apps" / ".hidden" / "h.yaml", service_yaml("hidden"))
    write(in_tmp / "apps" / "notes.txt", "apiVersion: v1\nkind: Service\n")
    state = load_desired(["apps/"])
    assert [str(obj.key) for obj in state.objects] == [
        "Service default/az",
        "Namespace a",
        "Service default/b",
        "Service c/cx",
    ]
    assert [obj.origin.file for obj in state.objects if obj.origin] == [
        "apps/a/z.yml",
        "apps/a.json",
        "apps/b.yaml",
        "apps/c/x.yaml",
    ]
    assert all(obj.rendered_by is None for obj in state.objects)
    assert list(state.services) == ["c/cx", "default/az", "default/b"]
    assert state.namespaces == {"a": {}}


def test_files_are_read_in_the_order_given_whatever_their_suffix(in_tmp: Path) -> None:
    write(in_tmp / "z.yaml", service_yaml("z"))
    write(in_tmp / "svc.txt", service_yaml("t"))
    state = load_desired(["z.yaml", "svc.txt"])
    assert [obj.key.name for obj in state.objects] == ["z", "t"]
    assert state.objects[1].origin == Origin("svc.txt", 0, 1)


def test_dash_reads_stdin_once(in_tmp: Path) -> None:
    write(in_tmp / "a.yaml", service_yaml("a"))
    state = load_desired(["a.yaml", "-"], stdin=io.StringIO(service_yaml("s", namespace="dns")))
    assert [obj.key for obj in state.objects] == [
        ObjectKey("Service", "default", "a"),
        ObjectKey("Service", "dns", "s"),
    ]
    assert state.objects[1].origin == Origin("<stdin>", 0, 1)
    with pytest.raises(InputError, match="stdin"):
        load_desired(["-", "-"], stdin=io.StringIO(""))


def test_a_missing_path_is_an_input_error(in_tmp: Path) -> None:
    with pytest.raises(InputError, match=r"^`nowhere/x.yaml` does not exist$"):
        load_desired(["nowhere/x.yaml"])


def test_notes_from_every_file_are_returned_not_printed(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp / "m" / "values.yaml", "replicas: 3\n")
    write(in_tmp / "m" / "svc.yaml", service_yaml("a"))
    state = load_desired(["m"])
    assert [obj.key.name for obj in state.objects] == ["a"]
    assert state.notes == [
        "m/values.yaml: document 1, line 1: skipped a document without apiVersion and kind"
    ]
    assert capsys.readouterr() == ("", "")


def test_duplicates_across_files_name_both_origins(in_tmp: Path) -> None:
    write(in_tmp / "m" / "a.yaml", service_yaml("dns"))
    write(in_tmp / "m" / "b.yaml", "---\n" + service_yaml("dns", namespace="default"))
    with pytest.raises(InputError) as caught:
        load_desired(["m"])
    assert str(caught.value) == (
        "m/b.yaml: document 1, line 2: Service default/dns is defined twice "
        "(first at m/a.yaml: document 1, line 1)"
    )


def test_the_same_object_written_by_two_apps_is_read_once_with_a_note(in_tmp: Path) -> None:
    # Flux home-ops repos give each app its own copy of a shared OCIRepository (rwlove/home-ops:
    # media/app-template in every app): applying it twice changes nothing.
    write(in_tmp / "m" / "a.yaml", service_yaml("dns", namespace="default"))
    write(in_tmp / "m" / "b.yaml", "---\n" + service_yaml("dns", namespace="default"))
    state = load_desired(["m"])
    assert [str(obj.origin) for obj in state.objects] == ["m/a.yaml: document 1, line 1"]
    assert state.notes == [
        (
            "Service default/dns is written 2 times with the same content "
            "(first at m/a.yaml: document 1, line 1)"
        )
    ]


def test_copies_of_a_kind_the_plan_does_not_read_may_differ(in_tmp: Path) -> None:
    repo = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n"
    repo += "  name: app-template\n  namespace: media\n"
    write(in_tmp / "m" / "a.yaml", repo)
    write(in_tmp / "m" / "b.yaml", repo + "  labels:\n    app: b\n")
    state = load_desired(["m"])
    assert [str(obj.origin) for obj in state.objects] == ["m/a.yaml: document 1, line 1"]
    assert state.notes == [
        (
            "OCIRepository media/app-template is written 2 times in copies that differ (compared: "
            "the first; the cluster keeps the last applied) (first at m/a.yaml: document 1, line 1)"
        )
    ]


def test_a_file_named_twice_or_inside_a_named_directory_is_read_once(in_tmp: Path) -> None:
    write(in_tmp / "m" / "a.yaml", service_yaml("dns"))
    state = load_desired(["m/a.yaml", "m", "./m/a.yaml"])
    assert [(str(o.key), o.origin) for o in state.objects] == [
        ("Service default/dns", Origin("m/a.yaml", 0, 1))
    ]


def test_bad_input_in_a_walked_file_names_that_file(in_tmp: Path) -> None:
    write(in_tmp / "m" / "ok.yaml", service_yaml("a"))
    write(in_tmp / "m" / "sub" / "bad.yaml", service_yaml("b") + "---\n- not a mapping\n")
    with pytest.raises(InputError) as caught:
        load_desired(["m"])
    assert str(caught.value) == (
        "m/sub/bad.yaml: document 2, line 11: the document is a list, not a mapping"
    )


def test_a_dangling_link_in_a_walked_directory_is_an_unreadable_file(in_tmp: Path) -> None:
    write(in_tmp / "m" / "a.yaml", service_yaml("a"))
    (in_tmp / "m" / "gone.yaml").symlink_to(in_tmp / "nowhere.yaml")
    with pytest.raises(InputError) as caught:
        load_desired(["m"])
    assert str(caught.value) == (
        "m/gone.yaml: document 1, line 1: cannot read the file: No such file or directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists directories whatever their mode")
def test_an_unreadable_directory_is_an_input_error(in_tmp: Path) -> None:
    locked = in_tmp / "m" / "locked"
    locked.mkdir(parents=True)
    locked.chmod(0)
    try:
        with pytest.raises(InputError, match="cannot read the directory `m/locked`"):
            load_desired(["m"])
    finally:
        locked.chmod(0o755)


@needs_kustomize
def test_a_kustomization_directory_is_rendered_and_marked(in_tmp: Path) -> None:
    write(in_tmp / "base" / "svc.yaml", service_yaml("dns") + "---\n" + service_yaml("web"))
    write(in_tmp / "base" / "kustomization.yaml", "resources:\n- svc.yaml\n")
    write(in_tmp / "prod" / "kustomization.yaml", "resources:\n- ../base\nnamespace: edge\n")
    state = load_desired(["prod"])
    assert [obj.key for obj in state.objects] == [
        ObjectKey("Service", "edge", "dns"),
        ObjectKey("Service", "edge", "web"),
    ]
    assert [obj.rendered_by for obj in state.objects] == ["kustomize", "kustomize"]
    assert [(o.origin.file, o.origin.document) for o in state.objects if o.origin] == [
        ("prod", 0),
        ("prod", 1),
    ]


@needs_kustomize
def test_a_kustomization_inside_a_walked_directory_is_rendered_not_walked(in_tmp: Path) -> None:
    write(in_tmp / "repo" / "plain.yaml", service_yaml("plain"))
    write(in_tmp / "repo" / "app" / "svc.yaml", service_yaml("app"))
    write(in_tmp / "repo" / "app" / "kustomization.yaml", "resources:\n- svc.yaml\nnamespace: x\n")
    state = load_desired(["repo"])
    assert [(str(o.key), o.rendered_by) for o in state.objects] == [
        ("Service x/app", "kustomize"),
        ("Service default/plain", None),
    ]


def test_a_kustomization_without_kustomize_or_kubectl_names_the_tool(
    in_tmp: Path, fake_bin: Callable[..., Path]
) -> None:
    write(in_tmp / "app" / "kustomization.yaml", "resources: []\n")
    with pytest.raises(ToolMissingError) as caught:
        load_desired(["app"])
    assert caught.value.tool == "kustomize"


def test_malformed_kustomize_output_is_reported_against_the_directory(
    in_tmp: Path, fake_bin: Callable[..., Path]
) -> None:
    fake_bin("kustomize", 'printf "%s\\n" "apiVersion: v1" "kind: Service" "metadata: [oops"\n')
    write(in_tmp / "app" / "kustomization.yaml", "resources: []\n")
    with pytest.raises(InputError) as caught:
        load_desired(["app"])
    assert str(caught.value).startswith(
        "app: document 1, line 4: malformed YAML in the output of kustomize:"
    )


def test_a_chart_without_helm_names_helm(in_tmp: Path, fake_bin: Callable[..., Path]) -> None:
    write(in_tmp / "chart" / "Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    write(in_tmp / "chart" / "templates" / "svc.yaml", "name: {{ .Release.Name }}\n")
    with pytest.raises(ToolMissingError) as caught:
        load_desired(["chart"])
    assert caught.value.tool == "helm"


def test_a_chart_is_rendered_by_helm_with_its_namespace_as_default(
    in_tmp: Path, fake_bin: Callable[..., Path]
) -> None:
    rendered = service_yaml("dns") + "---\n" + service_yaml("web", namespace="other")
    write(in_tmp / "rendered.yaml", rendered)
    fake_bin("helm", f"cat {in_tmp / 'rendered.yaml'}\n")
    write(in_tmp / "charts" / "dns" / "Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1\n")
    write(in_tmp / "charts" / "dns" / "values.yaml", "not: a manifest\n")
    state = load_desired(["charts"], helm=HelmOptions(namespace="edge"))
    assert [(str(o.key), o.rendered_by) for o in state.objects] == [
        ("Service edge/dns", "helm"),
        ("Service other/web", "helm"),
    ]
    assert state.objects[1].origin == Origin("charts/dns", 1, 11)  # line 11 of the helm output
    assert state.notes == []  # values.yaml belongs to the chart: not walked


def test_find_sources_lists_what_will_be_read(in_tmp: Path) -> None:
    write(in_tmp / "m" / "b.yaml", "")
    write(in_tmp / "m" / "app" / "kustomization.yml", "resources: []\n")
    write(in_tmp / "m" / "chart" / "Chart.yaml", "name: c\n")
    sources = find_sources("m")
    assert [(s.label, s.kind) for s in sources] == [
        ("m/app", "kustomize"),
        ("m/b.yaml", "file"),
        ("m/chart", "helm"),
    ]
    assert [(s.label, s.kind) for s in find_sources(".")][:1] == [("m/app", "kustomize")]


def test_a_kustomization_or_chart_file_named_on_its_own_stands_for_its_directory(
    in_tmp: Path,
) -> None:
    write(in_tmp / "app" / "kustomization.yaml", "resources: []\n")
    write(in_tmp / "charts" / "dns" / "Chart.yaml", "name: dns\n")
    write(in_tmp / "kustomization.yaml", "resources: []\n")
    assert [(s.label, s.kind) for s in find_sources("app/kustomization.yaml")] == [
        ("app", "kustomize")
    ]
    assert [(s.label, s.kind) for s in find_sources("charts/dns/Chart.yaml")] == [
        ("charts/dns", "helm")
    ]
    assert [(s.label, s.kind) for s in find_sources("kustomization.yaml")] == [(".", "kustomize")]
