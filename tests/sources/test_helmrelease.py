"""Flux HelmReleases rendered as flux-local renders them, with the stand-in helm (tests/fakes/helm)
on PATH: the chart from the repository, valuesFrom then values in Flux's order, release name and
namespace; and one note per HelmRelease that cannot be rendered, never a silent pass."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from planner.cli import main
from planner.errors import InputError
from planner.pipeline import build_report
from planner.sources import load_desired
from planner.sources.helmrelease import _typed, merge_values
from planner.sources.live import LiveSource
from planner.tools import run_tool
from tests.conftest import SAMPLES
from tests.sources.conftest import FAKE_HELM, git, with_stand_in_helm, write

SECRET_VALUE = "s3cr3t-do-not-print"
HELM_REPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: flux-system}
spec: {url: https://charts.example.org}
"""

GIT_SOURCE = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {url: ssh://git@example.invalid/home-ops, ref: {branch: main}}
"""


def helmrelease(name: str = "dns", spec_extra: str = "", chart: str = "") -> str:
    chart = chart or (
        "  chart:\n    spec:\n      chart: ./charts/lb-service\n"
        "      sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}\n"
    )
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        f"metadata:\n  name: {name}\n  namespace: dns\nspec:\n  interval: 30m\n{chart}"
        "  values:\n    service:\n      loadBalancerIP: 192.168.10.53\n"
        "      ports: [{port: 53, protocol: UDP}]\n" + spec_extra
    )


@pytest.fixture
def repo(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the flux-system GitRepository and the lb-service chart, as the current
    directory, with the stand-in helm (logging its argv to helm.log) on PATH."""
    write(git_repo / "clusters/home/gotk-sync.yaml", GIT_SOURCE)
    return with_stand_in_helm(git_repo, tmp_path, monkeypatch)


def helm_calls(repo: Path) -> list[list[str]]:
    log = repo.parent / "helm.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_release_of_a_local_chart_renders_its_service(repo: Path) -> None:
    write(repo / "apps/dns/release.yaml", helmrelease())
    state = load_desired(["apps/dns"])
    service = state.services["dns/dns"]
    assert service["spec"]["loadBalancerIP"] == "192.168.10.53"
    [obj] = [o for o in state.objects if o.key.kind == "Service"]
    assert (obj.origin.file, obj.origin.document, obj.rendered_by) == (
        "apps/dns/release.yaml",
        0,
        "helm",
    )
    assert any(o.key.kind == "HelmRelease" for o in state.objects)  # diffed as written too
    [argv] = helm_calls(repo)
    assert argv[:3] == ["template", "dns", str((repo / "charts/lb-service").resolve())]
    assert argv[3:5] == ["--namespace", "dns"] and argv[5] == "--values"
    assert state.unrendered == ()


def test_target_namespace_and_release_name(repo: Path) -> None:
    write(repo / "apps/a.yaml", helmrelease("a", "  targetNamespace: edge\n"))
    write(repo / "apps/b.yaml", helmrelease("b", "  releaseName: bee\n"))
    state = load_desired(["apps"])
    assert {"edge/edge-a", "dns/bee"} <= set(state.services)
    assert [call[1] for call in helm_calls(repo)] == ["edge-a", "bee"]


def test_values_from_then_values_in_fluxs_order(repo: Path) -> None:
    secret_ip = base64.b64encode(b"192.168.10.99").decode()
    write(
        repo / "apps/dns/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: dns}\n"
        "data:\n  values.yaml: |\n    service:\n      type: LoadBalancer\n"
        "      annotations: {metallb.io/allow-shared-ip: dns}\n"
        "      externalTrafficPolicy: Local\n"
        "---\napiVersion: v1\nkind: Secret\nmetadata: {name: ip, namespace: dns}\n"
        f"data:\n  address: {secret_ip}\n",
    )
    values_from = (
        "  valuesFrom:\n    - {kind: ConfigMap, name: shared}\n"
        "    - {kind: Secret, name: ip, valuesKey: address, targetPath: service.loadBalancerIP}\n"
        "    - {kind: ConfigMap, name: shared, valuesKey: nope, optional: true}\n"
    )
    text = helmrelease(spec_extra=values_from).replace(
        "      loadBalancerIP: 192.168.10.53\n", "      externalTrafficPolicy: Cluster\n"
    )
    write(repo / "apps/dns/release.yaml", text)
    spec = load_desired(["apps/dns"]).services["dns/dns"]["spec"]
    assert spec["loadBalancerIP"] == "192.168.10.99"  # from the Secret, at its targetPath
    assert spec["externalTrafficPolicy"] == "Cluster"  # `values` wins over valuesFrom


def test_a_missing_key_that_is_not_optional_leaves_it_unrendered(repo: Path) -> None:
    write(
        repo / "apps/dns/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: dns}\ndata: {}\n",
    )
    write(
        repo / "apps/dns/release.yaml",
        helmrelease(spec_extra="  valuesFrom: [{kind: ConfigMap, name: shared}]\n"),
    )
    state = load_desired(["apps/dns"])
    assert "dns/dns" not in state.services
    [entry] = state.unrendered
    assert (entry.release, str(entry.origin)) == (
        "HelmRelease dns/dns",
        "apps/dns/release.yaml: document 1, line 1",
    )
    note = str(entry)
    assert "ConfigMap dns/shared has no key `values.yaml`" in note


def test_values_from_an_object_outside_the_repository_render_with_a_note(repo: Path) -> None:
    refs = "  valuesFrom: [{kind: Secret, name: sops-values}]\n"
    write(repo / "apps/dns/release.yaml", helmrelease(spec_extra=refs))
    state = load_desired(["apps/dns"])
    assert "dns/dns" in state.services
    [note] = [n for n in state.notes if "rendered without" in n]
    assert "Secret dns/sops-values" in note and "may differ" in note


@pytest.mark.parametrize(
    ("chart", "reason"),
    [
        (
            (
                "  chart:\n    spec:\n      chart: podinfo\n      version: 6.5.0\n"
                "      sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}\n"
            ),
            "its source HelmRepository flux-system/podinfo is not in the repository",
        ),
        (
            "  chartRef: {kind: OCIRepository, name: podinfo, namespace: flux-system}\n",
            "its chart source OCIRepository flux-system/podinfo is not in the repository",
        ),
        (
            (
                "  chart:\n    spec:\n      chart: ./charts/lb-service\n"
                "      sourceRef: {kind: GitRepository, name: other, namespace: flux-system}\n"
            ),
            "its source GitRepository flux-system/other is not in the repository",
        ),
        (
            (
                "  chart:\n    spec:\n      chart: ./charts/missing\n"
                "      sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}\n"
            ),
            "chart path `./charts/missing` of GitRepository flux-system/flux-system is not a chart",
        ),
    ],
)
def test_charts_that_are_not_in_the_repository_are_one_note_each(
    repo: Path, chart: str, reason: str
) -> None:
    write(repo / "apps/dns/release.yaml", helmrelease(chart=chart))
    state = load_desired(["apps/dns"])
    [entry] = state.unrendered
    note = str(entry)
    assert note.startswith("apps/dns/release.yaml: document 1, line 1: HelmRelease dns/dns not")
    assert reason in note and note.endswith("its Services were not checked")
    assert helm_calls(repo) == []


def test_without_helm_every_release_is_unrendered_and_fail_on_unrendered_blocks(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.parent / "bin" / "helm").unlink()
    write(repo / "apps/dns/release.yaml", helmrelease())
    live = write(repo.parent / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    # 0: a snapshot holding no HelmRelease cannot say the release is new (docs/diff.md)
    assert main(["diff", "apps/dns", "--live", str(live)]) == 0
    out = capsys.readouterr().out
    [note] = [line for line in out.splitlines() if "were not checked" in line]  # one note
    assert "HelmRelease dns/dns not rendered (helm is not on PATH)" in note
    assert out.splitlines()[0].endswith("1 HelmRelease not rendered (Services unchecked)")
    assert main(["diff", "apps/dns", "--live", str(live), "--fail-on", "unrendered"]) == 3
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "blocks: 1 HelmRelease not rendered (Services unchecked) (--fail-on unrendered)"


def test_secret_values_never_reach_the_output(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoded = base64.b64encode(f"password: {SECRET_VALUE}\n".encode()).decode()
    write(
        repo / "apps/dns/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: dns}\n"
        f"data:\n  values.yaml: {encoded}\n",
    )
    refs = "  valuesFrom: [{kind: Secret, name: creds}]\n"
    write(repo / "apps/dns/release.yaml", helmrelease(spec_extra=refs))
    live = write(repo.parent / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    main(["diff", "apps/dns", "--live", str(live), "-o", "json"])
    captured = capsys.readouterr()
    assert SECRET_VALUE not in captured.out + captured.err
    # a chart the stand-in does not know makes helm fail: its message is not shown either
    write(repo / "charts/lb-service/Chart.yaml", "apiVersion: v2\nname: unknown\nversion: 1\n")
    state = load_desired(["apps/dns"])
    [entry] = state.unrendered
    note = str(entry)
    assert "helm template failed;" not in note and "(helm template failed)" in note


def test_a_failing_chart_without_secrets_shows_helms_message(repo: Path) -> None:
    write(repo / "charts/lb-service/Chart.yaml", "apiVersion: v2\nname: unknown\nversion: 1\n")
    write(repo / "apps/dns/release.yaml", helmrelease())
    [entry] = load_desired(["apps/dns"]).unrendered
    note = str(entry)
    assert "does not know the chart unknown" in note


def test_an_unresolved_variable_reaching_a_service_names_the_helmrelease(repo: Path) -> None:
    write(
        repo / "clusters/home/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: apps, namespace: flux-system}\n"
        "spec:\n  path: ./apps\n  postBuild:\n    substituteFrom: [{kind: Secret, name: gone}]\n",
    )
    text = helmrelease().replace("192.168.10.53", "${DNS_IP}")
    write(repo / "apps/dns/release.yaml", text)
    with pytest.raises(InputError) as caught:
        load_desired(["apps/dns"])
    message = str(caught.value)
    assert message.startswith("apps/dns/release.yaml: document 1, line 14: `${DNS_IP}` in `spec`")
    assert "HelmRelease dns/dns" in message


def test_helms_merge_replaces_lists_and_merges_mappings() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge_values(base, {"a": {"c": [3]}, "e": 2}) == {
        "a": {"b": 1, "c": [3]},
        "d": 1,
        "e": 2,
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # not changed in place


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("53", 53),
        ("0", 0),
        ("053", "053"),
        ("true", True),
        ("null", None),
        ("'53'", "53"),
        ('"true"', "true"),
        ("192.168.10.53", "192.168.10.53"),
    ],
)
def test_a_target_path_value_is_typed_as_helm_controller_types_it(text: str, value: object) -> None:
    assert _typed(text) == value


REAL_HELM = shutil.which("helm")
SAMPLE_CHART = SAMPLES / "real-flux-helmrelease" / "repo" / "charts" / "lb-service"


@pytest.mark.skipif(REAL_HELM is None, reason="no real helm on PATH to compare the stand-in with")
def test_the_stand_in_renders_the_sample_chart_as_the_real_helm_does(tmp_path: Path) -> None:
    values = write(
        tmp_path / "values.yaml",
        "service:\n  annotations: {metallb.io/allow-shared-ip: dns}\n"
        "  externalTrafficPolicy: Local\n  loadBalancerIP: 192.168.10.53\n"
        "  selector: {app.kubernetes.io/name: coredns}\n"
        "  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 53}]\n",
    )
    args = ["template", "dns", str(SAMPLE_CHART), "--namespace", "dns", "--values", str(values)]
    real = run_tool([str(REAL_HELM), *args])
    stand_in = run_tool([sys.executable, str(FAKE_HELM), *args])
    assert [d for d in yaml.safe_load_all(real) if d] == [
        d for d in yaml.safe_load_all(stand_in) if d
    ]


@pytest.mark.skipif(REAL_HELM is None, reason="no real helm on PATH to compare the stand-in with")
def test_the_stand_in_renders_the_app_template_like_chart_as_the_real_helm_does(
    tmp_path: Path,
) -> None:
    chart = SAMPLES / "real-flux-remote-chart" / "registry" / "app-template" / "3.7.3"
    release = SAMPLES / "real-flux-remote-chart/commit/kubernetes/apps/network/blocky/app"
    [document] = yaml.safe_load_all((release / "helmrelease.yaml").read_text())
    values = write(tmp_path / "values.yaml", yaml.safe_dump(document["spec"]["values"]))
    args = ["template", "blocky", str(chart), "--namespace", "network", "--values", str(values)]
    real = run_tool([str(REAL_HELM), *args])
    stand_in = run_tool([sys.executable, str(FAKE_HELM), *args])
    assert [d for d in yaml.safe_load_all(real) if d] == [
        d for d in yaml.safe_load_all(stand_in) if d
    ]


def test_a_release_unrendered_at_the_git_ref_counts_too(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the commit the chart came from a HelmRepository (not fetched): the live Services
    are unknown, so the Service the commit renders must not pass as a silent creation."""
    remote = (
        "  chart:\n    spec:\n      chart: lb-service\n"
        "      sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}\n"
    )
    write(repo / "clusters/home/charts.yaml", HELM_REPOSITORY)
    write(repo / "apps/dns/release.yaml", helmrelease(chart=remote))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "remote chart")
    write(repo / "apps/dns/release.yaml", helmrelease())
    report = build_report(["apps/dns"], LiveSource.git("HEAD"))
    assert tuple(map(str, report.unrendered)) == (
        (
            "HEAD:apps/dns/release.yaml: document 1, line 1: HelmRelease dns/dns not rendered "
            "(chart lb-service * of https://charts.example.org (HelmRepository flux-system/charts) "
            "is not fetched; pass --fetch-charts to let helm fetch it); "
            "its Services were not checked"
        ),
    )
    assert main(["diff", "apps/dns", "--live-git", "HEAD", "--fail-on", "unrendered"]) == 3
    assert "1 HelmRelease not rendered" in capsys.readouterr().out.splitlines()[0]


LOCAL_CHART = (
    "chart: {spec: {chart: ./charts/lb-service, "
    "sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}}}"
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{chart: lb-service}", "`spec.chart` must be a mapping, not str"),
        ("{chart: {spec: {chart: ./c, sourceRef: [GitRepository]}}}", "`sourceRef` must be a"),
        (f"{{{LOCAL_CHART}, valuesFrom: {{kind: ConfigMap}}}}", "`spec.valuesFrom` must be a list"),
        (f"{{{LOCAL_CHART}, valuesFrom: [ConfigMap]}}", "an entry of `spec.valuesFrom` is not a"),
        (f"{{{LOCAL_CHART}, values: [1]}}", "`spec.values` must be a mapping, not list"),
        ("[1]", "the HelmRelease has no `spec` mapping"),
    ],
)
def test_a_malformed_helmrelease_is_one_line_naming_it(
    repo: Path, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        f"metadata: {{name: dns, namespace: dns}}\nspec: {spec}\n"
    )
    write(repo / "apps/dns/release.yaml", text)
    with pytest.raises(InputError) as caught:
        load_desired(["apps/dns"])
    assert str(caught.value).startswith("apps/dns/release.yaml: document 1, line 1: ")
    assert message in str(caught.value)
    live = write(repo.parent / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    assert main(["diff", "apps/dns", "--live", str(live)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
