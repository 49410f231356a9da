"""The Flux pre-sync hook's re-run trigger: one digest of every file under the app's path.

A Job runs once; Flux runs it again only by replacing it, which it does when the Job's manifest
changes (`kustomize.toolkit.fluxcd.io/force: enabled`). Flux offers no variable holding the
source revision (kustomize-controller's post-build substitution knows only the variables it is
given), and kustomize can hash only files it is told by name. So `planner flux trigger` writes
the digest of the whole app path into one file of the hook (`app.sha256`); the hook's
configMapGenerator turns it into a hash-named ConfigMap the Job mounts, and any change under the
path (a new file included) gives the Job a new pod template. `--check` (pre-commit, CI) fails
when the digest is stale, so a forgotten update is an error, never a silent skip.

    >>> triggers = update_triggers([Path("clusters/prod/shared-ip-planner/dns")], check=True)
    >>> [t.digest_file for t in triggers if t.stale]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from planner import kube_yaml
from planner.errors import InputError, PlannerError
from planner.gitops.flux import normalised_path

TRIGGER_FILE = "app.sha256"
JOB_FILE = "job.yaml"
_HEADER = (
    "# Written by `planner flux trigger`: the sha256 of every file under {path}.\n"
    "# The pre-sync Job mounts it, so any change there re-runs the hook. Do not edit.\n"
)


@dataclass(frozen=True)
class Trigger:
    """One hook's digest file: what it holds now and what it should hold."""

    digest_file: Path
    app_dir: Path
    wanted: str
    current: str | None

    @property
    def stale(self) -> bool:
        return self.wanted != self.current


def update_triggers(
    hooks: Sequence[Path], root: Path | None = None, check: bool = False
) -> list[Trigger]:
    """The trigger of each hook directory; stale ones are rewritten unless `check`.

    `root` is the source artifact's root (the Git repository); by default the nearest directory
    above each hook holding `.git`.
    """
    triggers = [trigger_of(hook, root) for hook in hooks]
    if not check:
        for trigger in triggers:
            if trigger.stale:
                _write(trigger.digest_file, trigger.wanted)
    return triggers


def trigger_of(hook: Path, root: Path | None = None) -> Trigger:
    """The trigger of one hook directory: its Job's `--path` under `root`, digested."""
    base = root if root is not None else repository_root(hook)
    app_path = job_app_path(hook / JOB_FILE)
    app_dir = base / normalised_path(app_path)
    if not app_dir.is_dir():
        raise InputError(f"{hook / JOB_FILE}: --path {app_path} is no directory under {base}")
    digest_file = hook / TRIGGER_FILE
    wanted = _HEADER.format(path=app_path) + f"sha256:{app_digest(app_dir, skip=digest_file)}\n"
    current = digest_file.read_text(encoding="utf-8") if digest_file.is_file() else None
    return Trigger(digest_file, app_dir, wanted, current)


def repository_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `.git`."""
    for candidate in [start.resolve(), *start.resolve().parents]:
        if (candidate / ".git").exists():
            return candidate
    raise InputError(f"{start} is in no Git repository; give the artifact root with --root")


def job_app_path(job_file: Path) -> str:
    """The `--path` argument of the pre-sync Job in `job_file`."""
    try:
        documents = kube_yaml.load_all(job_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"{job_file}: cannot read the hook's Job: {err}") from err
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "Job":
            continue
        pod = ((document.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            args = [str(arg) for arg in container.get("args") or []]
            for flag, value in itertools.pairwise(args):
                if flag == "--path":
                    return value
            for arg in args:
                if arg.startswith("--path="):
                    return arg.removeprefix("--path=")
    raise InputError(f"{job_file}: no Job container passes --path to `planner flux pre-sync`")


def app_digest(app_dir: Path, skip: Path | None = None) -> str:
    """sha256 over every file under `app_dir` (its relative path and bytes), in path order.

    Hidden entries count too (a `.sourceignore` changes what Flux applies); `.git` and `skip`
    (the digest file itself, when the hook lies under the app) do not. A symbolic link counts by
    its target's name, so a link out of the tree changes nothing it does not name.
    """
    digest = hashlib.sha256()
    skipped = skip.resolve() if skip is not None else None
    for path in _files(app_dir):
        if skipped is not None and path.resolve() == skipped:
            continue
        name = path.relative_to(app_dir).as_posix().encode("utf-8")
        data = (
            b"link:" + os.readlink(path).encode("utf-8") if path.is_symlink() else path.read_bytes()
        )
        digest.update(b"%d:%s%d:" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    """Every file (and link) under `directory`, sorted by relative path; `.git` is left out."""
    found: list[Path] = []
    for current, dirs, files in os.walk(directory):  # links to directories are not followed
        base = Path(current)
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [base / name for name in files]
        found += [base / d for d in dirs if (base / d).is_symlink()]
    return sorted(found, key=lambda path: path.relative_to(directory).as_posix())


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise PlannerError(f"cannot write {path}: {err.strerror or err}") from err
