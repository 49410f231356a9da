"""IP addresses parsed once per process, for every module that reads them.

    >>> ip_address("10.0.0.1") is ip_address("10.0.0.1")
    True

A 10,000-Service diff parsed its ~2,500 load-balancer addresses some 12,800 times: the Service
reader, the pools, the sharing groups and the component shapes each kept a cache of their own,
or none (bench/README.md, "diff15"). Parsing one takes about 4 microseconds.
"""

from __future__ import annotations

import functools
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=1 << 16)
def ip_address(text: str) -> IPAddress:
    """`ipaddress.ip_address(text)`, remembered (addresses are immutable); a ValueError is not
    remembered, and is raised again on every call."""
    return ipaddress.ip_address(text)
