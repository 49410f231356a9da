"""Flux's post-build variable substitution (kustomize-controller `spec.postBuild`), as Flux does it.

Flux serialises each built object to YAML, runs its envsubst fork over the text and parses the
result again, so a substituted value takes the type YAML gives it (`port: ${PORT}` becomes a
number). The syntax evaluated here is Flux's: `${VAR}`, the default forms `${VAR:=d}`,
`${VAR:-d}`, `${VAR=d}` (a default replaces an unset or empty value), the casing
forms `${VAR^}`, `${VAR^^}`, `${VAR,}`, `${VAR,,}`, `${#VAR}`, and `$$` for a literal `$`
(so `$${VAR}` stays `${VAR}`). `$VAR` without braces is text. An undefined variable is empty,
or an error in strict mode (the controller's StrictPostBuildSubstitutions feature gate) unless
a default form handles it.

    >>> values = Variables({"PORT": "53"})
    >>> expand("port: ${PORT} $${KEPT} ${NONE:=x}", values)
    'port: 53 ${KEPT} x'

A variable the planner cannot know (its source is not in the repository, or is encrypted) is
replaced by a marker (`unresolved_marker`); the caller decides where that matters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Flux refuses variable names that do not match this (kustomize-controller's varsubRegex).
VARIABLE_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
DISABLED = "disabled"

_MARKER_PREFIX = "__planner_unresolved_"
_MARKER = re.compile(r"__planner_unresolved_([A-Za-z0-9_]+)__")
# The default forms Flux's parser accepts; `${VAR-d}`, `${VAR?d}`, `${VAR+d}` it refuses.
_DEFAULT_OPS = (":=", ":-", ":?", ":+", "=")
_CASING = {
    "^": lambda s: s[:1].upper() + s[1:],
    "^^": str.upper,
    ",": lambda s: s[:1].lower() + s[1:],
    ",,": str.lower,
}


class SubstitutionError(ValueError):
    """Text Flux's envsubst refuses (a bad expression, or an undefined variable when strict);
    `variable` names the variable when there is one."""

    def __init__(self, reason: str, variable: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.variable = variable


@dataclass(frozen=True)
class Variables:
    """The variables of one Flux Kustomization: `known` values; `unknown` names that may be set
    by a source the planner cannot read, and `open` when any unlisted name may be (then nothing
    unlisted is taken as undefined); `strict` as the controller's feature gate."""

    known: Mapping[str, str]
    unknown: frozenset[str] = field(default_factory=frozenset)
    open: bool = False
    strict: bool = False

    def lookup(self, name: str) -> str | None:
        """The value of `name`, None when Flux would find it unset, or a marker when unknown."""
        if name in self.unknown or (self.open and name not in self.known):
            return unresolved_marker(name)
        return self.known.get(name)


def unresolved_marker(name: str) -> str:
    """The text standing for a variable whose value the planner cannot know."""
    return f"{_MARKER_PREFIX}{name}__"


def unresolved_in(text: str) -> list[str]:
    """The names of the unresolved variables whose markers `text` holds."""
    return _MARKER.findall(text)


def restore_markers(text: str) -> str:
    """`text` with every marker put back as the `${NAME}` it stood for."""
    return _MARKER.sub(lambda m: "${" + m.group(1) + "}", text)


def is_disabled(body: Mapping[str, object]) -> bool:
    """True when an object opts out of substitution (label or annotation `...: disabled`)."""
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        return False
    for part in ("labels", "annotations"):
        found = metadata.get(part)
        if isinstance(found, Mapping) and found.get(DISABLE_KEY) == DISABLED:
            return True
    return False


def expand(text: str, variables: Variables) -> str:
    """`text` with Flux's substitutions made; SubstitutionError for what Flux refuses."""
    out, _ = _expand(text, 0, variables, closing=False)
    return out


def _expand(text: str, start: int, variables: Variables, closing: bool) -> tuple[str, int]:
    """Expand from `start` to the end (or, with `closing`, to the unmatched `}`)."""
    out: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "$" and text.startswith("$$", i):
            out.append("$")
            i += 2
        elif char == "$" and text.startswith("${", i):
            value, i = _expression(text, i + 2, variables)
            out.append(value)
        elif closing and char == "}":
            return "".join(out), i
        else:
            out.append(char)
            i += 1
    if closing:
        raise SubstitutionError("missing closing brace")
    return "".join(out), i


def _expression(text: str, start: int, variables: Variables) -> tuple[str, int]:
    """One `${...}` from just after `${`: its value and the index after its `}`."""
    if text.startswith("#", start):
        name, i = _name(text, start + 1)
        if not text.startswith("}", i):
            raise SubstitutionError("bad substitution", name)
        value = _value(name, variables, default_op=False)
        return (value if _unresolved(value) else str(len(value))), i + 1
    name, i = _name(text, start)
    if text.startswith("}", i):
        return _value(name, variables, default_op=False), i + 1
    if text.startswith(("-", "?", "+"), i):
        raise SubstitutionError("missing closing brace", name)
    op = next((o for o in _DEFAULT_OPS if text.startswith(o, i)), "")
    if op:
        default, end = _expand(text, i + len(op), variables, closing=True)
        value = _value(name, variables, default_op=True)
        if _unresolved(value):
            return value, end + 1
        return (value or default), end + 1
    casing = next((c for c in ("^^", ",,", "^", ",") if text.startswith(c + "}", i)), "")
    if casing:
        value = _value(name, variables, default_op=False)
        return (value if _unresolved(value) else _CASING[casing](value)), i + len(casing) + 1
    # substrings, pattern removal and replacement: not evaluated; the value stays unknown
    _, end = _expand(text, i, Variables({}, open=True), closing=True)
    return unresolved_marker(name), end + 1


def _name(text: str, start: int) -> tuple[str, int]:
    i = start
    while i < len(text) and (text[i].isalnum() or text[i] == "_"):
        i += 1
    if i == start:
        raise SubstitutionError("unable to parse variable name")
    return text[start:i], i


def _value(name: str, variables: Variables, default_op: bool) -> str:
    value = variables.lookup(name)
    if value is None:
        if variables.strict and not default_op:
            raise SubstitutionError("variable not set (strict mode)", name)
        return ""
    return value


def _unresolved(value: str) -> bool:
    return value.startswith(_MARKER_PREFIX) and bool(_MARKER.fullmatch(value))
