"""Time the stages of `planner diff` before the simulation, for several checkouts side by side.

    python bench/bench_read_stages.py --repo /tmp/g10k --compare /tmp/base . [--repetitions 3]

Each repetition starts, for each checkout in turn, a fresh interpreter with that checkout first
on the path, which times one pass of each stage in CPU seconds, as a `planner diff` process
meets them: read desired, read live (live.yaml), diff + scenario, allocation inputs, sharing
groups, static conflicts; then, apart, reading live.json (what `kubectl get -o json` prints,
written next to live.yaml by bench_diff.py). The prediction (the simulation) and the renderers
are left out: bench_diff.py --stages times them. Prints the medians, one column per checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# The stages of bench_diff.stage_times up to the prediction, in a fresh interpreter.
_PROBE = """
import json, sys, time
from planner.analysis.build import scenario_conflicts, scenario_groups, scenario_inputs
from planner.diff.scenario import build_scenario
from planner.sources import load_desired, load_live_file

repo = sys.argv[1]
times = {}
clock = time.process_time()

def lap(name):
    global clock
    now = time.process_time()
    times[name], clock = now - clock, now

desired = load_desired([repo + "/desired"])
lap("read desired")
live = load_live_file(repo + "/live.yaml")
lap("read live")
scenario = build_scenario(desired, live)
lap("diff + scenario")
inputs = scenario_inputs(scenario)
lap("allocation inputs")
scenario_groups(scenario, inputs)
lap("sharing groups")
scenario_conflicts(scenario, inputs)
lap("static conflicts")
times["sum"] = sum(times.values())
clock = time.process_time()
load_live_file(repo + "/live.json")
lap("read live.json (apart)")
print(json.dumps(times))
"""


def probe_times(probe: str, checkout: Path, *args: object) -> dict[str, float]:
    """What `probe` (a script printing its stage timings as JSON on its last line) measures
    with `checkout`'s code first on the path, in a fresh interpreter (CPU s)."""
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    argv = [sys.executable, "-c", probe, *map(str, args)]
    done = subprocess.run(argv, env=env, cwd=checkout, check=True, capture_output=True, text=True)
    times: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return times


def checkout_stages(checkout: Path, repo: Path) -> dict[str, float]:
    """One pass of each stage with `checkout`'s code, in a fresh interpreter (CPU s)."""
    return probe_times(_PROBE, checkout, repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="A repo generate.py wrote.")
    parser.add_argument("--compare", type=Path, nargs="+", default=[Path(".")])
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    if not (args.repo / "live.json").exists():
        parser.error(f"{args.repo}/live.json is missing: bench_diff.py --repo writes it")
    samples: dict[Path, dict[str, list[float]]] = {c: {} for c in args.compare}
    for _ in range(args.repetitions):
        for checkout in args.compare:  # alternated: the machine's load drifts
            for stage, seconds in checkout_stages(checkout, args.repo).items():
                samples[checkout].setdefault(stage, []).append(seconds)
    print(f"{args.repetitions} repetition(s), median cpu s, one fresh interpreter per pass")
    stages = list(samples[args.compare[0]])
    print(f"  {'stage':26}" + "".join(f"{str(c)[-24:]:>26}" for c in args.compare))
    for stage in stages:
        row = "".join(f"{statistics.median(samples[c][stage]):26.2f}" for c in args.compare)
        print(f"  {stage:26}{row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
