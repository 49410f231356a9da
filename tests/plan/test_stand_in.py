"""Which expected addresses a plan records as predictions (planner.plan.stand_in.Predictions)."""

from __future__ import annotations

from planner.model.pools import Pool
from planner.plan.stand_in import Predictions
from planner.plan.units import APPLY, Write
from tests.plan.test_build import service

LAN = Pool("lan", ("10.0.0.0/29",))
OTHER = Pool("other", ("10.1.0.0/29",))


def _with_status(manifest: dict[str, object], ip: str) -> dict[str, object]:
    return {**manifest, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}


def test_without_statuses_only_an_address_nothing_promised_is_predicted() -> None:
    """Read from a git ref: an auto-assigned Service's address is predicted, with the pool that
    holds it; an address a Service requests stays exact."""
    requested = service("dns", ips=["10.0.0.5"])
    predictions = Predictions([LAN, OTHER], {"apps/dns": requested, "apps/web": service("web")})
    expected = {
        "apps/dns": (("10.0.0.5",),),
        "apps/web": (("10.0.0.1",), ("10.1.0.1",)),
    }
    writes = [Write("apps/web", APPLY, service("web", port=81))]
    assert predictions.wave(writes, expected) == {
        "apps/web": {"10.0.0.1": ("lan",), "10.1.0.1": ("other",)}
    }


def test_with_statuses_an_ip_held_stays_exact_and_a_new_services_is_predicted() -> None:
    """The live status's IP is what the cluster showed; a new auto-assigned Service's address
    is the model's choice, which a Service the plan never saw may have taken by apply time."""
    predictions = Predictions([LAN], {"apps/web": _with_status(service("web"), "10.0.0.1")})
    new = Write("apps/api", APPLY, service("api"))
    expected = {"apps/web": (("10.0.0.1",),), "apps/api": (("10.0.0.2",),)}
    assert predictions.wave([new], expected) == {"apps/api": {"10.0.0.2": ("lan",)}}


def test_an_address_a_write_requests_is_promised_by_that_write() -> None:
    """No pool known (the stand-in owns every address): a status's IP stays exact, and so does
    an address the wave's write requests; an auto-assigned one stands for an unknown pool's."""
    stand_in = Pool("unknown-pool", ("0.0.0.0/0",))
    held = _with_status(service("dns"), "10.0.0.5")
    predictions = Predictions([stand_in], {"apps/dns": held})
    assert predictions.wave([], {"apps/dns": (("10.0.0.5",),)}) == {}
    moved = Write("apps/dns", APPLY, service("dns", ips=["10.0.0.6"]))
    assert predictions.wave([moved], {"apps/dns": (("10.0.0.6",),)}) == {}
    auto = Write("apps/web", APPLY, service("web"))
    assert predictions.wave([auto], {"apps/web": (("10.0.0.7",),)}) == {
        "apps/web": {"10.0.0.7": ("unknown-pool",)}
    }
