"""The namespaces kustomizations place a file's objects in, read from the kustomization files:
what lets a Flux Kustomization of namespace `database` find the `cluster-settings` ConfigMap a
shared component writes without a namespace (gavinmcfall/home-ops, docs/real-repositories.md)."""

from __future__ import annotations

from pathlib import Path

from planner.sources import load_desired
from planner.sources.kustomize_namespaces import KustomizeNamespaces
from tests.sources.conftest import service_yaml, write

SETTINGS = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\ndata:\n  DNS_IP: 10.0.0.53\n"


def _kustomization(namespace: str | None, **lists: list[str]) -> str:
    text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    text += f"namespace: {namespace}\n" if namespace else ""
    return text + "".join(f"{name}: {entries}\n" for name, entries in lists.items())


def _component_layout(repo: Path) -> None:
    write(repo / "components/common/kustomization.yaml", _kustomization(None, resources=["./vars"]))
    write(
        repo / "components/common/vars/kustomization.yaml",
        _kustomization(None, resources=["settings.yaml"]),
    )
    write(repo / "components/common/vars/settings.yaml", SETTINGS)
    for namespace in ("database", "media"):
        included = _kustomization(namespace, components=["../../components/common"])
        write(repo / f"apps/{namespace}/kustomization.yaml", included)


def test_a_file_is_placed_by_the_outermost_namespace_of_each_chain(tmp_path: Path) -> None:
    _component_layout(tmp_path)
    # an inner `namespace:` is overridden by the outer one that includes it
    write(
        tmp_path / "apps/media/inner/kustomization.yaml",
        _kustomization("inner", resources=["x.yaml"]),
    )
    write(
        tmp_path / "apps/media/kustomization.yaml", _kustomization("media", resources=["./inner"])
    )
    write(tmp_path / "loose/kustomization.yaml", _kustomization(None, resources=["y.yaml"]))
    found = KustomizeNamespaces.scan(tmp_path)
    assert found.of("components/common/vars/settings.yaml") == {"database"}  # media's no longer
    assert found.of("apps/media/inner/x.yaml") == {"media"}
    assert found.of("loose/y.yaml") == frozenset()  # no namespace set: as written
    assert found.of("nowhere.yaml") == frozenset()


def test_a_flux_kustomization_substitutes_from_a_configmap_a_component_places(repo: Path) -> None:
    _component_layout(repo)
    ks = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata:\n  name: dns\n  namespace: database\n"
        "spec:\n  path: ./apps/database/dns/app\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
        "  postBuild:\n    substituteFrom: [{kind: ConfigMap, name: cluster-settings}]\n"
    )
    write(repo / "apps/database/dns/ks.yaml", ks)
    write(repo / "apps/database/dns/app/service.yaml", service_yaml("dns", "database", "${DNS_IP}"))
    state = load_desired(["apps/database/dns/ks.yaml"])
    annotations = state.services["database/dns"]["metadata"]["annotations"]
    assert annotations["metallb.universe.tf/loadBalancerIPs"] == "10.0.0.53"
    assert state.unrendered == ()
