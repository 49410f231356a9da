"""Detours (planner.plan.detour): which member of a swap cycle moves first, to which free
address, written how; and where no detour is possible, the reason the plan prints."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from planner.diff.scenario import Scenario
from planner.model.controller import Behavior
from planner.model.service import GROUP_DIGEST_ANNOTATION, requested_ips
from planner.objects import Manifest
from planner.pipeline import plan_scenario
from planner.plan.detour import Detours, choose_detours
from planner.plan.graph import GROUP_TRANSITION
from planner.plan.verify import verify_plan
from planner.render.plan import render_plan
from tests.plan.test_build import ip_pool, running, scenario_of, service

LAN = ip_pool("lan", "10.0.0.0/24")


def _swap(
    a: str = "10.0.0.1",
    b: str = "10.0.0.2",
    pool: Manifest = LAN,
    others: Sequence[Manifest] = (),
    wanted_by_others: Sequence[Manifest] = (),
) -> Scenario:
    """blue and green swap `a` and `b`; `others` run unchanged, `wanted_by_others` are created."""
    live = running([service("blue", ips=[a]), service("green", port=81, ips=[b]), *others], [pool])
    desired = [
        service("blue", ips=[b]),
        service("green", port=81, ips=[a]),
        *others,
        *wanted_by_others,
    ]
    return scenario_of(desired, live, [pool])


SWAP = [("apps/blue", "apps/green")]  # the cycle the plan's ordering merges (tests below)


def _only(detours: Detours) -> tuple[tuple[str, ...], str]:
    (detour,) = detours.taken
    return detour.services, detour.address


def test_the_first_member_takes_the_highest_address_nobody_holds_or_asks_for() -> None:
    holder = service("db", port=5432, ips=["10.0.0.254"])
    asker = service("new", port=8080, ips=["10.0.0.253"])
    scenario = _swap(others=[holder], wanted_by_others=[asker])
    # .255 is skipped (some clients mishandle it), .254 is held, .253 is asked for.
    assert _only(choose_detours(SWAP, scenario)) == (("apps/blue",), "10.0.0.252")


def test_the_detour_asks_where_the_service_asks_and_frees_its_address() -> None:
    scenario = _swap()
    (detour,) = choose_detours(SWAP, scenario).taken
    assert detour.freed == "10.0.0.1" and detour.wanted == "10.0.0.2"
    ((write, manifest),) = [(w, w.manifest) for w in detour.writes]
    assert write.service == "apps/blue" and manifest is not None
    assert requested_ips(manifest) == ("10.0.0.254",)
    assert detour.held["apps/blue"]["status"] == {
        "loadBalancer": {"ingress": [{"ip": "10.0.0.254"}]}
    }


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("metallb.universe.tf/loadBalancerIPs", "annotation"),
        ("loadBalancerIP", "spec"),
    ],
)
def test_the_detour_keeps_the_field_the_repo_uses(field: str, where: str) -> None:
    scenario = _swap()
    blue = scenario.stamped_services["apps/blue"]
    annotations = blue["metadata"]["annotations"]
    del annotations["metallb.io/loadBalancerIPs"]
    if where == "spec":
        blue["spec"][field] = "10.0.0.2"
    else:
        annotations[field] = "10.0.0.2"
    (detour,) = choose_detours(SWAP, scenario).taken
    manifest = detour.writes[0].manifest
    assert manifest is not None
    written = manifest["spec"] if where == "spec" else manifest["metadata"]["annotations"]
    assert written[field] == "10.0.0.254"
    assert "metallb.io/loadBalancerIPs" not in manifest["metadata"]["annotations"]


def test_an_ipv6_cycle_takes_the_top_of_its_pool() -> None:
    pool = ip_pool("v6", "fd00::/120")
    scenario = _swap("fd00::1", "fd00::2", pool=pool)
    assert _only(choose_detours(SWAP, scenario)) == (("apps/blue",), "fd00::ff")


def test_two_cycles_take_two_addresses() -> None:
    live = running(
        [service(n, port=p, ips=[ip]) for n, p, ip in _FOUR],
        [LAN],
    )
    desired = [service(n, port=p, ips=[_SWAPPED[ip]]) for n, p, ip in _FOUR]
    scenario = scenario_of(desired, live, [LAN])
    detours = choose_detours([("apps/a", "apps/b"), ("apps/c", "apps/d")], scenario)
    assert sorted(d.address for d in detours.taken) == ["10.0.0.253", "10.0.0.254"]


_FOUR = [
    ("a", 80, "10.0.0.1"),
    ("b", 81, "10.0.0.2"),
    ("c", 82, "10.0.0.3"),
    ("d", 83, "10.0.0.4"),
]
_SWAPPED = {"10.0.0.1": "10.0.0.2", "10.0.0.2": "10.0.0.1", "10.0.0.3": "10.0.0.4"}
_SWAPPED["10.0.0.4"] = "10.0.0.3"


def test_a_full_pool_leaves_the_cycle_atomic_with_the_reason() -> None:
    scenario = _swap(pool=ip_pool("lan", "10.0.0.1-10.0.0.2"))
    detours = choose_detours(SWAP, scenario)
    assert not detours.taken
    (why,) = detours.refused.values()
    assert why == "pool lan has no free address apps/green may take"


def test_without_statuses_no_detour_is_guessed() -> None:
    scenario = dataclasses.replace(_swap(), statuses_known=False)
    detours = choose_detours(SWAP, scenario)
    assert not detours.taken
    assert "no statuses" in detours.notes(Behavior.METALLB_0_15)[0]


@pytest.mark.parametrize("target", [Behavior.METALLB_0_15, Behavior.METALLB_0_14])
def test_the_plan_says_which_service_detours_and_through_which_address(target: str) -> None:
    plan = plan_scenario(_swap(), target=target)
    text = render_plan(plan, "text")
    assert (
        "Note: detour: apps/blue holds 10.0.0.254 (free in pool lan) from wave 1 until it "
        "takes 10.0.0.2" in text
    )
    assert [u.services for wave in plan.waves for u in wave.units] == [
        ("apps/blue",),
        ("apps/green",),
        ("apps/blue",),
    ]
    green = plan.waves[1].units[0]
    assert green.waits_for == (plan.waves[0].units[0].id,)
    assert "releases IP 10.0.0.1, which it claims" in green.reasons


def test_the_fixed_target_lands_the_swap_at_once() -> None:
    plan = plan_scenario(_swap(), target=Behavior.FIXED)
    assert plan.waves[0].units[0].kind == GROUP_TRANSITION
    assert not any("detour" in note for note in plan.notes)


def _group(name: str, key: str, ip: str) -> list[Manifest]:
    """A sharing group of two: DNS over TCP and UDP on one requested address."""
    return [
        service(f"{name}-tcp", share=key, ips=[ip], app=name),
        service(f"{name}-udp", proto="UDP", share=key, ips=[ip], app=name),
    ]


@pytest.mark.parametrize("target", [Behavior.METALLB_0_15, Behavior.METALLB_0_14])
def test_two_sharing_groups_swapping_addresses_detour_as_a_group(target: str) -> None:
    live = running(_group("blue", "kb", "10.0.0.30") + _group("green", "kg", "10.0.0.31"), [LAN])
    desired = _group("blue", "kb", "10.0.0.31") + _group("green", "kg", "10.0.0.30")
    plan = plan_scenario(scenario_of(desired, live, [LAN]), target=target)
    detour, green, blue = (wave.units for wave in plan.waves)
    assert [u.services for u in (*detour, *green, *blue)] == [
        ("apps/blue-tcp", "apps/blue-udp"),
        ("apps/green-tcp", "apps/green-udp"),
        ("apps/blue-tcp", "apps/blue-udp"),
    ]
    assert plan.waves[0].expected_ips == dict.fromkeys(detour[0].services, (("10.0.0.254",),))
    assert all(not prediction.windows for prediction in plan.predictions.values())
    # The group moves as a group: its members are stamped for the interim address too.
    interim = {
        w.manifest["metadata"]["annotations"][GROUP_DIGEST_ANNOTATION] for w in detour[0].writes
    }
    final = {w.manifest["metadata"]["annotations"][GROUP_DIGEST_ANNOTATION] for w in blue[0].writes}
    assert len(interim) == len(final) == 1 and interim != final
    report = verify_plan(plan)
    assert report.ok and all(c.holds and c.exhaustive for c in report.claims)


def test_the_detour_skips_a_group_whose_members_part_ways() -> None:
    # blue-tcp and blue-udp share 10.0.0.30 but ask for different addresses: no one free
    # address can take both, so the green group, which moves as one, takes the detour.
    live = running(_group("blue", "kb", "10.0.0.30") + _group("green", "kg", "10.0.0.31"), [LAN])
    desired = [
        service("blue-tcp", share="kb", ips=["10.0.0.31"], app="blue"),
        service("blue-udp", proto="UDP", ips=["10.0.0.40"], app="blue"),
        *_group("green", "kg", "10.0.0.30"),
    ]
    scenario = scenario_of(desired, live, [LAN])
    cycle = ("apps/blue-tcp", "apps/blue-udp", "apps/green-tcp", "apps/green-udp")
    assert _only(choose_detours([cycle], scenario)) == (
        ("apps/green-tcp", "apps/green-udp"),
        "10.0.0.254",
    )
    scenario.stamped_services["apps/green-udp"]["metadata"]["annotations"][
        "metallb.io/loadBalancerIPs"
    ] = "10.0.0.41"
    detours = choose_detours([cycle], scenario)
    assert not detours.taken
    assert detours.refused[cycle].startswith("no address of it is held only by members")
