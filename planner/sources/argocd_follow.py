"""Following Argo CD Applications to the directories of this repository they sync.

An app-of-apps repository keeps its Applications in one directory (`argo/dns.yaml`) and what
they sync elsewhere (`spec.source.path: apps/dns`); Argo CD renders each source on its own.
Reading only the Applications would check none of their Services (a silent pass), so
`load_sources` reads each source directory too, as Argo CD's repo server reads it: Chart.yaml →
helm, a kustomization → kustomize, else the directory's manifest files (docs/argocd.md,
"Applications followed"). What cannot be followed is one `Unrendered` per Application, counted
in the verdict as an unrendered HelmRelease is.

    >>> following = follow_applications(objects, "argo/dns.yaml", repo, GitView())  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import Origin, PlannerError, ToolMissingError
from planner.objects import KubeObject
from planner.sources.argocd_env import NotEvaluated
from planner.sources.argocd_helm import Chart, helm_options
from planner.sources.argocd_kustomize import KustomizeSource, is_set, kustomize_rewrite
from planner.sources.desired import APPLICATION_KINDS, Source
from planner.sources.documents import MANIFEST_SUFFIXES, manifest_files
from planner.sources.flux_repository import Repository, plain
from planner.sources.helm import is_chart_dir
from planner.sources.helm_fetch import ASK, OCI_SCHEME, ChartFetcher, FetchFailed, RemoteChart
from planner.sources.kustomize import is_kustomization_dir
from planner.sources.safety import inside
from planner.sources.states import Unrendered
from planner.tools import INSTALL_HINTS, run_tool

ARGO_API_PREFIX = "argoproj.io/"
# Argo CD's names for the cluster it runs in (its default cluster secret).
IN_CLUSTER_SERVERS = frozenset(
    {"https://kubernetes.default.svc", "https://kubernetes.default.svc/"}
)
IN_CLUSTER_NAME = "in-cluster"
# Revisions that mean "the branch the repository's HEAD points at": the checkout stands for it.
HEAD_REVISIONS = frozenset({"", "HEAD"})
_SCP_LIKE = re.compile(r"(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!//).*)")  # git@host:owner/repo
NOT_FOLLOWED = "not followed"
JSONNET_SUFFIX = ".jsonnet"  # Argo CD evaluates these in a plain directory; the planner does not
_READ_SUFFIXES = MANIFEST_SUFFIXES | {JSONNET_SUFFIX}


@dataclass(frozen=True)
class GitFacts:
    """What git says of the repository: its remotes (normalised), checked-out branch (None when
    detached) and the names of its local and remote-tracking branches."""

    remotes: frozenset[str]
    branch: str | None
    branches: frozenset[str]


@dataclass
class GitView:
    """Where git is asked about the repository the sources lie in: `top` when the caller knows
    it (--live-git reads a tree exported at the ref, which has no .git), else the repository's
    root. Each is asked once."""

    top: Path | None = None
    _facts: dict[Path, GitFacts | None] = field(default_factory=dict)

    def facts_of(self, repository: Repository) -> GitFacts | None:
        """The repository's git facts, or None outside a git work tree (or without git)."""
        top = self.top or repository.root
        if top not in self._facts:
            self._facts[top] = read_git_facts(top)
        return self._facts[top]


@dataclass(frozen=True)
class Following:
    """What the Applications among some objects sync from this repository: the sources to read,
    notes on what was followed with a caveat, and one entry per Application not followed."""

    # each followed directory with its sources
    sources: list[tuple[Path, list[Source]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unfollowed: list[Unrendered] = field(default_factory=list)


@dataclass(frozen=True)
class _App:
    """One Application as the following needs it: its name, origin and destination namespace."""

    obj: KubeObject
    origin: Origin
    namespace: str | None  # spec.destination.namespace: where objects without one land

    @property
    def name(self) -> str:
        return f"Application {self.obj.key.namespace}/{self.obj.key.name}"


def is_argo_application(body: Mapping[str, Any]) -> bool:
    """True for an Argo CD Application or ApplicationSet (argoproj.io)."""
    return body.get("kind") in APPLICATION_KINDS and str(body.get("apiVersion", "")).startswith(
        ARGO_API_PREFIX
    )


def follow_applications(
    objects: Iterable[KubeObject],
    label: str,
    repository: Repository | None,
    git: GitView,
    charts: ChartFetcher | None = None,
) -> Following:
    """The source directories in `repository` that the Applications among `objects` (read from
    the source `label`) sync, the remote Helm charts they name pulled by `charts` (None: not
    fetched), and what is not followed (an ApplicationSet, another repository, ...), said."""
    following = Following()
    for obj in objects:
        if not is_argo_application(obj.body):
            continue
        origin = obj.origin or Origin(label)
        if obj.key.kind == "ApplicationSet":  # Argo CD generates its Applications at run time
            why = "the Applications it generates are not known before Argo CD generates them"
            name = f"ApplicationSet {obj.key.namespace}/{obj.key.name}"
            following.unfollowed.append(
                Unrendered(name, origin, why, "ApplicationSet", NOT_FOLLOWED)
            )
            continue
        _follow(obj, origin, repository, git, charts, following)
    return following


def _follow(
    obj: KubeObject,
    origin: Origin,
    repository: Repository | None,
    git: GitView,
    charts: ChartFetcher | None,
    into: Following,
) -> None:
    """Add what one Application syncs from `repository` to `into`, or why it is not followed."""
    spec = plain(obj.body.get("spec"))
    destination = plain(spec.get("destination"))
    namespace = destination.get("namespace")
    app = _App(obj, origin, namespace if isinstance(namespace, str) and namespace else None)
    reasons: list[str] = []
    elsewhere = _other_cluster(destination)
    if elsewhere:
        reasons.append(elsewhere)
    elif repository is None:  # stdin outside any repository
        reasons.append("no repository holds its source")
    else:
        facts = git.facts_of(repository)
        sources = _sources_of(spec)
        refs = _ref_roots(sources, repository, facts)
        for source in sources:
            if source.get("chart") or str(source.get("repoURL") or "").startswith(OCI_SCHEME):
                reason = _read_remote_chart(app, source, refs, charts, into)
            else:
                reason = _follow_source(app, source, repository, facts, refs, into)
            if reason:
                reasons.append(reason)
    if reasons:
        into.unfollowed.append(
            Unrendered(app.name, origin, "; ".join(reasons), "Application", NOT_FOLLOWED)
        )


def _sources_of(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`spec.sources` when set (Argo CD then ignores `spec.source`), else `spec.source`."""
    sources = spec.get("sources")
    if isinstance(sources, list) and sources:
        return [plain(source) for source in sources]
    return [plain(spec.get("source"))]


def _other_cluster(destination: Mapping[str, Any]) -> str:
    """Why the destination is not the cluster Argo CD runs in ("" when it is)."""
    server, name = destination.get("server"), destination.get("name")
    if server and server not in IN_CLUSTER_SERVERS:
        return (
            f"its destination is the cluster {_shown(str(server))}, not in-cluster: "
            "its Services are not in this plan"
        )
    if name and name != IN_CLUSTER_NAME:
        return (
            f"its destination is the cluster named `{name}`, not in-cluster: "
            "its Services are not in this plan"
        )
    if not server and not name:
        return "it names no destination cluster (Argo CD syncs nothing)"
    return ""


def _follow_source(
    app: _App,
    source: Mapping[str, Any],
    repository: Repository,
    facts: GitFacts | None,
    refs: Mapping[str, Path | None],
    into: Following,
) -> str:
    """Add one source's directory to `into` when it is in this repository; else why not."""
    if "path" not in source and source.get("ref"):
        return ""  # only lends its files to other sources (`$ref/values.yaml`): renders nothing
    if plain(source.get("plugin")):
        return "its source's `plugin` settings are not evaluated"
    elsewhere = _elsewhere(source, facts)
    if elsewhere:
        return elsewhere
    revision = str(source.get("targetRevision") or "").strip()
    if facts is not None and revision not in HEAD_REVISIONS and revision != facts.branch:
        into.notes.append(
            f"{app.origin}: {app.name}: targetRevision `{revision}` is not the checked-out "
            f"branch ({facts.branch or 'detached HEAD'}); its source was read as checked out"
        )
    return _read_directory(app, source, repository, refs, into)


def _elsewhere(source: Mapping[str, Any], facts: GitFacts | None) -> str:
    """Why a source's files are not this checkout's ("" when they are): another repository, or a
    revision that is neither HEAD nor a branch of it."""
    url = _shown(str(source.get("repoURL") or ""))
    if facts is None or not facts.remotes:
        return f"its source {url} cannot be compared with this repository (it has no git remote)"
    if normalised_url(str(source.get("repoURL") or "")) not in facts.remotes:
        return f"its source {url} is not a remote of this repository"
    revision = str(source.get("targetRevision") or "").strip()
    if revision not in HEAD_REVISIONS | facts.branches and revision != facts.branch:
        return f"its source is at revision `{revision}`, not the checked-out branch"
    return ""


def _ref_roots(
    sources: list[Mapping[str, Any]], repository: Repository, facts: GitFacts | None
) -> dict[str, Path | None]:
    """Each `ref` source's root, for `$ref/…` value files: this repository's when it is read
    here, else None."""
    return {
        str(source["ref"]): None if _elsewhere(source, facts) else repository.root
        for source in sources
        if source.get("ref")
    }


def _read_directory(
    app: _App,
    source: Mapping[str, Any],
    repository: Repository,
    refs: Mapping[str, Path | None],
    into: Following,
) -> str:
    """Add the sources of the source's directory to `into`, or say why it cannot be read."""
    path = str(source.get("path") or ".").strip()
    directory, problem = _directory_of(path, repository)
    if directory is None:
        return f"its path `{path}` {problem}"
    kustomize = plain(source.get("kustomize"))
    if is_set(kustomize):  # settings name the tool: Argo CD then detects none
        if plain(source.get("helm")):
            return "its source has both `helm` and `kustomize` settings (Argo CD renders neither)"
        return _read_kustomization(app, source, kustomize, directory, repository, into)
    if is_chart_dir(directory):  # Argo CD checks Chart.yaml before a kustomization
        return _read_chart(app, source, directory, repository, refs, into)
    if plain(source.get("helm")):
        return f"its source has `helm` settings, but `{path}` holds no Chart.yaml"
    sources, jsonnet = _sources_in(directory, repository.label(directory), app, source)
    # nothing outside the repository is read (docs/security.md): a file linking out is not
    escaped = [found.label for found in sources if repository.relative(found.path) is None]
    into.sources.append((directory, [s for s in sources if s.label not in escaped]))
    if escaped:
        return f"`{'`, `'.join(escaped)}` links outside the repository and was not read"
    if jsonnet:
        return f"its Jsonnet files are not evaluated ({', '.join(jsonnet)})"
    return ""


def _read_chart(
    app: _App,
    source: Mapping[str, Any],
    directory: Path,
    repository: Repository,
    refs: Mapping[str, Path | None],
    into: Following,
) -> str:
    """Add a chart directory to `into`, rendered with the source's `helm` settings as Argo CD
    renders it (argocd_helm.py), or say which setting cannot be evaluated."""
    environment = _environment(app, source)
    chart = Chart(directory, repository, app.obj.key.name, app.namespace, environment, refs)
    try:
        options = helm_options(plain(source.get("helm")), chart)
    except NotEvaluated as why:
        return str(why)
    label = repository.label(directory)
    into.sources.append(
        (
            directory,
            [Source(directory, label, "helm", default_namespace=app.namespace, helm=options)],
        )
    )
    return ""


def _read_remote_chart(
    app: _App,
    source: Mapping[str, Any],
    refs: Mapping[str, Path | None],
    charts: ChartFetcher | None,
    into: Following,
) -> str:
    """Add a chart of a Helm repository to `into`, pulled by helm and rendered with the source's
    `helm` settings as Argo CD renders it (value files relative to the pulled chart, or
    `$ref/…`), or say why it is not: not asked to fetch, a pull that failed, a setting."""
    try:
        remote = _remote_chart(source)
    except NotEvaluated as why:
        return str(why)
    if charts is None:
        return f"its source is the Helm chart {remote}, which is not fetched; {ASK}"
    try:
        fetched = charts.fetch(remote)
    except FetchFailed as why:
        return f"its Helm chart {remote}: {why}"
    except ToolMissingError as err:
        hint = f"{INSTALL_HINTS['helm']}, to fetch the Helm chart {remote} of {app.name}"
        raise ToolMissingError(err.tool, hint) from err
    pulled = Repository(fetched.directory, "")  # `/…` value files: the chart's root, in Argo CD
    environment = _environment(app, source)
    chart = Chart(fetched.directory, pulled, app.obj.key.name, app.namespace, environment, refs)
    try:
        options = helm_options(plain(source.get("helm")), chart)
    except NotEvaluated as why:
        return str(why)
    into.notes.append(f"{app.origin}: {app.name} rendered from {fetched}")
    label = f"{fetched.name}-{fetched.version}.tgz"  # the name helm gives the archive
    rendered = Source(fetched.archive, label, "helm", default_namespace=app.namespace, helm=options)
    into.sources.append((fetched.directory, [rendered]))
    return ""


def _remote_chart(source: Mapping[str, Any]) -> RemoteChart:
    """The chart of a Helm chart source: `chart` of the `repoURL` repository (http(s); OCI when
    it starts with oci:// or has no scheme, as Argo CD writes an OCI registry) at the version
    (or constraint) `targetRevision`; or, without `chart` (Argo CD 3.1's OCI source), the
    `oci://…/NAME` artifact itself at the tag or digest `targetRevision`."""
    url = str(source.get("repoURL") or "").strip().rstrip("/")
    version = str(source.get("targetRevision") or "").strip()
    if not source.get("chart"):
        return _oci_artifact(url, str(source.get("path") or ".").strip(), version)
    name = str(source["chart"]).strip()
    if not version:
        raise NotEvaluated(f"its Helm chart `{name}` names no `targetRevision` (its version)")
    scheme = urllib.parse.urlsplit(url).scheme if "://" in url else ""
    if scheme in ("http", "https"):
        return RemoteChart(url, name, version)
    if (scheme == "oci" or (not scheme and "@" not in url)) and url:  # not git@host:path
        return RemoteChart(OCI_SCHEME + url.removeprefix(OCI_SCHEME), name, version)
    raise NotEvaluated(f"its Helm chart `{name}` comes from {_shown(url) or 'no repoURL'}")


def _oci_artifact(url: str, path: str, version: str) -> RemoteChart:
    """An OCI source read as the Helm chart it holds (its `path` must then be `.`)."""
    if path not in (".", "./"):
        raise NotEvaluated(f"its OCI source {_shown(url)} is read at `{path}`, not evaluated")
    if not version:
        raise NotEvaluated(f"its OCI source {_shown(url)} names no `targetRevision`")
    parent, _, name = url.rpartition("/")
    if version.startswith("sha256:"):
        return RemoteChart(parent, name, digest=version)
    return RemoteChart(parent, name, version)


def _read_kustomization(
    app: _App,
    source: Mapping[str, Any],
    settings: Mapping[str, Any],
    directory: Path,
    repository: Repository,
    into: Following,
) -> str:
    """Add a kustomization directory to `into`, built with the source's `kustomize` settings
    as Argo CD builds it (argocd_kustomize.py), or say which setting cannot be evaluated."""
    by = f"the kustomize settings of {app.name}"
    located = KustomizeSource(directory, repository, _environment(app, source), by)
    try:
        rewritten = kustomize_rewrite(settings, located)
    except NotEvaluated as why:
        return str(why)
    label = repository.label(directory)
    built = Source(
        directory, label, "kustomize", default_namespace=app.namespace, kustomization=rewritten
    )
    into.sources.append((directory, [built]))
    return ""


def _environment(app: _App, source: Mapping[str, Any]) -> dict[str, str]:
    """The build environment Argo CD expands value file paths, parameters, images and labels
    against (its revision variables excepted: argocd_env.py refuses them)."""
    return {
        "ARGOCD_APP_NAME": app.obj.key.name,
        "ARGOCD_APP_NAMESPACE": app.namespace or "",
        "ARGOCD_APP_PROJECT_NAME": str(plain(app.obj.body.get("spec")).get("project") or ""),
        "ARGOCD_APP_SOURCE_REPO_URL": str(source.get("repoURL") or ""),
        "ARGOCD_APP_SOURCE_PATH": str(source.get("path") or ""),
        "ARGOCD_APP_SOURCE_TARGET_REVISION": str(source.get("targetRevision") or ""),
    }


def _directory_of(path: str, repository: Repository) -> tuple[Path | None, str]:
    """The repository directory `path` (from the root) names, or None and what is wrong."""
    relative = posixpath.normpath(path.lstrip("/")) if path not in ("", "/") else "."
    directory = Path(os.path.normpath(repository.root / relative))
    try:  # resolved: a symlink out of the repository is outside too
        if not inside(directory.resolve(), repository.root.resolve()):
            return None, "lies outside the repository"
        if directory.is_dir():
            return directory, ""
    except (OSError, RuntimeError):  # a name too long, a symlink loop (RuntimeError before 3.13)
        pass
    return None, "is not a directory of the repository"


def _sources_in(
    directory: Path, label: str, app: _App, source: Mapping[str, Any]
) -> tuple[list[Source], list[str]]:
    """How Argo CD reads a source directory that is not a chart: kustomize, or its manifest files
    (top level unless `directory.recurse`, filtered by `include`/`exclude`; hidden entries
    skipped, each directory's files before its subdirectories); and its Jsonnet files."""
    if is_kustomization_dir(directory):
        return [Source(directory, label, "kustomize", default_namespace=app.namespace)], []
    settings = plain(source.get("directory"))
    include = _patterns(settings.get("include"))
    exclude = _patterns(settings.get("exclude"))
    sources, jsonnet = [], []
    recurse = settings.get("recurse") is True
    for path in manifest_files(directory, _READ_SUFFIXES, recurse=recurse):
        relative = path.relative_to(directory).as_posix()
        if (include and not _matches(relative, include)) or _matches(relative, exclude):
            continue
        file_label = f"{label}/{relative}" if label != "." else relative
        if path.suffix == JSONNET_SUFFIX:
            jsonnet.append(file_label)
        else:
            sources.append(Source(path, file_label, "file", default_namespace=app.namespace))
    return sources, jsonnet


def _patterns(value: Any) -> list[str]:
    """Argo CD's include/exclude glob: `{a,b}` lists alternatives."""
    text = str(value or "").strip()
    if text.startswith("{") and text.endswith("}"):
        return [part.strip() for part in text[1:-1].split(",") if part.strip()]
    return [text] if text else []


def _matches(relative: str, patterns: list[str]) -> bool:
    # Argo CD matches without a separator: `*` crosses directories, as fnmatch's does
    return any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns)


def normalised_url(url: str) -> str:
    """A git URL as `host/owner/repo`: scheme, user, port, trailing `.git` and `/` dropped, the
    host in lower case (https, ssh and scp-like `git@host:owner/repo` name one repository)."""
    text = url.strip()
    scp = _SCP_LIKE.fullmatch(text)
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        host, path = parts.hostname or "", parts.path
    elif scp is not None:
        host, path = scp["host"], scp["path"]
    else:  # a local path
        host, path = "", text
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{host.lower()}/{path}"


def _shown(url: str) -> str:
    """`url` without the credentials it may carry (`https://user:token@host/...`): secret
    values never appear in messages."""
    parts = urllib.parse.urlsplit(url)
    if "://" not in url or "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def read_git_facts(top: Path) -> GitFacts | None:
    """The remotes and branches git knows at `top`; None outside a git work tree or without git."""
    if not (top / ".git").exists():
        return None
    try:
        urls = _git(top, "config", "--get-regexp", r"^remote\..*\.(push)?url$")
        branch = _git(top, "symbolic-ref", "--quiet", "--short", "HEAD").strip() or None
        refs = _git(top, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")
    except PlannerError:  # git is missing
        return None
    keys_and_urls = [line.partition(" ")[::2] for line in urls.splitlines()]
    remotes = frozenset(normalised_url(url) for _, url in keys_and_urls)
    # `remote.NAME.url`: NAME may hold dots
    names = {key.removeprefix("remote.").rsplit(".", 1)[0] for key, _ in keys_and_urls}
    return GitFacts(remotes, branch, frozenset(_branch_names(refs.splitlines(), names)))


def _git(top: Path, *args: str) -> str:
    """git's output, or "" when it exits non-zero (no remote, a detached HEAD)."""
    from planner.errors import ToolFailedError

    try:
        return run_tool(["git", "-C", str(top), *args])
    except ToolFailedError:
        return ""


def _branch_names(refs: list[str], remotes: set[str]) -> Iterator[str]:
    """Branch names of `refs/heads/NAME` and `refs/remotes/REMOTE/NAME`."""
    for ref in refs:
        if ref.startswith("refs/heads/"):
            yield ref.removeprefix("refs/heads/")
        for remote in remotes:
            if ref.startswith(f"refs/remotes/{remote}/"):
                yield ref.removeprefix(f"refs/remotes/{remote}/")
