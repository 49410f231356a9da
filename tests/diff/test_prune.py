"""Deletion scoping: only what the repo's own GitOps owner applied is pruned."""

from __future__ import annotations

import pytest

from planner.diff import deletions, owners
from tests.diff.builders import lb_service, namespace, obj, pool, served


def names(objects: list) -> list[str]:
    return sorted(str(o.key) for o in objects)


@pytest.mark.parametrize("tracking", ["argocd-annotation", "argocd-label", "flux"])
def test_objects_of_the_repos_owner_are_pruned(tracking: str) -> None:
    repo = [lb_service("dns-tcp")]
    live = [served(b, tracking=tracking) for b in (*repo, lb_service("dns-udp"))]
    assert names(deletions([obj(b) for b in repo], [obj(b) for b in live])) == [
        "Service dns/dns-udp"
    ]


def test_objects_of_other_owners_or_of_nobody_are_kept() -> None:
    repo = [lb_service("dns-tcp")]
    other_app = served(lb_service("dns-udp"), tracking="flux")
    unmarked = served(lb_service("dns-legacy"))
    live = [served(repo[0], tracking="argocd-annotation"), other_app, unmarked]
    assert deletions([obj(b) for b in repo], [obj(b) for b in live]) == []


def test_argocd_owners_are_the_tracking_id_application() -> None:
    body = served(lb_service("a"), tracking="argocd-annotation")
    assert owners(body) == frozenset({("argocd", "dns-app")})
    flux = served(lb_service("a"), tracking="flux")
    assert owners(flux) == frozenset({("flux", "flux-system/dns")})
    assert owners(served(lb_service("a"))) == frozenset()


def test_an_argocd_tracking_id_copied_onto_another_object_names_no_owner() -> None:
    body = served(lb_service("a"), tracking="argocd-annotation")
    body["metadata"]["name"] = "copy-of-a"
    assert owners(body) == frozenset()
    body["metadata"]["name"] = "a"
    annotations = body["metadata"]["annotations"]
    for wrong in ("broken", "dns-app:/Service:other/a", "dns-app:apps/Service:dns/a"):
        annotations["argocd.argoproj.io/tracking-id"] = wrong
        assert owners(body) == frozenset()
    annotations["argocd.argoproj.io/tracking-id"] = "dns-app:/Service:dns/a"
    assert owners(body) == frozenset({("argocd", "dns-app")})
    cluster_scoped = served(namespace("dns"), tracking="argocd-annotation")
    cluster_scoped["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = (
        "dns-app:/Namespace:dns/dns"
    )
    assert owners(cluster_scoped) == frozenset({("argocd", "dns-app")})


def test_without_any_owner_on_the_repos_live_objects_nothing_is_pruned() -> None:
    repo = [lb_service("dns-tcp")]
    live = [served(repo[0]), served(lb_service("dns-udp"), tracking="flux")]
    assert deletions([obj(b) for b in repo], [obj(b) for b in live]) == []


def test_objects_from_a_git_ref_are_all_pruned() -> None:
    repo = [lb_service("dns-tcp")]
    old_repo = [*repo, lb_service("web", namespace="shop")]
    assert names(deletions([obj(b) for b in repo], [obj(b) for b in old_repo])) == [
        "Service shop/web"
    ]


def test_only_kinds_the_repo_holds_are_pruned() -> None:
    repo = [lb_service("dns-tcp")]
    live = [served(b, tracking="flux") for b in (*repo, pool("dmz"), namespace("dns"))]
    assert deletions([obj(b) for b in repo], [obj(b) for b in live]) == []
    with_pools = [*repo, pool("lan")]
    live = [served(b, tracking="flux") for b in (*with_pools, pool("dmz"))]
    found = deletions([obj(b) for b in with_pools], [obj(b) for b in live])
    assert names(found) == ["IPAddressPool metallb-system/dmz"]


def test_namespaces_mode_prunes_everything_in_the_repos_namespaces() -> None:
    repo = [lb_service("dns-tcp")]
    live = [served(b) for b in (*repo, lb_service("dns-udp"), lb_service("web", namespace="shop"))]
    found = deletions([obj(b) for b in repo], [obj(b) for b in live], prune="namespaces")
    assert names(found) == ["Service dns/dns-udp"]


def test_none_mode_prunes_nothing() -> None:
    repo = [lb_service("dns-tcp")]
    live = [served(b, tracking="flux") for b in (*repo, lb_service("dns-udp"))]
    assert deletions([obj(b) for b in repo], [obj(b) for b in live], prune="none") == []


@pytest.mark.parametrize(
    "annotation",
    [
        ("argocd.argoproj.io/sync-options", "ServerSideApply=true, Prune=false"),
        ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
        ("kustomize.toolkit.fluxcd.io/prune", "Disabled"),
    ],
)
def test_objects_that_opt_out_of_pruning_are_kept(annotation: tuple[str, str]) -> None:
    repo = [lb_service("dns-tcp")]
    kept = served(lb_service("dns-udp"), tracking="flux")
    kept["metadata"]["annotations"][annotation[0]] = annotation[1]
    live = [served(repo[0], tracking="flux"), kept]
    assert deletions([obj(b) for b in repo], [obj(b) for b in live]) == []
    assert deletions([obj(b) for b in repo], [obj(b) for b in live], prune="namespaces") == []
