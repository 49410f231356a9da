"""Benchmark `planner diff` against merely loading the same files with PyYAML's C loader.

    python bench/bench_diff.py [--services 10000] [--repetitions 3] [--repo DIR] [--stages]

In one run, side by side: the median time of `planner diff DESIRED --live LIVE --output json`
(in-process through `planner.cli.main`, the report written to /dev/null) and of
`yaml.load_all(..., Loader=yaml.CSafeLoader)` over the same desired and live files; their ratio
(target <= 2.0); and the peak memory of one diff in a fresh subprocess (VmHWM; target
<= 400 MB at 10,000 Services). Times are CPU seconds of this process (the machine may be shared,
so wall-clock seconds are printed too). `--stages` adds one timed pass per pipeline stage.
Without `--repo` the repo is generated (bench/generate.py) into a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from bench.generate import DEFAULT_SERVICES, repo_files, write_repo
from planner.cli import main as planner_main

RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 400.0

# The child's own peak: Linux keeps ru_maxrss across exec, so a child started by a large parent
# would report the parent's size; VmHWM belongs to the new address space.
_MEMORY_PROBE = """
import contextlib, os, resource, sys
from planner.cli import main
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(code, peak)
"""


@dataclass(frozen=True)
class Timing:
    """Median CPU and wall seconds over the repetitions."""

    cpu: float
    wall: float


def diff_argv(repo: Path) -> list[str]:
    return ["diff", str(repo / "desired"), "--live", str(repo / "live.yaml"), "--output", "json"]


def run_diff(repo: Path) -> int:
    """One `planner diff` in-process, its JSON report thrown away; returns the exit code.
    Nothing is remembered from an earlier run (as for a fresh `planner` process)."""
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        return planner_main(diff_argv(repo))


def load_only(repo: Path) -> int:
    """Parse every file of the repo with the C loader; returns the number of documents."""
    documents = 0
    for path in repo_files(repo):
        with path.open(encoding="utf-8") as stream:
            documents += len(list(yaml.load_all(stream, Loader=yaml.CSafeLoader)))
    return documents


def timed(action: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


def side_by_side(repo: Path, repetitions: int) -> tuple[Timing, Timing, int]:
    """Alternate diff and load runs (so load drift hits both alike); medians of each."""
    diffs, loads = [], []
    code = -1
    for _ in range(repetitions):
        loads.append(timed(lambda: load_only(repo)))
        cpu, wall = time.process_time(), time.perf_counter()
        code = run_diff(repo)
        diffs.append((time.process_time() - cpu, time.perf_counter() - wall))
    return _median(diffs), _median(loads), code


def _median(samples: list[tuple[float, float]]) -> Timing:
    return Timing(
        statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
    )


def peak_memory_mb(repo: Path) -> float:
    """Peak resident memory of one diff in a fresh interpreter (MB, its VmHWM in KiB)."""
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent)}
    probe = [sys.executable, "-c", _MEMORY_PROBE, *diff_argv(repo)]
    out = subprocess.run(probe, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


def stage_times(repo: Path) -> Iterator[tuple[str, float]]:
    """CPU seconds of each stage of the library path the CLI takes, in order."""
    from planner.analysis.build import scenario_conflicts, scenario_groups
    from planner.analysis.records import BEHAVIORS, DiffReport
    from planner.diff.scenario import build_scenario
    from planner.render import render_json
    from planner.simulate.world import predict
    from planner.sources import load_desired, load_live_file

    clock = time.process_time()

    def lap() -> float:
        nonlocal clock
        now = time.process_time()
        spent, clock = now - clock, now
        return spent

    desired = load_desired([str(repo / "desired")])
    yield "read desired", lap()
    live = load_live_file(str(repo / "live.yaml"))
    yield "read live", lap()
    scenario = build_scenario(desired, live)
    yield "diff + scenario", lap()
    groups = scenario_groups(scenario)
    yield "sharing groups", lap()
    conflicts = scenario_conflicts(scenario)
    yield "static conflicts", lap()
    predictions = predict(scenario, BEHAVIORS)
    yield "prediction (3 behaviours)", lap()
    report = DiffReport(scenario.changes, groups, conflicts, predictions, "metallb-0.15")
    render_json(report)
    yield "render json", lap()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--auto-every", type=int, default=10, help="See generate.py (0: none).")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--repo", type=Path, help="A repo generate.py wrote (else generated).")
    parser.add_argument("--stages", action="store_true", help="Also time each stage once.")
    parser.add_argument("--no-memory", action="store_true", help="Skip the memory subprocess.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as scratch:
        repo = args.repo or Path(scratch)
        if args.repo is None:
            counts = write_repo(repo, args.services, args.group_size, args.seed, args.auto_every)
            print("generated:", ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
        report(repo, args)
    return 0


def report(repo: Path, args: argparse.Namespace) -> None:
    size = sum(path.stat().st_size for path in repo_files(repo)) / 1e6
    print(f"repo: {repo} ({size:.1f} MB of YAML), {args.repetitions} repetition(s), median")
    diff, load, code = side_by_side(repo, args.repetitions)
    print(f"{'':28}{'cpu s':>10}{'wall s':>10}")
    print(f"{'planner diff --output json':28}{diff.cpu:10.2f}{diff.wall:10.2f}  (exit {code})")
    print(f"{'yaml.load_all CSafeLoader':28}{load.cpu:10.2f}{load.wall:10.2f}")
    ratio = diff.cpu / load.cpu
    verdict = "meets" if ratio <= RATIO_TARGET else "MISSES"
    print(f"ratio diff/load (cpu): {ratio:.2f} ({verdict} the target <= {RATIO_TARGET})")
    if not args.no_memory:
        peak = peak_memory_mb(repo)
        verdict = "meets" if peak <= MEMORY_TARGET_MB else "MISSES"
        print(
            f"peak memory of the diff: {peak:.0f} MB ({verdict} the target <= {MEMORY_TARGET_MB:.0f} MB)"
        )
    if args.stages:
        print("stages (cpu s, one pass):")
        for name, seconds in stage_times(repo):
            print(f"  {name:28}{seconds:8.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
