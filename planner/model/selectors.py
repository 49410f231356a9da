"""Kubernetes label selectors: the `LabelSelector` record, from its mapping or its string form.

MetalLB pools select Services and namespaces with them (planner.model.pools), Flux patches
select their targets (planner.sources.flux_patches). Imported only where one is written: most
pools select nothing.

    >>> LabelSelector.of("tier in (web,api),!canary").matches({"tier": "web"})
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: key, operator (In, NotIn, Exists, DoesNotExist), values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this requirement, as Kubernetes decides it."""
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes LabelSelector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every requirement holds for the label set."""
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def of(cls, selector: LabelSelector | Mapping[str, Any] | str) -> LabelSelector:
        """A selector from a LabelSelector dict (matchLabels/matchExpressions) or a string."""
        if isinstance(selector, LabelSelector):
            return selector
        if isinstance(selector, str):
            return cls(tuple(_parse_selector_string(selector)))
        if isinstance(selector, Mapping):
            return cls(tuple(_requirements_of_dict(selector)))
        raise TypeError(f"a label selector must be a mapping, not {type(selector).__name__}")


def _requirements_of_dict(selector: Mapping[str, Any]) -> list[Requirement]:
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise ValueError(f"unknown label selector field {min(unknown)!r}")
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise TypeError("matchLabels must be a mapping of label to value")
    requirements = [Requirement(str(k), "In", (str(v),)) for k, v in match_labels.items()]
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise TypeError("matchExpressions must be a list")
    return requirements + [_requirement_of_expression(e) for e in expressions]


def _requirement_of_expression(expression: Any) -> Requirement:
    if not isinstance(expression, Mapping) or "key" not in expression:
        raise ValueError("each matchExpressions entry needs a key and an operator")
    operator = expression.get("operator")
    values = tuple(str(v) for v in expression.get("values") or [])
    if operator not in _SELECTOR_OPERATORS:
        raise ValueError(f"{operator!r} is not a valid label selector operator")
    if operator in ("In", "NotIn") and not values:
        raise ValueError(f"operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError(f"operator {operator} takes no values")
    return Requirement(str(expression["key"]), operator, values)


_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\((.*)\)\s*$")


def _parse_selector_string(text: str) -> list[Requirement]:
    """The string form Kubernetes' labels.Parse reads: `a=b,c!=d,e,!f,g in (x,y)`."""
    return [_parse_selector_term(term) for term in _split_terms(text) if term.strip()]


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return terms + [current]


def _parse_selector_term(term: str) -> Requirement:
    set_term = _SET_TERM.match(term)
    if set_term:
        key, operator, values = set_term.groups()
        parsed = tuple(v.strip() for v in values.split(",") if v.strip())
        return Requirement(key, "In" if operator == "in" else "NotIn", parsed)
    for token, operator in (("!=", "NotIn"), ("==", "In"), ("=", "In")):
        if token in term:
            key, _, value = term.partition(token)
            return Requirement(key.strip(), operator, (value.strip(),))
    term = term.strip()
    if term.startswith("!"):
        return Requirement(term[1:].strip(), "DoesNotExist")
    return Requirement(term, "Exists")
