"""Time the stages of `planner diff` after the scenario is read, for several checkouts side by side.

    python bench/bench_diff_stages.py --repo /tmp/g10k --compare /tmp/base . [--repetitions 3]

Each repetition starts, for each checkout in turn, a fresh interpreter with that checkout first
on the path, which reads the scenario (not timed), then times in CPU seconds the group-wide
annotations stamped on its desired Services (a part of reading it) and `report_of_scenario`
whole, as `planner diff -o json` meets it; then the report again, plain and within
`inputs_remembered` (does sharing the allocation inputs, as plan does, pay in diff?). Prints
the medians, one column per checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from bench.bench_read_stages import LAP_CLOCK, SCENARIO_LOADED, run_stages

_PROBE = (
    SCENARIO_LOADED
    + """
from planner.analysis.build import report_of_scenario
from planner.model.group_annotations import stamp_group_annotations
from planner.model.service import inputs_remembered
"""
    + LAP_CLOCK
    + """
stamp_group_annotations(list(scenario.desired_services.values()))
lap("stamp group annotations")
report_of_scenario(scenario)
lap("report of scenario")
report_of_scenario(scenario)
lap("again")
inputs_remembered(report_of_scenario)(scenario)
lap("again, inputs remembered")
times["sum"] = times["stamp group annotations"] + times["report of scenario"]
print(json.dumps(times))
"""
)


def main(argv: list[str] | None = None) -> int:
    return run_stages(__doc__.splitlines()[0], _PROBE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
