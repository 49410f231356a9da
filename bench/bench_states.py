"""Benchmark: the state explorer (planner.simulate.states) against the brute-force schedule
enumeration (planner.model.simcluster.explore), per behaviour, side by side in one run.

Cases (issue 16):
- a group of N members on one requested IP changing its key (Cluster -> Local), N = 2 .. 12;
- a group of N auto-assigned members changing its key, N = 2, 3.

Brute force runs only where it is feasible (up to --brute-max writes); the state explorer runs
within --max-states. Columns: states visited, complete (or why not),
seconds, without and with the symmetry reduction (side by side); schedules and seconds for
brute force.

    python bench/bench_states.py [--sizes 2,3,4,6,8,12] [--max-states 50000] [--brute-max 3]

Not a timed test: the numbers are for the table in the report and docs/plan.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.model.allocator import Pool
from planner.model.controller import BEHAVIORS
from planner.model.group_annotations import stamp_group_annotations
from planner.model.simcluster import SimulatedCluster, explore
from planner.simulate.states import explore_states

POOLS = [Pool("lan", ["10.0.0.0/27"])]
GROUP_IP = "10.0.0.1"


def member(index: int, *, requested: bool, local: bool, status: str = "") -> dict[str, Any]:
    """Member `index` of the group: its own port (TCP/UDP alternating), one sharing key."""
    annotations = {"metallb.io/allow-shared-ip": "dns"}
    if requested:
        annotations["metallb.io/loadBalancerIPs"] = GROUP_IP
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"m{index:02d}", "namespace": "dns", "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "dns"},
            "externalTrafficPolicy": "Local" if local else "Cluster",
            "ports": [{"port": 53 + index // 2, "protocol": ("TCP", "UDP")[index % 2]}],
        },
    }
    if status:
        manifest["status"] = {"loadBalancer": {"ingress": [{"ip": status}]}}
    return manifest


def case(size: int, requested: bool, behavior: str) -> tuple[SimulatedCluster, list[Any]]:
    """The group live on one IP, and its key-change writes stamped with the group annotations."""
    live = [member(i, requested=requested, local=False, status=GROUP_IP) for i in range(size)]
    base = SimulatedCluster.bootstrap(POOLS, live, behavior)
    desired = stamp_group_annotations(
        [member(i, requested=requested, local=True) for i in range(size)]
    )
    return base, [(f"dns/m{i:02d}", manifest) for i, manifest in enumerate(desired)]


def brute(base: SimulatedCluster, writes: list[Any]) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in explore(base, writes, explore_ties=True))
    return count, time.perf_counter() - started


def _why(found: Any) -> str:
    """Complete, or why not."""
    if found.complete:
        return "yes"
    return "budget" if found.budget_reached else "ties cut" if found.ties_cut else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,3,4,6,8,12")
    parser.add_argument("--auto-sizes", default="2,3")
    parser.add_argument("--max-states", type=int, default=50_000)
    parser.add_argument("--brute-max", type=int, default=3)
    args = parser.parse_args()
    cases = [("requested IP", int(n), True) for n in args.sizes.split(",")]
    cases += [("auto-assigned", int(n), False) for n in args.auto_sizes.split(",")]
    header = (
        f"{'group':14} {'N':>3} {'behavior':13} {'states':>8} {'complete':>8} {'s':>7} | "
        f"{'sym st.':>8} {'complete':>8} {'sym s':>7} | {'schedules':>9} {'brute s':>8}"
    )
    print(header)
    print("-" * len(header))
    for label, size, requested in cases:
        for behavior in BEHAVIORS:
            base, writes = case(size, requested, behavior)
            started = time.perf_counter()
            plain = explore_states(base, writes, max_states=args.max_states, symmetry=False)
            plain_seconds = time.perf_counter() - started
            started = time.perf_counter()
            found = explore_states(base, writes, max_states=args.max_states)
            seconds = time.perf_counter() - started
            line = (
                f"{label:14} {size:>3} {behavior:13} {plain.states:>8} {_why(plain):>8} "
                f"{plain_seconds:>7.2f} | {found.states:>8} {_why(found):>8} {seconds:>7.2f} |"
            )
            if size <= args.brute_max:
                schedules, brute_seconds = brute(base, writes)
                line += f" {schedules:>9} {brute_seconds:>8.2f}"
            else:
                line += f" {'-':>9} {'-':>8}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
