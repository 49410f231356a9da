"""Shared fixtures: paths to the repo's samples; how a test reaches the stand-in kubectl."""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "samples"
SETUP = "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt '.[test]'"
OPTIONAL = frozenset({"pytest-xdist"})  # only makes the run parallel (see pytest_cmdline_main)


def environment_problems(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """What the running interpreter lacks of the project, its dependencies and its test extras,
    or holds in a version pyproject.toml does not allow."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = [project["name"], *project["dependencies"], *project["optional-dependencies"]["test"]]
    problems = []
    for requirement in map(Requirement, wanted):
        if requirement.name in OPTIONAL:
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement} (not installed)")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} ({version} installed)")
    return problems


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run in an environment that is not the project's: a machine's own site-packages
    would fail whole test files at collection (or pass what a fresh install fails)."""
    problems = environment_problems()
    if problems:
        raise pytest.UsageError(
            f"this Python ({sys.executable}) lacks {'; '.join(problems)}. Run the tests in the "
            f"project's virtualenv, as the README says: {SETUP} && .venv/bin/python -m pytest"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """One worker per core when pytest-xdist is installed and no `-n` was given; without xdist
    the suite runs serially instead of failing on an unknown `-n` option."""
    in_worker = hasattr(config, "workerinput")  # a worker runs this hook too: no workers of its own
    xdist = config.pluginmanager.hasplugin("xdist") and not in_worker
    if xdist and config.option.numprocesses is None:
        config.option.numprocesses = "auto"


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def stand_in_subprocess(request: pytest.FixtureRequest) -> bool:
    """True for a test marked `kubectl_subprocess`: it runs the stand-in kubectl as a process.

    Other tests call the same fake in-process (tests/fakes/fake_cluster.py, `InProcessFake`).
    """
    return request.node.get_closest_marker("kubectl_subprocess") is not None
