"""The standard library's JSON text of plain data, made by orjson where its bytes are the same.

The plan's indented JSON and its content hashes (unit ids, fingerprints, the digest) were
written by pure-Python walkers or one C-encoder call per leaf: about 0.6 s of a 10,000-Service
`planner plan`. orjson writes the same text (sorted keys, two-space indentation, `", "`-free
separators) except for: characters outside printable ASCII (written raw, json escapes them as
`\\uXXXX`, DEL included), floats below 1e-4 in magnitude (`1e-7`, `0.00001` for json's `1e-07`,
`1e-05`), NaN and infinities (written `null`), integers beyond 64 bits and non-string keys (it
refuses them), and types json refuses. Each text is checked for the signs of the first three
(a suspect text may be right: it is only not sure) and every refusal is caught; then the answer
is None and the caller writes the value the standard library's way. A negative exponent is a
sign only where a number can stand (after `[`, `:`, `,`, a space or a line break): a Kubernetes
uid's `...-5c0e-...` (one real uid in seven) is not one.

A plain `Enum` or a `UUID` is the exception: json refuses them, orjson writes their value; the
plan holds neither (parsed YAML and JSON, and the planner's own strings and numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

# Subclasses (of str, int, dict, list), dataclasses and dates go to `_refuse`: json writes the
# first by their own methods and refuses the others.
_REFUSE_UNUSUAL = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_CANONICAL = orjson.OPT_SORT_KEYS | _REFUSE_UNUSUAL
_INDENTED = _CANONICAL | orjson.OPT_INDENT_2
_EXPONENT = b"e-"
_DIGITS = frozenset(b"0123456789")
# What precedes a number in JSON text, compact or indented (and the text's start)
_BEFORE_A_NUMBER = frozenset(b"[:, \n")


def canonical_text(value: Any) -> str | None:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"))`, or None where orjson's text
    might differ from it (the caller then asks json)."""
    return _decoded(canonical_bytes(value))


def canonical_bytes(value: Any) -> bytes | None:
    """`canonical_text(value)` as the ASCII bytes orjson wrote (for a hash: no copy made)."""
    return _same_as_json(value, _CANONICAL)


def indented_text(value: Any, *, checked: bool = False) -> str | None:
    """`json.dumps(value, indent=2, sort_keys=True)`, or None where orjson's text might differ
    from it (the caller then asks json). `checked`: the caller found no sign in orjson's
    canonical text of data holding `value` (`canonical_bytes` never None), and the signs are
    in its strings and numbers alone, which indenting leaves as they are: only a refusal is
    None then, and the text is not searched again."""
    return _decoded(indented_bytes(value, checked=checked))


def indented_bytes(value: Any, *, checked: bool = False) -> bytes | None:
    """`indented_text(value)` as the ASCII bytes orjson wrote (to cut before decoding)."""
    return _same_as_json(value, _INDENTED, checked)


def _decoded(text: bytes | None) -> str | None:
    return None if text is None else text.decode("ascii")


def canonical_bytes_each(values: Sequence[Any]) -> list[bytes] | None:
    """`canonical_bytes` of each value, their texts checked in one pass (a fingerprint's three
    short texts: the checks of each were a fifth of its time); None when one might differ."""
    try:
        texts = [orjson.dumps(value, default=_refuse, option=_CANONICAL) for value in values]
    except orjson.JSONEncodeError:
        return None
    # one line each: no sign spans two texts (no text of JSON holds a raw line break)
    return None if _may_differ(b"\n".join(texts)) else texts


def _same_as_json(value: Any, option: int, checked: bool = False) -> bytes | None:
    try:
        text = orjson.dumps(value, default=_refuse, option=option)
    except orjson.JSONEncodeError:  # a big integer, a non-string key, an unusual type, depth
        return None
    return None if not checked and _may_differ(text) else text


def _may_differ(text: bytes) -> bool:
    """Whether orjson's `text` may differ from json's: not ASCII, `null` (orjson's NaN and
    infinities, and every None: those texts take the slow way), DEL (raw, json escapes it), four
    zeros after a point (orjson's `0.00001`), a number's negative exponent (orjson's `1e-7`;
    json writes floats below 1e-4 as `1e-07`). Substring searches: a regular expression took
    0.4-1.3 s on a 34 MB plan."""
    return (
        not text.isascii()
        or b"null" in text
        or b"\x7f" in text
        or b"0.0000" in text
        or _negative_exponent(text)
    )


def _negative_exponent(text: bytes) -> bool:
    """Whether `e-` ends a number's start somewhere in `text`: `-`, digits, a point and digits,
    where a number can stand. Inside a string that may be a float's look-alike (not sure); a
    digit before `e-` after anything else (a uid's `a90e-`) is no float's."""
    at = text.find(_EXPONENT)
    while at != -1:
        if _number_before(text, at):
            return True
        at = text.find(_EXPONENT, at + len(_EXPONENT))
    return False


def _number_before(text: bytes, end: int) -> bool:
    """Whether `text[:end]` ends with a number's start (maybe `-`, digits, maybe a point and
    digits) that begins the text or follows `[`, `:`, `,`, a space or a line break."""
    start = _digits_from(text, end)
    if start == end:
        return False
    if start > 0 and text[start - 1] == ord("."):
        point = start - 1
        start = _digits_from(text, point)
        if start == point:
            return False
    if start > 0 and text[start - 1] == ord("-"):
        start -= 1
    return start == 0 or text[start - 1] in _BEFORE_A_NUMBER


def _digits_from(text: bytes, end: int) -> int:
    """Where the run of digits that ends at `end` starts (`end` when there is none)."""
    start = end
    while start > 0 and text[start - 1] in _DIGITS:
        start -= 1
    return start


def _refuse(value: Any) -> Any:
    """orjson's hook for a type it passes through: json's own writer decides."""
    raise TypeError(type(value).__name__)
