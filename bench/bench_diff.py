"""Benchmark `planner diff` against merely loading the same files with PyYAML's C loader.

    python bench/bench_diff.py [--services 10000] [--repetitions 3] [--repo DIR] [--stages]
    python bench/bench_diff.py --heterogeneous --services 3000    # 1,000 groups of their own
    python bench/bench_diff.py --one-group --services 200         # vs 200 independent Services
    python bench/bench_diff.py --repo DIR --compare ../base .      # checkouts side by side

In one run, side by side: the median time of `planner diff DESIRED --live LIVE --output json`
(in-process through `planner.cli.main`, the report written to /dev/null), the same with the live
snapshot as JSON (`live.json`, what `kubectl get -o json` prints; written next to live.yaml),
and two parser floors over the same files: libyaml (`yaml.CSafeLoader`, loading the live `List`
item by item as the planner does: composed whole, its node graph is rescanned by the garbage
collector and the floor comes out some 2.6x too high) and the fastest YAML parser from PyPI
(`yaml_rs`, each file parsed whole, YAML 1.2 resolution and all; the planner's own fast path
uses it too, where it is sure to read as libyaml does; skipped when not installed); the ratios to both floors; and the peak memory of one diff in a fresh subprocess
(VmHWM; target <= 300 MB at 10,000 Services, issue 17). Times are CPU seconds of this process
(the machine may be shared, so wall-clock seconds are printed too). `--stages` adds one timed
pass per pipeline stage. `--managed-fields` times reading the live snapshot as
`kubectl get --show-managed-fields -o yaml` prints it (live-managed.yaml: every Service with
`last-applied-configuration` and three `Update` entries) the planner's way (the entries cut
from the text, see planner/sources/managed_fields.py) against parsing every line, and the same
snapshot as JSON.
Without `--repo` the repo is generated (bench/generate.py) into a temporary directory.

`--compare CHECKOUT...` times, side by side in one run, each checkout's read of the repo
(desired + live, `load_desired` and `load_live_file`) and its whole `planner diff`, each in a
fresh interpreter with that checkout first on the path (CPU seconds in the child, start-up
left out), alternated with both parser floors in this process; medians, and the ratios to the
floors (e.g. main's worktree against this one, for the fast YAML path of issue 17).

`--heterogeneous` generates groups of three, each with its own ports and selector, all changing
their key (target of issue 17 at 1,000 groups: diff <= 10 s). `--one-group` times, side by side,
one sharing group of N Services and N independent Services (each its own group and IP), all
changing their key (issue 16: about the same time), and prints their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from bench.generate import DEFAULT_SERVICES, SHAPES, TIMESTAMP, repo_files, write_repo
from planner.cli import main as planner_main
from planner.diff.normalise import LAST_APPLIED
from planner.sources.documents import LARGE_LIST_CHARS, parse_yaml, split_list_items
from planner.sources.kinds import to_objects
from planner.sources.live import live_state, load_live_file
from planner.sources.managed_fields import applied_only

RATIO_TARGET = 2.0  # to the libyaml floor
FASTEST_RATIO_TARGET = 4.0  # to the fastest parser's floor (issue 17)
MEMORY_TARGET_MB = 300.0
HETEROGENEOUS_TARGET_S = 10.0  # diff of 1,000 heterogeneous groups (issue 17)

# The child's own peak: Linux keeps ru_maxrss across exec, so a child started by a large parent
# would report the parent's size; VmHWM belongs to the new address space.
_MEMORY_PROBE = """
import contextlib, os, resource, sys
from planner.cli import main
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(code, peak)
"""


@dataclass(frozen=True)
class Timing:
    """Median CPU and wall seconds over the repetitions."""

    cpu: float
    wall: float


def diff_argv(repo: Path, live: str = "live.yaml") -> list[str]:
    return ["diff", str(repo / "desired"), "--live", str(repo / live), "--output", "json"]


def run_diff(repo: Path, live: str = "live.yaml") -> int:
    """One `planner diff` in-process, its JSON report thrown away; returns the exit code.
    Nothing is remembered from an earlier run (as for a fresh `planner` process)."""
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        return planner_main(diff_argv(repo, live))


def write_json_live(repo: Path) -> Path:
    """live.json next to live.yaml: the same List as `kubectl get -o json` would print it."""
    target = repo / "live.json"
    if not target.exists():
        with (repo / "live.yaml").open(encoding="utf-8") as stream:
            body = yaml.load(stream, Loader=yaml.CSafeLoader)
        target.write_text(json.dumps(body, indent=4) + "\n", encoding="utf-8")
    return target


def write_managed_live(repo: Path) -> tuple[Path, Path]:
    """live-managed.yaml and .json: live.yaml as `kubectl get --show-managed-fields` prints it,
    each Service with `last-applied-configuration` and the managedFields entries of a
    client-side apply, of MetalLB's pool annotation and of MetalLB's status write."""
    targets = repo / "live-managed.yaml", repo / "live-managed.json"
    if all(target.exists() for target in targets):
        return targets
    with (repo / "live.yaml").open(encoding="utf-8") as stream:
        body = yaml.load(stream, Loader=yaml.CSafeLoader)
    for item in body["items"]:
        if item["kind"] == "Service":
            _with_managed_fields(item)
    with targets[0].open("w", encoding="utf-8") as out:
        yaml.dump(body, out, Dumper=yaml.CSafeDumper, default_flow_style=False)
    targets[1].write_text(json.dumps(body, indent=4) + "\n", encoding="utf-8")
    return targets


def _with_managed_fields(service: dict[str, Any]) -> None:
    """Add what client-side apply and MetalLB record on a Service (in place)."""
    meta, spec = service["metadata"], service["spec"]
    annotations = meta["annotations"]
    applied_annotations = {k: v for k, v in annotations.items() if "allocated-from-pool" not in k}
    applied = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**{k: meta[k] for k in ("name", "namespace", "labels")}},
        "spec": {k: spec[k] for k in ("type", "selector", "ports")},
    }
    applied["metadata"]["annotations"] = applied_annotations
    annotations[LAST_APPLIED] = json.dumps(applied, separators=(",", ":")) + "\n"
    port = spec["ports"][0]
    # compact, as Go's encoder writes the key (kubectl prints k:{"port":53,"protocol":"TCP"})
    port_key = "k:" + json.dumps(
        {"port": port["port"], "protocol": port["protocol"]}, separators=(",", ":")
    )
    owned_annotations = {f"f:{k}": {} for k in [LAST_APPLIED, *applied_annotations]}
    apply_fields = {
        "f:metadata": {
            "f:annotations": {".": {}, **owned_annotations},
            "f:labels": {".": {}, "f:app.kubernetes.io/name": {}},
        },
        "f:spec": {
            **{f"f:{k}": {} for k in ("allocateLoadBalancerNodePorts", "externalTrafficPolicy")},
            "f:ports": {".": {}, port_key: {f"f:{k}": {} for k in port}},
            **{f"f:{k}": {} for k in ("selector", "sessionAffinity", "type")},
        },
    }
    pool = {"f:metadata": {"f:annotations": {"f:metallb.io/ip-allocated-from-pool": {}}}}
    status = {"f:status": {"f:loadBalancer": {"f:ingress": {}}}}
    meta["managedFields"] = [
        _update("kubectl-client-side-apply", apply_fields),
        _update("metallb-controller", pool),
        {**_update("metallb-controller", status), "subresource": "status"},
    ]


def _update(manager: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": "Update",
        "time": TIMESTAMP,
    }


def managed_fields_lever(repo: Path, repetitions: int) -> dict[str, Timing]:
    """CPU of reading live-managed.yaml the planner's way, by parsing every line (and then
    keeping the Apply entries, the same live objects), and of reading live-managed.json."""
    yaml_path, json_path = write_managed_live(repo)
    runs: dict[str, list[tuple[float, float]]] = {"cut": [], "every line": [], "json": []}
    for _ in range(repetitions):
        runs["cut"].append(timed(lambda: load_live_file(str(yaml_path))))
        runs["every line"].append(timed(lambda: _live_every_line(yaml_path)))
        runs["json"].append(timed(lambda: load_live_file(str(json_path))))
    return {name: _median(samples) for name, samples in runs.items()}


def _live_every_line(path: Path) -> object:
    """The live state from a full parse of the snapshot (what the planner did before)."""
    parsed = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    for document in parsed.documents:
        applied_only(document.body)
    return live_state(*to_objects(parsed.documents))


def _libyaml_stream(text: str) -> int:
    """Documents in one file, parsed as the planner parses it: a kubectl List item by item."""
    split = split_list_items(text) if len(text) >= LARGE_LIST_CHARS else None
    if split is None:
        return len(list(yaml.load_all(text, Loader=yaml.CSafeLoader)))
    header, chunks = split
    yaml.load(header, Loader=yaml.CSafeLoader)
    for _, chunk in chunks:
        yaml.load(chunk, Loader=yaml.CSafeLoader)
    return len(chunks)


def load_only(repo: Path) -> int:
    """The libyaml floor: every file of the repo with the C loader (the live List item by item,
    as planner.sources.documents does); returns the number of documents."""
    return sum(_libyaml_stream(path.read_text(encoding="utf-8")) for path in repo_files(repo))


def fastest_parser() -> Callable[[str], object] | None:
    """`yaml_rs.loads` when yaml-rs is installed (the fastest YAML parser on PyPI we found)."""
    try:
        module = importlib.import_module("yaml_rs")
    except ImportError:
        return None
    loads: Callable[[str], object] = module.loads
    return loads


def load_fastest(repo: Path, loads: Callable[[str], object]) -> None:
    """The fastest floor: every file of the repo, each parsed whole."""
    for path in repo_files(repo):
        loads(path.read_text(encoding="utf-8"))


def timed(action: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


def side_by_side(repo: Path, repetitions: int) -> tuple[dict[str, Timing], int]:
    """Alternate the diffs and the floors (so drift hits all alike); medians of each."""
    loads = fastest_parser()
    runs: dict[str, list[tuple[float, float]]] = {
        "diff": [],
        "diff-json": [],
        "libyaml": [],
        "fastest": [],
    }
    code = -1
    for _ in range(repetitions):
        runs["libyaml"].append(timed(lambda: load_only(repo)))
        if loads is not None:
            runs["fastest"].append(timed(lambda: load_fastest(repo, loads)))
        cpu, wall = time.process_time(), time.perf_counter()
        code = run_diff(repo)
        runs["diff"].append((time.process_time() - cpu, time.perf_counter() - wall))
        runs["diff-json"].append(timed(lambda: run_diff(repo, "live.json")))
    return {name: _median(samples) for name, samples in runs.items() if samples}, code


def _median(samples: list[tuple[float, float]]) -> Timing:
    return Timing(
        statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
    )


def peak_memory_mb(repo: Path, live: str = "live.yaml") -> float:
    """Peak resident memory of one diff in a fresh interpreter (MB, its VmHWM in KiB)."""
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent)}
    probe = [sys.executable, "-c", _MEMORY_PROBE, *diff_argv(repo, live)]
    out = subprocess.run(probe, env=env, check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


def stage_times(repo: Path) -> Iterator[tuple[str, float]]:
    """CPU seconds of each stage of the library path the CLI takes, in order."""
    from planner.analysis.build import scenario_conflicts, scenario_groups, scenario_inputs
    from planner.analysis.predict import predict
    from planner.analysis.records import DiffReport
    from planner.diff.scenario import build_scenario
    from planner.model.controller import BEHAVIORS
    from planner.render import render_json, render_text
    from planner.sources import load_desired, load_live_file

    clock = time.process_time()

    def lap() -> float:
        nonlocal clock
        now = time.process_time()
        spent, clock = now - clock, now
        return spent

    desired = load_desired([str(repo / "desired")])
    yield "read desired", lap()
    live = load_live_file(str(repo / "live.yaml"))
    yield "read live", lap()
    scenario = build_scenario(desired, live)
    yield "diff + scenario", lap()
    inputs = scenario_inputs(scenario)  # read once for both, as report_of_scenario does
    yield "allocation inputs", lap()
    groups = scenario_groups(scenario, inputs)
    yield "sharing groups", lap()
    conflicts = scenario_conflicts(scenario, inputs)
    yield "static conflicts", lap()
    predictions = predict(scenario, BEHAVIORS)
    yield "prediction (3 behaviours)", lap()
    report = DiffReport(scenario.changes, groups, conflicts, predictions, "metallb-0.15")
    render_json(report)
    yield "render json", lap()
    render_text(report)
    yield "render text", lap()


# A checkout's read of the repo and its diff, in CPU seconds of the child itself.
_COMPARE_PROBE = """
import contextlib, json, os, sys, time
from planner.cli import main
from planner.sources import load_desired, load_live_file
repo = sys.argv[1]
clock = time.process_time()
load_desired([os.path.join(repo, "desired")])
load_live_file(os.path.join(repo, "live.yaml"))
read = time.process_time() - clock
clock = time.process_time()
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    main(sys.argv[2:])
print(json.dumps({"read": read, "diff": time.process_time() - clock}))
"""


def checkout_times(checkout: Path, repo: Path) -> dict[str, float]:
    """One checkout's read and diff CPU seconds, in a fresh interpreter with it on the path."""
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    argv = [sys.executable, "-c", _COMPARE_PROBE, str(repo), *diff_argv(repo)]
    # The child runs in the checkout: `python -c` puts the working directory first on its path.
    done = subprocess.run(argv, env=env, cwd=checkout, check=True, capture_output=True, text=True)
    out = done.stdout
    times: dict[str, float] = json.loads(out.splitlines()[-1])
    return times


def compare_checkouts(repo: Path, checkouts: list[Path], repetitions: int) -> None:
    """Each checkout's read and diff against both floors, alternated; medians and ratios."""
    loads = fastest_parser()
    samples: dict[str, list[float]] = {"libyaml": [], "yaml_rs": []}
    for _ in range(repetitions):
        samples["libyaml"].append(timed(lambda: load_only(repo))[0])
        if loads is not None:
            samples["yaml_rs"].append(timed(lambda: load_fastest(repo, loads))[0])
        for checkout in checkouts:
            for name, seconds in checkout_times(checkout, repo).items():
                samples.setdefault(f"{checkout}: {name}", []).append(seconds)
    medians = {name: statistics.median(values) for name, values in samples.items() if values}
    floors = {name: medians[name] for name in ("libyaml", "yaml_rs") if name in medians}
    print(f"{repetitions} repetition(s), median cpu s; ratios to the floors of this run")
    for name, seconds in medians.items():
        ratios = (
            ""
            if name in floors
            else "".join(
                f"  {seconds / floor:6.2f}x {floor_name}" for floor_name, floor in floors.items()
            )
        )
        print(f"  {name:48}{seconds:8.2f}{ratios}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--auto-every", type=int, default=10, help="See generate.py (0: none).")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--repo", type=Path, help="A repo generate.py wrote (else generated).")
    parser.add_argument("--stages", action="store_true", help="Also time each stage once.")
    parser.add_argument("--no-memory", action="store_true", help="Skip the memory subprocess.")
    parser.add_argument(
        "--managed-fields", action="store_true", help="Also time the managedFields lever."
    )
    parser.add_argument("--skip-diff", action="store_true", help="Only the levers asked for.")
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        metavar="CHECKOUT",
        help="Time each checkout's read and diff side by side (e.g. a worktree of main and .).",
    )
    parser.add_argument("--shape", choices=SHAPES, default="templated", help="See generate.py.")
    parser.add_argument(
        "--heterogeneous", dest="shape", action="store_const", const="heterogeneous"
    )
    parser.add_argument(
        "--one-group",
        action="store_true",
        help="One group of N Services vs N independent Services, side by side.",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as scratch:
        if args.one_group:
            one_group_report(Path(scratch), args)
            return 0
        repo = args.repo or Path(scratch)
        if args.repo is None:
            counts = write_repo(
                repo, args.services, args.group_size, args.seed, args.auto_every, args.shape
            )
            print("generated:", ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
        if args.compare:
            compare_checkouts(repo, args.compare, args.repetitions)
            return 0
        report(repo, args)
    return 0


def one_group_report(scratch: Path, args: argparse.Namespace) -> None:
    """One group of N Services against N independent ones: CPU seconds alternated, the ratio,
    and each one's peak memory."""
    repos = {shape: scratch / shape for shape in ("one-group", "independent")}
    for shape, repo in repos.items():
        write_repo(repo, args.services, 1, args.seed, 0, shape)
    runs: dict[str, list[tuple[float, float]]] = {shape: [] for shape in repos}
    for _ in range(args.repetitions):
        for shape, repo in repos.items():
            runs[shape].append(timed(functools.partial(run_diff, repo)))
    print(f"{args.services} Services, all changing their key, {args.repetitions} repetition(s)")
    print(f"{'':34}{'cpu s':>10}{'wall s':>10}")
    timings = {shape: _median(samples) for shape, samples in runs.items()}
    for shape, label in (("one-group", "one group of N"), ("independent", "N independent")):
        print(f"{label:34}{timings[shape].cpu:10.2f}{timings[shape].wall:10.2f}")
    ratio = timings["one-group"].cpu / timings["independent"].cpu
    print(f"ratio one group / independent (cpu): {ratio:.2f}")
    if not args.no_memory:
        for shape, repo in repos.items():
            print(f"peak memory of the diff ({shape}): {peak_memory_mb(repo):.0f} MB")


def report(repo: Path, args: argparse.Namespace) -> None:
    size = sum(path.stat().st_size for path in repo_files(repo)) / 1e6
    write_json_live(repo)
    print(f"repo: {repo} ({size:.1f} MB of YAML), {args.repetitions} repetition(s), median")
    if not args.skip_diff:
        diff_table(repo, args)
    if args.managed_fields:
        print("live snapshot with managedFields (kubectl --show-managed-fields), cpu s:")
        lever = managed_fields_lever(repo, args.repetitions)
        for name, label in (
            ("every line", "YAML, every line parsed"),
            ("cut", "YAML, Update entries cut (planner)"),
            ("json", "the same as JSON (planner)"),
        ):
            print(f"  {label:36}{lever[name].cpu:8.2f}")
    if args.stages:
        print("stages (cpu s, one pass):")
        for name, seconds in stage_times(repo):
            print(f"  {name:28}{seconds:8.2f}")


def diff_table(repo: Path, args: argparse.Namespace) -> None:
    """The diffs against both floors, side by side, and the diff's peak memory."""
    timings, code = side_by_side(repo, args.repetitions)
    print(f"{'':34}{'cpu s':>10}{'wall s':>10}")
    for name, label in (
        ("diff", "planner diff --output json"),
        ("diff-json", "  the same, --live live.json"),
        ("libyaml", "floor: libyaml (List per item)"),
        ("fastest", "floor: yaml_rs (fastest, PyPI)"),
    ):
        if name in timings:
            print(f"{label:34}{timings[name].cpu:10.2f}{timings[name].wall:10.2f}")
    if "fastest" not in timings:
        print("floor: yaml_rs not installed (pip install yaml-rs), skipped")
    print(f"exit code of the diff: {code}")
    if args.shape == "heterogeneous":
        verdict = "meets" if timings["diff"].cpu <= HETEROGENEOUS_TARGET_S else "MISSES"
        print(
            f"heterogeneous diff: {timings['diff'].cpu:.2f} cpu s "
            f"({verdict} the target <= {HETEROGENEOUS_TARGET_S:.0f} s at 1,000 groups)"
        )
    for floor in ("libyaml", "fastest"):
        if floor not in timings:
            continue
        for name in ("diff", "diff-json"):
            ratio = timings[name].cpu / timings[floor].cpu
            target = RATIO_TARGET if floor == "libyaml" else FASTEST_RATIO_TARGET
            verdict = "meets" if ratio <= target else "MISSES"
            print(f"ratio {name}/{floor} (cpu): {ratio:.2f} ({verdict} the target <= {target})")
    if not args.no_memory:
        for live in ("live.yaml", "live.json"):
            peak = peak_memory_mb(repo, live)
            verdict = "meets" if peak <= MEMORY_TARGET_MB else "MISSES"
            print(
                f"peak memory of the diff (--live {live}): {peak:.0f} MB "
                f"({verdict} the target <= {MEMORY_TARGET_MB:.0f} MB)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
