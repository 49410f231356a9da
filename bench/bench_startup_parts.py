"""Where `planner diff`'s start-up goes, part by part, measured inside fresh interpreters.

    python bench/bench_startup_parts.py [--runs 11] [--sample samples/seed-dns-local]
                                        [--checkout DIR | --compare DIR...]

Each run is a fresh interpreter that reads its own CPU clock (user + system,
`time.process_time`) between the parts: importing yaml and click (what the floor imports),
`planner.cli`, the modules a text diff imports (the verb, the pipeline, the text renderer), the
first `main(["diff", ...])` and a second one (warm: what the sample's run costs once everything
is imported), and of the warm run its stages (load, predict, render). The second run calls
`main()` as the console script does, and the interpreter then exits: its shutdown is the child's
CPU time from wait4() less its own clock at the end, and its start-up (site, the editable
install's finder) its clock at the first line. Separately, the time spent in `dataclasses`
building the classes of every module imported, and how many classes and generated methods that
was. Medians over `--runs`.
`bench_startup.py` gives the totals against the floor; this script says which part to work on.
`--compare DIR...` runs the checkouts' children in turn, round by round (a drifting machine slows
them alike), and prints one column per checkout.

`--dataclass-options` instead times what one class costs to build under each set of options
(a five-field class, built 200 times in this interpreter).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The child: times each part with its own CPU clock; prints one JSON object.
_CHILD = """
import contextlib, io, json, sys, time
clock = time.process_time
marks = [clock()]
import dataclasses
built = {"seconds": 0.0, "classes": 0, "methods": 0}
_process_class, _create_fn = dataclasses._process_class, dataclasses._create_fn
def _timed_process_class(*args, **kwargs):
    start = clock()
    try:
        return _process_class(*args, **kwargs)
    finally:
        built["seconds"] += clock() - start
        built["classes"] += 1
def _counted_create_fn(*args, **kwargs):
    built["methods"] += 1
    return _create_fn(*args, **kwargs)
dataclasses._process_class, dataclasses._create_fn = _timed_process_class, _counted_create_fn
import yaml, click
marks.append(clock())
from planner.cli import main
marks.append(clock())
import planner.commands.diff, planner.pipeline, planner.render.text
marks.append(clock())
def _quiet_diff(console=False):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main() if console else main(sys.argv[1:])
_quiet_diff()
marks.append(clock())
# The warm run's stages: each function wrapped where its caller looks it up.
import planner.analysis.build, planner.render
stages = {}
def _timed(module, name, label):
    function = getattr(module, name)
    def timed(*args, **kwargs):
        start = clock()
        try:
            return function(*args, **kwargs)
        finally:
            stages[label] = stages.get(label, 0.0) + clock() - start
    setattr(module, name, timed)
_timed(planner.pipeline, "load_scenario", "load_scenario: read, parse, diff, scenario")
_timed(planner.analysis.build, "predict", "predict: the behaviours' explorations")
_timed(planner.render, "render", "render: the text report")
_quiet_diff(console=True)  # as the console script runs it: the process ends next
marks.append(clock())
parts = [later - earlier for earlier, later in zip(marks, marks[1:])]
print(json.dumps({"parts": parts, "dataclasses": built, "stages": stages, "clock": marks}))
"""

# Option sets to time: the planner's records are frozen; the others show what each option costs.
OPTION_SETS: tuple[dict[str, bool], ...] = (
    {"frozen": True},
    {"frozen": True, "repr": False},
    {"frozen": True, "eq": False},
    {},
    {"eq": False},
)

PARTS = (
    "import dataclasses, yaml, click (the floor's imports)",
    "import planner.cli",
    "import the diff's modules (verb, pipeline, text renderer)",
    "first main(diff): the run, with what it imports late",
    "second main(): the warm run, called as the console script",
)


def run_child(checkout: Path, sample: Path) -> dict[str, object]:
    """One fresh interpreter's parts (seconds) and dataclass figures, with its start-up (its
    clock at the first line) and shutdown (wait4's CPU less its clock at the end)."""
    argv = ["diff", str(sample / "desired"), "--live", str(sample / "live.yaml")]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=checkout,
        env=env,
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the child failed: {out}")
    answer: dict[str, object] = json.loads(out.splitlines()[-1])
    clock = [float(mark) for mark in answer["clock"]]  # type: ignore[attr-defined]
    answer["startup"] = clock[0]
    answer["shutdown"] = usage.ru_utime + usage.ru_stime - clock[-1]
    return answer


def class_cost(options: dict[str, bool], count: int = 200) -> float:
    """CPU seconds to build one five-field dataclass with `options` (mean over `count`)."""
    import dataclasses
    import time

    annotations = {"a": "int", "b": "str", "c": "tuple[str, ...]", "d": "int | None"}
    annotations["e"] = "list[int]"
    start = time.process_time()
    for index in range(count):
        namespace = {
            "__module__": __name__,
            "__annotations__": dict(annotations),
            "__doc__": "A record.",
            "d": None,
            "e": dataclasses.field(default_factory=list),
        }
        dataclasses.dataclass(**options)(type(f"Record{index}", (), namespace))
    return (time.process_time() - start) / count


def main(argv: list[str] | None = None) -> int:
    """Run the child `--runs` times per checkout and print the median of each part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--sample", type=Path, default=ROOT / "samples" / "seed-dns-local")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="The planner to measure.")
    parser.add_argument("--compare", type=Path, nargs="+", help="Checkouts measured side by side.")
    parser.add_argument("--dataclass-options", action="store_true")
    args = parser.parse_args(argv)
    if args.dataclass_options:
        for options in OPTION_SETS:
            shown = ", ".join(f"{k}={v}" for k, v in options.items())
            print(
                f"  {'dataclass(' + shown + ')':38} {class_cost(options) * 1e6:5.0f} us per class"
            )
        return 0
    checkouts = [checkout.resolve() for checkout in (args.compare or [args.checkout])]
    for checkout in checkouts:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(checkout / "planner")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    sample = args.sample.resolve()
    runs: list[list[dict[str, object]]] = [[] for _ in checkouts]
    for _ in range(args.runs):  # round by round: each checkout once per round
        for index, checkout in enumerate(checkouts):
            runs[index].append(run_child(checkout, sample))
    print(f"median of {args.runs} runs, CPU ms, {sys.executable} ({sys.version.split()[0]})")
    for index, checkout in enumerate(checkouts):
        print(f"  [{index}] {checkout}")
    for label, values in _rows(runs):
        print(f"  {label:58} " + " ".join(f"{value * 1000:7.1f}" for value in values))
    for index, checkout_runs in enumerate(runs):
        built = checkout_runs[0]["dataclasses"]
        classes, methods = built["classes"], built["methods"]  # type: ignore[index]
        print(f"  [{index}] dataclasses built: {classes} classes, {methods} generated methods")
    return 0


def _rows(runs: list[list[dict[str, object]]]) -> list[tuple[str, list[float]]]:
    """Each part's label and its median (seconds) per checkout, in the order they happen."""

    def medians(value: Callable[[dict[str, Any]], float]) -> list[float]:
        return [statistics.median(value(run) for run in checkout) for checkout in runs]

    rows = [("interpreter start-up (site, before the first line)", medians(lambda r: r["startup"]))]
    for index, label in enumerate(PARTS):
        rows.append((label, medians(lambda r, i=index: r["parts"][i])))
    for label in runs[0][0]["stages"]:  # type: ignore[union-attr]
        rows.append((f"  of the warm run, {label}", medians(lambda r, s=label: r["stages"][s])))
    rows.append(
        ("interpreter shutdown (wait4 CPU less the final clock)", medians(lambda r: r["shutdown"]))
    )
    rows.append(
        (
            "of all the above, dataclasses building the classes",
            medians(lambda r: r["dataclasses"]["seconds"]),
        )
    )
    return rows


if __name__ == "__main__":
    sys.exit(main())
