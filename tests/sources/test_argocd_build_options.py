"""Argo CD's kustomize build options, as a repository declares them (argocd_build_options.py):
where they are found, how they are split (as Argo CD splits them: on white space), and what
the planner makes of each option."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner import kube_yaml
from planner.cli import main
from planner.errors import InputError, ToolFailedError
from planner.sources import load_desired
from planner.sources.argocd_build_options import (
    FoundOptions,
    find_options,
    given_options,
    parse_options,
)
from planner.sources.flux_repository import Repository
from tests.sources.conftest import git, kustomize_available, service_yaml, write
from tests.sources.test_kustomize_helm import (
    LB_VALUES,
    chart,
    helm_calls,
    kustomization,
    local_chart,
)

OPTIONS = "--enable-helm --load-restrictor LoadRestrictionsNone"


@pytest.mark.parametrize(
    "written",
    [
        "--load-restrictor LoadRestrictionsNone",
        "--load-restrictor=LoadRestrictionsNone",
        "  --load-restrictor\tLoadRestrictionsNone ",
    ],
)
def test_both_spellings_of_the_load_restrictor_lift_it(written: str) -> None:
    options = parse_options(written, "here")
    assert options.load_anywhere
    assert not options.enable_helm
    assert options.not_passed == ()


def test_the_default_load_restrictor_keeps_kustomizes_rule() -> None:
    assert not parse_options("--load-restrictor=LoadRestrictionsRootOnly", "here").load_anywhere


@pytest.mark.parametrize(
    ("written", "enabled"),
    [("--enable-helm", True), ("--enable-helm=true", True), ("--enable-helm=false", False)],
)
def test_enable_helm(written: str, enabled: bool) -> None:
    assert parse_options(written, "here").enable_helm is enabled


def test_alpha_plugins_inflate_helm_charts_as_kustomize_does_and_are_named() -> None:
    # kustomize's `--enable-alpha-plugins` sets its plugin config with helm enabled
    options = parse_options("--enable-alpha-plugins --enable-exec", "here")
    assert options.enable_helm
    assert options.not_passed == (
        "`--enable-alpha-plugins` (only its `helmCharts` inflation is done)",
        "`--enable-exec`",
    )


def test_simple_helm_version_flags_are_passed_others_named() -> None:
    options = parse_options(
        "--enable-helm --helm-kube-version 1.31.0 --helm-api-versions=monitoring.coreos.com/v1 "
        "--helm-kube-version latest --output /tmp/out --load-restrictor none",
        "here",
    )
    assert options.helm_flags == (
        "--helm-kube-version",
        "1.31.0",
        "--helm-api-versions",
        "monitoring.coreos.com/v1",
    )
    assert options.not_passed == (
        "`--helm-kube-version latest`",
        "`--output /tmp/out`",
        "`--load-restrictor none`",
    )
    assert not options.load_anywhere


def test_options_are_split_on_spaces_as_argo_cd_splits_them() -> None:
    # Argo CD uses Go's strings.Fields: quotes stay in the word, which kustomize then refuses
    options = parse_options("--load-restrictor 'LoadRestrictionsNone'", "here")
    assert not options.load_anywhere
    assert options.not_passed == ("`--load-restrictor 'LoadRestrictionsNone'`",)


def test_given_options_are_shell_words() -> None:
    options = given_options("--enable-helm --load-restrictor 'LoadRestrictionsNone'")
    assert options.enable_helm and options.load_anywhere
    assert options.where == "--argocd-build-options"


def test_given_options_that_cannot_be_split_are_one_clear_error() -> None:
    with pytest.raises(InputError, match=r"--argocd-build-options: `--enable-helm '` cannot be"):
        given_options("--enable-helm '")


ARGOCD_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  kustomize.buildOptions: {options}
"""


def found(root: Path) -> FoundOptions:
    return find_options(Repository(root, ""))


@pytest.mark.parametrize(
    ("path", "text", "where"),
    [
        ("argocd/argocd-cm.yaml", ARGOCD_CM.format(options=OPTIONS), "ConfigMap argocd-cm"),
        (
            "argocd/kustomization.yaml",
            "resources: [https://raw.githubusercontent.com/argoproj/argo-cd/v3.1.0/install.yaml]\n"
            "patches:\n  - patch: |-\n"
            + "".join(f"      {line}\n" for line in ARGOCD_CM.format(options=OPTIONS).splitlines()),
            "a patch, ConfigMap argocd-cm",
        ),
        (
            "argocd/kustomization.yaml",
            (
                "configMapGenerator:\n  - name: argocd-cm\n    behavior: merge\n    literals:\n"
                f'      - kustomize.buildOptions="{OPTIONS}"\n'
            ),
            "`configMapGenerator` argocd-cm",
        ),
        (
            "argocd/values.yaml",
            f"configs:\n  cm:\n    kustomize.buildOptions: {OPTIONS}\n",
            "`configs.cm`",
        ),
        (
            "argocd/helmrelease.yaml",
            (
                "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: argocd}\n"
                f"spec:\n  values:\n    configs:\n      cm:\n        kustomize.buildOptions: {OPTIONS}\n"
            ),
            "HelmRelease `values`",
        ),
        (
            "argocd/app.yaml",
            (
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: argocd}\n"
                "spec:\n  source:\n    chart: argo-cd\n    helm:\n      valuesObject:\n"
                f"        configs:\n          cm:\n            kustomize.buildOptions: {OPTIONS}\n"
            ),
            "Application `helm` values",
        ),
        (
            "argocd/app.yaml",
            (
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: argocd}\n"
                "spec:\n  sources:\n    - chart: argo-cd\n      helm:\n        values: |\n"
                f"          configs:\n            cm:\n              kustomize.buildOptions: {OPTIONS}\n"
            ),
            "Application `helm` values",
        ),
        (
            "argocd/argocd.yaml",
            (
                "apiVersion: argoproj.io/v1beta1\nkind: ArgoCD\nmetadata: {name: argocd}\n"
                f"spec:\n  kustomizeBuildOptions: {OPTIONS}\n"
            ),
            "ArgoCD `spec.kustomizeBuildOptions`",
        ),
    ],
)
def test_each_place_a_repository_declares_them(
    tmp_path: Path, path: str, text: str, where: str
) -> None:
    write(tmp_path / path, text)
    write(tmp_path / "apps/web/service.yaml", "apiVersion: v1\nkind: Service\n")
    options = found(tmp_path).options
    assert options is not None
    assert options.written == OPTIONS
    assert options.where == f"{path}, {where}"
    assert options.enable_helm and options.load_anywhere


def test_the_same_options_written_twice_are_one(tmp_path: Path) -> None:
    write(tmp_path / "base/argocd-cm.yaml", ARGOCD_CM.format(options="--enable-helm"))
    write(tmp_path / "values.yaml", "configs:\n  cm:\n    kustomize.buildOptions: --enable-helm\n")
    options = found(tmp_path).options
    assert options is not None
    assert options.where == "base/argocd-cm.yaml, ConfigMap argocd-cm, values.yaml, `configs.cm`"


def test_contradicting_definitions_give_no_options_and_say_which(tmp_path: Path) -> None:
    write(tmp_path / "clusters/a/argocd-cm.yaml", ARGOCD_CM.format(options="--enable-helm"))
    write(tmp_path / "clusters/b/argocd-cm.yaml", ARGOCD_CM.format(options=OPTIONS))
    result = found(tmp_path)
    assert result.options is None
    assert result.contradiction == (
        "Argo CD's kustomize build options are written differently in the repository "
        "(`--enable-helm` (clusters/a/argocd-cm.yaml, ConfigMap argocd-cm); "
        f"`{OPTIONS}` (clusters/b/argocd-cm.yaml, ConfigMap argocd-cm)): the planner takes "
        "none of them"
    )


def test_other_config_maps_values_and_unparsable_files_declare_nothing(tmp_path: Path) -> None:
    write(tmp_path / "other-cm.yaml", ARGOCD_CM.replace("argocd-cm", "argocd-cmd-params-cm"))
    write(tmp_path / "values.yaml", "cm:\n  kustomize.buildOptions: --enable-helm\n")
    write(tmp_path / "broken.yaml", "kustomize.buildOptions: [\n")
    write(tmp_path / "chart/Chart.yaml", "name: argo-cd\n")  # a chart's own values: not read
    write(tmp_path / "chart/values.yaml", "configs:\n  cm:\n    kustomize.buildOptions: x\n")
    assert found(tmp_path) == FoundOptions()


def test_a_repository_without_them_parses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        write(tmp_path / f"apps/app{number}/cm.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    parsed: list[str] = []
    original = kube_yaml.load_all

    def counting(text: str) -> list[object]:
        parsed.append(text)
        return original(text)

    monkeypatch.setattr(kube_yaml, "load_all", counting)
    assert found(tmp_path) == FoundOptions()
    assert parsed == []


# --- builds with them: the real `kubectl kustomize`, the stand-in helm (tests/fakes/helm) -------
# What the stand-in proves: the flags kustomize is run with (`--enable-helm`, the load
# restrictor, the helm version flags reach `helm template`), that a build the options do not
# enable never reaches helm, and the notes and reasons. Not proven: that Argo CD's own
# kustomize (v5.8.1 in Argo CD v3.5) behaves as this machine's (kubectl's v5.5.0).


@pytest.fixture
def repo(chart_repo: Path) -> Path:
    """The stand-in helm's repository (tests/sources/conftest.py `chart_repo`)."""
    return chart_repo


needs_kustomize = pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")
LIVE_EMPTY = "apiVersion: v1\nkind: List\nitems: []\n"
SHARED_PATCH = (
    "- op: add\n  path: /spec/externalTrafficPolicy\n  value: Local\n"
)  # fmt: skip


def helm_chart_app(repo: Path) -> None:
    """apps/web: a kustomization inflating a chart kept in the repository."""
    local_chart(repo)
    write(repo / "apps/web/values.yaml", LB_VALUES)
    fields = "    valuesFile: values.yaml\n"
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", fields=fields)))


def overlay_reading_a_shared_patch(repo: Path) -> None:
    """apps/dns/home: an overlay patching with a file outside its directory."""
    write(repo / "apps/dns/base/kustomization.yaml", "resources: [service.yaml]\n")
    write(repo / "apps/dns/base/service.yaml", service_yaml("dns-tcp", "dns", "192.168.10.53"))
    write(repo / "shared/local.yaml", SHARED_PATCH)
    write(
        repo / "apps/dns/home/kustomization.yaml",
        "resources: [../base]\npatches:\n  - path: ../../../shared/local.yaml\n"
        "    target: {kind: Service}\n",
    )


@needs_kustomize
def test_options_without_enable_helm_leave_helm_charts_unrendered_with_argo_cds_reason(
    repo: Path,
) -> None:
    helm_chart_app(repo)
    options = "--load-restrictor LoadRestrictionsNone"
    write(repo / "argocd/argocd-cm.yaml", ARGOCD_CM.format(options=options))
    state = load_desired(["apps/web"])
    [entry] = state.unrendered
    assert entry.reason == (
        "apps/web/kustomization.yaml (`helmCharts`) inflates Helm charts, which Argo CD's "
        f"kustomize does not with the build options `{options}` (argocd/argocd-cm.yaml, "
        "ConfigMap argocd-cm): kustomize fails without --enable-helm"
    )
    assert helm_calls(repo) == []  # kustomize never ran


@needs_kustomize
def test_enable_helm_and_helm_flags_reach_kustomize_and_are_said_once(repo: Path) -> None:
    helm_chart_app(repo)
    local_chart(repo, "apps/api/charts")
    write(repo / "apps/api/kustomization.yaml", kustomization(chart("api")))
    options = "--enable-helm --helm-api-versions monitoring.coreos.com/v1 --enable-exec"
    write(repo / "argocd/argocd-cm.yaml", ARGOCD_CM.format(options=options))
    state = load_desired(["apps"])
    assert state.unrendered == ()
    assert sorted(state.services) == ["default/api", "default/web"]
    templates = [argv for argv in helm_calls(repo) if argv[0] == "template"]
    assert len(templates) == 2
    for argv in templates:  # kustomize hands the helm flag on to `helm template`
        assert argv[-2:] == ["--api-versions", "monitoring.coreos.com/v1"]
    said = [note for note in state.notes if "build options" in note]
    assert said == [
        (
            f"Argo CD's kustomize builds use the build options `{options}` (argocd/argocd-cm.yaml, "
            "ConfigMap argocd-cm); not passed to kustomize here: `--enable-exec`"
        )
    ]


@needs_kustomize
def test_without_options_in_the_repository_enable_helm_is_assumed_and_said(repo: Path) -> None:
    helm_chart_app(repo)
    state = load_desired(["apps/web"])
    assert list(state.services) == ["default/web"]
    [said] = [note for note in state.notes if "build options" in note]
    assert "are not written in the repository" in said
    assert "inflated with --enable-helm" in said
    assert said.endswith("pass --argocd-build-options '...' to say what yours are")


@needs_kustomize
def test_an_overlay_reading_files_outside_its_directory_builds_with_load_restrictions_none(
    repo: Path,
) -> None:
    overlay_reading_a_shared_patch(repo)
    with pytest.raises(ToolFailedError, match="is not in or below"):  # kustomize's default
        load_desired(["apps/dns/home"])
    write(repo / "argocd/values.yaml", f"configs:\n  cm:\n    kustomize.buildOptions: {OPTIONS}\n")
    state = load_desired(["apps/dns/home"])
    assert state.services["dns/dns-tcp"]["spec"]["externalTrafficPolicy"] == "Local"


@needs_kustomize
def test_load_restrictions_none_still_reads_nothing_outside_the_repository(
    repo: Path, tmp_path: Path
) -> None:
    overlay_reading_a_shared_patch(repo)
    write(tmp_path / "outside.yaml", SHARED_PATCH)
    write(
        repo / "apps/dns/home/kustomization.yaml",
        "resources: [../base]\npatches:\n  - path: ../../../../outside.yaml\n",
    )
    write(repo / "argocd/argocd-cm.yaml", ARGOCD_CM.format(options=OPTIONS))
    with pytest.raises(InputError, match="`../../../../outside.yaml`, which lies outside"):
        load_desired(["apps/dns/home"])


@needs_kustomize
def test_an_applications_kustomize_settings_build_with_the_options_too(repo: Path) -> None:
    """The rewritten copy of a kustomization (argocd_kustomize) is built with them as well."""
    overlay_reading_a_shared_patch(repo)
    git(repo, "remote", "add", "origin", "https://github.com/example/home.git")
    write(repo / "argocd/argocd-cm.yaml", ARGOCD_CM.format(options=OPTIONS))
    write(
        repo / "argocd/apps/dns.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: dns, namespace: "
        "argocd}\nspec:\n  source:\n    repoURL: https://github.com/example/home.git\n"
        "    path: apps/dns/home\n    kustomize: {namePrefix: home-}\n  destination:\n"
        "    server: https://kubernetes.default.svc\n    namespace: dns\n",
    )
    state = load_desired(["argocd/apps"])
    assert state.unrendered == ()
    assert state.services["dns/home-dns-tcp"]["spec"]["externalTrafficPolicy"] == "Local"


@needs_kustomize
def test_contradicting_options_take_none_and_leave_what_they_decide_unrendered(
    repo: Path,
) -> None:
    helm_chart_app(repo)
    overlay_reading_a_shared_patch(repo)
    write(repo / "apps/plain/kustomization.yaml", "resources: [service.yaml]\n")
    write(repo / "apps/plain/service.yaml", service_yaml("plain", "default", "192.168.10.60"))
    write(repo / "clusters/a/argocd-cm.yaml", ARGOCD_CM.format(options="--enable-helm"))
    write(repo / "clusters/b/argocd-cm.yaml", ARGOCD_CM.format(options=OPTIONS))
    state = load_desired(["apps/web", "apps/dns/home", "apps/plain"])
    assert list(state.services) == ["default/plain"]  # built with kustomize's defaults
    web, dns = state.unrendered
    assert web.reason.startswith("Argo CD's kustomize build options are written differently")
    assert dns.reason.startswith("kustomize's load restrictor refuses a file of it, and Argo CD's")
    assert helm_calls(repo) == []


@needs_kustomize
def test_the_command_line_wins_over_the_repository(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    helm_chart_app(repo)
    write(repo / "argocd/argocd-cm.yaml", ARGOCD_CM.format(options="--enable-helm"))
    live = write(repo.parent / "live.yaml", LIVE_EMPTY)
    given = ["--argocd-build-options", "--load-restrictor LoadRestrictionsNone"]
    assert main(["diff", "apps/web", "--live", str(live), *given, "--fail-on", "unrendered"]) == 3
    out = capsys.readouterr().out
    assert "1 kustomization not rendered" in out
    assert "with the build options `--load-restrictor LoadRestrictionsNone` " in out
    assert "(--argocd-build-options)" in out
    assert helm_calls(repo) == []


def test_options_that_cannot_be_split_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = write(tmp_path / "live.yaml", LIVE_EMPTY)
    service = write(tmp_path / "svc.yaml", service_yaml("web", "default"))
    argv = ["diff", str(service), "--live", str(live), "--argocd-build-options", '--enable-helm "']
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith('planner: error: --argocd-build-options: `--enable-helm "` cannot be')
