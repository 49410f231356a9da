"""Benchmark: the state explorer (planner.simulate.states) against the brute-force schedule
enumeration (planner.model.simcluster.explore), per behaviour, side by side in one run.

Cases (issue 16):
- a group of N members on one requested IP changing its key (Cluster -> Local), N = 2 .. 12;
- a group of N auto-assigned members changing its key, N = 2, 3;
- (--moves) a group of N members moving to another requested IP, its key kept;
- (--joins) N new members joining a one-member group on its requested IP;
- (--leaves) N of N + 1 members deleted, the last one kept.

Brute force runs only where it is feasible (up to --brute-max writes); the state explorer runs
within --max-states, each case in a fresh process (so that its peak memory is its own). Columns:
states visited (of which partial reprocess-all passes), complete (or why not: "budget"), CPU
seconds, peak resident memory of the process and what it held before exploring (interpreter,
modules, the bootstrapped cluster); with --without, the same without the symmetry reduction,
with --unsettled without settled Services left out (explore_states(settling=False)), and
with --uncommuted without commuting tie groups taken in one order (commute=False), with
--untailed without keys queued behind a pass merged by set (tails=False), side by side;
schedules and seconds for brute force. With --capped each case goes through the planner's
write caps (planner.simulate.world.explore_writes, as `planner plan --verify` does): a
component they sample at once shows "at once" and 0 states. With --compare BASE every case is
also run on the checkout BASE (its own planner package), side by side, alternating.

    python bench/bench_states.py [--sizes 2,3,4,6,8,12] [--max-states 20000] [--brute-max 3]
                                 [--behaviors fixed] [--moves 4,8,12] [--without]
                                 [--capped] [--compare /tmp/base]

The 17-20-member rows of docs/plan.md (branch caps20), against main:

    python bench/bench_states.py --sizes 17,18,20 --auto-sizes '' --moves 13,16,17 \
        --brute-max 0 --capped --compare /tmp/base-caps20

Not a timed test: the numbers are for the table in the report and docs/plan.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# A child run for --compare imports the planner of the checkout it is given.
sys.path.insert(0, os.environ.get("BENCH_CHECKOUT") or str(Path(__file__).resolve().parent.parent))

from planner.model.allocator import Pool
from planner.model.controller import BEHAVIORS
from planner.model.group_annotations import stamp_group_annotations
from planner.model.simcluster import SimulatedCluster, explore
from planner.simulate.states import explore_states
from planner.simulate.world import explore_writes

POOLS = [Pool("lan", ["10.0.0.0/27", "fd00::/123"])]
GROUP_IP = "10.0.0.1"
GROUP_IPS_DUAL = ("10.0.0.1", "fd00::1")
MOVED_IP = "10.0.0.2"


def member(
    index: int, *, requested: bool, local: bool, status: bool = False, policy: str = ""
) -> dict[str, Any]:
    """Member `index` of the group: its own port (TCP/UDP alternating), one sharing key; with a
    dual-stack `policy` (PreferDualStack, RequireDualStack) an IPv4 and an IPv6 address."""
    ips = GROUP_IPS_DUAL if policy else (GROUP_IP,)
    annotations = {"metallb.io/allow-shared-ip": "dns"}
    if requested:
        annotations["metallb.io/loadBalancerIPs"] = ",".join(ips)
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
    if policy:
        manifest["spec"].update(ipFamilyPolicy=policy, ipFamilies=["IPv4", "IPv6"])
    if status:
        manifest["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return manifest


def case(
    size: int, requested: bool, behavior: str, policy: str = ""
) -> tuple[SimulatedCluster, list[Any]]:
    """The group live on its IPs, and its key-change writes stamped with the group annotations
    (`policy` "cycle": a swap cycle instead, see cycle_case; "move": see move_case)."""
    if policy == "cycle":
        return cycle_case(size, behavior)
    if policy == "move":
        return move_case(size, behavior)
    if policy in ("join", "leave"):
        return join_or_leave_case(size, behavior, policy)
    live = [
        member(i, requested=requested, local=False, status=True, policy=policy) for i in range(size)
    ]
    base = SimulatedCluster.bootstrap(POOLS, live, behavior)
    desired = stamp_group_annotations(
        [member(i, requested=requested, local=True, policy=policy) for i in range(size)]
    )
    return base, [(f"dns/m{i:02d}", manifest) for i, manifest in enumerate(desired)]


def move_case(size: int, behavior: str) -> tuple[SimulatedCluster, list[Any]]:
    """The group on 10.0.0.1 moves to 10.0.0.2, its key kept (the transition writes everyone)."""
    live = [member(i, requested=True, local=False, status=True) for i in range(size)]
    base = SimulatedCluster.bootstrap(POOLS, live, behavior)
    desired = [member(i, requested=True, local=False) for i in range(size)]
    for manifest in desired:
        manifest["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = MOVED_IP
    stamped = stamp_group_annotations(desired)
    return base, [(f"dns/m{i:02d}", manifest) for i, manifest in enumerate(stamped)]


def join_or_leave_case(size: int, behavior: str, which: str) -> tuple[SimulatedCluster, list[Any]]:
    """ "join": members 1..N created beside member 0 on its IP; "leave": members 1..N deleted."""
    if which == "join":
        live = [member(0, requested=True, local=False, status=True)]
        desired = stamp_group_annotations(
            [member(i, requested=True, local=False) for i in range(size + 1)]
        )
        base = SimulatedCluster.bootstrap(POOLS, live, behavior)
        return base, [(f"dns/m{i:02d}", m) for i, m in enumerate(desired) if i > 0]
    live = [member(i, requested=True, local=False, status=True) for i in range(size + 1)]
    base = SimulatedCluster.bootstrap(POOLS, live, behavior)
    return base, [(f"dns/m{i:02d}", None) for i in range(1, size + 1)]


def cycle_case(size: int, behavior: str) -> tuple[SimulatedCluster, list[Any]]:
    """A swap cycle: Service i holds and requests 10.0.0.(i+1), and takes the next one's IP."""

    def service(index: int, ip: int, status: bool) -> dict[str, Any]:
        manifest: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": f"c{index:02d}",
                "namespace": "web",
                "annotations": {"metallb.io/loadBalancerIPs": f"10.0.0.{ip + 1}"},
            },
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": f"c{index}"},
                "ports": [{"port": 80, "protocol": "TCP"}],
            },
        }
        if status:
            manifest["status"] = {"loadBalancer": {"ingress": [{"ip": f"10.0.0.{ip + 1}"}]}}
        return manifest

    base = SimulatedCluster.bootstrap(POOLS, [service(i, i, True) for i in range(size)], behavior)
    return base, [(f"web/c{i:02d}", service(i, (i + 1) % size, False)) for i in range(size)]


def brute(base: SimulatedCluster, writes: list[Any]) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in explore(base, writes, explore_ties=True))
    return count, time.perf_counter() - started


def _why(found: Any) -> str:
    """Complete, or why not."""
    if found.complete:
        return "yes"
    return "budget" if found.budget_reached else "ties cut" if found.ties_cut else "no"


def measure(
    size: int,
    requested: bool,
    behavior: str,
    max_states: int,
    symmetry: bool,
    policy: str,
    settling: bool = True,
    commute: bool = True,
    tails: bool = True,
    capped: bool = False,
) -> dict[str, Any]:
    """One case in this process (a fresh one per case, so that its peak memory is its own)."""
    base, writes = case(size, requested, behavior, policy)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    if capped:
        exploration = explore_writes(base, writes, seed=0, max_states=max_states)
        seconds = time.process_time() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        complete = (
            "yes" if exploration.exhaustive else "budget" if exploration.states else "at once"
        )
        return {
            "states": exploration.states,
            "pass_states": "-",
            "complete": complete,
            "seconds": seconds,
            "peak_mb": peak / 1024,
            "base_mb": rss_before / 1024,
        }
    found = explore_states(
        base,
        writes,
        max_states=max_states,
        symmetry=symmetry,
        settling=settling,
        commute=commute,
        tails=tails,
    )
    seconds = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "states": found.states,
        "pass_states": found.pass_states,
        "complete": _why(found),
        "seconds": seconds,
        "peak_mb": peak / 1024,
        "base_mb": rss_before / 1024,
    }


def _in_child(*args: object, checkout: str = "") -> dict[str, Any]:
    """One case measured in a fresh process (on `checkout`'s planner when given)."""
    command = [sys.executable, __file__, "--one", ",".join(str(a) for a in args)]
    env = {**os.environ, "BENCH_CHECKOUT": checkout} if checkout else None
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _variant(
    args: argparse.Namespace,
    size: int,
    requested: bool,
    behavior: str,
    policy: str,
    *,
    symmetry: bool = True,
    settling: bool = True,
    commute: bool = True,
    tails: bool = True,
    checkout: str = "",
) -> dict[str, Any]:
    """One case with every reduction on but the one turned off, in a fresh process."""
    flags = (symmetry, policy, settling, commute, tails, args.capped)
    return _in_child(size, requested, behavior, args.max_states, *flags, checkout=checkout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,3,4,6,8,12")
    parser.add_argument("--auto-sizes", default="2,3")
    parser.add_argument("--max-states", type=int, default=20_000)
    parser.add_argument("--brute-max", type=int, default=3)
    parser.add_argument("--dual-sizes", default="", help="dual-stack groups (both policies)")
    parser.add_argument("--cycle-sizes", default="", help="swap cycles of requested IPs")
    parser.add_argument("--without", action="store_true", help="also without symmetry")
    parser.add_argument(
        "--behaviors", default=",".join(BEHAVIORS), help="which behaviours (comma separated)"
    )
    parser.add_argument("--moves", default="", help="groups moving to another requested IP")
    parser.add_argument("--joins", default="", help="N members joining a one-member group")
    parser.add_argument("--leaves", default="", help="N of N + 1 members deleted")
    parser.add_argument(
        "--unsettled", action="store_true", help="also without settled Services left out"
    )
    parser.add_argument(
        "--uncommuted",
        action="store_true",
        help="also without commuting tie groups taken in one order (commute=False)",
    )
    parser.add_argument(
        "--untailed",
        action="store_true",
        help="also without keys behind a pass merged by set (tails=False)",
    )
    parser.add_argument(
        "--capped", action="store_true", help="through the planner's write caps (explore_writes)"
    )
    parser.add_argument("--compare", default="", help="also on this checkout, side by side")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: label,size,requested,...
    args = parser.parse_args()
    if args.one:
        fields = args.one.split(",")
        (
            size,
            requested,
            behavior,
            max_states,
            symmetry,
            policy,
            settling,
            commute,
            tails,
            capped,
        ) = fields
        one = measure(
            int(size),
            requested == "True",
            behavior,
            int(max_states),
            symmetry == "True",
            policy,
            settling == "True",
            commute == "True",
            tails == "True",
            capped == "True",
        )
        print(json.dumps(one))
        return
    cases = [("requested IP", int(n), True, "") for n in args.sizes.split(",") if n]
    cases += [("auto-assigned", int(n), False, "") for n in args.auto_sizes.split(",") if n]
    for policy, label in (("PreferDualStack", "dual prefer"), ("RequireDualStack", "dual require")):
        cases += [(label, int(n), True, policy) for n in args.dual_sizes.split(",") if n]
    cases += [("swap cycle", int(n), True, "cycle") for n in args.cycle_sizes.split(",") if n]
    header = (
        f"{'group':14} {'N':>3} {'behavior':13} {'states':>8} {'in passes':>9} {'complete':>8} "
        f"{'CPU s':>7} {'peak MB':>7} {'base MB':>7}"
    )
    if args.compare:
        header += f" | {'BASE states':>11} {'complete':>8} {'CPU s':>7} {'peak MB':>7}"
    if args.without:
        header += f" | {'no-sym st.':>10} {'complete':>8} {'CPU s':>7}"
    if args.unsettled:
        header += f" | {'unsettled':>10} {'complete':>8} {'CPU s':>7}"
    if args.uncommuted:
        header += f" | {'uncommuted':>10} {'complete':>8} {'CPU s':>7}"
    if args.untailed:
        header += f" | {'untailed':>10} {'complete':>8} {'CPU s':>7} {'peak MB':>7}"
    header += f" | {'schedules':>9} {'brute s':>8}"
    print(header)
    print("-" * len(header))
    cases += [("move", int(n), True, "move") for n in args.moves.split(",") if n]
    cases += [("join", int(n), True, "join") for n in args.joins.split(",") if n]
    cases += [("leave", int(n), True, "leave") for n in args.leaves.split(",") if n]
    behaviors = [b for b in args.behaviors.split(",") if b]
    for label, size, requested, policy in cases:
        for behavior in behaviors:
            case_of = (args, size, requested, behavior, policy)
            found = _variant(*case_of)
            line = (
                f"{label:14} {size:>3} {behavior:13} {found['states']:>8} "
                f"{found['pass_states']:>9} {found['complete']:>8} {found['seconds']:>7.2f} "
                f"{found['peak_mb']:>7.0f} {found['base_mb']:>7.0f}"
            )
            if args.compare:
                other = _variant(*case_of, checkout=args.compare)
                line += (
                    f" | {other['states']:>11} {other['complete']:>8} {other['seconds']:>7.2f}"
                    f" {other['peak_mb']:>7.0f}"
                )
            if args.without:
                plain = _variant(*case_of, symmetry=False)
                line += f" | {plain['states']:>10} {plain['complete']:>8} {plain['seconds']:>7.2f}"
            if args.unsettled:
                whole = _variant(*case_of, settling=False)
                line += f" | {whole['states']:>10} {whole['complete']:>8} {whole['seconds']:>7.2f}"
            if args.uncommuted:
                each = _variant(*case_of, commute=False)
                line += f" | {each['states']:>10} {each['complete']:>8} {each['seconds']:>7.2f}"
            if args.untailed:
                flat = _variant(*case_of, tails=False)
                line += (
                    f" | {flat['states']:>10} {flat['complete']:>8} {flat['seconds']:>7.2f}"
                    f" {flat['peak_mb']:>7.0f}"
                )
            if size <= args.brute_max:
                base, writes = case(size, requested, behavior, policy)
                schedules, brute_seconds = brute(base, writes)
                line += f" | {schedules:>9} {brute_seconds:>8.2f}"
            else:
                line += f" | {'-':>9} {'-':>8}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
