"""`json.dumps(value, indent=2, sort_keys=True)`, byte for byte, without the standard library's
pure-Python indenting encoder (a 10,000-Service plan spent seconds in its generators), whole or
in pieces as it is written (`indented_pieces`: a 100,000-Service plan is 344 MB of text).

Each leaf (a Service's manifest, a scalar) is written by orjson where its text is json's, else
by the writer here (non-ASCII text, None, small floats: planner.json_text says which)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from planner.json_text import indented_text
from planner.plan.records import item_runs, sub_container, walked_item_by_item

# Pieces appended before they are joined into one: a 10,000-Service plan is some 3 million
# small strings (about 60 bytes each, 180 MB for 32 MB of text); joining them as they come keeps
# the list short (the joins copy the text some 30 times, a tenth of a second).
COMPACT_AT = 100_000
# A leaf orjson wrote is one string of any length: the text is also handed out once such leaves
# hold this many characters (about what COMPACT_AT small strings make).
HANDED_OUT_AT = 1_000_000
# `indented_pieces` walks the containers of the first levels, and any longer one, item by item
# (a plan's waves, units, Services), so a piece can end between two items; deeper and shorter
# ones (one Service's manifest) are written whole.
WALKED_DEPTH = 3
WALKED_LENGTH = 16


class _Unusual(Exception):
    """A value outside plain JSON types (a subclass, a non-string key): let `json` handle it."""


@dataclass
class _Written:
    """The text written and not handed out yet: its pieces, the characters of the whole
    leaves among them, and whether orjson's texts are known to be json's (`checked`)."""

    pieces: list[str] = field(default_factory=list)
    leaf_chars: int = 0
    checked: bool = False  # json_text.indented_text's: orjson's texts need no search

    def full(self) -> bool:
        """Whether it is time to hand the text out (at an item's end)."""
        return len(self.pieces) > COMPACT_AT or self.leaf_chars > HANDED_OUT_AT

    def handed_out(self) -> str:
        """The text so far, joined; the pieces are let go."""
        text = "".join(self.pieces)
        self.pieces.clear()
        self.leaf_chars = 0
        return text


def dumps_indented(value: Any) -> str:
    """The JSON text of `value` as `json.dumps(value, indent=2, sort_keys=True)` writes it."""
    return "".join(indented_pieces(value))


def indented_pieces(value: Any, *, checked: bool = False) -> Iterator[str]:
    """`dumps_indented(value)` in pieces of about COMPACT_AT small strings or HANDED_OUT_AT
    characters each, made as they are read: the caller can write each one and let it go (the
    whole text is never held). `checked`: json_text.indented_text's, for all of `value`."""
    out = _Written(checked=checked)
    if _walked(value, 0):
        yield from _walk(value, "\n", 0, out)
    else:
        _leaf(value, "\n", out)
    yield out.handed_out()


def _walked(value: Any, depth: int) -> bool:
    """Whether `_walk` takes `value` item by item (else it is one leaf, written whole)."""
    return walked_item_by_item(value, depth, WALKED_DEPTH, WALKED_LENGTH)


def _walk(value: Any, newline: str, depth: int, out: _Written) -> Iterator[str]:
    """Append a walked container's text to `out`, handing it out joined to the reader each time
    it is full (at an item's end)."""
    inner = newline + "  "
    is_dict = type(value) is dict
    opener = "{" if is_dict else "["
    for keys, whole in item_runs(value, depth, WALKED_DEPTH, WALKED_LENGTH):
        # a run of leaves in one encoder call (one call per leaf was half the text's time)
        text = indented_text(sub_container(value, keys), checked=out.checked) if whole else None
        if text is not None:
            # its brackets cut off ("{" and "\n}"), each line one level deeper than at the top
            out.pieces.append(opener + text[1:-2].replace("\n", newline))
            out.leaf_chars += len(text)
        else:
            for key in keys:
                yield from _item(value, key, opener + inner, depth, out)
                opener = ","
        opener = ","
        if out.full():
            yield out.handed_out()
    out.pieces.append(newline + ("}" if is_dict else "]"))


def _item(value: Any, key: Any, separator: str, depth: int, out: _Written) -> Iterator[str]:
    """Append one item of a walked container after `separator` (its line's start); a walked
    item hands out what is full on its way."""
    out.pieces.append(separator)
    if type(value) is dict:
        out.pieces.append(encode_basestring_ascii(key))
        out.pieces.append(": ")
    item = value[key]
    inner = separator[1:]
    if _walked(item, depth + 1):
        yield from _walk(item, inner, depth + 1, out)
    else:
        _leaf(item, inner, out)


def _leaf(value: Any, newline: str, out: _Written) -> None:
    """Append `value` written whole: by orjson where its text is json's (planner.json_text),
    else by the writer below; an unusual one as `json` writes it; at this indentation."""
    text = indented_text(value, checked=out.checked)
    if text is not None:
        # no string of JSON holds a raw line break: each one is a line of this leaf
        out.pieces.append(text if newline == "\n" else text.replace("\n", newline))
        out.leaf_chars += len(text)
        return
    piece: list[str] = []
    try:
        _write(value, newline, piece)
    except (_Unusual, TypeError):  # TypeError: keys that do not sort, as json raises it below
        # json's text of it alone, each line break carrying this depth's indentation (no
        # string of JSON holds a raw line break): what json writes for it inside the document.
        piece = [json.dumps(value, indent=2, sort_keys=True).replace("\n", newline)]
    out.pieces.extend(piece)


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
    inner = newline + "  "
    separator, comma = "{" + inner, "," + inner
    # (keys of other types, if they sort at all, are found as they come: see _leaf)
    for key in sorted(value):
        if type(key) is not str:
            raise _Unusual
        item = value[key]
        kind = type(item)
        head = f"{separator}{encode_basestring_ascii(key)}: "
        # a string or an int, most values, in one piece with its key (a call and appends fewer)
        if kind is str:
            out.append(head + encode_basestring_ascii(item))
        elif kind is int:
            out.append(head + int.__repr__(item))
        elif kind is dict:
            out.append(head)
            _write_dict(item, inner, out)
        else:
            out.append(head)
            _write(item, inner, out)
        separator = comma
        if len(out) > COMPACT_AT:
            out[:] = ["".join(out)]
    out.append(newline + "}")


def _write_list(value: list[Any] | tuple[Any, ...], newline: str, out: list[str]) -> None:
    if not value:
        out.append("[]")
        return
    inner = newline + "  "
    separator, comma = "[" + inner, "," + inner
    for item in value:
        kind = type(item)
        if kind is str:
            out.append(separator + encode_basestring_ascii(item))
        elif kind is dict:
            out.append(separator)
            _write_dict(item, inner, out)
        else:
            out.append(separator)
            _write(item, inner, out)
        separator = comma
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
