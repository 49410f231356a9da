"""The pictures keep the waves in order even with no "waits for" edge between them: the swap
sample's two waves planned for the fixed allocator, a transition group and the wave writing the
repo's annotations back (Mermaid links, and Graphviz ranks laid out by the real `dot` when
present)."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from planner.model.controller import Behavior
from planner.pipeline import load_scenario, plan_scenario
from planner.plan.graph import SERVICE, OrderedUnits, Unit
from planner.plan.records import Plan
from planner.render.mermaid import mermaid_waves, node_id
from planner.render.plan import plan_graph
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES


def _swap_plan() -> Plan:
    sample = SAMPLES / "swap-ips"
    scenario = load_scenario([str(sample / "desired")], LiveSource.file(str(sample / "live.yaml")))
    plan = plan_scenario(scenario, target=Behavior.FIXED)
    assert len(plan.waves) >= 2 and not any(u.waits_for for u in plan.units)  # the case at hand
    return plan


def test_mermaid_chains_the_swap_sample_waves_in_order() -> None:
    lines = plan_graph(_swap_plan(), "mermaid").splitlines()
    waves = len(_swap_plan().waves)
    assert [line for line in lines if "~~~" in line] == [
        f"  wave{n} ~~~ wave{n + 1}" for n in range(1, waves)
    ]
    declared = [line.split("[")[0].split()[-1] for line in lines if "subgraph" in line]
    assert declared == [f"wave{n}" for n in range(1, waves + 1)]


def test_mermaid_chains_waves_that_no_edge_links() -> None:
    units = [Unit(kind=SERVICE, services=(f"a/s{i}",), content=str(i)) for i in range(3)]
    text = mermaid_waves(OrderedUnits(waves=tuple((u,) for u in units), edges=()))
    assert text.splitlines()[-2:] == ["  wave1 ~~~ wave2", "  wave2 ~~~ wave3"]
    single = mermaid_waves(OrderedUnits(waves=((units[0],),), edges=()))
    assert "~~~" not in single


def test_dot_ranks_each_wave_together_and_chains_them() -> None:
    plan = _swap_plan()
    text = plan_graph(plan, "dot")
    for wave in plan.waves:
        members = " ".join(node_id(u.id) + ";" for u in wave.units)
        assert f"{{ rank=same; {members} }}" in text
    first, second = (node_id(w.units[0].id) for w in plan.waves[:2])
    assert f"{first} -> {second} [style=invis];" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_lays_the_swap_sample_waves_out_top_down() -> None:
    plan = _swap_plan()
    layout = subprocess.run(
        ["dot", "-Tplain"],
        input=plan_graph(plan, "dot"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # -Tplain: "node NAME X Y ...", with Y growing upwards; a later wave must sit lower.
    heights = {
        fields[1]: float(fields[3])
        for fields in (line.split() for line in layout.splitlines())
        if fields[0] == "node"
    }
    rows = [{heights[node_id(u.id)] for u in wave.units} for wave in plan.waves]
    for earlier, later in itertools.pairwise(rows):
        assert min(earlier) > max(later)
