"""bench/generate.py: cluster IPs last past 65,526 Services (issue 17); smaller repos unchanged;
the heterogeneous, one-group and independent shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bench.generate import live_service, plan_groups, write_repo


def _cluster_ip(serial: int) -> str:
    group = plan_groups(4, 4, seed=0)[0]
    return str(live_service(group, 0, serial)["spec"]["clusterIP"])


def test_cluster_ips_start_where_they_did_and_stay_distinct_past_a_slash_16() -> None:
    assert _cluster_ip(0) == "172.20.0.10"  # as before the range grew
    assert _cluster_ip(65_525) == "172.20.255.255"
    beyond = {_cluster_ip(serial) for serial in (65_526, 100_000, 250_000)}
    assert beyond == {"172.21.0.0", "172.21.134.170", "172.23.208.154"}


def test_groups_for_a_hundred_thousand_services() -> None:
    groups = plan_groups(100_000, 4, seed=0)
    assert len(groups) == 25_000
    assert len({group.ip for group in groups}) == 25_000


def _desired_services(out: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((out / "desired").glob("team-*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]


def test_heterogeneous_groups_have_their_own_ports_and_selectors(tmp_path: Path) -> None:
    counts = write_repo(tmp_path, 30, 4, 0, shape="heterogeneous")
    assert counts == {
        "services": 30,
        "groups": 10,
        "auto_assigned_groups": 1,
        "key_changing_groups": 10,
    }
    services = _desired_services(tmp_path)
    by_group: dict[str, list[dict[str, Any]]] = {}
    for svc in services:
        by_group.setdefault(
            svc["metadata"]["annotations"]["metallb.io/allow-shared-ip"], []
        ).append(svc)
    assert {len(members) for members in by_group.values()} == {3}
    ports = [p["port"] for svc in services for p in svc["spec"]["ports"]]
    assert len(set(ports)) == len(ports) == 30  # no number used twice
    selectors = {
        json.dumps(m["spec"]["selector"]) for members in by_group.values() for m in members
    }
    keys = {key for svc in services for key in svc["spec"]["selector"]}
    assert len(selectors) == len(keys) == 10  # a label key of each group's own
    assert {svc["spec"].get("externalTrafficPolicy") for svc in services} == {"Local"}


def test_one_group_and_independent_services(tmp_path: Path) -> None:
    write_repo(tmp_path / "one", 50, 1, 0, 0, "one-group")
    write_repo(tmp_path / "alone", 50, 1, 0, 0, "independent")
    one, alone = _desired_services(tmp_path / "one"), _desired_services(tmp_path / "alone")
    assert len(one) == len(alone) == 50

    def distinct(services: list[dict[str, Any]], annotation: str) -> int:
        return len({svc["metadata"]["annotations"][annotation] for svc in services})

    assert distinct(one, "metallb.io/loadBalancerIPs") == 1
    assert distinct(one, "metallb.io/allow-shared-ip") == 1
    assert distinct(alone, "metallb.io/loadBalancerIPs") == 50
    assert len({svc["spec"]["ports"][0]["port"] for svc in one}) == 50  # no clash on the IP
    assert {svc["spec"]["externalTrafficPolicy"] for svc in one + alone} == {"Local"}
