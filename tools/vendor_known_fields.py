"""Generate planner/schemas/known-fields.json: the field names Kubernetes knows for a Service
and MetalLB knows for an IPAddressPool, trimmed from their published schemas.

Run once when the vendored schema should follow a newer Kubernetes or MetalLB (not at build or
test time; the planner reads only the JSON it writes):

    pip download kubernetes-validate==1.37.0 --no-deps -d /tmp/kv
    unzip -q /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl -d /tmp/kvx
    git -C METALLB_REPO show v0.15.3:config/crd/bases/metallb.io_ipaddresspools.yaml > /tmp/pool.yaml
    python tools/vendor_known_fields.py \
        /tmp/kvx/kubernetes_validate/kubernetes-json-schema/v1.34.0-local-strict/_definitions.json \
        /tmp/pool.yaml > planner/schemas/known-fields.json

The tree keeps only structure: an object's `fields`, a list's `items`, and `"any": true` where
any key is allowed (labels, annotations, selectors, free-form objects).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

SERVICE = "io.k8s.api.core.v1.Service"
SOURCES = {
    "kubernetes": "kubernetes-validate 1.37.0, schema v1.34.0-local-strict (_definitions.json)",
    "metallb": "MetalLB v0.15.3 config/crd/bases/metallb.io_ipaddresspools.yaml (v1beta1)",
}


def k8s_tree(definitions: dict[str, Any], schema: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """The field tree of one Kubernetes schema node, following `$ref`s (cycles cut)."""
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return {"any": True}
        return k8s_tree(definitions, definitions[name], (*seen, name))
    return _tree(schema, lambda sub: k8s_tree(definitions, sub, seen))


def crd_tree(schema: dict[str, Any]) -> Any:
    """The field tree of a CRD's openAPIV3Schema node."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return {"any": True}
    return _tree(schema, crd_tree)


def _tree(schema: dict[str, Any], walk: Any) -> dict[str, Any]:
    if "properties" in schema:
        return {"fields": {k: walk(v) for k, v in sorted(schema["properties"].items())}}
    if "items" in schema:
        return {"items": walk(schema["items"])}
    if "additionalProperties" in schema:
        return {"any": True}
    if "object" in _types(schema) or "allOf" in schema or "anyOf" in schema:
        return {"any": True}
    return {}


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def main(definitions_path: str, crd_path: str) -> None:
    with open(definitions_path, encoding="utf-8") as handle:
        definitions = json.load(handle)["$defs"]
    with open(crd_path, encoding="utf-8") as handle:
        crd = yaml.safe_load(handle)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    pool = crd_tree(version["schema"]["openAPIV3Schema"])
    # The CRD leaves metadata to the API server: the same ObjectMeta as every object.
    pool["fields"]["metadata"] = k8s_tree(
        definitions, {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}, ()
    )
    out = {
        "generated_by": "tools/vendor_known_fields.py",
        "sources": SOURCES,
        "kinds": {
            "Service": k8s_tree(definitions, definitions[SERVICE], (SERVICE,)),
            "IPAddressPool": pool,
        },
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
