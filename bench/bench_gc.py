"""Where the cyclic GC's time goes in one `planner diff`, with and without the planner's lever.

    python bench/bench_gc.py --repo DIR [--runs 2]
    python bench/bench_gc.py --repo DIR --compare /tmp/base . [--runs 5]

Runs `planner diff DIR/desired --live DIR/live.yaml --output json` in-process, alternately with
the planner as it is and with `planner.collector.simulation_collections` made a no-op (the
collector's default thresholds while runs are sampled and states explored, nothing frozen after), each in a fresh process, and prints per
run: CPU seconds, CPU seconds inside the collector, full (generation 2) collections, peak RSS.
With `--compare`, the planner as it is in each checkout instead (each first on the path,
alternated run by run), then each one's median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = """
import contextlib, gc, io, resource, sys, time
default_gc = sys.argv[1] == "default"
repo = sys.argv[2]
if default_gc:
    import planner.collector as collector
    collector.simulation_collections = contextlib.nullcontext
spent = [0.0, 0]
began = [0.0]
def note(phase, info):
    if phase == "start":
        began[0] = time.process_time()
    else:
        spent[0] += time.process_time() - began[0]
        spent[1] += info["generation"] == 2
gc.callbacks.append(note)
from planner.cli import main
start = time.process_time()
with contextlib.redirect_stdout(io.StringIO()):
    main(["diff", f"{repo}/desired", "--live", f"{repo}/live.yaml", "--output", "json"])
cpu = time.process_time() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"{cpu:.2f} {spent[0]:.2f} {spent[1]} {peak}")
"""


def _run(mode: str, repo: str, checkout: Path | None = None) -> list[str]:
    """One child's figures (CPU s, GC s, full collections, peak MB); `checkout` first on the path."""
    env = dict(os.environ)
    argv = [sys.executable, "-c", _CHILD, mode, repo]
    if checkout is not None:  # -P: the working directory's planner must not come first
        env["PYTHONPATH"] = str(checkout.resolve())
        argv.insert(1, "-P")
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return done.stdout.split()[-4:]


def compare(repo: str, checkouts: list[Path], runs: int) -> None:
    """Each checkout's planner as it is, alternated run by run; the medians at the end."""
    figures: dict[Path, list[list[str]]] = {c: [] for c in checkouts}
    print(f"{'checkout':<30} {'CPU s':>6} {'GC s':>6} {'full':>5} {'peak MB':>8}")
    for _ in range(runs):
        for checkout in checkouts:
            figures[checkout].append(_run("planner", repo, checkout))
            print(f"{str(checkout)[-30:]:<30}", *(f"{f:>6}" for f in figures[checkout][-1]))
    for checkout, rows in figures.items():
        medians = [statistics.median(float(row[i]) for row in rows) for i in range(4)]
        print(f"median {str(checkout)[-23:]:<23}", *(f"{m:>6.2f}" for m in medians))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="A repo bench/generate.py wrote.")
    parser.add_argument("--runs", type=int, default=2, help="Runs of each, alternating.")
    parser.add_argument("--compare", type=Path, nargs="+", help="Checkouts to alternate.")
    args = parser.parse_args()
    if args.compare:
        compare(args.repo, args.compare, args.runs)
        return
    print(f"{'gc during sampling':<20} {'CPU s':>6} {'GC s':>6} {'full':>5} {'peak MB':>8}")
    for _ in range(args.runs):
        for mode in ("planner", "default"):
            cpu, gc_s, full, peak = _run(mode, args.repo)
            label = "paused (planner)" if mode == "planner" else "default thresholds"
            print(f"{label:<20} {cpu:>6} {gc_s:>6} {full:>5} {peak:>8}")


if __name__ == "__main__":
    main()
