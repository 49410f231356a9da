"""`--live-git`: a kustomize build at the ref whose inputs are those of a work-tree build reuses
its output instead of running kustomize again.

A commit touches a few apps; at the ref, every other build repeats, byte for byte, one already
made in the work tree. Within one session (`reuse_session`, opened by the pipeline for
`--live-git`), each successful build records the files it can load, its closure: the
kustomization files of its directory and of every resource, component, generator and
transformer directory reached (and the absence of the other kustomization file names there),
every file they name, and each local Helm chart's whole tree. A build of the same repository,
at the same path below its root, with the same options (kustomize arguments, the Flux or Argo CD
fields written into its kustomization), whose recorded files all hold the same bytes on its side
is the same build: kustomize's output is a function of those. Anything the closure cannot
account for (a remote entry, a field not known here, a directory kustomize lists wholesale, a
symlink, a file missing, an output naming an absolute path) records nothing: built again.

    >>> with reuse_session():  # doctest: +SKIP
    ...     text, notes = reused_or_built(source, as_flux, flux, charts, build)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from planner import kube_yaml
from planner.sources.flux_build import git_root
from planner.sources.kustomize import KUSTOMIZATION_FILES
from planner.sources.safety import is_remote

if TYPE_CHECKING:
    from planner.sources.desired import Source
    from planner.sources.flux_build import FluxContext

# Fields that name no file (kustomize's Kustomization type, v5); any other field records nothing
_PLAIN_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "namePrefix",
        "nameSuffix",
        "namespace",
        "commonLabels",
        "labels",
        "commonAnnotations",
        "images",
        "replicas",
        "sortOptions",
        "generatorOptions",
        "vars",
        "buildMetadata",
    }
)
_BUILT_FIELDS = ("resources", "bases", "components")  # a file, or a kustomization directory
_PLUGIN_FIELDS = ("generators", "transformers", "validators")  # those, or inline YAML
_FILE_FIELDS = ("crds", "configurations")
_PATH_FIELDS = ("patches", "patchesJson6902", "replacements")  # entries' `path`
_GENERATOR_FIELDS = ("configMapGenerator", "secretGenerator")
_GENERATOR_KEYS = frozenset({"name", "namespace", "behavior", "literals", "files", "envs", "env"})
_GENERATOR_KEYS |= {"options", "type"}
_HELM_FIELDS = ("helmGlobals", "helmCharts")
_KNOWN_FIELDS = frozenset(
    {
        *_PLAIN_FIELDS,
        *_BUILT_FIELDS,
        *_PLUGIN_FIELDS,
        *_FILE_FIELDS,
        *_PATH_FIELDS,
        *_GENERATOR_FIELDS,
        *_HELM_FIELDS,
        "patchesStrategicMerge",
        "openapi",
    }
)
_DEFAULT_CHART_HOME = "charts"  # kustomize_helm's DEFAULT_CHART_HOME (not imported: helm_fetch)
# the private copies' and the exported tree's directory names: an output naming one is not reused
_SCRATCH_NAMES = ("shared-ip-planner-kustomize-", "planner-git-")

ABSENT = None  # a recorded path that must not exist
Closure = tuple[tuple[str, bytes | None], ...]  # (path below the root, its bytes or ABSENT)


class _Unaccounted(Exception):
    """The closure cannot be known exactly: build it again."""


@dataclass(frozen=True)
class BuildKey:
    """What makes two builds one besides their files: the repository (its work tree's top),
    the directory below its root, and everything else kustomize is handed."""

    repository: Path
    directory: str
    options: str


@dataclass(frozen=True)
class _Recorded:
    closure: Closure
    text: str


_recorded: dict[BuildKey, list[_Recorded]] | None = None  # the session's builds


@contextlib.contextmanager
def reuse_session() -> Iterator[None]:
    """Builds within it record their closures, and a later build with the same key and the same
    bytes reuses the output (one command's run: the same kustomize, helm and environment)."""
    global _recorded
    previous, _recorded = _recorded, {}
    try:
        yield
    finally:
        _recorded = previous


def reused_or_built(
    source: Source,
    as_flux: bool,
    flux: FluxContext | None,
    charts: bool,
    build: Callable[[], tuple[str, list[str]]],
    argo_cd: str = "",
) -> tuple[str, list[str]]:
    """`build()` (kustomize's output and notes for `source`, `as_flux` or as Argo CD builds it
    with the build options `argo_cd` says, `charts`: with --fetch-charts), or the output of a
    build already made with the same inputs in this session; outside a session, `build()`."""
    recorded_builds = _recorded
    if recorded_builds is None:
        return build()
    placed = _placed(source, as_flux, flux, charts, argo_cd)
    if placed is None:
        return build()
    root, key, given = placed
    for recorded in recorded_builds.get(key, []):
        if _holds(root, recorded.closure):
            return recorded.text, []
    text, notes = build()
    if not notes and not _names_a_path(text, (root, given)):  # notes: a chart pulled for this build
        try:
            closure = _closure(root, key.directory, source)
        except (_Unaccounted, OSError, yaml.YAMLError, ValueError):
            return text, notes
        recorded_builds.setdefault(key, []).append(_Recorded(closure, text))
    return text, notes


def _placed(
    source: Source, as_flux: bool, flux: FluxContext | None, charts: bool, argo_cd: str
) -> tuple[Path, BuildKey, Path] | None:
    """The root of the repository `source` is built from (real, and as given) and its key;
    None when it lies in none."""
    given = _root(source, flux)
    if given is None:
        return None
    root = Path(os.path.realpath(given))
    directory = Path(os.path.realpath(source.path))
    relative = os.path.relpath(os.path.abspath(source.path), os.path.abspath(given))
    if not directory.is_relative_to(root) or directory.relative_to(root) != Path(relative):
        return None  # outside the root, or a link along the way
    options = _options(source, as_flux, charts, argo_cd)
    key = BuildKey(_work_tree_of(root, flux), directory.relative_to(root).as_posix(), options)
    return root, key, given


def _work_tree_of(root: Path, flux: FluxContext | None) -> Path:
    """The repository `root` stands for: the work tree, for a tree exported at a ref from it."""
    if flux is None or flux.repository is None or flux.git_top is None:
        return root
    exported = Path(os.path.realpath(flux.repository.root))
    return Path(os.path.realpath(flux.git_top)) if root == exported else root


def _root(source: Source, flux: FluxContext | None) -> Path | None:
    """The root of the repository `source` is built from (desired's `_repository_root`)."""
    if source.kustomization is not None:
        return source.kustomization.root
    if source.build is not None:
        return source.build.root
    repository = flux.repository_of(source.path) if flux is not None else None
    return repository.root if repository is not None else git_root(source.path.resolve())


def _options(source: Source, as_flux: bool, charts: bool, argo_cd: str) -> str:
    """Everything the build is handed besides its files, as text: the paths in it made relative."""
    build = source.build
    fields = repr(dataclasses.replace(build, root=Path("."))) if build is not None else ""
    rewritten = source.kustomization
    own = (rewritten.name, rewritten.text) if rewritten is not None else None
    return repr((as_flux, charts, argo_cd, source.namespace, bool(source.part), fields, own))


def _names_a_path(text: str, roots: tuple[Path, ...]) -> bool:
    """Whether kustomize's output names the root or a private copy (it would differ elsewhere)."""
    named = (*(str(root) for root in roots), *_SCRATCH_NAMES)
    return any(name in text for name in named)


def _holds(root: Path, closure: Closure) -> bool:
    """Whether every recorded file holds the same bytes below `root` (and the absent are absent)."""
    for relative, recorded in closure:
        try:
            if _read(root, relative) != recorded:
                return False
        except (_Unaccounted, OSError):
            return False
    return True


def _read(root: Path, relative: str) -> bytes | None:
    """The bytes of a file below `root` (of a directory's listing, for `DIR/`), ABSENT when
    nothing is there; _Unaccounted for a link along the way (it could point anywhere)."""
    path = root / relative
    if not os.path.lexists(path):
        return ABSENT
    if os.path.realpath(path) != str(path):
        raise _Unaccounted(relative)
    if relative.endswith("/"):
        with os.scandir(path) as entries:
            names = sorted(e.name + "/" if e.is_dir() else e.name for e in entries)
        return "\n".join(names).encode()
    with open(path, "rb") as file:  # a directory raises IsADirectoryError
        return file.read()


def _closure(root: Path, top: str, source: Source) -> Closure:
    """Every file the build of `source` (in `top` below `root`) can load, with its bytes, as
    `_Walk` finds them."""
    walk = _Walk(root)
    own = None
    if source.kustomization is not None:
        own = _mapping(kube_yaml.load(source.kustomization.text))
    extra: tuple[str, ...] = ()
    if source.build is not None:
        extra = source.build.components
    walk.kustomization(top, own, extra)
    return tuple(sorted(walk.files.items()))


class _Walk:
    """The closure's files below `root`, read once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, bytes | None] = {}
        self.directories: set[str] = set()

    def kustomization(
        self, directory: str, own: Mapping[str, Any] | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        """A kustomization directory: its file (or `own` in its place), the other names absent
        or not, and what it names (`extra`: components added to it)."""
        if directory in self.directories and own is None and not extra:
            return
        self.directories.add(directory)
        found = [name for name in KUSTOMIZATION_FILES if self._file(_join(directory, name))]
        if own is None:
            if len(found) != 1:  # none: not a kustomization; several: kustomize refuses
                raise _Unaccounted(directory)
            text = (self.files[_join(directory, found[0])] or b"").decode()
            body = _mapping(kube_yaml.load(text))
        else:
            body = own
        self._entries(directory, body)
        for component in extra:
            self._built(directory, component)

    def _entries(self, directory: str, body: Mapping[str, Any]) -> None:
        unknown = set(body) - _KNOWN_FIELDS
        if unknown:
            raise _Unaccounted(f"{directory}: {sorted(unknown)}")
        for field_name in _BUILT_FIELDS:
            for entry in _strings(body, field_name):
                self._built(directory, entry)
        for field_name in (*_PLUGIN_FIELDS, "patchesStrategicMerge"):
            for written in _entries_of(body, field_name):
                if isinstance(written, str) and "\n" not in written.strip():
                    self._built(directory, written)  # a path (kustomize's reading of one line)
                elif not isinstance(written, (str, Mapping)):
                    raise _Unaccounted(field_name)
        for field_name in _FILE_FIELDS:
            for entry in _strings(body, field_name):
                self._loaded(directory, entry)
        for field_name in _PATH_FIELDS:
            for patch in _entries_of(body, field_name):
                path = patch.get("path") if isinstance(patch, Mapping) else None
                if path is not None:
                    self._loaded(directory, str(path))
        openapi = body.get("openapi")
        if isinstance(openapi, Mapping) and openapi.get("path") is not None:
            self._loaded(directory, str(openapi["path"]))
        for field_name in _GENERATOR_FIELDS:
            for generator in _entries_of(body, field_name):
                self._generator(directory, generator)
        self._charts(directory, body)

    def _generator(self, directory: str, generator: object) -> None:
        if not isinstance(generator, Mapping) or set(generator) - _GENERATOR_KEYS:
            raise _Unaccounted("a generator")
        files = [*_strings(generator, "files"), *_strings(generator, "envs")]
        if generator.get("env"):
            files.append(str(generator["env"]))
        for entry in files:
            self._loaded(directory, entry.split("=", 1)[1] if "=" in entry else entry)

    def _charts(self, directory: str, body: Mapping[str, Any]) -> None:
        """`helmCharts`: each entry's values files and the chart's whole tree where kustomize
        finds it (kustomize_helm's ChartUse.place); a chart it would pull is unaccounted."""
        charts = _entries_of(body, "helmCharts")
        globals_ = body.get("helmGlobals") or {}
        if not charts and not globals_:
            return
        if not isinstance(globals_, Mapping) or set(globals_) - {"chartHome"}:
            raise _Unaccounted("helmGlobals")  # configHome: helm's repositories, outside
        home = str(globals_.get("chartHome") or _DEFAULT_CHART_HOME)
        for chart in charts:
            if not isinstance(chart, Mapping) or not isinstance(chart.get("name"), str):
                raise _Unaccounted("helmCharts")
            values = [chart.get("valuesFile"), *_strings(chart, "additionalValuesFiles")]
            for values_file in values:
                if values_file:
                    self._loaded(directory, str(values_file))
            name, repo, version = chart["name"], chart.get("repo"), chart.get("version")
            place = _join(home, f"{name}-{version}/{name}" if repo and version else name)
            self._tree(self._relative(directory, place))

    def _built(self, directory: str, entry: str) -> None:
        """A resource, component or plugin entry: a kustomization directory or a file."""
        relative = self._relative(directory, entry)
        if os.path.isdir(self.root / relative):
            self.kustomization(relative)  # its file's realpath: no link along the way
        else:
            self._loaded(directory, entry)

    def _loaded(self, directory: str, entry: str) -> None:
        """A file kustomize loads: it must be there."""
        if self._file(self._relative(directory, entry)) is ABSENT:
            raise _Unaccounted(entry)

    def _tree(self, relative: str) -> None:
        """Every file below a directory helm reads wholesale (a chart), and each listing."""
        if not os.path.isdir(self.root / relative) or self._file(relative + "/") is ABSENT:
            raise _Unaccounted(relative)
        with os.scandir(self.root / relative) as entries:
            for entry in entries:
                if entry.is_symlink():
                    raise _Unaccounted(entry.path)
                if entry.is_dir():
                    self._tree(_join(relative, entry.name))
                else:
                    self._file(_join(relative, entry.name))

    def _file(self, relative: str) -> bytes | None:
        """A path's bytes (ABSENT: nothing there), recorded; read once."""
        if relative not in self.files:
            self.files[relative] = _read(self.root, relative)
        return self.files[relative]

    def _relative(self, directory: str, entry: str) -> str:
        """An entry's path below the root; _Unaccounted when remote or outside the root."""
        if is_remote(entry) or os.path.isabs(entry):
            raise _Unaccounted(entry)
        relative = os.path.normpath(os.path.join(directory, entry))
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise _Unaccounted(entry)
        return relative


def _join(directory: str, name: str) -> str:
    return os.path.normpath(os.path.join(directory, name))


def _mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Unaccounted("not a mapping")
    return value


def _entries_of(body: Mapping[str, Any], field_name: str) -> list[object]:
    value = body.get(field_name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unaccounted(field_name)
    return value


def _strings(body: Mapping[str, Any], field_name: str) -> list[str]:
    entries = _entries_of(body, field_name)
    if not all(isinstance(entry, str) for entry in entries):
        raise _Unaccounted(field_name)
    return [str(entry) for entry in entries]
