"""One planner command, two checkouts alternating in one run: the median CPU seconds of each.

    python bench/bench_command.py --base /tmp/base --repetitions 5 --cwd REPO -- \
        diff kubernetes/apps --live-git HEAD~5

Runs `python -m planner.cli ARGS...` in `--cwd` with `--base`'s code and this checkout's in
turn (so the machine's drift hits both), counting the CPU of the interpreter and everything it
starts (kustomize, helm, git); prints each median, the runs, the ratio this / base and the
paired ratio (the median of each round's ratio). `--this-extra=ARG` (repeatable) adds to this
checkout's runs only: with `--base` this very checkout, what a flag costs (`--fetch-charts`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def cpu_of(argv: list[str], cwd: Path, checkout: Path) -> float:
    """CPU seconds (user + system) of one run and its children."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--this-extra", action="append", default=[], metavar="ARG")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    argv = [sys.executable, "-m", "planner.cli", *[a for a in options.args if a != "--"]]
    checkouts = {"base": options.base.resolve(), "this": CHECKOUT}
    extra = {"base": [], "this": options.this_extra}
    runs: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(options.repetitions):
        for name, checkout in checkouts.items():
            runs[name].append(cpu_of([*argv, *extra[name]], options.cwd, checkout))
    for name, values in runs.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f} s CPU ({shown})")
    ratio = statistics.median(runs["this"]) / statistics.median(runs["base"])
    paired = statistics.median(t / b for t, b in zip(runs["this"], runs["base"], strict=True))
    print(f"this / base: {ratio:.2f} (paired {paired:.3f})")


if __name__ == "__main__":
    main()
