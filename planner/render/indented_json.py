"""`json.dumps(value, indent=2, sort_keys=True)`, byte for byte, without the standard library's
pure-Python indenting encoder (a 10,000-Service plan spent seconds in its generators)."""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any

# Pieces appended before they are joined into one: a 10,000-Service plan is some 3 million
# small strings (about 60 bytes each, 180 MB for 32 MB of text); joining them as they come keeps
# the list short (the joins copy the text some 30 times, a tenth of a second).
COMPACT_AT = 100_000


class _Unusual(Exception):
    """A value outside plain JSON types (a subclass, a non-string key): let `json` handle it."""


def dumps_indented(value: Any) -> str:
    """The JSON text of `value` as `json.dumps(value, indent=2, sort_keys=True)` writes it."""
    out: list[str] = []
    try:
        _write(value, "\n", out)
    except _Unusual:
        return json.dumps(value, indent=2, sort_keys=True)
    return "".join(out)


def _write(value: Any, newline: str, out: list[str]) -> None:
    """Append `value`; `newline` is a line break plus the current indentation."""
    kind = type(value)
    if kind is str:
        out.append(encode_basestring_ascii(value))
    elif kind is dict:
        _write_dict(value, newline, out)
    elif kind is list or kind is tuple:
        _write_list(value, newline, out)
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        out.append(_float(value))
    else:
        raise _Unusual


def _write_dict(value: dict[Any, Any], newline: str, out: list[str]) -> None:
    if not value:
        out.append("{}")
        return
    if any(type(key) is not str for key in value):
        raise _Unusual
    inner = newline + "  "
    separator = "{" + inner
    for key in sorted(value):
        out.append(separator)
        out.append(encode_basestring_ascii(key))
        out.append(": ")
        _write(value[key], inner, out)
        separator = "," + inner
        if len(out) > COMPACT_AT:
            out[:] = ["".join(out)]
    out.append(newline + "}")


def _write_list(value: list[Any] | tuple[Any, ...], newline: str, out: list[str]) -> None:
    if not value:
        out.append("[]")
        return
    inner = newline + "  "
    separator = "[" + inner
    for item in value:
        out.append(separator)
        _write(item, inner, out)
        separator = "," + inner
        if len(out) > COMPACT_AT:
            out[:] = ["".join(out)]
    out.append(newline + "]")


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == float("-inf"):
        return "-Infinity"
    return float.__repr__(value)
