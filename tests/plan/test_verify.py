"""verify_plan: the claims per behaviour hold for a correct plan, and a tampered plan fails with a
counterexample (the schedule and the statuses seen)."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest import mock

from planner.model.simcluster import Run
from planner.plan import verify
from planner.plan.records import (
    PendingWindow,
    Plan,
    PlannedUnit,
    PlannedWave,
    plan_from_dict,
    plan_to_dict,
)
from planner.plan.verify import Claim, verify_plan
from planner.simulate import world
from planner.simulate.world import World
from tests.plan.test_build import (
    LAN,
    SEED_IP,
    planned,
    running,
    scenario_of,
    seed_case,
    seed_plan,
    service,
)
from tests.simulate.test_world import Survivors

TCP, UDP = "apps/dns-tcp", "apps/dns-udp"


def failed(plan: Plan) -> list[Claim]:
    return [c for c in verify_plan(plan).claims if not c.holds]


def with_wave(plan: Plan, index: int, **changes: object) -> Plan:
    waves = list(plan.waves)
    waves[index] = dataclasses.replace(waves[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(plan, waves=tuple(waves))


def test_a_correct_plan_is_proved_under_every_behaviour_in_every_schedule() -> None:
    report = verify_plan(seed_plan())
    assert report.ok
    assert {(c.behavior, c.wave) for c in report.claims} == {
        (b, 1) for b in ("fixed", "metallb-0.14", "metallb-0.15")
    }
    # Every reachable state, more than one of them, and at least one end state (one run each).
    assert all(c.exhaustive and c.states > 1 and c.schedules >= 1 for c in report.claims)
    assert all(
        f"({c.states} states, every state)" in line
        for c, line in zip(report.claims, report.lines(), strict=True)
    )
    statements = {c.behavior: [] for c in report.claims}  # type: dict[str, list[str]]
    for claim in report.claims:
        statements[claim.behavior].append(claim.statement)
    assert statements["fixed"] == [
        "no Service is ever pending",
        "every Service of the wave ends at its expected IPs",
    ]
    assert statements["metallb-0.15"] == [
        f"pending exactly: {TCP}, {UDP}",
        "every written Service ends with an IP",
    ]
    assert all(line.startswith("proved") for line in report.lines())
    assert report.sampled == ()
    assert report.schedules == sum(c.schedules for c in report.claims)


def test_wrong_expected_ips_fail_with_the_schedule_and_the_statuses() -> None:
    plan = seed_plan()
    wrong = {TCP: (("10.0.0.7",),), UDP: ((SEED_IP,),)}
    (claim,) = failed(with_wave(plan, 0, expected_ips=wrong))
    assert (claim.behavior, claim.statement) == (
        "fixed",
        "every Service of the wave ends at its expected IPs",
    )
    lines = claim.counterexample.splitlines()
    assert lines[0] == f"{TCP} ends at ['{SEED_IP}'], expected one of [['10.0.0.7']]"
    assert lines[1].startswith("schedule: arrive ")
    assert lines[2] == f"{TCP}: ['{SEED_IP}']"  # its statuses: it never moved


def test_a_dropped_nudge_leaves_a_v014_service_pending() -> None:
    plan = with_wave(seed_plan(), 0, nudges={})
    claims = failed(plan)
    assert [(c.behavior, c.statement) for c in claims] == [
        ("metallb-0.14", "every written Service ends with an IP")
    ]
    counterexample = claims[0].counterexample
    assert "ends the wave without an IP" in counterexample
    assert "schedule: " in counterexample and "<pending>" in counterexample


def test_a_group_transition_split_into_two_waves_fails() -> None:
    plan = seed_plan()
    (unit,) = plan.waves[0].units
    waves = tuple(
        PlannedWave(
            index=i + 1,
            units=(dataclasses.replace(unit, services=(w.service,), writes=(w,)),),
            expected_ips={w.service: ((SEED_IP,),)},
            nudges=plan.waves[0].nudges,
        )
        for i, w in enumerate(unit.writes)
    )
    claims = failed(dataclasses.replace(plan, waves=waves))
    wave_one = {(c.behavior, c.statement): c for c in claims if c.wave == 1}
    for behavior in ("metallb-0.14", "metallb-0.15"):
        # UDP is predicted pending in wave 1 but is not written there; TCP stays pending.
        predicted = wave_one[(behavior, f"pending exactly: {TCP}, {UDP}")]
        assert predicted.counterexample == (
            f"predicted pending but never pending in any schedule: {UDP}"
        )
        stuck = wave_one[(behavior, "every written Service ends with an IP")]
        assert f"{TCP}: ['{SEED_IP}'] -> <pending>" in stuck.counterexample


def test_a_pending_window_that_never_happens_is_a_failed_claim() -> None:
    live = running([service("web", ips=["10.0.0.1"])], [LAN])
    plan = planned([service("web", ips=["10.0.0.2"])], live, [LAN])
    assert verify_plan(plan).ok
    prediction = dataclasses.replace(
        plan.predictions["metallb-0.15"], windows=(PendingWindow("apps/web", 1, "nudge"),)
    )
    tampered = dataclasses.replace(
        plan, predictions={**plan.predictions, "metallb-0.15": prediction}
    )
    (claim,) = failed(tampered)
    assert claim.statement == "pending exactly: apps/web"
    assert claim.counterexample == ("predicted pending but never pending in any schedule: apps/web")


def test_an_unpredicted_pending_service_is_a_failed_claim() -> None:
    plan = seed_plan()
    quiet = dataclasses.replace(plan.predictions["metallb-0.15"], windows=())
    (claim,) = failed(
        dataclasses.replace(plan, predictions={**plan.predictions, "metallb-0.15": quiet})
    )
    assert claim.statement == "pending exactly: nobody"
    assert claim.counterexample.startswith("went pending: ")


def test_beyond_the_state_budget_claims_rest_on_a_sample() -> None:
    report = verify_plan(seed_plan(), max_states=1)
    assert report.ok
    assert not any(c.exhaustive for c in report.claims)
    assert report.sampled == report.claims  # fail closed: `planner verify` exits 3 on these
    assert all(
        line.startswith("held") and "schedules, sampled, budget reached after 1 states" in line
        for line in report.lines()
    )
    samples = world.SAMPLED_RUNS + 6  # six named adversarial schedules
    assert {c.schedules for c in report.claims} == {samples}


def test_a_claim_says_for_which_services_it_rests_on_a_sample() -> None:
    """Two groups change their key; with the state explorer taking two writes, the group of
    three is sampled and the seed pair explored in full: each claim is held, not proved, and
    names the sampled Services and counts their schedules apart from the states explored."""
    desired, live = seed_case()
    ports = (80, 443, 8080)
    before = [service(f"web-{p}", port=p, share="web", ips=["10.0.0.6"]) for p in ports]
    after = [service(f"web-{p}", port=p, share="web", ips=["10.0.0.6"], local=True) for p in ports]
    with (
        mock.patch.object(world, "STOCK_STATES_MAX_WRITES", 2),
        mock.patch.object(world, "FIXED_STATES_MAX_WRITES", 2),
    ):
        plan = planned([*desired, *after], [*live, *running(before, [LAN])], [LAN])
        report = verify_plan(plan)
    assert report.ok and report.sampled == report.claims
    web = tuple(f"apps/web-{p}" for p in sorted(map(str, ports)))
    for claim in report.claims:
        assert claim.sampled_services == web and claim.states > 0
        assert 0 < claim.sampled_schedules < claim.schedules
        assert claim.scope == (
            f"{claim.states} states, every state, but for {', '.join(web)}: "
            f"{claim.sampled_schedules} schedules, sampled, 3 writes, more than the state "
            "explorer takes (2)"
        )
    sampled = sum(c.sampled_schedules for c in report.claims)
    assert report.sampled_summary() == (
        f"{len(report.claims)} claim(s) only held on sampled schedules "
        f"({sampled} schedules, not every state)"
    )


def test_the_plan_file_carries_everything_verify_needs() -> None:
    desired, live = seed_case()
    scenario = scenario_of(desired, live, [LAN])
    plan = seed_plan()
    from_file = plan_from_dict(plan_to_dict(plan))
    assert verify_plan(from_file) == verify_plan(plan, world=World.of(scenario))


def test_a_unit_missing_from_the_plan_is_caught() -> None:
    """A plan that forgets a deletion cannot free the IP its next wave claims."""
    live = running([service("old", ips=["10.0.0.1"])], [LAN])
    plan = planned([service("new", port=81, ips=["10.0.0.1"])], live, [LAN])
    first = plan.waves[0]
    empty = dataclasses.replace(first, units=(PlannedUnit("u-none", "service", (), (), ()),))
    claims = failed(with_wave(plan, 0, units=empty.units))
    assert any(c.behavior == "fixed" and c.wave == 2 for c in claims)


def test_verify_keeps_no_schedule_once_it_is_observed() -> None:
    """Each schedule is nudged, observed as facts per Service, and let go: no earlier run's
    cluster is alive when the next one is observed (a sampled component of 1,000 writes held
    30 whole clusters per behaviour), and the claims are those of the sampled plan."""
    survivors = Survivors()
    observe = verify._Observed.of

    def observed(run: Run, *args: Any) -> Any:
        survivors.see(run.cluster)
        return observe(run, *args)

    with mock.patch.object(verify._Observed, "of", new=observed):
        report = verify_plan(seed_plan(), max_states=1)
    assert report.ok and len(survivors.alive) == 3 * (world.SAMPLED_RUNS + 6)
    assert set(survivors.alive) == {0}
