"""Shared fixtures: paths to the repo's samples; how a test reaches the stand-in kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "samples"


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
