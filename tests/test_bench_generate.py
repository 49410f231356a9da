"""bench/generate.py: cluster IPs last past 65,526 Services (issue 17); smaller repos unchanged."""

from __future__ import annotations

from bench.generate import live_service, plan_groups


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
