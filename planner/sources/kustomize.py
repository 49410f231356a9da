"""Rendering a kustomization directory with `kustomize build` or, failing that, `kubectl kustomize`.

>>> is_kustomization_dir(Path("overlays/prod"))  # doctest: +SKIP
True
"""

from __future__ import annotations

from pathlib import Path

from planner.errors import ToolMissingError
from planner.tools import INSTALL_HINTS, find_tool, run_tool

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def is_kustomization_dir(directory: Path) -> bool:
    """True when `directory` holds a kustomization file."""
    return any((directory / name).is_file() for name in KUSTOMIZATION_FILES)


def kustomize_argv(directory: str) -> list[str]:
    """argv rendering `directory`: standalone kustomize when on PATH, else kubectl's built-in one."""
    try:
        return [find_tool("kustomize"), "build", directory]
    except ToolMissingError:
        pass
    try:
        return [find_tool("kubectl"), "kustomize", directory]
    except ToolMissingError:
        raise ToolMissingError("kustomize", INSTALL_HINTS["kustomize"]) from None


def render_kustomization(directory: Path) -> str:
    """The YAML stream `kustomize build` prints for `directory`."""
    return run_tool(kustomize_argv(str(directory)))
