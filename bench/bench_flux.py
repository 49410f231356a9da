"""What evaluating Flux (post-build substitution, HelmReleases) costs when reading desired state.

    python bench/bench_flux.py [--services 10000] [--repetitions 5] [--repo DIR]

Side by side in one run: the median CPU time of reading a generated repository's desired
directory (bench/generate.py) with Flux evaluated (`load_sources(...)`, what `planner diff` does)
and taken as written (`evaluate_flux=False`, what `argocd generate` does), and their ratio. The
generated repository has no `${` and no HelmRelease, so this is the cost every repository pays
for the check that decides whether anything must be read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench.generate import DEFAULT_GROUP_SIZE, DEFAULT_SERVICES, write_repo
from planner.sources.desired import find_sources, load_sources


def measure(desired: Path, repetitions: int) -> dict[str, float]:
    """Median CPU seconds of each way of reading `desired`, alternating run by run."""
    sources = find_sources(str(desired))
    runs: dict[str, list[float]] = {"flux evaluated": [], "as written": []}
    for _ in range(repetitions):
        for name, evaluate in (("flux evaluated", True), ("as written", False)):
            start = time.process_time()
            load_sources(sources, evaluate_flux=evaluate)
            runs[name].append(time.process_time() - start)
    return {name: statistics.median(times) for name, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--repo", type=Path, help="an existing bench/generate.py output")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        repo = args.repo or Path(scratch)
        if args.repo is None:
            write_repo(repo, args.services, DEFAULT_GROUP_SIZE, seed=0)
        medians = measure(repo / "desired", args.repetitions)
    ratio = medians["flux evaluated"] / medians["as written"]
    shown = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in medians.items())
    print(f"{shown}; ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
