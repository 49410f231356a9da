"""Benchmark: `planner argocd generate` against `kubectl kustomize` alone on the same app.

Generates a 1,000-object kustomize app (500 LoadBalancer Services in 250 sharing groups of two on
requested addresses, 250 ConfigMaps, 250 Deployments, behind a kustomization with a label and a
namespace), then times both commands side by side, alternating, and prints the medians, the
ratio (target: <= 1.3x), and the generator's own time on the same objects as plain YAML. The
generator runs as the CMP sidecar runs it: cwd at the source path, Argo CD's variables set,
stdin closed.

    python bench/argocd_generate.py [--repetitions 5] [--services 500]

Python bytecode is cached in a scratch directory and one warm-up run of each command is not
counted, as in the sidecar image, where pip compiled the package when it was installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3


def service(index: int) -> dict:
    group = index // 2
    address = f"10.100.{group // 250}.{group % 250 + 1}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"svc-{index:04d}",
            "annotations": {
                "metallb.io/allow-shared-ip": f"group-{group:04d}",
                "metallb.io/loadBalancerIPs": address,
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": f"app-{group:04d}"},
            "ports": [{"name": "p", "port": 80 + index % 2, "protocol": "TCP"}],
        },
    }


def config_map(index: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{index:04d}"},
        "data": {"settings.yaml": f"replicas: {index}\nname: app-{index:04d}\n", "flag": "on"},
    }


def deployment(index: int) -> dict:
    labels = {"app": f"app-{index:04d}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{index:04d}"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


def write_app(root: Path, services: int) -> Path:
    """The kustomize app under root/apps/edge; returns its directory."""
    app = root / "apps" / "edge"
    app.mkdir(parents=True)
    others = (1000 - services) // 2
    docs = [service(i) for i in range(services)]
    (app / "services.yaml").write_text(yaml.safe_dump_all(docs))
    (app / "configmaps.yaml").write_text(yaml.safe_dump_all([config_map(i) for i in range(others)]))
    (app / "deployments.yaml").write_text(
        yaml.safe_dump_all([deployment(i) for i in range(others)])
    )
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: edge\nlabels:\n  - pairs: {team: edge}\n"
        "resources: [services.yaml, configmaps.yaml, deployments.yaml]\n"
    )
    (app / ".shared-ip-planner.yaml").write_text("")
    return app


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"`{' '.join(argv)}` failed: {done.stderr.decode(errors='replace').strip()}")
    return elapsed, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--services", type=int, default=500)
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        sys.exit("kubectl is not on PATH; the benchmark compares against `kubectl kustomize`")
    with tempfile.TemporaryDirectory(prefix="bench-argocd-") as scratch:
        app = write_app(Path(scratch) / "repo", args.services)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(
            PYTHONPATH=str(REPO_ROOT),
            PYTHONPYCACHEPREFIX=str(Path(scratch) / "pycache"),
            ARGOCD_APP_NAME="edge",
            ARGOCD_APP_NAMESPACE="edge",
            ARGOCD_APP_SOURCE_PATH="apps/edge",
            ARGOCD_APP_REVISION="0" * 40,
            KUBE_VERSION="1.32.4",
        )
        kustomize = [kubectl, "kustomize", "."]
        generate = [sys.executable, "-m", "planner.cli", "argocd", "generate"]
        _, rendered = timed(kustomize, app, env)  # warm-up runs, not counted
        _, generated = timed(generate, app, env)
        objects = [d for d in yaml.load_all(generated, Loader=yaml.CSafeLoader) if d]
        # The generator's own cost: the same objects as one plain YAML file, no kustomize run.
        plain = Path(scratch) / "repo" / "apps" / "plain"
        plain.mkdir()
        (plain / "all.yaml").write_bytes(rendered)
        plain_env = {**env, "ARGOCD_APP_SOURCE_PATH": "apps/plain"}
        kustomize_times, generate_times, plain_times = [], [], []
        for _ in range(args.repetitions):
            kustomize_times.append(timed(kustomize, app, env)[0])
            generate_times.append(timed(generate, app, env)[0])
            plain_times.append(timed(generate, plain, plain_env)[0])
    base = statistics.median(kustomize_times)
    ours = statistics.median(generate_times)
    print(f"app: {len(objects)} objects, {len(rendered)} bytes from kustomize")
    print(f"kubectl kustomize       median {base:6.2f}s  runs {fmt(kustomize_times)}")
    print(f"planner argocd generate median {ours:6.2f}s  runs {fmt(generate_times)}")
    own = statistics.median(plain_times)
    print(
        f"  of which the generator (same objects, plain) median {own:6.2f}s  runs {fmt(plain_times)}"
    )
    ratio = ours / base
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"ratio {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    return 0


def fmt(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    sys.exit(main())
