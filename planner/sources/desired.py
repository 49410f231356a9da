"""The desired state: what the repo says, from files, directories, stdin, kustomize and helm.

    >>> state = load_desired(["manifests/"])  # doctest: +SKIP
    >>> state.services["dns/dns-tcp"]["spec"]["type"]  # doctest: +SKIP
    'LoadBalancer'

Directories are walked recursively (*.yaml, *.yml, *.json, sorted by path, hidden entries
skipped); a directory holding a kustomization is rendered by kustomize and one holding Chart.yaml
by `helm template`, wherever it appears in the walk, instead of being walked.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from planner import kube_yaml
from planner.collector import collector_paused
from planner.errors import InputError, Origin, ToolFailedError, ToolMissingError
from planner.objects import KubeObject
from planner.sources import fast_yaml
from planner.sources.documents import (
    JSON_SUFFIXES,
    MANIFEST_SUFFIXES,
    Document,
    Parsed,
    decode_text,
    parse_json,
    parse_yaml,
    read_file_bytes,
)
from planner.sources.flux_build import FluxContext, apply_flux, git_root
from planner.sources.flux_labels import has_unreadable_labels, labels_as_flux_applies
from planner.sources.helm import CHART_FILE, HelmOptions, is_chart_dir, render_chart
from planner.sources.kinds import (
    DEFAULT_NAMESPACE,
    placed_in,
    to_objects,
    without_repeats,
)
from planner.sources.known_fields import unknown_field_notes
from planner.sources.kustomize import (
    KUSTOMIZATION_FILES,
    is_kustomization_dir,
    kustomization_file,
    render_kustomization,
)
from planner.sources.states import DesiredState, Unrendered
from planner.tools import INSTALL_HINTS

if TYPE_CHECKING:  # flux_build imports it where a document needs Flux (start-up)
    from planner.sources.argocd_build_options import BuildOptions
    from planner.sources.argocd_follow import GitView
    from planner.sources.flux_follow import NamedBuild
    from planner.sources.flux_overlay import BuildFields
    from planner.sources.flux_repository import Repository
    from planner.sources.helm_fetch import ChartFetcher
    from planner.sources.kustomize_copy import RewrittenKustomization
    from planner.sources.kustomize_helm import Kustomization

STDIN = "-"
# Argo CD's kinds whose sources are followed (argocd_follow, imported when one is read)
APPLICATION_KINDS = frozenset({"Application", "ApplicationSet"})
STDIN_LABEL = "<stdin>"
# kustomize's load restrictor refusing a file: `security; file ... is not in or below ...`
_RESTRICTED = "is not in or below"
Identity = tuple[str, str, str, str, "HelmOptions | None"]  # what makes two sources one


@dataclass(frozen=True)
class Source:
    """One input: a manifest file, a directory rendered by kustomize or helm, or stdin."""

    path: Path
    label: str  # how messages and origins name it
    kind: str  # "file" | "kustomize" | "helm" | "stdin"
    namespace: str | None = None  # a Flux Kustomization's targetNamespace, when it builds this
    # an Argo CD Application's destination namespace (where namespaced objects without one
    # land) and how it renders a chart, when it syncs this
    default_namespace: str | None = None
    helm: HelmOptions | None = None
    # and its kustomization file as its `kustomize` settings rewrite it, when it syncs this
    kustomization: RewrittenKustomization | None = None
    build: BuildFields | None = None  # and its other fields that change what it builds
    part: str = ""  # built as one with `build`, only the objects of this path below it are read


@dataclass(frozen=True)
class Named:
    """A path named on the command line and the sources found under it, which the Flux
    Kustomization whose `spec.path` it is (or lies in) may build otherwise (`load_sources`)."""

    path: Path
    label: str
    sources: list[Source]


@collector_paused
def load_desired(
    paths: Sequence[str],
    stdin: TextIO | None = None,
    helm: HelmOptions | None = None,
    absent: Collection[str] = (),
    strict_substitution: bool = False,
) -> DesiredState:
    """Load every object from `paths` (files, directories, "-" for stdin); duplicates are errors.

    A file reached twice (named twice, or also inside a named directory) is read once. A path in
    `absent` that does not exist reads as empty (the commit deletes it), with a note.
    `strict_substitution`: Flux's StrictPostBuildSubstitutions (an undefined variable fails).
    """
    if list(paths).count(STDIN) > 1:
        raise InputError('"-" (stdin) can be given only once')
    notes = []
    sources: list[Source | Named] = []
    for path in paths:
        if path in absent and not os.path.lexists(path):
            notes.append(f"{os.path.normpath(path)}: does not exist; read as empty (deleted)")
            continue
        sources.append(find_named(path))
    state = load_sources(sources, stdin=stdin, helm=helm, strict_substitution=strict_substitution)
    # every command reading desired objects warns on the same unknown fields (argocd, annotate too)
    warnings = unknown_field_notes(state.objects)
    return DesiredState(state.objects, notes + state.notes + warnings, unrendered=state.unrendered)


def find_sources(path: str, label: str | None = None) -> list[Source]:
    """The sources under one command-line path, in reading order; `label` names it in messages."""
    if path == STDIN:
        return [Source(Path(STDIN), STDIN_LABEL, "stdin")]
    disk = Path(path)
    name = label if label is not None else os.path.normpath(path)
    if disk.is_dir():
        return list(_walk(disk, name, set()))
    if not os.path.lexists(disk):  # a link loop or a dangling link: reading it says which
        raise InputError(f"`{name}` does not exist")
    if disk.name in KUSTOMIZATION_FILES or disk.name == CHART_FILE:
        # a kustomization or Chart.yaml named on its own stands for its rendered directory
        return list(_walk(disk.parent, os.path.dirname(name) or ".", set()))
    return [Source(disk, name, "file")]


def find_named(path: str, label: str | None = None) -> Named:
    """The sources under one command-line path, kept together with it (`find_sources`)."""
    found = find_sources(path, label)
    disk, name = Path(path), label if label is not None else os.path.normpath(path)
    if disk.name in (*KUSTOMIZATION_FILES, CHART_FILE) and not disk.is_dir():
        disk, name = disk.parent, os.path.dirname(name) or "."  # it stands for its directory
    return Named(disk, name, found)


def load_sources(
    sources: Iterable[Source | Named],
    stdin: TextIO | None = None,
    helm: HelmOptions | None = None,
    repository: Repository | None = None,
    strict_substitution: bool = False,
    evaluate_flux: bool = True,
    git_top: Path | None = None,
    at_ref: bool = False,
) -> DesiredState:
    """Read, render and parse `sources` into one desired state; duplicates are errors.

    `at_ref`: the sources are a git ref's (`--live-git`), where a kustomization kustomize cannot
    build is unrendered (the cluster holds what was applied before it broke), not an error: the
    commit under review may be the one mending it.

    With `evaluate_flux`, Flux's post-build substitution and HelmReleases are evaluated against
    `repository` (default: the git repository, or the current directory, holding each source),
    and Flux Kustomizations and Argo CD Applications are followed to what they sync (`git_top`:
    the work tree whose remotes and branch stand for `repository`), and a `Named` path is read
    as the Flux Kustomization building it builds it; without it (what a GitOps tool applies),
    documents are taken as written."""
    helm = helm or HelmOptions()
    flux = FluxContext(repository, strict_substitution, git_top) if evaluate_flux else None
    git: GitView | None = None  # made when an Application is read (an import at start-up)
    objects: list[KubeObject] = []
    notes: list[str] = []
    unrendered: list[Unrendered] = []
    expanded: list[Source] = []
    for item in sources:
        if isinstance(item, Source):
            expanded.append(item)
        elif flux is None:
            expanded.extend(item.sources)
        else:
            expanded.extend(_as_built(item, flux, notes, unrendered))
    unique = _read_once(expanded)
    fast_yaml.expect(_file_bytes(unique))
    pending = collections.deque(unique)  # followed directories join at the end
    read = {_identity(source) for source in unique}
    named = [Path(os.path.abspath(source.path)) for source in unique if source.kind != "stdin"]
    while pending:
        source = pending.popleft()
        found, found_notes, found_unrendered = _read_source(source, stdin, helm, flux, at_ref)
        objects.extend(found)
        notes.extend(found_notes)
        unrendered.extend(found_unrendered)
        if flux is not None and any(obj.key.kind == "Kustomization" for obj in found):
            followed, follow_notes, unbuilt = _followed(found, source, flux, named, read)
            pending.extend(followed)
            notes.extend(follow_notes)
            unrendered.extend(unbuilt)
        if flux is not None and any(obj.key.kind in APPLICATION_KINDS for obj in found):
            from planner.sources.argocd_follow import GitView

            git = git or GitView(git_top)
            followed, follow_notes, unfollowed = _synced(
                found, source, flux, git, helm.charts, named, read
            )
            pending.extend(followed)
            notes.extend(follow_notes)
            unrendered.extend(unfollowed)
    objects, repeat_notes = without_repeats(objects)
    said = flux.said if flux is not None else []
    return DesiredState(objects, notes + said + repeat_notes, unrendered=tuple(unrendered))


def _followed(
    found: list[KubeObject],
    source: Source,
    flux: FluxContext,
    named: list[Path],
    read: set[Identity],
) -> tuple[list[Source], list[str], list[Unrendered]]:
    """The sources of the directories the Flux Kustomizations in `found` build, not read yet,
    and those whose fields cannot be applied (not read)."""
    from planner.sources.flux_follow import follow_targets

    path = Path.cwd() if source.kind == "stdin" else source.path
    following = follow_targets(found, path, flux)
    sources = []
    for target in following.targets:
        placed = built_sources(target.path, target.label, target.namespace, target.build)
        sources.extend(_unread(target.path, placed, named, read))
    return sources, following.notes, following.unbuilt


def built_sources(
    directory: Path,
    label: str,
    namespace: str | None,
    build: BuildFields | None,
    found: list[Source] | None = None,
) -> list[Source]:
    """The sources of a directory a Flux Kustomization builds (`found` when they are known),
    with its targetNamespace and fields; with fields kustomize must apply, the whole directory
    is one build (flux_overlay)."""
    if build is not None and build.needs_kustomize:
        return [Source(directory, label, "kustomize", namespace, build=build)]
    found = find_sources(str(directory), label) if found is None else found
    return [dataclasses.replace(s, namespace=namespace, build=build) for s in found]


def _as_built(
    named: Named, flux: FluxContext, notes: list[str], unrendered: list[Unrendered]
) -> list[Source]:
    """The sources of a named path as the Flux Kustomization whose `spec.path` is it, or
    encloses it, builds them, and every directory below it that kustomize renders on its own
    as the Kustomization whose `spec.path` it is builds it. Notes go to `notes`; a
    Kustomization whose fields cannot be applied to `unrendered` (nothing of it is read)."""
    directory = named.path if named.path.is_dir() else named.path.parent
    if not named.sources or named.sources[0].kind == "stdin" or not flux.may_build(directory):
        return named.sources
    from planner.sources.flux_follow import named_build

    built = named_build(named.path, named.label, flux)
    sources = named.sources if built is None else _built(named, built, notes, unrendered)
    found = []
    for source in sources:
        own = _own_build(source, named.path, flux)
        if own is None:
            found.append(source)
        else:
            found.extend(_built(Named(source.path, source.label, [source]), own, notes, unrendered))
    return found


def _own_build(source: Source, named: Path, flux: FluxContext) -> NamedBuild | None:
    """How the Flux Kustomization whose `spec.path` is `source`'s directory builds it, for a
    directory below the `named` one that kustomize renders on its own, not placed yet."""
    from planner.sources.flux_follow import named_build

    if source.kind != "kustomize" or source.path == named or _placed_by(source):
        return None
    built = named_build(source.path, source.label, flux)
    return built if built is not None and not built.part else None


def _placed_by(source: Source) -> bool:
    """Whether a Flux Kustomization's fields already apply to `source`."""
    return source.namespace is not None or source.build is not None or bool(source.part)


def _built(
    named: Named, built: NamedBuild, notes: list[str], unrendered: list[Unrendered]
) -> list[Source]:
    """The sources of `named` as `built` says the Flux Kustomization builds them."""
    notes.extend(built.notes)
    if built.unbuilt is not None:
        unrendered.append(built.unbuilt)
        return []
    target = built.target
    if target is None:
        return named.sources
    if not built.part:
        return built_sources(
            target.path, named.label, target.namespace, target.build, named.sources
        )
    if target.build is not None and target.build.needs_kustomize:
        # kustomize builds the whole; what was named stands for the objects that come from it
        whole = built_sources(target.path, target.label, target.namespace, target.build)
        return [dataclasses.replace(source, part=built.part) for source in whole]
    return [
        dataclasses.replace(source, namespace=target.namespace, build=target.build)
        for source in named.sources
    ]


def _synced(
    found: list[KubeObject],
    source: Source,
    flux: FluxContext,
    git: GitView,
    charts: ChartFetcher | None,
    named: list[Path],
    read: set[Identity],
) -> tuple[list[Source], list[str], list[Unrendered]]:
    """The sources of the directories the Argo CD Applications in `found` sync (and the remote
    charts they name, pulled by `charts`), not read yet; notes; and the Applications (and
    ApplicationSets) not followed."""
    from planner.sources.argocd_follow import follow_applications

    path = Path.cwd() if source.kind == "stdin" else source.path
    following = follow_applications(found, source.label, flux.repository_of(path), git, charts)
    sources = []
    for directory, directory_sources in following.sources:
        sources.extend(_unread(directory, directory_sources, named, read))
    return sources, following.notes, following.unfollowed


def _unread(
    directory: Path, sources: list[Source], named: list[Path], read: set[Identity]
) -> list[Source]:
    """The sources a followed `directory` adds, none read before. A directory that is, or holds,
    a path the caller named adds none: the caller narrowed the check to that path (a cluster's
    root Kustomization builds the whole cluster)."""
    from planner.sources.flux_follow import covers

    if any(covers(named_path, directory) for named_path in named):
        return []
    unread = []
    for source in sources:
        if _identity(source) not in read:
            read.add(_identity(source))
            unread.append(source)
    return unread


def _identity(source: Source) -> Identity:
    """A source read once: one directory synced by two Applications with different
    `kustomize` settings is two builds, one pulled chart rendered for two Applications with
    different `helm` settings two renderings."""
    rewritten = source.kustomization.text if source.kustomization is not None else ""
    path = os.path.abspath(source.path)  # no syscall
    return (source.kind, path, source.part, rewritten, source.helm)


def _read_once(sources: Iterable[Source]) -> list[Source]:
    """Sources without repeats: a file named twice, or also inside a named directory, is read once."""
    seen: set[Identity] = set()
    unique = []
    for source in sources:
        identity = _identity(source)
        if identity not in seen:
            seen.add(identity)
            unique.append(source)
    return unique


def _file_bytes(sources: Iterable[Source]) -> int:
    """The size of the plain files among `sources` (what reading them hands the parser)."""
    total = 0
    for source in sources:
        if source.kind == "file":
            with contextlib.suppress(OSError):  # reading it says what is wrong
                total += os.stat(source.path).st_size
    return total


def _read_source(
    source: Source, stdin: TextIO | None, helm: HelmOptions, flux: FluxContext | None, at_ref: bool
) -> tuple[list[KubeObject], list[str], list[Unrendered]]:
    """`_objects_of`, with a file or a kustomization broken at a git ref unrendered there: the
    commit that mends it must be checkable (`load_sources`); in the work tree it stays an error."""
    try:
        return _objects_of(source, stdin, helm, flux)
    except (InputError, ToolFailedError) as err:
        if not at_ref or source.kind not in ("kustomize", "file"):
            raise
        if isinstance(err, ToolFailedError):
            if source.kind == "file":
                raise
            return [], [], [_not_built(source, f"kustomize failed: {err.stderr}", flux)]
        if source.kind == "kustomize":
            return [], [], [_not_built(source, err.reason, flux)]
        return [], [], [_unread_at_ref(source, err)]


def _unread_at_ref(source: Source, err: InputError) -> Unrendered:
    """A manifest file the git ref holds that cannot be read (malformed YAML, a mistyped
    field): what it held is unknown there, and its Services unchecked (said, and counted)."""
    return Unrendered(
        f"file {source.label}", err.origin or Origin(source.label), err.reason, "file", "not read"
    )


def _objects_of(
    source: Source, stdin: TextIO | None, helm: HelmOptions, flux: FluxContext | None
) -> tuple[list[KubeObject], list[str], list[Unrendered]]:
    """The objects of one source, the notes about what it skipped, and the HelmReleases it
    holds that could not be rendered."""
    if source.kind == "helm":
        options = source.helm or helm
        default_namespace = options.namespace or DEFAULT_NAMESPACE
        parsed = parse_yaml(_rendered_chart(source, options), source.label, "helm template")
        objects, notes = _with_notes(_placed(parsed, source), "helm", default_namespace)
        return objects, notes, []
    rendered_by = None
    if source.kind == "kustomize":
        from planner.sources.safety import UnbuiltKustomization

        rendered_by = "kustomize"
        try:
            text, parsed = _kustomize_build(source, flux, helm)
        except UnbuiltKustomization as err:
            return [], [], [_not_built(source, err.reason_unbuilt, flux)]
    elif source.kind == "stdin":
        text = read_stdin(stdin, source.label)
        parsed = parse_yaml(text, source.label)
    else:
        text = decode_text(read_file_bytes(source.path, source.label), source.label)
        is_json = source.path.suffix.lower() in JSON_SUFFIXES
        parsed = (parse_json if is_json else parse_yaml)(text, source.label)
    parsed = _placed(parsed, source)
    if flux is None:
        objects, notes = _with_notes(_with_metadata(parsed, source), rendered_by, DEFAULT_NAMESPACE)
        return objects, notes, []
    # Flux substitutes what its Kustomization built, then helm-controller renders HelmReleases
    path = Path.cwd() if source.kind == "stdin" else source.path
    built = apply_flux(parsed.documents, path, text, flux, helm)
    documents, label_notes = _labels_applied(built.documents, source, flux)
    substituted = _with_metadata(Parsed(documents, parsed.notes + label_notes), source)
    objects, notes = _with_notes(substituted, rendered_by, DEFAULT_NAMESPACE)
    for documents, namespace in built.rendered:
        made, made_notes = to_objects(documents, "helm", namespace)
        objects.extend(made)
        notes.extend(made_notes)
    return objects, notes + built.notes, built.unrendered


def _labels_applied(
    documents: list[Document], source: Source, flux: FluxContext
) -> tuple[list[Document], list[str]]:
    """The documents with labels as kustomize-controller applies them when a Flux Kustomization
    builds the source and a label value is no string (flux_labels); else as they are."""
    if not any(has_unreadable_labels(d) for d in documents) or source.kind == "stdin":
        return documents, []
    if source.build is None and not flux.builds(source.path):
        return documents, []  # kubectl apply refuses it: validate.py says so
    return labels_as_flux_applies(documents)


def _placed(parsed: Parsed, source: Source) -> Parsed:
    """The documents in the namespace the GitOps tool syncing `source` gives them: a Flux
    Kustomization's targetNamespace, or an Argo CD Application's destination namespace."""
    if source.namespace is not None:
        return Parsed(placed_in(parsed.documents, source.namespace, overriding=True), parsed.notes)
    if source.default_namespace is not None:
        placed = placed_in(parsed.documents, source.default_namespace, overriding=False)
        return Parsed(placed, parsed.notes)
    return parsed


def _kustomize_build(
    source: Source, flux: FluxContext | None, helm: HelmOptions
) -> tuple[str, Parsed]:
    """kustomize's output for a kustomize source and its documents (the named part alone when
    the source is part of a Flux Kustomization's build); UnbuiltKustomization before kustomize
    runs when it would fetch something (a chart only with `helm.charts`, `--fetch-charts`). When
    a Flux Kustomization builds it, built as Flux builds it: files load from anywhere in that
    repository, and from nowhere outside it, and Helm charts are not inflated; else as Argo CD
    builds it."""
    from planner.sources.safety import check_kustomize_references, check_remote_resources

    check_remote_resources(source.path, source.label)
    flux_root = _flux_root(source, flux)
    found = None
    if flux_root is not None and source.build is None and flux is not None:
        from planner.sources.kustomize_helm import inflates, kustomizations

        # Helm charts: Flux builds without them, so the byte prefilter of `may_build` is not
        # enough to leave them out
        found = kustomizations(source.path, source.label)
        if inflates(found) and not flux.builds(source.path):
            flux_root = None
    if flux_root is not None:
        check_kustomize_references(source.path, flux_root.resolve())

    from planner.sources.kustomize_reuse import reused_or_built

    as_flux = flux_root is not None
    options = None if as_flux else _argo_cd_options(source, flux, helm)

    def build() -> tuple[str, list[str]]:
        if options is None:
            return _rendered_kustomization(source, load_anywhere=True), []
        return _built_as_argo_cd(source, flux, helm, found, options)

    argo_cd = "" if options is None else _argo_cd_key(options)
    text, notes = reused_or_built(source, as_flux, flux, helm.charts is not None, build, argo_cd)
    parsed = parse_yaml(text, source.label, "kustomize")
    if source.part:
        from planner.sources.flux_overlay import documents_from

        parsed = Parsed(documents_from(parsed.documents, source.part), parsed.notes)
    return text, Parsed(parsed.documents, parsed.notes + notes)


def _built_as_argo_cd(
    source: Source,
    flux: FluxContext | None,
    helm: HelmOptions,
    found: list[Kustomization] | None,
    options: BuildOptions | str,
) -> tuple[str, list[str]]:
    """kustomize's build of a source that no Flux Kustomization builds, with Argo CD's build
    `options` (`_argo_cd_options`: given, else the repository's, else `--enable-helm`
    assumed), and the notes on them and on the charts helm pulled: `helmCharts` inflated as
    `--enable-helm` inflates them (kustomize_helm; `found`: its kustomizations when already
    read), unrendered when the options do not enable it."""
    from planner.sources.argocd_build_options import ASSUMED
    from planner.sources.kustomize_helm import (
        chart_uses,
        check_fetchable,
        inflates,
        kustomizations,
        render_inflating,
    )
    from planner.sources.safety import UnbuiltKustomization, check_kustomize_references

    rewritten = source.kustomization
    loaded = kube_yaml.load(rewritten.text) if rewritten is not None else None
    if found is None or rewritten is not None:
        own = loaded if isinstance(loaded, dict) else None
        found = kustomizations(source.path, source.label, own)
    inflating = inflates(found)
    if isinstance(options, str):  # the repository contradicts itself: no options are taken
        if inflating:
            raise UnbuiltKustomization(options, options)
        return _rendered_unless_restricted(source, options), []
    notes: list[str] = []
    if options is not ASSUMED:
        _say(options.said, flux, notes)
    elif inflating:
        _say(_ASSUMED_NOTE, flux, notes)
    root = _repository_root(source, flux)
    if not inflating:
        if options.load_anywhere:  # kustomize's own rule lifted: files must lie in the repository
            check_kustomize_references(source.path, root.resolve())
        return _rendered_kustomization(source, options.load_anywhere), notes
    if not options.enable_helm:
        shown = next(shown for _, shown, body in found if body.get("helmCharts"))
        reason = (
            f"{shown} (`helmCharts`) inflates Helm charts, which Argo CD's kustomize does not "
            f"with the build options `{options.written}` ({options.where}): kustomize fails "
            "without --enable-helm"
        )
        raise UnbuiltKustomization(reason, reason)
    uses = chart_uses(found, root)
    check_fetchable(uses, helm.charts)
    if options.load_anywhere:
        check_kustomize_references(source.path, root.resolve())
    text, pulled = render_inflating(
        source.path,
        source.label,
        root,
        uses,
        helm.charts,
        rewritten,
        options.load_anywhere,
        options.helm_flags,
    )
    return text, notes + pulled


_ASSUMED_NOTE = (
    "Argo CD's kustomize build options are not written in the repository (argocd-cm's "
    "`kustomize.buildOptions`, the argo-cd chart's `configs.cm`, an ArgoCD resource): "
    "`helmCharts` were inflated with --enable-helm, as Argo CD does when they say so; pass "
    "--argocd-build-options '...' to say what yours are"
)


def _argo_cd_options(
    source: Source, flux: FluxContext | None, helm: HelmOptions
) -> BuildOptions | str:
    """Argo CD's kustomize build options for `source`: those given, else the repository's
    (a string saying why none are taken when its definitions disagree), else ASSUMED."""
    from planner.sources.argocd_build_options import ASSUMED

    if helm.kustomize_build is not None:
        return helm.kustomize_build
    repository = flux.repository_of(source.path) if flux is not None else None
    if flux is None or repository is None:
        return ASSUMED
    found = flux.argocd_options(repository)
    return found.options or found.contradiction or ASSUMED


def _argo_cd_key(options: BuildOptions | str) -> str:
    """What of Argo CD's build options decides the build, as text: a build reused at a git ref
    must have been made with the same (the commit may change only argocd-cm)."""
    if isinstance(options, str):
        return options
    return repr((options.enable_helm, options.load_anywhere, options.helm_flags))


def _say(note: str, flux: FluxContext | None, notes: list[str]) -> None:
    """Say `note` once per load (at its end, whether the build it concerns is rendered or
    not), or in `notes` without a load's context."""
    if flux is None:
        notes.append(note)
    elif note not in flux.said:
        flux.said.append(note)


def _rendered_unless_restricted(source: Source, contradiction: str) -> str:
    """The default build of `source`; UnbuiltKustomization (`contradiction` the reason) when
    kustomize's load restrictor refuses a file, which some of the contradicting options lift."""
    from planner.sources.safety import UnbuiltKustomization

    try:
        return _rendered_kustomization(source, load_anywhere=False)
    except ToolFailedError as err:
        if _RESTRICTED not in err.stderr:
            raise
        reason = f"kustomize's load restrictor refuses a file of it, and {contradiction}"
        raise UnbuiltKustomization(reason, reason) from err


def _not_built(source: Source, reason: str, flux: FluxContext | None) -> Unrendered:
    """A kustomize source the planner does not build (it would fetch a remote resource, or
    inflate Helm charts, or it is broken at a git ref; `reason` says which): not rendered, so its Services are unchecked (said, and `--fail-on
    unrendered` blocks), not an input error: the repository is valid, and Flux or Argo CD build
    it. Named by its path in the repository, so the work tree's and a git ref's (`--live-git`)
    are one entry."""
    kustomization = kustomization_file(source.path)
    shown = source.label if kustomization is None else f"{source.label}/{kustomization.name}"
    repository = flux.repository_of(source.path) if flux is not None else None
    in_repository = repository.relative(source.path) if repository is not None else None
    name = f"kustomization {in_repository or source.label}"
    return Unrendered(name, Origin(shown), reason, "kustomization")


def _repository_root(source: Source, flux: FluxContext | None) -> Path:
    """The root of the repository `source` lies in: the Argo CD source's, the Flux context's
    (the tree at a git ref, with `--live-git`), else git's, else the source's own directory."""
    if source.kustomization is not None:
        return source.kustomization.root
    repository = flux.repository_of(source.path) if flux is not None else None
    if repository is not None:
        return repository.root
    return git_root(source.path.resolve()) or source.path


def _flux_root(source: Source, flux: FluxContext | None) -> Path | None:
    """The root of the repository a Flux Kustomization builds `source` from, when one builds it
    (its fields are applied) or may build it (`FluxContext.may_build`); None otherwise."""
    if source.build is not None:
        return source.build.root
    if flux is None or not flux.may_build(source.path):
        return None
    repository = flux.repository_of(source.path)
    return repository.root if repository is not None else None


def _rendered_kustomization(source: Source, load_anywhere: bool) -> str:
    """kustomize's build of a kustomize source (`load_anywhere`: files load from anywhere, as
    `kustomize_argv` says), with the fields of the Flux Kustomization that builds it when it
    sets any that change the build, or the kustomization file the Argo CD Application syncing
    it rewrites."""
    if source.kustomization is not None:
        from planner.sources.kustomize_copy import render_rewritten

        return render_rewritten(source.path, source.label, source.kustomization, load_anywhere)
    if source.build is None or not source.build.needs_kustomize:
        return render_kustomization(source.path, load_anywhere=load_anywhere)
    from planner.sources.flux_overlay import render_with_fields

    return render_with_fields(
        source.path, source.label, source.build, source.namespace, origins=bool(source.part)
    )


def _with_metadata(parsed: Parsed, source: Source) -> Parsed:
    """The documents with the commonMetadata of the Flux Kustomization that builds the source
    (set after substitution, as kustomize-controller does)."""
    if source.build is None:
        return parsed
    from planner.sources.flux_overlay import with_common_metadata

    return Parsed(with_common_metadata(parsed.documents, source.build), parsed.notes)


def _rendered_chart(source: Source, helm: HelmOptions) -> str:
    """`helm template` of a chart directory; without helm, the message names the directory
    (walking a repository finds charts nobody named: which one needs helm?)."""
    try:
        return render_chart(source.path, helm)
    except ToolMissingError as err:
        hint = f"{INSTALL_HINTS['helm']}, to render the Helm chart directory `{source.label}`"
        raise ToolMissingError(err.tool, hint) from err


def read_stdin(stdin: TextIO | None, label: str = STDIN_LABEL) -> str:
    """All of stdin as text: its bytes decoded as files are (a bad byte is one line naming it)."""
    stream = stdin or sys.stdin
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return decode_text(buffer.read(), label)
    try:
        return stream.read()
    except UnicodeDecodeError as err:
        raise InputError(f"the input is not UTF-8 text (byte {err.start})", Origin(label)) from err


def _with_notes(
    parsed: Parsed, rendered_by: str | None, default_namespace: str
) -> tuple[list[KubeObject], list[str]]:
    objects, notes = to_objects(parsed.documents, rendered_by, default_namespace)
    return objects, parsed.notes + notes


def _walk(directory: Path, label: str, seen: set[Path]) -> Iterator[Source]:
    """Sources under a directory: rendered as a unit, or its manifest files sorted by path."""
    if is_kustomization_dir(directory):
        yield Source(directory, label, "kustomize")
        return
    if is_chart_dir(directory):
        yield Source(directory, label, "helm")
        return
    real = directory.resolve()
    if real in seen:
        return  # a symlink loop
    seen.add(real)
    for entry in _entries(directory, label):
        if entry.name.startswith("."):
            continue
        child_label = _join_label(label, entry.name)
        if _is_dir(entry):
            yield from _walk(Path(entry.path), child_label, seen)
        elif Path(entry.name).suffix.lower() in MANIFEST_SUFFIXES:
            yield Source(Path(entry.path), child_label, "file")


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether an entry is (or links to) a directory; a link loop is not, and reading it as a
    file reports the loop in one line."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _entries(directory: Path, label: str) -> list[os.DirEntry[str]]:
    """A directory's entries sorted by name; InputError when it cannot be listed."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as err:
        raise InputError(f"cannot read the directory `{label}`: {err.strerror or err}") from err


def _join_label(label: str, name: str) -> str:
    """The label of a directory entry: "dir/name", or "name" under "." / "REF:"."""
    if label == ".":
        return name
    return f"{label}{name}" if label.endswith(("/", ":")) else f"{label}/{name}"
