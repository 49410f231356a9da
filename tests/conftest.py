"""Shared fixtures: paths to the repo's samples; how a test reaches the stand-in kubectl."""

from __future__ import annotations

import importlib.abc
import os
import sys
import tomllib
from collections.abc import Generator
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "samples"
SETUP = "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt '.[test]'"
OPTIONAL = frozenset({"pytest-xdist"})  # only makes the run parallel (see pytest_cmdline_main)


def with_lb_class(text: str, lb_class: str) -> str:
    """A YAML stream with `spec.loadBalancerClass: lb_class` on every Service (List items too):
    the Services MetalLB run with `--lb-class lb_class` takes, and no other MetalLB."""
    documents = [document for document in yaml.safe_load_all(text) if document is not None]
    for document in documents:
        for item in document.get("items", [document]):
            if item.get("kind") == "Service":
                item["spec"]["loadBalancerClass"] = lb_class
    return yaml.safe_dump_all(documents)


# The module a distribution's code is imported as, where the names differ.
IMPORT_NAMES = {"ruamel.yaml": "ruamel", "import-linter": "importlinter", "pytest-xdist": "xdist"}
# In CI (`CI` set, as .ci/run's callers set it) an incomplete environment is an error, never skips.
STRICT = os.environ.get("CI", "").lower() not in ("", "0", "false")


def _requirements(pyproject: Path) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = [project["name"], *project["dependencies"], *project["optional-dependencies"]["test"]]
    return [r for r in map(Requirement, wanted) if r.name not in OPTIONAL]


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_problems(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """What the running interpreter lacks of the project, its dependencies and its test extras,
    or holds in a version pyproject.toml does not allow."""
    problems = []
    for requirement in _requirements(pyproject):
        version = _installed(requirement.name)
        if version is None:
            problems.append(f"{requirement} (not installed)")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} ({version} installed)")
    return problems


def missing_modules(pyproject: Path = REPO_ROOT / "pyproject.toml") -> frozenset[str]:
    """The top-level modules of the required distributions that are not installed at all."""
    return frozenset(
        IMPORT_NAMES.get(r.name, r.name.replace("-", "_")).split(".")[0]
        for r in _requirements(pyproject)
        if _installed(r.name) is None
    )


def needs(*distributions: str) -> pytest.MarkDecorator:
    """Skip (outside CI) a test run through a subprocess needing these distributions, when this
    Python lacks them or holds a version pyproject.toml does not allow."""
    lacking = [
        p for p in environment_problems() if Requirement(p.split(" (")[0]).name in distributions
    ]
    return pytest.mark.skipif(
        bool(lacking) and not STRICT, reason=f"needs {'; '.join(lacking)}: {SETUP}"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """In CI, refuse to run in an environment that is not the project's (a machine's own
    site-packages would pass what a fresh install fails). Elsewhere run what can run: a test
    that needs a distribution this Python lacks is skipped, naming it (see the report header)."""
    problems = environment_problems()
    if problems and STRICT:
        raise pytest.UsageError(
            f"this Python ({sys.executable}) lacks {'; '.join(problems)}. Run the tests in the "
            f"project's virtualenv, as the README says: {SETUP} && .venv/bin/python -m pytest"
        )
    missing = missing_modules()
    if missing:
        recorder = config.stash[_RECORDER] = _MissingImports(missing)
        sys.meta_path.insert(0, recorder)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say at the top of the run when this is not the project's environment."""
    problems = environment_problems()
    if not problems:
        return []
    line = (
        f"NOT the project's environment: this Python lacks {'; '.join(problems)}. Tests that "
        "need a missing module are skipped and test_environment fails; for the whole suite: "
        f"{SETUP} && .venv/bin/python -m pytest"
    )
    return [line]


class _MissingImports(importlib.abc.MetaPathFinder):
    """Notes every attempt to import a module this Python lacks (then lets the import fail as
    usual), so a test that failed after one can be told apart from a real failure."""

    def __init__(self, missing: frozenset[str]) -> None:
        self.missing = missing
        self.tried: set[str] = set()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        top = name.split(".")[0]
        if top in self.missing:
            self.tried.add(top)


_RECORDER = pytest.StashKey[_MissingImports]()


def _skipped_for(modules: set[str]) -> str:
    return f"Skipped: needs {', '.join(sorted(modules))}, which this Python lacks: {SETUP}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that failed after trying to import a module this Python lacks (directly, or
    through the CLI's one-line error) is reported skipped, naming the module."""
    report = yield
    recorder = item.config.stash.get(_RECORDER, None)
    if recorder is None:
        return report
    if report.failed and recorder.tried:
        report.outcome = "skipped"
        report.longrepr = (
            str(item.path),
            (item.location[1] or 0) + 1,
            _skipped_for(recorder.tried),
        )
    if call.when == "teardown":
        recorder.tried.clear()
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A test file that cannot be imported only because a required module is missing is skipped."""
    recorder = collector.config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.tried.clear()
    report = yield
    if recorder is not None and report.failed and recorder.tried:
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), 0, _skipped_for(recorder.tried))
        recorder.tried.clear()
    return report


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
