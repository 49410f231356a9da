"""A Mermaid flowchart of a plan's waves, for the Markdown report (`extras["mermaid"]`).

    report_extras["mermaid"] = mermaid_waves(order_units(units))

One box per wave, one node per unit (its kind and Services), and an arrow for every
"waits for" edge, labelled with its reasons. Invisible links (`~~~`) chain the waves in order,
so wave 2 is drawn below wave 1 even when no unit of it waits for one of wave 1. Large waves
are summarised so the diagram stays readable and within what GitHub renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from planner.plan.graph import GROUP_TRANSITION, Edge, OrderedUnits

MAX_UNITS_PER_WAVE = 20
MAX_SERVICES_PER_NODE = 6
_ENTITIES = {'"': "#quot;", "<": "#60;", ">": "#62;", "#": "#35;", "\n": " "}


class Node(Protocol):
    """What a picture shows of a unit (a graph Unit or a plan's PlannedUnit)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def services(self) -> tuple[str, ...]: ...


def mermaid_waves(ordered: OrderedUnits, max_units_per_wave: int = MAX_UNITS_PER_WAVE) -> str:
    """The waves as a Mermaid `flowchart TB`; units beyond `max_units_per_wave` are counted."""
    return mermaid_flowchart(ordered.waves, ordered.edges, max_units_per_wave)


def mermaid_flowchart(
    waves: Sequence[Sequence[Node]],
    edges: Sequence[Edge],
    max_units_per_wave: int = MAX_UNITS_PER_WAVE,
) -> str:
    """Waves as subgraphs in order, units as nodes, "waits for" edges labelled with their
    reasons."""
    lines = ["flowchart TB"]
    shown: set[str] = set()
    for number, wave in enumerate(waves, start=1):
        lines.append(f'  subgraph wave{number}["wave {number}"]')
        for unit in wave[:max_units_per_wave]:
            lines.append(f'    {node_id(unit.id)}["{_label(unit)}"]')
            shown.add(unit.id)
        hidden = len(wave) - max_units_per_wave
        if hidden > 0:
            lines.append(f'    wave{number}_more["… and {hidden} more unit(s)"]')
        lines.append("  end")
    for edge in edges:
        if edge.before in shown and edge.after in shown:
            reasons = _text("; ".join(edge.reasons))
            arrow = f'-->|"{reasons}"|' if reasons else "-->"
            lines.append(f"  {node_id(edge.before)} {arrow} {node_id(edge.after)}")
    # Without a link between them, Mermaid may lay unlinked subgraphs out in any order.
    lines += [f"  wave{n} ~~~ wave{n + 1}" for n in range(1, len(waves))]
    return "\n".join(lines)


def unit_lines(unit: Node) -> list[str]:
    """A unit's label, one line each: its kind, then its Services (long lists shortened)."""
    kind = "group transition" if unit.kind == GROUP_TRANSITION else unit.kind
    services = list(unit.services[:MAX_SERVICES_PER_NODE])
    more = len(unit.services) - len(services)
    if more > 0:
        services.append(f"… and {more} more")
    return [kind, *services]


def _label(unit: Node) -> str:
    return "<br/>".join(_text(line) for line in unit_lines(unit))


def node_id(unit_id: str) -> str:
    """Mermaid node ids: letters, digits and underscores only."""
    return "".join(c if c.isalnum() else "_" for c in unit_id)


def _text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (quotes and markup become entity codes)."""
    return "".join(_ENTITIES.get(c, c) for c in text)
