"""Benchmark the CLI's start-up against merely importing its two dependencies.

    python bench/bench_startup.py [--runs 21] [--sample samples/seed-dns-local]
    python bench/bench_startup.py --runs 21 --compare /tmp/base .

In one run, side by side and interleaved (so a busy machine slows every command alike): the
median over `--runs` fresh interpreters of `python -c "import yaml, click"` (the floor),
`planner --help` and `planner diff DESIRED --live LIVE` on the seed sample; each one's ratio to
the floor (target <= 1.5). Times are CPU seconds (user + system) of the child, read from
wait4(); wall-clock seconds are printed too. `python -X importtime -c "from planner.cli import
main"` shows where the rest goes. `--checkout DIR` times another checkout's planner (e.g. one
made with `git archive main | tar -x -C DIR`) with this interpreter, for a before/after.
`--compare DIR...` times several checkouts in the same rounds (each round: the floor, then every
checkout's commands), so a drifting machine slows them alike; one table, a column per checkout,
and per command the median over the rounds of each checkout's CPU over the first one's.

The checkout's bytecode is compiled first (`compileall`, as `pip install` does for a wheel): with
PYTHONDONTWRITEBYTECODE set, as on the development machines, every run would otherwise compile
the planner's ~70 modules from source (some 75 ms) while yaml and click load installed bytecode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 1.5
# What the `planner` console script runs (pip's wrapper adds nothing measurable to this).
PLANNER = "import sys; from planner.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class Command:
    """One timed command line."""

    label: str
    argv: list[str]
    floor: bool = False


@dataclass
class Samples:
    """CPU and wall seconds of every run of one command."""

    cpu: list[float]
    wall: list[float]


def commands(sample: Path) -> list[Command]:
    """The floor and the planner's commands, with the interpreter running this bench."""
    python = [sys.executable]
    desired, live = str(sample / "desired"), str(sample / "live.yaml")
    return [
        Command('python -c "import yaml, click"', [*python, "-c", "import yaml, click"], True),
        Command("planner --help", [*python, "-c", PLANNER, "--help"]),
        Command(
            f"planner diff {sample.name}", [*python, "-c", PLANNER, "diff", desired, "--live", live]
        ),
    ]


def compile_bytecode(checkout: Path) -> None:
    """Write the bytecode of the checkout's planner package, as an installed wheel has it."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(checkout / "planner")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_once(argv: list[str], checkout: Path = ROOT) -> tuple[float, float]:
    """CPU (user + system) and wall seconds of one run in `checkout` (its planner first on the
    path); its output is thrown away."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=sink, cwd=checkout, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return usage.ru_utime + usage.ru_stime, wall


def measure(cmds: list[Command], runs: int, checkout: Path = ROOT) -> dict[str, Samples]:
    """Every command `runs` times, interleaved, after one warm-up each (bytecode, page cache)."""
    for cmd in cmds:
        run_once(cmd.argv, checkout)
    samples = {cmd.label: Samples([], []) for cmd in cmds}
    for _ in range(runs):
        for cmd in cmds:
            cpu, wall = run_once(cmd.argv, checkout)
            samples[cmd.label].cpu.append(cpu)
            samples[cmd.label].wall.append(wall)
    return samples


def measure_side_by_side(
    cmds: list[Command], runs: int, checkouts: list[Path]
) -> dict[Path, dict[str, Samples]]:
    """`measure` over several checkouts at once: every round runs the floor once, then each
    checkout's planner commands, after one warm-up of each."""
    floor = next(cmd for cmd in cmds if cmd.floor)
    planner = [cmd for cmd in cmds if not cmd.floor]
    for checkout in checkouts:
        for cmd in cmds:
            run_once(cmd.argv, checkout)
    samples = {checkout: {cmd.label: Samples([], []) for cmd in cmds} for checkout in checkouts}
    for _ in range(runs):
        cpu, wall = run_once(floor.argv, checkouts[0])
        for checkout in checkouts:
            samples[checkout][floor.label].cpu.append(cpu)
            samples[checkout][floor.label].wall.append(wall)
        for checkout in checkouts:
            for cmd in planner:
                cpu, wall = run_once(cmd.argv, checkout)
                samples[checkout][cmd.label].cpu.append(cpu)
                samples[checkout][cmd.label].wall.append(wall)
    return samples


def report_side_by_side(
    cmds: list[Command], samples: dict[Path, dict[str, Samples]], runs: int
) -> list[str]:
    """The table: per command, each checkout's median CPU ms and its ratio to the floor."""
    floor = next(cmd for cmd in cmds if cmd.floor)
    checkouts = list(samples)
    floor_cpu = statistics.median(samples[checkouts[0]][floor.label].cpu)
    lines = [f"median of {runs} rounds, {sys.executable} ({sys.version.split()[0]}), CPU ms"]
    lines += [f"  [{index}] {checkout}" for index, checkout in enumerate(checkouts)]
    header = "".join(f"{f'[{index}]':>16}" for index in range(len(checkouts)))
    lines.append(f"{'command':40}{header}")
    for cmd in cmds:
        cells = []
        for checkout in checkouts:
            cpu = statistics.median(samples[checkout][cmd.label].cpu)
            cells.append(f"{cpu * 1000:8.1f}" + ("" if cmd.floor else f" {cpu / floor_cpu:5.2f}x"))
        lines.append(f"{cmd.label:40}" + "".join(f"{cell:>16}" for cell in cells))
    lines += _paired_ratios(cmds, samples)
    lines.append(f"target: each planner command <= {RATIO_TARGET}x the floor (CPU)")
    return lines


def _paired_ratios(cmds: list[Command], samples: dict[Path, dict[str, Samples]]) -> list[str]:
    """Per planner command, each checkout's CPU over [0]'s in the same round, median over the
    rounds: a machine that drifts between rounds moves both sides of each ratio alike."""
    checkouts = list(samples)
    lines = []
    for cmd in (cmd for cmd in cmds if not cmd.floor):
        base = samples[checkouts[0]][cmd.label].cpu
        cells = [
            statistics.median(
                cpu / first for cpu, first in zip(samples[c][cmd.label].cpu, base, strict=True)
            )
            for c in checkouts
        ]
        lines.append(
            f"{'  ' + cmd.label + ' / [0], paired':40}"
            + "".join(f"{f'{cell:.3f}':>16}" for cell in cells)
        )
    return lines


def report(cmds: list[Command], samples: dict[str, Samples], runs: int) -> list[str]:
    """The table: median CPU and wall ms per command and its ratio to the floor."""
    floor = next(cmd for cmd in cmds if cmd.floor)
    floor_cpu = statistics.median(samples[floor.label].cpu)
    floor_wall = statistics.median(samples[floor.label].wall)
    lines = [
        f"median of {runs} runs, {sys.executable} ({sys.version.split()[0]})",
        f"{'command':40} {'cpu ms':>8} {'wall ms':>8} {'cpu ratio':>10} {'wall ratio':>10}",
    ]
    for cmd in cmds:
        cpu = statistics.median(samples[cmd.label].cpu)
        wall = statistics.median(samples[cmd.label].wall)
        mark = "" if cmd.floor else ("  ok" if cpu / floor_cpu <= RATIO_TARGET else "  OVER")
        lines.append(
            f"{cmd.label:40} {cpu * 1000:8.1f} {wall * 1000:8.1f} "
            f"{cpu / floor_cpu:10.2f} {wall / floor_wall:10.2f}{mark}"
        )
    lines.append(f"target: each planner command <= {RATIO_TARGET}x the floor (CPU)")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--sample", type=Path, default=ROOT / "samples" / "seed-dns-local")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="The planner to time.")
    parser.add_argument("--compare", type=Path, nargs="+", help="Checkouts timed side by side.")
    args = parser.parse_args(argv)
    cmds = commands(args.sample.resolve())
    if args.compare:
        checkouts = [checkout.resolve() for checkout in args.compare]
        for checkout in checkouts:
            compile_bytecode(checkout)
        side_by_side = measure_side_by_side(cmds, args.runs, checkouts)
        for line in report_side_by_side(cmds, side_by_side, args.runs):
            print(line)
        return 0
    print(f"checkout: {args.checkout}")
    compile_bytecode(args.checkout.resolve())
    for line in report(cmds, measure(cmds, args.runs, args.checkout.resolve()), args.runs):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
