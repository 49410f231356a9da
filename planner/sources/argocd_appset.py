"""An Argo CD ApplicationSet expanded into the Applications its controller generates, so each is
followed as a written one is (argocd_follow.py).

The controller (argo-cd applicationset/generators, utils, controllers/template) turns each
generator into parameter sets, renders the set's template with each one (argocd_template.py) and
places every Application in the ApplicationSet's namespace. Evaluated here, exactly:

- `list`: `elements`, and `elementsYaml` once no `{{` is left in it (a matrix templates it first);
- `git` over this repository's checkout (its `repoURL` a remote, its `revision` HEAD or a branch,
  judged as an Application's source is): `directories` (Go's `path.Match`: `*` stays within a
  directory and `**` is no more than `*`; `exclude: true` entries drop what they match; hidden
  directories are never listed) and `files` (git's pathspec, where `*` crosses `/`; a pattern
  whose files change with the controller's new-globbing setting is not evaluated), each file's
  object or list of objects flattened with dots as the controller flattens it;
- `clusters` without a selector, in a repository registering no cluster with a Secret: the
  in-cluster cluster only (Argo CD's default cluster, which has no Secret), said in a note;
- `matrix` of two of those (the second interpolated with each of the first's sets), and
  `merge` of two or more by their `mergeKeys`;
- each generator's `values`, `selector` and own `template` (merged over the set's).

Anything else raises NotEvaluated with the reason, and the set is then not followed.

    >>> generated = generate_applications(appset, origin, repository, facts)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.errors import Origin
from planner.objects import KubeObject, ObjectKey
from planner.sources.argocd_env import NotEvaluated
from planner.sources.argocd_follow import HEAD_REVISIONS, GitFacts
from planner.sources.argocd_template import Mode, go_text, is_empty, render_value, sanitize_name
from planner.sources.documents import MANIFEST_SUFFIXES
from planner.sources.flux_repository import Repository, plain
from planner.sources.safety import inside
from planner.sources.urls import normalised_url, shown_url

IN_CLUSTER = {"name": "in-cluster", "nameNormalized": "in-cluster"}
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
# Generators that ask something outside the repository: never evaluated, each with why.
_ELSEWHERE = {
    "scmProvider": "lists the repositories of an SCM provider's API",
    "pullRequest": "lists the open pull requests of an SCM provider's API",
    "plugin": "asks a plugin's service for its parameters",
    "clusterDecisionResource": "reads a resource in the cluster",
}
_CLUSTER_SECRET = re.compile(rb"argocd\.argoproj\.io/secret-type['\"]?\s*:\s*['\"]?cluster\b")
_APPLICATIONS_SYNC_KEPT = frozenset({"create-only", "create-delete"})
_IGNORED_DIFFERENCES = ("/spec/syncPolicy", "/metadata/")  # not what the Application syncs


@dataclass(frozen=True)
class Generated:
    """The Applications an ApplicationSet generates, and notes on how they were found."""

    applications: list[KubeObject]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Context:
    """What every generator of one ApplicationSet needs."""

    said: str  # "FILE: document N, line L: ApplicationSet NS/NAME", for notes
    repository: Repository | None
    facts: GitFacts | None
    mode: Mode
    notes: list[str] = field(default_factory=list)
    # the checkout's directories and files, listed once however many generators read them
    listings: dict[str, list[str]] = field(default_factory=dict)

    def listing(self, root: Path, what: str) -> list[str]:
        """The checkout's `directories` or `files`, as the repo server lists them."""
        if what not in self.listings:
            self.listings[what] = list(_listed(root, "", what == "directories"))
        return self.listings[what]


ParamSet = dict[str, Any]


def generate_applications(
    appset: KubeObject, origin: Origin, repository: Repository | None, facts: GitFacts | None
) -> Generated:
    """The Applications Argo CD's controller generates from `appset` (from `origin`) in
    `repository`; NotEvaluated with the reason when one cannot be known exactly."""
    spec = plain(appset.body.get("spec"))
    _check_spec(spec)
    said = f"{origin}: ApplicationSet {appset.key.namespace}/{appset.key.name}"
    context = _Context(said, repository, facts, Mode.of(spec))
    base = plain(spec.get("template"))
    generators = spec.get("generators")
    if not isinstance(generators, list) or not generators:
        raise NotEvaluated("it has no generators (Argo CD generates nothing)")
    applications: list[KubeObject] = []
    for generator in generators:
        kind, settings = _kind_of(generator)
        template = _merged(plain(settings.get("template")), base)
        for params in _selected(generator, _params(kind, settings, context)):
            applications.append(_application(template, params, appset, context.mode))
    _check_names(applications)
    return Generated(applications, context.notes)


def _check_spec(spec: Mapping[str, Any]) -> None:
    """Refuse what changes what the generated Applications sync and is not evaluated."""
    if spec.get("templatePatch"):
        raise NotEvaluated("its `templatePatch` is not evaluated")
    policy = plain(spec.get("syncPolicy"))
    kept = str(policy.get("applicationsSync") or "")
    if kept in _APPLICATIONS_SYNC_KEPT:
        raise NotEvaluated(
            f"`applicationsSync: {kept}` keeps an existing Application as it was created, "
            "whatever its template says now"
        )
    for entry in spec.get("ignoreApplicationDifferences") or []:
        pointers = plain(entry).get("jsonPointers") or []
        if plain(entry).get("jqPathExpressions") or not all(
            str(p).startswith(_IGNORED_DIFFERENCES) for p in pointers
        ):
            raise NotEvaluated(
                "its `ignoreApplicationDifferences` keeps fields of the live Applications, "
                "which are not known here"
            )


def _kind_of(generator: Any) -> tuple[str, Mapping[str, Any]]:
    """The generator's one kind (`list`, `git`, ...) and its settings."""
    kinds = [key for key in plain(generator) if key != "selector"]
    if len(kinds) != 1:
        raise NotEvaluated(f"a generator names {len(kinds)} kinds ({', '.join(kinds) or 'none'})")
    return kinds[0], plain(plain(generator)[kinds[0]])


def _params(kind: str, settings: Mapping[str, Any], context: _Context) -> list[ParamSet]:
    """The parameter sets one generator gives."""
    if kind == "list":
        return _list_params(settings, context)
    if kind == "git":
        return _git_params(settings, context)
    if kind == "clusters":
        return _cluster_params(settings, context)
    if kind == "matrix":
        return _matrix_params(settings, context)
    if kind == "merge":
        return _merge_params(settings, context)
    why = _ELSEWHERE.get(kind, "is not a generator Argo CD knows")
    raise NotEvaluated(f"its `{kind}` generator {why}")


def _selected(generator: Any, sets: list[ParamSet]) -> list[ParamSet]:
    """The sets a generator's `selector` keeps (matched against their string values)."""
    selector = plain(plain(generator).get("selector"))
    if not selector:
        return sets
    from planner.model.selectors import LabelSelector

    try:
        chosen = LabelSelector.of(selector)
    except (TypeError, ValueError) as bad:
        raise NotEvaluated(f"its generator's selector is invalid ({bad})") from bad
    return [s for s in sets if chosen.matches({k: v for k, v in s.items() if isinstance(v, str)})]


def _with_values(params: ParamSet, settings: Mapping[str, Any], mode: Mode) -> ParamSet:
    """`params` with the generator's `values`, each templated with `params`."""
    values = plain(settings.get("values"))
    rendered = {str(key): render_value(str(value), params, mode) for key, value in values.items()}
    if mode.go_template:
        return {**params, "values": rendered} if rendered else params
    return {**params, **{f"values.{key}": value for key, value in rendered.items()}}


def _list_params(settings: Mapping[str, Any], context: _Context) -> list[ParamSet]:
    """`elements` (strings only, `values` nested, unless goTemplate), then `elementsYaml`."""
    sets: list[ParamSet] = []
    for element in settings.get("elements") or []:
        if not isinstance(element, Mapping):
            raise NotEvaluated("a list element is not an object (Argo CD fails)")
        sets.append(_element(element, context.mode))
    text = settings.get("elementsYaml")
    if text:
        if "{{" in str(text):
            raise NotEvaluated("its `elementsYaml` is templated: not evaluated")
        loaded = _loaded(str(text), "its `elementsYaml`")
        if not isinstance(loaded, list) or not all(isinstance(e, Mapping) for e in loaded):
            raise NotEvaluated("its `elementsYaml` is not a list of objects (Argo CD fails)")
        sets.extend(dict(element) for element in loaded)
    return sets


def _element(element: Mapping[str, Any], mode: Mode) -> ParamSet:
    if mode.go_template:
        return dict(element)
    params: ParamSet = {}
    for key, value in element.items():
        if key == "values" and not isinstance(value, Mapping):
            raise NotEvaluated("a list element's `values` is not an object (Argo CD fails)")
        pairs = value.items() if key == "values" else [(None, value)]
        for sub, item in pairs:
            if not isinstance(item, str):
                raise NotEvaluated(f"list element key `{key}` is not a string (Argo CD fails)")
            params[f"values.{sub}" if sub is not None else str(key)] = item
    return params


def _cluster_params(settings: Mapping[str, Any], context: _Context) -> list[ParamSet]:
    """The in-cluster cluster's set, when the repository registers no cluster with a Secret
    (one could rename it); a selector needs cluster Secrets' labels: refused."""
    selector = plain(settings.get("selector"))
    if selector.get("matchLabels") or selector.get("matchExpressions"):
        raise NotEvaluated(
            "its clusters generator selects clusters by their Secrets' labels, not known here"
        )
    if context.repository is None:
        raise NotEvaluated("no repository to look for Argo CD cluster Secrets in")
    root = context.repository.root
    for relative in context.listing(root, "files"):
        path = root / relative
        if path.suffix in MANIFEST_SUFFIXES and _registers_a_cluster(path):
            raise NotEvaluated(
                f"`{relative}` registers a cluster with Argo CD: the clusters its generator "
                "lists are not evaluated"
            )
    context.notes.append(
        f"{context.said}: its clusters generator was read as the in-cluster cluster only; "
        "Applications it generates for other clusters registered with Argo CD sync there, "
        "not in this plan"
    )
    params: ParamSet = {**IN_CLUSTER, "server": IN_CLUSTER_SERVER}
    return [_with_values(params, settings, context.mode)]


def _registers_a_cluster(path: Path) -> bool:
    """Whether a file holds the label of an Argo CD cluster Secret (`secret-type: cluster`;
    SOPS leaves metadata readable)."""
    try:
        text = path.read_bytes()
    except OSError:
        return False
    return _CLUSTER_SECRET.search(text) is not None


def _matrix_params(settings: Mapping[str, Any], context: _Context) -> list[ParamSet]:
    """Each set of the first child combined with each set of the second, interpolated with it."""
    children = settings.get("generators")
    if not isinstance(children, list) or len(children) != 2:
        raise NotEvaluated("its matrix generator does not have exactly two generators")
    sets = []
    for first in _child_params(children[0], {}, context):
        for second in _child_params(children[1], first, context):
            sets.append(_combined(first, second, context.mode))
    return sets


def _merge_params(settings: Mapping[str, Any], context: _Context) -> list[ParamSet]:
    """The first child's sets, each overridden by the later children's set of equal merge keys
    (a later child's set no first one has is dropped)."""
    children = settings.get("generators")
    keys = [str(key) for key in settings.get("mergeKeys") or []]
    if not isinstance(children, list) or len(children) < 2 or not keys:
        raise NotEvaluated("its merge generator needs two generators and `mergeKeys`")
    merged = _by_merge_key(_child_params(children[0], {}, context), keys)
    for child in children[1:]:
        for key, override in _by_merge_key(_child_params(child, {}, context), keys).items():
            if key in merged:
                merged[key] = _overridden(merged[key], override, context.mode)
    return list(merged.values())


def _by_merge_key(sets: list[ParamSet], keys: list[str]) -> dict[str, ParamSet]:
    by_key: dict[str, ParamSet] = {}
    for params in sets:
        key = json.dumps({k: params.get(k) for k in keys}, sort_keys=True, default=str)
        if key in by_key:
            raise NotEvaluated(f"its merge generator's sets repeat the merge key {key}")
        by_key[key] = params
    return by_key


def _overridden(base: ParamSet, override: ParamSet, mode: Mode) -> ParamSet:
    """A merge's override: its values win (two differing maps under goTemplate: not evaluated)."""
    for key, value in override.items():
        both_maps = isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
        if mode.go_template and both_maps and value != base[key]:
            raise NotEvaluated(f"its merge generator's sets both give the map `{key}`")
    return {**base, **override}


def _child_params(child: Any, interpolated: ParamSet, context: _Context) -> list[ParamSet]:
    if interpolated:
        child = render_value(child, interpolated, context.mode)
    kind, settings = _kind_of(child)
    if kind in ("matrix", "merge"):
        raise NotEvaluated(f"a {kind} generator inside a matrix or merge is not evaluated")
    return _selected(child, _params(kind, settings, context))


def _combined(first: ParamSet, second: ParamSet, mode: Mode) -> ParamSet:
    """Two sets as the matrix combines them: a key both give must agree (under goTemplate the
    first's value wins; a map or an empty value there is not evaluated)."""
    combined = dict(first)
    for key, value in second.items():
        if key not in combined:
            combined[key] = value
        elif combined[key] != value and (
            not mode.go_template
            or isinstance(value, Mapping)
            or isinstance(combined[key], Mapping)
            or is_empty(combined[key])
        ):
            raise NotEvaluated(f"both matrix generators give `{key}`, differently")
    return combined


def _git_params(settings: Mapping[str, Any], context: _Context) -> list[ParamSet]:
    """A git generator's sets, from this repository's checkout."""
    root = _checkout(settings, context)
    prefix = str(settings.get("pathParamPrefix") or "")
    if settings.get("directories"):
        chosen = _chosen_directories(settings["directories"], context.listing(root, "directories"))
        return [
            _with_values(_path_params(d, None, prefix, context.mode), settings, context.mode)
            for d in chosen
        ]
    if settings.get("files"):
        sets = []
        for relative in _chosen_files(settings["files"], context.listing(root, "files")):
            directory = posixpath.dirname(relative) or "."
            for found in _file_objects(root, relative):
                params = _file_params(found, context.mode)
                params.update(_path_params(directory, relative, prefix, context.mode))
                sets.append(_with_values(params, settings, context.mode))
        return sets
    raise NotEvaluated("its git generator has neither `directories` nor `files`")


def _checkout(settings: Mapping[str, Any], context: _Context) -> Path:
    """This checkout's root when the generator reads this repository at its branch."""
    url = str(settings.get("repoURL") or "")
    revision = str(settings.get("revision") or "").strip()
    facts = context.facts
    if context.repository is None:
        raise NotEvaluated("no repository holds its git generator's files")
    if facts is None or not facts.remotes:
        raise NotEvaluated(
            f"its git generator's {shown_url(url)} cannot be compared with this repository "
            "(it has no git remote)"
        )
    if normalised_url(url) not in facts.remotes:
        raise NotEvaluated(
            f"its git generator reads {shown_url(url)}, which is not a remote of this repository"
        )
    if revision not in HEAD_REVISIONS and revision != facts.branch:
        if revision not in facts.branches:
            raise NotEvaluated(
                f"its git generator reads revision `{revision}`, not the checked-out branch"
            )
        context.notes.append(
            f"{context.said}: its git generator's revision `{revision}` is not the checked-out "
            f"branch ({facts.branch or 'detached HEAD'}); its files were read as checked out"
        )
    return context.repository.root


def _path_params(directory: str, file: str | None, prefix: str, mode: Mode) -> ParamSet:
    """The `path` parameters of a directory (or of a file in it), as the git generator sets them."""
    base = posixpath.basename(directory)
    fields: dict[str, Any] = {"path": directory, "basename": base}
    fields["basenameNormalized"] = sanitize_name(base)
    if file is not None:
        fields["filename"] = posixpath.basename(file)
        fields["filenameNormalized"] = sanitize_name(fields["filename"])
    if mode.go_template:
        fields["segments"] = directory.split("/")
        return {prefix: {"path": fields}} if prefix else {"path": fields}
    name = f"{prefix}.path" if prefix else "path"
    params = {name if key == "path" else f"{name}.{key}": value for key, value in fields.items()}
    for index, segment in enumerate(directory.split("/")):
        if segment:
            params[f"{name}[{index}]"] = segment
    return params


def _chosen_directories(entries: Any, listed: list[str]) -> list[str]:
    """The directories some entry matches and no `exclude` entry matches."""
    patterns = [(_go_path_match(str(plain(e).get("path") or "")), plain(e)) for e in entries]
    chosen = []
    for directory in listed:
        matched = [entry for pattern, entry in patterns if pattern.fullmatch(directory)]
        if matched and not any(entry.get("exclude") is True for entry in matched):
            chosen.append(directory)
    return chosen


def _listed(top: Path, relative: str, directories: bool) -> Iterator[str]:
    """Below `top`, depth first in name order: every directory (hidden ones and symlinks
    skipped, as the repo server's walk lists them), or every file (`.git` skipped, as git lists
    a checkout's files)."""
    try:
        entries = sorted(os.scandir(top / relative), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        path = f"{relative}/{entry.name}" if relative else entry.name
        is_directory = entry.is_dir(follow_symlinks=False)
        if not is_directory:
            if not directories:
                yield path
            continue
        if entry.name.startswith(".") if directories else entry.name == ".git":
            continue
        if directories:
            yield path
        yield from _listed(top, path, directories)


def _chosen_files(entries: Any, files: list[str]) -> list[str]:
    """The files the include entries match and no `exclude` entry matches, sorted."""
    chosen: set[str] = set()
    for wanted in (False, True):  # includes, then excludes
        for entry in entries:
            if (plain(entry).get("exclude") is True) != wanted:
                continue
            pattern = str(plain(entry).get("path") or "")
            pathspec, doublestar = _git_pathspec(pattern), _doublestar(pattern)
            matched = {f for f in files if pathspec.fullmatch(f)}
            if matched != {f for f in files if doublestar.fullmatch(f)}:
                raise NotEvaluated(
                    f"the files its pattern `{pattern}` matches depend on the controller's "
                    "new git file globbing setting, not known here"
                )
            chosen = chosen - matched if wanted else chosen | matched
    return sorted(chosen)


def _file_objects(root: Path, relative: str) -> list[Mapping[str, Any]]:
    """A generator file's objects: the file's object, or each of its list's objects."""
    path = root / relative
    if not inside(path.resolve(), root.resolve()):
        raise NotEvaluated(f"its git generator's file `{relative}` links outside the repository")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as unread:
        raise NotEvaluated(f"its git generator's file `{relative}` cannot be read") from unread
    loaded = _loaded(text, f"its git generator's file `{relative}`")
    if loaded is None:
        return [{}]
    if isinstance(loaded, Mapping):
        return [loaded]
    if isinstance(loaded, list) and all(isinstance(item, Mapping) for item in loaded):
        return loaded
    raise NotEvaluated(f"its git generator's file `{relative}` is not an object or a list of them")


def _loaded(text: str, what: str) -> Any:
    """One YAML document as the controller reads it (sigs.k8s.io/yaml)."""
    try:
        documents = kube_yaml.load_all(text)
    except yaml.YAMLError as bad:
        raise NotEvaluated(f"{what} is not valid YAML (Argo CD fails)") from bad
    if len(documents) > 1:
        raise NotEvaluated(f"{what} holds {len(documents)} YAML documents: not evaluated")
    return _json_keys(documents[0]) if documents else None


def _json_keys(value: Any) -> Any:
    """`value` with every map key a string, as YAML read through JSON has them."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else go_text(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(item) for item in value]
    return value


def _file_params(found: Mapping[str, Any], mode: Mode) -> ParamSet:
    """A file object's parameters: as they are under goTemplate, else flattened with dots
    (lists by index) into Go-printed strings."""
    if mode.go_template:
        return dict(found)
    flat: ParamSet = {}

    def flatten(prefix: str, value: Any) -> None:
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, Mapping | list):
                flatten(name, item)
            else:
                flat[name] = "<nil>" if item is None else go_text(item)

    flatten("", found)
    return flat


def _go_path_match(pattern: str) -> re.Pattern[str]:
    """Go's path.Match as a regex: `*` and `?` stay within a path segment, `[...]` (`^` negates),
    `\\` escapes."""
    return _glob_regex(pattern, star="[^/]*", question="[^/]", negation="^")


def _git_pathspec(pattern: str) -> re.Pattern[str]:
    """git's default pathspec: a wildcard pattern where `*` crosses `/`, or a literal path that
    also names everything below it."""
    if not re.search(r"[*?\[]", pattern):
        return re.compile(re.escape(pattern.rstrip("/")) + r"(?:/.*)?", re.DOTALL)
    return _glob_regex(pattern, star=".*", question=".", negation="!^")


def _doublestar(pattern: str) -> re.Pattern[str]:
    """doublestar's glob (the controller's new git file globbing): `**` as a whole segment spans
    directories, `{a,b}` alternates, `*` stays within a segment."""
    parts = []
    for index, segment in enumerate(pattern.split("/")):
        last = index == len(pattern.split("/")) - 1
        if segment == "**":
            parts.append("(?:.*)" if last else "(?:[^/]+/)*")
            continue
        translated = _glob_regex(segment, "[^/]*", "[^/]", "!^", braces=True).pattern
        parts.append(translated + ("" if last else "/"))
    return re.compile("".join(parts), re.DOTALL)


def _glob_regex(
    pattern: str, star: str, question: str, negation: str, braces: bool = False
) -> re.Pattern[str]:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            out.append(star)
        elif char == "?":
            out.append(question)
        elif char == "\\" and index < len(pattern):
            out.append(re.escape(pattern[index]))
            index += 1
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                raise NotEvaluated(f"the pattern `{pattern}` has an unclosed `[`")
            body = pattern[index:end]
            negated = body[:1] in negation
            body = body[1:] if negated else body
            out.append(f"[{'^' if negated else ''}{body.replace(chr(92), chr(92) * 2)}]")
            index = end + 1
        elif char == "{" and braces and "}" in pattern[index:]:
            end = pattern.index("}", index)
            options = pattern[index:end].split(",")
            alternatives = (_glob_regex(o, star, question, negation).pattern for o in options)
            out.append(f"(?:{'|'.join(alternatives)})")
            index = end + 1
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def _merged(own: Any, base: Any) -> Any:
    """A generator's own template over the set's, as the controller merges them (mergo): a
    field the generator leaves empty takes the set's."""
    if isinstance(own, Mapping) and isinstance(base, Mapping):
        return {**base, **{key: _merged(value, base.get(key)) for key, value in own.items()}}
    return base if is_empty(own) and base is not None else own


def _application(
    template: Mapping[str, Any], params: ParamSet, appset: KubeObject, mode: Mode
) -> KubeObject:
    """The Application the template renders with `params`, in the set's namespace."""
    rendered = plain(render_value(template, params, mode) if params else template)
    metadata = dict(plain(rendered.get("metadata")))
    name = metadata.get("name")
    if not isinstance(name, str) or not name or "{{" in name:
        raise NotEvaluated(f"a generated Application is named `{name or ''}` (Argo CD fails)")
    metadata["namespace"] = appset.key.namespace
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": rendered.get("spec"),
    }
    return KubeObject(ObjectKey("Application", appset.key.namespace, name), body, appset.origin)


def _check_names(applications: list[KubeObject]) -> None:
    seen: set[str] = set()
    for application in applications:
        if application.key.name in seen:
            raise NotEvaluated(
                f"it generates two Applications named `{application.key.name}` "
                "(Argo CD refuses the set)"
            )
        seen.add(application.key.name)
