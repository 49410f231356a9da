"""Where one `planner diff -o json` goes, stage by stage, as the command line runs it.

    python bench/bench_cli_stages.py --repo /tmp/g10k --compare /tmp/base . [--repetitions 3]

Each repetition starts, for each checkout in turn, a fresh interpreter with that checkout first
on the path. It imports what the diff imports (timed: "imports"), wraps each function of STAGES
in a timer, then runs `planner diff REPO/desired --live REPO/live.yaml -o json` through
`planner.cli.main` (timed: "run"; its output thrown away). A stage's figure is its inclusive CPU
time summed over its outermost calls: the collector paused or frozen exactly as the command
does it (bench_read_stages.py and bench_diff_stages.py time the stages one by one instead). The
wrappers cost about a microsecond per call, so the stages called 10,000 times or more are left
out. Prints the medians, one column per checkout, and the last checkout's time over the first's
within each repetition, median over the repetitions (paired).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # run from a checkout without installing

from bench.bench_read_stages import probe_times, stage_parser

# (module, function or Class.method), in the order the diff meets them; nested ones included.
STAGES = (
    ("planner.sources.desired", "load_desired"),
    ("planner.sources.live", "load_live_file"),
    ("planner.sources.documents", "_parse_large_list"),
    ("planner.sources.kinds", "to_objects"),
    ("planner.diff.scenario", "build_scenario"),
    ("planner.diff.changes", "diff_objects"),
    ("planner.model.group_annotations", "stamped_services"),
    ("planner.analysis.build", "report_of_scenario"),
    ("planner.analysis.build", "scenario_inputs"),
    ("planner.analysis.build", "scenario_groups"),
    ("planner.analysis.build", "scenario_conflicts"),
    ("planner.analysis.predict", "predict"),
    ("planner.simulate.world", "World.parts"),
    ("planner.simulate.reduction", "components"),
    ("planner.simulate.reduction", "_relevant_writes"),
    ("planner.simulate.reduction", "shaped"),
    ("planner.simulate.states", "explore_states"),
    ("planner.render", "render"),
)

_PROBE = """
import contextlib, importlib, json, os, sys, time

stages = json.loads(sys.argv[2])
start = time.process_time()
import planner.analysis.build, planner.commands.diff, planner.pipeline, planner.render
from planner.cli import main
times = {"imports": time.process_time() - start}
spent, running = {}, set()


def timed(name, function):
    def wrapper(*args, **kwargs):
        if name in running:  # a nested call: counted in the outer one
            return function(*args, **kwargs)
        running.add(name)
        begin = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.process_time() - begin
            running.discard(name)
    return wrapper


def install(module_name, attribute):
    module = importlib.import_module(module_name)
    owner_name, _, method = attribute.rpartition(".")
    if owner_name:  # a method: wrapped on its class
        owner = getattr(module, owner_name)
        setattr(owner, method, timed(attribute, getattr(owner, method)))
        return
    function = getattr(module, attribute)
    wrapper = timed(attribute, function)
    for loaded in list(sys.modules.values()):  # every module that imported it by name
        names = getattr(loaded, "__dict__", {})
        for name, value in list(names.items()):
            if value is function:
                names[name] = wrapper


for module_name, attribute in stages:
    install(module_name, attribute)
repo = sys.argv[1]
args = ["diff", repo + "/desired", "--live", repo + "/live.yaml", "-o", "json"]
begin = time.process_time()
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    main(args)
times["run"] = time.process_time() - begin
times.update({attribute: spent.get(attribute, 0.0) for _, attribute in stages})
print(json.dumps(times))
"""


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    stages = json.dumps(STAGES)
    samples: dict[Path, list[dict[str, float]]] = {c: [] for c in args.compare}
    for repetition in range(args.repetitions):
        order = args.compare if repetition % 2 == 0 else args.compare[::-1]
        for checkout in order:  # alternated, the order reversed: the machine's load drifts
            samples[checkout].append(probe_times(_PROBE, checkout, args.repo, stages))
    first, last = samples[args.compare[0]], samples[args.compare[-1]]
    print(f"{args.repetitions} repetition(s), median cpu s, one fresh interpreter per pass")
    print(f"  {'stage':22}" + "".join(f"{str(c)[-22:]:>24}" for c in args.compare) + "  paired")
    for stage in first[0]:
        row = "".join(f"{statistics.median(s[stage] for s in samples[c]):24.3f}" for c in samples)
        pairs = [b[stage] / a[stage] for a, b in zip(first, last, strict=True) if a[stage]]
        paired = f"{statistics.median(pairs):8.3f}" if pairs else ""
        print(f"  {stage:22}{row}{paired}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
