"""Kustomizations with `helmCharts`, built as Argo CD builds them with `--enable-helm`
(Vikaspogu/home-ops: every app is one, bjw-s `app-template` from an OCI repository).

The real `kubectl kustomize` (kustomize v5.5 here) runs the stand-in helm (tests/fakes/helm),
which records every argv kustomize gives it: these tests prove the flags kustomize is run with,
what it asks helm (`version`, `template` with the values it merged), that a local chart is
rendered with no pull, that a remote one is pulled once per run by the planner (never by
kustomize, never into the repository) and only with `--fetch-charts`, and every path that
leaves a build unrendered or stops. Not proven: that a real registry serves the same chart, nor
that bjw-s app-template renders as the stand-in's app-template-like chart does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import InputError, ToolMissingError
from planner.sources import HelmOptions, load_desired
from planner.sources.helm_fetch import ChartFetcher
from planner.sources.states import DesiredState
from tests.sources.conftest import APP_TEMPLATE, APP_VALUES, OCI, git, kustomize_available, write

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")

ASK = "pass --fetch-charts to let helm fetch it"
LB_VALUES = (
    "service:\n  app:\n    type: LoadBalancer\n"
    "    annotations: {metallb.io/loadBalancerIPs: 192.168.10.40}\n"
    "    ports:\n      http: {port: 8080}\n"
)


@pytest.fixture
def repo(chart_repo: Path) -> Path:
    """The stand-in helm's repository (tests/sources/conftest.py `chart_repo`)."""
    return chart_repo


def helm_calls(repo: Path) -> list[list[str]]:
    log = repo.parent / "helm.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def kustomization(*charts: str, extra: str = "") -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        + extra
        + ("helmCharts:\n" + "".join(charts))
    )


def chart(release: str, repo: str = "", version: str = "", fields: str = "") -> str:
    """One `helmCharts` entry of app-template."""
    text = f"  - name: app-template\n    releaseName: {release}\n    namespace: default\n"
    text += f"    repo: {repo}\n" if repo else ""
    text += f"    version: '{version}'\n" if version else ""
    return text + fields


def local_chart(repo: Path, home: str = "apps/web/charts") -> None:
    write(repo / home / "app-template/Chart.yaml", APP_TEMPLATE.format(version="4.0.0"))
    write(repo / home / "app-template/values.yaml", APP_VALUES)


def fetching(paths: list[str]) -> DesiredState:
    with ChartFetcher() as charts:
        return load_desired(paths, helm=HelmOptions(charts=charts))


def tree(repo: Path) -> list[str]:
    """Every path of the work tree (not .git): what the build must not change."""
    return sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts)


# --- a chart in the repository -------------------------------------------------------------------


def test_a_local_chart_is_inflated_with_enable_helm_and_the_helm_on_path(repo: Path) -> None:
    local_chart(repo)
    write(repo / "apps/web/values.yaml", LB_VALUES)
    fields = "    valuesFile: values.yaml\n    includeCRDs: true\n"
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", fields=fields)))
    state = load_desired(["apps/web"])
    assert state.unrendered == ()
    spec = state.services["default/web"]["spec"]
    assert spec["type"] == "LoadBalancer" and spec["ports"][0]["port"] == 8080
    version, template = helm_calls(repo)
    assert version == ["version", "-c", "--short"]  # kustomize asks for helm 3 first
    assert template[:3] == ["template", "web", str(repo / "apps/web/charts/app-template")]
    assert template[3:6] == ["--namespace", "default", "-f"]
    assert template[6].endswith("/app-template-kustomize-values.yaml")  # kustomize's own copy
    assert template[7:] == ["--include-crds"]


def test_inline_values_and_additional_files_in_a_chart_home_of_its_own(repo: Path) -> None:
    local_chart(repo, "apps/web/vendor")
    write(repo / "apps/web/extra.yaml", "service: {app: {externalTrafficPolicy: Local}}\n")
    fields = (
        "    valuesInline: {service: {app: {type: LoadBalancer}}}\n"
        "    additionalValuesFiles: [extra.yaml]\n"
    )
    globals_ = "helmGlobals: {chartHome: vendor}\n"
    text = kustomization(chart("web", fields=fields), extra=globals_)
    write(repo / "apps/web/kustomization.yaml", text)
    spec = load_desired(["apps/web"]).services["default/web"]["spec"]
    assert (spec["type"], spec["externalTrafficPolicy"]) == ("LoadBalancer", "Local")
    [template] = [argv for argv in helm_calls(repo) if argv[0] == "template"]
    assert template[2] == str(repo / "apps/web/vendor/app-template")
    assert template[-2:] == ["-f", str(repo / "apps/web/extra.yaml")]


def test_a_chart_with_repo_already_in_its_versioned_home_is_not_pulled(repo: Path) -> None:
    local_chart(repo, "apps/web/charts/app-template-5.1.0")
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", OCI, "5.1.0")))
    state = load_desired(["apps/web"])  # no --fetch-charts: nothing to fetch
    assert list(state.services) == ["default/web"]
    assert [argv[0] for argv in helm_calls(repo)] == ["version", "template"]


def test_without_helm_one_line_names_the_kustomization(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.parent / "bin/helm").unlink()
    local_chart(repo)
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web")))
    with pytest.raises(ToolMissingError, match="Helm charts .`helmCharts`. of `apps/web`"):
        load_desired(["apps/web"])
    live = write(repo.parent / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    assert main(["diff", "apps/web", "--live", str(live)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "`helm` was not found on PATH" in line and "apps/web" in line


# --- a chart from its repository -----------------------------------------------------------------


def test_a_remote_chart_without_the_flag_is_unrendered_and_says_how_to_ask(repo: Path) -> None:
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", OCI, "5.1.0")))
    [entry] = load_desired(["apps/web"]).unrendered
    assert entry.reason == (
        "apps/web/kustomization.yaml (`helmCharts` app-template) names the Helm chart "
        f"app-template 5.1.0 of {OCI}, which is not in the repository; {ASK}"
    )
    assert helm_calls(repo) == []


def test_remote_charts_are_pulled_once_by_the_planner_and_laid_out_for_kustomize(
    repo: Path,
) -> None:
    """components/default of Vikaspogu/home-ops: a namespace's kustomization listing its apps,
    each inflating app-template from the OCI repository with its own values file."""
    apps = ["atuin", "actual"]
    listing = "resources:\n" + "".join(f"  - ./{app}\n" for app in apps)
    write(repo / "components/default/kustomization.yaml", listing)
    for app in apps:
        fields = "    valuesFile: values.yaml\n"
        text = kustomization(chart(app, OCI, "5.1.0", fields), extra="resources: [route.yaml]\n")
        write(repo / f"components/default/{app}/kustomization.yaml", text)
        write(repo / f"components/default/{app}/values.yaml", LB_VALUES)
        write(repo / f"components/default/{app}/route.yaml", "apiVersion: v1\nkind: ConfigMap\n"
              f"metadata: {{name: {app}-route, namespace: default}}\n")  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "apps")
    before = tree(repo)
    state = fetching(["components/default"])
    assert state.unrendered == ()
    assert sorted(state.services) == ["default/actual", "default/atuin"]
    calls = helm_calls(repo)
    [pull] = [argv for argv in calls if argv[0] == "pull"]  # one pull, the planner's
    assert pull[:4] == ["pull", f"{OCI}/app-template", "--version", "5.1.0"]
    assert pull[4] == "--destination" and "planner-charts-" in pull[5]
    templates = [argv for argv in calls if argv[0] == "template"]
    assert [argv[1] for argv in templates] == apps  # in the order kustomize lists them
    for argv in templates:  # where kustomize looks for a chart with repo and version
        assert argv[2].endswith(
            f"/components/default/{argv[1]}/charts/app-template-5.1.0/app-template"
        )
        assert "shared-ip-planner-kustomize-" in argv[2]  # in the private copy
    assert tree(repo) == before and git(repo, "status", "--porcelain") == ""
    assert not list(repo.parent.glob("planner-charts-*"))
    assert not list(repo.parent.glob("shared-ip-planner-kustomize-*"))
    notes = [n for n in state.notes if "rendered from" in n]
    assert notes == [
        f"components/default/{app}/kustomization.yaml (`helmCharts` app-template): rendered "
        f"from app-template 5.1.0 fetched by helm from {OCI}"
        for app in sorted(apps)
    ]


def test_a_chart_home_beside_an_included_kustomization_is_laid_out_in_the_copy(
    repo: Path,
) -> None:
    """`chartHome: ../charts` of a kustomization the build includes (a link in the copy): were
    it left a link, kustomize would look for the chart in the repository, and pull it there."""
    write(repo / "apps/kustomization.yaml", "resources: [./web]\n")
    write(repo / "apps/web/values.yaml", LB_VALUES)
    fields = "    valuesFile: values.yaml\n"
    globals_ = "helmGlobals: {chartHome: ../charts}\n"
    text = kustomization(chart("web", OCI, "5.1.0", fields), extra=globals_)
    write(repo / "apps/web/kustomization.yaml", text)
    before = tree(repo)
    state = fetching(["apps"])
    assert state.unrendered == () and list(state.services) == ["default/web"]
    [template] = [argv for argv in helm_calls(repo) if argv[0] == "template"]
    assert template[2].endswith("/repo/apps/charts/app-template-5.1.0/app-template")
    assert "shared-ip-planner-kustomize-" in template[2]
    assert [argv[0] for argv in helm_calls(repo)].count("pull") == 1
    assert tree(repo) == before


def test_a_chart_helm_cannot_pull_leaves_the_build_unrendered_with_helms_reason(
    repo: Path,
) -> None:
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", OCI, "9.9.9")))
    [entry] = fetching(["apps/web"]).unrendered
    assert entry.reason.startswith(
        "apps/web/kustomization.yaml (`helmCharts` app-template) names the Helm chart "
        f'app-template 9.9.9 of {OCI}: helm pull failed: Error: chart "app-template" version'
    )
    assert [argv[0] for argv in helm_calls(repo)] == ["pull"]


# --- paths an entry reads --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "globals_", "message"),
    [
        (
            "    valuesFile: ../../../escape.yaml\n",
            "",
            (
                "apps/web/kustomization.yaml (`helmCharts` app-template) names "
                "`../../../escape.yaml`, which lies outside the repository"
            ),
        ),
        (
            "    additionalValuesFiles: [/etc/passwd]\n",
            "",
            (
                "apps/web/kustomization.yaml (`helmCharts` app-template) names `/etc/passwd`, "
                "which lies outside the repository"
            ),
        ),
        (
            "",
            "helmGlobals: {chartHome: /opt/charts}\n",
            (
                "apps/web/kustomization.yaml (`chartHome`) names `/opt/charts`, which lies outside "
                "the repository"
            ),
        ),
        (
            "",
            "",
            (
                "apps/web/kustomization.yaml (`helmCharts` app-template) names no `repo`, and the "
                "chart is not at `charts/app-template`; kustomize cannot build it (nor can Argo CD)"
            ),
        ),
    ],
)
def test_a_path_out_of_the_repository_or_a_missing_chart_is_one_line(
    repo: Path, fields: str, globals_: str, message: str
) -> None:
    text = kustomization(chart("web", fields=fields), extra=globals_)
    write(repo / "apps/web/kustomization.yaml", text)
    with pytest.raises(InputError) as caught:
        load_desired(["apps/web"])
    assert str(caught.value) == message
    assert helm_calls(repo) == []


def test_a_remote_values_file_is_unrendered(repo: Path) -> None:
    local_chart(repo)
    fields = "    valuesFile: https://example.org/values.yaml\n"
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", fields=fields)))
    [entry] = fetching(["apps/web"]).unrendered
    assert entry.reason == (
        "apps/web/kustomization.yaml (`helmCharts` app-template) reads the remote "
        "`https://example.org/values.yaml`, which the planner does not fetch"
    )
    assert helm_calls(repo) == []


# --- builds that do not inflate ------------------------------------------------------------------


def test_a_kustomization_flux_builds_is_not_inflated(repo: Path) -> None:
    """kustomize-controller builds with kustomize's plugins disabled: no `--enable-helm`."""
    local_chart(repo)
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web")))
    write(
        repo / "flux/web.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: web, namespace: flux-system}\n"
        "spec: {path: ./apps/web, sourceRef: {kind: GitRepository, name: flux-system}}\n",
    )
    [entry] = load_desired(["apps/web", "flux"]).unrendered
    assert entry.reason == (
        "apps/web/kustomization.yaml (`helmCharts`) inflates Helm charts, which Flux's "
        "kustomize-controller does not (it builds without --enable-helm)"
    )
    assert helm_calls(repo) == []


def test_a_flux_annotation_alone_does_not_make_it_a_flux_build(repo: Path) -> None:
    """Vikaspogu/home-ops annotates generated objects `kustomize.toolkit.fluxcd.io/substitute:
    disabled`, which passes the byte prefilter of Flux builds; no Flux Kustomization builds it."""
    local_chart(repo)
    extra = (
        "generatorOptions:\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n"
    )
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web"), extra=extra))
    git(repo, "add", "-A")
    state = load_desired(["apps/web"])
    assert state.unrendered == () and list(state.services) == ["default/web"]


# --- through an Argo CD Application --------------------------------------------------------------

REPO_URL = "https://github.com/example/home-ops.git"


def application(kustomize: str) -> str:
    """An Argo CD Application syncing apps/web with these `kustomize` settings."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata: {name: web, namespace: argocd}\n"
        f"spec:\n  project: home\n  source:\n    repoURL: {REPO_URL}\n    path: apps/web\n"
        f"    targetRevision: HEAD\n    kustomize:\n{kustomize}"
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: default\n"
    )


def test_an_application_with_kustomize_settings_inflates_its_remote_chart_in_one_copy(
    repo: Path,
) -> None:
    """Argo CD's `kustomize edit` rewrite and the pulled chart meet in one private copy."""
    git(repo, "remote", "add", "origin", REPO_URL)
    write(repo / "apps/web/values.yaml", LB_VALUES)
    fields = "    valuesFile: values.yaml\n"
    write(repo / "apps/web/kustomization.yaml", kustomization(chart("web", OCI, "5.1.0", fields)))
    write(repo / "argo/web.yaml", application("      namePrefix: home-\n"))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "web")
    state = fetching(["argo"])
    assert state.unrendered == ()
    assert state.services["default/home-web"]["spec"]["type"] == "LoadBalancer"
    assert git(repo, "status", "--porcelain", "--ignored") == ""
