"""Kubernetes' reading of YAML: PyYAML's safe loader, with timestamps, digitless integers, base-60
numbers and the value and merge types as values kept as strings (as go-yaml, under
sigs.k8s.io/yaml, keeps them)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from planner import kube_yaml


@pytest.mark.parametrize(
    ("literal", "read"),
    [
        ("0b_", "0b_"),
        ("-0x__", "-0x__"),
        ("+0b__", "+0b__"),
        ("0x_1", 1),
        ("0b1_0", 2),
        ("0_", 0),
        ("0777", 511),
        ("1_000", 1000),
        ("2001-12-14", "2001-12-14"),
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
        ("yes", True),
        ("1:30", "1:30"),
        ("-190:20:30", "-190:20:30"),
        ("1:30.5", "1:30.5"),
        ("1_000.5", 1000.5),
        (".inf", float("inf")),
        ("=", "="),
        ("<<", "<<"),
    ],
)
def test_a_plain_scalar_reads_as_kubernetes_reads_it(literal: str, read: Any) -> None:
    assert kube_yaml.load(f"k: {literal}\n") == {"k": read}


@given(
    st.from_regex(r"\A[-+]?0[bx][0-9a-fA-F_]{0,4}\Z", fullmatch=True)
    | st.from_regex(r"\A[-+]?[0-9][0-9_]{0,5}(:[0-5]?[0-9]){0,2}\Z", fullmatch=True)
)
def test_an_integer_literal_reads_as_pyyaml_reads_it_or_stays_the_string(literal: str) -> None:
    """Only base 60 and where PyYAML's own constructor fails (no digit at all) does the reading
    differ."""
    text = f"k: {literal}\n"
    try:
        expected = yaml.safe_load(text)["k"] if ":" not in literal else literal
    except ValueError:
        expected = literal
    assert kube_yaml.load(text)["k"] == expected


def test_kustomize_output_with_an_unquoted_equals_sign_is_read() -> None:
    """kustomize writes an AlertmanagerConfig's `matchType: "="` unquoted (a real repository's
    kube-prometheus-stack app); PyYAML's safe loader has no constructor for it."""
    text = "matchers:\n- matchType: =\n  name: alertname\n- matchType: '!='\n  name: x\n"
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(text)
    assert kube_yaml.load(text)["matchers"][0]["matchType"] == "="


def test_a_merge_key_still_merges() -> None:
    assert kube_yaml.load("a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n")["c"] == {"b": 1, "d": 2}


def test_every_document_of_a_stream_is_read() -> None:
    assert kube_yaml.load_all("a: 0x_\n---\nb: 2001-12-14\n---\n") == [
        {"a": "0x_"},
        {"b": "2001-12-14"},
        None,
    ]


def test_a_broken_stream_is_a_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError):
        kube_yaml.load("a: [\n")
