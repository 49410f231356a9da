"""bench/bench_startup.py and bench_startup_parts.py --compare: checkouts side by side, the
paired ratios taken round by round."""

from __future__ import annotations

from pathlib import Path

from bench.bench_startup import Command, Samples, _paired_ratios
from bench.bench_startup_parts import PARTS, _rows

_FLOOR = Command("floor", ["python"], floor=True)
_DIFF = Command("planner diff", ["python", "-c", "pass"])


def _samples(cpu: list[float]) -> dict[str, Samples]:
    return {"floor": Samples([0.1] * len(cpu), []), "planner diff": Samples(cpu, [])}


def test_paired_ratios_divide_within_each_round_before_the_median() -> None:
    # The machine slows threefold in round 3, between the two checkouts' runs: the medians
    # alone (0.1 vs 0.27) say 2.7x; four rounds of five say 0.9x.
    first, second = [0.1, 0.1, 0.1, 0.3, 0.3], [0.09, 0.09, 0.27, 0.27, 0.27]
    samples = {Path("a"): _samples(first), Path("b"): _samples(second)}
    (line,) = _paired_ratios([_FLOOR, _DIFF], samples)
    assert line.split()[-2:] == ["1.000", "0.900"]


def _run(scale: float) -> dict[str, object]:
    return {
        "startup": 0.02 * scale,
        "parts": [0.01 * scale * (index + 1) for index in range(len(PARTS))],
        "stages": {"predict": 0.015 * scale},
        "shutdown": 0.006 * scale,
        "dataclasses": {"seconds": 0.03 * scale, "classes": 72, "methods": 262},
    }


def test_parts_rows_give_each_checkout_its_own_medians_in_the_order_things_happen() -> None:
    rows = _rows([[_run(1.0), _run(1.0), _run(3.0)], [_run(2.0), _run(2.0), _run(2.0)]])
    labels = [label for label, _ in rows]
    assert labels[0].startswith("interpreter start-up")
    assert labels[1 : 1 + len(PARTS)] == list(PARTS)
    assert labels[-2].startswith("interpreter shutdown")
    assert dict(rows)["  of the warm run, predict"] == [0.015, 0.03]
    assert dict(rows)[labels[-1]] == [0.03, 0.06]
