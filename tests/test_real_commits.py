"""Wrong answers found replaying real home-lab commits (issue 13, section 6): each fixture under
tests/fixtures/real/ is a live snapshot and the commit's manifests, trimmed from a real layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.analysis.records import BEHAVIORS
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
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
