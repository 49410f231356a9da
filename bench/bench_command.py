"""One planner command, two checkouts alternating in one run: the median CPU seconds of each.

    python bench/bench_command.py --base /tmp/base --repetitions 5 --cwd REPO -- \
        diff kubernetes/apps --live-git HEAD~5

Runs `python -m planner.cli ARGS...` in `--cwd` with `--base`'s code and this checkout's in
turn (so the machine's drift hits both), counting the CPU of the interpreter and everything it
starts (kustomize, helm, git); prints each median, the runs, the ratio this / base and the
paired ratio (the median of each round's ratio), and the same for wall time. `--this-extra=ARG`
(repeatable) adds to this checkout's runs only: with `--base` this very checkout, what a flag
costs (`--fetch-charts`). `--count TOOL` (repeatable: kubectl, kustomize, helm) puts a wrapper on
PATH that logs each run of TOOL and execs the real one, and prints how many runs each checkout
made.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def cpu_of(argv: list[str], cwd: Path, checkout: Path, path: str = "") -> tuple[float, float]:
    """CPU seconds (user + system) of one run and its children, and its wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    if path:
        env["PATH"] = path
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def wrapped(tools: list[str], directory: Path, log: Path) -> str:
    """A PATH whose first directory holds, for each tool, a script logging its argv to `log`
    and exec'ing the real one found on the current PATH ("" without tools)."""
    if not tools:
        return ""
    for tool in tools:
        real = shutil.which(tool)
        if real is None:
            continue
        script = directory / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexec {real} "$@"\n')
        script.chmod(0o755)
    return f"{directory}{os.pathsep}{os.environ.get('PATH', os.defpath)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--this-extra", action="append", default=[], metavar="ARG")
    parser.add_argument("--count", action="append", default=[], metavar="TOOL")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    argv = [sys.executable, "-m", "planner.cli", *[a for a in options.args if a != "--"]]
    checkouts = {"base": options.base.resolve(), "this": CHECKOUT}
    extra = {"base": [], "this": options.this_extra}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    counts: dict[str, list[int]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="bench-command-") as scratch:
        log = Path(scratch) / "runs.log"
        path = wrapped(options.count, Path(scratch), log)
        for _ in range(options.repetitions):
            for name, checkout in checkouts.items():
                log.write_text("")
                runs[name].append(cpu_of([*argv, *extra[name]], options.cwd, checkout, path))
                counts[name].append(len(log.read_text().splitlines()))
    for index, what in enumerate(("s CPU", "s wall")):
        for name, values in runs.items():
            measured = [run[index] for run in values]
            shown = ", ".join(f"{v:.2f}" for v in measured)
            print(f"{name}: median {statistics.median(measured):.2f} {what} ({shown})")
        this, base = ([run[index] for run in runs[n]] for n in ("this", "base"))
        ratio = statistics.median(this) / statistics.median(base)
        paired = statistics.median(t / b for t, b in zip(this, base, strict=True))
        print(f"this / base ({what}): {ratio:.2f} (paired {paired:.3f})")
    if options.count:
        for name, made in counts.items():
            print(f"{name}: {', '.join(map(str, made))} runs of {', '.join(options.count)}")


if __name__ == "__main__":
    main()
