"""Time one call in ONE process, alternating another checkout's copy of a module with this one's.

    python bench/bench_ab.py --repo /tmp/d10k --base /tmp/base \
        planner.model.group_annotations 'm.stamp_group_annotations(services)' [--repetitions 15]

For a change inside one module whose gain (a few hundredths of a second) the machine's drift
between fresh interpreters hides. The repo's scenario is read once with this checkout's code
(the collector frozen after it, as the stage probes do); MODULE is imported from this checkout
and loaded again from `--base` under another name, whose own imports resolve to this checkout's
modules (so the two must differ only in MODULE). EXPR is evaluated with `m` bound to each copy
in turn, `scenario` (planner.pipeline.load_scenario's) and `services` (its desired Services);
both results' reprs must be equal. Prints the median CPU seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from planner.pipeline import load_scenario
from planner.sources.live import LiveSource


def base_module(base: Path, name: str) -> ModuleType:
    """`name` as the checkout at `base` has it, loaded as `base_<name>`."""
    path = base / (name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location("base_" + name.replace(".", "_"), path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="A repo generate.py wrote.")
    parser.add_argument("--base", type=Path, required=True, help="The other checkout.")
    parser.add_argument("module")
    parser.add_argument("expr", help="Evaluated with m, scenario and services.")
    parser.add_argument("--repetitions", type=int, default=15)
    args = parser.parse_args(argv)
    scenario = load_scenario([str(args.repo / "desired")], LiveSource.file(args.repo / "live.yaml"))
    gc.freeze()
    names = {"scenario": scenario, "services": list(scenario.desired_services.values())}
    copies = {
        "base": base_module(args.base, args.module),
        "this": importlib.import_module(args.module),
    }
    results = {label: repr(eval(args.expr, {**names, "m": m})) for label, m in copies.items()}
    if results["base"] != results["this"]:
        parser.error("the two copies give different results")
    times: dict[str, list[float]] = {label: [] for label in copies}
    for _ in range(args.repetitions):
        for label, module in copies.items():
            scope: dict[str, Any] = {**names, "m": module}
            start = time.process_time()
            eval(args.expr, scope)
            times[label].append(time.process_time() - start)
    base, this = (statistics.median(times[label]) for label in copies)
    print(f"{args.expr}: base {base:.4f} s, this {this:.4f} s, {this / base:.3f}x (median cpu)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
