"""The plan rendered: kapp-like table, YAML and JSON (valid against plan.schema.json, read back
the same), and its picture as Mermaid and Graphviz dot."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from planner.plan.records import LiveOrigin, Plan, plan_from_dict, plan_to_dict
from planner.render.plan import mermaid_plan, plan_graph, plan_table, render_plan
from tests.plan.test_build import LAN, planned, running, seed_plan, service
from tests.render.schema_subset import validate

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "planner/schemas/plan.schema.json").read_text("utf-8")
)


def two_wave_plan() -> Plan:
    """A deletion frees 10.0.0.1, then a new Service claims it (one "waits for" edge)."""
    live = running([service("old", ips=["10.0.0.1"])], [LAN])
    return planned([service("new", port=81, ips=["10.0.0.1"])], live, [LAN])


def git_plan() -> Plan:
    """`two_wave_plan` as if made from a git ref: the new Service's address only predicted."""
    plan = two_wave_plan()
    wave = dataclasses.replace(plan.waves[1], predicted_ips={"apps/new": {"10.0.0.1": ("lan",)}})
    return dataclasses.replace(
        plan, waves=(plan.waves[0], wave), live_source=LiveOrigin("git", "HEAD~1")
    )


def test_a_predicted_address_is_written_as_such_and_read_back() -> None:
    data = plan_to_dict(git_plan())
    assert data["live_source"] == {"kind": "git", "ref": "HEAD~1"}
    assert data["expected_ips"][1] == {"apps/new": [[{"predicted": "10.0.0.1", "pools": ["lan"]}]]}
    assert plan_from_dict(data) == git_plan()
    lines = plan_table(git_plan()).splitlines()
    assert "  apps/new: any IP of pool lan (predicted 10.0.0.1)" in lines
    assert "Live state: git ref HEAD~1, without statuses." in lines


def test_the_table_lists_every_write_with_its_wave_unit_op_and_what_it_waits_for() -> None:
    plan = two_wave_plan()
    deletion, creation = plan.waves[0].units[0], plan.waves[1].units[0]
    lines = plan_table(plan).splitlines()
    assert lines[0].split() == ["Wave", "Unit", "Namespace/Name", "Op", "Waits", "for"]
    assert lines[1].split() == ["1", deletion.id, "(service)", "apps/old", "delete", "-"]
    assert lines[2].split() == ["2", creation.id, "(service)", "apps/new", "apply", deletion.id]
    assert "After wave 2:" in lines
    assert "  apps/new: 10.0.0.1" in lines


def test_the_table_states_nudges_and_pending_windows() -> None:
    text = plan_table(seed_plan())
    assert "  nudge for metallb-0.14: apps/dns-tcp, apps/dns-udp" in text
    assert "  fixed: none" in text
    assert (
        "  metallb-0.15: apps/dns-tcp pending in wave 1, until its group's last write lands" in text
    )
    assert (
        "  metallb-0.14: apps/dns-udp pending in wave 1, until the plan's nudge after the wave"
        in text
    )


def test_the_recreate_table_states_the_outage() -> None:
    text = plan_table(seed_plan(strategy="recreate"))
    assert "Strategy: recreate." in text
    assert (
        "  fixed: apps/dns-tcp pending in wave 1, from its deletion until it is created again"
        in text
    )


def test_an_empty_plan_says_there_is_nothing_to_do() -> None:
    live = running([service("web", ips=["10.0.0.1"])], [LAN])
    plan = planned([service("web", ips=["10.0.0.1"])], live, [LAN])
    assert plan_table(plan) == "Nothing to do: no Service write changes anything.\n"


def test_several_ip_options_are_joined_with_or() -> None:
    plan = seed_plan()
    wave = dataclasses.replace(
        plan.waves[0], expected_ips={"apps/dns-tcp": (("10.0.0.1",), ("10.0.0.2",))}
    )
    text = plan_table(dataclasses.replace(plan, waves=(wave,)))
    assert "  apps/dns-tcp: 10.0.0.1 or 10.0.0.2" in text


@pytest.mark.parametrize(
    "make", [seed_plan, two_wave_plan, lambda: seed_plan(strategy="recreate"), git_plan]
)
def test_json_is_valid_against_the_schema_and_reads_back_the_same(make: object) -> None:
    plan = make()  # type: ignore[operator]
    data = json.loads(render_plan(plan, "json"))
    assert validate(data, SCHEMA) == []
    assert plan_from_dict(data) == plan
    assert list(data) == sorted(data)


def test_yaml_holds_the_same_data_as_json() -> None:
    plan = two_wave_plan()
    assert yaml.safe_load(render_plan(plan, "yaml")) == json.loads(render_plan(plan, "json"))
    assert plan_from_dict(yaml.safe_load(render_plan(plan, "yaml"))) == plan


def test_the_json_carries_the_fields_the_issue_names() -> None:
    data = plan_to_dict(seed_plan())
    unit = data["waves"][0]["units"][0]
    assert unit["kind"] == "group-transition"
    assert [o["name"] for o in unit["objects"]] == ["dns-tcp", "dns-udp"]
    assert data["expected_ips"] == [
        {"apps/dns-tcp": [["10.0.0.5"]], "apps/dns-udp": [["10.0.0.5"]]}
    ]
    assert sorted(data["predictions"]) == ["fixed", "metallb-0.14", "metallb-0.15"]


def test_the_schema_rejects_what_plan_from_dict_would_not_understand() -> None:
    data = plan_to_dict(seed_plan())
    data["waves"][0]["units"][0]["kind"] = "batch"
    data["strategy"] = "yolo"
    problems = validate(data, SCHEMA)
    assert "$.strategy: 'yolo' is not one of ['atomic', 'recreate']" in problems
    assert any(p.startswith("$.waves[0].units[0].kind:") for p in problems)


def test_mermaid_draws_waves_as_subgraphs_and_labels_edges_with_the_reason() -> None:
    plan = two_wave_plan()
    deletion, creation = (w.units[0] for w in plan.waves)
    text = mermaid_plan(plan)
    old, new = (u.id.replace("-", "_") for u in (deletion, creation))
    assert text.splitlines()[0] == "flowchart TB"
    assert '  subgraph wave1["wave 1"]' in text and '  subgraph wave2["wave 2"]' in text
    assert f'    {old}["service<br/>apps/old"]' in text
    assert f'  {old} -->|"' in text
    edge = next(line for line in text.splitlines() if "-->" in line)
    assert edge.endswith(f"| {new}")
    assert "releases IP 10.0.0.1, which it claims" in edge


def test_mermaid_escapes_quotes_and_angle_brackets() -> None:
    plan = two_wave_plan()
    unit = dataclasses.replace(plan.waves[1].units[0], reasons=('frees "x" <y>',))
    wave = dataclasses.replace(plan.waves[1], units=(unit,))
    text = mermaid_plan(dataclasses.replace(plan, waves=(plan.waves[0], wave)))
    assert "frees #quot;x#quot; #60;y#62;" in text


def test_mermaid_folds_large_waves() -> None:
    plan = seed_plan()
    unit = plan.waves[0].units[0]
    many = tuple(dataclasses.replace(unit, id=f"u-{i:012x}") for i in range(5))
    wave = dataclasses.replace(plan.waves[0], units=many)
    text = mermaid_plan(dataclasses.replace(plan, waves=(wave,)), max_units_per_wave=3)
    assert text.count("group transition<br/>") == 3
    assert '    wave1_more["… and 2 more unit(s)"]' in text


def test_dot_draws_each_wave_as_a_cluster_with_labelled_edges() -> None:
    plan = two_wave_plan()
    deletion, creation = (w.units[0] for w in plan.waves)
    text = plan_graph(plan, "dot")
    old, new = (u.id.replace("-", "_") for u in (deletion, creation))
    assert text.startswith("digraph plan {\n")
    assert '  subgraph cluster_wave1 { label="wave 1";' in text
    assert f'    {old} [label="service\\napps/old"];' in text
    assert f'  {old} -> {new} [label="' in text
    assert text.endswith("}\n")


def test_the_same_plan_renders_the_same_bytes() -> None:
    for output in ("text", "yaml", "json"):
        assert render_plan(seed_plan(), output) == render_plan(seed_plan(), output)
    assert plan_graph(seed_plan(), "mermaid") == plan_graph(seed_plan(), "mermaid")
