"""Argo CD's kustomize build options, as the repository being read declares them.

Argo CD runs `kustomize build PATH OPTIONS...` with OPTIONS the argocd-cm ConfigMap's
`kustomize.buildOptions` split on white space (argo-cd util/kustomize `Build`: Go's
`strings.Fields`, no quoting). Repositories that install Argo CD say it in one of: an `argocd-cm`
ConfigMap (a manifest, a kustomize patch of it, or a `configMapGenerator` literal), the argo-cd
Helm chart's values (`configs.cm`: a values file, a HelmRelease's `values`, an Application's
`helm.valuesObject`/`values`, a kustomization's `helmCharts` `valuesInline`), or the Argo CD
operator's `ArgoCD` resource (`spec.kustomizeBuildOptions`). Files are read only when their
bytes name the option (the byte prefilter of flux_build), so a repository without Argo CD
parses nothing.

    >>> parse_options("--enable-helm --load-restrictor LoadRestrictionsNone", "x").load_anywhere
    True
"""

from __future__ import annotations

import mmap
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.errors import InputError
from planner.sources.flux_build import file_bytes_hold, flux_files
from planner.sources.flux_repository import Repository, plain
from planner.sources.safety import listed

OPTIONS_KEY = "kustomize.buildOptions"
OPERATOR_FIELD = "kustomizeBuildOptions"  # the Argo CD operator's `ArgoCD` spec
CONFIG_MAP = "argocd-cm"
_MARKERS = (OPTIONS_KEY.encode(), OPERATOR_FIELD.encode())
LOAD_NONE = "LoadRestrictionsNone"
LOAD_ROOT_ONLY = "LoadRestrictionsRootOnly"
# what helm reads as a Kubernetes version or an API version: nothing the planner cannot pass as is
_KUBE_VERSION = re.compile(r"v?[0-9]+\.[0-9]+(\.[0-9]+)?")
_API_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]*")
HOW_TO_SAY = "--argocd-build-options"
# a kustomization file need not say its kind: these fields tell it from a values file
_KUSTOMIZATION_FIELDS = frozenset(
    {"resources", "helmCharts", "patches", "patchesStrategicMerge", "configMapGenerator"}
)


@dataclass(frozen=True)
class BuildOptions:
    """Argo CD's kustomize build options: as `written`, `where` they are written, and what the
    planner makes of them: `--enable-helm` (or `--enable-alpha-plugins`, which enables it in
    kustomize), `--load-restrictor LoadRestrictionsNone`, the helm version flags it passes on,
    and the options it does not pass (named in a note)."""

    written: str
    where: str
    enable_helm: bool = False
    load_anywhere: bool = False
    helm_flags: tuple[str, ...] = ()
    not_passed: tuple[str, ...] = ()

    @property
    def said(self) -> str:
        """The note naming these options, where they come from and what is not passed."""
        text = f"Argo CD's kustomize builds use the build options `{self.written}` ({self.where})"
        if self.not_passed:
            text += f"; not passed to kustomize here: {', '.join(self.not_passed)}"
        return text


# Argo CD's options when the repository does not say: what the planner assumed before reading them
ASSUMED = BuildOptions("--enable-helm", "assumed: none found in the repository", enable_helm=True)


@dataclass(frozen=True)
class FoundOptions:
    """What a repository declares: the options (None when it declares none, or several that
    disagree: `contradiction` then says which)."""

    options: BuildOptions | None = None
    contradiction: str = ""


@dataclass(frozen=True)
class _Definition:
    where: str
    written: str


def given_options(text: str) -> BuildOptions:
    """The options given on the command line (shell words); InputError when they cannot be
    split (an unclosed quote)."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise InputError(f"{HOW_TO_SAY}: `{text}` cannot be split into options ({err})") from err
    return parse_options(" ".join(words), HOW_TO_SAY, words)


def parse_options(written: str, where: str, words: list[str] | None = None) -> BuildOptions:
    """`written` (split on white space as Argo CD splits it, or `words`) as the planner builds
    with it."""
    words = written.split() if words is None else words
    enable_helm = load_anywhere = False
    helm_flags: list[str] = []
    not_passed: list[str] = []
    position = 0
    while position < len(words):
        word = words[position]
        name, equals, value = word.partition("=")
        takes_value = name in ("--load-restrictor", "--helm-kube-version", "--helm-api-versions")
        if takes_value and not equals and position + 1 < len(words):
            position += 1
            value = words[position]
            word = f"{name} {value}"
        position += 1
        if name == "--enable-helm" and value in ("", "true"):
            enable_helm = True
        elif name == "--enable-helm" and value == "false":
            enable_helm = False
        elif name == "--enable-alpha-plugins" and value in ("", "true"):
            enable_helm = True  # kustomize's plugin config enables its helm inflation too
            not_passed.append(f"`{word}` (only its `helmCharts` inflation is done)")
        elif name == "--load-restrictor" and value in (LOAD_NONE, LOAD_ROOT_ONLY):
            load_anywhere = value == LOAD_NONE
        elif _simple_helm_flag(name, value):
            helm_flags += [name, value]
        else:  # with its value: Argo CD puts the path first, so a word after a flag belongs to it
            if position < len(words) and not words[position].startswith("-"):
                word, position = f"{word} {words[position]}", position + 1
            not_passed.append(f"`{word}`")
    return BuildOptions(
        written, where, enable_helm, load_anywhere, tuple(helm_flags), tuple(not_passed)
    )


def _simple_helm_flag(name: str, value: str) -> bool:
    """Whether `name value` is a helm version flag whose value helm reads as written."""
    if name == "--helm-kube-version":
        return _KUBE_VERSION.fullmatch(value) is not None
    return name == "--helm-api-versions" and all(
        _API_VERSION.fullmatch(v) for v in value.split(",")
    )


def find_options(repository: Repository) -> FoundOptions:
    """Argo CD's kustomize build options as the repository's files declare them (one walk;
    only files whose bytes name them are parsed)."""
    definitions = [
        definition
        for path in flux_files(repository.root)
        if file_bytes_hold(path, _names_options)
        for definition in _definitions(path, repository.label(path))
    ]
    written = {" ".join(d.written.split()) for d in definitions}
    if not definitions:
        return FoundOptions()
    if len(written) > 1:
        shown = "; ".join(f"`{d.written}` ({d.where})" for d in definitions)
        return FoundOptions(
            contradiction="Argo CD's kustomize build options are written differently in the "
            f"repository ({shown}): the planner takes none of them"
        )
    wheres = ", ".join(sorted({d.where for d in definitions}))
    return FoundOptions(parse_options(definitions[0].written, wheres))


def _names_options(data: bytes | mmap.mmap) -> bool:
    return any(data.find(marker) >= 0 for marker in _MARKERS)


def _definitions(path: Path, label: str) -> Iterator[_Definition]:
    """The build options one file declares (a file that does not parse declares none)."""
    try:
        bodies = kube_yaml.load_all(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    for body in bodies:
        if isinstance(body, Mapping):
            yield from _in_document(body, label)


def _in_document(body: Mapping[str, Any], label: str) -> Iterator[_Definition]:
    kind, spec = body.get("kind"), plain(body.get("spec"))
    if kind == "ConfigMap" and plain(body.get("metadata")).get("name") == CONFIG_MAP:
        yield from _in_data(plain(body.get("data")), f"{label}, ConfigMap {CONFIG_MAP}")
    elif kind == "ArgoCD" and str(body.get("apiVersion", "")).startswith("argoproj.io/"):
        if isinstance(spec.get(OPERATOR_FIELD), str):
            where = f"{label}, ArgoCD `spec.{OPERATOR_FIELD}`"
            yield _Definition(where, spec[OPERATOR_FIELD])
    elif kind == "Kustomization" or not _KUSTOMIZATION_FIELDS.isdisjoint(body):
        yield from _in_kustomization(body, label)
    elif kind is None and "apiVersion" not in body:  # a values file of the argo-cd chart
        yield from _in_values(body, f"{label}, `configs.cm`")
    elif kind == "HelmRelease":
        yield from _in_values(plain(spec.get("values")), f"{label}, HelmRelease `values`")
    elif kind in ("Application", "ApplicationSet"):
        application = plain(spec.get("template")).get("spec") if kind == "ApplicationSet" else spec
        yield from _in_application(plain(application), label)


def _in_data(data: Mapping[str, Any], where: str) -> Iterator[_Definition]:
    value = data.get(OPTIONS_KEY)
    if isinstance(value, str):
        yield _Definition(where, value)


def _in_values(values: Mapping[str, Any], where: str) -> Iterator[_Definition]:
    yield from _in_data(plain(plain(values.get("configs")).get("cm")), where)


def _in_application(spec: Mapping[str, Any], label: str) -> Iterator[_Definition]:
    sources = spec.get("sources")
    for source in sources if isinstance(sources, list) else [spec.get("source")]:
        helm = plain(plain(source).get("helm"))
        where = f"{label}, Application `helm` values"
        yield from _in_values(plain(helm.get("valuesObject")), where)
        if isinstance(helm.get("values"), str):
            yield from _in_values(plain(_loaded(helm["values"])), where)


def _in_kustomization(body: Mapping[str, Any], label: str) -> Iterator[_Definition]:
    """A kustomization's inline patches of argocd-cm, its `configMapGenerator` literals for
    argocd-cm, and its `helmCharts` entries' `valuesInline`."""
    for patch in listed(body, "patches") + listed(body, "patchesStrategicMerge"):
        text = plain(patch).get("patch") if isinstance(patch, Mapping) else patch
        if isinstance(text, str) and "\n" in text.strip():
            for document in _loaded_all(text):
                yield from _in_document(plain(document), f"{label}, a patch")
    for generator in listed(body, "configMapGenerator"):
        if plain(generator).get("name") != CONFIG_MAP:
            continue
        for literal in listed(plain(generator), "literals"):
            key, _, value = str(literal).partition("=")
            if key.strip() == OPTIONS_KEY:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]  # kustomize unquotes a literal's value
                yield _Definition(f"{label}, `configMapGenerator` {CONFIG_MAP}", value)
    for chart in listed(body, "helmCharts"):
        yield from _in_values(
            plain(plain(chart).get("valuesInline")), f"{label}, `helmCharts` values"
        )


def _loaded(text: str) -> Any:
    try:
        return kube_yaml.load(text)
    except yaml.YAMLError:
        return None


def _loaded_all(text: str) -> list[Any]:
    try:
        return kube_yaml.load_all(text)
    except yaml.YAMLError:
        return []
