"""A label value YAML reads as no string (`enabled: true` unquoted), in what a Flux Kustomization
builds: kustomize-controller applies the object without its written labels, so the planner reads
it so (with a note) instead of refusing it; where no Flux Kustomization builds it, kubectl apply
refuses it, and so does the planner. rafaribe/home-ops had such a label on one `ks.yaml` for a
year (docs/real-repositories.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.errors import InputError
from planner.sources import load_desired
from tests.sources.conftest import service_yaml, write
from tests.sources.test_flux_follow import flux_kustomization

LABELLED_KS = (
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
    "metadata:\n  name: dns\n  namespace: flux-system\n"
    "  labels:\n    substitution.flux/enabled: true\n    team: dns\n"
    "spec:\n  path: ./apps/dns/app\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
)


def _labels(paths: list[str], kind: str) -> list[dict[str, str] | None]:
    state = load_desired(paths)
    return [o.body["metadata"].get("labels") for o in state.objects if o.key.kind == kind]


def test_flux_applies_an_object_with_a_bool_label_without_its_written_labels(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", flux_kustomization("apps", "./apps"))
    write(repo / "apps/dns/ks.yaml", LABELLED_KS)
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    state = load_desired(["apps/dns"])
    [kustomization] = [o for o in state.objects if o.key.kind == "Kustomization"]
    assert "labels" not in kustomization.body["metadata"]
    assert sorted(state.services) == ["dns/dns"]  # and what it builds is still followed
    [note] = [n for n in state.notes if "substitution.flux/enabled" in n]
    assert "`substitution.flux/enabled: true` is a bool, not a string" in note
    assert "Kustomization flux-system/dns without any of its 2 written label(s)" in note


def test_a_null_label_is_read_as_empty_in_a_flux_build(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", flux_kustomization("apps", "./apps"))
    service = service_yaml("dns", "dns").replace("metadata:\n", "metadata:\n  labels: {app: }\n")
    write(repo / "apps/dns/service.yaml", service)
    assert _labels(["apps/dns"], "Service") == [{"app": ""}]


def test_outside_flux_builds_a_bool_label_is_still_refused(repo: Path) -> None:
    write(repo / "apps/dns/ks.yaml", LABELLED_KS)  # no Flux Kustomization builds apps/dns
    write(repo / "apps/dns/app/service.yaml", service_yaml("dns", "dns"))
    with pytest.raises(InputError, match="must be a string .quote it in YAML., not bool True"):
        load_desired(["apps/dns"])
