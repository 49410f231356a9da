"""sha256 without loading OpenSSL: the digests the planner names groups by (pure, no I/O).

`hashlib` loads OpenSSL's libcrypto when it is imported, some 2.5 ms of every start-up
(bench/README.md, "Start-up, 2026-12-02 third session"). CPython's own sha256 module gives the
same digest; an interpreter without one falls back to hashlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# CPython's built-in sha256 module: `_sha256` up to 3.11, `_sha2` from 3.12.
_BUILTIN_MODULES = ("_sha256", "_sha2")


def _sha256_constructor() -> Callable[[bytes], Any]:
    """The built-in sha256 constructor, or hashlib's when the interpreter has none."""
    for name in _BUILTIN_MODULES:
        try:
            constructor: Callable[[bytes], Any] = importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
        return constructor
    import hashlib  # pragma: no cover - an interpreter without CPython's modules

    return hashlib.sha256  # pragma: no cover


_SHA256 = _sha256_constructor()


def sha256_hex(data: bytes) -> str:
    """sha256 of `data`, 64 lowercase hex digits: what `hashlib.sha256(data).hexdigest()` is."""
    return str(_SHA256(data).hexdigest())
