"""build_plan: units → waves → transition groups for cycles → simulation per wave.

The builders at the top make small clusters in memory (no files): Service and pool manifests, a
live state whose statuses come from the MetalLB model itself, and the Scenario the planner reads.
The other plan tests (units, graph, verify, the property test) reuse them.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from planner.diff.scenario import Scenario, build_scenario
from planner.errors import PlannerError
from planner.model.controller import Behavior
from planner.model.pools import pools_from_objects
from planner.model.service import GROUP_ANNOTATION, ingress_ips
from planner.model.simcluster import SimulatedCluster
from planner.objects import KubeObject, Manifest, ObjectKey, svc_key_of
from planner.pipeline import load_scenario, plan_scenario
from planner.plan import build as build_module
from planner.plan.build import TRANSITION_GROUP_PREFIX, PlanRefused, build_plan
from planner.plan.graph import GROUP_TRANSITION, SERVICE
from planner.plan.records import Plan
from planner.plan.units import DELETE
from planner.render.plan import render_plan
from planner.simulate import world
from planner.simulate.world import nudge as world_nudge
from planner.sources.desired import DesiredState
from planner.sources.live import LiveSource, live_state
from tests.simulate.test_world import Survivors

NAMESPACE = "apps"
POOL_NAMESPACE = "metallb-system"
# Every test Service is tracked by one Argo CD app, so a Service missing from desired is deleted.
OWNER_LABEL = {"app.kubernetes.io/instance": "apps"}


def service(
    name: str,
    *,
    port: int = 80,
    proto: str = "TCP",
    share: str = "",
    ips: Sequence[str] = (),
    pool: str = "",
    local: bool = False,
    app: str = "web",
    kind: str = "LoadBalancer",
) -> Manifest:
    """A Service manifest as a repo holds it (no status)."""
    annotations: dict[str, str] = {}
    if share:
        annotations["metallb.io/allow-shared-ip"] = share
    if ips:
        annotations["metallb.io/loadBalancerIPs"] = ",".join(ips)
    if pool:
        annotations["metallb.io/address-pool"] = pool
    spec: dict[str, Any] = {
        "type": kind,
        "selector": {"app": app},
        "ports": [{"name": f"p{port}", "port": port, "protocol": proto, "targetPort": port}],
        "externalTrafficPolicy": "Local" if local else "Cluster",
    }
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": dict(OWNER_LABEL)}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def ip_pool(name: str, *cidrs: str, auto_assign: bool = True) -> Manifest:
    """An IPAddressPool manifest."""
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": POOL_NAMESPACE},
        "spec": {"addresses": list(cidrs), "autoAssign": auto_assign},
    }


def running(services: Iterable[Manifest], pools: Sequence[Manifest]) -> list[Manifest]:
    """The Services as a cluster runs them: statuses given by the MetalLB model (fixed).

    Services the model leaves without an IP are dropped: a live state starts settled.
    """
    cluster = SimulatedCluster.bootstrap(pools_from_objects(pools), [], "metallb-0.15")
    for manifest in services:
        cluster.arrive(svc_key_of(manifest), copy.deepcopy(manifest))
        cluster.settle()
    return [m for m in cluster.store.values() if ingress_ips(m)]


def _objects(manifests: Iterable[Manifest]) -> list[KubeObject]:
    objects = []
    for manifest in manifests:
        meta = manifest["metadata"]
        key = ObjectKey(manifest["kind"], meta.get("namespace", ""), meta["name"])
        objects.append(KubeObject(key, manifest))
    return objects


def scenario_of(
    desired: Sequence[Manifest],
    live: Sequence[Manifest],
    pools: Sequence[Manifest],
    live_pools: Sequence[Manifest] | None = None,
) -> Scenario:
    """The Scenario for desired Services and pools against live Services (with status) and pools."""
    before = list(pools if live_pools is None else live_pools)
    return build_scenario(
        DesiredState(_objects([*desired, *pools])), live_state(_objects([*live, *before]))
    )


def planned(
    desired: Sequence[Manifest],
    live: Sequence[Manifest],
    pools: Sequence[Manifest],
    **options: Any,
) -> Plan:
    """plan_scenario (static conflicts included) for in-memory manifests."""
    return plan_scenario(scenario_of(desired, live, pools), **options)


def wave_shapes(plan: Plan) -> list[list[tuple[str, tuple[str, ...]]]]:
    """Per wave: (kind, services) of each unit, sorted."""
    return [sorted((u.kind, u.services) for u in wave.units) for wave in plan.waves]


LAN = ip_pool("lan", "10.0.0.0/29")
SEED_IP = "10.0.0.5"


def seed_case() -> tuple[list[Manifest], list[Manifest]]:
    """The seed scenario in miniature: two Services share one IP, both move Cluster → Local."""
    before = [
        service("dns-tcp", port=53, share="dns", ips=[SEED_IP]),
        service("dns-udp", port=53, proto="UDP", share="dns", ips=[SEED_IP]),
    ]
    after = [
        service("dns-tcp", port=53, share="dns", ips=[SEED_IP], local=True, app="dns"),
        service("dns-udp", port=53, proto="UDP", share="dns", ips=[SEED_IP], local=True, app="dns"),
    ]
    return after, running(before, [LAN])


def seed_plan(**options: Any) -> Plan:
    desired, live = seed_case()
    return planned(desired, live, [LAN], **options)


def test_key_change_of_a_group_is_one_group_transition_in_one_wave() -> None:
    plan = seed_plan()
    assert wave_shapes(plan) == [[(GROUP_TRANSITION, ("apps/dns-tcp", "apps/dns-udp"))]]
    unit = plan.waves[0].units[0]
    assert unit.members == ("apps/dns-tcp", "apps/dns-udp")
    assert unit.waits_for == ()
    assert plan.waves[0].expected_ips == {
        "apps/dns-tcp": ((SEED_IP,),),
        "apps/dns-udp": ((SEED_IP,),),
    }


def test_the_writes_are_the_desired_services_with_the_group_annotations() -> None:
    desired, live = seed_case()
    scenario = scenario_of(desired, live, [LAN])
    plan = plan_scenario(scenario)
    for write in plan.waves[0].writes:
        assert write.manifest == scenario.stamped_services[write.service]
        assert GROUP_ANNOTATION in write.manifest["metadata"]["annotations"]


def test_predictions_per_behaviour_and_the_nudge_only_v014_needs() -> None:
    plan = seed_plan()
    members = ("apps/dns-tcp", "apps/dns-udp")
    assert plan.predictions["fixed"].windows == ()
    assert {(w.service, w.until) for w in plan.predictions["metallb-0.15"].windows} == {
        (svc, "group-complete") for svc in members
    }
    assert {(w.service, w.until) for w in plan.predictions["metallb-0.14"].windows} == {
        (svc, "nudge") for svc in members
    }
    assert plan.predictions["metallb-0.14"].stuck == members
    assert plan.waves[0].nudges == {"metallb-0.14": members}


def test_preconditions_fingerprint_every_written_live_service() -> None:
    desired, live = seed_case()
    plan = planned(desired, [*live], [LAN])
    assert sorted(plan.preconditions) == ["apps/dns-tcp", "apps/dns-udp"]
    assert all(value.startswith("fp1:") for value in plan.preconditions.values())


def test_the_baseline_carries_the_live_state_verify_needs() -> None:
    plan = seed_plan()
    assert sorted(plan.baseline.services) == ["apps/dns-tcp", "apps/dns-udp"]
    assert plan.baseline.pools_after == (LAN,)


def test_the_baseline_carries_unwritten_pool_neighbours_and_no_other_service() -> None:
    manual = ip_pool("manual", "10.0.1.0/29", auto_assign=False)  # "new" cannot draw from it
    before = [service("web", ips=["10.0.0.1"]), service("far", port=81, ips=["10.0.1.1"])]
    plan = planned(
        [*before, service("new", port=82)], running(before, [LAN, manual]), [LAN, manual]
    )
    assert [w.service for w in plan.waves[0].writes] == ["apps/new"]
    assert sorted(plan.baseline.services) == ["apps/web"]  # frozen in the pool "new" draws from


def test_a_plan_writing_every_live_service_splits_its_writes_once() -> None:
    # Every neighbour a component may have is written already: the baseline's own, unsplit
    # pass over the writes could add no Service.
    with mock.patch("planner.plan.build.components") as unsplit:
        plan = seed_plan()
    unsplit.assert_not_called()
    assert sorted(plan.baseline.services) == ["apps/dns-tcp", "apps/dns-udp"]


def test_the_live_allocator_is_made_for_auto_assigned_targets_only_and_once() -> None:
    live_allocator = build_module._live_allocator
    with mock.patch.object(build_module, "_live_allocator", wraps=live_allocator) as made:
        seed_plan()  # every target keeps its requested IP
        assert made.call_count == 0
        live = running([service("web", ips=["10.0.0.1"])], [LAN])
        desired = [service("web", ips=["10.0.0.1"]), service("a", port=81), service("b", port=82)]
        plan = planned(desired, live, [LAN])
        assert made.call_count == 1
    assert {svc for wave in plan.waves for svc in wave.expected_ips} == {"apps/a", "apps/b"}


def test_nothing_to_do_gives_a_plan_without_waves() -> None:
    live = running([service("web", ips=["10.0.0.1"])], [LAN])
    plan = planned([service("web", ips=["10.0.0.1"])], live, [LAN])
    assert plan.waves == ()


def test_a_freed_ip_is_claimed_one_wave_after_its_release() -> None:
    live = running([service("old", ips=["10.0.0.1"]), service("keep", ips=["10.0.0.2"])], [LAN])
    desired = [service("keep", ips=["10.0.0.2"]), service("new", port=81, ips=["10.0.0.1"])]
    plan = planned(desired, live, [LAN])
    assert wave_shapes(plan) == [[(SERVICE, ("apps/old",))], [(SERVICE, ("apps/new",))]]
    deletion, creation = plan.waves[0].units[0], plan.waves[1].units[0]
    assert deletion.writes[0].op == DELETE
    assert creation.waits_for == (deletion.id,)
    assert any("10.0.0.1" in reason for reason in creation.reasons)
    assert plan.waves[1].expected_ips == {"apps/new": (("10.0.0.1",),)}


def test_a_requested_ip_is_claimed_before_an_auto_assigned_creation() -> None:
    small = ip_pool("lan", "10.0.0.0/31")  # two addresses
    live = running([service("old", ips=["10.0.0.0"])], [small])
    desired = [service("pinned", port=81, ips=["10.0.0.0"]), service("auto", port=82)]
    plan = planned(desired, live, [small])
    order = [sorted(u.services for u in wave.units) for wave in plan.waves]
    assert order.index([("apps/pinned",)]) < next(
        i for i, wave in enumerate(order) if ("apps/auto",) in wave
    )
    last = {svc: ips for wave in plan.waves for svc, ips in wave.expected_ips.items()}
    assert last == {"apps/pinned": (("10.0.0.0",),), "apps/auto": (("10.0.0.1",),)}


def test_a_static_conflict_refuses_the_plan_with_exit_code_3() -> None:
    live = running([service("a", share="k", ips=["10.0.0.1"])], [LAN])
    desired = [
        service("a", share="k", ips=["10.0.0.1"]),
        service("b", share="k", ips=["10.0.0.1"]),  # the same TCP/80 on the same IP
    ]
    with pytest.raises(PlanRefused, match="TCP/80") as refused:
        planned(desired, live, [LAN])
    assert refused.value.exit_code == 3


def test_an_ip_held_by_a_service_that_stays_is_an_infeasible_target() -> None:
    live = running([service("holder", port=80), service("other", port=81)], [LAN])
    held = ingress_ips(next(m for m in live if m["metadata"]["name"] == "holder"))
    desired = [service("holder", port=80), service("other", port=81, ips=list(held))]
    with pytest.raises(PlanRefused, match="infeasible target in wave 1: apps/other"):
        planned(desired, live, [LAN])


def test_a_pool_too_small_for_a_creation_is_refused() -> None:
    tiny = ip_pool("lan", "10.0.0.0/32")
    live = running([service("first")], [tiny])
    with pytest.raises(PlanRefused, match="apps/second"):
        planned([service("first"), service("second", port=81)], live, [tiny])


def test_an_unknown_strategy_is_a_user_error() -> None:
    desired, live = seed_case()
    with pytest.raises(PlannerError, match="unknown strategy 'sideways'"):
        build_plan(scenario_of(desired, live, [LAN]), strategy="sideways")


def test_recreate_deletes_the_group_in_one_wave_and_creates_it_in_the_next() -> None:
    plan = seed_plan(strategy="recreate")
    assert plan.strategy == "recreate"
    deletions, creations = plan.waves
    assert {(w.service, w.op) for w in deletions.writes} == {
        ("apps/dns-tcp", DELETE),
        ("apps/dns-udp", DELETE),
    }
    assert {w.service for w in creations.writes} == {"apps/dns-tcp", "apps/dns-udp"}
    for behavior in ("fixed", "metallb-0.14", "metallb-0.15"):
        windows = {(w.service, w.wave, w.until) for w in plan.predictions[behavior].windows}
        assert ("apps/dns-tcp", 1, "recreated") in windows
        assert ("apps/dns-udp", 1, "recreated") in windows
    assert creations.nudges == {}


def test_a_swap_is_one_transition_group_then_a_wave_restoring_the_repo_annotations() -> None:
    # For the fixed allocator, which lands a transition group at once (a stock target takes a
    # detour instead: tests/plan/test_detour.py).
    before = [service("blue", ips=["10.0.0.1"]), service("green", port=81, ips=["10.0.0.2"])]
    after = [service("blue", ips=["10.0.0.2"]), service("green", port=81, ips=["10.0.0.1"])]
    plan = planned(after, running(before, [LAN]), [LAN], target=Behavior.FIXED)
    transition, cleanup = plan.waves
    assert wave_shapes(plan)[0] == [(GROUP_TRANSITION, ("apps/blue", "apps/green"))]
    groups = {w.manifest["metadata"]["annotations"][GROUP_ANNOTATION] for w in transition.writes}
    assert len(groups) == 1 and groups.pop().startswith(TRANSITION_GROUP_PREFIX)
    assert transition.expected_ips == {
        "apps/blue": (("10.0.0.2",),),
        "apps/green": (("10.0.0.1",),),
    }
    assert all(
        GROUP_ANNOTATION not in w.manifest["metadata"].get("annotations", {})
        for w in cleanup.writes
    )


def test_independent_changes_share_one_wave() -> None:
    before = [
        service("a", share="ka", ips=["10.0.0.1"]),
        service("b", share="kb", ips=["10.0.0.2"]),
    ]
    after = [
        service("a", share="ka", ips=["10.0.0.1"], local=True, app="a"),
        service("b", share="kb", ips=["10.0.0.2"], local=True, app="b"),
    ]
    plan = planned(after, running(before, [LAN]), [LAN])
    assert wave_shapes(plan) == [[(SERVICE, ("apps/a",)), (SERVICE, ("apps/b",))]]


def test_a_type_change_away_from_load_balancer_goes_first() -> None:
    tiny = ip_pool("lan", "10.0.0.0/32")
    live = running([service("old")], [tiny])
    desired = [service("old", kind="ClusterIP"), service("new", port=81)]
    plan = planned(desired, live, [tiny])
    assert wave_shapes(plan) == [[(SERVICE, ("apps/old",))], [(SERVICE, ("apps/new",))]]
    assert plan.waves[1].expected_ips == {"apps/new": (("10.0.0.0",),)}


# --- determinism ---------------------------------------------------------------------------


def _write_repo(root: Path, order: Sequence[int], prefix: str) -> None:
    desired, _ = seed_case()
    documents = [*desired, LAN]
    root.mkdir()
    for position, index in enumerate(order):
        name = f"{prefix}{position}-{documents[index]['metadata']['name']}.yaml"
        (root / name).write_text(yaml.safe_dump(documents[index]), encoding="utf-8")


def _plan_json(desired_dir: Path, live_file: Path) -> str:
    scenario = load_scenario([str(desired_dir)], LiveSource.file(str(live_file)))
    return render_plan(plan_scenario(scenario), "json")


def test_the_same_input_planned_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    _, live = seed_case()
    live_file = tmp_path / "live.yaml"
    live_file.write_text(yaml.safe_dump_all([*live, LAN]), encoding="utf-8")
    _write_repo(tmp_path / "repo", [0, 1, 2], "a")
    first = _plan_json(tmp_path / "repo", live_file)
    assert first == _plan_json(tmp_path / "repo", live_file)
    assert json.loads(first)["waves"]


def test_the_order_and_names_of_input_files_change_nothing(tmp_path: Path) -> None:
    _, live = seed_case()
    live_file = tmp_path / "live.yaml"
    live_file.write_text(yaml.safe_dump_all([*live, LAN]), encoding="utf-8")
    _write_repo(tmp_path / "one", [0, 1, 2], "a")
    _write_repo(tmp_path / "two", [2, 1, 0], "z")
    assert _plan_json(tmp_path / "one", live_file) == _plan_json(tmp_path / "two", live_file)


def test_unit_ids_are_content_hashes_of_the_writes() -> None:
    first, second = seed_plan(), seed_plan()
    assert [u.id for u in first.units] == [u.id for u in second.units]
    unit = first.units[0]
    content = "\n".join(w.canonical() for w in unit.writes)
    digest = hashlib.sha256(f"{unit.kind}\n{content}".encode()).hexdigest()
    assert unit.id == f"u-{digest[:12]}"
    desired, live = seed_case()
    desired[0]["spec"]["ports"][0]["name"] = "renamed"
    assert planned(desired, live, [LAN]).units[0].id != unit.id


def test_a_target_stock_metallb_cannot_reach_is_refused_but_planned_for_fixed() -> None:
    """c requests the IP group g holds; stock MetalLB never moves g (its pool still matches), the
    fixed allocator moves it within one transition group."""
    small = ip_pool("lan", "10.0.0.0/30")
    live = running([service("a0", share="g"), service("a1", port=81, share="g")], [small])
    desired = [
        service("a0", share="g", pool="lan"),
        service("a1", port=81, share="g", pool="lan"),
        service("c", port=90, ips=["10.0.0.0"]),
    ]
    with pytest.raises(PlanRefused, match="under metallb-0.15, apps/c would have no IP"):
        planned(desired, live, [small])
    plan = planned(desired, live, [small], target="fixed")
    assert plan.waves[0].expected_ips["apps/c"] == (("10.0.0.0",),)


def test_the_plan_reads_each_finished_schedule_and_lets_it_go() -> None:
    """Once the nudges are known, each finished schedule is nudged, read and let go: no earlier
    run's cluster is alive when the next one is nudged."""
    survivors = Survivors()

    def nudged(cluster: SimulatedCluster, *args: Any) -> None:
        survivors.see(cluster)
        world_nudge(cluster, *args)

    with mock.patch("planner.plan.build.nudge", new=nudged):
        plan = seed_plan(max_states=1)
    assert plan.waves and len(survivors.alive) == 3 * (world.SAMPLED_RUNS + 6)
    assert set(survivors.alive) == {0}


def test_planning_derives_each_services_inputs_once() -> None:
    """build_plan reads the same Services' allocation inputs in units, components and
    transitions: each (manifest, live object) pair is derived once (inputs_remembered)."""
    from planner.model import service as service_module

    desired, live = seed_case()
    scenario = scenario_of(desired, live, [LAN])
    derived: list[tuple[int, int]] = []
    real = service_module._derived_inputs

    def counted(svc: Manifest, live: Manifest | None, family: str, alone: Any = None) -> Any:
        derived.append((id(svc), id(live)))
        return real(svc, live, family, alone)

    with mock.patch.object(service_module, "_derived_inputs", counted):
        plan = build_plan(scenario)
    assert plan == build_plan(scenario)  # the same plan as derived anew
    assert derived, "build_plan reads no inputs: the test no longer tells anything"
    assert len(derived) == len(set(derived))


def test_units_are_drafted_with_the_collector_paused_then_frozen_for_the_simulation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Drafting units makes many long-lived objects and no reference cycle: the collector is
    paused meanwhile; inside the caller's freeze they join it before the simulation, whose
    collections then walk only what the simulation makes."""
    from planner.plan import build as build_module

    seen: dict[str, Any] = {}
    real_draft, real_wave = build_module.draft_units, build_module.wave_outcome

    def draft(data: Any) -> Any:
        seen["collector on while drafting"] = gc.isenabled()
        units = real_draft(data)
        seen["frozen after drafting"] = gc.get_freeze_count()
        return units

    def wave(*args: Any, **kwargs: Any) -> Any:
        seen.setdefault("frozen when simulating", gc.get_freeze_count())
        return real_wave(*args, **kwargs)

    monkeypatch.setattr(build_module, "draft_units", draft)
    monkeypatch.setattr(build_module, "wave_outcome", wave)
    assert gc.isenabled()
    plan = plan_scenario(scenario_of(*seed_case(), [LAN]))
    assert plan.waves and seen["collector on while drafting"] is False
    assert seen["frozen when simulating"] > seen["frozen after drafting"] > 0
    assert gc.get_freeze_count() == 0 and gc.isenabled()
