"""plugins/pin-images with a stand-in `docker` on PATH: it rewrites every image ARG of a
Dockerfile to tag@digest. This proves the rewriting and the error paths, not that a real
registry answers as the stand-in does (no registry is reachable from the tests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "plugins" / "pin-images"
DIGEST = "sha256:" + "ab" * 32


def _stand_in_docker(bin_dir: Path, answer: str) -> None:
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!/bin/sh\necho '\"{answer}\"'\n")
    docker.chmod(0o755)


def _run(dockerfile: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}
    return subprocess.run(
        [str(SCRIPT), str(dockerfile)], env=env, capture_output=True, text=True, check=False
    )


def test_every_image_arg_gets_the_digest_and_other_lines_stay(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG PYTHON_IMAGE=python:3.12-slim-bookworm\n"
        f"ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.32.4@sha256:{'00' * 32}\n"
        "FROM ${PYTHON_IMAGE}\n"
    )
    _stand_in_docker(tmp_path / "bin", DIGEST)
    result = _run(dockerfile, tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    assert dockerfile.read_text().splitlines() == [
        f"ARG PYTHON_IMAGE=python:3.12-slim-bookworm@{DIGEST}",
        f"ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.32.4@{DIGEST}",
        "FROM ${PYTHON_IMAGE}",
    ]


def test_an_answer_that_is_not_a_digest_stops_it(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG PYTHON_IMAGE=python:3.12-slim-bookworm\n")
    _stand_in_docker(tmp_path / "bin", "unauthorized")
    result = _run(dockerfile, tmp_path / "bin")
    assert result.returncode == 1
    assert "no digest for python:3.12-slim-bookworm" in result.stderr
    assert dockerfile.read_text() == "ARG PYTHON_IMAGE=python:3.12-slim-bookworm\n"


def test_without_docker_it_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    result = _run(tmp_path / "Dockerfile", tmp_path / "bin")
    assert result.returncode == 2
    assert "docker is not on PATH" in result.stderr
