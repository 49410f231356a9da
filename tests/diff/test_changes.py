"""diff_objects: ops, patches, the clean-repo property, input errors."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonpatch
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.diff import Change, diff_objects
from planner.diff.normalise import normalise_desired, normalise_live
from planner.errors import InputError
from planner.objects import ObjectKey
from planner.sources.desired import load_desired
from planner.sources.live import load_live_file
from tests.conftest import SAMPLES
from tests.diff.builders import lb_service, namespace, obj, pool, served, service

APPLIERS = ("none", "kubectl", "ssa")
TRACKING = (None, "argocd-annotation", "argocd-label", "flux")


def clean_repo() -> list[dict]:
    """A repo with every kind of Service field the normalisation must see through."""
    return [
        lb_service("dns-tcp"),
        lb_service("dns-udp", ports=[{"name": "dns-udp", "port": 53, "protocol": "UDP"}]),
        lb_service(
            "ingress",
            namespace="edge",
            externalTrafficPolicy="Local",
            annotations={"metallb.io/address-pool": "lan"},
            ports=[{"port": 80}, {"port": 443, "targetPort": "https"}],
        ),
        lb_service(
            "gw",
            namespace="edge",
            ipFamilyPolicy="RequireDualStack",
            ipFamilies=["IPv4", "IPv6"],
            ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        ),
        service("internal", None, selector={"app": "api"}, ports=[{"port": 8080}]),
        pool(),
        namespace("dns"),
    ]


def diff(desired: list[dict], live: list[dict]) -> list[Change]:
    return diff_objects([obj(b, document=i) for i, b in enumerate(desired)], [obj(b) for b in live])


@pytest.mark.parametrize("applied", APPLIERS)
@pytest.mark.parametrize("tracking", TRACKING)
def test_a_clean_repo_against_its_own_cluster_is_unchanged(
    applied: str, tracking: str | None
) -> None:
    repo = clean_repo()
    live = [served(b, applied=applied, tracking=tracking, index=i) for i, b in enumerate(repo)]
    changes = diff(repo, live)
    assert [(c.op, c.patch) for c in changes] == [("unchanged", [])] * len(repo)
    assert not any(c.changed for c in changes)


def test_changes_are_sorted_by_key_and_carry_both_bodies() -> None:
    repo = clean_repo()
    changes = diff(list(reversed(repo)), [served(b) for b in repo])
    assert [c.key for c in changes] == sorted(c.key for c in changes)
    first = changes[0]
    assert first.key == ObjectKey("IPAddressPool", "metallb-system", "lan")
    assert first.desired == pool() and first.live is not None and "status" not in first.desired


_ports = st.lists(
    st.fixed_dictionaries(
        {"port": st.integers(1, 65535)},
        optional={
            "protocol": st.sampled_from(["TCP", "UDP"]),
            "targetPort": st.one_of(st.integers(1, 65535), st.sampled_from(["http", "dns"])),
        },
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda p: (p["port"], p.get("protocol", "TCP")),
)
_services = st.builds(
    lambda ports, policy, kind, named: lb_service(
        "svc",
        ports=[dict(p, name=f"p{i}") if named else p for i, p in enumerate(ports)],
        **({"externalTrafficPolicy": policy} if policy else {}),
        **({"type": kind} if kind else {}),
    ),
    _ports,
    st.sampled_from([None, "Cluster", "Local"]),
    st.sampled_from([None, "LoadBalancer"]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(_services, st.sampled_from(APPLIERS), st.sampled_from(TRACKING))
def test_any_served_service_is_unchanged(svc: dict, applied: str, tracking: str | None) -> None:
    assert diff([svc], [served(svc, applied=applied, tracking=tracking)])[0].op == "unchanged"


@settings(max_examples=40, deadline=None)
@given(_services, st.sampled_from(APPLIERS))
def test_the_patch_turns_normalised_live_into_normalised_desired(svc: dict, applied: str) -> None:
    live = served(svc, applied=applied)
    edited = copy.deepcopy(svc)
    edited["spec"]["ports"] = list(reversed(edited["spec"]["ports"]))[:-1] + [{"port": 9}]
    edited["metadata"]["annotations"]["metallb.io/allow-shared-ip"] = "other"
    change = diff([edited], [live])[0]
    assert change.op == "update"
    patched = jsonpatch.apply_patch(normalise_live(live, edited), change.patch)
    assert patched == normalise_desired(edited)


def test_a_traffic_policy_edit_is_one_replace() -> None:
    old = lb_service("dns-tcp")
    new = lb_service("dns-tcp", externalTrafficPolicy="Local")
    change = diff([new], [served(old, applied="kubectl")])[0]
    assert change.op == "update"
    assert change.patch == [
        {"op": "replace", "path": "/spec/externalTrafficPolicy", "value": "Local"}
    ]
    assert change.key_changing == ("externalTrafficPolicy",) and change.changed


def test_a_new_object_is_a_create_with_the_whole_normalised_body() -> None:
    new = lb_service("dns-tcp")
    [change] = diff([new], [])
    assert change.op == "create" and change.live is None
    assert change.patch == [{"op": "add", "path": "", "value": normalise_desired(new)}]
    assert change.origin is not None and change.origin.file == "repo/app.yaml"


@pytest.mark.parametrize("applied", ["kubectl", "ssa"])
def test_a_field_dropped_from_the_repo_is_removed_when_the_applier_recorded_it(
    applied: str,
) -> None:
    old = lb_service("dns-tcp", labels={"team": "net"}, sessionAffinity="ClientIP")
    new = lb_service("dns-tcp")
    change = diff([new], [served(old, applied=applied)])[0]
    assert sorted(op["path"] for op in change.patch) == [
        "/metadata/labels",
        "/spec/sessionAffinity",
    ]
    assert {op["op"] for op in change.patch} == {"remove"}


def test_without_a_record_only_allocation_fields_dropped_from_the_repo_are_removed() -> None:
    old = lb_service("dns-tcp", labels={"team": "net"})
    old["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/hostname"] = "dns.lan"
    new = copy.deepcopy(old)
    del new["metadata"]["annotations"]["metallb.io/allow-shared-ip"]
    del new["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/hostname"]
    del new["metadata"]["labels"]
    change = diff([new], [served(old, applied="none")])[0]
    # Who owns the label and the external-dns annotation is unknown: another controller may.
    assert change.patch == [
        {"op": "remove", "path": "/metadata/annotations/metallb.io~1allow-shared-ip"}
    ]
    assert change.key_changing == ("sharing-key",)


def test_fields_another_manager_added_are_ignored_when_the_applier_recorded_its_own() -> None:
    svc = lb_service("dns-tcp")
    live = served(svc, applied="ssa")
    live["metadata"]["labels"] = {"added-by": "kubectl-label"}
    live["spec"]["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
    assert diff([svc], [live])[0].op == "unchanged"


def test_a_changed_server_filled_field_counts_when_the_repo_sets_it() -> None:
    old = lb_service("dns-tcp", ports=[{"name": "dns", "port": 53, "nodePort": 30053}])
    new = lb_service("dns-tcp", ports=[{"name": "dns", "port": 53, "nodePort": 30054}])
    change = diff([new], [served(old)])[0]
    assert change.patch == [{"op": "replace", "path": "/spec/ports/0/nodePort", "value": 30054}]
    assert change.key_changing == ()


def test_reordered_ports_are_unchanged_and_a_new_port_is_one_add() -> None:
    ports = [{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "UDP"}]
    old = lb_service("dns", ports=ports)
    assert diff([lb_service("dns", ports=ports[::-1])], [served(old)])[0].op == "unchanged"
    added = lb_service("dns", ports=[*ports, {"name": "c", "port": 853}])
    change = diff([added], [served(old, applied="kubectl")])[0]
    assert change.patch == [
        {"op": "add", "path": "/spec/ports/2", "value": {"name": "c", "port": 853}}
    ]
    assert change.key_changing == ("ports",)


def test_a_string_target_port_differs_from_the_number() -> None:
    old = lb_service("web", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    new = lb_service("web", ports=[{"name": "http", "port": 80, "targetPort": "http"}])
    change = diff([new], [served(old)])[0]
    assert change.patch == [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": "http"}]


def test_objects_from_a_git_ref_are_compared_whole() -> None:
    old = lb_service("gw", ipFamilies=["IPv6"], labels={"team": "net"})
    new = lb_service("gw")
    assert diff([old], [old])[0].op == "unchanged"
    change = diff([new], [old])[0]
    # The API server keeps a Service's families when an update omits them.
    assert change.patch == [{"op": "remove", "path": "/metadata/labels"}]
    assert change.key_changing == ()


def test_spelling_out_a_default_is_no_change() -> None:
    old = lb_service("gw")
    new = lb_service("gw", externalTrafficPolicy="Cluster", sessionAffinity="None")
    assert diff([new], [old])[0].op == "unchanged"
    assert diff([new], [served(old, applied="kubectl")])[0].op == "unchanged"
    assert diff([lb_service("gw", sessionAffinity="ClientIP")], [old])[0].op == "update"


def test_a_live_object_outside_the_repo_is_not_a_change_by_default() -> None:
    other = served(lb_service("other", namespace="games"), tracking="flux")
    assert diff([lb_service("dns-tcp")], [other])[0].op == "create"
    assert len(diff([lb_service("dns-tcp")], [other])) == 1


def test_a_pruned_object_is_a_delete_without_patch() -> None:
    repo = [lb_service("dns-tcp")]
    live = [served(b, tracking="argocd-annotation") for b in (*repo, lb_service("dns-udp"))]
    changes = diff(repo, live)
    assert [(c.key.name, c.op) for c in changes] == [
        ("dns-tcp", "unchanged"),
        ("dns-udp", "delete"),
    ]
    assert changes[1].patch == [] and changes[1].desired is None and changes[1].live is not None


def test_a_defaulted_namespace_matches_the_live_one() -> None:
    svc = service("internal", None, ports=[{"port": 80}], selector={"app": "x"})
    live = served(svc)
    assert live["metadata"]["namespace"] == "default"
    assert diff([svc], [live])[0].op == "unchanged"


def test_an_object_twice_in_the_repo_is_an_input_error_naming_both_places() -> None:
    first, second = obj(lb_service("a"), "repo/a.yaml"), obj(lb_service("a"), "repo/b.yaml", 2)
    with pytest.raises(InputError) as err:
        diff_objects([first, second], [])
    assert str(err.value) == (
        "repo/b.yaml: document 3, line 21: Service dns/a is defined twice "
        "(first at repo/a.yaml: document 1, line 1)"
    )


def test_a_mistyped_field_is_an_input_error_with_origin_and_field() -> None:
    bad = lb_service("a", ports="80")
    with pytest.raises(InputError, match=r"^repo/app.yaml: document 1, line 1: .*spec\.ports"):
        diff([bad], [])


def test_an_invalid_requested_ip_on_an_edit_names_the_object() -> None:
    old = lb_service("a")
    new = lb_service("a", annotations={"metallb.io/loadBalancerIPs": "192.168.10.999"})
    with pytest.raises(InputError, match=r"^repo/app.yaml: document 1, line 1: .*192.168.10.999"):
        diff([new], [served(old)])


SAMPLE_DIRS = sorted(p.parent for p in SAMPLES.glob("*/desired"))


@pytest.mark.parametrize("sample", SAMPLE_DIRS, ids=[p.name for p in SAMPLE_DIRS])
def test_the_samples_changes_are_the_expected_ones(sample: Path) -> None:
    """Real snapshots: only the expected objects change; everything else is unchanged."""
    expected = yaml.safe_load((sample / "expected.yaml").read_text())["diff"]
    desired = load_desired([str(sample / "desired")]).objects
    live = load_live_file(str(sample / "live.yaml")).objects
    changed = {
        (c.key.kind, c.key.namespace, c.key.name): c.op
        for c in diff_objects(desired, live)
        if c.op != "unchanged"
    }
    assert changed == {(c["kind"], c["namespace"], c["name"]): c["op"] for c in expected["changes"]}
