"""Soundness of the exploration's verdicts: a run cut at its step cap is reported unfinished and
supports no claim; "exhaustive" is never claimed past a cut branch or cut reprocess-all ties."""

from __future__ import annotations

import dataclasses
from unittest import mock

import jsonschema
import pytest

from planner.analysis.build import report_of_scenario, verdict
from planner.analysis.predict import fates_of, predict
from planner.diff.scenario import Scenario
from planner.model.allocator import Pool
from planner.model.simcluster import (
    MAX_PASS_ORDERS,
    RELOAD,
    TIES_CUT,
    SimulatedCluster,
    explore,
    random_runs,
)
from planner.plan.build import PlanRefused
from planner.plan.verify import verify_plan
from planner.render.json_report import load_schema, report_to_dict
from planner.simulate import world
from planner.simulate.states import explore_states
from planner.simulate.world import explore_writes
from tests.model.test_simcluster import svc
from tests.plan.test_build import LAN, running, scenario_of, seed_case, seed_plan, service

POOL = Pool("lan", ["10.0.0.0/27"])
WEB_IP = "10.0.0.6"


def _four_new() -> tuple[SimulatedCluster, list[tuple[str, dict[str, object]]]]:
    """An empty cluster and four new auto-assigned Services: one component beyond the bound."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    return base, [(f"ns/s{i}", svc(f"s{i}")) for i in range(4)]


# --- (a) sampled runs that hit their step cap ----------------------------------------------


def test_a_run_cut_at_its_step_cap_shows_no_stuck_service() -> None:
    base, writes = _four_new()
    # Two steps: one Service arrived, not yet handled. It has no IP, but the run has no end.
    cut = list(random_runs(base, writes[:1], seed=0, count=3, max_steps=1))
    assert all(not run.settled for run in cut)
    assert all(run.cluster.stuck_at_end("ns/s0") for run in cut)
    assert fates_of(cut) == []


def _seed_pair(behavior: str) -> tuple[SimulatedCluster, list[tuple[str, dict[str, object]]]]:
    """Two Services share 10.0.0.1 (TCP and UDP 53) and both move Cluster -> Local."""
    ports = {"a": [("TCP", 53)], "b": [("UDP", 53)]}
    live = [svc(n, status=("10.0.0.1",), ip="10.0.0.1", share="dns", ports=ports[n]) for n in "ab"]
    base = SimulatedCluster.bootstrap([POOL], live, behavior)
    writes = [
        (f"ns/{n}", svc(n, ip="10.0.0.1", share="dns", ports=ports[n], local=True)) for n in "ab"
    ]
    return base, writes


def test_a_pending_seen_on_the_way_of_an_unfinished_run_is_kept() -> None:
    base, writes = _seed_pair("metallb-0.15")
    whole = list(explore(base, writes))
    cap = max(len(run.schedule) for run in whole) - 1
    runs = list(explore(base, writes, max_steps=cap))
    finished = [r for r in runs if r.settled]
    assert finished and len(finished) < len(runs)
    pending = {f.service: f for f in fates_of(runs) if f.pending}
    seen = {s for r in runs for s in r.cluster.history if r.cluster.went_pending(s)}
    assert seen and set(pending) == seen
    # An unfinished run cannot show that something happens in EVERY run.
    assert not any(f.always for f in pending.values())


def test_sampled_runs_cut_at_the_cap_are_counted_unfinished_and_not_exhaustive() -> None:
    base, writes = _four_new()
    with (
        mock.patch.object(world, "SAMPLED_MAX_STEPS", 3),
        mock.patch.object(world, "STEPS_PER_WRITE", 0),
    ):
        exploration = explore_writes(base, writes, seed=0, max_states=1)
    assert exploration.unfinished == world.SAMPLED_RUNS  # the named ones finish
    assert not exploration.exhaustive
    assert not any(f.stuck for f in fates_of(exploration.runs))


def test_verify_reports_unfinished_schedules_and_no_claim_rests_on_them_alone() -> None:
    plan = seed_plan()
    with (
        mock.patch.object(world, "SAMPLED_MAX_STEPS", 1),
        mock.patch.object(world, "STEPS_PER_WRITE", 0),
    ):
        report = verify_plan(plan, max_states=1)
    assert report.ok  # the six named schedules finish and show the claims
    assert all(c.unfinished == world.SAMPLED_RUNS for c in report.claims)
    assert all(not c.exhaustive for c in report.claims)
    assert all(f"{world.SAMPLED_RUNS} did not finish" in line for line in report.lines())


def test_verify_fails_a_claim_when_no_schedule_finished() -> None:
    plan = seed_plan()
    with (
        mock.patch.object(world, "SAMPLED_MAX_STEPS", 1),
        mock.patch.object(world, "ADVERSARIAL_MAX_STEPS", 1),
        mock.patch.object(world, "STEPS_PER_WRITE", 0),
    ):
        report = verify_plan(plan, max_states=1)
    assert not report.ok
    assert all(not c.holds and c.unfinished == c.schedules for c in report.claims)
    assert any("no schedule finished" in c.counterexample for c in report.claims)


def test_a_large_component_gets_steps_for_each_of_its_writes() -> None:
    """Sixty new Services take 180 steps (arrival, handling, status handed back): a cap of 100
    alone would cut every run, and the plan would be refused as unknown although nothing loops."""
    base = SimulatedCluster.bootstrap([Pool("big", ["10.0.0.0/24"])], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(60)]
    with mock.patch.object(world, "SAMPLED_MAX_STEPS", 100):
        exploration = explore_writes(base, writes, seed=0, max_states=1)
        assert world._step_cap(world.SAMPLED_MAX_STEPS, len(writes)) == 600
    assert exploration.unfinished == 0 and exploration.runs
    assert all(run.settled for run in exploration.runs)


# --- (b) the state graph: a schedule that never ends, or a budget reached -------------------


def test_a_state_graph_where_a_schedule_never_ends_is_not_exhaustive() -> None:
    base, writes = _four_new()
    whole = explore_states(base, writes[:2])
    assert whole.complete and not whole.diverging
    assert world._incomplete(whole) == ""
    # From some state the controller never goes idle: no end-state claim is proved.
    diverging = dataclasses.replace(whole, diverging=1)
    with mock.patch.object(world, "explore_states", lambda *_, **__: diverging):
        cut = explore_writes(base, writes[:2], seed=0)
    assert not cut.exhaustive and cut.sampled == f"a schedule never ends, {whole.states} states"
    whole_exploration = explore_writes(base, writes[:2], seed=0)
    assert whole_exploration.unfinished == 0 and whole_exploration.exhaustive
    assert whole_exploration.states == whole.states
    assert len(whole_exploration.runs) == len(whole.terminals)


def test_a_reached_budget_makes_it_sampled_and_says_after_how_many_states() -> None:
    base, writes = _four_new()
    cut = explore_writes(base, writes[:2], seed=0, max_states=3)
    assert not cut.exhaustive and cut.states == 3
    assert cut.sampled == "budget reached after 3 states"
    assert len(cut.runs) == world.SAMPLED_RUNS + 6  # the named six and the seeded ones


# --- (c) reprocess-all tie orders cut to sorted + reversed ---------------------------------


def _five_holders_one_key_change() -> tuple[SimulatedCluster, list[tuple[str, dict[str, object]]]]:
    """Five Services on one IP each (5! tie orders in a pass), one of them changes its key."""
    live = [svc(f"h{i}", status=(f"10.0.0.{i + 1}",), share="k") for i in range(5)]
    base = SimulatedCluster.bootstrap([POOL], live, "metallb-0.15")
    changed = svc("h0", share="k", local=True)
    return base, [("ns/h0", changed)]


def test_cut_tie_orders_are_flagged_on_the_runs_and_the_cluster() -> None:
    base, writes = _five_holders_one_key_change()
    runs = list(explore(base, writes, explore_ties=True))
    assert any(run.extra.get(TIES_CUT) for run in runs)
    # Without ties explored nothing is cut, and a state without a pass at the head never is.
    assert not any(run.extra.get(TIES_CUT) for run in explore(base, writes))
    assert not base.ties_cut()
    state = base.copy()
    state.queue.append(RELOAD)
    assert state.ties_cut() and len(state.pass_orders(all_ties=True)) == 2 < MAX_PASS_ORDERS


def test_tie_orders_brute_force_cuts_are_all_taken_by_the_state_explorer() -> None:
    # Five holders: 5! = 120 orders, more than brute force takes; the explorer takes them all.
    base, writes = _five_holders_one_key_change()
    assert explore_writes(base, writes, seed=0).exhaustive
    # Four holders: 4! = 24 orders, all of them explored: exhaustive.
    live = [svc(f"h{i}", status=(f"10.0.0.{i + 1}",), share="k") for i in range(4)]
    four = SimulatedCluster.bootstrap([POOL], live, "metallb-0.15")
    assert explore_writes(four, writes, seed=0).exhaustive


def test_the_pool_fixture_is_the_lan_of_the_plan_tests() -> None:
    # The seed plan's LAN is a /29: the pools above are separate on purpose (room for five).
    assert LAN["spec"]["addresses"] == ["10.0.0.0/29"]


def test_a_plan_whose_schedules_never_finish_is_refused() -> None:
    with (
        mock.patch.object(world, "SAMPLED_MAX_STEPS", 1),
        mock.patch.object(world, "ADVERSARIAL_MAX_STEPS", 1),
        mock.patch.object(world, "STEPS_PER_WRITE", 0),
        pytest.raises(PlanRefused) as err,
    ):
        seed_plan(max_states=1)
    assert "finished within the simulation's step cap" in str(err.value)


def test_a_prediction_says_how_many_states_or_why_it_is_sampled() -> None:
    desired, live = seed_case()
    scenario = scenario_of(desired, live, [LAN])
    proved = predict(scenario, ("metallb-0.15",))["metallb-0.15"]
    assert proved.exhaustive and proved.states > 1
    assert proved.scope == f"all orders, {proved.states} states"
    sampled = predict(scenario, ("metallb-0.15",), max_states=2)["metallb-0.15"]
    assert not sampled.exhaustive and sampled.scope == "sampled, budget reached after 2 states"
    # The same fates either way here (the sample happens to see them all), each marked sampled.
    assert sampled.fates == tuple(dataclasses.replace(f, sampled=True) for f in proved.fates)
    assert sampled.sampled_components == 1 and sampled.sampled_orders == sampled.orders_explored
    assert sampled.explored.startswith(f"{sampled.orders_explored} delivery orders sampled (")


def _two_groups() -> Scenario:
    """The seed pair on one IP and a three-member group on another, all moving Cluster -> Local:
    two components, of two and three writes."""
    desired, live = seed_case()
    ports = (80, 443, 8080)
    before = [service(f"web-{p}", port=p, share="web", ips=[WEB_IP]) for p in ports]
    after = [service(f"web-{p}", port=p, share="web", ips=[WEB_IP], local=True) for p in ports]
    return scenario_of([*desired, *after], [*live, *running(before, [LAN])], [LAN])


def test_a_prediction_says_which_fates_rest_on_a_sample() -> None:
    """With the state explorer taking two writes, the three-member group is only sampled: its
    fates say so and the seed pair's do not; the heading counts the states explored in full and
    the orders sampled apart, and a passing verdict says a component was only sampled."""
    with mock.patch.object(world, "STOCK_STATES_MAX_WRITES", 2):
        report = report_of_scenario(_two_groups(), target="metallb-0.15")
    found = report.predictions["metallb-0.15"]
    assert not found.exhaustive and found.sampled_components == 1
    assert 0 < found.sampled_orders < found.orders_explored and found.states > 0
    assert {f.service for f in found.fates if f.sampled} == {
        f"apps/web-{p}" for p in (80, 443, 8080)
    }
    assert {f.service for f in found.fates if not f.sampled} == {"apps/dns-tcp", "apps/dns-udp"}
    assert [f.when for f in found.fates] == ["in some orders"] * 2 + ["in some sampled orders"] * 3
    ends = found.orders_explored - found.sampled_orders
    assert found.explored == (
        f"{found.states} states explored (every delivery order), {ends} end states; in 1 "
        f"component, {found.sampled_orders} delivery orders sampled (3 writes, more than the "
        "state explorer takes (2))"
    )
    assert verdict(report).sentence.endswith("; 1 component only sampled, not every order")
    as_json = report_to_dict(report)
    jsonschema.validate(as_json, load_schema())
    found_json = as_json["predictions"]["metallb-0.15"]
    assert [f.get("sampled", False) for f in found_json["fates"]] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert (found_json["sampled_orders"], found_json["sampled_components"]) == (
        found.sampled_orders,
        1,
    )
    # Explored in full, the same report has neither field.
    proved = report_to_dict(report_of_scenario(_two_groups()))["predictions"]["metallb-0.15"]
    assert "sampled_orders" not in proved and not any("sampled" in f for f in proved["fates"])
