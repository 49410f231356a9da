"""planner.objects: the helpers every stage shares."""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType

from planner.objects import is_mapping


def test_is_mapping_takes_plain_dicts_and_other_mappings_only() -> None:
    assert is_mapping({}) and is_mapping(OrderedDict()) and is_mapping(MappingProxyType({}))
    assert not any(is_mapping(v) for v in ([], "a", None, 1, (("a", 1),)))
