"""The plan for people and machines: a kapp-like table, YAML, JSON, and its picture (Mermaid, dot).

Renderers only format; the same plan gives the same bytes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence

import yaml

from planner.diff.scenario import NO_POOLS_NOTE, UNKNOWN_POOL
from planner.plan.graph import GROUP_TRANSITION, Edge
from planner.plan.records import ExpectedIPs, Plan, PlannedUnit, plan_data, plan_to_dict
from planner.render.indented_json import indented_pieces
from planner.render.mermaid import MAX_UNITS_PER_WAVE, mermaid_flowchart, node_id, unit_lines
from planner.render.summary import UNKNOWN_POOL_IP

PLAN_FORMATS = ("text", "yaml", "json")
GRAPH_FORMATS = ("mermaid", "dot")
_UNTIL = {
    "group-complete": "until its group's last write lands",
    "nudge": "until the plan's nudge after the wave",
    "recreated": "from its deletion until it is created again",
    "never": "and stays pending (the plan cannot recover it)",
}


def render_plan(plan: Plan, output: str) -> str:
    """The plan as `text`, `yaml` or `json`."""
    if output == "json":
        return "".join(plan_pieces(plan, output))
    if output == "yaml":
        return yaml.safe_dump(plan_to_dict(plan), sort_keys=True, default_flow_style=False)
    return plan_table(plan)


def plan_pieces(plan: Plan, output: str) -> Iterator[str]:
    """`render_plan(plan, output)` in pieces as it is written: a JSON plan is never one string
    (at 100,000 Services it is 344 MB, held twice while its pieces were joined)."""
    if output == "json":
        written = plan_data(plan)
        yield from indented_pieces(written.data, checked=written.checked)
        yield "\n"
    else:
        yield render_plan(plan, output)


def plan_table(plan: Plan) -> str:
    """Waves and units as a table, then expected IPs, nudges and each behaviour's pending windows."""
    if not plan.waves:
        return "Nothing to do: no Service write changes anything.\n"
    # the note that no pool is known comes first, as in `planner diff`'s report
    lines = [f"Note: {note}" for note in plan.notes if note == NO_POOLS_NOTE]
    lines += _table(_write_rows(plan))
    lines.append("")
    lines.append(f"Strategy: {plan.strategy}. Target: {plan.target}.")
    if plan.live_source is not None and plan.live_source.kind == "git":
        lines.append(f"Live state: {plan.live_source.describe()}, without statuses.")
    lines += _expected_lines(plan)
    lines.append("")
    lines.append("Pending windows while the plan is applied:")
    lines += _window_lines(plan)
    lines.extend(f"Note: {note}" for note in plan.notes if note != NO_POOLS_NOTE)
    return "\n".join(lines) + "\n"


def _write_rows(plan: Plan) -> list[tuple[str, ...]]:
    """The table's header, then one row per write: wave, unit, Service, op, what it waits for."""
    rows: list[tuple[str, ...]] = [("Wave", "Unit", "Namespace/Name", "Op", "Waits for")]
    for wave in plan.waves:
        for unit in wave.units:
            waits_for = ", ".join(unit.waits_for) or "-"
            label = _unit_label(unit)
            rows += [(str(wave.index), label, w.service, w.op, waits_for) for w in unit.writes]
    return rows


def _expected_lines(plan: Plan) -> list[str]:
    """Per wave: the IPs expected after it, and the nudges each behaviour needs."""
    lines = []
    for wave in plan.waves:
        lines.append(f"After wave {wave.index}:")
        for svc, options in sorted(wave.expected_ips.items()):
            lines.append(f"  {svc}: {expected_words(options, wave.predicted_ips.get(svc, {}))}")
        for behavior, services in sorted(wave.nudges.items()):
            lines.append(f"  nudge for {behavior}: {', '.join(services)}")
    return lines


def expected_words(options: ExpectedIPs, predicted: Mapping[str, Sequence[str]]) -> str:
    """A Service's expected IP lists for people: "192.168.10.53 or <no IP>", a prediction
    named as what it is (`_predicted_words`)."""
    return " or ".join(_shown_ips(ips, predicted) for ips in options)


def _shown_ips(ips: Sequence[str], predicted: Mapping[str, Sequence[str]]) -> str:
    if not ips:
        return "<no IP>"
    return ", ".join(_predicted_words(ip, predicted[ip]) if ip in predicted else ip for ip in ips)


def _predicted_words(address: str, pools: Sequence[str]) -> str:
    """A predicted address: "any IP of pool lan (predicted 192.168.10.7)"; with no pool known,
    "an IP from an unknown pool" (the stand-in pool's address means nothing)."""
    if list(pools) == [UNKNOWN_POOL]:
        return UNKNOWN_POOL_IP
    plural = "s" if len(pools) > 1 else ""
    return f"any IP of pool{plural} {', '.join(pools)} (predicted {address})"


def _window_lines(plan: Plan) -> list[str]:
    """Per behaviour: each predicted pending window, or "none"."""
    lines = []
    for behavior, prediction in sorted(plan.predictions.items()):
        if not prediction.windows:
            lines.append(f"  {behavior}: none")
        for window in prediction.windows:
            until = _UNTIL.get(window.until, window.until)
            lines.append(f"  {behavior}: {window.service} pending in wave {window.wave}, {until}")
    return lines


def _unit_label(unit: PlannedUnit) -> str:
    kind = "group" if unit.kind == GROUP_TRANSITION else unit.kind
    return f"{unit.id} ({kind})"


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def plan_graph(plan: Plan, output: str) -> str:
    """The waves and "waits for" edges as a Mermaid flowchart or a Graphviz dot digraph."""
    return _dot(plan) if output == "dot" else mermaid_plan(plan)


def mermaid_plan(plan: Plan, max_units_per_wave: int = MAX_UNITS_PER_WAVE) -> str:
    """Waves as subgraphs, units as nodes, edges labelled with what is released and claimed."""
    edges = [
        Edge(before, unit.id, unit.reasons) for unit in plan.units for before in unit.waits_for
    ]
    waves = [wave.units for wave in plan.waves]
    return mermaid_flowchart(waves, edges, max_units_per_wave) + "\n"


def _dot(plan: Plan) -> str:
    """Each wave a cluster whose units share one rank; invisible edges chain the waves in
    order, so wave 2 ranks below wave 1 even with no "waits for" edge between them."""
    lines = ["digraph plan {", "  rankdir=TB;", "  node [shape=box];"]
    for wave in plan.waves:
        lines.append(f'  subgraph cluster_wave{wave.index} {{ label="wave {wave.index}";')
        for unit in wave.units:
            lines.append(
                f"    {node_id(unit.id)} [label={json.dumps(chr(10).join(unit_lines(unit)))}];"
            )
        lines.append(f"    {{ rank=same; {' '.join(node_id(u.id) + ';' for u in wave.units)} }}")
        lines.append("  }")
    for earlier, later in itertools.pairwise(plan.waves):
        if earlier.units and later.units:
            first, second = node_id(earlier.units[0].id), node_id(later.units[0].id)
            lines.append(f"  {first} -> {second} [style=invis];")
    for unit in plan.units:
        for before in unit.waits_for:
            lines.append(
                f"  {node_id(before)} -> {node_id(unit.id)} [label={json.dumps('; '.join(unit.reasons))}];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"
