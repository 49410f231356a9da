"""Time the stages of `planner plan` after the scenario is read, for several checkouts side by side.

    python bench/bench_plan_stages.py --repo /tmp/g10k --compare /tmp/base . [--repetitions 3]

Each repetition starts, for each checkout in turn, a fresh interpreter with that checkout first
on the path, which reads the scenario (not timed), then times one pass of each stage in CPU
seconds, as a `planner plan -o json` process meets them: static conflicts, the plan (units,
order, simulation, baseline), the plan as data with its digest, and its JSON text; then, apart,
the plan and its proof as `planner plan --verify` makes them (static conflicts and plan again,
then `verify_plan` with the planning's explorations). The scenario is frozen out of the cyclic
collector's sight, as `plan_scenario` does. Prints the medians, one column per checkout
(bench_table.py times whole commands).
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
from planner.analysis.build import scenario_conflicts
from planner.plan.build import build_plan
from planner.plan.records import plan_to_dict
from planner.render.indented_json import indented_pieces
"""
    + LAP_CLOCK
    + """
conflicts = scenario_conflicts(scenario)
lap("static conflicts")
plan = build_plan(scenario, conflicts=conflicts)
lap("build plan")
data = plan_to_dict(plan)
lap("plan to dict + digest")
for piece in indented_pieces(data):  # written piece by piece, as the command does
    pass
lap("JSON text")
times["sum"] = sum(times.values())
del plan, data
clock = time.process_time()
try:
    from planner.pipeline import plan_and_proof
except ImportError:  # a checkout before plan_and_proof: what its `plan --verify` ran
    from planner.pipeline import plan_scenario
    from planner.plan.verify import verify_plan
    from planner.simulate.world import Explorations

    explorations = Explorations()
    verify_plan(plan_scenario(scenario, explorations=explorations), explorations=explorations)
else:
    plan_and_proof(scenario, prove=True)
lap("plan + proof (apart)")
print(json.dumps(times))
"""
)


def main(argv: list[str] | None = None) -> int:
    return run_stages(__doc__.splitlines()[0], _PROBE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
