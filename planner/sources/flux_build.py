"""What Flux does to desired documents before they reach the cluster: post-build substitution
by the Flux Kustomization that builds them, then HelmReleases rendered to their objects.

`desired.py` calls `apply_flux` on the documents of every file or kustomize source; nothing is
read from the repository unless a document needs it (a `${` or `$$` in the text, a HelmRelease).
"""

from __future__ import annotations

import mmap
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from planner.errors import InputError, Origin
from planner.objects import Manifest, ObjectKey
from planner.sources.documents import Document, manifest_files, parse_yaml
from planner.sources.helm import CHART_FILE, HelmOptions
from planner.sources.kinds import is_helmrelease, is_pool_manifest
from planner.sources.states import Unrendered

if TYPE_CHECKING:
    from planner.sources.argocd_build_options import FoundOptions
    from planner.sources.flux_repository import FluxIndex, Repository
    from planner.sources.flux_substitute import Variables

# The Flux modules (flux_repository, flux_substitute, helmrelease: some 4 ms of every start-up)
# are imported where a document needs them (a `${`, a `$$`, a HelmRelease), not by every diff.

try:  # the C dumper is several times faster and writes the same YAML
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - only without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

# Flux reads YAML; chart directories (templates) are skipped.
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
_FLUX_KUSTOMIZE_API = b"kustomize.toolkit.fluxcd.io/"  # flux_repository's FLUX_KUSTOMIZE_GROUP
# a `path:` that stands for the repository's root ("./", ".", "/", "")
_ROOT_PATH = re.compile(rb"^\s*path:\s*[\"']?\.?/?[\"']?\s*(?:#.*)?$", re.MULTILINE)
_READ_WHOLE = 256 * 1024  # bytes; a larger file is mapped (see _may_hold)
_NO_WRAP = 1 << 30  # never fold a long string: a `${...}` must stay on one line
_WRITTEN_VARIABLE = re.compile(r"(?<!\$)\$\{#?([_a-zA-Z][_a-zA-Z0-9]*)")  # not `$${`: a literal


@dataclass
class FluxContext:
    """One load's view of the repositories: `repository` when the caller knows it (a tree
    exported from git), indexes read at most once each, and Flux's strict substitution."""

    repository: Repository | None = None
    strict: bool = False
    git_top: Path | None = None  # the work tree whose git remotes stand for `repository`
    _indexes: dict[Path, FluxIndex] = field(default_factory=dict)
    _remotes: dict[Path, frozenset[str]] = field(default_factory=dict)
    _with_kustomizations: dict[Path, bool] = field(default_factory=dict)
    _built_paths: dict[Path, frozenset[str]] = field(default_factory=dict)
    noted_paths: set[str] = field(default_factory=set)  # Flux Kustomization paths noted once
    said: list[str] = field(default_factory=list)  # notes said once per load, at its end
    _argocd_options: dict[Path, FoundOptions] = field(default_factory=dict)

    def repository_of(self, path: Path) -> Repository | None:
        """The repository holding `path`: the given one, else the git root above it, else the
        current directory when `path` lies inside it."""
        from planner.sources.flux_repository import Repository

        if self.repository is not None:
            return self.repository
        real = Path(os.path.abspath(path))
        root = git_root(real if real.is_dir() else real.parent)
        if root is None:
            cwd = Path.cwd()
            root = cwd if real == cwd or cwd in real.parents else None
        return Repository(root) if root is not None else None

    def may_build(self, directory: Path) -> bool:
        """Whether a Flux Kustomization of the git repository holding `directory` (or of the
        given one) may build it or a directory below it (its `spec.path` names it, one
        enclosing it, or the root). A prefilter on bytes, nothing parsed, that stops at the
        first file that may hold one: naming a directory of a repository without Flux reads
        nothing more, imports nothing. Not the current directory's tree when no git work tree
        holds `directory`: Flux builds from a repository, and that tree may be anything."""
        real = Path(os.path.abspath(directory))
        root = self.repository.root if self.repository is not None else git_root(real)
        if root is None:
            return False
        if root in self._indexes:
            return True
        try:
            relative = real.resolve().relative_to(root.resolve())
        except ValueError:
            return False
        # "a/b/c": the path itself (which a path below it contains too), "a/b", "a"
        named = [p.as_posix().encode() for p in (relative, *relative.parents) if p.parts]
        return any(_may_hold(file, named) for file in flux_files(root))

    def builds(self, directory: Path) -> bool:
        """Whether a Flux Kustomization of the repository holding `directory` builds it (its
        `spec.path` names it or one enclosing it): parsed, where `may_build` is a prefilter on
        bytes (an annotation such as `kustomize.toolkit.fluxcd.io/substitute: disabled` passes
        it); only the files naming the Flux Kustomization API are read, once per repository."""
        real = Path(os.path.abspath(directory)).resolve()
        root = self.repository.root if self.repository is not None else git_root(real)
        if root is None or not real.is_relative_to(root.resolve()):
            return False
        if root not in self._built_paths:
            self._built_paths[root] = _kustomization_paths(root)
        relative = real.relative_to(root.resolve())
        enclosing = {".", *(p.as_posix() for p in (relative, *relative.parents) if p.parts)}
        return not enclosing.isdisjoint(self._built_paths[root])

    def may_substitute(self, repository: Repository) -> bool:
        """Whether any file of the repository may hold a Flux Kustomization (the byte prefilter
        of `may_build`, for any path): without one, nothing substitutes a `${...}`, and the
        index (every file naming a ConfigMap or Secret parsed: 2.7 s on an Argo CD repository
        of 198 rendered files whose one shell script holds a `${`) is not read."""
        root = repository.root
        if root in self._indexes:
            return True
        if root not in self._with_kustomizations:
            self._with_kustomizations[root] = any(
                _may_hold(file, None) for file in flux_files(root)
            )
        return self._with_kustomizations[root]

    def remotes_of(self, repository: Repository) -> frozenset[str]:
        """The repository's git remotes as `host/owner/repo` (asked of `git_top` when given: a
        tree exported at a git ref has no .git), empty when it has none or is no git work tree."""
        from planner.sources.argocd_follow import read_git_facts

        top = self.git_top or repository.root
        if top not in self._remotes:
            facts = read_git_facts(top)
            self._remotes[top] = facts.remotes if facts is not None else frozenset()
        return self._remotes[top]

    def argocd_options(self, repository: Repository) -> FoundOptions:
        """Argo CD's kustomize build options as the repository declares them (read once)."""
        from planner.sources.argocd_build_options import find_options

        if repository.root not in self._argocd_options:
            self._argocd_options[repository.root] = find_options(repository)
        return self._argocd_options[repository.root]

    def index_of(self, repository: Repository) -> FluxIndex:
        """The repository's Flux objects (scanned on first use)."""
        from planner.sources.flux_repository import FluxIndex

        if repository.root not in self._indexes:
            self._indexes[repository.root] = FluxIndex.scan(repository)
        return self._indexes[repository.root]


@dataclass
class FluxResult:
    """Documents after substitution, the objects HelmReleases rendered to (with their default
    namespace), notes, and the HelmReleases left unrendered."""

    documents: list[Document]
    rendered: list[tuple[list[Document], str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unrendered: list[Unrendered] = field(default_factory=list)


def apply_flux(
    documents: list[Document],
    path: Path,
    source_text: str,
    context: FluxContext,
    helm: HelmOptions,
) -> FluxResult:
    """Substitute and render the documents of one source (`path` on disk, `source_text` the
    text they were parsed from)."""
    needs_variables = "${" in source_text or "$$" in source_text
    has_release = any(is_helmrelease(d.body) for d in documents)
    if not needs_variables and not has_release:
        return FluxResult(documents)
    repository = context.repository_of(path)
    if not has_release and (repository is None or not context.may_substitute(repository)):
        return FluxResult(documents)
    index = context.index_of(repository) if repository is not None else None
    result = FluxResult(documents)
    if needs_variables and index is not None and repository is not None:
        variables, why = _variables(path, repository, index, context, result.notes)
        if variables is not None:
            result.documents = []
            for document in documents:
                try:
                    result.documents.append(_substituted(document, variables, why, source_text))
                except UnresolvedVariable as err:
                    result.unrendered.append(_set_aside(document, err))
    result.documents = [_without_markers(d) for d in result.documents]
    built = index.with_first(result.documents) if index is not None and has_release else index
    for position, document in enumerate(result.documents):
        if is_helmrelease(document.body):
            _render(document, built, helm, source_text, result)
            result.documents[position] = Document(_restored(document.body), document.origin)
    return result


def flux_files(root: Path) -> Iterator[Path]:
    """The files Flux objects are read from (FluxIndex.scan) and the prefilters look at: YAML
    below `root`, chart directories (templates) and hidden entries skipped."""
    return manifest_files(root, YAML_SUFFIXES, skip_holding=CHART_FILE)


def _kustomization_paths(root: Path) -> frozenset[str]:
    """The `spec.path` of every Flux Kustomization in the files below `root` that name the Flux
    Kustomization API (a file that does not parse is skipped: the index says so)."""
    from planner.sources.flux_repository import is_flux_kustomization, kustomization_path

    paths: set[str] = set()
    for file in flux_files(root):
        if not _may_hold(file, None):
            continue
        try:
            documents = parse_yaml(file.read_text(encoding="utf-8"), str(file)).documents
        except (InputError, OSError, UnicodeDecodeError):
            continue
        paths.update(kustomization_path(d.body) for d in documents if is_flux_kustomization(d.body))
    return frozenset(paths)


def _may_hold(file: Path, named: list[bytes] | None) -> bool:
    """Whether `file` names the Flux Kustomization API and (unless `named` is None) one of the
    `named` paths or a root path."""
    return file_bytes_hold(file, lambda data: _names_a_build(data, named))


def file_bytes_hold(file: Path, test: Callable[[bytes | mmap.mmap], bool]) -> bool:
    """Whether the bytes of `file` pass `test` (a byte search). A large file is mapped, not
    read: a large snapshot in the repository costs no copy in memory (a 9.5 MB one read whole
    raised `planner diff`'s peak by 10 MB); a small one is read, which costs less than mapping
    it. A file that cannot be read: False (reading it for the scan says what is wrong)."""
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block
    except OSError:
        return False
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        if info.st_size <= _READ_WHOLE:
            return test(os.read(descriptor, info.st_size))
        with mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ) as data:
            return test(data)
    except (OSError, ValueError):
        return False
    finally:
        os.close(descriptor)


def _names_a_build(data: bytes | mmap.mmap, named: list[bytes] | None) -> bool:
    return data.find(_FLUX_KUSTOMIZE_API) >= 0 and (
        named is None
        or any(data.find(path) >= 0 for path in named)
        or _ROOT_PATH.search(data) is not None
    )


def git_root(start: Path) -> Path | None:
    """The nearest directory from `start` upwards that holds `.git`, or None."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def substituted_text(path: Path, text: str, context: FluxContext) -> str:
    """The text of the file at `path` as the Flux Kustomization that builds it substitutes it
    (a file of pools, read raw); a variable it cannot know stays `${NAME}`, and text that Flux
    would refuse, or that no Flux Kustomization substitutes, comes back as it is."""
    from planner.sources.flux_substitute import SubstitutionError, expand, restore_markers

    if "${" not in text:
        return text
    repository = context.repository_of(path)
    if repository is None:
        return text
    variables, _ = _variables(path, repository, context.index_of(repository), context, [])
    if variables is None:
        return text
    try:
        return restore_markers(expand(text, variables))
    except SubstitutionError:
        return text


def _variables(
    path: Path, repository: Repository, index: FluxIndex, context: FluxContext, notes: list[str]
) -> tuple[Variables | None, str]:
    """The variables of the Flux Kustomization that builds `path`, and what an unknown one
    means; None when no Flux Kustomization in the repository substitutes it."""
    from planner.sources.flux_follow import of_another_repository
    from planner.sources.flux_repository import kustomization_path, variables_of

    relative = repository.relative(path)
    if relative is None:
        return None, ""
    builders = index.kustomizations_for(relative)
    # one building a path of another repository (`./` of an upstream's CRDs) substitutes nothing here
    builders = [b for b in builders if not of_another_repository(b.body, context, repository)]
    if not builders:
        return None, ""
    first = builders[0]
    variables = variables_of(first, index, context.strict)
    name = _named(first.body)
    others = [b for b in builders[1:] if variables_of(b, index, context.strict) != variables]
    built = kustomization_path(first.body)
    if others and built not in context.noted_paths:  # one note per path, not per file
        context.noted_paths.add(built)
        names = ", ".join(_named(b.body) for b in others)
        notes.append(
            f"{built}: built by several Flux Kustomizations with different variables "
            f"({name}, {names}); substituted with those of {name} ({first.origin})"
        )
    why = (
        f"a substituteFrom source of Flux Kustomization {name} is not in the repository "
        "(or is encrypted), so its value is unknown"
    )
    return variables, why


def _substituted(document: Document, variables: Variables, why: str, text: str) -> Document:
    """The document as Flux substitutes it: serialised, expanded, parsed again."""
    from planner.sources.flux_substitute import SubstitutionError, expand, is_disabled

    if is_disabled(document.body):
        return document
    dumped = yaml.dump(
        document.body, Dumper=_Dumper, sort_keys=False, width=_NO_WRAP, allow_unicode=True
    )
    if "$" not in dumped:
        return document
    try:
        expanded = expand(dumped, variables)
    except SubstitutionError as err:
        where = _origin_of(document.origin, text, err.variable)
        variable = f"`${{{err.variable}}}`: " if err.variable else ""
        raise InputError(f"Flux substitution failed: {variable}{err.reason}", where) from err
    try:
        [reparsed] = parse_yaml(expanded, document.origin.file).documents
    except (InputError, ValueError) as err:
        message = "after Flux substitution the document is not one valid manifest"
        raise InputError(message, document.origin) from err
    body = reparsed.body
    _check_read_fields(body, document.origin, text, why)
    return Document(body, document.origin)


def _without_markers(document: Document) -> Document:
    """The document with markers of unknown variables put back as `${NAME}` (the fields the
    planner reads were checked already; a HelmRelease keeps them until its objects are)."""
    if is_helmrelease(document.body) or not _has_marker(document.body):
        return document
    return Document(_restored(document.body), document.origin)


def _render(
    document: Document,
    index: FluxIndex | None,
    helm: HelmOptions,
    text: str,
    result: FluxResult,
) -> None:
    """Render one HelmRelease into `result` (or record it as unrendered)."""
    from planner.sources.helmrelease import release_id, render_helmrelease

    rendered = render_helmrelease(document, index, helm)
    result.notes.extend(rendered.notes)
    name = release_id(document.body)
    if rendered.unrendered is not None:  # its one note is the scenario's (once per release)
        result.unrendered.append(Unrendered(name, document.origin, rendered.unrendered))
        return
    why = f"its value comes into {name} from a substitution the planner cannot resolve"
    checked = []
    for made in rendered.documents:
        _check_read_fields(made.body, made.origin, text, why)
        checked.append(Document(_restored(made.body), made.origin))
    result.rendered.append((checked, rendered.namespace))


def written_variable(body: Manifest) -> tuple[str, str] | None:
    """(field, NAME) of the first `${NAME...}` in a field the planner reads, as written (what a
    reader that does not substitute, the Flux hook, must not take for a value)."""
    for field_name, value in _read_fields(body):
        for text in _strings(value):
            found = _WRITTEN_VARIABLE.search(text)
            if found:
                return field_name, found.group(1)
    return None


class UnresolvedVariable(InputError):
    """A variable the planner cannot resolve in a field it reads (`field_name`)."""

    def __init__(self, message: str, origin: Origin, field_name: str) -> None:
        super().__init__(message, origin)
        self.field_name = field_name


def _check_read_fields(body: Manifest, origin: Origin, text: str, why: str) -> None:
    """UnresolvedVariable naming the first unresolved variable in a field the planner reads."""
    from planner.sources.flux_substitute import unresolved_in

    for field_name, value in _read_fields(body, read_annotations_only=True):
        names = [n for s in _strings(value) for n in unresolved_in(s)]
        if names:
            where = _origin_of(origin, text, names[0])
            message = f"`${{{names[0]}}}` in `{field_name}` cannot be resolved: {why}"
            raise UnresolvedVariable(message, where, field_name)


def _set_aside(document: Document, err: UnresolvedVariable) -> Unrendered:
    """A Service or a MetalLB pool whose read value comes from a variable the planner cannot
    know (a SOPS Secret's, most often): set aside, said and counted, for Flux applies it, so it
    is no input error. Anything else (a name, a Namespace's labels) stays one."""
    body = document.body
    metadata = body.get("metadata")
    is_pool = is_pool_manifest(body)
    named = err.field_name not in ("metadata.name", "metadata.namespace")
    if (
        not (body.get("kind") == "Service" or is_pool)
        or not named
        or not isinstance(metadata, dict)
    ):
        raise err
    kind, name = str(body["kind"]), str(metadata.get("name"))
    key = ObjectKey(kind, str(metadata.get("namespace") or "default"), name)
    missed = "not read" if is_pool else "not checked"
    where = err.origin or document.origin
    return Unrendered(f"{kind} {key.svc_key}", where, err.reason, kind, missed, key)


def _read_fields(body: Manifest, read_annotations_only: bool = False) -> list[tuple[str, Any]]:
    """The parts of an object the MetalLB model reads, by name (a Service's annotations whole,
    or with `read_annotations_only` those MetalLB or the planner read, one by one)."""
    from planner.sources.flux_repository import plain

    metadata = plain(body.get("metadata"))
    kind = body.get("kind")
    named = [
        ("metadata.name", metadata.get("name")),
        ("metadata.namespace", metadata.get("namespace")),
    ]
    if kind == "Service":
        annotations = plain(metadata.get("annotations"))
        read = (
            [(f"metadata.annotations.{k}", v) for k, v in annotations.items() if _is_read(k)]
            if read_annotations_only
            else [("metadata.annotations", metadata.get("annotations"))]
        )
        return [
            *named,
            ("metadata.labels", metadata.get("labels")),
            *read,
            ("spec", body.get("spec")),
        ]
    if kind == "Namespace":
        return [*named, ("metadata.labels", metadata.get("labels"))]
    if is_pool_manifest(body):
        return [("the pool", body)]
    return []


def _is_read(annotation: object) -> bool:
    """Whether MetalLB or the planner reads the annotation (external-dns' hostname, written
    `${SECRET_DOMAIN}` in many repositories, is neither's)."""
    from planner.sources.validate import is_read_annotation

    return is_read_annotation(str(annotation))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _has_marker(value: Any) -> bool:
    from planner.sources.flux_substitute import unresolved_in

    return any(unresolved_in(s) for s in _strings(value))


def _restored(value: Any) -> Any:
    """`value` with every marker put back as `${NAME}` (keys and strings, at any depth)."""
    from planner.sources.flux_substitute import restore_markers

    if isinstance(value, str):
        return restore_markers(value)
    if isinstance(value, dict):
        return {_restored(k): _restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restored(item) for item in value]
    return value


def _origin_of(origin: Origin, text: str, variable: str) -> Origin:
    """The origin moved to the line of the document that names `variable` (`${NAME`)."""
    if not variable:
        return origin
    lines = text.splitlines()
    for number in range(origin.line - 1, len(lines)):
        if f"${{{variable}" in lines[number] or f"${{#{variable}" in lines[number]:
            return Origin(origin.file, origin.document, number + 1)
    return origin


def _named(body: Manifest) -> str:
    from planner.sources.flux_repository import plain

    metadata = plain(body.get("metadata"))
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name')}"
