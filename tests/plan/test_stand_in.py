"""Which expected addresses a plan records as predictions (planner.plan.stand_in.Predictions)."""

from __future__ import annotations

from planner.model.pools import Pool
from planner.plan.stand_in import predictions_for
from planner.plan.units import APPLY, Write
from tests.plan.test_build import service

LAN = Pool("lan", ("10.0.0.0/29",))
OTHER = Pool("other", ("10.1.0.0/29",))


def test_plans_with_statuses_and_pools_known_hold_no_prediction() -> None:
    assert predictions_for(True, True, [LAN], {}) is None


def test_without_statuses_only_an_address_nothing_promised_is_predicted() -> None:
    """Read from a git ref: an auto-assigned Service's address is predicted, with the pool that
    holds it; an address a Service requests stays exact."""
    requested = service("dns", ips=["10.0.0.5"])
    auto = service("web")
    predictions = predictions_for(True, False, [LAN, OTHER], {"apps/dns": requested})
    assert predictions is not None
    expected = {
        "apps/dns": (("10.0.0.5",),),
        "apps/web": (("10.0.0.1",), ("10.1.0.1",)),
    }
    writes = [Write("apps/web", APPLY, auto)]
    assert predictions.wave(writes, expected) == {
        "apps/web": {"10.0.0.1": ("lan",), "10.1.0.1": ("other",)}
    }


def test_an_ip_held_in_a_live_status_stays_exact_and_a_new_request_too() -> None:
    """No pool known (the stand-in owns every address): a status's IP is still what the cluster
    showed, and an address the wave's write requests is promised by that write."""
    held = service("dns")
    held["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}
    stand_in = Pool("unknown-pool", ("0.0.0.0/0",))
    predictions = predictions_for(False, True, [stand_in], {"apps/dns": held})
    assert predictions is not None
    assert predictions.wave([], {"apps/dns": (("10.0.0.5",),)}) == {}
    moved = Write("apps/dns", APPLY, service("dns", ips=["10.0.0.6"]))
    assert predictions.wave([moved], {"apps/dns": (("10.0.0.6",),)}) == {}
    auto = Write("apps/web", APPLY, service("web"))
    assert predictions.wave([auto], {"apps/web": (("10.0.0.7",),)}) == {
        "apps/web": {"10.0.0.7": ("unknown-pool",)}
    }
