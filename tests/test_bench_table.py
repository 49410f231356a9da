"""bench/bench_table.py --compare: the paired ratio, taken repetition by repetition."""

from __future__ import annotations

import pytest

from bench.bench_table import Run, paired_ratio


def _runs(cpu: list[float]) -> list[Run]:
    return [Run(1, seconds, 100.0) for seconds in cpu]


def test_the_paired_ratio_divides_within_each_repetition_before_the_median() -> None:
    # The machine slows threefold from repetition 3 on, between the two checkouts' runs: the
    # medians alone (1.0 vs 2.7 s) say 2.7x; repetition by repetition it is 0.9x.
    first, last = _runs([1.0, 1.0, 1.0, 3.0, 3.0]), _runs([0.9, 0.9, 2.7, 2.7, 2.7])
    assert paired_ratio(first, last) == pytest.approx(0.9)
