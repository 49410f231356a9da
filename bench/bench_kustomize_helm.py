"""What a `helmCharts` kustomization's pulled chart costs: its build in place (the chart in the
repository) vs its build in a private copy with the pulled chart laid out, alternating in one
process (the pull itself is made once, before).

    PATH=DIR_WITH_HELM:$PATH python bench/bench_kustomize_helm.py --runs 21

helm is the one on PATH (tests/fakes/helm, the stand-in, when no real one is there: it serves
the chart below from a directory, $FAKE_HELM_REPOS set here). Prints wall-clock medians
(kustomize and helm are subprocesses) and the median of the paired ratios copy / in place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from planner.sources.helm_fetch import ChartFetcher
from planner.sources.kustomize_helm import chart_uses, kustomizations, render_inflating

OCI = "oci://registry.example.org/charts"
CHART = "apiVersion: v2\nname: app-template\nversion: 5.1.0\n"
VALUES = "service:\n  app:\n    type: LoadBalancer\n    ports:\n      http: {port: 80}\n"


def kustomization(repo: str) -> str:
    return (
        "resources: [config.yaml]\nhelmCharts:\n  - name: app-template\n    releaseName: web\n"
        f"    namespace: default\n{repo}    version: 5.1.0\n    valuesFile: values.yaml\n"
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, ChartFetcher() as charts:
        root = Path(scratch) / "repo"
        (root / ".git").mkdir(parents=True)  # the repository's root, for the path checks
        served = Path(scratch) / "served/app-template/5.1.0"
        write(served / "Chart.yaml", CHART)
        write(served / "values.yaml", VALUES)
        os.environ["FAKE_HELM_REPOS"] = json.dumps({OCI: str(served.parent.parent)})
        config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n"
        for name, repo in (("local", ""), ("remote", f"    repo: {OCI}\n")):
            write(root / name / "kustomization.yaml", kustomization(repo))
            write(root / name / "values.yaml", VALUES)
            write(root / name / "config.yaml", config)
        shutil.copytree(served, root / "local/charts/app-template")
        uses = {n: chart_uses(kustomizations(root / n, n), root) for n in ("local", "remote")}
        render_inflating(root / "remote", "remote", root, uses["remote"], charts)  # the pull
        timings: dict[str, list[float]] = {"local": [], "remote": []}
        for _ in range(options.runs):
            for name in ("local", "remote"):
                started = time.perf_counter()
                render_inflating(root / name, name, root, uses[name], charts)
                timings[name].append(time.perf_counter() - started)
    median = statistics.median
    local, remote = timings["local"], timings["remote"]
    print(
        f"median of {options.runs}: in place {median(local) * 1e3:.1f} ms; "
        f"pulled chart laid out in a copy {median(remote) * 1e3:.1f} ms"
    )
    ratios = [r / p for p, r in zip(local, remote, strict=True)]
    print(f"paired copy / in place: {median(ratios):.3f}")


if __name__ == "__main__":
    main()
