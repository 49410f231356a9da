"""Events besides Service writes, per release: Namespace and config events, a controller restart,
the initialLoadPerformed gate, and the Service MetalLB v0.15.3 never settles.

Facts (docs/model.md, "Simulated cluster"): up to v0.15.2 the allocator rewrites the cached
config's IPv4 CIDRs in place (ipaddr.NewPrefix), so PoolReconciler's "configuration did not
change" check never holds and every Namespace, pool or community event re-processes every
Service; v0.15.3 (commit 67ac78b24, copyCIDR) ignores such events when the rendered config is
unchanged.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from planner.analysis.predict import fates_of
from planner.model.allocator import Pool
from planner.model.controller import (
    REPROCESS_ALL,
    STUCK_UNTIL_ANY_CONFIG_EVENT,
    STUCK_UNTIL_NUDGE,
    Controller,
    config_check_never_holds,
    never_settles,
    stuck_until,
)
from planner.model.simcluster import RELOAD, SimulatedCluster, explore, one_at_a_time
from planner.pipeline import build_report
from planner.simulate.world import explore_writes
from planner.sources.live import LiveSource
from tests.model.test_seed_scenario import ORDERS, scenario, writes_in
from tests.model.test_simcluster import svc

LAN = Pool("lan", ["10.0.0.0/27"])
LAN_RANGE = Pool("lan", ["10.0.0.0-10.0.0.31"])  # the same addresses, as a range
LAN_V6 = Pool("lan6", ["fd00::/123"])
DUAL = Pool("dual", ["10.0.0.0/30", "fd00::/126"])
TEAM = Pool("team", ["10.0.2.0/30"], namespace_selectors=[{"matchLabels": {"team": "x"}}])
STOCK = ["metallb-0.14", "metallb-0.15"]


class TestConfigCheck:
    def test_never_holds_up_to_v0152_with_an_ipv4_cidr(self) -> None:
        assert config_check_never_holds("metallb-0.14", [LAN])
        assert config_check_never_holds("metallb-0.14", [LAN_V6, LAN])
        # A summarised range is 16 bytes already and IPv6 is: To16 changes nothing, so it holds.
        assert not config_check_never_holds("metallb-0.14", [LAN_RANGE])
        assert not config_check_never_holds("metallb-0.14", [LAN_V6])
        assert not config_check_never_holds("metallb-0.14", None)
        for behavior in ("metallb-0.15", "fixed"):
            assert not config_check_never_holds(behavior, [LAN])

    def test_stuck_until_per_release(self) -> None:
        assert stuck_until("metallb-0.14", [LAN]) == STUCK_UNTIL_ANY_CONFIG_EVENT
        assert stuck_until("metallb-0.14", [LAN_V6]) == STUCK_UNTIL_NUDGE
        assert stuck_until("metallb-0.15", [LAN]) == STUCK_UNTIL_NUDGE
        assert stuck_until("fixed", [LAN]) == STUCK_UNTIL_NUDGE
        assert STUCK_UNTIL_ANY_CONFIG_EVENT == (
            "until the next Namespace or pool change, a controller restart, or a nudge"
        )
        assert STUCK_UNTIL_NUDGE == "until a nudge or restart"


class TestControllerConfigEvent:
    @pytest.mark.parametrize("behavior", [*STOCK, "fixed"])
    def test_the_first_config_and_a_changed_one_are_always_taken(self, behavior: str) -> None:
        controller = Controller(None, behavior)
        assert controller.config_event([LAN]) == REPROCESS_ALL
        assert controller.config_event([LAN, LAN_V6]) == REPROCESS_ALL
        assert controller.pools == [LAN, LAN_V6]

    def test_an_unchanged_config_is_taken_by_v0149_and_ignored_by_v0153(self) -> None:
        assert Controller([LAN], "metallb-0.14").config_event([LAN]) == REPROCESS_ALL
        assert Controller([LAN], "metallb-0.15").config_event([LAN]) is None
        assert Controller([LAN], "fixed").config_event([LAN]) is None
        # Up to v0.15.2 the check holds where the rewrite changes nothing (ranges, IPv6).
        assert Controller([LAN_RANGE], "metallb-0.14").config_event([LAN_RANGE]) is None
        assert Controller([LAN_V6], "metallb-0.14").config_event([LAN_V6]) is None

    def test_pool_order_is_no_change(self) -> None:
        # The rendered config holds pools in a Go map: their order means nothing.
        assert Controller([LAN_V6, TEAM], "metallb-0.15").config_event([TEAM, LAN_V6]) is None

    def test_a_namespace_relabel_counts_when_a_selector_selects_other_namespaces(self) -> None:
        controller = Controller([LAN, TEAM], "metallb-0.15", namespaces={"ns": {}})
        assert controller.config_event([LAN, TEAM], {"ns": {"other": "y"}}) is None
        assert controller.config_event([LAN, TEAM], {"ns": {"team": "x"}}) == REPROCESS_ALL
        # A new namespace the selector does not select: nothing changes for v0.15.3.
        assert controller.config_event([LAN, TEAM], {"ns": {"team": "x"}, "new": {}}) is None
        old = Controller([LAN, TEAM], "metallb-0.14", namespaces={"ns": {}})
        assert old.config_event([LAN, TEAM], {"ns": {"other": "y"}}) == REPROCESS_ALL

    def test_a_deleted_config_is_refused_and_the_pools_kept(self) -> None:
        controller = Controller([LAN], "metallb-0.15")
        assert controller.config_event(None) == "error_no_retry"
        assert controller.pools == [LAN]


def port_clash(behavior: str, pools: list[Pool] | None = None) -> SimulatedCluster:
    """`ns/a` left stuck in either release: it asks for b's IP with b's key and b's port; then b
    moves to another port, which frees the port but re-processes nobody (b's key is unchanged)."""
    b = svc("b", status=("10.0.0.5",), share="k", ports=[("TCP", 80)])
    cluster = SimulatedCluster.bootstrap(pools or [LAN], [b], behavior)
    cluster.arrive("ns/a", svc("a", ip="10.0.0.5", share="k", ports=[("TCP", 80)]))
    assert cluster.settle()
    moved = copy.deepcopy(cluster.store["ns/b"])
    moved["spec"]["ports"] = [{"port": 81, "protocol": "TCP"}]
    cluster.arrive("ns/b", moved)
    assert cluster.settle()
    assert cluster.stuck_at_end("ns/a"), cluster.warnings("ns/a")
    assert any("port TCP/80 is already in use" in w for w in cluster.warnings("ns/a"))
    return cluster


class TestStuckService:
    @pytest.mark.parametrize("behavior", STOCK)
    def test_a_nudge_brings_it_back_in_every_release(self, behavior: str) -> None:
        cluster = port_clash(behavior)
        nudged = copy.deepcopy(cluster.store["ns/a"])
        nudged["metadata"]["labels"] = {"nudge": "1"}
        cluster.arrive("ns/a", nudged)
        assert cluster.settle()
        assert cluster.ips("ns/a") == ("10.0.0.5",)

    @pytest.mark.parametrize("behavior", STOCK)
    def test_a_restart_brings_it_back_in_every_release(self, behavior: str) -> None:
        cluster = port_clash(behavior)
        cluster.restart()
        assert cluster.queue == [RELOAD]
        assert cluster.settle()
        assert cluster.ips("ns/a") == ("10.0.0.5",)
        assert cluster.ips("ns/b") == ("10.0.0.5",)  # b re-claimed its IP first

    def test_a_namespace_event_brings_it_back_only_up_to_v0152(self) -> None:
        old, new = port_clash("metallb-0.14"), port_clash("metallb-0.15")
        for cluster in (old, new):
            cluster.set_namespaces({"ns": {}, "created": {}})
            assert cluster.settle()
        assert old.ips("ns/a") == ("10.0.0.5",)
        assert new.stuck_at_end("ns/a") and new.queue == []

    def test_an_unchanged_pool_event_brings_it_back_only_up_to_v0152(self) -> None:
        old, new = port_clash("metallb-0.14"), port_clash("metallb-0.15")
        for cluster in (old, new):
            cluster.touch_pools()
            assert cluster.settle()
        assert old.ips("ns/a") == ("10.0.0.5",)
        assert new.stuck_at_end("ns/a")

    def test_up_to_v0152_an_ipv4_range_config_is_no_event_either(self) -> None:
        cluster = port_clash("metallb-0.14", [LAN_RANGE])
        cluster.set_namespaces({"ns": {}, "created": {}})
        cluster.touch_pools()
        assert cluster.queue == [] and cluster.stuck_at_end("ns/a")
        assert cluster.stuck_until("ns/a") == STUCK_UNTIL_NUDGE

    def test_a_real_pool_change_brings_it_back_in_every_release(self) -> None:
        for behavior in STOCK:
            cluster = port_clash(behavior)
            cluster.set_pools([LAN, LAN_V6])
            assert cluster.settle()
            assert cluster.ips("ns/a") == ("10.0.0.5",), behavior

    def test_the_cluster_says_how_long_per_release(self) -> None:
        assert port_clash("metallb-0.14").stuck_until("ns/a") == STUCK_UNTIL_ANY_CONFIG_EVENT
        assert port_clash("metallb-0.15").stuck_until("ns/a") == STUCK_UNTIL_NUDGE
        assert port_clash("metallb-0.15").stuck_until("ns/b") == ""  # not stuck

    def test_the_prediction_carries_the_words(self) -> None:
        for behavior, words in (
            ("metallb-0.14", STUCK_UNTIL_ANY_CONFIG_EVENT),
            ("metallb-0.15", STUCK_UNTIL_NUDGE),
        ):
            cluster = port_clash(behavior)
            [fate] = [f for f in fates_of(list(explore(cluster, []))) if f.service == "ns/a"]
            assert fate.stuck and fate.stuck_until == words
            assert "port TCP/80 is already in use" in fate.reason

    @pytest.mark.parametrize("order", ORDERS)
    def test_seed_stuck_member_freed_by_a_namespace_event_in_v0149(
        self, order: tuple[str, str]
    ) -> None:
        """The seed scenario's v0.14 stuck member (docs/model.md): any Namespace event frees it."""
        cluster, desired = scenario("metallb-0.14")
        stuck = one_at_a_time(cluster, writes_in(order, desired)).cluster
        assert stuck.stuck_at_end(order[0])
        assert stuck.stuck_until(order[0]) == STUCK_UNTIL_ANY_CONFIG_EVENT
        stuck.set_namespaces({"dns": {}, "new-team": {}})
        assert stuck.settle()
        assert stuck.ips(order[0]) == ("192.168.10.53",)


class TestInitialLoadGate:
    def test_service_events_are_dropped_until_a_pass_ends_without_retry(self) -> None:
        # v0.15.3: a's first allocation under a sharing key changes its allocation key, which
        # answers reprocess_all: the first pass retries, so a's own status echo is dropped.
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a", share="k")], "metallb-0.15")
        items = [(h.item, len(h.results)) for h in cluster.handled]
        assert items == [(RELOAD, 1), ("ns/a", 0), (RELOAD, 1)]
        assert cluster.initial_load_performed and cluster.ips("ns/a") == ("10.0.0.0",)

    def test_v0149_first_pass_ends_clean_so_the_echo_is_handled(self) -> None:
        # No allocation-key rule in v0.14.9: after a restart nothing is held, so nothing is let
        # go, and the first pass never retries in the model (a failed status update would).
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a", share="k")], "metallb-0.14")
        items = [(h.item, len(h.results)) for h in cluster.handled]
        assert items == [(RELOAD, 1), ("ns/a", 1)]

    def test_a_restart_closes_the_gate_and_a_clean_pass_opens_it(self) -> None:
        cluster = port_clash("metallb-0.15")
        cluster.restart()
        assert not cluster.initial_load_performed
        cluster.queue.insert(0, "ns/b")  # an event the informer's start queued before the reload
        assert cluster.process_next() is not None and cluster.handled[-1].results == ()
        cluster.settle()
        assert cluster.initial_load_performed

    def test_a_cluster_built_by_hand_is_past_its_initial_load(self) -> None:
        assert SimulatedCluster(Controller([LAN])).initial_load_performed


def prefer_dual_single_stack(name: str = "a") -> dict[str, Any]:
    return svc(
        name,
        ipFamilyPolicy="PreferDualStack",
        ipFamilies=["IPv4"],
        clusterIPs=["10.96.0.1"],
        clusterIP="10.96.0.1",
    )


class TestNeverSettles:
    @pytest.mark.parametrize("behavior", ["metallb-0.15", "fixed"])
    def test_v0153_flips_a_single_stack_prefer_dual_stack_service(self, behavior: str) -> None:
        cluster = SimulatedCluster.bootstrap([DUAL], [], behavior)
        cluster.arrive("ns/a", prefer_dual_single_stack())
        assert cluster.settle(50)
        assert cluster.statuses("ns/a") == [(), ("10.0.0.0",), ("10.0.0.0", "fd00::")]
        cause = cluster.flapping["ns/a"]
        assert cause.startswith("MetalLB v0.15.3 never settles it")
        assert "PreferDualStack" in cause and "serviceFamilyChanged" in cause
        assert not cluster.changed_ip("ns/a")  # one IP, then the same with one of the other family

    def test_the_flip_is_metallbs_not_the_detectors(self) -> None:
        """Without naming it, the simulation never settles: MetalLB would flip for ever."""
        with mock.patch("planner.model.simcluster.never_settles", return_value=""):
            cluster = SimulatedCluster.bootstrap([DUAL], [], "metallb-0.15")
            cluster.arrive("ns/a", prefer_dual_single_stack())
            assert not cluster.settle(50)
        statuses = cluster.statuses("ns/a")
        assert statuses[1:5] == [("10.0.0.0",), ("10.0.0.0", "fd00::")] * 2

    def test_v0149_settles_on_both_families(self) -> None:
        cluster = SimulatedCluster.bootstrap([DUAL], [], "metallb-0.14")
        cluster.arrive("ns/a", prefer_dual_single_stack())
        assert cluster.settle(50)
        assert cluster.ips("ns/a") == ("10.0.0.0", "fd00::") and not cluster.flapping

    def test_a_single_family_pool_settles_on_one_ip(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [], "metallb-0.15")
        cluster.arrive("ns/a", prefer_dual_single_stack())
        assert cluster.settle(50)
        assert cluster.ips("ns/a") == ("10.0.0.0",) and not cluster.flapping

    def test_never_settles_reads_the_written_status(self) -> None:
        flipping = prefer_dual_single_stack()
        flipping["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.0"}, {"ip": "fd00::"}]}}
        assert never_settles("metallb-0.15", flipping)
        assert not never_settles("metallb-0.14", flipping)
        dual = copy.deepcopy(flipping)
        dual["spec"]["clusterIPs"] = ["10.96.0.1", "fd00:10:96::1"]
        assert not never_settles("metallb-0.15", dual)  # dual-stack: two IPs is its end state
        one = copy.deepcopy(flipping)
        one["status"]["loadBalancer"]["ingress"] = [{"ip": "10.0.0.0"}]
        assert not never_settles("metallb-0.15", one)
        single = copy.deepcopy(flipping)
        single["spec"]["ipFamilyPolicy"] = "SingleStack"
        assert not never_settles("metallb-0.15", single)

    def test_the_prediction_names_the_cause(self) -> None:
        cluster = SimulatedCluster.bootstrap([DUAL], [], "metallb-0.15")
        runs = list(explore(cluster, [("ns/a", prefer_dual_single_stack())]))
        assert runs and all(r.settled for r in runs)
        [fate] = fates_of(runs)
        assert fate.service == "ns/a" and fate.never_settles.startswith("MetalLB v0.15.3")
        assert not fate.stuck and not fate.ip_changed

    def test_the_state_explorer_covers_it_without_a_bound(self) -> None:
        """Named, the flip ends every run: one end state, every order, none unfinished (without
        the naming, the same 4 states yield a sample of runs that all hit their step cap)."""
        cluster = SimulatedCluster.bootstrap([DUAL], [], "metallb-0.15")
        exploration = explore_writes(cluster, [("ns/a", prefer_dual_single_stack())], 0)
        assert exploration.exhaustive and exploration.unfinished == 0
        assert len(exploration.runs) == 1 and "ns/a" in exploration.runs[0].cluster.flapping
        with mock.patch("planner.model.simcluster.never_settles", return_value=""):
            unnamed = explore_writes(cluster, [("ns/a", prefer_dual_single_stack())], 0)
        assert not unnamed.exhaustive and unnamed.unfinished == len(unnamed.runs) > 0

    def test_another_service_taking_the_last_free_ip_ends_the_flip(self) -> None:
        """The cause's caveat: with the other family's last IP taken, a stays on one IP."""
        v6 = svc("b", status=("fd00::",), ipFamilies=["IPv6"], clusterIPs=["fd00:10:96::9"])
        small = Pool("dual", ["10.0.0.0/30", "fd00::/128"])
        cluster = SimulatedCluster.bootstrap([small], [v6], "metallb-0.15")
        cluster.arrive("ns/a", prefer_dual_single_stack())
        assert cluster.settle(50)
        assert cluster.ips("ns/a") == ("10.0.0.0",) and not cluster.flapping


def test_diff_names_the_flip_end_to_end(tmp_path: Path) -> None:
    """`planner diff`'s report, from files: a new single-stack PreferDualStack Service on a
    dual-family pool never settles under v0.15.3 (every order), settles under v0.14.9."""
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "dual", "namespace": "metallb-system"},
        "spec": {"addresses": ["192.168.10.0/30", "fd00:10::/126"]},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {
            "type": "LoadBalancer",
            "ipFamilyPolicy": "PreferDualStack",
            "ipFamilies": ["IPv4"],
            "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    }
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "all.yaml").write_text(yaml.safe_dump_all([pool, service]))
    (tmp_path / "live.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [pool]})
    )
    report = build_report([str(tmp_path / "desired")], LiveSource.file(str(tmp_path / "live.yaml")))
    for behavior in ("metallb-0.15", "fixed"):
        prediction = report.predictions[behavior]
        assert prediction.never_settling == ("app/web",) and not prediction.stuck
        [fate] = prediction.fates
        assert fate.always and fate.never_settles.startswith("MetalLB v0.15.3 never settles")
    assert report.predictions["metallb-0.14"].fates == ()
