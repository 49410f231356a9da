"""planner.sources.helm: chart detection, `helm template` argv, rendering and a missing helm."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.errors import ToolMissingError
from planner.sources import load_desired
from planner.sources.helm import (
    HelmOptions,
    helm_template_argv,
    is_chart_dir,
    release_name,
    render_chart,
)
from tests.sources.conftest import write


def test_a_directory_with_chart_yaml_is_a_chart(tmp_path: Path) -> None:
    assert not is_chart_dir(tmp_path)
    write(tmp_path / "Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    assert is_chart_dir(tmp_path)


def test_helm_template_argv_carries_release_namespace_and_values_in_order() -> None:
    options = HelmOptions(release="edge", namespace="dns", values=("base.yaml", "prod.yaml"))
    assert helm_template_argv("/bin/helm", "charts/dns", options) == [
        "/bin/helm", "template", "edge", "charts/dns", "--namespace", "dns",
        "--values", "base.yaml", "--values", "prod.yaml",
    ]  # fmt: skip


def test_helm_template_argv_carries_the_cluster_capabilities() -> None:
    options = HelmOptions(kube_version="1.30.0", api_versions=("metallb.io/v1beta1", "v1"))
    assert helm_template_argv("helm", "dns", options)[4:] == [
        "--kube-version", "1.30.0",
        "--api-versions", "metallb.io/v1beta1", "--api-versions", "v1",
    ]  # fmt: skip


def test_helm_template_argv_carries_argo_cd_parameters_and_switches() -> None:
    options = HelmOptions(
        values=("v.yaml",),
        set_values=(("a.b", "1"),),
        set_strings=(("c", "x\\,y"),),
        set_files=(("d", "/tmp/d.txt"),),
        skip_tests=True,
        skip_schema_validation=True,
        inline_values="a: {b: 2}\n",  # render_chart's to write: not in the argv
    )
    assert helm_template_argv("helm", "dns", options)[4:] == [
        "--set", "a.b=1", "--set-string", "c=x\\,y", "--set-file", "d=/tmp/d.txt",
        "--values", "v.yaml", "--skip-schema-validation", "--skip-tests",
    ]  # fmt: skip


def test_the_default_release_name_is_the_chart_directory_made_valid() -> None:
    assert helm_template_argv("helm", "charts/dns", HelmOptions()) == [
        "helm", "template", "dns", "charts/dns",
    ]  # fmt: skip
    assert release_name("charts/My_Chart.v2") == "my-chart-v2"
    assert release_name("__") == "release"
    assert len(release_name("x" * 80)) == 53


def test_rendering_without_helm_names_helm(tmp_path: Path, fake_bin: Callable[..., Path]) -> None:
    chart = tmp_path / "chart"
    write(chart / "Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    with pytest.raises(ToolMissingError) as caught:
        render_chart(chart, HelmOptions())
    assert caught.value.tool == "helm"
    assert "https://helm.sh/docs/intro/install/" in str(caught.value)


def test_render_chart_runs_helm_template_on_path(
    tmp_path: Path, fake_bin: Callable[..., Path]
) -> None:
    calls = tmp_path / "calls"
    fake_bin("helm", f'echo "$@" > {calls}\necho "kind: Rendered"\n')
    chart = tmp_path / "dns"
    out = render_chart(chart, HelmOptions(namespace="edge"))
    assert out == "kind: Rendered\n"
    assert calls.read_text() == f"template dns {chart} --namespace edge\n"


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed on this machine")
def test_real_helm_renders_a_local_chart(tmp_path: Path) -> None:
    chart = tmp_path / "dns"
    write(chart / "Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    write(chart / "values.yaml", "port: 53\n")
    write(
        chart / "templates" / "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-dns\n"
        "spec:\n  type: LoadBalancer\n  ports:\n  - port: {{ .Values.port }}\n",
    )
    out = render_chart(chart, HelmOptions(release="edge"))
    assert "name: edge-dns" in out
    assert "port: 53" in out


def test_a_chart_found_by_walking_is_named_when_helm_is_missing(
    tmp_path: Path, fake_bin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rwlove/home-ops: `planner diff .` meets charts/kah-common; which directory needs helm?"""
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "repo/apps/dns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: dns}\n"
    )
    write(tmp_path / "repo/charts/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 1\n")
    with pytest.raises(ToolMissingError) as caught:
        load_desired(["repo"])
    assert str(caught.value).startswith("`helm` was not found on PATH; install helm")
    assert str(caught.value).endswith(", to render the Helm chart directory `repo/charts/common`")
