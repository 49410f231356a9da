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
# The clock every stage probe laps (a probe's own imports first, then this, then its stages).
# The head of a probe that times stages after the read: the repo's scenario loaded (the probe's
# first argument), then frozen out of the cyclic collector's sight, as the commands do.
SCENARIO_LOADED = """
import gc, json, sys, time
from planner.pipeline import load_scenario
from planner.sources.live import LiveSource

repo = sys.argv[1]
scenario = load_scenario([repo + "/desired"], LiveSource.file(repo + "/live.yaml"))
gc.freeze()
"""

LAP_CLOCK = """
times = {}
clock = time.process_time()

def lap(name):
    global clock
    now = time.process_time()
    times[name], clock = now - clock, now
"""

_PROBE = (
    """
import json, sys, time
from planner.analysis.build import scenario_conflicts, scenario_groups, scenario_inputs
from planner.diff.scenario import build_scenario
from planner.sources import load_desired, load_live_file

repo = sys.argv[1]
"""
    + LAP_CLOCK
    + """
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
)


def probe_times(probe: str, checkout: Path, *args: object) -> dict[str, float]:
    """What `probe` (a script printing its stage timings as JSON on its last line) measures
    with `checkout`'s code first on the path, in a fresh interpreter (CPU s)."""
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    argv = [sys.executable, "-c", probe, *map(str, args)]
    done = subprocess.run(argv, env=env, cwd=checkout, check=True, capture_output=True, text=True)
    times: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return times


def stage_parser(description: str) -> argparse.ArgumentParser:
    """The options every stage bench takes: a repo, checkouts to alternate, repetitions."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repo", type=Path, required=True, help="A repo generate.py wrote.")
    parser.add_argument("--compare", type=Path, nargs="+", default=[Path(".")])
    parser.add_argument("--repetitions", type=int, default=3)
    return parser


def print_stage_medians(probe: str, checkouts: list[Path], repo: Path, repetitions: int) -> None:
    """Each stage's median CPU seconds per checkout, the checkouts alternated pass by pass."""
    samples: dict[Path, dict[str, list[float]]] = {c: {} for c in checkouts}
    for _ in range(repetitions):
        for checkout in checkouts:  # alternated: the machine's load drifts
            for stage, seconds in probe_times(probe, checkout, repo).items():
                samples[checkout].setdefault(stage, []).append(seconds)
    print(f"{repetitions} repetition(s), median cpu s, one fresh interpreter per pass")
    print(f"  {'stage':26}" + "".join(f"{str(c)[-24:]:>26}" for c in checkouts))
    for stage in samples[checkouts[0]]:
        row = "".join(f"{statistics.median(samples[c][stage]):26.2f}" for c in checkouts)
        print(f"  {stage:26}{row}")


def run_stages(description: str, probe: str, argv: list[str] | None) -> int:
    """A stage bench's whole run after the read (its --repo, --compare, --repetitions): the
    probe's medians printed, one column per checkout."""
    args = stage_parser(description).parse_args(argv)
    print_stage_medians(probe, args.compare, args.repo, args.repetitions)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    if not (args.repo / "live.json").exists():
        parser.error(f"{args.repo}/live.json is missing: bench_diff.py --repo writes it")
    print_stage_medians(_PROBE, args.compare, args.repo, args.repetitions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
