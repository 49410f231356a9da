"""The Mermaid picture of a plan's waves: layout (golden snapshot), escaping, large waves."""

from __future__ import annotations

from planner.plan.graph import GROUP_TRANSITION, SERVICE, Edge, OrderedUnits, Unit
from planner.render.mermaid import mermaid_waves
from tests.render.golden import assert_matches_golden

DNS = Unit(kind=GROUP_TRANSITION, services=("dns/dns-tcp", "dns/dns-udp"), content="dns")
WEB = Unit(kind=SERVICE, services=('web/"quoted"<b>#1',), content="web")


def _two_waves() -> OrderedUnits:
    edge = Edge(before=DNS.id, after=WEB.id, reasons=("releases 192.168.10.53, claimed after",))
    return OrderedUnits(waves=((DNS,), (WEB,)), edges=(edge,))


def test_waves_match_their_snapshot() -> None:
    assert_matches_golden("plan-waves.mmd", mermaid_waves(_two_waves()) + "\n")


def test_one_subgraph_per_wave_and_one_arrow_per_edge() -> None:
    text = mermaid_waves(_two_waves())
    assert text.splitlines()[0] == "flowchart TB"
    assert text.count("subgraph ") == 2 and text.count("  end") == 2
    assert text.count("-->") == 1


def test_labels_cannot_break_out_of_their_quotes() -> None:
    text = mermaid_waves(_two_waves())
    assert "web/#quot;quoted#quot;#60;b#62;#35;1" in text
    for line in text.splitlines():
        assert line.count('"') % 2 == 0


def test_large_waves_are_summarised_and_hidden_units_get_no_arrows() -> None:
    units = tuple(
        Unit(kind=SERVICE, services=(f"bulk/svc-{i:03d}",), content=str(i)) for i in range(30)
    )
    last = Unit(kind=SERVICE, services=("bulk/last",), content="last")
    edges = (Edge(units[-1].id, last.id, ("r",)), Edge(units[0].id, last.id, ("r",)))
    text = mermaid_waves(OrderedUnits(waves=(units, (last,)), edges=edges), max_units_per_wave=5)
    assert "… and 25 more unit(s)" in text
    assert text.count("bulk/svc-") == 5
    assert text.count("-->") == 1  # only the edge between two shown units


def test_long_unit_member_lists_are_shortened() -> None:
    group = Unit(kind=GROUP_TRANSITION, services=tuple(f"g/m{i}" for i in range(10)), content="big")
    text = mermaid_waves(OrderedUnits(waves=((group,),), edges=()))
    assert "g/m5<br/>… and 4 more" in text
    assert "g/m6" not in text
