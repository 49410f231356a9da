"""`argocd generate` refuses what `planner diff` refuses, in the same words (issue 13, section 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.errors import InputError, PlannerError
from planner.gitops.argocd import generate, read_context
from planner.pipeline import DiffOptions, build_report
from planner.sources.live import LiveSource

POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.168.50.200-192.168.50.250]
"""
EMPTY_LIVE = "apiVersion: v1\nkind: List\nitems: []\n"

# YAML 1.1 reads an unquoted `yes` as a boolean: kubectl refuses the object, and so must we.
BOOLEAN_ANNOTATION = """\
apiVersion: v1
kind: Service
metadata:
  name: unifi-stun
  namespace: unifi
  annotations:
    metallb.io/allow-shared-ip: yes
    metallb.io/loadBalancerIPs: 192.168.50.210
spec:
  type: LoadBalancer
  selector: {app: unifi}
  ports:
  - {name: stun, port: 3478, protocol: UDP, targetPort: 3478}
"""
# Three requested addresses: MetalLB cannot read the request at all.
BAD_REQUEST = BOOLEAN_ANNOTATION.replace("allow-shared-ip: yes", "allow-shared-ip: unifi").replace(
    "loadBalancerIPs: 192.168.50.210", "loadBalancerIPs: 192.168.50.210,not-an-ip"
)


def _app(tmp_path: Path, service: str) -> Path:
    app = tmp_path / "k8s" / "apps" / "unifi"
    app.mkdir(parents=True)
    (app / "service.yaml").write_text(service)
    (app / "pool.yaml").write_text(POOL)
    (tmp_path / "live.yaml").write_text(EMPTY_LIVE)
    return app


def _diff_error(tmp_path: Path, app: Path) -> str:
    with pytest.raises(PlannerError) as refused:
        build_report([str(app)], LiveSource.file(str(tmp_path / "live.yaml")), DiffOptions())
    return str(refused.value)


@pytest.mark.parametrize("service", [BOOLEAN_ANNOTATION, BAD_REQUEST], ids=["boolean", "bad-ip"])
def test_generate_refuses_what_diff_refuses_with_the_same_sentence(
    tmp_path: Path, service: str
) -> None:
    app = _app(tmp_path, service)
    said_by_diff = _diff_error(tmp_path, app)
    with pytest.raises(InputError) as refused:
        generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "k8s/apps/unifi"}))
    said_by_generate = str(refused.value)
    # The same sentence; only where the file is shown differs (Argo CD's is relative to the app).
    origin = "service.yaml: document 1, line 1: "
    assert said_by_generate.startswith(origin)
    assert said_by_diff.endswith(said_by_generate.removeprefix(origin))


def test_a_valid_app_still_generates(tmp_path: Path) -> None:
    app = _app(
        tmp_path, BOOLEAN_ANNOTATION.replace("allow-shared-ip: yes", "allow-shared-ip: unifi")
    )
    stream = generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "k8s/apps/unifi"}))
    assert "name: unifi-stun" in stream


GOOD_SERVICE = BOOLEAN_ANNOTATION.replace("allow-shared-ip: yes", "allow-shared-ip: unifi")


@pytest.mark.parametrize(
    "pool",
    [
        POOL.replace("192.168.50.200-192.168.50.250", "192.168.50.0/33"),
        POOL.replace("[192.168.50.200-192.168.50.250]", "[]"),
        POOL + "---\n" + POOL.replace("name: lan", "name: lan2"),
    ],
    ids=["bad-cidr", "no-addresses", "overlap"],
)
def test_errors_raised_inside_the_model_name_the_file_like_diff(tmp_path: Path, pool: str) -> None:
    """A pool the MetalLB model refuses, while `argocd generate` orders the waves, is named by
    file, document and line, in diff's words."""
    app = _app(tmp_path, GOOD_SERVICE)
    (app / "pool.yaml").write_text(pool)
    said_by_diff = _diff_error(tmp_path, app)
    with pytest.raises(InputError) as refused:
        generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "k8s/apps/unifi"}))
    said_by_generate = str(refused.value)
    assert said_by_generate.startswith("pool.yaml: document "), said_by_generate
    assert said_by_diff.endswith(said_by_generate), (said_by_diff, said_by_generate)
