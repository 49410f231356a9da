"""One parse per IP address per process, whichever module reads it (planner.model.addresses)."""

from __future__ import annotations

import ipaddress

import pytest

from planner.analysis import groups
from planner.model import addresses, pools, service
from planner.simulate import symmetry


def test_an_address_read_by_every_module_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []

    def counted(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        parsed.append(text)
        return ipaddress.IPv4Address(text)

    monkeypatch.setattr(ipaddress, "ip_address", counted)
    addresses.ip_address.cache_clear()
    pools.parse_ip.cache_clear()
    groups._ip_order.cache_clear()
    text = "192.0.2.77"
    # the Service reader, the pools, the sharing groups' order and the component shapes
    assert service.address(text) is pools.parse_ip(text)
    assert groups._ip_order(text) == (4, int(ipaddress.IPv4Address(text)))
    assert symmetry._numeric(text) == (4, int(ipaddress.IPv4Address(text)))
    assert parsed == [text]
    addresses.ip_address.cache_clear()  # no stand-in left behind for later tests
    pools.parse_ip.cache_clear()
    groups._ip_order.cache_clear()


def test_a_bad_address_is_refused_on_every_call() -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            addresses.ip_address("10.0.0.256")
    with pytest.raises(ValueError, match="zone"):
        service.address("fe80::1%eth0")  # Go's net.ParseIP refuses a zone; Python would not
    assert str(addresses.ip_address("fe80::1%eth0")) == "fe80::1%eth0"
