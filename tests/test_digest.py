"""planner.digest: the same sha256 as hashlib's, without loading OpenSSL (issue 17, start-up)."""

from __future__ import annotations

import hashlib

import pytest

from planner import digest


@pytest.mark.parametrize("data", [b"", b"abc", b"dns-tcp,dns-udp|10.0.0.1", bytes(range(256)) * 40])
def test_sha256_hex_is_hashlibs_digest(data: bytes) -> None:
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_the_constructor_is_cpythons_own_module_not_hashlibs() -> None:
    # hashlib's sha256 is OpenSSL's; the built-in module is what keeps `planner diff` from
    # loading libcrypto (tests/test_startup.py checks that hashlib is never imported).
    assert digest._SHA256.__module__ in digest._BUILTIN_MODULES
