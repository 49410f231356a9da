"""Remote Helm charts (`--fetch-charts`): HelmReleases of a HelmRepository, an OCIRepository or a
HelmChart, and Argo CD Applications with a `chart:` source, pulled by helm once per run and
rendered from the pulled archive; what cannot be pulled as Flux or Argo CD pulls it stays
unrendered with the reason, and without the flag helm pulls nothing.

The stand-in helm (tests/fakes/helm) serves fake repositories from directories ($FAKE_HELM_REPOS):
these tests prove the argv the planner gives helm, the version resolution it leaves to helm, the
once-per-run pull and every unrendered path; not that a real registry answers the same.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import ToolMissingError
from planner.pipeline import DiffOptions, build_report
from planner.sources import HelmOptions, load_desired
from planner.sources.helm_fetch import ChartFetcher, FetchFailed, RemoteChart
from planner.sources.live import LiveSource
from planner.sources.states import DesiredState
from tests.sources.conftest import git, with_stand_in_helm, write

HTTP = "https://charts.example.org"
OCI = "oci://registry.example.org/charts"
DIGEST = "sha256:" + "ab" * 32
VERSIONS = ("1.0.0", "1.2.0", "2.0.0", "2.1.0-rc.1")
ASK = "pass --fetch-charts to let helm fetch it"
SECRET_VALUE = "s3cr3t-do-not-print"
REPO_URL = "https://github.com/example/home-ops.git"


@pytest.fixture
def repo(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository as the current directory, the stand-in helm on PATH (logging to helm.log)
    serving lb-service in VERSIONS (1.2.0 also by DIGEST, 1.0.0 with a values-prod.yaml) at HTTP
    and OCI; pulled charts go below tmp_path (tempfile.tempdir), to see them removed."""
    served = tmp_path / "served"
    for version in VERSIONS:
        chart = served / "lb-service" / version
        write(chart / "Chart.yaml", f"apiVersion: v2\nname: lb-service\nversion: {version}\n")
        write(chart / "values.yaml", "service:\n  type: LoadBalancer\n  ports: []\n")
    write(served / "lb-service/1.2.0/.digest", DIGEST)
    write(served / "lb-service/1.0.0/values-prod.yaml", "service: {loadBalancerIP: 192.168.10.9}\n")
    monkeypatch.setenv("FAKE_HELM_REPOS", json.dumps({HTTP: str(served), OCI: str(served)}))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return with_stand_in_helm(git_repo, tmp_path, monkeypatch)


def helm_calls(repo: Path) -> list[list[str]]:
    log = repo.parent / "helm.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def pulls(repo: Path) -> list[list[str]]:
    """The `helm pull` argv without the private destination (its last two words)."""
    calls = [argv for argv in helm_calls(repo) if argv[0] == "pull"]
    for argv in calls:
        assert argv[-2] == "--destination" and "planner-charts-" in argv[-1]
    return [argv[:-2] for argv in calls]


def fetching(paths: list[str]) -> DesiredState:
    """load_desired with --fetch-charts; the pulled charts are removed at the end."""
    with ChartFetcher() as charts:
        return load_desired(paths, helm=HelmOptions(charts=charts))


def no_scratch_left(repo: Path) -> bool:
    return list(repo.parent.glob("planner-charts-*")) == []


# --- Flux ----------------------------------------------------------------------------------------


def release(chart: str, name: str = "dns", extra: str = "") -> str:
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        f"metadata: {{name: {name}, namespace: dns}}\nspec:\n  interval: 30m\n{chart}"
        f"  values:\n    service: {{name: {name}, loadBalancerIP: 192.168.10.53}}\n{extra}"
    )


def helm_repository(spec: str, name: str = "charts") -> str:
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        f"metadata: {{name: {name}, namespace: flux-system}}\nspec: {spec}\n"
    )


def oci_repository(spec: str) -> str:
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\n"
        f"metadata: {{name: lb, namespace: dns}}\nspec: {spec}\n"
    )


def from_helm_repository(version: str = "", extra: str = "", name: str = "charts") -> str:
    pinned = f"      version: '{version}'\n" if version else ""
    return (
        f"  chart:\n    spec:\n      chart: lb-service\n{pinned}{extra}"
        f"      sourceRef: {{kind: HelmRepository, name: {name}, namespace: flux-system}}\n"
    )


OCI_REF = "  chartRef: {kind: OCIRepository, name: lb}\n"


@pytest.mark.parametrize(
    ("sources", "chart", "want_pull", "version"),
    [
        (  # a semver range: helm resolves the newest match, as helm-controller does
            helm_repository(f"{{url: {HTTP}}}"),
            from_helm_repository(">=1.0.0 <2.0.0"),
            ["pull", "lb-service", "--repo", HTTP, "--version", ">=1.0.0 <2.0.0"],
            "1.2.0",
        ),
        (  # no version: helm-controller's default `*`, the newest stable one
            helm_repository(f"{{url: {HTTP}}}"),
            from_helm_repository(),
            ["pull", "lb-service", "--repo", HTTP, "--version", "*"],
            "2.0.0",
        ),
        (  # a HelmRepository of type oci: the chart lies under its URL
            helm_repository(f"{{type: oci, url: {OCI}}}"),
            from_helm_repository("1.0.0"),
            ["pull", f"{OCI}/lb-service", "--version", "1.0.0"],
            "1.0.0",
        ),
        (  # chartRef to a HelmChart whose source is a HelmRepository
            helm_repository(f"{{url: {HTTP}}}")
            + "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmChart\n"
            "metadata: {name: lb, namespace: dns}\nspec: {chart: lb-service, version: 1.x, "
            "sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}}\n",
            "  chartRef: {kind: HelmChart, name: lb}\n",
            ["pull", "lb-service", "--repo", HTTP, "--version", "1.x"],
            "1.2.0",
        ),
        (
            oci_repository(f"{{url: {OCI}/lb-service, ref: {{tag: 1.0.0}}}}"),
            OCI_REF,
            ["pull", f"{OCI}/lb-service", "--version", "1.0.0"],
            "1.0.0",
        ),
        (  # semver wins over tag
            oci_repository(f"{{url: {OCI}/lb-service, ref: {{tag: 1.0.0, semver: '^1.0'}}}}"),
            OCI_REF,
            ["pull", f"{OCI}/lb-service", "--version", "^1.0"],
            "1.2.0",
        ),
        (  # a digest wins over both, written as helm (3.18+) takes it: in the reference
            oci_repository(f"{{url: {OCI}/lb-service, ref: {{semver: '*', digest: '{DIGEST}'}}}}"),
            OCI_REF,
            ["pull", f"{OCI}/lb-service@{DIGEST}"],
            "1.2.0",
        ),
    ],
)
def test_a_release_of_a_remote_chart_renders_from_what_helm_pulled(
    repo: Path, sources: str, chart: str, want_pull: list[str], version: str
) -> None:
    write(repo / "apps/dns/sources.yaml", sources)
    write(repo / "apps/dns/release.yaml", release(chart))
    state = fetching(["apps/dns"])
    assert state.unrendered == ()
    assert state.services["dns/dns"]["spec"]["loadBalancerIP"] == "192.168.10.53"
    assert pulls(repo) == [want_pull]
    [template] = [argv for argv in helm_calls(repo) if argv[0] == "template"]
    assert template[1] == "dns" and template[2].endswith(f"/lb-service-{version}.tgz")
    repository = OCI if want_pull[1].startswith("oci://") else HTTP
    [note] = [n for n in state.notes if "rendered from" in n]
    assert note.endswith(
        f"HelmRelease dns/dns rendered from lb-service {version} fetched by helm from {repository}"
    )
    assert no_scratch_left(repo)


def test_one_chart_is_pulled_once_and_rendered_for_every_release(repo: Path) -> None:
    write(repo / "apps/dns/sources.yaml", helm_repository(f"{{url: {HTTP}}}"))
    for name in ("dns-a", "dns-b"):
        write(repo / f"apps/dns/{name}.yaml", release(from_helm_repository("1.0.0"), name))
    write(repo / "apps/dns/dns-c.yaml", release(from_helm_repository("2.0.0"), "dns-c"))
    state = fetching(["apps/dns"])
    assert sorted(state.services) == ["dns/dns-a", "dns/dns-b", "dns/dns-c"]
    assert [argv[-1] for argv in pulls(repo)] == ["1.0.0", "2.0.0"]
    assert [argv[1] for argv in helm_calls(repo) if argv[0] == "template"] == [
        "dns-a",
        "dns-b",
        "dns-c",
    ]


def test_with_live_git_both_refs_share_one_pull(repo: Path) -> None:
    write(repo / "apps/dns/sources.yaml", helm_repository(f"{{url: {HTTP}}}"))
    write(repo / "apps/dns/release.yaml", release(from_helm_repository("1.0.0")))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dns")
    local = "  values:\n    service: {name: dns, loadBalancerIP: 192.168.10.53, "
    write(
        repo / "apps/dns/release.yaml",
        release(from_helm_repository("1.0.0")).replace(
            local.rstrip(", "), local + "externalTrafficPolicy: Local"
        ),
    )
    with ChartFetcher() as charts:
        options = DiffOptions(helm=HelmOptions(charts=charts))
        report = build_report(["apps/dns"], LiveSource.git("HEAD"), options)
    assert report.unrendered == ()
    changed = {(c.key.kind, c.key.name) for c in report.changes if c.changed}
    assert changed == {("HelmRelease", "dns"), ("Service", "dns")}
    assert len(pulls(repo)) == 1
    assert [argv[0] for argv in helm_calls(repo)] == ["pull", "template", "template"]


def test_without_the_flag_nothing_is_pulled_and_the_note_says_how_to_ask(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "apps/dns/sources.yaml", oci_repository(f"{{url: {OCI}/lb-service}}"))
    write(repo / "apps/dns/release.yaml", release(OCI_REF))
    [entry] = load_desired(["apps/dns"]).unrendered
    assert str(entry) == (
        "apps/dns/release.yaml: document 1, line 1: HelmRelease dns/dns not rendered (chart "
        f"lb-service latest of {OCI} (OCIRepository dns/lb) is not fetched; {ASK}); "
        "its Services were not checked"
    )
    live = write(repo.parent / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    assert main(["diff", "apps/dns", "--live", str(live), "--fail-on", "unrendered"]) == 3
    assert helm_calls(repo) == []  # helm is not even asked
    # the same command asks helm with the flag; the tag `latest` is helm's to refuse or not
    main(["diff", "apps/dns", "--live", str(live), "--fetch-charts"])
    assert pulls(repo) == [["pull", f"{OCI}/lb-service", "--version", "latest"]]
    assert "helm pull failed: Error: improper constraint: latest" in capsys.readouterr().out
    assert no_scratch_left(repo)


@pytest.mark.parametrize(
    ("sources", "chart", "reason"),
    [
        (
            helm_repository(f"{{url: {HTTP}, secretRef: {{name: creds}}}}"),
            from_helm_repository("1.0.0"),
            (
                "HelmRepository flux-system/charts needs credentials (`secretRef`) the planner "
                "does not know; not fetched"
            ),
        ),
        (
            helm_repository(f"{{url: {HTTP}, certSecretRef: {{name: ca}}}}"),
            from_helm_repository("1.0.0"),
            "needs TLS certificates (`certSecretRef`)",
        ),
        (
            oci_repository(f"{{url: {OCI}/lb-service, provider: aws}}"),
            OCI_REF,
            "OCIRepository dns/lb logs in through the `aws` provider; not fetched",
        ),
        (
            helm_repository(f"{{type: oci, url: {OCI}, insecure: true}}"),
            from_helm_repository("1.0.0"),
            "is reached over plain HTTP (`insecure`); not fetched",
        ),
        (
            helm_repository(f"{{url: {HTTP}}}"),
            from_helm_repository("1.0.0", "      valuesFiles: [values-prod.yaml]\n"),
            "the `valuesFiles` of its chart from HelmRepository flux-system/charts are not",
        ),
        (
            oci_repository(f"{{url: {OCI}/lb-service, ref: {{semver: '*', semverFilter: '.*'}}}}"),
            OCI_REF,
            "filters tags with `semverFilter`, which helm cannot apply",
        ),
        (
            oci_repository(f"{{url: {OCI}/lb-service, layerSelector: {{mediaType: text/yaml}}}}"),
            OCI_REF,
            "selects the layer `text/yaml`, not a Helm chart",
        ),
        (
            oci_repository("{url: https://registry.example.org/charts/lb-service}"),
            OCI_REF,
            "has no `spec.url` of the form oci://REGISTRY/CHART",
        ),
        (
            helm_repository(f"{{type: oci, url: {HTTP}}}"),
            from_helm_repository("1.0.0"),
            "is of type oci, but its URL does not start with oci://",
        ),
        (
            helm_repository(f"{{url: {HTTP}}}"),
            from_helm_repository("9.9.9"),
            f'helm pull failed: Error: chart "lb-service" version "9.9.9" not found in {HTTP}',
        ),
        (
            helm_repository(f"{{url: 'https://bot:{SECRET_VALUE}@charts.example.org'}}"),
            from_helm_repository("1.0.0"),
            (
                f"chart lb-service 1.0.0 of {HTTP} (HelmRepository flux-system/charts): its "
                "repository URL carries credentials, which are not given to helm"
            ),
        ),
    ],
)
def test_what_helm_cannot_pull_as_flux_does_stays_unrendered_with_the_reason(
    repo: Path, sources: str, chart: str, reason: str
) -> None:
    write(repo / "apps/dns/sources.yaml", sources)
    write(repo / "apps/dns/release.yaml", release(chart))
    [entry] = fetching(["apps/dns"]).unrendered
    assert reason in str(entry) and SECRET_VALUE not in str(entry)
    assert [argv[0] for argv in helm_calls(repo)] == (["pull"] if "helm pull" in reason else [])


def test_a_failing_pull_hides_helms_message_when_a_secret_gave_values(repo: Path) -> None:
    encoded = base64.b64encode(f"password: {SECRET_VALUE}\n".encode()).decode()
    write(
        repo / "apps/dns/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: dns}\n"
        f"data:\n  values.yaml: {encoded}\n",
    )
    write(repo / "apps/dns/sources.yaml", helm_repository(f"{{url: {HTTP}}}"))
    refs = "  valuesFrom: [{kind: Secret, name: creds}]\n"
    write(repo / "apps/dns/release.yaml", release(from_helm_repository("9.9.9"), extra=refs))
    [entry] = fetching(["apps/dns"]).unrendered
    assert str(entry).endswith(
        f"(chart lb-service 9.9.9 of {HTTP} (HelmRepository flux-system/charts): helm pull "
        "failed); its Services were not checked"
    )


def test_without_helm_a_remote_chart_is_unrendered_as_a_local_one_is(repo: Path) -> None:
    (repo.parent / "bin" / "helm").unlink()
    write(repo / "apps/dns/sources.yaml", helm_repository(f"{{url: {HTTP}}}"))
    write(repo / "apps/dns/release.yaml", release(from_helm_repository("1.0.0")))
    [entry] = fetching(["apps/dns"]).unrendered
    assert "HelmRelease dns/dns not rendered (helm is not on PATH)" in str(entry)


def test_the_pull_argv_of_each_kind_of_repository() -> None:
    assert RemoteChart(HTTP, "lb", "1.x").pull_argv("helm", "/d") == [
        "helm", "pull", "lb", "--repo", HTTP, "--version", "1.x", "--destination", "/d",
    ]  # fmt: skip
    assert RemoteChart(OCI + "/", "lb", "*", DIGEST).pull_argv("helm", "/d") == [
        "helm", "pull", f"{OCI}/lb@{DIGEST}", "--destination", "/d",
    ]  # fmt: skip
    assert str(RemoteChart("https://u:p@h.example/c", "lb", "1")) == "lb 1 of https://h.example/c"


# --- Argo CD -------------------------------------------------------------------------------------


def application(
    name: str = "dns",
    url: str = HTTP,
    revision: str = "1.0.0",
    helm: str = "",
    sources: str = "",
) -> str:
    source = (
        f"  source:\n    repoURL: {url}\n    chart: lb-service\n    targetRevision: {revision}\n"
        + (f"    helm:\n{helm}" if helm else "")
    )
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        f"metadata:\n  name: {name}\n  namespace: argocd\n"
        f"spec:\n  project: default\n{sources or source}"
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: dns\n"
    )


VALUES_OBJECT = "      valuesObject: {service: {loadBalancerIP: 192.168.10.53}}\n"


@pytest.mark.parametrize(
    ("url", "want_reference", "repository"),
    [
        (HTTP, ["lb-service", "--repo", HTTP], HTTP),
        (OCI, [f"{OCI}/lb-service"], OCI),
        # Argo CD's classic form: an OCI registry written without a scheme
        ("registry.example.org/charts", [f"{OCI}/lb-service"], OCI),
    ],
)
def test_an_application_of_a_remote_chart_renders_it_with_its_helm_settings(
    repo: Path, url: str, want_reference: list[str], repository: str
) -> None:
    helm = VALUES_OBJECT + "      releaseName: coredns\n"
    write(repo / "argo/dns.yaml", application(url=url, helm=helm))
    state = fetching(["argo"])
    assert state.unrendered == ()
    service = state.services["dns/coredns"]
    assert service["spec"]["loadBalancerIP"] == "192.168.10.53"
    assert pulls(repo) == [["pull", *want_reference, "--version", "1.0.0"]]
    [template] = [argv for argv in helm_calls(repo) if argv[0] == "template"]
    assert template[1:2] == ["coredns"] and template[2].endswith("/lb-service-1.0.0.tgz")
    assert template[3:5] == ["--namespace", "dns"]
    [note] = [n for n in state.notes if "rendered from" in n]
    assert note == (
        "argo/dns.yaml: document 1, line 1: Application argocd/dns rendered from lb-service "
        f"1.0.0 fetched by helm from {repository}"
    )


def oci_source(path: str, revision: str) -> str:
    """Argo CD 3.1's OCI source: the artifact itself, no `chart`."""
    return (
        f"  source:\n    repoURL: {OCI}/lb-service\n    path: {path}\n"
        f"    targetRevision: '{revision}'\n    helm:\n{VALUES_OBJECT}"
    )


@pytest.mark.parametrize(
    ("revision", "want_pull"),
    [
        ("1.2.0", ["pull", f"{OCI}/lb-service", "--version", "1.2.0"]),
        (DIGEST, ["pull", f"{OCI}/lb-service@{DIGEST}"]),
    ],
)
def test_an_oci_source_without_chart_is_the_chart_itself(
    repo: Path, revision: str, want_pull: list[str]
) -> None:
    write(repo / "argo/dns.yaml", application(sources=oci_source(".", revision)))
    state = fetching(["argo"])
    assert state.unrendered == ()
    assert state.services["dns/dns"]["spec"]["loadBalancerIP"] == "192.168.10.53"
    assert pulls(repo) == [want_pull]
    assert any("rendered from lb-service 1.2.0 fetched by helm from" in n for n in state.notes)


def test_value_files_come_from_the_pulled_chart_or_a_ref_source_of_this_repository(
    repo: Path,
) -> None:
    git(repo, "remote", "add", "origin", REPO_URL)
    write(repo / "values/dns.yaml", "service: {externalTrafficPolicy: Local}\n")
    sources = (
        "  sources:\n"
        f"  - repoURL: {HTTP}\n    chart: lb-service\n    targetRevision: 1.0.0\n"
        "    helm: {valueFiles: [values-prod.yaml, $values/values/dns.yaml]}\n"
        f"  - repoURL: {REPO_URL}\n    targetRevision: HEAD\n    ref: values\n"
    )
    write(repo / "argo/dns.yaml", application(sources=sources))
    state = fetching(["argo"])
    assert state.unrendered == ()
    spec = state.services["dns/dns"]["spec"]
    assert (spec["loadBalancerIP"], spec["externalTrafficPolicy"]) == ("192.168.10.9", "Local")
    [template] = [argv for argv in helm_calls(repo) if argv[0] == "template"]
    values = [template[i + 1] for i, word in enumerate(template) if word == "--values"]
    assert values[0].endswith("/lb-service/values-prod.yaml") and "planner-charts-" in values[0]
    assert values[1] == str(repo / "values/dns.yaml")


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        (application(), f"its source is the Helm chart lb-service 1.0.0 of {HTTP}, which is not"),
        (application(revision="''"), "its Helm chart `lb-service` names no `targetRevision`"),
        (
            application(helm="      valueFiles: [missing.yaml]\n"),
            "its value file `missing.yaml` does not exist",
        ),
        (
            application(helm="      valueFiles: [../../escape.yaml]\n"),
            "its value file `../../escape.yaml` lies outside the repository",
        ),
        (
            application(revision="9.9.9"),
            f'its Helm chart lb-service 9.9.9 of {HTTP}: helm pull failed: Error: chart "lb-',
        ),
        (
            application(sources=oci_source("manifests", "1.0.0")),
            f"its OCI source {OCI}/lb-service is read at `manifests`, not evaluated",
        ),
        (
            application(url="git@github.com:example/charts.git"),
            "its Helm chart `lb-service` comes from git@github.com:example/charts.git",
        ),
    ],
)
def test_an_application_whose_chart_cannot_be_rendered_is_not_followed(
    repo: Path, written: str, reason: str
) -> None:
    write(repo / "argo/dns.yaml", written)
    with ChartFetcher() as charts:
        asked = reason.endswith("which is not")  # the first case: without the flag
        state = load_desired(["argo"], helm=None if asked else HelmOptions(charts=charts))
    [entry] = state.unrendered
    assert reason in str(entry) and "Application argocd/dns not followed" in str(entry)
    if asked:
        assert str(entry).endswith(f"{ASK}); its Services were not checked")
        assert helm_calls(repo) == []


def test_two_applications_of_one_chart_pull_it_once_and_render_it_twice(repo: Path) -> None:
    for name, address in (("dns-a", "192.168.10.53"), ("dns-b", "192.168.10.54")):
        helm = f"      valuesObject: {{service: {{loadBalancerIP: {address}}}}}\n"
        write(repo / f"argo/{name}.yaml", application(name=name, helm=helm))
    state = fetching(["argo"])
    assert sorted(state.services) == ["dns/dns-a", "dns/dns-b"]
    assert len(pulls(repo)) == 1


def test_an_application_without_helm_on_path_is_one_line_naming_the_chart(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.parent / "bin" / "helm").unlink()
    write(repo / "argo/dns.yaml", application())
    with pytest.raises(ToolMissingError, match="to fetch the Helm chart lb-service 1.0.0 of"):
        fetching(["argo"])
    live = write(repo.parent / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    assert main(["diff", "argo", "--live", str(live), "--fetch-charts"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "`helm` was not found on PATH" in line and "Application argocd/dns" in line
    assert no_scratch_left(repo)


def test_an_archive_reaching_outside_its_directory_is_refused_and_asked_once(
    tmp_path: Path, fake_bin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, text in (("lb/Chart.yaml", b"name: lb\nversion: 1.0.0\n"), ("../escaped", b"x")):
            member = tarfile.TarInfo(name)
            member.size = len(text)
            tar.addfile(member, io.BytesIO(text))
    runs = tmp_path / "runs.log"
    # a helm that "pulls" the archive into the --destination given last
    fake_bin(
        "helm", f'for a; do last="$a"; done\necho pull >> {runs}\ncat {evil} > "$last/lb.tgz"\n'
    )
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with ChartFetcher() as charts:
        for _ in range(2):
            with pytest.raises(FetchFailed, match="cannot be unpacked safely"):
                charts.fetch(RemoteChart(HTTP, "lb", "1.0.0"))
    assert runs.read_text() == "pull\n"  # a failure is remembered, not asked again
    assert not list(tmp_path.rglob("escaped")) and not list(tmp_path.glob("planner-charts-*"))


def test_a_value_file_from_the_root_is_the_pulled_charts_root(repo: Path) -> None:
    write(repo / "values-prod.yaml", "service: {loadBalancerIP: 192.168.10.99}\n")  # not this one
    write(repo / "argo/dns.yaml", application(helm="      valueFiles: [/values-prod.yaml]\n"))
    state = fetching(["argo"])
    assert state.services["dns/dns"]["spec"]["loadBalancerIP"] == "192.168.10.9"
