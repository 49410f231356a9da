"""Plans for apply tests, built by hand from the plan records (the seed scenario and a 2-wave one).

The predictions are the ones docs/model.md and samples/seed-dns-local/expected.yaml state for
the seed scenario; `planner.plan.build` is not used so that these tests pin the engine alone.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from planner.model.group_annotations import stamp_group_annotations
from planner.objects import Manifest, svc_key_of
from planner.plan.fingerprint import live_fingerprint
from planner.plan.records import PendingWindow, Plan, PlannedUnit, PlannedWave, PlanPrediction
from planner.plan.units import APPLY, Write

SEED = Path(__file__).resolve().parents[2] / "samples" / "seed-dns-local"
SHARED_IP = "192.168.10.53"
TCP, UDP = "dns/dns-tcp", "dns/dns-udp"
SITE = "web/site"
SITE_IP = "192.168.10.80"


def seed_live() -> tuple[list[Manifest], list[Manifest]]:
    """The seed's live Services (with status) and its IPAddressPools."""
    return sample_live(SEED)


def sample_live(sample: Path) -> tuple[list[Manifest], list[Manifest]]:
    """A sample's live Services (with status) and its IPAddressPools (its live.yaml)."""
    items = yaml.safe_load((sample / "live.yaml").read_text(encoding="utf-8"))["items"]
    services = [i for i in items if i["kind"] == "Service"]
    pools = [i for i in items if i["kind"] == "IPAddressPool"]
    return services, pools


def seed_desired() -> list[Manifest]:
    """The seed's desired Services with the group-wide annotations stamped."""
    docs = yaml.safe_load_all((SEED / "desired" / "dns.yaml").read_text(encoding="utf-8"))
    return stamp_group_annotations([d for d in docs if d])


def site_service() -> Manifest:
    """A new Service that requests its own address: what wave 2 of the two-wave plan creates."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "site",
            "namespace": "web",
            "annotations": {"metallb.io/loadBalancerIPs": SITE_IP},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "site"},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


def _seed_wave() -> PlannedWave:
    writes = tuple(Write(svc_key_of(m), APPLY, m) for m in seed_desired())
    unit = PlannedUnit("u-dns", "group-transition", (TCP, UDP), (TCP, UDP), writes)
    return PlannedWave(
        index=1,
        units=(unit,),
        expected_ips={TCP: ((SHARED_IP,),), UDP: ((SHARED_IP,),)},
        nudges={"metallb-0.14": (TCP, UDP)},
    )


def _site_wave() -> PlannedWave:
    write = Write(SITE, APPLY, site_service())
    unit = PlannedUnit("u-site", "service", (SITE,), (SITE,), (write,))
    return PlannedWave(index=2, units=(unit,), expected_ips={SITE: ((SITE_IP,),)})


def _predictions(waves: int) -> dict[str, PlanPrediction]:
    stuck = "can't change sharing key, address also in use by the other member"
    return {
        "metallb-0.14": PlanPrediction(
            "metallb-0.14",
            tuple(PendingWindow(s, 1, "nudge", stuck) for s in (TCP, UDP)),
        ),
        "metallb-0.15": PlanPrediction(
            "metallb-0.15",
            tuple(PendingWindow(s, 1, "group-complete", stuck) for s in (TCP, UDP)),
        ),
        "fixed": PlanPrediction("fixed", ()),
    }


def seed_plan(target: str = "metallb-0.15", nudges: bool = True) -> Plan:
    """One wave: the seed's group transition, expected to keep 192.168.10.53."""
    live, _ = seed_live()
    wave = _seed_wave()
    if not nudges:
        wave = PlannedWave(wave.index, wave.units, wave.expected_ips, {})
    return Plan(
        strategy="atomic",
        waves=(wave,),
        predictions=_predictions(1),
        preconditions={svc_key_of(s): live_fingerprint(s) for s in live},
        target=target,
    )


def two_wave_plan(target: str = "metallb-0.15") -> Plan:
    """Wave 1 the seed's transition, wave 2 a new Service on another address of the pool."""
    plan = seed_plan(target)
    preconditions = {**plan.preconditions, SITE: live_fingerprint(None)}
    return Plan(plan.strategy, (*plan.waves, _site_wave()), plan.predictions, preconditions, target)


def changed(manifest: Manifest, **spec: object) -> Manifest:
    """A copy of a manifest with spec fields replaced (someone else's edit)."""
    edited = copy.deepcopy(manifest)
    edited["spec"].update(spec)
    return edited
