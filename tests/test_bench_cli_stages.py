"""bench/bench_cli_stages.py: each stage timed inside one `planner diff` run, as the CLI runs it."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench_cli_stages import _PROBE, STAGES
from bench.bench_read_stages import probe_times
from bench.generate import write_repo

CHECKOUT = Path(__file__).resolve().parent.parent


def test_every_stage_is_timed_inside_the_run_and_nested_ones_inside_theirs(
    tmp_path: Path,
) -> None:
    write_repo(tmp_path, 40, 4, 0)
    times = probe_times(_PROBE, CHECKOUT, tmp_path, json.dumps(STAGES))
    assert list(times) == ["imports", "run", *(name for _, name in STAGES)]
    # a wrapper never called (a name bound before the wrap and missed by it) reads 0.0; a
    # snapshot under 1 MB is parsed as a stream, not item by item
    unused = {name for _, name in STAGES if times[name] == 0}
    assert unused == {"_parse_large_list"}, times
    assert (
        times["load_desired"] + times["load_live_file"] + times["report_of_scenario"] < times["run"]
    )
    assert times["diff_objects"] < times["build_scenario"] < times["run"]
    assert times["World.parts"] < times["predict"] < times["report_of_scenario"]
