"""The package as `pip install .` delivers it: the wheel holds every file the package reads, and
`planner argocd generate` (metallb-0.14, with its nudge hook) works from it, away from the source.

Builds the wheel from a copy of what the Dockerfiles copy (pyproject.toml, README.md, planner/),
without build isolation and without an index, so it needs no network (setuptools and wheel come
with the test extra). Takes a few seconds; it runs in the normal suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import needs

pytestmark = needs("setuptools", "wheel")

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "planner"
GOLDEN = REPO_ROOT / "tests" / "fixtures" / "argocd" / "nudge-golden" / "waves-metallb-0.14.yaml"
WAVES_APP = REPO_ROOT / "tests" / "fixtures" / "argocd" / "waves"
# Data files the package opens at run time (importlib.resources), beyond its modules.
RUN_TIME_DATA = (
    "planner/schemas/diff-report.schema.json",
    "planner/schemas/journal.schema.json",
    "planner/schemas/known-fields.json",
    "planner/schemas/plan.schema.json",
)


@dataclass(frozen=True)
class Installed:
    """The built wheel and the directory it was installed into with `pip install --target`."""

    wheel: Path
    site: Path


def pip(*args: str, cwd: Path) -> None:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel from a copy of the source (the tree stays clean) and install it."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "planner", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), ".", cwd=source)
    (wheel,) = dist.glob("shared_ip_planner-*.whl")
    site = tmp / "site"
    pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp)
    return Installed(wheel, site)


def package_files() -> set[str]:
    """Every file of the source package (modules and data), as paths inside the wheel."""
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def run_installed(
    site: Path, cwd: Path, code: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`python -c code` seeing only the installed copy of the package (and its dependencies)."""
    full_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(cwd),
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_wheel_holds_every_file_of_the_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = {n for n in wheel.namelist() if n.startswith("planner/")}
    assert names == package_files()
    for data in (*RUN_TIME_DATA, "planner/py.typed"):
        assert data in names, data
    # Every schema under planner/schemas/ is package data, not only the two named above.
    assert {p for p in package_files() if p.startswith("planner/schemas/")} == set(RUN_TIME_DATA)


def test_argocd_generate_with_the_nudge_hook_runs_from_the_installed_wheel(
    installed: Installed, tmp_path: Path
) -> None:
    app = tmp_path / "repo" / "web"
    shutil.copytree(WAVES_APP, app)
    (app / ".shared-ip-planner.yaml").write_text("")
    code = "import sys; from planner.cli import main; sys.exit(main(['argocd', 'generate']))"
    env = {
        "ARGOCD_APP_NAME": "web",
        "ARGOCD_APP_NAMESPACE": "edge",
        "ARGOCD_APP_SOURCE_PATH": "web",
        "PARAM_TARGET_BEHAVIOR": "metallb-0.14",
    }
    result = run_installed(installed.site, app, code, env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    jobs = [d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Job"]
    assert [job["metadata"]["name"][:24] for job in jobs] == ["shared-ip-planner-nudge-"]
    # The same bytes as the generator gave in the source tree before its templates went away.
    assert result.stdout == GOLDEN.read_text()


def test_the_installed_package_is_the_one_imported_and_reads_its_data(
    installed: Installed, tmp_path: Path
) -> None:
    code = (
        "import planner, planner.gitops.argocd as argocd; "
        "from planner.render import load_schema; "
        "print(planner.__file__); print(argocd.__file__); print(load_schema()['$schema'])"
    )
    result = run_installed(installed.site, tmp_path, code, {})
    assert result.returncode == 0, result.stderr
    package, argocd, schema = result.stdout.splitlines()
    assert Path(package).parent == installed.site / "planner"
    assert Path(argocd).is_relative_to(installed.site)
    assert "json-schema.org" in schema
