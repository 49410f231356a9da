"""`.argocd-source.yaml` and `.argocd-source-<app>.yaml` in a source directory are merged into
the Application's source (a JSON merge patch each, the generic file first) before the tool is
detected, as Argo CD's repo server merges them; for written and generated Applications alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.sources import load_desired
from planner.sources.argocd_source_files import merge_patch
from tests.sources.conftest import git, kustomize_available, service_yaml, write
from tests.sources.test_argocd_applicationset import appset, directories
from tests.sources.test_argocd_follow import REPO_URL, application


@pytest.fixture
def dns_repo(repo: Path) -> Path:
    """apps/dns holds one Service at its top and one below it; argo/dns.yaml syncs it."""
    git(repo, "remote", "add", "origin", REPO_URL)
    write(repo / "apps/dns/top.yaml", service_yaml("top"))
    write(repo / "apps/dns/nested/below.yaml", service_yaml("below"))
    write(repo / "argo/dns.yaml", application())
    return repo


def services() -> list[str]:
    return sorted(load_desired(["argo"]).services)


def test_without_override_files_the_directory_is_read_at_its_top(dns_repo: Path) -> None:
    assert services() == ["dns/top"]


def test_the_generic_file_merges_into_the_source(dns_repo: Path) -> None:
    write(dns_repo / "apps/dns/.argocd-source.yaml", "directory:\n  recurse: true\n")
    assert services() == ["dns/below", "dns/top"]


def test_the_applications_own_file_merges_after_it_and_null_removes(dns_repo: Path) -> None:
    write(
        dns_repo / "apps/dns/.argocd-source.yaml",
        "directory:\n  recurse: true\n  exclude: top.yaml\n",
    )
    assert services() == ["dns/below"]
    write(dns_repo / "apps/dns/.argocd-source-dns.yaml", "directory:\n  exclude: null\n")
    assert services() == ["dns/below", "dns/top"]
    write(dns_repo / "apps/dns/.argocd-source-other.yaml", "directory:\n  recurse: false\n")
    assert services() == ["dns/below", "dns/top"]  # another Application's file


def test_the_source_keeps_its_repository_path_and_revision(dns_repo: Path) -> None:
    write(
        dns_repo / "apps/dns/.argocd-source.yaml",
        "path: apps/elsewhere\nrepoURL: https://example.com/other\ntargetRevision: v1\n",
    )
    assert services() == ["dns/top"]
    assert load_desired(["argo"]).unrendered == ()


def test_an_override_file_argo_cd_cannot_read_makes_the_application_not_followed(
    dns_repo: Path,
) -> None:
    write(dns_repo / "apps/dns/.argocd-source.yaml", "- a list\n")
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "`apps/dns/.argocd-source.yaml` is not an object (Argo CD fails to render)" in entry
    write(dns_repo / "apps/dns/.argocd-source.yaml", "directory: [unclosed\n")
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "is not readable YAML" in entry


def test_plugin_settings_from_an_override_file_are_not_evaluated(dns_repo: Path) -> None:
    write(dns_repo / "apps/dns/.argocd-source.yaml", "plugin:\n  name: sops\n")
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "an override file gives its source `plugin` settings, not evaluated" in entry


def test_an_empty_override_file_changes_nothing(dns_repo: Path) -> None:
    write(dns_repo / "apps/dns/.argocd-source.yaml", "")
    assert services() == ["dns/top"]


def test_a_generated_application_takes_its_own_file(dns_repo: Path) -> None:
    (dns_repo / "argo/dns.yaml").unlink()
    write(dns_repo / "argo/appset.yaml", appset(directories("path: apps/*")))
    write(dns_repo / "apps/dns/.argocd-source-dns.yaml", "directory:\n  recurse: true\n")
    assert services() == ["dns/below", "dns/top"]


@pytest.mark.skipif(not kustomize_available(), reason="neither kustomize nor kubectl on PATH")
def test_kustomize_settings_in_the_file_name_the_tool_and_apply(dns_repo: Path) -> None:
    write(dns_repo / "apps/dns/kustomization.yaml", "resources: [top.yaml]\n")
    write(dns_repo / "apps/dns/.argocd-source.yaml", "kustomize:\n  namePrefix: lab-\n")
    assert services() == ["dns/lab-top"]


@pytest.mark.parametrize(
    ("target", "patch", "merged"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": 1}, {"b": {"c": None, "d": 4}}, {"a": 1, "b": {"d": 4}}),
    ],
)
def test_merge_patch_is_rfc_7386(target: object, patch: object, merged: object) -> None:
    assert merge_patch(target, patch) == merged
