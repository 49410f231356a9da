"""Time the diff's patches of a repo's updated objects: jsonpatch's walk of whole objects
against the patch made over the members that differ (planner.diff.changes._patch), in ONE
process, alternated.

    python bench/bench_patch.py --repo /tmp/g10k [--repetitions 15]

The repo's scenario is read once; each update's normalised pair (current, target) is made as
`diff_objects` makes it. Both patches must be the same JSON text. Prints the median CPU seconds
of each over all the updates, and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

import jsonpatch

from planner.diff.changes import _patch
from planner.diff.normalise import drop_explicit_defaults, normalise_desired, normalise_live
from planner.pipeline import load_scenario
from planner.sources.live import LiveSource

Pair = tuple[dict[str, Any], dict[str, Any]]


def updated_pairs(repo: Path) -> list[Pair]:
    """(normalised live, normalised desired) of every update in the repo's diff."""
    scenario = load_scenario([str(repo / "desired")], LiveSource.file(repo / "live.yaml"))
    pairs = []
    for change in scenario.changes:
        if change.op == "update" and change.desired is not None and change.live is not None:
            target = normalise_desired(change.desired)
            current = normalise_live(change.live, change.desired, target)
            drop_explicit_defaults(target, current)
            pairs.append((current, target))
    return pairs


def _whole(current: dict[str, Any], target: dict[str, Any]) -> list[dict[str, Any]]:
    return jsonpatch.make_patch(current, target).patch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="A repo generate.py wrote.")
    parser.add_argument("--repetitions", type=int, default=15)
    args = parser.parse_args(argv)
    pairs = updated_pairs(args.repo)
    gc.freeze()
    ways: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]]]] = {
        "whole objects": _whole,
        "differing members": _patch,
    }
    texts = {name: json.dumps([way(*pair) for pair in pairs]) for name, way in ways.items()}
    if len(set(texts.values())) != 1:
        parser.error("the two ways give different patches")
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.repetitions):
        for name, way in ways.items():
            start = time.process_time()
            for pair in pairs:
                way(*pair)
            times[name].append(time.process_time() - start)
    whole, differing = (statistics.median(times[name]) for name in ways)
    print(
        f"{len(pairs)} updates: whole objects {whole:.4f} s, differing members "
        f"{differing:.4f} s, {differing / whole:.3f}x (median cpu)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
