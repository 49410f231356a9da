"""From parsed documents to `KubeObject`s: identity keys, scope, duplicates, and the kinds the
planner reads (Services, MetalLB pools, Namespaces, Flux HelmReleases).

    >>> doc = Document({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"}},
    ...                Origin("a.yaml"))
    >>> objects, notes = to_objects([doc])
    >>> objects[0].key
    ObjectKey(kind='Service', namespace='default', name='dns')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from planner.errors import InputError, Origin
from planner.objects import KubeObject, Manifest, ObjectKey, is_mapping
from planner.sources.documents import Document
from planner.sources.validate import OWN_ANNOTATIONS, check_fields

DEFAULT_NAMESPACE = "default"

# Kinds without a namespace; every other kind (custom resources included) is namespaced.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        # core and built-in API groups
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "IPAddress",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "SelfSubjectAccessReview",
        "SelfSubjectReview",
        "SelfSubjectRulesReview",
        "ServiceCIDR",
        "StorageClass",
        "SubjectAccessReview",
        "TokenReview",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        # widely used add-ons
        "ClusterIssuer",  # cert-manager
        "ClusterPolicy",  # kyverno
        "ClusterSecretStore",  # external-secrets
        "GatewayClass",  # Gateway API
    }
)

METALLB_GROUP = "metallb.io"


def is_cluster_scoped(kind: str) -> bool:
    """True for kinds that live outside any namespace (by the table above)."""
    return kind in CLUSTER_SCOPED_KINDS


def placed_in(documents: list[Document], namespace: str, *, overriding: bool) -> list[Document]:
    """The documents with their namespaced objects in `namespace`: every one, whatever it names
    (`overriding`: a Flux Kustomization's targetNamespace), or those written without one (an
    Argo CD Application's destination). Cluster-scoped kinds, and a malformed `metadata` (it is
    reported as it is), are left as written."""
    placed = []
    for document in documents:
        body = document.body
        metadata = body.get("metadata")
        if (
            isinstance(metadata, dict)
            and (overriding or not metadata.get("namespace"))
            and not is_cluster_scoped(str(body.get("kind")))
        ):
            document = Document(
                {**body, "metadata": {**metadata, "namespace": namespace}}, document.origin
            )
        placed.append(document)
    return placed


def object_key(
    body: Manifest, origin: Origin, default_namespace: str = DEFAULT_NAMESPACE
) -> ObjectKey:
    """The (kind, namespace, name) of a manifest; InputError when its metadata is unusable."""
    kind = body["kind"]
    metadata = _metadata(body, origin)
    name = metadata.get("name")
    if name is None or name == "":
        raise InputError(f"the {kind} has no `metadata.name`", origin)
    if not isinstance(name, str):
        raise InputError(f"`metadata.name` of the {kind} must be a string", origin)
    if is_cluster_scoped(kind):
        return ObjectKey(kind, "", name)
    namespace = metadata.get("namespace") or default_namespace
    if not isinstance(namespace, str):
        raise InputError(f"`metadata.namespace` of the {kind} {name} must be a string", origin)
    return ObjectKey(kind, namespace, name)


def to_objects(
    documents: Iterable[Document],
    rendered_by: str | None = None,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> tuple[list[KubeObject], list[str]]:
    """KubeObjects for documents, and notes for those that cannot be planned (generateName)."""
    objects: list[KubeObject] = []
    notes: list[str] = []
    for document in documents:
        if _identity_encrypted(document.body):
            notes.append(
                f"{document.origin}: skipped a document SOPS encrypted whole (its kind and name "
                "too): Flux decrypts it as it applies it; if it is a Service, it was not checked"
            )
            continue
        metadata = _metadata(document.body, document.origin)
        if not metadata.get("name") and metadata.get("generateName"):
            kind = document.body["kind"]
            notes.append(f"{document.origin}: skipped a {kind} named by generateName")
            continue
        key = object_key(document.body, document.origin, default_namespace)
        obj = KubeObject(key, document.body, document.origin, rendered_by)
        # every command, desired and live alike, refuses the same input
        check_fields(obj, rewritable=OWN_ANNOTATIONS)
        objects.append(obj)
    return objects, notes


def _identity_encrypted(body: Manifest) -> bool:
    """Whether SOPS encrypted what names the document (no `encrypted_regex`: every value is
    `ENC[...]`, `kind` and `metadata.name` included)."""
    if not is_mapping(body.get("sops")):
        return False
    metadata = body.get("metadata")
    named = [body.get("kind"), *([metadata.get("name")] if is_mapping(metadata) else [])]
    return any(isinstance(value, str) and value.startswith("ENC[") for value in named)


def check_unique(objects: Iterable[KubeObject]) -> None:
    """InputError naming both origins when two objects share a kind, namespace and name."""
    first_seen: dict[ObjectKey, KubeObject] = {}
    for obj in objects:
        earlier = first_seen.setdefault(obj.key, obj)
        if earlier is not obj:
            message = f"{obj.key} is defined twice (first at {_where(earlier)})"
            raise InputError(message, obj.origin)


def without_repeats(objects: Iterable[KubeObject]) -> tuple[list[KubeObject], list[str]]:
    """The objects with each one written again read once, and a note per repeated key. Flux
    repos give every app its own copy of a shared OCIRepository (rwlove/home-ops: media/app-
    template in each app, some with the app's commonLabels): the same content applied twice
    changes nothing, and copies that differ only matter when the plan reads the kind (Services,
    MetalLB pools, Namespaces): InputError then, as check_unique."""
    first_seen: dict[ObjectKey, KubeObject] = {}
    kept: list[KubeObject] = []
    repeated: dict[ObjectKey, list[KubeObject]] = {}
    for obj in objects:
        earlier = first_seen.setdefault(obj.key, obj)
        if earlier is obj:
            kept.append(obj)
        elif earlier.body == obj.body or not _planned(obj):
            repeated.setdefault(obj.key, [earlier]).append(obj)
        else:
            message = f"{obj.key} is defined twice (first at {_where(earlier)})"
            raise InputError(message, obj.origin)
    return kept, [_repeat_note(copies) for copies in repeated.values()]


def _planned(obj: KubeObject) -> bool:
    return obj.key.kind in ("Service", "Namespace") or is_pool_manifest(obj.body)


def _repeat_note(copies: list[KubeObject]) -> str:
    first = copies[0]
    if all(copy.body == first.body for copy in copies):
        how = "with the same content"
    else:  # the plan does not read the kind: the cluster keeps the copy applied last
        how = "in copies that differ (compared: the first; the cluster keeps the last applied)"
    return f"{first.key} is written {len(copies)} times {how} (first at {_where(first)})"


def services_of(objects: Iterable[KubeObject]) -> dict[str, Manifest]:
    """Service manifests by "namespace/name", sorted by that key."""
    found = {obj.key.svc_key: obj.body for obj in objects if obj.key.kind == "Service"}
    return dict(sorted(found.items()))


def pools_of(objects: Iterable[KubeObject]) -> list[Manifest]:
    """MetalLB configuration manifests: IPAddressPools and the pre-0.13 ConfigMap, sorted."""
    pools = [obj for obj in objects if is_pool_manifest(obj.body)]  # few: sorted after
    return [obj.body for obj in sorted(pools, key=lambda o: o.key)]


def namespaces_of(objects: Iterable[KubeObject]) -> dict[str, dict[str, str]]:
    """Namespace name -> its labels (for pools pinned by namespace selectors), sorted."""
    found = {
        obj.key.name: dict((obj.body.get("metadata") or {}).get("labels") or {})
        for obj in objects
        if obj.key.kind == "Namespace"
    }
    return dict(sorted(found.items()))


def is_pool_manifest(body: Manifest) -> bool:
    """True for a MetalLB IPAddressPool or a legacy MetalLB ConfigMap with `address-pools`."""
    if body.get("kind") == "IPAddressPool":
        return str(body.get("apiVersion", "")).startswith(f"{METALLB_GROUP}/")
    if body.get("kind") == "ConfigMap":
        config = (body.get("data") or {}).get("config")
        return isinstance(config, str) and "address-pools" in config
    return False


# Flux's helm-controller API group (planner/sources/helmrelease.py renders what it names).
HELM_GROUP = "helm.toolkit.fluxcd.io"


def is_helmrelease(body: Mapping[str, Any]) -> bool:
    """True for a Flux HelmRelease (helm.toolkit.fluxcd.io v2, v2beta1, v2beta2)."""
    api = str(body.get("apiVersion", ""))
    return body.get("kind") == "HelmRelease" and api.startswith(f"{HELM_GROUP}/")


def _metadata(body: Manifest, origin: Origin) -> Manifest:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InputError(f"`metadata` of the {body['kind']} must be a mapping", origin)
    return metadata


def _where(obj: KubeObject) -> str:
    return str(obj.origin) if obj.origin else "an object the planner made"
