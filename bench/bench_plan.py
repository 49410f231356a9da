"""Benchmark `planner plan` and `planner plan --verify` against loading the same files with
PyYAML's C loader, side by side in one run, and the growth from a small repo to a large one.

    python bench/bench_plan.py [--services 10000] [--small 1000] [--repetitions 1]
    python bench/bench_plan.py --heterogeneous --small 1500 --services 3000 --memory

Targets (issue 4): plan <= 2.0x and plan --verify <= 4.0x the C-loader parse at 10,000
Services; 1,000 -> 10,000 Services grows the plan's time <= 12x. The C-loader floor loads the
live List item by item, as the planner does (bench_diff.load_only); a second floor is the fastest
YAML parser from PyPI (yaml_rs, when installed; targets of issue 17: plan <= 5x, --verify <= 8x). Times are CPU seconds of this
process (wall seconds printed too; the machine may be shared).

`--heterogeneous` generates groups of three with their own ports and selectors, all changing
their key (issue 17: 1,000 groups, plan --verify <= 20 s, memory not growing with the groups
explored); `--memory` adds the peak memory of one `plan --verify` per size (fresh interpreter),
and what planning and proving hold beyond the parsed scenario (VmRSS once it is read, VmHWM
after verify, the explorations still remembered).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from bench.bench_diff import (
    _MEMORY_PROBE,
    Timing,
    _median,
    fastest_parser,
    load_fastest,
    load_only,
    timed,
)
from bench.generate import SHAPES, write_repo
from planner.cli import main as planner_main

PLAN_TARGET = 2.0
VERIFY_TARGET = 4.0
GROWTH_TARGET = 12.0
FASTEST_TARGETS = {"plan": 5.0, "verify": 8.0}
HETEROGENEOUS_VERIFY_TARGET_S = 20.0  # plan --verify of 1,000 heterogeneous groups (issue 17)


def plan_argv(repo: Path, verify: bool) -> list[str]:
    argv = ["plan", str(repo / "desired"), "--live", str(repo / "live.yaml"), "--output", "json"]
    return [*argv, "--verify"] if verify else argv


def run_plan(repo: Path, verify: bool) -> int:
    """One `planner plan` in-process, output (and verify's report) thrown away; nothing
    remembered from an earlier run (as for a fresh `planner` process)."""
    with (
        open(os.devnull, "w", encoding="utf-8") as sink,
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        return planner_main(plan_argv(repo, verify))


def measure(repo: Path, repetitions: int) -> dict[str, Timing]:
    """Median CPU/wall of the load, the plan and the verified plan, alternated per repetition."""
    samples: dict[str, list[tuple[float, float]]] = {
        "load": [],
        "fastest": [],
        "plan": [],
        "verify": [],
    }
    loads = fastest_parser()
    for _ in range(repetitions):
        samples["load"].append(timed(lambda: load_only(repo)))
        if loads is not None:
            samples["fastest"].append(timed(lambda: load_fastest(repo, loads)))
        samples["plan"].append(timed(lambda: run_plan(repo, False)))
        samples["verify"].append(timed(lambda: run_plan(repo, True)))
    return {name: _median(values) for name, values in samples.items() if values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--shape", choices=SHAPES, default="templated", help="See generate.py.")
    parser.add_argument(
        "--heterogeneous", dest="shape", action="store_const", const="heterogeneous"
    )
    parser.add_argument("--auto-every", type=int, default=10, help="See generate.py (0: none).")
    parser.add_argument("--memory", action="store_true", help="Peak memory of plan --verify.")
    args = parser.parse_args(argv)
    results: dict[int, dict[str, Timing]] = {}
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as scratch:
        for size in (args.small, args.services):
            repo = Path(scratch) / str(size)
            counts = write_repo(repo, size, 4, 0, args.auto_every, args.shape)
            print("generated:", ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
            results[size] = measure(repo, args.repetitions)
            _print(size, results[size])
            if args.shape == "heterogeneous":
                verify = results[size]["verify"].cpu
                verdict = "meets" if verify <= HETEROGENEOUS_VERIFY_TARGET_S else "MISSES"
                target = HETEROGENEOUS_VERIFY_TARGET_S
                print(
                    f"  plan --verify: {verify:.2f} cpu s ({verdict} <= {target:.0f} s at 1,000 groups)"
                )
            if args.memory:
                print(f"  peak memory of plan --verify: {peak_memory_mb(repo):.0f} MB")
                print(f"  {simulation_memory(repo)}")
    growth = results[args.services]["plan"].cpu / results[args.small]["plan"].cpu
    verdict = "meets" if growth <= GROWTH_TARGET else "MISSES"
    print(
        f"growth {args.small} -> {args.services} (plan cpu): {growth:.1f}x ({verdict} <= {GROWTH_TARGET})"
    )
    return 0


def peak_memory_mb(repo: Path) -> float:
    """Peak resident memory of one `plan --verify` in a fresh interpreter (MB)."""
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent)}
    probe = [sys.executable, "-c", _MEMORY_PROBE, *plan_argv(repo, True)]
    out = subprocess.run(probe, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


# What planning and proving hold beyond the parsed repo, in a fresh interpreter: VmRSS once the
# scenario is read, VmHWM after verify, and what the run's Explorations still remember.
_SIMULATION_PROBE = """
import sys
from planner.pipeline import load_scenario, plan_scenario
from planner.plan.verify import verify_plan
from planner.simulate.world import Explorations
from planner.sources.live import LiveSource

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))

repo = sys.argv[1]
scenario = load_scenario([repo + "/desired"], LiveSource.file(repo + "/live.yaml"))
parsed = status("VmRSS")
explorations = Explorations()
plan = plan_scenario(scenario, explorations=explorations)
verify_plan(plan, explorations=explorations)
held = sum(size for _, size in explorations._entries.values())
print(parsed, status("VmHWM"), len(explorations._entries), held)
"""


def simulation_memory(repo: Path) -> str:
    """What plan --verify holds beyond the parsed scenario (fresh interpreter), in one line."""
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent)}
    probe = [sys.executable, "-c", _SIMULATION_PROBE, str(repo)]
    out = subprocess.run(probe, env=env, check=True, capture_output=True, text=True).stdout
    parsed, peak, entries, held = (int(field) for field in out.split())
    return (
        f"scenario read: {parsed / 1024:.0f} MB, peak through verify: {peak / 1024:.0f} MB "
        f"(+{(peak - parsed) / 1024:.0f} MB); remembered: {entries} explorations, {held} Services"
    )


def _print(size: int, timings: dict[str, Timing]) -> None:
    load = timings["load"]
    print(f"{size} Services:{'cpu s':>12}{'wall s':>10}")
    for name, label in (
        ("load", "C-loader parse"),
        ("fastest", "yaml_rs parse"),
        ("plan", "planner plan"),
        ("verify", "plan --verify"),
    ):
        if name in timings:
            print(f"  {label:18}{timings[name].cpu:10.2f}{timings[name].wall:10.2f}")
    for name, target in (("plan", PLAN_TARGET), ("verify", VERIFY_TARGET)):
        ratio = timings[name].cpu / load.cpu
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"  ratio {name}/parse: {ratio:.2f} ({verdict} <= {target})")
    if "fastest" not in timings:
        print("  yaml_rs not installed (pip install yaml-rs): no fastest floor")
        return
    for name, target in FASTEST_TARGETS.items():
        ratio = timings[name].cpu / timings["fastest"].cpu
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"  ratio {name}/yaml_rs: {ratio:.2f} ({verdict} <= {target})")


if __name__ == "__main__":
    raise SystemExit(main())
