"""Flux's envsubst as kustomize-controller runs it (fluxcd/pkg envsubst): the forms, the `$$`
escape, undefined variables (empty, or an error when strict), and variables the planner cannot
know (a marker the caller checks)."""

from __future__ import annotations

import pytest

from planner.sources.flux_substitute import (
    SubstitutionError,
    Variables,
    expand,
    is_disabled,
    restore_markers,
    unresolved_in,
    unresolved_marker,
)

KNOWN = Variables({"IP": "192.168.10.53", "EMPTY": "", "NAME": "dns"})


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("${IP}", "192.168.10.53"),
        ("ip: ${IP}/32", "ip: 192.168.10.53/32"),
        ("${MISSING}", ""),  # undefined: empty (not strict)
        ("${MISSING:=fallback}", "fallback"),
        ("${MISSING:-fallback}", "fallback"),
        ("${MISSING=fallback}", "fallback"),
        ("${EMPTY:=fallback}", "fallback"),  # a default replaces an empty value too
        ("${IP:=fallback}", "192.168.10.53"),
        ("${MISSING:=${NAME}-x}", "dns-x"),  # defaults may hold variables
        ("$${IP}", "${IP}"),  # Flux's escape for a literal ${...}
        ("$$", "$"),
        ("$IP and $", "$IP and $"),  # no braces: text
        ("${NAME^^}", "DNS"),
        ("${NAME^}", "Dns"),
        ("${#NAME}", "3"),
    ],
)
def test_fluxs_forms(text: str, expanded: str) -> None:
    assert expand(text, KNOWN) == expanded


def test_strict_mode_refuses_an_undefined_variable_without_a_default() -> None:
    strict = Variables({"IP": "1"}, strict=True)
    with pytest.raises(SubstitutionError) as caught:
        expand("a: ${MISSING}", strict)
    assert caught.value.variable == "MISSING"
    assert expand("a: ${MISSING:=d}", strict) == "a: d"


@pytest.mark.parametrize("text", ["${IP", "${}", "${IP:=x", "${IP-x}", "${IP+x}"])
def test_bad_expressions_are_refused(text: str) -> None:
    with pytest.raises(SubstitutionError):
        expand(text, KNOWN)


def test_unknown_variables_become_markers_even_with_a_default() -> None:
    # the source that may set them is not readable: neither the value nor the default is sure
    partial = Variables({"IP": "1"}, unknown=frozenset({"NAME"}), open=True)
    text = expand("${NAME} ${OTHER:=d} ${IP}", partial)
    assert unresolved_in(text) == ["NAME", "OTHER"]
    assert text.endswith(" 1")
    assert restore_markers(text) == "${NAME} ${OTHER} 1"


def test_forms_not_evaluated_leave_the_value_unknown() -> None:
    assert expand("${NAME:1:2}", KNOWN) == unresolved_marker("NAME")
    assert expand("${NAME/d/x}", KNOWN) == unresolved_marker("NAME")


def test_the_substitute_disabled_label_or_annotation_opts_out() -> None:
    key = "kustomize.toolkit.fluxcd.io/substitute"
    assert is_disabled({"metadata": {"annotations": {key: "disabled"}}})
    assert is_disabled({"metadata": {"labels": {key: "disabled"}}})
    assert not is_disabled({"metadata": {"labels": {key: "enabled"}}})
    assert not is_disabled({"metadata": None})
