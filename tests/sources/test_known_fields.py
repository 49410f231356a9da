"""Fields Kubernetes or MetalLB do not know are warned about, by every command (issue 13, §6):
`annotations:` under `spec:` broke a real repository's sharing without a word."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from planner.gitops.argocd import generate, read_context
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
from planner.sources.known_fields import SCHEMA_FILE, unknown_field_notes, unknown_fields
from planner.sources.live import LiveSource

REPO = Path(__file__).resolve().parents[2]

MISPLACED = """\
apiVersion: v1
kind: Service
metadata:
  name: pihole-dns-tcp
  namespace: pihole
spec:
  annotations:
    metallb.io/allow-shared-ip: pihole-dns
  type: LoadBalancer
  loadBalancerIP: 192.168.1.53
  selector: {app: pihole}
  ports:
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
"""
POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.168.1.0/24]
  autoassign: false
"""
EMPTY_LIVE = "apiVersion: v1\nkind: List\nitems: []\n"
SPEC_ANNOTATIONS = "field `spec.annotations` is not in the Kubernetes Service schema"
AUTOASSIGN = "field `spec.autoassign` is not in the MetalLB IPAddressPool schema"

# Every field a real `kubectl get svc -o yaml` prints, and an IPAddressPool using each section.
FULL_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "web",
        "labels": {"app": "web"},
        "annotations": {"metallb.io/allow-shared-ip": "web", "any/key": "x"},
        "uid": "1",
        "resourceVersion": "2",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:type": {}}}}],
    },
    "spec": {
        "type": "LoadBalancer",
        "selector": {"app": "web"},
        "clusterIP": "10.0.0.1",
        "clusterIPs": ["10.0.0.1"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 31000,
        "internalTrafficPolicy": "Cluster",
        "allocateLoadBalancerNodePorts": True,
        "loadBalancerIP": "192.168.1.10",
        "loadBalancerClass": "metallb",
        "sessionAffinity": "None",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 1}],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10", "ipMode": "VIP"}]}},
}
FULL_POOL: dict[str, Any] = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "lan", "namespace": "metallb-system", "labels": {"a": "b"}},
    "spec": {
        "addresses": ["192.168.1.0/24"],
        "autoAssign": False,
        "avoidBuggyIPs": True,
        "serviceAllocation": {
            "priority": 1,
            "namespaces": ["web"],
            "namespaceSelectors": [{"matchLabels": {"team": "web"}}],
            "serviceSelectors": [{"matchExpressions": [{"key": "a", "operator": "In"}]}],
        },
    },
}


def test_annotations_under_spec_are_named_with_where_they_belong() -> None:
    [found] = unknown_fields(yaml.safe_load(MISPLACED))
    assert (found.path, found.belongs) == ("spec.annotations", "metadata.annotations")


@pytest.mark.parametrize(
    ("field", "where", "belongs"),
    [
        ("loadBalancerIp", "spec", "spec.loadBalancerIP"),  # the case differs
        ("labels", "spec", "metadata.labels"),
        ("prot", "spec.ports[0]", ""),  # nothing known looks like it
    ],
)
def test_a_misspelt_or_misplaced_field_says_where_it_probably_belongs(
    field: str, where: str, belongs: str
) -> None:
    body = json.loads(json.dumps(FULL_SERVICE))
    target = body["spec"]["ports"][0] if where.endswith("]") else body["spec"]
    target[field] = "x"
    [found] = unknown_fields(body)
    assert found.path == f"{where}.{field}"
    assert found.belongs == belongs


def test_every_field_a_real_service_or_pool_carries_is_known() -> None:
    assert unknown_fields(FULL_SERVICE) == []
    assert unknown_fields(FULL_POOL) == []


def test_a_pool_field_is_checked_against_metallbs_crd() -> None:
    [found] = unknown_fields(yaml.safe_load(POOL))
    assert (found.path, found.belongs) == ("spec.autoassign", "spec.autoAssign")


def test_kinds_other_than_service_and_pool_are_not_checked() -> None:
    assert unknown_fields({"kind": "ConfigMap", "spec": {"anything": 1}}) == []
    assert unknown_field_notes([]) == []


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "apps" / "pihole"
    app.mkdir(parents=True)
    (app / "service.yaml").write_text(MISPLACED)
    (app / "pool.yaml").write_text(POOL)
    (tmp_path / "live.yaml").write_text(EMPTY_LIVE)
    return app


def test_diff_and_plan_note_the_unknown_fields_with_their_origin(tmp_path: Path) -> None:
    app = _app(tmp_path)
    live = LiveSource.file(str(tmp_path / "live.yaml"))
    report = build_report([str(app)], live, DiffOptions())
    warnings = [n for n in report.notes if "warning:" in n]
    assert len(warnings) == 2
    assert any(
        n.startswith(f"{app}/service.yaml: document 1, line 1: ") and SPEC_ANNOTATIONS in n
        for n in warnings
    )
    assert any("it probably belongs at `metadata.annotations`" in n for n in warnings)
    assert any(AUTOASSIGN in n for n in warnings)
    plan = plan_scenario(load_scenario([str(app)], live))
    assert [n for n in plan.notes if "warning:" in n] == warnings


def test_a_warning_changes_no_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = _app(tmp_path)
    without = tmp_path / "clean"
    without.mkdir()
    (without / "service.yaml").write_text(MISPLACED.replace("  annotations:\n    metallb", "  #"))
    (without / "pool.yaml").write_text(POOL.replace("autoassign", "autoAssign"))
    live = str(tmp_path / "live.yaml")
    assert main(["diff", str(app), "--live", live]) == main(["diff", str(without), "--live", live])
    out = capsys.readouterr().out
    assert out.count(SPEC_ANNOTATIONS) == 1


def test_argocd_generate_warns_on_stderr_and_still_generates(tmp_path: Path) -> None:
    app = _app(tmp_path)
    warned: list[str] = []
    stream = generate(
        app, read_context({"ARGOCD_APP_SOURCE_PATH": "apps/pihole"}), warn=warned.append
    )
    assert "name: pihole-dns-tcp" in stream
    assert len(warned) == 2
    assert any(w.startswith("service.yaml: document 1, line 1: ") for w in warned)
    assert any(SPEC_ANNOTATIONS in w for w in warned)


def test_the_argocd_command_prints_the_warnings_on_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path)
    monkeypatch.chdir(app)
    monkeypatch.setenv("ARGOCD_APP_SOURCE_PATH", "apps/pihole")
    assert main(["argocd", "generate"]) == 0
    captured = capsys.readouterr()
    assert SPEC_ANNOTATIONS in captured.err
    assert "warning" not in captured.out


def test_annotate_check_warns_on_the_same_service_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path)
    main(["annotate", "--check", str(app)])
    err = capsys.readouterr().err
    assert f"planner annotate: {app}/service.yaml: document 1, line 1: warning:" in err
    assert SPEC_ANNOTATIONS in err


def test_the_vendored_schema_says_what_it_was_generated_from() -> None:
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert data["generated_by"] == "tools/vendor_known_fields.py"
    assert "kubernetes-validate 1.37.0" in data["sources"]["kubernetes"]
    assert "MetalLB v0.15.3" in data["sources"]["metallb"]
    assert set(data["kinds"]) == {"Service", "IPAddressPool"}


def test_the_generator_trims_a_schema_to_its_field_tree(tmp_path: Path) -> None:
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    definitions = {
        "$defs": {
            "io.k8s.api.core.v1.Service": {
                "properties": {
                    "metadata": {"$ref": f"#/$defs/{meta}"},
                    "spec": {"properties": {"ports": {"items": {"properties": {"port": {}}}}}},
                }
            },
            meta: {"properties": {"labels": {"additionalProperties": {}}, "name": {}}},
        }
    }
    crd = {
        "spec": {
            "versions": [
                {
                    "name": "v1beta1",
                    "schema": {
                        "openAPIV3Schema": {"properties": {"spec": {"properties": {"a": {}}}}}
                    },
                }
            ]
        }
    }
    (tmp_path / "defs.json").write_text(json.dumps(definitions))
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(crd))
    done = subprocess.run(
        [sys.executable, str(REPO / "tools/vendor_known_fields.py"), "defs.json", "crd.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    kinds = json.loads(done.stdout)["kinds"]
    service = kinds["Service"]["fields"]
    assert service["metadata"]["fields"]["labels"] == {"any": True}
    assert service["spec"]["fields"]["ports"] == {"items": {"fields": {"port": {}}}}
    assert kinds["IPAddressPool"]["fields"]["spec"] == {"fields": {"a": {}}}
    assert "name" in kinds["IPAddressPool"]["fields"]["metadata"]["fields"]


def test_a_manifest_without_unknown_fields_is_walked_without_spelling_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The path-spelling walk runs only for a manifest that has an unknown field somewhere."""
    from planner.sources import known_fields

    spelt: list[str] = []
    spelling = known_fields._unknown

    def recording(value: Any, tree: Any, path: str, generic: str) -> Any:
        spelt.append(path)
        return spelling(value, tree, path, generic)

    monkeypatch.setattr(known_fields, "_unknown", recording)
    clean = {
        "kind": "Service",
        "metadata": {"name": "a", "labels": {"x": "y"}},
        "spec": {"ports": [{"port": 53, "protocol": "UDP"}], "selector": {"app": "a"}},
    }
    assert unknown_fields(clean) == []
    assert spelt == []
    deep = {**clean, "spec": {"ports": [{"port": 53}, {"port": 54, "prot": "UDP"}]}}
    assert [u.path for u in unknown_fields(deep)] == ["spec.ports[1].prot"]
    assert spelt


def test_mappings_other_than_dicts_are_walked_alike() -> None:
    """The quick walk checks plain dicts by type; any other Mapping is walked the same way."""
    from types import MappingProxyType

    ports = [MappingProxyType({"port": 53, "protocol": "UDP"})]
    clean = MappingProxyType(
        {"kind": "Service", "spec": MappingProxyType({"ports": ports, "type": "LoadBalancer"})}
    )
    assert unknown_fields(clean) == []
    misplaced = MappingProxyType({**clean, "spec": MappingProxyType({"annotations": {}})})
    assert [u.path for u in unknown_fields(misplaced)] == ["spec.annotations"]
    deep = MappingProxyType({**clean, "spec": {"ports": [MappingProxyType({"prot": "UDP"})]}})
    assert [u.path for u in unknown_fields(deep)] == ["spec.ports[0].prot"]
