"""planner.sources.kinds: identity keys, scope, duplicates, and the kinds the planner reads."""

from __future__ import annotations

import pytest

from planner.errors import InputError, Origin
from planner.objects import KubeObject, ObjectKey
from planner.sources.documents import Document, parse_yaml
from planner.sources.kinds import (
    check_unique,
    is_cluster_scoped,
    is_pool_manifest,
    namespaces_of,
    object_key,
    pools_of,
    services_of,
    to_objects,
)

ORIGIN = Origin("a.yaml", 2, 7)


def _doc(kind: str, metadata: object, api_version: str = "v1") -> Document:
    return Document({"apiVersion": api_version, "kind": kind, "metadata": metadata}, ORIGIN)


@pytest.mark.parametrize(
    "kind",
    ["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"]
    + ["PriorityClass", "IngressClass", "PersistentVolume", "ValidatingWebhookConfiguration"],
)
def test_cluster_scoped_kinds_have_no_namespace_even_when_one_is_written(kind: str) -> None:
    assert is_cluster_scoped(kind)
    key = object_key(_doc(kind, {"name": "x", "namespace": "ignored"}).body, ORIGIN)
    assert key == ObjectKey(kind, "", "x")


def test_namespaced_kinds_default_to_the_default_namespace() -> None:
    assert object_key(_doc("Service", {"name": "dns"}).body, ORIGIN) == ObjectKey(
        "Service", "default", "dns"
    )
    pool = _doc("IPAddressPool", {"name": "p", "namespace": "metallb-system"}, "metallb.io/v1beta1")
    assert object_key(pool.body, ORIGIN) == ObjectKey("IPAddressPool", "metallb-system", "p")
    assert object_key(_doc("Widget", {"name": "w"}).body, ORIGIN, "apps").namespace == "apps"


@pytest.mark.parametrize("metadata", [None, {}, {"name": ""}, {"labels": {"a": "b"}}])
def test_a_service_without_a_name_names_file_document_and_line(metadata: object) -> None:
    with pytest.raises(InputError) as caught:
        to_objects([_doc("Service", metadata)])
    assert str(caught.value) == "a.yaml: document 3, line 7: the Service has no `metadata.name`"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("dns", "`metadata` of the Service must be a mapping"),
        ({"name": 5}, "`metadata.name` of the Service must be a string"),
        ({"name": "dns", "namespace": ["a"]}, "`metadata.namespace` of the Service dns must be"),
    ],
)
def test_unusable_metadata_is_refused(metadata: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        to_objects([_doc("Service", metadata)])


def test_objects_named_by_generate_name_are_skipped_with_a_note() -> None:
    objects, notes = to_objects([_doc("Job", {"generateName": "migrate-"})])
    assert objects == []
    assert notes == ["a.yaml: document 3, line 7: skipped a Job named by generateName"]


def test_a_document_sops_encrypted_whole_is_skipped_with_a_note() -> None:
    """sulibot/home-ops: a Secret encrypted without `encrypted_regex` (kind and name are
    `ENC[...]` too). Flux decrypts it as it applies it; before, exit 2 on its encrypted
    namespace ("is not a DNS-1123 label")."""
    encrypted = "ENC[AES256_GCM,data:5g8R+fOG,iv:x,tag:y,type:str]"
    body = {
        "apiVersion": encrypted,
        "kind": encrypted,
        "metadata": {"name": encrypted, "namespace": encrypted},
        "sops": {"age": [{"recipient": "age1x"}]},
    }
    objects, notes = to_objects([Document(body, ORIGIN)])
    assert objects == []
    assert notes == [
        (
            "a.yaml: document 3, line 7: skipped a document SOPS encrypted whole (its kind and "
            "name too): Flux decrypts it as it applies it; if it is a Service, it was not checked"
        )
    ]
    # encrypted values alone (`encrypted_regex: ^(data|stringData)$`): read as usual
    plain = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": encrypted}, "sops": {}}
    (obj,), notes = to_objects([Document(plain, ORIGIN)])
    assert (obj.key, notes) == (ObjectKey("Secret", "default", "s"), [])


def test_to_objects_keeps_body_origin_and_renderer() -> None:
    (obj,), notes = to_objects([_doc("Service", {"name": "dns"})], rendered_by="helm")
    assert obj.body["metadata"] == {"name": "dns"}
    assert obj.origin == ORIGIN
    assert obj.rendered_by == "helm"
    assert notes == []


def test_duplicates_name_both_origins() -> None:
    first = parse_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: dns}\n", "a.yaml")
    second = parse_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: default}\n",
        "b.yaml",
    )
    objects, _ = to_objects(first.documents + second.documents)
    with pytest.raises(InputError) as caught:
        check_unique(objects)
    assert str(caught.value) == (
        "b.yaml: document 2, line 5: Service default/dns is defined twice "
        "(first at a.yaml: document 1, line 1)"
    )


def test_same_name_in_other_namespace_or_kind_is_not_a_duplicate() -> None:
    docs = [
        _doc("Service", {"name": "dns"}),
        _doc("Service", {"name": "dns", "namespace": "kube-system"}),
        _doc("ConfigMap", {"name": "dns"}),
    ]
    objects, _ = to_objects(docs)
    check_unique(objects)
    assert len({obj.key for obj in objects}) == 3


def _objects(*docs: Document) -> list[KubeObject]:
    return to_objects(list(docs))[0]


def test_services_pools_and_namespaces_are_picked_out_sorted() -> None:
    legacy = Document(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "config", "namespace": "metallb-system"},
            "data": {"config": "address-pools:\n- name: default\n"},
        },
        ORIGIN,
    )
    objects = _objects(
        _doc("Service", {"name": "web", "namespace": "b"}),
        _doc("Service", {"name": "dns", "namespace": "a"}),
        _doc("IPAddressPool", {"name": "z", "namespace": "metallb-system"}, "metallb.io/v1beta1"),
        _doc("IPAddressPool", {"name": "other"}, "example.com/v1"),
        legacy,
        _doc("ConfigMap", {"name": "plain"}),
        _doc("Namespace", {"name": "b", "labels": {"team": "edge"}}),
        _doc("Namespace", {"name": "a"}),
    )
    assert list(services_of(objects)) == ["a/dns", "b/web"]
    assert [pool["metadata"]["name"] for pool in pools_of(objects)] == ["config", "z"]
    assert namespaces_of(objects) == {"a": {}, "b": {"team": "edge"}}
    assert not is_pool_manifest({"kind": "ConfigMap", "data": {"config": 5}})


def test_pools_of_keeps_the_pool_manifests_sorted_by_key() -> None:
    from planner.sources.kinds import pools_of
    from tests.diff.builders import lb_service, pool

    def pool_object(name: str, namespace: str = "metallb-system") -> KubeObject:
        body = {**pool(name), "metadata": {"name": name, "namespace": namespace}}
        return KubeObject(ObjectKey("IPAddressPool", namespace, name), body)

    legacy = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"config": "address-pools: []"}}
    objects = [
        pool_object("zeta"),
        KubeObject(ObjectKey("Service", "dns", "a"), lb_service("a")),
        pool_object("alpha", "other"),
        KubeObject(ObjectKey("ConfigMap", "metallb-system", "config"), legacy),
        pool_object("alpha"),
    ]
    found = pools_of(objects)
    assert [(b["kind"], b.get("metadata", {}).get("name")) for b in found] == [
        ("ConfigMap", None),
        ("IPAddressPool", "alpha"),
        ("IPAddressPool", "zeta"),
        ("IPAddressPool", "alpha"),
    ]
    assert found[1]["metadata"]["namespace"] == "metallb-system"
