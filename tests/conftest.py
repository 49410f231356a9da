"""Shared fixtures: paths to the repo's samples; how a test reaches the stand-in kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "samples"


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def stand_in_subprocess(request: pytest.FixtureRequest) -> bool:
    """True for a test marked `kubectl_subprocess`: it runs the stand-in kubectl as a process.

    Other tests call the same fake in-process (tests/fakes/fake_cluster.py, `InProcessFake`).
    """
    return request.node.get_closest_marker("kubectl_subprocess") is not None
