"""Rendering a kustomization directory with `kustomize build` or, failing that, `kubectl kustomize`.

>>> is_kustomization_dir(Path("overlays/prod"))  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from planner.errors import ToolFailedError, ToolMissingError
from planner.tools import INSTALL_HINTS, find_tool, run_tool

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: Path) -> Path | None:
    """The directory's kustomization file (kustomize's first name found), None without one."""
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def is_kustomization_dir(directory: Path) -> bool:
    """True when `directory` holds a kustomization file."""
    return kustomization_file(directory) is not None


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


def render_kustomization(directory: Path, renamed: Mapping[str, str] | None = None) -> str:
    """The YAML stream `kustomize build` prints for `directory`; a failure's message has the
    paths in `renamed` written as their values (a temporary copy's path means nothing)."""
    try:
        return run_tool(kustomize_argv(str(directory)))
    except ToolFailedError as err:
        reason = kustomize_error(err.stderr)
        argv = err.argv
        for path, shown in (renamed or {}).items():
            reason = reason.replace(path, shown)
            argv = [part.replace(path, shown) for part in argv]
        raise ToolFailedError(argv, err.returncode, reason) from err


def kustomize_error(stderr: str) -> str:
    """kustomize's own error line. `kubectl kustomize` prints it in a klog block
    (`... "command failed" err=<` / the error / ` >`), whose last line says nothing."""
    lines = stderr.splitlines()
    for number, line in enumerate(lines):
        if line.rstrip().endswith("err=<"):
            block = []
            for inner in lines[number + 1 :]:
                if inner.strip() == ">":
                    break
                block.append(inner.strip())
            return " ".join(part for part in block if part) or stderr
    kept = [line for line in lines if line.strip() and not line.startswith("# Warning:")]
    return kept[-1] if kept else stderr
