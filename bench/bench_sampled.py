"""The cost per step of a repo's largest sampled component, per behaviour.

    python bench/bench_sampled.py --repo DIR [--cache FILE] [--checkout DIR] [--behaviors ...]

Reads the repo (bench/generate.py), finds its largest component of writes (the auto-assigned
groups drawing from one pool: 80 writes at 10,000 Services, 940 at 100,000) and times its
sampled schedules (`planner.simulate.world._sampled`: the adversarial and seeded random runs) per
behaviour, in CPU seconds, with the steps taken, the CPU per step, and a digest of every run's
schedule, end state, history and allocator (equal digests: the same runs). `--cache FILE` keeps
the component (pickled) so a second run skips reading the repo; `--checkout DIR` times that
checkout's planner instead of this one (the component is read with this one), so two checkouts
compare side by side on the same component.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
BEHAVIORS = ("metallb-0.14", "metallb-0.15", "fixed")


def extract(repo: Path) -> dict[str, Any]:
    """The repo's largest component and the world it runs in, as plain picklable values."""
    from planner.pipeline import load_scenario
    from planner.simulate.world import World
    from planner.sources.live import LiveSource

    scenario = load_scenario([str(repo / "desired")], LiveSource.file(str(repo / "live.yaml")))
    world = World.of(scenario)
    parts = world.parts(scenario.naive_writes(stamped=True))
    component = max((part for part, _ in parts), key=lambda part: len(part.writes))
    needed = set(component.context) | set(component.frozen)
    return {
        "live": {svc: world.live[svc] for svc in needed},
        "live_pools": list(world.live_pools),
        "pools": list(world.pools),
        "namespaces": dict(world.namespaces),
        "component": component,
    }


def digest(runs: Any) -> str:
    """A short digest of every run: schedule, stored objects, history, allocator, settled."""
    sha = hashlib.sha256()
    for run in runs:
        cluster = run.cluster
        sha.update(run.describe().encode())
        sha.update(repr(sorted(cluster.store.items())).encode())
        sha.update(repr(sorted(cluster.history.items())).encode())
        sha.update(repr(cluster.controller.allocator.snapshot()).encode())
        sha.update(repr(run.settled).encode())
    return sha.hexdigest()[:16]


def time_behaviors(data: dict[str, Any], behaviors: list[str]) -> None:
    """Print one line per behaviour: CPU, runs, steps, CPU per step, digest."""
    from planner.simulate.world import World, _sampled

    world = World(data["live"], data["live_pools"], data["pools"], data["namespaces"])
    component = data["component"]
    print(
        f"component: {len(component.writes)} writes, {len(component.context)} Services, "
        f"{len(component.frozen)} frozen neighbours",
        flush=True,
    )
    for behavior in behaviors:
        base = world.cluster(component.context, behavior, component.frozen)
        start = time.process_time()
        runs = _sampled(base, component.writes, 0)
        cpu = time.process_time() - start
        steps = sum(len(run.schedule) for run in runs)
        print(
            f"{behavior:14} {cpu:7.2f} s  {len(runs)} runs  {steps} steps  "
            f"{1e6 * cpu / steps:5.0f} us/step  digest {digest(runs)}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Read (or load) the component, then time it here or in another checkout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="A repo generate.py wrote.")
    parser.add_argument("--cache", type=Path, help="Pickle of the component (made if absent).")
    parser.add_argument("--checkout", type=Path, help="Time this checkout's planner instead.")
    parser.add_argument("--behaviors", default=",".join(BEHAVIORS))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    behaviors = [name.strip() for name in args.behaviors.split(",")]
    if args.child:
        time_behaviors(pickle.loads(args.child.read_bytes()), behaviors)
        return 0
    cache = args.cache or Path(f"/tmp/bench-sampled-{args.repo.resolve().name}.pickle")
    if not cache.exists():
        sys.path.insert(0, str(BENCH_DIR.parent))
        cache.write_bytes(pickle.dumps(extract(args.repo)))
    checkout = (args.checkout or BENCH_DIR.parent).resolve()
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, str(Path(__file__).resolve()), "--repo", str(args.repo)]
    print(f"checkout: {checkout}", flush=True)
    subprocess.run(
        [*command, "--behaviors", args.behaviors, "--child", str(cache)], env=env, check=True
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
