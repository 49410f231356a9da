"""bench/generate.py: cluster IPs last past 65,526 Services (issue 17); smaller repos unchanged;
the heterogeneous, one-group and independent shapes; live uids as the API server makes them."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import yaml

from bench.generate import live_service, live_uids, plan_groups, write_repo


def _cluster_ip(serial: int) -> str:
    group = plan_groups(4, 4, seed=0)[0]
    return str(live_service(group, 0, serial, "uid")["spec"]["clusterIP"])


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


def _live_uids(out: Path) -> list[str]:
    live = yaml.safe_load((out / "live.yaml").read_text(encoding="utf-8"))
    return [item["metadata"]["uid"] for item in live["items"] if item["kind"] == "Service"]


def test_live_uids_are_seeded_random_version_4_uuids(tmp_path: Path) -> None:
    """Real uids hold a digit before `e-` about once in seven (4 hyphens x 10/256): the bench
    must pay for them as a real snapshot does (bench/README.md, "uids15")."""
    write_repo(tmp_path / "a", 400, 4, 0)
    write_repo(tmp_path / "b", 400, 4, 0)
    uids = _live_uids(tmp_path / "a")
    assert len(set(uids)) == len(uids) == 400
    assert {uuid.UUID(uid).version for uid in uids} == {4}
    assert {uuid.UUID(uid).variant for uid in uids} == {uuid.RFC_4122}
    same_seed = [(tmp_path / name / "live.yaml").read_bytes() for name in ("a", "b")]
    assert same_seed[0] == same_seed[1]
    digit_before_exponent = [uid for uid in uids if re.search("[0-9]e-", uid)]
    assert 20 <= len(digit_before_exponent) <= 120  # 400 x 4 x 10/256 = 62.5 expected
    other_seed = live_uids(1)
    assert [next(other_seed) for _ in uids] != uids
