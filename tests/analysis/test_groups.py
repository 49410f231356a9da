"""Sharing groups of live and desired state, from small real manifests and live snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.analysis import groups
from planner.analysis.groups import sharing_groups
from planner.analysis.records import SharingGroupReport
from planner.diff import key_changing_fields
from planner.model.pools import Pool, pools_from_objects
from planner.sources.desired import load_desired
from planner.sources.live import load_live_file

LAN = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "lan", "namespace": "metallb-system"},
    "spec": {"addresses": ["192.168.10.0/24"]},
}


def service(
    name: str,
    *,
    key: str = "",
    ips: str = "",
    port: int = 80,
    proto: str = "TCP",
    policy: str = "Cluster",
    status: str = "",
    app: str = "",
    **annotations: str,
) -> dict[str, Any]:
    """A LoadBalancer Service in namespace `apps`; `status` is the IP a live object holds."""
    notes = {"metallb.io/allow-shared-ip": key} if key else {}
    if ips:
        notes["metallb.io/loadBalancerIPs"] = ips
    notes.update({name.replace("_", "-"): value for name, value in annotations.items()})
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "apps", "annotations": notes},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": policy,
            "selector": {"app": app or name},
            "ports": [{"port": port, "protocol": proto}],
        },
    }
    if status:
        manifest["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status.split(",")]}}
    return manifest


def groups_of(
    tmp_path: Path,
    live: list[dict[str, Any]],
    desired: list[dict[str, Any]],
    statuses_known: bool = True,
) -> tuple[SharingGroupReport, ...]:
    """Write both states to files, load them as the planner does, and build the groups."""
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "all.yaml").write_text(yaml.safe_dump_all(desired))
    snapshot = {"apiVersion": "v1", "kind": "List", "items": live}
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(snapshot))
    return _groups(
        load_desired([str(tmp_path / "desired")]),
        load_live_file(str(tmp_path / "live.yaml")),
        statuses_known,
    )


def sample_groups(
    samples_dir: Path, name: str, statuses_known: bool = True
) -> tuple[SharingGroupReport, ...]:
    """The groups of one of the repo's samples."""
    desired = load_desired([str(samples_dir / name / "desired")])
    live = load_live_file(str(samples_dir / name / "live.yaml"))
    return _groups(desired, live, statuses_known)


def _groups(desired: Any, live: Any, statuses_known: bool) -> tuple[SharingGroupReport, ...]:
    key_changes = {
        svc: key_changing_fields(live.services.get(svc), body)
        for svc, body in desired.services.items()
    }
    pools = pools_from_objects(desired.pools or live.pools)
    namespaces = {**live.namespaces, **desired.namespaces}
    live_services = live.services if statuses_known else _without_status(live.services)
    return sharing_groups(
        live_services, desired.services, pools, namespaces, key_changes, statuses_known
    )


def _without_status(services: dict[str, Any]) -> dict[str, Any]:
    # What a git ref holds: the manifests, no status.
    return {key: {k: v for k, v in body.items() if k != "status"} for key, body in services.items()}


def only(groups: tuple[SharingGroupReport, ...]) -> SharingGroupReport:
    assert len(groups) == 1, groups
    return groups[0]


class TestKeyChange:
    def test_seed_sample_group_is_key_changing(self, samples_dir: Path) -> None:
        group = only(sample_groups(samples_dir, "seed-dns-local"))
        assert group.members == ("dns/dns-tcp", "dns/dns-udp")
        assert group.ips == ("192.168.10.53",)
        assert group.ips_source == "requested"
        assert group.key_changing and group.touched
        assert group.joining == () and group.leaving == ()
        assert group.key_changes == (
            ("dns/dns-tcp", ("externalTrafficPolicy",)),
            ("dns/dns-udp", ("externalTrafficPolicy",)),
        )

    def test_unchanged_group_is_not_touched(self, tmp_path: Path) -> None:
        live = [
            service("a", key="k", ips="192.168.10.5", status="192.168.10.5"),
            service("b", key="k", ips="192.168.10.5", port=443, status="192.168.10.5"),
        ]
        desired = [LAN] + [
            service("a", key="k", ips="192.168.10.5"),
            service("b", key="k", ips="192.168.10.5", port=443),
        ]
        group = only(groups_of(tmp_path, live, desired))
        assert group.members == ("apps/a", "apps/b")
        assert not group.key_changing and not group.touched

    def test_auto_assigned_group_changing_key_together_keeps_its_ip(self, tmp_path: Path) -> None:
        live = [
            service("a", key="k", app="web", status="192.168.10.7"),
            service("b", key="k", app="web", port=443, status="192.168.10.7"),
        ]
        desired = [
            LAN,
            service("a", key="k", app="web", policy="Local"),
            service("b", key="k", app="web", port=443, policy="Local"),
        ]
        group = only(groups_of(tmp_path, live, desired))
        assert group.ips == ("192.168.10.7",) and group.ips_source == "predicted"
        assert group.key_changing and group.joining == () and group.leaving == ()

    def test_auto_assigned_member_whose_new_key_differs_leaves(self, tmp_path: Path) -> None:
        live = [
            service("a", key="k", status="192.168.10.7"),
            service("b", key="k", port=443, status="192.168.10.7"),
        ]
        desired = [
            LAN,
            service("a", key="k", policy="Local"),
            service("b", key="k", port=443, policy="Local"),
        ]
        # b's selector differs from a's ({app: b}): under Local they can no longer share.
        group = only(groups_of(tmp_path, live, desired))
        assert group.ips == ("192.168.10.7",) and group.ips_source == "live"
        assert group.leaving == ("apps/b",)  # a keeps .7; b gets an address of its own
        assert group.key_changing


class TestJoinAndLeave:
    def test_sample_service_joins(self, samples_dir: Path) -> None:
        group = only(sample_groups(samples_dir, "join-group"))
        assert group.joining == ("ingress/ingress-http3",)
        assert group.touched and not group.key_changing
        assert "ingress/ingress-http3" in group.members

    def test_sample_group_split(self, samples_dir: Path) -> None:
        group = only(sample_groups(samples_dir, "group-split"))
        assert group.members == ("web/web-a", "web/web-b")  # the live group: it dissolves
        assert group.leaving == ("web/web-b",)  # web-a stays alone on the address
        assert group.key_changing and group.touched

    def test_split_into_two_groups(self, tmp_path: Path) -> None:
        live = [
            service(n, key="k", ips="192.168.10.5", port=p, status="192.168.10.5")
            for n, p in (("a", 80), ("b", 443), ("c", 8080), ("d", 8443))
        ]
        desired = [
            LAN,
            service("a", key="k", ips="192.168.10.5"),
            service("b", key="k", ips="192.168.10.5", port=443),
            service("c", key="k2", ips="192.168.10.6", port=8080),
            service("d", key="k2", ips="192.168.10.6", port=8443),
        ]
        kept, moved = groups_of(tmp_path, live, desired)
        assert kept.ips == ("192.168.10.5",) and kept.members == ("apps/a", "apps/b")
        assert kept.leaving == ("apps/c", "apps/d") and kept.touched
        # The leavers' key change is what splits the group: it counts for the group.
        assert kept.key_changing and [svc for svc, _ in kept.key_changes] == ["apps/c", "apps/d"]
        assert moved.ips == ("192.168.10.6",) and moved.joining == ("apps/c", "apps/d")
        assert moved.key_changing
        assert kept.id != moved.id

    def test_deleted_member_leaves(self, tmp_path: Path) -> None:
        live = [
            service(n, key="k", ips="192.168.10.5", port=p, status="192.168.10.5")
            for n, p in (("a", 80), ("b", 443), ("c", 8080))
        ]
        desired = [
            LAN,
            service("a", key="k", ips="192.168.10.5"),
            service("b", key="k", ips="192.168.10.5", port=443),
        ]
        group = only(groups_of(tmp_path, live, desired))
        assert group.members == ("apps/a", "apps/b")
        assert group.leaving == ("apps/c",) and group.touched and not group.key_changing

    def test_member_turned_cluster_ip_leaves(self, tmp_path: Path) -> None:
        live = [
            service(n, key="k", ips="192.168.10.5", port=p, status="192.168.10.5")
            for n, p in (("a", 80), ("b", 443), ("c", 8080))
        ]
        internal = service("c", key="k", ips="192.168.10.5", port=8080)
        internal["spec"]["type"] = "ClusterIP"
        desired = [
            LAN,
            service("a", key="k", ips="192.168.10.5"),
            service("b", key="k", ips="192.168.10.5", port=443),
            internal,
        ]
        group = only(groups_of(tmp_path, live, desired))
        assert group.leaving == ("apps/c",)
        assert ("apps/c", ("type",)) in group.key_changes


class TestSwap:
    def test_two_groups_swap_addresses(self, tmp_path: Path) -> None:
        live = [
            service("a", key="x", ips="192.168.10.5", status="192.168.10.5"),
            service("b", key="x", ips="192.168.10.5", port=443, status="192.168.10.5"),
            service("c", key="y", ips="192.168.10.6", status="192.168.10.6"),
            service("d", key="y", ips="192.168.10.6", port=443, status="192.168.10.6"),
        ]
        desired = [
            LAN,
            service("a", key="x", ips="192.168.10.6"),
            service("b", key="x", ips="192.168.10.6", port=443),
            service("c", key="y", ips="192.168.10.5"),
            service("d", key="y", ips="192.168.10.5", port=443),
        ]
        first, second = groups_of(tmp_path, live, desired)
        # Matched by members, not by address: each group moves, nobody joins or leaves.
        assert (first.members, first.ips) == (("apps/c", "apps/d"), ("192.168.10.5",))
        assert (second.members, second.ips) == (("apps/a", "apps/b"), ("192.168.10.6",))
        for group in (first, second):
            assert group.joining == () and group.leaving == ()
            assert group.key_changing and group.touched
            assert all(fields == ("requested-ips",) for _, fields in group.key_changes)


class TestPrediction:
    def test_new_auto_assigned_group_is_predicted(self, tmp_path: Path) -> None:
        taken = service("old", ips="192.168.10.0", status="192.168.10.0")
        desired = [
            LAN,
            service("old", ips="192.168.10.0"),
            service("a", key="k"),
            service("b", key="k", port=443),
        ]
        group = only(groups_of(tmp_path, [taken], desired))
        assert group.members == ("apps/a", "apps/b")
        assert group.ips == ("192.168.10.1",)  # the first free address of the only pool
        assert group.ips_source == "predicted"
        assert group.joining == ("apps/a", "apps/b") and group.touched

    def test_lone_service_changing_its_key_keeps_its_address(self, tmp_path: Path) -> None:
        # The only holder of an IP may change its key in place, so .0 stays taken.
        taken = service("old", status="192.168.10.0")
        desired = [
            LAN,
            service("old", port=8080),
            service("a", key="k"),
            service("b", key="k", port=443),
        ]
        group = only(groups_of(tmp_path, [taken], desired))
        assert group.ips == ("192.168.10.1",)

    def test_two_pools_make_a_set_of_possible_addresses(self, tmp_path: Path) -> None:
        other = {
            **LAN,
            "metadata": {"name": "lab", "namespace": "metallb-system"},
            "spec": {"addresses": ["192.168.20.0/24"]},
        }
        desired = [LAN, other, service("a", key="k"), service("b", key="k", port=443)]
        group = only(groups_of(tmp_path, [], desired))
        # Go's map order decides the pool: either first address may be it.
        assert group.ips == ("192.168.10.0", "192.168.20.0")
        assert group.ips_source == "predicted"

    def test_group_keeping_its_key_keeps_its_live_address(self, tmp_path: Path) -> None:
        live = [
            service("a", key="k", status="192.168.10.9"),
            service("b", key="k", port=443, status="192.168.10.9"),
        ]
        desired = [LAN, service("a", key="k", team="web"), service("b", key="k", port=443)]
        group = only(groups_of(tmp_path, live, desired))
        assert group.ips == ("192.168.10.9",) and group.ips_source == "live"
        assert not group.touched

    def test_newcomer_predicted_onto_a_live_group(self, tmp_path: Path) -> None:
        live = [
            service("old", status="192.168.10.0"),
            service("a", key="k", status="192.168.10.1"),
            service("b", key="k", port=443, status="192.168.10.1"),
        ]
        desired = [
            LAN,
            service("old"),
            service("a", key="k"),
            service("b", key="k", port=443),
            service("c", key="k", port=8080),
        ]
        group = only(groups_of(tmp_path, live, desired))
        assert group.members == ("apps/a", "apps/b", "apps/c")
        assert group.joining == ("apps/c",)
        assert group.ips == ("192.168.10.1",) and group.ips_source == "predicted"

    def test_newcomer_takes_an_earlier_free_address_instead(self, tmp_path: Path) -> None:
        # MetalLB takes the FIRST address that passes the sharing check: a free .0 beats the
        # group's .9, so the newcomer of the same sharing key does not join the group.
        live = [
            service("a", key="k", status="192.168.10.9"),
            service("b", key="k", port=443, status="192.168.10.9"),
        ]
        desired = [
            LAN,
            service("a", key="k"),
            service("b", key="k", port=443),
            service("c", key="k", port=8080),
        ]
        group = only(groups_of(tmp_path, live, desired))
        assert group.members == ("apps/a", "apps/b") and not group.touched


class TestLiveFromGit:
    def test_seed_sample_without_statuses(self, samples_dir: Path) -> None:
        group = only(sample_groups(samples_dir, "seed-dns-local", statuses_known=False))
        assert group.ips == ("192.168.10.53",) and group.ips_source == "requested"
        assert group.key_changing and group.joining == () and group.leaving == ()

    def test_auto_assigned_group_is_predicted_on_both_sides(self, tmp_path: Path) -> None:
        live = [service("a", key="k"), service("b", key="k", port=443)]
        desired = [
            LAN,
            service("a", key="k"),
            service("b", key="k", port=443),
            service("c", key="k", port=8080),
        ]
        group = only(groups_of(tmp_path, live, desired, statuses_known=False))
        assert group.ips_source == "predicted"
        assert group.members == ("apps/a", "apps/b", "apps/c")
        assert group.joining == ("apps/c",) and not group.key_changing

    def test_statuses_are_ignored_when_unknown(self, tmp_path: Path) -> None:
        # With statuses_known=False a stray status must not be read: IPs come from the model.
        live = [
            service("a", key="k", status="192.168.10.99"),
            service("b", key="k", port=443, status="192.168.10.99"),
        ]
        desired = [LAN, service("a", key="k"), service("b", key="k", port=443)]
        (tmp_path / "desired").mkdir()
        (tmp_path / "desired" / "all.yaml").write_text(yaml.safe_dump_all(desired))
        state = load_desired([str(tmp_path / "desired")])
        services = {f"apps/{m['metadata']['name']}": m for m in live}
        groups = sharing_groups(
            services, state.services, pools_from_objects(state.pools), {}, {}, False
        )
        assert only(groups).ips == ("192.168.10.0",)
        assert not only(groups).touched


class TestOutput:
    def test_deterministic_and_content_derived_ids(self, tmp_path: Path, samples_dir: Path) -> None:
        first = sample_groups(samples_dir, "join-group")
        second = sample_groups(samples_dir, "join-group")
        assert first == second
        assert (
            first[0].id.startswith("g-")
            and first[0].id != only(sample_groups(samples_dir, "seed-dns-local")).id
        )

    def test_dual_stack_group_is_one_group(self, samples_dir: Path) -> None:
        group = only(sample_groups(samples_dir, "dual-stack-group"))
        assert group.ips == ("192.168.10.70", "fd00:10::70")

    def test_groups_sorted_by_address(self, tmp_path: Path) -> None:
        desired = [LAN] + [
            service(f"s{i}{m}", key=f"k{i}", ips=f"192.168.10.{i}", port=80 + m)
            for i in (30, 4, 100)
            for m in (0, 1)
        ]
        groups = groups_of(tmp_path, [], desired)
        assert [g.ips for g in groups] == [
            ("192.168.10.4",),
            ("192.168.10.30",),
            ("192.168.10.100",),
        ]


# --- properties over random small states -------------------------------------------------------

_member = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["", "k", "j"]),
        "live_ip": st.sampled_from(["", "192.168.10.5", "192.168.10.6"]),
        "ip": st.sampled_from(["", "192.168.10.5", "192.168.10.6"]),
        "port": st.sampled_from([53, 80, 443]),
        "deleted": st.booleans(),
    }
)


def _states(members: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Live and desired Services of the members (`local` and `pool`, when a member has them:
    its desired policy and address-pool annotation)."""
    live, desired = {}, {}
    for index, member in enumerate(members):
        name = f"s{index}"
        live[f"apps/{name}"] = service(
            name, key=member["key"], port=member["port"], status=member["live_ip"]
        )
        if member["deleted"]:
            continue
        policy = "Local" if member.get("local") else "Cluster"
        body = service(
            name, key=member["key"], ips=member["ip"], port=member["port"], policy=policy
        )
        if member.get("pool"):
            body["metadata"]["annotations"]["metallb.io/address-pool"] = member["pool"]
        desired[f"apps/{name}"] = body
    return live, desired


@settings(max_examples=60, deadline=None)
@given(st.lists(_member, min_size=2, max_size=6), st.booleans())
def test_groups_are_consistent_and_independent_of_input_order(
    members: list[dict[str, Any]], statuses_known: bool
) -> None:
    live, desired = _states(members)
    pools = pools_from_objects([LAN])
    key_changes = {svc: key_changing_fields(live.get(svc), body) for svc, body in desired.items()}
    groups = sharing_groups(live, desired, pools, {}, key_changes, statuses_known)
    reversed_input = sharing_groups(
        dict(reversed(live.items())),
        dict(reversed(desired.items())),
        pools,
        {},
        dict(reversed(key_changes.items())),
        statuses_known,
    )
    assert groups == reversed_input
    assert len({g.id for g in groups}) == len(groups)
    for group in groups:
        assert len(group.members) >= 2 and list(group.members) == sorted(group.members)
        assert group.touched == bool(group.key_changing or group.joining or group.leaving)
        assert group.key_changing == bool(group.key_changes)
        assert set(group.joining) <= set(group.members)
        assert not set(group.joining) & set(group.leaving)


# --- the prediction assigns only the holders that matter ---------------------------------------

# Pools of every kind the allocator searches differently: auto-assigned or not, overlapping,
# avoiding .0/.255, pinned to a namespace, IPv6.
_POOLS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                ("192.168.10.0/30",),
                ("192.168.10.0/29",),
                ("192.168.11.0/31",),
                ("fd00::/127",),
                ("192.168.10.0/31", "fd00::/127"),
            ]
        ),
        st.booleans(),
        st.booleans(),
        st.sampled_from([(), ("apps",)]),
    ),
    min_size=1,
    max_size=4,
)
_ADDRESSES = ["", "192.168.10.1", "192.168.10.4", "192.168.11.1", "10.0.0.1", "fd00::1"]
_ADDRESSES += ["192.168.10.1,fd00::1", "192.168.11.1,fd00::1"]
_holder = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["", "k", "j"]),
        "live_ip": st.sampled_from(_ADDRESSES),
        "ip": st.sampled_from(_ADDRESSES),
        "pool": st.sampled_from(["", "p0", "p1", "p9"]),
        "port": st.sampled_from([53, 80]),
        "local": st.booleans(),
        "deleted": st.booleans(),
    }
)


def _pools_of(specs: list[tuple[tuple[str, ...], bool, bool, tuple[str, ...]]]) -> list[Pool]:
    return [
        Pool(f"p{i}", cidrs, auto_assign=auto, avoid_buggy_ips=buggy, namespaces=namespaces)
        for i, (cidrs, auto, buggy, namespaces) in enumerate(specs)
    ]


@settings(max_examples=300, deadline=None)
@given(_POOLS, st.lists(_holder, min_size=1, max_size=8), st.booleans())
def test_the_prediction_assigns_only_the_holders_that_matter_and_predicts_the_same(
    pools: list[tuple[tuple[str, ...], bool, bool, tuple[str, ...]]],
    members: list[dict[str, Any]],
    statuses_known: bool,
) -> None:
    # Every holder assigned to the allocator (as before) or only those that can matter.
    live, desired = _states(members)
    filtered, every_holder = _with_and_without_the_filter(
        live, desired, _pools_of(pools), statuses_known
    )
    assert filtered == every_holder


def _with_and_without_the_filter(
    live: dict[str, Any], desired: dict[str, Any], pools: list[Pool], statuses_known: bool = True
) -> tuple[tuple[SharingGroupReport, ...], tuple[SharingGroupReport, ...]]:
    """The groups as sharing_groups finds them, and with every holder assigned (as before)."""
    key_changes = {svc: key_changing_fields(live.get(svc), body) for svc, body in desired.items()}
    args = (live, desired, pools, {"apps": {}}, key_changes, statuses_known)
    with mock.patch.object(groups, "_holders_that_matter", lambda ordered, *_: list(ordered)):
        every_holder = sharing_groups(*args)
    return sharing_groups(*args), every_holder


def test_a_holder_of_an_address_held_before_matters_outside_the_searched_pools() -> None:
    # `s` held 192.168.10.1 (a pool nobody allocates from) and changes its key: it keeps its
    # IP only if `h`, which requests it under another key, is assigned first.
    pools = [Pool("manual", ["192.168.10.0/30"], auto_assign=False), Pool("auto", ["10.0.0.0/30"])]
    live = {"apps/s": service("s", key="j", status="192.168.10.1")}
    desired = {
        "apps/h": service("h", key="k", ips="192.168.10.1"),
        "apps/s": service("s", key="j", policy="Local"),
        "apps/t": service("t", key="j", ips="192.168.10.1", port=53),
    }
    filtered, every_holder = _with_and_without_the_filter(live, desired, pools)
    assert filtered == every_holder
    assert "apps/s" not in next(g for g in filtered if "apps/h" in g.members).members


def test_a_holder_linked_through_a_shared_address_matters() -> None:
    # `h` holds fd00::1 live (only a pool nobody allocates from owns it); `d` requests it and
    # 10.0.0.0 (which the auto-assign pool overlaps) under another key: refused, it leaves
    # 10.0.0.0 free for the new `s` (with `d` assigned, `s` would get 10.0.0.1).
    manual = Pool("manual", ["10.0.0.0/31", "fd00::/127"], auto_assign=False)
    pools = [manual, Pool("auto", ["10.0.0.0/30"])]
    live = {"apps/h": service("h", key="k", status="fd00::1")}
    desired = {
        "apps/h": service("h", key="k"),
        "apps/d": service("d", key="j", ips="10.0.0.0,fd00::1"),
        "apps/s": service("s", key="m"),
    }
    filtered, every_holder = _with_and_without_the_filter(live, desired, pools)
    assert filtered == every_holder
    assert any(set(g.members) == {"apps/d", "apps/s"} for g in filtered)


def test_a_holder_of_a_requested_pool_that_is_not_auto_assigned_matters() -> None:
    # `s` asks for the pool `manual` (AllocateFromPool reads it although it is not
    # auto-assigned): `h` holds its first address under another key, so `s` shares the second with
    # `t`.
    pools = [Pool("manual", ["192.168.10.0/31"], auto_assign=False), Pool("auto", ["10.0.0.0/30"])]
    desired = {
        "apps/h": service("h", key="k", ips="192.168.10.0"),
        "apps/s": service("s", key="m", **{"metallb.io/address-pool": "manual"}),
        "apps/t": service("t", key="m", ips="192.168.10.1", port=53),
    }
    filtered, every_holder = _with_and_without_the_filter({}, desired, pools)
    assert filtered == every_holder
    assert any(set(g.members) == {"apps/s", "apps/t"} for g in filtered)


def test_holders_only_of_pools_no_prediction_searches_are_left_out() -> None:
    pools = [Pool("manual", ["192.168.10.0/30"], auto_assign=False), Pool("auto", ["10.0.0.0/30"])]
    holders = {
        "apps/a": groups._Placement(("192.168.10.1",), ("192.168.10.1",), groups.REQUESTED),
        "apps/b": groups._Placement(("10.0.0.1",), ("10.0.0.1",), groups.LIVE),
        "apps/c": groups._Placement(("not-an-ip",), ("not-an-ip",), groups.REQUESTED),
    }
    reach = groups._Reach.of(pools, [], {})
    assert groups._holders_that_matter(list(holders), holders, reach) == ["apps/b", "apps/c"]


def test_ips_are_sorted_by_family_then_address_not_by_text() -> None:
    ips = ("fd00::1", "10.0.0.10", "10.0.0.9", "9.0.0.1")
    assert groups._sorted_ips(ips) == ("9.0.0.1", "10.0.0.9", "10.0.0.10", "fd00::1")
    assert groups._sorted_ips(("fd00::1",)) == ("fd00::1",)
