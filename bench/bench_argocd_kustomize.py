"""What an Application's `kustomize` settings cost: the build of its directory as written vs the
edits and the build of the private copy with them written in, alternating in one process.

    python bench/bench_argocd_kustomize.py --runs 41

Reads samples/real-argocd-kustomize-settings (its `blocky` Application and the directory it
syncs, from a copy of `repo/`); prints wall-clock medians (kustomize is a subprocess) and the
median of the paired ratios (edits + copy + build) / build.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from planner.sources.argocd_kustomize import KustomizeSource, kustomize_rewrite
from planner.sources.flux_repository import Repository
from planner.sources.kustomize import render_kustomization
from planner.sources.kustomize_copy import render_rewritten

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "real-argocd-kustomize-settings"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "repo"
        shutil.copytree(SAMPLE / "repo", root)
        application = yaml.safe_load((root / "argocd/apps/blocky.yaml").read_text())
        settings = application["spec"]["source"]["kustomize"]
        directory = root / application["spec"]["source"]["path"]
        source = KustomizeSource(directory, Repository(root), {"ARGOCD_APP_NAME": "blocky"}, "")
        plain, edits, copied = [], [], []
        for _ in range(options.runs):
            started = time.perf_counter()
            render_kustomization(directory)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            rewritten = kustomize_rewrite(settings, source)
            edits.append(time.perf_counter() - started)
            started = time.perf_counter()
            render_rewritten(directory, "blocky", rewritten)
            copied.append(time.perf_counter() - started)
    median = statistics.median
    print(
        f"median of {options.runs}: build as written {median(plain) * 1e3:.1f} ms; "
        f"edits {median(edits) * 1e3:.2f} ms; copy + build {median(copied) * 1e3:.1f} ms"
    )
    ratios = [(e + c) / p for p, e, c in zip(plain, edits, copied, strict=True)]
    print(f"paired (edits + copy + build) / build as written: {median(ratios):.3f}")


if __name__ == "__main__":
    main()
