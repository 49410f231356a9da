"""planner.sources.kustomize: detection, the choice of binary, real rendering, a missing tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from planner.errors import ToolFailedError, ToolMissingError
from planner.sources.kustomize import (
    KUSTOMIZATION_FILES,
    is_kustomization_dir,
    kustomize_argv,
    render_kustomization,
)
from tests.sources.conftest import kustomize_available, service_yaml, write


@pytest.mark.parametrize("name", KUSTOMIZATION_FILES)
def test_each_kustomization_file_name_marks_a_kustomize_directory(
    tmp_path: Path, name: str
) -> None:
    assert not is_kustomization_dir(tmp_path)
    write(tmp_path / name, "resources: []\n")
    assert is_kustomization_dir(tmp_path)


def test_standalone_kustomize_is_preferred(tmp_path: Path, fake_bin: Callable[..., Path]) -> None:
    kubectl = fake_bin("kubectl", "exit 1\n")
    assert kustomize_argv("app") == [str(kubectl), "kustomize", "app"]
    kustomize = fake_bin("kustomize", "exit 1\n")
    assert kustomize_argv("app") == [str(kustomize), "build", "app"]


def test_without_kustomize_or_kubectl_the_message_names_both(
    fake_bin: Callable[..., Path],
) -> None:
    with pytest.raises(ToolMissingError) as caught:
        kustomize_argv("app")
    assert caught.value.tool == "kustomize"
    assert "or kubectl, which includes it as `kubectl kustomize`" in str(caught.value)


@pytest.mark.skipif(not kustomize_available(), reason="neither kustomize nor kubectl is installed")
def test_real_kustomize_renders_an_overlay(tmp_path: Path) -> None:
    write(tmp_path / "base" / "svc.yaml", service_yaml("dns"))
    write(tmp_path / "base" / "kustomization.yaml", "resources:\n- svc.yaml\n")
    write(
        tmp_path / "prod" / "kustomization.yaml",
        "resources:\n- ../base\nnamespace: edge\nnamePrefix: prod-\n",
    )
    out = render_kustomization(tmp_path / "prod")
    assert "name: prod-dns" in out
    assert "namespace: edge" in out


@pytest.mark.skipif(not kustomize_available(), reason="neither kustomize nor kubectl is installed")
def test_a_broken_kustomization_is_a_tool_failure_with_its_stderr(tmp_path: Path) -> None:
    write(tmp_path / "kustomization.yaml", "resources:\n- missing.yaml\n")
    with pytest.raises(ToolFailedError) as caught:
        render_kustomization(tmp_path)
    assert caught.value.returncode != 0
    assert "missing.yaml" in caught.value.stderr
