"""Argo CD Applications among the desired objects are followed to the directory of this
repository their source names (an app-of-apps repository keeps only Applications where the
user points), and whatever is not followed is said and counted, never silently passed.
The whole layout is tests/test_real_samples.py's real-argocd-app-of-apps."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import ToolMissingError
from planner.sources import load_desired
from planner.sources.desired import find_sources, load_sources
from planner.sources.urls import normalised_url
from tests.conftest import SAMPLES
from tests.sources.conftest import git, service_yaml, write

SEED = SAMPLES / "seed-dns-local"
REPO_URL = "https://github.com/example/home-ops.git"


def application(
    name: str = "dns",
    path: str = "apps/dns",
    url: str = REPO_URL,
    revision: str = "HEAD",
    destination: str = "server: https://kubernetes.default.svc",
    extra: str = "",
) -> str:
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        f"metadata:\n  name: {name}\n  namespace: argocd\n"
        "spec:\n  project: default\n"
        f"  source:\n    repoURL: {url}\n    path: {path}\n    targetRevision: {revision}\n{extra}"
        f"  destination:\n    {destination}\n    namespace: dns\n"
    )


@pytest.fixture
def app_repo(repo: Path) -> Path:
    """The seed's DNS Services in apps/dns, an Application for them in argo/, a remote."""
    git(repo, "remote", "add", "origin", REPO_URL)
    shutil.copytree(SEED / "desired", repo / "apps/dns")
    write(repo / "argo/dns.yaml", application())
    return repo


def unchecked(paths: list[str]) -> list[str]:
    return [str(entry) for entry in load_desired(paths).unrendered]


def test_the_silent_pass_now_finds_the_seed_key_change(
    app_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("passes: changes, none leaves a Service stuck under metallb-0.15")
    assert "update Service dns/dns-tcp" in out and "update Service dns/dns-udp" in out
    assert "not followed" not in out


def test_the_same_repository_is_recognised_in_every_url_form(app_repo: Path) -> None:
    git(app_repo, "remote", "set-url", "origin", "git@GitHub.com:example/home-ops.git")
    assert sorted(load_desired(["argo"]).services) == ["dns/dns-tcp", "dns/dns-udp"]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example/home-ops",
        "https://GitHub.com/example/home-ops.git/",
        "ssh://git@github.com:22/example/home-ops.git",
        "git@github.com:example/home-ops.git",
        "http://user@github.com/example/home-ops",
    ],
)
def test_urls_normalise_to_host_and_path(url: str) -> None:
    assert normalised_url(url) == "github.com/example/home-ops"


def test_a_different_repository_does_not_match() -> None:
    assert normalised_url("https://github.com/example/other") != normalised_url(REPO_URL)
    assert normalised_url("https://gitlab.com/example/home-ops") != normalised_url(REPO_URL)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        (application(url="https://github.com/someone/else"), "is not a remote of this repository"),
        (application(revision="v1.2.0"), "at revision `v1.2.0`, not the checked-out branch"),
        (application(path="apps/gone"), "its path `apps/gone` is not a directory"),
        (application(path="../outside"), "its path `../outside` lies outside the repository"),
        (
            application(destination="server: https://10.0.0.1:6443"),
            "its destination is the cluster https://10.0.0.1:6443, not in-cluster",
        ),
        (application(destination="name: edge"), "the cluster named `edge`, not in-cluster"),
        (
            application(extra="    chart: coredns\n").replace("    path: apps/dns\n", ""),
            "its source is the Helm chart coredns HEAD of",
        ),
        (
            application(extra="    plugin:\n      name: sops\n"),
            "its source's `plugin` settings are not evaluated",
        ),
    ],
)
def test_what_is_not_followed_is_said_and_counted(
    app_repo: Path, written: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(app_repo / "argo/dns.yaml", written)
    [entry] = unchecked(["argo"])
    assert entry.startswith(
        "argo/dns.yaml: document 1, line 1: Application argocd/dns not followed"
    )
    assert reason in entry and entry.endswith("its Services were not checked")
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "passes: no changes; 1 Application not followed (Services unchecked)"
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml"), "--fail-on", "unrendered"]) == 3


def test_credentials_in_a_url_are_never_shown(app_repo: Path) -> None:
    token = "https://bot:s3cr3t-t0ken@git.example.com/example/other.git"
    write(app_repo / "argo/dns.yaml", application(url=token))
    [entry] = unchecked(["argo"])
    assert "its source https://git.example.com/example/other.git is not a remote" in entry
    assert "s3cr3t" not in entry
    write(app_repo / "argo/dns.yaml", application(destination=f"server: {token}"))
    [entry] = unchecked(["argo"])
    assert "s3cr3t" not in entry and "the cluster https://git.example.com/" in entry


def test_an_application_set_not_followed_is_one_note(app_repo: Path) -> None:
    """Its Applications are generated (tests/sources/test_argocd_applicationset.py); a set whose
    generator reads another repository is one note."""
    appset = (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\n"
        "metadata:\n  name: apps\n  namespace: argocd\n"
        "spec:\n  generators:\n  - git: {repoURL: x, directories: [{path: apps/*}]}\n"
    )
    write(app_repo / "argo/dns.yaml", appset)
    assert unchecked(["argo"]) == [
        (
            "argo/dns.yaml: document 1, line 1: ApplicationSet argocd/apps not followed (its git "
            "generator reads x, which is not a remote of this repository); its "
            "Services were not checked"
        )
    ]


def test_a_repository_without_a_remote_cannot_be_matched(repo: Path) -> None:
    write(repo / "argo/dns.yaml", application())
    write(repo / "apps/dns/service.yaml", service_yaml("dns", "dns"))
    [entry] = unchecked(["argo"])
    assert "cannot be compared with this repository (it has no git remote)" in entry


def test_objects_without_a_namespace_land_in_the_destination_namespace(app_repo: Path) -> None:
    shutil.rmtree(app_repo / "apps/dns")
    write(app_repo / "apps/dns/service.yaml", service_yaml("dns"))
    write(app_repo / "apps/dns/other.yaml", service_yaml("web", "web"))
    write(
        app_repo / "apps/dns/class.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
    )
    services = load_desired(["argo"]).services
    assert sorted(services) == ["dns/dns", "web/web"]
    assert services["dns/dns"]["metadata"]["namespace"] == "dns"  # what the cluster model reads
    [namespace] = [o for o in load_desired(["argo"]).objects if o.key.kind == "Namespace"]
    assert "namespace" not in namespace.body["metadata"]  # cluster-scoped: none given


def test_nothing_outside_the_repository_is_read(app_repo: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere/service.yaml", service_yaml("stolen", "dns"))
    (app_repo / "apps/dns/link.yaml").symlink_to(outside)
    [entry] = unchecked(["argo"])
    assert "`apps/dns/link.yaml` links outside the repository and was not read" in entry
    assert "dns/stolen" not in load_desired(["argo"]).services
    (app_repo / "apps/linked").symlink_to(outside.parent)
    write(app_repo / "argo/dns.yaml", application(path="apps/linked"))
    [entry] = unchecked(["argo"])
    assert "its path `apps/linked` lies outside the repository" in entry


def test_a_plain_directory_is_read_at_its_top_unless_recurse(app_repo: Path) -> None:
    write(app_repo / "apps/dns/extra/web.yaml", service_yaml("web", "web"))
    assert "web/web" not in load_desired(["argo"]).services
    recurse = "    directory:\n      recurse: true\n"
    write(app_repo / "argo/dns.yaml", application(extra=recurse))
    assert "web/web" in load_desired(["argo"]).services


def test_include_and_exclude_choose_the_files(app_repo: Path) -> None:
    write(app_repo / "apps/dns/web.yaml", service_yaml("web", "web"))
    only = "    directory:\n      include: '{web.yaml,pool.yaml}'\n"
    write(app_repo / "argo/dns.yaml", application(extra=only))
    assert sorted(load_desired(["argo"]).services) == ["web/web"]
    skip = "    directory:\n      exclude: 'web*'\n"
    write(app_repo / "argo/dns.yaml", application(extra=skip))
    assert sorted(load_desired(["argo"]).services) == ["dns/dns-tcp", "dns/dns-udp"]


def test_jsonnet_files_are_said(app_repo: Path) -> None:
    write(app_repo / "apps/dns/web.jsonnet", "{}\n")
    [entry] = unchecked(["argo"])
    assert "its Jsonnet files are not evaluated (apps/dns/web.jsonnet)" in entry
    assert sorted(load_desired(["argo"]).services) == ["dns/dns-tcp", "dns/dns-udp"]


def test_each_source_of_a_multi_source_application_is_followed(app_repo: Path) -> None:
    write(app_repo / "apps/web/service.yaml", service_yaml("web", "web"))
    sources = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata:\n  name: dns\n  namespace: argocd\n"
        "spec:\n  sources:\n"
        f"  - {{repoURL: {REPO_URL}, path: apps/dns}}\n"
        f"  - {{repoURL: {REPO_URL}, path: apps/web, targetRevision: main}}\n"
        f"  - {{repoURL: {REPO_URL}, ref: values}}\n"  # lends values files: renders nothing
        "  destination: {server: https://kubernetes.default.svc, namespace: dns}\n"
    )
    write(app_repo / "argo/dns.yaml", sources)
    state = load_desired(["argo"])
    assert sorted(state.services) == ["dns/dns-tcp", "dns/dns-udp", "web/web"]
    assert state.unrendered == ()


def test_another_branch_is_read_as_checked_out_with_a_note(app_repo: Path) -> None:
    git(app_repo, "add", "-A")
    git(app_repo, "commit", "--quiet", "-m", "apps")
    git(app_repo, "branch", "release")
    write(app_repo / "argo/dns.yaml", application(revision="release"))
    state = load_desired(["argo"])
    assert sorted(state.services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert (
        "argo/dns.yaml: document 1, line 1: Application argocd/dns: targetRevision `release` is "
        "not the checked-out branch (main); its source was read as checked out"
    ) in state.notes


def test_an_app_of_apps_is_followed_in_turn(app_repo: Path) -> None:
    (app_repo / "argo/dns.yaml").unlink()
    write(app_repo / "argo/apps/dns.yaml", application())
    write(app_repo / "argo/root.yaml", application(name="root", path="argo/apps"))
    state = load_desired(["argo/root.yaml"])
    assert sorted(state.services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert sorted(o.key.name for o in state.objects if o.key.kind == "Application") == [
        "dns",
        "root",
    ]


def test_a_directory_named_or_followed_twice_is_read_once(app_repo: Path) -> None:
    write(app_repo / "argo/again.yaml", application(name="again"))
    assert sorted(load_desired(["argo", "apps/dns"]).services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert sorted(load_desired(["argo"]).services) == ["dns/dns-tcp", "dns/dns-udp"]


def test_a_chart_directory_needs_helm_and_says_which(
    app_repo: Path, fake_bin: Callable[..., Path]
) -> None:
    write(app_repo / "apps/dns/Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    with pytest.raises(ToolMissingError, match="to render the Helm chart directory `apps/dns`"):
        load_desired(["argo"])


def test_a_chart_directory_renders_as_the_application_with_its_namespace(
    app_repo: Path, fake_bin: Callable[..., Path]
) -> None:
    write(app_repo / "apps/dns/Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    # the stand-in helm prints its argv as a ConfigMap and one Service without a namespace
    fake_bin(
        "helm",
        'printf "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: argv}\\n'
        'data: {argv: \\"%s\\"}\\n---\\n" "$*"\n'
        f"cat <<'EOF'\n{service_yaml('chart-dns')}EOF\n",
    )
    state = load_desired(["argo"])
    assert sorted(state.services) == ["dns/chart-dns"]
    [argv] = [o.body["data"]["argv"] for o in state.objects if o.key.kind == "ConfigMap"]
    assert argv.startswith("template dns ") and argv.endswith("--namespace dns")


def test_the_argocd_plugin_path_does_not_follow(app_repo: Path) -> None:
    """Argo CD applies an Application's rendered manifests as they are: a child Application
    is synced by Argo CD on its own, so the plugin's reading (evaluate_flux=False) keeps it."""
    state = load_sources(find_sources("argo"), evaluate_flux=False)
    assert [obj.key.kind for obj in state.objects] == ["Application"]
    assert state.unrendered == ()


def test_applications_are_followed_at_a_git_ref(
    app_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = (SEED / "desired/dns.yaml").read_text().replace("Local", "Cluster")
    write(app_repo / "apps/dns/dns.yaml", cluster)
    git(app_repo, "add", "-A")
    git(app_repo, "commit", "--quiet", "-m", "before")
    shutil.copy(SEED / "desired/dns.yaml", app_repo / "apps/dns/dns.yaml")
    git(app_repo, "commit", "--quiet", "-am", "the seed key change")
    assert main(["diff", "argo", "--live-git", "HEAD~1"]) == 1
    out = capsys.readouterr().out
    assert "update Service dns/dns-tcp" in out and "not followed" not in out
