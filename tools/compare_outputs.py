"""Record every report the planner prints for a set of repos, to compare two checkouts byte for byte.

    python tools/compare_outputs.py OUT --checkout /work/wt/base [--repo NAME=DIR ...]
    python tools/compare_outputs.py OUT2 --repo NAME=DIR ...       # this checkout
    diff -r OUT OUT2                                                # nothing: the same output

For every sample in samples/ (the `real-*` git histories replayed as `--live-git HEAD~1`) and
every `--repo` (a directory bench/generate.py wrote: `desired/` and `live.yaml`), it runs
`planner diff` (`--output json`, `text`, `markdown`) and `planner plan` (`--output json`,
`text`, and `--verify --output json`) in a fresh interpreter of the checkout's code, and writes each one's stdout, stderr and
exit code to OUT/<case>/<command>.out. A speed-up that changes no output leaves `diff -r` empty.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

CHECKOUT = Path(__file__).resolve().parent.parent
COMMANDS: dict[str, list[str]] = {
    "diff-json": ["diff", "--output", "json"],
    "diff-text": ["diff", "--output", "text", "--color", "never"],
    "diff-markdown": ["diff", "--output", "markdown"],
    "plan-json": ["plan", "--output", "json"],
    "plan-text": ["plan", "--output", "text"],
    # the proof's claims (stderr) and the plan it proved (stdout)
    "plan-verify": ["plan", "--verify", "--output", "json"],
}
GIT_IDENTITY = ["-c", "user.name=Planner Compare", "-c", "user.email=compare@example.invalid"]


def sample_cases(samples: Path, scratch: Path) -> dict[str, tuple[Path, list[str]]]:
    """name → (working directory, the arguments naming desired and live state) per sample."""
    cases: dict[str, tuple[Path, list[str]]] = {}
    for sample in sorted(p for p in samples.iterdir() if (p / "expected.yaml").exists()):
        if (sample / "repo").is_dir():
            top = _history(sample, scratch / sample.name)
            history = _expected(sample)["history"]
            assert isinstance(history, dict)
            # `app:`, or `run: APP --live-git HEAD~1` (real-flux-helmrelease)
            app = history.get("app") or str(history["run"]).split()[0]
            cases[sample.name] = (top, [app, "--live-git", "HEAD~1"])
            continue
        cases[sample.name] = (sample, [_desired(sample), "--live", "live.yaml"])
    return cases


def _expected(sample: Path) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((sample / "expected.yaml").read_text("utf-8"))
    return data


def _desired(sample: Path) -> str:
    """desired/, else the first kustomize overlay, else the Helm chart (as the tests pick)."""
    if (sample / "desired").is_dir():
        return "desired"
    overlays = sorted(p for p in (sample / "overlays").glob("*") if p.is_dir())
    return str(overlays[0].relative_to(sample)) if overlays else "chart"


def _history(sample: Path, top: Path) -> Path:
    """The sample's two commits (`repo/`, then `commit/` and its deletions) in a new repository."""
    shutil.copytree(sample / "repo", top)
    _git(top, "init", "--quiet", "--initial-branch=main")
    history = _expected(sample)["history"]
    assert isinstance(history, dict)
    if "remote" in history:  # what Argo CD Applications name as repoURL
        _git(top, "remote", "add", "origin", str(history["remote"]))
    _git(top, "add", "-A")
    _git(top, "commit", "--quiet", "-m", "before")
    if (sample / "commit").is_dir():
        shutil.copytree(sample / "commit", top, dirs_exist_ok=True)
    for path in history.get("deletes") or []:
        _git(top, "rm", "-r", "--quiet", path)
    _git(top, "add", "-A")
    _git(top, "commit", "--quiet", "-m", "the commit")
    return top


def _git(top: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(top), *GIT_IDENTITY, *args], check=True)


def record(out: Path, checkout: Path, cases: dict[str, tuple[Path, list[str]]]) -> None:
    """Run every command of every case with `checkout`'s code; write what each printed."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "NO_COLOR": "1"}
    for name, (cwd, args) in cases.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        for command, argv in COMMANDS.items():
            full = [sys.executable, "-m", "planner.cli", *argv[:1], *args, *argv[1:]]
            # check=False: a refusal's exit code and message are output to compare as well
            done = subprocess.run(
                full, check=False, cwd=cwd, env=env, capture_output=True, text=True
            )
            text = f"exit {done.returncode}\n--- stderr\n{done.stderr}--- stdout\n{done.stdout}"
            (out / name / f"{command}.out").write_text(text, encoding="utf-8")
            print(f"{name} {command}: exit {done.returncode}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--checkout", type=Path, default=CHECKOUT)
    parser.add_argument("--repo", action="append", default=[], help="NAME=DIR (generate.py's)")
    parser.add_argument("--no-samples", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="planner-compare-") as scratch:
        cases = {} if args.no_samples else sample_cases(CHECKOUT / "samples", Path(scratch))
        for entry in args.repo:
            name, _, directory = entry.partition("=")
            cases[name] = (Path(directory), ["desired", "--live", "live.yaml"])
        record(args.out, args.checkout.resolve(), cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
