"""What following Flux Kustomizations costs on a home-ops layout (docs/real-repositories.md).

    python bench/bench_flux_tree.py [--apps 20,100] [--repetitions 3] [--checkout DIR]
                                    [--fields] [--compare BASE]

Generates a git repository laid out as public home-ops repositories are (the layout of
samples/real-flux-ks-tree, N apps in one namespace): `kubernetes/apps/network/kustomization.yaml`
lists one `ks.yaml` per app, each a Flux Kustomization building `<app>/app` (a kustomization and
two Services sharing an IP through `${APP}` / `${SVC_ADDR}` from its postBuild); the second
commit flips one app's externalTrafficPolicy. Times `planner diff kubernetes/apps/network
--live-git HEAD~1 -o json` in a fresh interpreter of the checkout (default: this one): wall and
CPU seconds of the child and its children (kustomize runs once per app directory and ref), the
median of the repetitions, and how many objects the diff compared (2 Services and a
Flux Kustomization per app, against 0 Services before the planner followed them).

`--fields`: each ks.yaml also sets `commonMetadata` labels and a `patches` entry on its Services
(today's home-ops layout), which the planner builds in a temporary copy (flux_overlay.py).
`--compare BASE`: BASE's checkout and this one, alternating in each repetition, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]
KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {app}
  namespace: flux-system
spec:
  path: ./kubernetes/apps/network/{app}/app
  sourceRef: {{kind: GitRepository, name: home}}
  interval: 30m
  postBuild:
    substitute: {{APP: {app}, SVC_ADDR: {ip}}}
"""
SERVICE = """\
---
apiVersion: v1
kind: Service
metadata:
  name: ${{APP}}-{protocol_lower}
  namespace: network
  annotations:
    metallb.io/allow-shared-ip: ${{APP}}
spec:
  type: LoadBalancer
  loadBalancerIP: ${{SVC_ADDR}}
  externalTrafficPolicy: {policy}
  ports:
    - {{name: dns-{protocol_lower}, port: 53, protocol: {protocol}}}
"""


FIELDS = """\
  commonMetadata:
    labels: {{app.kubernetes.io/name: {app}}}
  patches:
    - target: {{kind: Service}}
      patch: |
        apiVersion: v1
        kind: Service
        metadata: {{name: not-used, annotations: {{home.arpa/app: {app}}}}}
"""


def write_tree(top: Path, apps: int, flipped: int | None, fields: bool) -> None:
    """The namespace kustomization, one ks.yaml and app directory per app, and a pool."""
    network = top / "kubernetes/apps/network"
    network.mkdir(parents=True, exist_ok=True)
    names = [f"app{i:04d}" for i in range(apps)]
    resources = "".join(f"  - ./{name}/ks.yaml\n" for name in names)
    (network / "kustomization.yaml").write_text(f"resources:\n{resources}")
    for i, name in enumerate(names):
        app = network / name / "app"
        app.mkdir(parents=True, exist_ok=True)
        ip = f"10.{i // 250}.{i % 250}.53"
        ks = KS.format(app=name, ip=ip) + (FIELDS.format(app=name) if fields else "")
        (network / name / "ks.yaml").write_text(ks)
        (app / "kustomization.yaml").write_text("resources: [./services.yaml]\n")
        policy = "Local" if i == flipped else "Cluster"
        text = "".join(
            SERVICE.format(protocol=p, protocol_lower=p.lower(), policy=policy)
            for p in ("TCP", "UDP")
        )
        (app / "services.yaml").write_text(text)
    pools = top / "kubernetes/infra/pool.yaml"
    pools.parent.mkdir(parents=True, exist_ok=True)
    pools.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: lan\n"
        "  namespace: metallb-system\nspec:\n  addresses: [10.0.0.0/8]\n"
    )


def make_repo(top: Path, apps: int, fields: bool) -> None:
    top.mkdir(parents=True)
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(top)], check=True)
    for flipped, message in ((None, "one"), (0, "flip app0000")):
        write_tree(top, apps, flipped, fields)
        subprocess.run([*GIT, "-C", str(top), "add", "-A"], check=True)
        subprocess.run([*GIT, "-C", str(top), "commit", "-qm", message], check=True)


def time_diff(top: Path, checkout: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one diff (child and grandchildren), and the objects it diffed."""
    argv = [sys.executable, "-m", "planner.cli", "diff", "kubernetes/apps/network"]
    argv += ["--live-git", "HEAD~1", "-o", "json"]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=top, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"planner diff failed ({done.returncode}): {done.stderr.strip()}")
    summary = json.loads(done.stdout)["summary"]["changes"]
    return wall, cpu, sum(summary.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default="20,100")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--checkout", type=Path, default=CHECKOUT)
    parser.add_argument("--fields", action="store_true")
    parser.add_argument("--compare", type=Path, help="a base checkout, timed alternately")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in ([args.compare] if args.compare else []) + [args.checkout]]
    columns = "objects diffed | wall s (median) | CPU s with kustomize (median)"
    print(f"| apps | {' | '.join(f'{c.name}: {columns}' for c in checkouts)} |")
    print("|---:" * (1 + 3 * len(checkouts)) + "|")
    with tempfile.TemporaryDirectory(prefix="bench-flux-tree-") as scratch:
        for apps in (int(n) for n in args.apps.split(",")):
            top = Path(scratch) / f"repo{apps}"
            make_repo(top, apps, args.fields)
            runs: dict[Path, list[tuple[float, float, int]]] = {c: [] for c in checkouts}
            for _ in range(args.repetitions):
                for checkout in checkouts:  # alternating: the machine's drift hits both
                    runs[checkout].append(time_diff(top, checkout))
            cells = [_cells(runs[c]) for c in checkouts]
            print(f"| {apps} | {' | '.join(cells)} |")


def _cells(runs: list[tuple[float, float, int]]) -> str:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    return f"{runs[0][2]} | {wall:.2f} | {cpu:.2f}"


if __name__ == "__main__":
    main()
