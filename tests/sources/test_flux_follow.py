"""Flux Kustomizations among the desired objects are followed to the directory their `spec.path`
names (kustomize-controller builds it on its own): home-ops repositories keep only `ks.yaml`
files in the kustomization a user points at, so without following nothing would be checked.
The kustomize-rendered layout is tests/test_real_samples.py's real-flux-ks-tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.cli import main
from planner.sources import load_desired
from tests.sources.conftest import git, service_yaml, write


def flux_kustomization(name: str, path: str, source_kind: str = "GitRepository") -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata:\n  name: {name}\n  namespace: flux-system\n"
        f"spec:\n  path: {path}\n  sourceRef: {{kind: {source_kind}, name: flux-system}}\n"
    )


def services(paths: list[str]) -> list[str]:
    return sorted(load_desired(paths).services)


def test_the_directory_a_flux_kustomization_builds_is_read(repo: Path) -> None:
    write(repo / "apps/dns/ks.yaml", flux_kustomization("dns", "./apps/dns/app"))
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    # the app directory is named, not the file: following reads what Flux builds
    assert services(["apps/dns/ks.yaml"]) == ["dns/dns"]


def test_followed_kustomizations_are_followed_in_turn_and_substitute(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", flux_kustomization("apps", "./apps"))
    write(repo / "apps/dns/ks.yaml", _with_substitute(flux_kustomization("dns", "apps/dns/app")))
    write(repo / "apps/dns/app/service.yaml", service_yaml("${NAME}", "dns"))
    state = load_desired(["clusters/home"])
    assert sorted(state.services) == ["dns/dns"]  # substituted by the followed Kustomization
    assert [o.origin.file for o in state.objects if o.key.kind == "Service"] == [
        "apps/dns/app/service.yaml"
    ]


def test_a_followed_directory_is_read_once(repo: Path) -> None:
    write(repo / "apps/dns/ks.yaml", flux_kustomization("dns", "./apps/dns/app"))
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    # named too, and followed: read once (no "defined twice")
    assert services(["apps/dns", "apps/dns/app"]) == ["dns/dns"]


def test_a_kustomization_building_what_was_named_does_not_widen_the_check(repo: Path) -> None:
    # flux-system builds the whole repository, which holds the named directory
    write(repo / "clusters/home/flux-system.yaml", flux_kustomization("flux-system", "./"))
    write(repo / "clusters/home/dns.yaml", service_yaml("dns", "dns"))
    write(repo / "apps/other/service.yaml", service_yaml("other", "other"))
    assert services(["clusters/home"]) == ["dns/dns"]


def test_a_path_that_cannot_be_followed_is_said_and_counted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counted in the verdict, as an Application not followed is: before, only a note said its
    Services went unchecked, and the verdict read `passes: no changes` (xunholy/k8s-gitops: 67
    Kustomizations of ExternalArtifacts in one overlay)."""
    write(repo / "apps/ks.yaml", flux_kustomization("gone", "./apps/gone"))
    write(repo / "apps/oci.yaml", flux_kustomization("oci", "./apps/dns", "OCIRepository"))
    write(repo / "apps/dns/service.yaml", service_yaml("dns", "dns"))
    state = load_desired(["apps/ks.yaml", "apps/oci.yaml"])
    assert state.notes == []
    gone = "`apps/gone` is not a directory of the repository"
    oci = "builds `apps/dns` of OCIRepository flux-system, not of this repository"
    unchecked = "its Services were not checked"
    assert [str(u) for u in state.unrendered] == [
        "apps/ks.yaml: document 1, line 1: Flux Kustomization flux-system/gone not followed "
        + f"({gone}); {unchecked}",
        "apps/oci.yaml: document 1, line 1: Flux Kustomization flux-system/oci not followed "
        + f"({oci}); {unchecked}",
    ]
    write(repo / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    argv = ["diff", "apps/ks.yaml", "apps/oci.yaml", "--live", "live.yaml"]
    assert main(argv) == 0
    verdict = capsys.readouterr().out.splitlines()[0]
    assert verdict.endswith("; 2 Flux Kustomizations not followed (Services unchecked)")
    assert main([*argv, "--fail-on", "unrendered"]) == 3


def test_the_live_side_at_a_git_ref_follows_the_same_way(repo: Path) -> None:
    from planner.sources.live import load_live_git

    write(repo / "apps/dns/ks.yaml", flux_kustomization("dns", "./apps/dns/app"))
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dns")
    live = load_live_git("HEAD", ["apps/dns/ks.yaml"])
    assert sorted(live.services) == ["dns/dns"]
    [service] = [o for o in live.objects if o.key.kind == "Service"]
    assert service.origin.file == "HEAD:apps/dns/app/service.yaml"


def test_argocd_and_the_flux_hook_read_as_written(repo: Path) -> None:
    from planner.sources.desired import find_sources, load_sources

    write(repo / "apps/dns/ks.yaml", flux_kustomization("dns", "./apps/dns/app"))
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    state = load_sources(find_sources("apps/dns/ks.yaml"), evaluate_flux=False)
    assert [o.key.kind for o in state.objects] == ["Kustomization"]


def _with_substitute(text: str) -> str:
    return text + "  postBuild:\n    substitute: {NAME: dns}\n"


def test_a_target_namespace_places_every_namespaced_object_it_builds(repo: Path) -> None:
    """onedr0p/home-ops today: ks.yaml sets `targetNamespace`, the app's files name none."""
    ks = flux_kustomization("dns", "./apps/dns/app") + "  targetNamespace: network\n"
    write(repo / "apps/dns/ks.yaml", ks)
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: network\n"
    write(repo / "apps/dns/app/namespace.yaml", namespace)
    write(repo / "apps/dns/app/tcp.yaml", service_yaml("dns-tcp"))  # no namespace
    write(repo / "apps/dns/app/udp.yaml", service_yaml("dns-udp", "elsewhere"))  # overridden
    state = load_desired(["apps/dns/ks.yaml"])
    assert sorted(state.services) == ["network/dns-tcp", "network/dns-udp"]
    assert [o.key.namespace for o in state.objects if o.key.kind == "Namespace"] == [""]
    # the Kustomization itself is placed by whatever builds it, not by itself
    [ks_object] = [o for o in state.objects if o.key.kind == "Kustomization"]
    assert ks_object.key.namespace == "flux-system"


def test_a_suspended_kustomization_is_not_followed(repo: Path) -> None:
    """Flux applies nothing of a suspended Kustomization: its changes do not land now."""
    write(
        repo / "apps/dns/ks.yaml", flux_kustomization("dns", "./apps/dns/app") + "  suspend: true\n"
    )
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    state = load_desired(["apps/dns/ks.yaml"])
    assert state.services == {}
    suspended = "Flux Kustomization flux-system/dns is suspended: what it builds was not read"
    assert state.notes == [f"apps/dns/ks.yaml: document 1, line 1: {suspended}"]


def test_a_path_the_system_refuses_is_a_note_not_a_traceback(repo: Path) -> None:
    write(repo / "apps/ks.yaml", flux_kustomization("long", "./" + "x" * 5000))
    [entry] = load_desired(["apps/ks.yaml"]).unrendered
    assert entry.reason.endswith("is not a directory of the repository")


def git_repository(name: str, url: str) -> str:
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        f"metadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  url: {url}\n"
    )


def test_a_kustomization_of_another_git_repository_is_not_followed(repo: Path) -> None:
    """A fleet repository's tenant Kustomization builds `./apps/dns` of the tenant's repository;
    this repository has an `apps/dns` too. Before, that was read as what the tenant syncs: a
    check of the wrong files. The GitRepository's URL is compared with the git remotes, as an
    Argo CD Application's repoURL is (the same URL written over ssh is this repository)."""
    git(repo, "remote", "add", "origin", "https://github.com/example/fleet.git")
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    own = flux_kustomization("dns", "./apps/dns/app")
    tenant = own.replace("name: dns\n", "name: tenant\n").replace("flux-system}", "tenant}")
    write(repo / "clusters/home/own.yaml", own)
    write(repo / "clusters/home/tenant.yaml", tenant)
    write(
        repo / "clusters/home/sources.yaml",
        git_repository("tenant", "https://github.com/example/tenant")
        + "---\n"
        + git_repository("flux-system", "ssh://git@github.com/example/fleet"),
    )
    state = load_desired(["clusters/home/own.yaml", "clusters/home/tenant.yaml"])
    assert list(state.services) == ["dns/dns"]  # read once, for flux-system/dns
    [entry] = state.unrendered
    assert str(entry) == (
        "clusters/home/tenant.yaml: document 1, line 1: Flux Kustomization flux-system/tenant "
        "not followed (builds `apps/dns/app` of GitRepository flux-system/tenant "
        "(https://github.com/example/tenant), which is not a remote of this repository); its "
        "Services were not checked"
    )


def test_without_a_git_remote_the_kustomizations_repository_is_taken_as_this_one(
    repo: Path,
) -> None:
    """Nothing to compare with (a clone without a remote): followed as before, not refused."""
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    write(repo / "clusters/home/dns.yaml", flux_kustomization("dns", "./apps/dns/app"))
    write(repo / "clusters/home/sources.yaml", git_repository("flux-system", "https://x.invalid/y"))
    state = load_desired(["clusters/home/dns.yaml"])
    assert (list(state.services), state.unrendered) == (["dns/dns"], ())
