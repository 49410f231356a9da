"""Rendering a kustomization directory with `kustomize build` or, failing that, `kubectl kustomize`.

>>> is_kustomization_dir(Path("overlays/prod"))  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from planner.errors import ToolFailedError, ToolMissingError
from planner.sources.documents import read_yaml_file
from planner.tools import INSTALL_HINTS, find_tool, run_tool

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Flux's kustomize-controller builds with kustomize's LoadRestrictionsNone (fluxcd/pkg kustomize
# `Build`), on a file system that denies what lies outside the source's root.
LOAD_ANYWHERE = "--load-restrictor=LoadRestrictionsNone"

# klog's structured line: `E1204 15:39:54.536851    9071 run.go:72] "command failed" err="..."`
_KLOG_QUOTED_ERROR = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err="(.*)"\s*$')


def kustomization_file(directory: Path) -> Path | None:
    """The directory's kustomization file (kustomize's first name found), None without one."""
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def read_kustomization(directory: Path, label: str) -> tuple[str, dict[str, Any]] | None:
    """The directory's kustomization file: its name and body (a mapping), None without one;
    InputError when it is not YAML."""
    path = kustomization_file(directory)
    if path is None:
        return None
    own = read_yaml_file(path, f"{label}/{path.name}")
    return path.name, dict(own) if isinstance(own, Mapping) else {}


def is_kustomization_dir(directory: Path) -> bool:
    """True when `directory` holds a kustomization file."""
    return kustomization_file(directory) is not None


def kustomize_argv(
    directory: str, load_anywhere: bool = False, helm: str = "", helm_flags: Sequence[str] = ()
) -> list[str]:
    """argv rendering `directory`: standalone kustomize when on PATH, else kubectl's built-in one;
    `load_anywhere` lifts kustomize's rule that files load only from below the kustomization's
    directory, as Flux's kustomize-controller builds (the caller keeps them in the repository);
    `helm` (a path) inflates `helmCharts` with that helm, as Argo CD's `--enable-helm` does,
    with `helm_flags` (`--helm-api-versions V`, ...)."""
    options = [LOAD_ANYWHERE] if load_anywhere else []
    if helm:
        options += ["--enable-helm", "--helm-command", helm, *helm_flags]
    try:
        return [find_tool("kustomize"), "build", *options, directory]
    except ToolMissingError:
        pass
    try:
        return [find_tool("kubectl"), "kustomize", *options, directory]
    except ToolMissingError:
        raise ToolMissingError("kustomize", INSTALL_HINTS["kustomize"]) from None


def render_kustomization(
    directory: Path,
    renamed: Mapping[str, str] | None = None,
    load_anywhere: bool = False,
    helm: str = "",
    helm_flags: Sequence[str] = (),
) -> str:
    """The YAML stream `kustomize build` prints for `directory` (`load_anywhere`, `helm`,
    `helm_flags`: as `kustomize_argv`); a failure's message has the paths in `renamed` written
    as their values (a temporary copy's path means nothing)."""
    try:
        return run_tool(kustomize_argv(str(directory), load_anywhere, helm, helm_flags))
    except ToolFailedError as err:
        reason = kustomize_error(err.stderr)
        argv = err.argv
        for path, shown in (renamed or {}).items():
            reason = reason.replace(path, shown)
            argv = [part.replace(path, shown) for part in argv]
        raise ToolFailedError(argv, err.returncode, reason) from err


def kustomize_error(stderr: str) -> str:
    """kustomize's own error line. `kubectl kustomize` prints it in a klog block
    (`... "command failed" err=<` / the error / ` >`), whose last line says nothing, or, for a
    one-line error, quoted after klog's header (`E1204 15:39:54.536851 9071 run.go:72]
    "command failed" err="..."`), whose header says nothing."""
    lines = stderr.splitlines()
    for number, line in enumerate(lines):
        quoted = _KLOG_QUOTED_ERROR.search(line)
        if quoted:
            return _go_unquote(quoted.group(1))
        if line.rstrip().endswith("err=<"):
            block = []
            for inner in lines[number + 1 :]:
                if inner.strip() == ">":
                    break
                block.append(inner.strip())
            return " ".join(part for part in block if part) or stderr
    # a block whose header was cut off (run_tool keeps stderr's tail): its last line says it
    kept = [
        line.strip()
        for line in lines
        if line.strip() not in ("", ">") and not line.startswith("# Warning:")
    ]
    return kept[-1] if kept else stderr


def _go_unquote(text: str) -> str:
    """A Go-quoted string's content (`%q`: JSON's escapes for what kustomize prints); as written
    when it holds an escape JSON does not know (`\\x1b`)."""
    try:
        value = json.loads(f'"{text}"')
    except ValueError:
        return text
    return value if isinstance(value, str) else text
