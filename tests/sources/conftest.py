"""Helpers for the source tests: manifest text, fake programs on a private PATH, git repos."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.sources import fast_yaml
from planner.tools import run_tool


@pytest.fixture(autouse=True)
def fast_path_from_the_first_character(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source tests' inputs are small: open the fast path for them from the start, as a
    large repo opens it, so the fast path is what they exercise."""
    monkeypatch.setattr(fast_yaml, "COMPILE_AFTER_CHARS", 0)


def service_yaml(name: str, namespace: str | None = None, ip: str | None = None) -> str:
    """A small LoadBalancer Service manifest as YAML text."""
    lines = ["apiVersion: v1", "kind: Service", "metadata:", f"  name: {name}"]
    if namespace:
        lines.append(f"  namespace: {namespace}")
    if ip:
        lines += ["  annotations:", f"    metallb.universe.tf/loadBalancerIPs: {ip}"]
    lines += ["spec:", "  type: LoadBalancer", "  ports:", "  - port: 53", "    protocol: UDP"]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    """Write text to path, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Put a shell-script program on a private PATH (which keeps only `sh`, `cat` and `git`).

    Returns a function (name, script) -> path of the program.
    """
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "git"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))

    def install(name: str, script: str) -> Path:
        program = bin_dir / name
        program.write_text("#!/bin/sh\n" + script)
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
        return program

    return install


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity (tests never depend on the user's config)."""
    identity = ["-c", "user.name=Planner Test", "-c", "user.email=test@example.invalid"]
    return run_tool(["git", "-C", str(repo), *identity, *args])


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository with `main` as its branch."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    return repo


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`git_repo` as the working directory (a test file may override it with its own files)."""
    monkeypatch.chdir(git_repo)
    return git_repo


def kustomize_available() -> bool:
    """True when kustomize or kubectl (which includes it) is on PATH."""
    return bool(shutil.which("kustomize") or shutil.which("kubectl"))


FAKE_HELM = Path(__file__).resolve().parents[1] / "fakes" / "helm"
LB_SERVICE_CHART = {
    "charts/lb-service/Chart.yaml": "apiVersion: v2\nname: lb-service\nversion: 0.1.0\n",
    "charts/lb-service/values.yaml": "service:\n  type: LoadBalancer\n  ports: []\n",
}


def with_stand_in_helm(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`repo` with the lb-service chart, as the current directory, and only the stand-in helm
    (logging its argv to tmp_path/helm.log), python, git and sh on PATH."""
    from tests.fakes import put_python_on_path

    for path, text in LB_SERVICE_CHART.items():
        write(repo / path, text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(FAKE_HELM)
    put_python_on_path(bin_dir)
    for tool in ("git", "sh"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_HELM_LOG", str(tmp_path / "helm.log"))
    monkeypatch.chdir(repo)
    return repo


OCI = "oci://ghcr.io/bjw-s-labs/helm"
APP_TEMPLATE = "apiVersion: v2\nname: app-template\nversion: {version}\n"
APP_VALUES = "service:\n  app:\n    controller: main\n    ports:\n      http: {port: 80}\n"


@pytest.fixture
def chart_repo(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository as the current directory; on PATH only the stand-in helm (logging to
    helm.log), kubectl, python, git and sh; app-template 5.1.0 served at OCI, pulled below
    tmp_path (the `helmCharts` tests: test_kustomize_helm, test_argocd_build_options)."""
    served = tmp_path / "served/app-template/5.1.0"
    write(served / "Chart.yaml", APP_TEMPLATE.format(version="5.1.0"))
    write(served / "values.yaml", APP_VALUES)
    monkeypatch.setenv("FAKE_HELM_REPOS", json.dumps({OCI: str(tmp_path / "served")}))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kustomizes = {tool: shutil.which(tool) for tool in ("kubectl", "kustomize")}
    with_stand_in_helm(git_repo, tmp_path, monkeypatch)
    for tool, found in kustomizes.items():
        if found:
            (tmp_path / "bin" / tool).symlink_to(found)
    return git_repo
