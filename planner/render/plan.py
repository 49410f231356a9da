"""The plan for people and machines: a kapp-like table, YAML, JSON, and its picture (Mermaid, dot).

Renderers only format; the same plan gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import yaml

from planner.graph import GROUP_TRANSITION
from planner.plan import Plan, PlannedUnit, plan_to_dict

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
        return json.dumps(plan_to_dict(plan), indent=2, sort_keys=True) + "\n"
    if output == "yaml":
        return yaml.safe_dump(plan_to_dict(plan), sort_keys=True, default_flow_style=False)
    return plan_table(plan)


def plan_table(plan: Plan) -> str:
    """Waves and units as a table, then expected IPs, nudges and each behaviour's pending windows."""
    if not plan.waves:
        return "Nothing to do: no Service write changes anything.\n"
    rows = [("Wave", "Unit", "Namespace/Name", "Op", "Waits for")]
    for wave in plan.waves:
        for unit in wave.units:
            for write in unit.writes:
                rows.append(
                    (
                        str(wave.index),
                        _unit_label(unit),
                        write.service,
                        write.op,
                        ", ".join(unit.waits_for) or "-",
                    )
                )
    lines = _table(rows)
    lines.append("")
    lines.append(f"Strategy: {plan.strategy}. Target: {plan.target}.")
    for wave in plan.waves:
        lines.append(f"After wave {wave.index}:")
        for svc, options in sorted(wave.expected_ips.items()):
            shown = " or ".join(", ".join(ips) or "<no IP>" for ips in options)
            lines.append(f"  {svc}: {shown}")
        for behavior, services in sorted(wave.nudges.items()):
            lines.append(f"  nudge for {behavior}: {', '.join(services)}")
    lines.append("")
    lines.append("Pending windows while the plan is applied:")
    for behavior, prediction in sorted(plan.predictions.items()):
        if not prediction.windows:
            lines.append(f"  {behavior}: none")
            continue
        for window in prediction.windows:
            lines.append(
                f"  {behavior}: {window.service} pending in wave {window.wave}, {_UNTIL.get(window.until, window.until)}"
            )
    lines.extend(f"Note: {note}" for note in plan.notes)
    return "\n".join(lines) + "\n"


def _unit_label(unit: PlannedUnit) -> str:
    kind = "group" if unit.kind == GROUP_TRANSITION else "service"
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


def mermaid_plan(plan: Plan, max_units_per_wave: int = 20) -> str:
    """Waves as subgraphs, units as nodes, edges labelled with what is released and claimed."""
    lines = ["flowchart TB"]
    shown: set[str] = set()
    for wave in plan.waves:
        lines.append(f'  subgraph wave{wave.index}["wave {wave.index}"]')
        for unit in wave.units[:max_units_per_wave]:
            lines.append(f'    {_node(unit.id)}["{_mermaid_text(_node_label(unit))}"]')
            shown.add(unit.id)
        hidden = len(wave.units) - max_units_per_wave
        if hidden > 0:
            lines.append(f'    wave{wave.index}_more["… and {hidden} more unit(s)"]')
        lines.append("  end")
    for unit in plan.units:
        for before in unit.waits_for:
            if before in shown and unit.id in shown:
                label = _mermaid_text("; ".join(unit.reasons))
                arrow = f'-->|"{label}"|' if label else "-->"
                lines.append(f"  {_node(before)} {arrow} {_node(unit.id)}")
    return "\n".join(lines) + "\n"


def _dot(plan: Plan) -> str:
    lines = ["digraph plan {", "  rankdir=TB;", "  node [shape=box];"]
    for wave in plan.waves:
        lines.append(f'  subgraph cluster_wave{wave.index} {{ label="wave {wave.index}";')
        for unit in wave.units:
            lines.append(
                f"    {_node(unit.id)} [label={json.dumps(_node_label(unit, sep=chr(10)))}];"
            )
        lines.append("  }")
    for unit in plan.units:
        for before in unit.waits_for:
            lines.append(
                f"  {_node(before)} -> {_node(unit.id)} [label={json.dumps('; '.join(unit.reasons))}];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_label(unit: PlannedUnit, sep: str = "<br/>") -> str:
    kind = "group transition" if unit.kind == GROUP_TRANSITION else "service"
    services = list(unit.services[:6]) + (
        [f"… and {len(unit.services) - 6} more"] if len(unit.services) > 6 else []
    )
    return sep.join([kind, *services])


def _node(unit_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in unit_id)


def _mermaid_text(text: str) -> str:
    entities = {'"': "#quot;", "<": "#60;", ">": "#62;", "#": "#35;", "\n": " "}
    protected = text.replace("<br/>", "\x00")
    return "".join(entities.get(c, c) for c in protected).replace("\x00", "<br/>")
