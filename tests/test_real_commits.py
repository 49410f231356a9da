"""Wrong answers found replaying real home-lab commits (issue 13, section 6): each fixture under
tests/fixtures/real/ is a live snapshot and the commit's manifests, trimmed from a real layout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from planner.analysis.records import DiffReport, Prediction
from planner.model.controller import BEHAVIORS
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
from planner.render.markdown import render_markdown
from planner.render.text import render_text
from planner.sources.live import LiveSource

REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def _paths(name: str) -> tuple[list[str], LiveSource]:
    return [str(REAL / name / "desired")], LiveSource.file(str(REAL / name / "live.yaml"))


# --- a sharing key added to a holder and its pending neighbour ----------------------------------


@pytest.mark.parametrize("target", BEHAVIORS)
def test_a_key_added_to_holder_and_pending_neighbour_is_planned_under_every_target(
    target: str,
) -> None:
    desired, live = _paths("pihole-key-add")
    report = build_report(desired, live, DiffOptions(target=target))
    fixed = report.predictions["fixed"]
    assert not fixed.stuck and not fixed.pending  # diff: `fixed` converges
    plan = plan_scenario(load_scenario(desired, live), target=target)
    last = plan.waves[-1].expected_ips
    assert last["pihole/pihole-dns-tcp"] == (("192.168.1.53",),)
    assert last["pihole/pihole-dns-udp"] == (("192.168.1.53",),)


# --- a pending reason is the event that took the IP away ----------------------------------------


def test_a_key_change_pending_is_explained_by_allocation_failed_not_a_deprecation() -> None:
    desired, live = _paths("adguard-local")
    report = build_report(desired, live, DiffOptions())
    fates = [f for p in report.predictions.values() for f in p.fates if f.pending]
    assert fates  # stock MetalLB puts one member in pending on the way
    for fate in fates:
        assert fate.reason.startswith("AllocationFailed:"), fate.reason
        assert "can't change sharing key" in fate.reason


def test_a_plan_pending_window_is_explained_by_allocation_failed_not_a_deprecation() -> None:
    desired, live = _paths("adguard-local")
    plan = plan_scenario(load_scenario(desired, live))
    windows = plan.predictions["metallb-0.14"].windows
    assert {w.service for w in windows} == {"dns/adguard-dns-tcp", "dns/adguard-dns-udp"}
    for window in windows:
        assert window.reason.startswith("AllocationFailed:"), window.reason


# --- stuck implies pending; the exploration says what it counted --------------------------------


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_new_service_that_never_gets_an_ip_is_pending_and_stuck(behavior: str) -> None:
    desired, live = _paths("pool-full")
    report = build_report(desired, live, DiffOptions(prune="none"))
    prediction = report.predictions[behavior]
    assert prediction.stuck == ("media/jellyfin",)
    assert prediction.pending == ("media/jellyfin",)


def test_every_fate_that_is_stuck_is_pending() -> None:
    for name in ("pihole-key-add", "adguard-local", "pool-full"):
        desired, live = _paths(name)
        report = build_report(desired, live, DiffOptions(prune="none"))
        for prediction in report.predictions.values():
            assert set(prediction.stuck) <= set(prediction.pending), (name, prediction.behavior)


def test_the_text_report_counts_states_explored() -> None:
    desired, live = _paths("pihole-key-add")
    text = render_text(build_report(desired, live, DiffOptions()), color=False)
    assert "delivery order(s) explored" not in text
    assert re.search(
        r"fixed \(.*\): \d+ states explored \(every delivery order\), 1 end state\n", text
    )


def _prediction(**fields: Any) -> Prediction:
    values: dict[str, Any] = {"behavior": "fixed", "fates": (), "orders_explored": 0}
    values["exhaustive"] = True
    values.update(fields)
    return Prediction(**values)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "nothing to explore: no Service write of the commit reaches MetalLB"),
        (
            {"orders_explored": 2, "states": 31},
            "31 states explored (every delivery order), 2 end states",
        ),
        ({"orders_explored": 1}, "every delivery order explored, 1 end state"),
        (
            {
                "orders_explored": 64,
                "exhaustive": False,
                "sampled": "budget reached after 9 states",
            },
            "64 delivery orders sampled (budget reached after 9 states)",
        ),
        (
            {"orders_explored": 3, "states": 7, "unfinished": 1},
            "7 states explored (every delivery order), 3 end states, 1 unfinished",
        ),
    ],
)
def test_the_exploration_is_worded_by_what_it_counted(fields: dict[str, Any], words: str) -> None:
    assert _prediction(**fields).explored == words


def test_an_empty_exploration_is_never_printed_as_zero_orders() -> None:
    report = DiffReport(
        changes=(),
        groups=(),
        conflicts=(),
        predictions={"fixed": _prediction()},
        target="fixed",
    )
    text = render_text(report, color=False)
    assert re.search(r"fixed \(.*\) \(target\): nothing to explore: no Service write", text)
    assert "0 delivery" not in text and "0 states" not in text
    assert "0 delivery" not in render_markdown(report)


# --- one requested IP without a sharing key: a conflict, not a group ----------------------------


def test_two_services_on_one_ip_without_a_sharing_key_are_a_conflict_not_a_group() -> None:
    desired, live = _paths("pihole-no-key")
    report = build_report(desired, live, DiffOptions())
    assert report.groups == ()
    [error] = report.errors
    assert "do not allow sharing" in error.message
    assert error.objects == ("pihole/pihole-dns-tcp", "pihole/pihole-dns-udp")


def test_adding_the_key_makes_them_a_group() -> None:
    desired, live = _paths("pihole-key-add")
    [group] = build_report(desired, live, DiffOptions()).groups
    assert group.members == ("pihole/pihole-dns-tcp", "pihole/pihole-dns-udp")
    assert group.joining == ("pihole/pihole-dns-udp",)
