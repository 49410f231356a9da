"""planner.objects: the helpers every stage shares."""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType

import pytest

from planner.errors import InputError
from planner.objects import check_lb_class, is_mapping, is_qualified_name


def test_is_mapping_takes_plain_dicts_and_other_mappings_only() -> None:
    assert is_mapping({}) and is_mapping(OrderedDict()) and is_mapping(MappingProxyType({}))
    assert not any(is_mapping(v) for v in ([], "a", None, 1, (("a", 1),)))


@pytest.mark.parametrize(
    ("text", "qualified"),
    [
        ("metallb", True),
        ("example.com/metallb", True),
        ("Edge_LB.v2", True),  # the name part takes upper case, `_` and `.`
        ("a" * 63, True),
        ("example.com/" + "a" * 63, True),
        ("a" * 64, False),  # the name part holds at most 63 characters
        ("Example.com/metallb", False),  # the prefix is a DNS-1123 subdomain: lower case
        ("/metallb", False),
        ("example.com/", False),
        ("a/b/c", False),
        ("-metallb", False),
        ("metallb.", False),
        ("edge lb", False),
        ("", False),
    ],
)
def test_is_qualified_name_follows_kubernetes(text: str, qualified: bool) -> None:
    assert is_qualified_name(text) is qualified


def test_check_lb_class_takes_none_or_a_qualified_name_and_names_where_it_was_given() -> None:
    assert check_lb_class("", "--lb-class") == ""
    assert check_lb_class("example.com/metallb", "--lb-class") == "example.com/metallb"
    with pytest.raises(InputError, match=r"^parameter `lb-class` is 'a/b/c'; expected a load"):
        check_lb_class("a/b/c", "parameter `lb-class`")
