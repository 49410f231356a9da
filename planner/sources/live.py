"""The live state: what the cluster runs, from a saved snapshot, from kubectl, or from a git ref.

    >>> live = load_live_file("snapshot.yaml")  # doctest: +SKIP
    >>> live.services["dns/dns-tcp"]["status"]  # doctest: +SKIP
    {'loadBalancer': {'ingress': [{'ip': '192.168.10.53'}]}}

`--live-git REF` reads the desired sources as they were at REF instead (the pull-request check
without cluster access): its state has `from_git=True` and no statuses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from planner.collector import collector_paused
from planner.errors import InputError, ToolFailedError
from planner.objects import KubeObject
from planner.sources.desired import (
    STDIN,
    STDIN_LABEL,
    Named,
    Source,
    find_named,
    load_sources,
    read_stdin,
)
from planner.sources.documents import parse_snapshot, read_documents
from planner.sources.flux_build import FluxContext
from planner.sources.helm import HelmOptions
from planner.sources.kinds import check_unique, namespaces_of, pools_of, services_of, to_objects
from planner.sources.pools import find_pools, repository_pools, with_context_pools
from planner.sources.states import DesiredState, LiveState
from planner.tools import run_tool

LIVE_FILE = "file"
LIVE_KUBECTL = "kubectl"
LIVE_GIT = "git"


def live_state(
    objects: list[KubeObject], notes: Iterable[str] = (), from_git: bool = False
) -> LiveState:
    """A LiveState from objects (duplicates are an error)."""
    check_unique(objects)
    return LiveState(
        objects=objects,
        services=services_of(objects),
        pools=pools_of(objects),
        namespaces=namespaces_of(objects),
        from_git=from_git,
        notes=list(notes),
    )


@collector_paused
def load_live_file(path: str) -> LiveState:
    """A snapshot saved from `kubectl get svc,ipaddresspools.metallb.io,namespaces -A -o json`
    (or `-o yaml`: a List or a stream of documents; JSON when the file ends in .json, or on
    stdin ("-") when it starts with `{`)."""
    if path == STDIN:
        parsed = parse_snapshot(read_stdin(None), STDIN_LABEL)
        objects, notes = to_objects(parsed.documents)
        return live_state(objects, parsed.notes + notes)
    disk = Path(path)
    if not disk.exists():
        raise InputError(f"the live snapshot `{path}` does not exist")
    parsed = read_documents(disk, path, pipes=True, snapshot=True)  # `--live <(kubectl ...)`
    objects, notes = to_objects(parsed.documents)
    return live_state(objects, parsed.notes + notes)


@collector_paused
def load_live_kubectl(context: str | None = None, kubeconfig: str | None = None) -> LiveState:
    """Read the live state from the cluster with kubectl (read-only: one `kubectl get`).

    The call itself goes through planner.kubectl, the only code that runs kubectl.
    """
    from planner.kubectl import LIVE_RESOURCES, Kubectl  # only this source runs kubectl

    text = Kubectl(context, kubeconfig).get_live_state()
    label = f"kubectl get {LIVE_RESOURCES}" + (f" (context {context})" if context else "")
    return live_state_from_yaml(text, label)


def live_state_from_yaml(text: str, label: str) -> LiveState:
    """A LiveState from what `kubectl get ... -o json` (or `-o yaml`) printed (`label` names it
    in messages)."""
    parsed = parse_snapshot(text, label, "kubectl")
    objects, notes = to_objects(parsed.documents)
    return live_state(objects, parsed.notes + notes)


@collector_paused
def load_live_git(
    ref: str,
    paths: Sequence[str],
    repo: str | None = None,
    helm: HelmOptions | None = None,
) -> LiveState:
    """The desired sources `paths` as they were at git `ref`, rendered as at that ref.

    `paths` are as on the command line (relative to the current directory); the repository is
    the one holding `repo` (default: the current directory). A path missing at `ref` reads as empty.
    """
    if STDIN in paths:
        raise InputError('--live-git cannot read stdin ("-") as it was at a git ref')
    import tempfile  # only a git ref needs a scratch tree

    from planner.sources.flux_repository import Repository  # the tree's Flux sources

    top = _repo_top(repo or ".")
    commit = _resolve_commit(top, ref)
    with tempfile.TemporaryDirectory(prefix="planner-git-") as scratch:
        tree = Path(scratch) / "tree"
        _export_tree(top, commit, tree, Path(scratch) / "tree.tar")
        sources, notes = _sources_at_ref(paths, top, tree, ref)
        at_ref = Repository(tree, f"{ref}:")  # Flux sources and variables as at the ref
        desired = load_sources(
            sources,
            helm=_helm_at_ref(helm, top, tree),
            repository=at_ref,
            git_top=top,
            at_ref=True,
        )
        state = live_state(desired.objects, notes + desired.notes, from_git=True)
        state = dataclasses.replace(state, unrendered=desired.unrendered, ref=ref, commit=commit)
        # the pools may live anywhere in the repository, not only under `paths`
        pools = repository_pools(tree, f"{ref}:", FluxContext(at_ref))
        return with_context_pools(state, pools)


def _repo_top(directory: str) -> Path:
    """The top directory of the git work tree holding `directory`."""
    try:
        out = run_tool(["git", "-C", directory, "rev-parse", "--show-toplevel"])
    except ToolFailedError as err:
        raise InputError(f"--live-git needs a git repository; `{directory}` is not in one") from err
    return Path(out.strip())


def _resolve_commit(top: Path, ref: str) -> str:
    """The commit id `ref` names, or InputError (a ref that looks like an option included)."""
    if ref.startswith("-"):
        raise InputError(f"`{ref}` is not a git ref")
    try:
        out = run_tool(
            ["git", "-C", str(top), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
        )
    except ToolFailedError as err:
        message = f"`{ref}` is not a commit in the git repository at {top} (in CI, fetch it first)"
        raise InputError(message) from err
    return out.strip()


def _export_tree(top: Path, commit: str, tree: Path, archive: Path) -> None:
    """Write the files of `commit` under `tree` (git archive; the work tree is not touched)."""
    import tarfile  # only a git ref is unpacked

    run_tool(["git", "-C", str(top), "archive", "--format=tar", f"--output={archive}", commit])
    tree.mkdir()
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse links out of the tree
            tar.extractall(tree, filter="data")
        else:  # pragma: no cover - older 3.11 patch releases
            tar.extractall(tree)  # the archive is git's own output


def _sources_at_ref(
    paths: Sequence[str], top: Path, tree: Path, ref: str
) -> tuple[list[Source | Named], list[str]]:
    """Sources of each path inside the exported tree, labelled `REF:path`; notes for absent ones."""
    sources: list[Source | Named] = []
    notes: list[str] = []
    for path in paths:
        relative = _relative_to_repo(path, top)
        label = f"{ref}:{relative.as_posix()}" if relative.parts else f"{ref}:"
        at_ref = tree / relative
        if at_ref.exists():
            sources.append(find_named(str(at_ref), label))
        else:
            notes.append(f"{label}: does not exist at {ref}; read as empty")
    return sources, notes


def _exists_at_ref(ref: str, path: str) -> bool:
    """Whether `path` (relative to the current directory) names a file or tree at git `ref`."""
    top = _repo_top(".")
    commit = _resolve_commit(top, ref)
    relative = _relative_to_repo(path, top).as_posix()
    try:
        run_tool(["git", "-C", str(top), "cat-file", "-e", f"{commit}:{relative or '.'}"])
    except ToolFailedError:
        return False
    return True


def _relative_to_repo(path: str, top: Path) -> PurePath:
    """`path` (relative to the current directory) relative to the repository top."""
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(top))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        raise InputError(f"`{path}` is outside the git repository at {top}")
    return PurePath("" if relative == os.curdir else relative)


def _helm_at_ref(helm: HelmOptions | None, top: Path, tree: Path) -> HelmOptions:
    """Helm options whose values files inside the repository are read as at the ref."""
    helm = helm or HelmOptions()
    values = []
    for values_file in helm.values:
        try:
            at_ref = tree / _relative_to_repo(values_file, top)
        except InputError:
            at_ref = Path(values_file)  # outside the repository: used as it is
        values.append(str(at_ref) if at_ref.exists() else values_file)
    return dataclasses.replace(helm, values=tuple(values))


@dataclass(frozen=True)
class LiveSource:
    """Where live state comes from: a snapshot file, kubectl (in a context), or a git ref."""

    kind: str  # LIVE_FILE | LIVE_KUBECTL | LIVE_GIT
    value: str | None = None  # the file path ("-": stdin), the kubeconfig context, or the git ref
    kubeconfig: str | None = None  # kubectl's --kubeconfig (LIVE_KUBECTL only)

    @classmethod
    def file(cls, path: str) -> LiveSource:
        return cls(LIVE_FILE, path)

    @classmethod
    def kubectl(cls, context: str | None = None, kubeconfig: str | None = None) -> LiveSource:
        return cls(LIVE_KUBECTL, context, kubeconfig)

    @classmethod
    def git(cls, ref: str) -> LiveSource:
        return cls(LIVE_GIT, ref)

    def describe(self, commit: str = "") -> str:
        """How reports name the source: "file PATH", "kubectl (context X)", "git REF" (with
        `commit`, the id the ref named when read: "git REF (commit 0123456789ab)")."""
        if self.kind == LIVE_KUBECTL:
            return f"kubectl (context {self.value})" if self.value else "kubectl"
        return f"{self.kind} {self.value}" + (f" (commit {commit[:12]})" if commit else "")

    def absent_paths(self, desired_paths: Sequence[str]) -> list[str]:
        """Desired paths that may be absent from the work tree: with a git ref, those that exist
        at the ref (the commit deletes them); a path in neither stays a bad input."""
        if self.kind != LIVE_GIT:
            return []
        missing = [p for p in desired_paths if p != STDIN and not os.path.lexists(p)]
        return [p for p in missing if _exists_at_ref(str(self.value), p)] if missing else []

    def sharing_builds(self) -> contextlib.AbstractContextManager[object]:
        """The context to read the desired state and then this live state in: with a git ref,
        a kustomize build at the ref whose inputs the work tree's had reuses its output
        (kustomize_reuse)."""
        if self.kind != LIVE_GIT:
            return contextlib.nullcontext()
        from planner.sources.kustomize_reuse import reuse_session

        return reuse_session()

    def load(self, desired_paths: Sequence[str], helm: HelmOptions) -> LiveState:
        """Read the live state; a git ref reads `desired_paths` as they were at that ref."""
        if self.kind == LIVE_FILE:
            return load_live_file(str(self.value))
        if self.kind == LIVE_KUBECTL:
            return load_live_kubectl(self.value, self.kubeconfig)
        return load_live_git(str(self.value), desired_paths, helm=helm)


def with_pools_from_elsewhere(
    desired: DesiredState, live: LiveState, source: LiveSource, pool_paths: Sequence[str] = ()
) -> tuple[DesiredState, LiveState]:
    """Both states with the pools of `--pools` PATHs as context; with `--live-git`, the desired
    state also holds the pools anywhere in the repository's work tree."""
    found = find_pools(pool_paths)
    desired, live = with_context_pools(desired, found), with_context_pools(live, found)
    if source.kind == LIVE_GIT:
        top = _repo_top(".")
        desired = with_context_pools(desired, repository_pools(top, "", FluxContext()))
    return desired, live
