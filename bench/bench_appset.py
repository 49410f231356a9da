"""An ApplicationSet against its floor, the same Applications written out, alternating in one run.

    python bench/bench_appset.py --apps 200 --other-directories 1000 --repetitions 7

Builds two git repositories under a temporary directory with the same N app directories
(`kubernetes/apps/<app>/<app>/service.yaml`, one LoadBalancer Service each) and as many other
directories (`docs/...`, which the git generator walks and matches against its pattern):
`written` holds one Application per app in argocd/apps, `appset` one ApplicationSet whose git
generator over `kubernetes/apps/*/*` generates the same Applications. Runs `planner diff argocd
--live-git HEAD` in each in turn with this checkout's code (CPU of the process and what it
starts, bench_command.cpu_of) and prints each median and the paired ratio appset / written.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_command import CHECKOUT, cpu_of

REMOTE = "https://github.com/example-home/homelab.git"
APPLICATION = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {app}, namespace: argocd}}
spec:
  project: default
  source: {{repoURL: {remote}, targetRevision: HEAD, path: kubernetes/apps/{app}/{app}}}
  destination: {{server: https://kubernetes.default.svc, namespace: {app}}}
"""
APPSET = f"""apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: apps, namespace: argocd}}
spec:
  generators:
    - git:
        repoURL: {REMOTE}
        revision: HEAD
        directories: [{{path: kubernetes/apps/*/*}}]
  template:
    metadata: {{name: '{{{{path.basename}}}}'}}
    spec:
      project: default
      source: {{repoURL: {REMOTE}, targetRevision: HEAD, path: '{{{{path}}}}'}}
      destination: {{server: https://kubernetes.default.svc, namespace: '{{{{path[2]}}}}'}}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: {app}}}
spec:
  type: LoadBalancer
  ports: [{{port: 80, protocol: TCP}}]
"""


def build(top: Path, apps: int, others: int, appset: bool) -> Path:
    """A committed repository with the apps, the other directories and the Argo CD objects."""
    for index in range(apps):
        app = f"app{index:04d}"
        directory = top / "kubernetes/apps" / app / app
        directory.mkdir(parents=True)
        (directory / "service.yaml").write_text(SERVICE.format(app=app))
        if not appset:
            written = APPLICATION.format(app=app, remote=REMOTE)
            (top / "argocd/apps").mkdir(parents=True, exist_ok=True)
            (top / "argocd/apps" / f"{app}.yaml").write_text(written)
    for index in range(others):
        directory = top / "docs" / f"part{index // 50:03d}" / f"page{index:04d}"
        directory.mkdir(parents=True)
        (directory / "README.md").write_text("notes\n")
    if appset:
        (top / "argocd").mkdir(parents=True, exist_ok=True)
        (top / "argocd/appset.yaml").write_text(APPSET)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for args in (
        ["init", "--quiet", "--initial-branch=main"],
        ["remote", "add", "origin", REMOTE],
        ["add", "-A"],
        [*identity, "commit", "--quiet", "-m", "apps"],
    ):
        subprocess.run(["git", "-C", str(top), *args], check=True)
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--other-directories", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=7)
    options = parser.parse_args()
    argv = [sys.executable, "-m", "planner.cli", "diff", "argocd", "--live-git", "HEAD"]
    with tempfile.TemporaryDirectory() as scratch:
        repos = {
            name: build(Path(scratch) / name, options.apps, options.other_directories, appset)
            for name, appset in (("written", False), ("appset", True))
        }
        runs: dict[str, list[float]] = {name: [] for name in repos}
        for _ in range(options.repetitions):
            for name, repo in repos.items():
                runs[name].append(cpu_of(argv, repo, CHECKOUT))
    for name, values in runs.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f} s CPU ({shown})")
    paired = statistics.median(a / w for a, w in zip(runs["appset"], runs["written"], strict=True))
    print(f"appset / written (median of paired ratios): {paired:.3f}")


if __name__ == "__main__":
    main()
