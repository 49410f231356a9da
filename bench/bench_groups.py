"""Time the analysis of `planner diff` (allocation inputs, sharing groups, static conflicts) for
several checkouts side by side, at any size (live.yaml alone is enough: no live.json needed).

    python bench/bench_groups.py --repo /tmp/g100k --compare /tmp/base . [--rounds 2] [--passes 3]

Each round starts, for each checkout in turn (alternated: the machine's load drifts), a fresh
interpreter with that checkout first on the path. It reads the repo once (untimed), then times
`passes` passes of each stage on the same scenario, in CPU seconds, as `planner diff` runs them
(each stage pauses the cyclic collector itself). Prints, per checkout, the fastest pass of each
stage in every round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench.bench_read_stages import probe_times

_PROBE = """
import gc, json, sys, time
from planner.analysis.build import scenario_conflicts, scenario_groups, scenario_inputs
from planner.pipeline import load_scenario
from planner.sources.live import LiveSource

repo, passes = sys.argv[1], int(sys.argv[2])
scenario = load_scenario([repo + "/desired"], LiveSource.file(repo + "/live.yaml"))
gc.collect()
gc.freeze()  # as report_of_scenario does: the scenario out of the collector's sight
inputs = scenario_inputs(scenario)
stages = {
    "allocation inputs": lambda: scenario_inputs(scenario),
    "sharing groups": lambda: scenario_groups(scenario, inputs),
    "static conflicts": lambda: scenario_conflicts(scenario, inputs),
}
best = {}
for name, stage in stages.items():
    for _ in range(passes):
        clock = time.process_time()
        stage()
        best[name] = min(best.get(name, 1e9), time.process_time() - clock)
print(json.dumps(best))
"""


def checkout_stages(checkout: Path, repo: Path, passes: int) -> dict[str, float]:
    """The fastest of `passes` passes of each stage with `checkout`'s code (CPU s)."""
    return probe_times(_PROBE, checkout, repo, passes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="A repo generate.py wrote.")
    parser.add_argument("--compare", type=Path, nargs="+", default=[Path(".")])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args(argv)
    rounds: dict[Path, list[dict[str, float]]] = {c: [] for c in args.compare}
    for _ in range(args.rounds):
        for checkout in args.compare:
            rounds[checkout].append(checkout_stages(checkout, args.repo, args.passes))
    print(f"{args.rounds} round(s), fastest of {args.passes} pass(es) each, cpu s")
    stages = list(rounds[args.compare[0]][0])
    print(f"  {'stage':20}" + "".join(f"{str(c)[-28:]:>30}" for c in args.compare))
    for stage in stages:
        cells = [" / ".join(f"{r[stage]:.3f}" for r in rounds[c]) for c in args.compare]
        print(f"  {stage:20}" + "".join(f"{cell:>30}" for cell in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
