"""The table of issue 17 for one repo: both parser floors, then `planner diff`, `plan` and
`plan --verify`, each once in a fresh interpreter, with its CPU time and peak memory.

    python bench/bench_table.py --services 10000 [--repo DIR] [--live live.yaml]

Side by side in one run: the libyaml floor (the live List item by item, as the planner parses
it; bench_diff.load_only) and the fastest floor (yaml_rs, when installed), timed in this process;
then each command in its own interpreter (`python -c` running planner.cli.main), CPU seconds
(user + system) from wait4() and its peak resident memory (VmHWM, printed by the child). A fresh
process per command measures what a user's run costs, start-up and all, and keeps one command's
memory out of the next one's peak. Targets (issue 17): diff <= 4x, plan <= 5x, plan --verify <= 8x
the fastest floor; <= 300 MB each at 10,000 Services, <= 2 GB at 100,000. Without `--repo` the
repo is generated (bench/generate.py) into a temporary directory.

    python bench/bench_table.py --repo DIR --compare /tmp/base . [--repetitions 3] [--commands plan]

With `--compare`, no floors: the chosen commands of each checkout, alternated (each repetition
runs every command once per checkout, in turn, the order reversed every other repetition), and
the median CPU seconds and peak memory of each, side by side with the ratio of the last checkout
to the first; then that ratio paired: the last checkout's CPU over the first's within each
repetition, median over the repetitions (a machine that drifts between repetitions moves both
sides of each ratio alike, where it moves the two medians apart).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from bench.bench_diff import fastest_parser, load_fastest, load_only, timed, write_json_live
from bench.generate import DEFAULT_SERVICES, repo_files, write_repo

RATIO_TARGETS = {"diff": 4.0, "plan": 5.0, "plan --verify": 8.0}
MEMORY_TARGET_MB = {10_000: 300.0, 100_000: 2048.0}

# The child prints its own peak: Linux keeps ru_maxrss across exec (see bench_diff).
_PROBE = """
import contextlib, os, sys
from planner.cli import main
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
    code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(code, peak)
"""


@dataclass(frozen=True)
class Run:
    """One command's exit code, CPU seconds and peak memory (MB)."""

    code: int
    cpu: float
    peak_mb: float


def run_command(args: list[str], checkout: Path = BENCH_DIR.parent) -> Run:
    """`planner ARGS` in a fresh interpreter of `checkout`'s code: its exit code, CPU (wait4)
    and VmHWM."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # -P: the working directory is not put first on the path (run from a checkout, `-c` would
    # import that checkout's planner whatever PYTHONPATH says)
    child = subprocess.Popen(
        [sys.executable, "-P", "-c", _PROBE, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, _, usage = os.wait4(child.pid, 0)
    code, peak = out.split()[-2:]
    return Run(int(code), usage.ru_utime + usage.ru_stime, int(peak) / 1024)


def commands(repo: Path, live: str) -> dict[str, list[str]]:
    """The three commands of the table, each printing JSON (the machine-readable path)."""
    inputs = [str(repo / "desired"), "--live", str(repo / live), "--output", "json"]
    return {
        "diff": ["diff", *inputs],
        "plan": ["plan", *inputs],
        # sampled verdicts accepted: without it a large repo's verify exits 3 before printing
        "plan --verify": ["plan", *inputs, "--verify", "--accept-sampled"],
    }


def floors(repo: Path) -> dict[str, float]:
    """CPU seconds of both parser floors over the repo's files, in this process."""
    measured = {"libyaml": timed(lambda: load_only(repo))[0]}
    loads = fastest_parser()
    if loads is not None:
        measured["yaml_rs"] = timed(lambda: load_fastest(repo, loads))[0]
    return measured


def row(label: str, run: Run, floor: dict[str, float], services: int) -> str:
    """One command's line: CPU, ratios to the floors measured in this run, peak memory."""
    ratios = "".join(f" {run.cpu / cpu:6.2f}x {name}" for name, cpu in floor.items())
    target_mb = MEMORY_TARGET_MB.get(services)
    memory = f"{run.peak_mb:7.0f} MB" + (f" (target <= {target_mb:.0f})" if target_mb else "")
    target = f" (target <= {RATIO_TARGETS[label]}x yaml_rs)" if "yaml_rs" in floor else ""
    return f"{label:14} {run.cpu:8.2f} s{ratios}{target}  peak {memory}  exit {run.code}"


def table(repo: Path, live: str, services: int, chosen: list[str], with_floors: bool) -> None:
    """Measure the floors and the chosen commands, printing each line as it is measured."""
    floor = floors(repo) if with_floors else {}
    for name, cpu in floor.items():
        print(f"floor {name:8} {cpu:8.2f} s", flush=True)
    for label, args in commands(repo, live).items():
        if label in chosen:
            print(row(label, run_command(args), floor, services), flush=True)


def compare(
    repo: Path, live: str, chosen: list[str], checkouts: list[Path], repetitions: int
) -> None:
    """The chosen commands of every checkout, alternated, then their medians side by side."""
    runs: dict[tuple[str, Path], list[Run]] = {}
    for repetition in range(repetitions):
        for label, args in commands(repo, live).items():
            if label in chosen:
                # Reversed every other repetition: neither checkout always runs first.
                order = checkouts if repetition % 2 == 0 else checkouts[::-1]
                for checkout in order:
                    runs.setdefault((label, checkout), []).append(run_command(args, checkout))
    print(f"{repetitions} repetition(s), median CPU s (peak MB), one fresh interpreter per run")
    print(f"  {'command':14}" + "".join(f"{c!s:>28}" for c in checkouts) + "   last/first   paired")
    for label in [name for name in commands(repo, live) if name in chosen]:
        medians = [_median_run(runs[(label, c)]) for c in checkouts]
        cells = "".join(f"{f'{m.cpu:.2f} ({m.peak_mb:.0f})':>28}" for m in medians)
        codes = sorted({run.code for c in checkouts for run in runs[(label, c)]})
        ratio = medians[-1].cpu / medians[0].cpu
        paired = paired_ratio(runs[(label, checkouts[0])], runs[(label, checkouts[-1])])
        print(f"  {label:14}{cells}   {ratio:9.3f}  {paired:7.3f}  exit {codes}")


def paired_ratio(first: list[Run], last: list[Run]) -> float:
    """The median over repetitions of last's CPU over first's in the same repetition."""
    return statistics.median(b.cpu / a.cpu for a, b in zip(first, last, strict=True))


def _median_run(runs: list[Run]) -> Run:
    return Run(
        runs[0].code,
        statistics.median(run.cpu for run in runs),
        statistics.median(run.peak_mb for run in runs),
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, generate the repo when none is given, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--repo", type=Path, help="A repo generate.py wrote (else generated).")
    parser.add_argument("--live", default="live.yaml", help="live.yaml, or live.json (written).")
    parser.add_argument(
        "--commands",
        default=",".join(RATIO_TARGETS),
        help="Which of diff, plan, plan --verify (comma-separated; separate runs can go side by side).",
    )
    parser.add_argument("--no-floors", action="store_true", help="Leave the floors out.")
    parser.add_argument(
        "--compare", type=Path, nargs="+", help="Checkouts to time side by side (no floors)."
    )
    parser.add_argument("--repetitions", type=int, default=3, help="With --compare.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as scratch:
        repo = args.repo or Path(scratch)
        if args.repo is None:
            write_repo(repo, args.services, 4, 0)
        if args.live == "live.json":
            write_json_live(repo)
        size = sum(path.stat().st_size for path in repo_files(repo)) / 1e6
        print(
            f"repo: {repo} ({args.services:,} Services, {size:.1f} MB of YAML), --live {args.live}"
        )
        chosen = [name.strip() for name in args.commands.split(",")]
        if args.compare:
            compare(repo, args.live, chosen, args.compare, args.repetitions)
        else:
            table(repo, args.live, args.services, chosen, not args.no_floors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
