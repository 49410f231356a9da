"""What a parse leaves in memory: one string object per distinct string, and no YAML nodes.

A 10,000-Service snapshot repeats `name`, `spec`, `TCP`, `Cluster`... some 600,000 times in
45,000 distinct strings; held one object each they were half of the parsed objects' memory
(bench/README.md, "Memory (issue 17)"). These checks count objects, never time or bytes.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from planner.sources import documents
from planner.sources.documents import Parsed, parse_json, parse_snapshot, parse_yaml

ITEM = """\
- apiVersion: v1
  kind: Service
  metadata:
    name: svc-{n}
    namespace: team-{team}
    labels:
      app.kubernetes.io/name: group-{team}
    annotations:
      metallb.io/allow-shared-ip: group-{team}
    managedFields:
    - manager: kubectl-client-side-apply
      operation: Update
      fieldsType: FieldsV1
      fieldsV1:
        f:spec:
          f:ports: {{}}
  spec:
    type: LoadBalancer
    ports:
    - name: dns-tcp
      port: 53
      protocol: TCP
    externalTrafficPolicy: Cluster
  status:
    loadBalancer:
      ingress:
      - ip: 10.10.0.{team}
        ipMode: VIP
"""


def _list(count: int) -> str:
    items = "".join(ITEM.format(n=n, team=n // 3) for n in range(count))
    return f"apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: ''\nitems:\n{items}"


def _stream(count: int) -> str:
    """The same objects as documents of one stream (as a desired file holds them)."""
    return "---\n".join(
        "\n".join(line[2:] for line in ITEM.format(n=n, team=n // 3).splitlines()) + "\n"
        for n in range(count)
    )


def _json_list(count: int) -> str:
    return json.dumps(yaml.load(_list(count), Loader=yaml.SafeLoader), indent=4)


def _strings(value: Any) -> Iterator[str]:
    """Every string of a parsed value, keys included, once per place it appears."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield from (key for key in item if isinstance(key, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            yield item


def _held_and_distinct(parsed: Parsed) -> tuple[int, int]:
    """(string objects held, distinct string values) over the parsed documents."""
    strings = [s for document in parsed.documents for s in _strings(document.body)]
    return len({id(s) for s in strings}), len(set(strings))


PARSES = {
    "list item by item": lambda: parse_yaml(_list(30), "live.yaml"),
    "list whole": lambda: parse_yaml(_list(30), "live.yaml"),
    "snapshot": lambda: parse_snapshot(_list(30), "live.yaml"),
    "stream": lambda: parse_yaml(_stream(30), "svc.yaml"),
    "json snapshot": lambda: parse_snapshot(_json_list(30), "live.json"),
    "json": lambda: parse_json(_json_list(30), "svc.json"),
}


@pytest.fixture(params=sorted(PARSES))
def parse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each parse path: the List item by item (as a large one is), whole, a snapshot, a stream,
    and JSON (a snapshot and a plain file)."""
    whole = request.param == "list whole"
    monkeypatch.setattr(documents, "LARGE_LIST_CHARS", 10**12 if whole else 0)
    return PARSES[request.param]


def test_equal_strings_of_a_parse_are_one_object(parse: Any) -> None:
    parsed = parse()
    assert len(parsed.documents) == 30
    held, distinct = _held_and_distinct(parsed)
    assert held == distinct
    first, second = (document.body for document in parsed.documents[:2])
    shared_key = next(key for key in first["spec"] if key == "externalTrafficPolicy")
    assert shared_key is next(key for key in second["spec"] if key == "externalTrafficPolicy")
    assert first["spec"]["ports"][0]["protocol"] is second["spec"]["ports"][0]["protocol"]


def test_sharing_keeps_the_values_and_their_types() -> None:
    text = "a: '53'\nb: 53\nc: yes\nd: '2026-11-01T00:00:00Z'\ne: 2026-11-01\nf: 'yes'\ng: ~\n"
    (value,) = yaml.load_all(text, Loader=documents._Loader)
    assert value == {
        "a": "53",
        "b": 53,
        "c": True,
        "d": "2026-11-01T00:00:00Z",
        "e": "2026-11-01",  # a timestamp stays a string, as Kubernetes reads it
        "f": "yes",
        "g": None,
    }


def _live_nodes() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, yaml.Node))


def test_no_yaml_node_outlives_the_parse(parse: Any) -> None:
    before = _live_nodes()
    parsed = parse()
    assert parsed.documents
    assert _live_nodes() == before


def test_the_node_count_sees_nodes_that_are_held() -> None:
    """The check above can fail: a composed node kept alive is counted."""
    before = _live_nodes()
    held = yaml.compose(_stream(2).split("---\n")[0], Loader=documents._Loader)
    assert _live_nodes() > before
    del held
