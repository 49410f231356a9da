"""Benchmark: `planner plan --verify` on a swap cycle of N requested IPs (Service i takes
Service i+1's address, the last takes the first's), per stock target, side by side:

- "detour": the pool has free addresses, so the plan breaks the cycle through one (one write
  per wave, planner.plan.detour);
- "at once": the pool holds exactly the cycle's addresses, so the cycle lands in one wave with
  nudges, and its proof explores the states of all N writes together (sampled beyond the budget);
- "groups": the same with a sharing group of two (TCP and UDP) on each address.

Each run is `planner plan DIR/desired --live DIR/live.yaml --verify --target T` in a fresh
process: exit code, waves, the fewest and most states of a claim, whether every claim is
proved, the pending windows under the target, CPU seconds and peak memory of the process.

    python bench/bench_cycles.py [--sizes 3,4,6,10] [--targets metallb-0.15,metallb-0.14]
                                 [--at-once-sizes 3,4,6] [--group-sizes 2,3]

Not a timed test: the numbers are for bench/README.md and docs/plan.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

STATES = re.compile(r"\((\d+) states")


def service(index: int, ip: int, status: bool, protocol: str = "") -> dict[str, Any]:
    """Service `index` asking for 10.0.0.(ip+1) (with that address as its status if `status`);
    with a `protocol`, the member of that protocol of group `index` (one sharing key each)."""
    annotations = {"metallb.io/loadBalancerIPs": f"10.0.0.{ip + 1}"}
    if protocol:
        annotations["metallb.io/allow-shared-ip"] = f"g{index:02d}"
    port = {"name": "dns", "port": 53, "protocol": protocol or "TCP", "targetPort": 53}
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"c{index:02d}{protocol.lower()}",
            "namespace": "web",
            "annotations": annotations,
        },
        "spec": {"type": "LoadBalancer", "selector": {"app": f"c{index}"}, "ports": [port]},
    }
    if status:
        manifest["status"] = {"loadBalancer": {"ingress": [{"ip": f"10.0.0.{ip + 1}"}]}}
    return manifest


def pool(addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "lan", "namespace": "metallb-system"},
        "spec": {"addresses": [addresses]},
    }


def write_repo(root: Path, size: int, free: bool, groups: bool = False) -> None:
    """The cycle's desired Services and pool, and the live List it starts from."""
    addresses = "10.0.0.0/24" if free else f"10.0.0.1-10.0.0.{size}"
    protocols = ("TCP", "UDP") if groups else ("",)
    (root / "desired").mkdir(parents=True)
    desired = [pool(addresses)]
    desired += [service(i, (i + 1) % size, False, p) for i in range(size) for p in protocols]
    (root / "desired" / "cycle.yaml").write_text(yaml.safe_dump_all(desired))
    items = [pool(addresses), *(service(i, i, True, p) for i in range(size) for p in protocols)]
    live = {"apiVersion": "v1", "kind": "List", "items": items}
    (root / "live.yaml").write_text(yaml.safe_dump(live))


def run(root: Path, target: str) -> dict[str, Any]:
    """One `planner plan --verify -o json` in a fresh process, measured by its own rusage (the
    plan on stdout, the verify report on stderr)."""
    code = (
        "import resource, sys\n"
        "from planner.cli import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print('RUSAGE', usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code, file=sys.stderr)\n"
    )
    argv = ["plan", str(root / "desired"), "--live", str(root / "live.yaml"), "--verify"]
    argv += ["--target", target, "-o", "json"]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False
    )
    report = done.stderr.strip().splitlines()
    cpu, peak, exit_code = report[-1].split()[1:]
    plan = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    claims = [line for line in report if line.startswith(("proved", "held", "FAILED"))]
    states = [int(n) for line in claims for n in STATES.findall(line)]
    windows = (plan.get("predictions", {}).get(target) or {}).get("windows", [])
    return {
        "exit": exit_code,
        "waves": len(plan.get("waves", [])),
        "states": f"{min(states)}-{max(states)}" if states else "-",
        "proved": bool(claims) and all(line.startswith("proved") for line in claims),
        "pending": len(windows),
        "cpu": float(cpu),
        "peak_mb": int(peak) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,4,6,10", help="cycle sizes with a free address")
    parser.add_argument("--at-once-sizes", default="3,4,6", help="cycle sizes in a full pool")
    parser.add_argument("--group-sizes", default="2,3", help="cycles of groups, each way")
    parser.add_argument("--targets", default="metallb-0.15,metallb-0.14")
    args = parser.parse_args()
    cases = [("detour", int(n), True, False) for n in args.sizes.split(",") if n]
    cases += [("at once", int(n), False, False) for n in args.at_once_sizes.split(",") if n]
    for n in (int(n) for n in args.group_sizes.split(",") if n):
        cases += [("groups, detour", n, True, True), ("groups, at once", n, False, True)]
    print(
        "| cycle | N | target | exit | waves | states per claim | proved | pending | CPU s | peak MB |"
    )
    print("|---|---:|---|---:|---:|---|---|---:|---:|---:|")
    for label, size, free, groups in cases:
        for target in args.targets.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                write_repo(Path(tmp), size, free, groups)
                r = run(Path(tmp), target)
            print(
                f"| {label} | {size} | {target} | {r['exit']} | {r['waves']} | {r['states']} | "
                f"{'yes' if r['proved'] else 'no'} | {r['pending']} | {r['cpu']:.2f} | "
                f"{r['peak_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
