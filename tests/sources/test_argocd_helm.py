"""An Argo CD Application whose source is a chart directory of this repository, with `helm`
settings: rendered as Argo CD's repo server renders it (release name, namespace, value files,
inline values, parameters), with the stand-in helm (tests/fakes/helm) on PATH; what cannot be
evaluated here is said and counted, never guessed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from planner.cli import main
from planner.sources import load_desired
from tests.conftest import SAMPLES
from tests.sources.conftest import git, with_stand_in_helm, write

REPO_URL = "https://github.com/example/home-ops.git"
PROD_VALUES = (
    "service:\n  loadBalancerIP: 192.168.10.53\n  externalTrafficPolicy: Cluster\n"
    "  annotations: {metallb.io/allow-shared-ip: dns}\n  ports: [{port: 53, protocol: UDP}]\n"
)


def application(helm: str, path: str = "charts/lb-service", extra_sources: str = "") -> str:
    """An Application syncing the chart with these `helm` settings (indented under `helm:`)."""
    source = f"  - repoURL: {REPO_URL}\n    path: {path}\n    targetRevision: HEAD\n" + (
        f"    helm:\n{helm}" if helm else ""
    )
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata: {name: dns-udp, namespace: argocd}\n"
        "spec:\n  project: home\n  sources:\n" + source + extra_sources + "  destination:\n"
        "    server: https://kubernetes.default.svc\n    namespace: dns\n"
    )


@pytest.fixture
def chart_repo(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with a remote, the lb-service chart and a prod values file, as the current
    directory, with the stand-in helm (logging its argv to helm.log) on PATH."""
    git(git_repo, "remote", "add", "origin", REPO_URL)
    write(git_repo / "charts/lb-service/values-prod.yaml", PROD_VALUES)
    return with_stand_in_helm(git_repo, tmp_path, monkeypatch)


def helm_argv(repo: Path) -> list[str]:
    [argv] = [json.loads(line) for line in (repo.parent / "helm.log").read_text().splitlines()]
    return list(argv)


def test_release_name_value_files_inline_values_and_parameters_render_as_argo_cd_does(
    chart_repo: Path,
) -> None:
    helm = (
        "      releaseName: dns\n"
        "      valueFiles: [values-prod.yaml, /charts/lb-service/values-prod.yaml, name.yaml]\n"
        "      valuesObject: {service: {name: dns-udp}}\n"
        "      values: 'service: {name: ignored}'\n"
        "      parameters:\n"
        "      - {name: service.externalTrafficPolicy, value: Local}\n"
        "      - {name: service.annotations.team, value: $ARGOCD_APP_NAMESPACE, forceString: true}\n"
    )
    write(chart_repo / "charts/lb-service/name.yaml", "service: {name: from-a-file}\n")
    write(chart_repo / "argo/dns.yaml", application(helm))
    state = load_desired(["argo"])
    assert state.unrendered == ()
    [service] = [obj.body for obj in state.objects if obj.key.kind == "Service"]
    assert service["metadata"]["name"] == "dns-udp"  # valuesObject over `values` and the files
    assert service["metadata"]["namespace"] == "dns"
    assert service["metadata"]["annotations"] == {
        "metallb.io/allow-shared-ip": "dns",
        "team": "dns",
    }
    assert service["spec"]["externalTrafficPolicy"] == "Local"  # a parameter over the values
    assert service["spec"]["loadBalancerIP"] == "192.168.10.53"
    argv = helm_argv(chart_repo)
    assert argv[:3] == ["template", "dns", str(chart_repo / "charts/lb-service")]
    assert argv.count("--values") == 3  # the file named twice passed once, then the inline one
    assert argv[argv.index("--values") + 1] == str(
        chart_repo / "charts/lb-service/values-prod.yaml"
    )
    assert argv[5:7] == ["--set", "service.externalTrafficPolicy=Local"]
    assert argv[7:9] == ["--set-string", "service.annotations.team=dns"]


def test_a_key_change_made_by_a_helm_parameter_is_found(chart_repo: Path) -> None:
    helm = "      valueFiles: [values-prod.yaml]\n"
    write(chart_repo / "argo/dns.yaml", application(helm))
    before = load_desired(["argo"]).services["dns/dns-udp"]
    helm += "      parameters: [{name: service.externalTrafficPolicy, value: Local}]\n"
    write(chart_repo / "argo/dns.yaml", application(helm))
    after = load_desired(["argo"]).services["dns/dns-udp"]
    assert before["spec"]["externalTrafficPolicy"] == "Cluster"
    assert after["spec"]["externalTrafficPolicy"] == "Local"


def test_a_ref_source_of_this_repository_lends_its_value_files(chart_repo: Path) -> None:
    write(chart_repo / "values/dns.yaml", PROD_VALUES)
    ref = f"  - repoURL: {REPO_URL}\n    targetRevision: HEAD\n    ref: config\n"
    write(
        chart_repo / "argo/dns.yaml",
        application("      valueFiles: [$config/values/dns.yaml]\n", extra_sources=ref),
    )
    state = load_desired(["argo"])
    assert state.unrendered == ()
    assert state.services["dns/dns-udp"]["spec"]["loadBalancerIP"] == "192.168.10.53"


def test_a_missing_value_file_is_skipped_only_when_argo_cd_skips_it(chart_repo: Path) -> None:
    helm = "      valueFiles: [values-prod.yaml, values-lab.yaml]\n"
    write(chart_repo / "argo/dns.yaml", application(helm))
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "its value file `values-lab.yaml` does not exist (Argo CD cannot render it)" in entry
    write(chart_repo / "argo/dns.yaml", application(helm + "      ignoreMissingValueFiles: true\n"))
    assert sorted(load_desired(["argo"]).services) == ["dns/dns-udp"]


@pytest.mark.parametrize(
    ("helm", "reason"),
    [
        ("      valueFiles: [https://example.com/v.yaml]\n", "is remote and not fetched"),
        ("      valueFiles: ['values-*.yaml']\n", "is a glob, not evaluated"),
        ("      valueFiles: [../../../etc/passwd]\n", "lies outside the repository"),
        ("      valueFiles: [$other/values.yaml]\n", "is in a `ref` source not read here"),
        (
            "      parameters: [{name: image.tag, value: $ARGOCD_APP_REVISION_SHORT}]\n",
            "names $ARGOCD_APP_REVISION_SHORT, the revision Argo CD syncs",
        ),
        ("      parameters: [{value: x}]\n", "a parameter has no name"),
        ("      parameters: [{name: a, value: 3}]\n", "`a` has a value that is not a string"),
        ("      fileParameters: [{name: a, path: gone.txt}]\n", "`gone.txt` does not exist"),
        ("      values: {service: {name: x}}\n", "`helm.values` is not a YAML text"),
    ],
)
def test_what_cannot_be_evaluated_is_said_and_counted(
    chart_repo: Path, helm: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "  - repoURL: https://github.com/example/other.git\n    ref: other\n"
    write(chart_repo / "argo/dns.yaml", application(helm, extra_sources=other))
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "Application argocd/dns-udp not followed" in entry and reason in entry
    assert not (chart_repo.parent / "helm.log").exists()  # nothing rendered with a guess
    live = str(SAMPLES / "seed-dns-local" / "live.yaml")
    assert main(["diff", "argo", "--live", live, "--fail-on", "unrendered"]) == 3
    assert "1 Application not followed (Services unchecked)" in capsys.readouterr().out


def test_helm_settings_on_a_directory_without_a_chart_are_not_followed(chart_repo: Path) -> None:
    shutil.copytree(SAMPLES / "seed-dns-local" / "desired", chart_repo / "apps/dns")
    write(chart_repo / "argo/dns.yaml", application("      releaseName: x\n", path="apps/dns"))
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "its source has `helm` settings, but `apps/dns` holds no Chart.yaml" in entry
