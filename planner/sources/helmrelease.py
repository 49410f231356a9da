"""Flux HelmReleases rendered the way flux-local does: chart from the repository, values merged
in Flux's order, `helm template RELEASE CHART --namespace NS --values FILE`.

Charts inside the repository are rendered (a GitRepository's chart path, or a HelmChart object
pointing at one). Charts of a HelmRepository or an OCIRepository are pulled by helm only when the
user asks (`--fetch-charts`: helm_fetch.py), and only when helm can pull them as Flux does (no
credentials, no cloud provider login). A HelmRelease that cannot be rendered is reported as
unrendered with the reason, never skipped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.errors import InputError, ToolFailedError, ToolMissingError
from planner.sources.documents import Document, parse_yaml
from planner.sources.flux_repository import FluxIndex, mapping, plain, value_data
from planner.sources.helm import HelmOptions, is_chart_dir, render_chart
from planner.sources.helm_fetch import ASK, OCI_SCHEME, FetchedChart, FetchFailed, RemoteChart

# The layer helm-controller renders: a Helm chart's (an OCIRepository selecting another holds none)
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

DEFAULT_VALUES_KEY = "values.yaml"


@dataclass(frozen=True)
class Release:
    """What `helm template` needs: release name, namespace, chart (a directory of the repository,
    or a remote chart helm pulls, from `chart_source`), merged values, and whether a Secret
    contributed to them (then no helm message is shown)."""

    name: str
    namespace: str
    chart: Path | RemoteChart
    values: dict[str, Any]
    from_secret: bool = False
    notes: tuple[str, ...] = ()
    chart_source: str = ""  # "OCIRepository NS/NAME", for a remote chart


@dataclass
class Rendered:
    """Documents a HelmRelease rendered to, or why it was not rendered."""

    documents: list[Document] = field(default_factory=list)
    namespace: str = "default"
    notes: list[str] = field(default_factory=list)
    unrendered: str | None = None  # the reason, when nothing was rendered


class Unrenderable(Exception):
    """Why a HelmRelease cannot be rendered here (its Services go unchecked)."""


def release_id(body: Mapping[str, Any]) -> str:
    """How messages name a HelmRelease: "HelmRelease NAMESPACE/NAME"."""
    metadata = plain(body.get("metadata"))
    return f"HelmRelease {metadata.get('namespace') or 'default'}/{metadata.get('name')}"


def render_helmrelease(document: Document, index: FluxIndex | None, helm: HelmOptions) -> Rendered:
    """Render one HelmRelease with helm; `unrendered` says why when it cannot be."""
    try:
        release = resolve_release(document, index)
        chart, fetched = _chart_on_disk(release, helm)
    except Unrenderable as why:
        return Rendered(unrendered=str(why))
    except ToolMissingError:
        return Rendered(unrendered="helm is not on PATH", notes=list(release.notes))
    notes = list(release.notes)
    if fetched is not None:  # the reader learns which version was checked
        notes.append(f"{document.origin}: {release_id(document.body)} rendered from {fetched}")
    try:
        text = _template(release, chart, helm)
    except ToolMissingError:
        return Rendered(unrendered="helm is not on PATH", notes=notes)
    except ToolFailedError as err:
        shown = "" if release.from_secret else f": {err}"
        return Rendered(unrendered=f"helm template failed{shown}", notes=notes)
    parsed = parse_yaml(text, document.origin.file, "helm template")
    # every rendered object is named by the HelmRelease that made it
    documents = [Document(d.body, document.origin) for d in parsed.documents]
    return Rendered(documents, release.namespace, notes)


def _chart_on_disk(release: Release, helm: HelmOptions) -> tuple[Path, FetchedChart | None]:
    """What `helm template` renders: the chart directory, or the archive of the remote chart
    helm pulled (`--fetch-charts`) with what was pulled; Unrenderable when a remote chart is
    not fetched or helm cannot pull it."""
    if not isinstance(release.chart, RemoteChart):
        return release.chart, None
    where = f"chart {release.chart} ({release.chart_source})"
    if helm.charts is None:
        raise Unrenderable(f"{where} is not fetched; {ASK}")
    try:
        fetched = helm.charts.fetch(release.chart)
    except FetchFailed as why:
        shown = "helm pull failed" if release.from_secret else str(why)
        raise Unrenderable(f"{where}: {shown}") from why
    return fetched.archive, fetched


def resolve_release(document: Document, index: FluxIndex | None) -> Release:
    """Release name, namespace, local chart and merged values of a HelmRelease."""
    body = document.body
    metadata = plain(body.get("metadata"))
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        raise InputError("the HelmRelease has no `spec` mapping", document.origin)
    namespace = str(metadata.get("namespace") or "default")
    if index is None:
        raise Unrenderable("it lies outside any repository the planner can read")
    target = str(spec.get("targetNamespace") or namespace)
    release = spec.get("releaseName") or (
        f"{spec['targetNamespace']}-{metadata.get('name')}"
        if spec.get("targetNamespace")
        else metadata.get("name")
    )
    chart, chart_source = _chart_of(spec, namespace, index, document)
    values, from_secret, notes = merged_values(document, namespace, index)
    if spec.get("postRenderers"):
        notes.append(f"{document.origin}: {release_id(body)}: postRenderers are not evaluated")
    return Release(
        str(release), target, chart, values, from_secret, tuple(notes), chart_source=chart_source
    )


def _chart_of(
    spec: Mapping[str, Any], namespace: str, index: FluxIndex, document: Document
) -> tuple[Path | RemoteChart, str]:
    """The chart directory inside the repository, or the remote chart and the Flux source it
    comes from; Unrenderable naming why there is neither."""
    origin = document.origin
    chart_ref = mapping(spec.get("chartRef"), "spec.chartRef", origin)
    if chart_ref:
        kind, name = str(chart_ref.get("kind")), str(chart_ref.get("name"))
        ref_namespace = str(chart_ref.get("namespace") or namespace)
        where = f"{kind} {ref_namespace}/{name}"
        if kind == "OCIRepository":
            repository = index.find(kind, ref_namespace, name)
            if repository is None:
                raise Unrenderable(f"its chart source {where} is not in the repository")
            return _oci_repository_chart(repository, where), where
        if kind != "HelmChart":
            raise Unrenderable(f"its chart comes from {where}, which the planner does not read")
        helm_chart = index.find("HelmChart", ref_namespace, name)
        if helm_chart is None:
            raise Unrenderable(f"its HelmChart {ref_namespace}/{name} is not in the repository")
        helm_spec = mapping(helm_chart.body.get("spec"), "spec", helm_chart.origin)
        return _chart_from_source(helm_spec, ref_namespace, index, helm_chart)
    chart = mapping(spec.get("chart"), "spec.chart", origin)
    template = mapping(chart.get("spec"), "spec.chart.spec", origin)
    if not template:
        raise Unrenderable("it names no chart (`spec.chart.spec` or `spec.chartRef`)")
    return _chart_from_source(template, namespace, index, document)


def _chart_from_source(
    chart: Mapping[str, Any], namespace: str, index: FluxIndex, document: Document
) -> tuple[Path | RemoteChart, str]:
    """The chart a chart template (`chart`, `sourceRef`, `version`) names, and its source."""
    source = mapping(chart.get("sourceRef"), "sourceRef", document.origin)
    kind, name = str(source.get("kind")), str(source.get("name"))
    source_namespace = str(source.get("namespace") or namespace)
    chart_name = str(chart.get("chart") or "")
    where = f"{kind} {source_namespace}/{name}"
    if kind not in ("GitRepository", "HelmRepository"):
        version = f" {chart['version']}" if chart.get("version") else ""
        raise Unrenderable(f"chart {chart_name}{version} of {where} is not fetched (no network)")
    found = index.find(kind, source_namespace, name)
    if found is None:
        raise Unrenderable(f"its source {where} is not in the repository")
    if kind == "HelmRepository":
        if chart.get("valuesFiles") or chart.get("valuesFile"):
            # they replace the chart's values.yaml inside the artifact source-controller builds
            raise Unrenderable(f"the `valuesFiles` of its chart from {where} are not evaluated")
        version = str(chart.get("version") or "*")  # helm-controller's default: the newest
        return _helm_repository_chart(found, chart_name, version, where), where
    root = index.repository.root
    directory = (root / chart_name.lstrip("/")).resolve()
    if root.resolve() not in (directory, *directory.parents) or not is_chart_dir(directory):
        raise Unrenderable(f"chart path `{chart_name}` of {where} is not a chart in the repository")
    return directory, where


def _helm_repository_chart(
    repository: Document, chart_name: str, version: str, where: str
) -> RemoteChart:
    """The chart `chart_name` of a HelmRepository: `--repo URL`, or under its `oci://` URL."""
    spec = _pullable_spec(repository, where)
    url = str(spec.get("url") or "")
    if spec.get("type") == "oci" and not url.startswith(OCI_SCHEME):
        raise Unrenderable(f"{where} is of type oci, but its URL does not start with oci://")
    if not url:
        raise Unrenderable(f"{where} has no `spec.url`")
    return RemoteChart(url, chart_name, version)


def _oci_repository_chart(repository: Document, where: str) -> RemoteChart:
    """The chart an OCIRepository names (`oci://…/NAME`): at its digest, else the newest tag
    matching its semver range, else its tag (default `latest`), as source-controller picks."""
    spec = _pullable_spec(repository, where)
    url = str(spec.get("url") or "").rstrip("/")
    if not url.startswith(OCI_SCHEME) or "/" not in url.removeprefix(OCI_SCHEME):
        raise Unrenderable(f"{where} has no `spec.url` of the form oci://REGISTRY/CHART")
    ref = mapping(spec.get("ref"), "spec.ref", repository.origin)
    layer = mapping(spec.get("layerSelector"), "spec.layerSelector", repository.origin)
    if layer.get("mediaType") not in (None, HELM_CHART_LAYER):
        raise Unrenderable(f"{where} selects the layer `{layer['mediaType']}`, not a Helm chart")
    if ref.get("semverFilter") and not ref.get("digest"):
        raise Unrenderable(f"{where} filters tags with `semverFilter`, which helm cannot apply")
    parent, _, name = url.rpartition("/")
    if ref.get("digest"):
        return RemoteChart(parent, name, digest=str(ref["digest"]))
    return RemoteChart(parent, name, str(ref.get("semver") or ref.get("tag") or "latest"))


def _pullable_spec(repository: Document, where: str) -> Mapping[str, Any]:
    """A HelmRepository's or OCIRepository's spec when helm can pull from it as Flux does;
    Unrenderable naming what the planner does not know (credentials, a cloud login)."""
    spec = mapping(repository.body.get("spec"), "spec", repository.origin)
    for field_name, what in (("secretRef", "credentials"), ("certSecretRef", "TLS certificates")):
        if plain(spec.get(field_name)).get("name"):
            raise Unrenderable(
                f"{where} needs {what} (`{field_name}`) the planner does not know; not fetched"
            )
    provider = str(spec.get("provider") or "generic")
    if provider != "generic":
        raise Unrenderable(f"{where} logs in through the `{provider}` provider; not fetched")
    if spec.get("insecure") is True:
        raise Unrenderable(f"{where} is reached over plain HTTP (`insecure`); not fetched")
    return spec


def merged_values(
    document: Document, namespace: str, index: FluxIndex
) -> tuple[dict[str, Any], bool, list[str]]:
    """`valuesFrom` in order (a whole values document merged, or one value at `targetPath`),
    then `values` merged over them, as helm-controller does; whether a Secret contributed; notes
    on references read as absent."""
    spec = plain(document.body.get("spec"))
    values: dict[str, Any] = {}
    from_secret = False
    notes: list[str] = []
    references = spec.get("valuesFrom") or []
    if not isinstance(references, list):
        raise InputError("`spec.valuesFrom` must be a list", document.origin)
    for reference in references:
        if not isinstance(reference, Mapping):
            raise InputError("an entry of `spec.valuesFrom` is not a mapping", document.origin)
        kind, name = str(reference.get("kind")), str(reference.get("name"))
        key = str(reference.get("valuesKey") or DEFAULT_VALUES_KEY)
        optional = bool(reference.get("optional"))
        data = value_data(index, kind, namespace, name)
        if data is not None and key not in data:
            if optional:
                continue
            # helm-controller fails the release on a missing key
            raise Unrenderable(f"{kind} {namespace}/{name} has no key `{key}`")
        if data is None:  # optional or not, it may exist in the cluster: say so
            notes.append(
                f"{document.origin}: {release_id(document.body)}: rendered without the values of "
                f"{kind} {namespace}/{name} (not in the repository, or encrypted); its Services "
                f"may differ"
            )
            continue
        from_secret = from_secret or kind == "Secret"
        target_path = reference.get("targetPath")
        if target_path:
            _set_path(values, str(target_path), _typed(data[key]))
        else:
            values = merge_values(values, _values_document(data[key], kind, name, document))
    values = merge_values(values, mapping(spec.get("values"), "spec.values", document.origin))
    return values, from_secret, notes


def merge_values(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge: mappings merge key by key, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(merged.get(key), dict) and isinstance(value, Mapping):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def _values_document(text: str, kind: str, name: str, document: Document) -> dict[str, Any]:
    try:
        loaded = kube_yaml.load(text)
    except yaml.YAMLError as err:
        message = f"values of {kind} {name} (valuesFrom) are not valid YAML"
        raise InputError(message, document.origin) from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(f"values of {kind} {name} (valuesFrom) are not a mapping", document.origin)
    return loaded


def _set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted `targetPath` (`\\.` escapes a dot in a key)."""
    parts = [p.replace("\0", ".") for p in path.replace("\\.", "\0").split(".")]
    here = values
    for part in parts[:-1]:
        if not isinstance(here.get(part), dict):
            here[part] = {}
        here = here[part]
    here[parts[-1]] = value


def _typed(text: str) -> Any:
    """A `targetPath` value as helm-controller sets it: quoted ('...' or "...") a string without
    its quotes, else typed as `helm --set` types it (booleans, null, integers)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    digits = text.removeprefix("-")
    if digits.isdigit() and (digits == "0" or not digits.startswith("0")):
        return int(text)
    return text


def _template(release: Release, chart: Path, helm: HelmOptions) -> str:
    """`helm template` of the release's `chart` (a directory or a pulled archive), its merged
    values in a private temporary file."""
    options = HelmOptions(
        release=release.name,
        namespace=release.namespace,
        kube_version=helm.kube_version,
        api_versions=helm.api_versions,
        inline_values=yaml.safe_dump(release.values, sort_keys=False),
    )
    return render_chart(chart, options)
