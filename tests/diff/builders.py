"""Builders for the diff tests: desired manifests and the live objects an API server makes of them.

`served()` plays the API server, MetalLB's controller and a GitOps tool: it adds every field
they fill in (server metadata, defaults, cluster IPs, node ports, status, tracking marks, the
applier's record), so that a clean repo can be diffed against "its own" cluster.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from planner.errors import Origin
from planner.objects import KubeObject, Manifest, ObjectKey

CLUSTER_SCOPED = ("Namespace",)


def service(
    name: str,
    namespace: str | None = "dns",
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Manifest:
    """A desired Service manifest; `spec` fields as keyword arguments."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def lb_service(name: str, namespace: str = "dns", **spec: Any) -> Manifest:
    """A desired LoadBalancer Service sharing 192.168.10.53, one TCP port unless given."""
    spec.setdefault("type", "LoadBalancer")
    spec.setdefault("selector", {"app.kubernetes.io/name": name})
    spec.setdefault("ports", [{"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
    annotations = spec.pop("annotations", None) or {
        "metallb.io/allow-shared-ip": "dns",
        "metallb.io/loadBalancerIPs": "192.168.10.53",
    }
    return service(name, namespace, annotations=annotations, **spec)


def pool(name: str = "lan", addresses: list[str] | None = None) -> Manifest:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": addresses or ["192.168.10.0/24"]},
    }


def namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def secret(name: str, namespace: str = "dns", **fields: Any) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        **fields,
    }


def obj(body: Manifest, file: str = "repo/app.yaml", document: int = 0) -> KubeObject:
    """A KubeObject with its key (namespace "default" when a namespaced manifest has none)."""
    metadata = body.get("metadata") or {}
    kind = str(body.get("kind"))
    ns = "" if kind in CLUSTER_SCOPED else str(metadata.get("namespace") or "default")
    key = ObjectKey(kind, ns, str(metadata.get("name")))
    return KubeObject(key, body, Origin(file, document, 1 + 10 * document))


def served(
    desired: Manifest,
    *,
    applied: str = "none",
    tracking: str | None = None,
    index: int = 0,
) -> Manifest:
    """The live object an API server holds after a GitOps tool applied `desired`.

    applied: "none" (no record, as `kubectl get -o yaml` shows SSA objects), "kubectl"
    (client-side apply: last-applied-configuration) or "ssa" (managedFields with fieldsV1).
    tracking: None, "argocd-annotation", "argocd-label" or "flux".
    """
    applied_body = _with_tracking(copy.deepcopy(desired), tracking)
    live = copy.deepcopy(applied_body)
    kind = live["kind"]
    metadata = live.setdefault("metadata", {})
    if kind not in CLUSTER_SCOPED:
        metadata.setdefault("namespace", "default")
    metadata.update(
        uid=f"6f0c1a52-2b51-4f7a-9d1e-{index:012d}",
        resourceVersion=str(48213377 + index),
        creationTimestamp="2026-09-14T08:12:31Z",
        generation=1,
    )
    annotations = metadata.setdefault("annotations", {})
    if applied == "kubectl":
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(applied_body)
    if applied == "ssa":
        metadata["managedFields"] = [
            {
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(applied_body),
                "manager": "argocd-controller",
                "operation": "Apply",
                "time": "2026-09-14T08:12:31Z",
            },
            {
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
                "manager": "metallb-controller",
                "operation": "Update",
                "subresource": "status",
            },
        ]
    _DEFAULTERS.get(kind, lambda body, i: None)(live, index)
    if not annotations:
        del metadata["annotations"]
    return live


def fields_v1(body: Any) -> Any:
    """The fieldsV1 set server-side apply records for a manifest (ports keyed by port+protocol)."""
    if not isinstance(body, dict):
        return {}
    result: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "selector" or not isinstance(value, (dict, list)):
            result[f"f:{key}"] = {}  # atomic, or a scalar
        elif isinstance(value, dict):
            result[f"f:{key}"] = {".": {}, **fields_v1(value)}
        elif key == "ports":
            result[f"f:{key}"] = {
                "k:" + json.dumps({"port": p["port"], "protocol": p.get("protocol", "TCP")}): {
                    ".": {},
                    **fields_v1(p),
                }
                for p in value
            }
        else:
            result[f"f:{key}"] = {}
    return result


def _with_tracking(body: Manifest, tracking: str | None) -> Manifest:
    metadata = body.setdefault("metadata", {})
    name = metadata.get("name")
    ns = metadata.get("namespace", "default")
    if tracking == "argocd-annotation":
        group_kind = f"{body['apiVersion'].rpartition('/')[0]}/{body['kind']}"
        metadata.setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = (
            f"dns-app:{group_kind}:{ns}/{name}"
        )
    elif tracking == "argocd-label":
        metadata.setdefault("labels", {})["app.kubernetes.io/instance"] = "dns-app"
    elif tracking == "flux":
        metadata.setdefault("labels", {}).update(
            {
                "kustomize.toolkit.fluxcd.io/name": "dns",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            }
        )
    return body


def _default_service(live: Manifest, index: int) -> None:
    spec = live.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("ipFamilies", ["IPv4"])
    ips = {"IPv4": f"10.96.{index // 250}.{index % 250 + 1}", "IPv6": f"fd00:96::{index + 1:x}"}
    spec["clusterIPs"] = [ips[family] for family in spec["ipFamilies"]]
    spec["clusterIP"] = spec["clusterIPs"][0]
    for number, port in enumerate(spec.get("ports") or []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port["port"])
        if spec["type"] in ("NodePort", "LoadBalancer"):
            port.setdefault("nodePort", 30000 + (10 * index + number) % 2000)
    if spec["type"] != "LoadBalancer":
        return
    spec.setdefault("externalTrafficPolicy", "Cluster")
    spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec["externalTrafficPolicy"] == "Local":
        spec.setdefault("healthCheckNodePort", 32000 + index % 700)
    live["metadata"].setdefault("annotations", {})["metallb.io/ip-allocated-from-pool"] = "lan"
    live["status"] = {"loadBalancer": {"ingress": [{"ip": "192.168.10.53", "ipMode": "VIP"}]}}


def _default_pool(live: Manifest, index: int) -> None:
    live["spec"].setdefault("autoAssign", True)
    live["spec"].setdefault("avoidBuggyIPs", False)


def _default_namespace(live: Manifest, index: int) -> None:
    live["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = live["metadata"][
        "name"
    ]
    live["spec"] = {"finalizers": ["kubernetes"]}
    live["status"] = {"phase": "Active"}


def _default_secret(live: Manifest, index: int) -> None:
    live.setdefault("type", "Opaque")
    string_data = live.pop("stringData", None) or {}
    data = live.setdefault("data", {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(value.encode()).decode()


_DEFAULTERS = {
    "Service": _default_service,
    "IPAddressPool": _default_pool,
    "Namespace": _default_namespace,
    "Secret": _default_secret,
}
