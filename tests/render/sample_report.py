"""A report with something of everything, for the renderer tests and their golden snapshots.

It has a touched, key-changing group (the seed DNS scenario), a group a service joins, an
untouched group, a static conflict, a warning, a Secret change whose patch still carries its
value (built directly, bypassing upstream redaction), predictions for all three behaviours, notes,
a plan summary and a Mermaid diagram. Some user text holds Markdown/HTML specials on purpose.
"""

from __future__ import annotations

from planner.analysis.records import (
    Conflict,
    DiffReport,
    Prediction,
    ServiceFate,
    SharingGroupReport,
)
from planner.diff import Change
from planner.errors import Origin
from planner.model.controller import STUCK_UNTIL_ANY_CONFIG_EVENT
from planner.objects import ObjectKey

SECRET_VALUE = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"  # base64 of "super-secret-password"
SECRET_PLAIN = "hunter2-plain-text"
SHARING_ERROR = 'can\'t change sharing key for "dns/dns-tcp", address also in use by dns/dns-udp'


def _dns_service(name: str, policy: str, selector: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "dns"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy, "selector": selector},
    }


def _service_update(name: str) -> Change:
    """The seed edit: Cluster → Local and one more selector label; the bodies give old values."""
    return Change(
        key=ObjectKey("Service", "dns", name),
        op="update",
        patch=[
            {"op": "replace", "path": "/spec/externalTrafficPolicy", "value": "Local"},
            {"op": "add", "path": "/spec/selector/app.kubernetes.io~1name", "value": "coredns"},
        ],
        desired=_dns_service(
            name, "Local", {"k8s-app": "kube-dns", "app.kubernetes.io/name": "coredns"}
        ),
        live=_dns_service(name, "Cluster", {"k8s-app": "kube-dns"}),
        origin=Origin("desired/dns.yaml", document=0 if name == "dns-tcp" else 1, line=1),
        key_changing=("externalTrafficPolicy", "selector"),
    )


def _secret_update() -> Change:
    return Change(
        key=ObjectKey("Secret", "dns", "tsig-key"),
        op="update",
        patch=[
            {"op": "replace", "path": "/data/password", "value": SECRET_VALUE},
            {"op": "add", "path": "/stringData", "value": {"plain": SECRET_PLAIN}},
            {"op": "add", "path": "/metadata/labels/rotated", "value": "2026-11"},
        ],
        desired={"apiVersion": "v1", "kind": "Secret", "data": {"password": SECRET_VALUE}},
        live={"apiVersion": "v1", "kind": "Secret", "data": {"password": "b2xk"}},
    )


def _secret_create() -> Change:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "api-token", "namespace": "web"},
        "stringData": {"token": SECRET_PLAIN},
    }
    return Change(
        key=ObjectKey("Secret", "web", "api-token"),
        op="create",
        patch=[{"op": "add", "path": "", "value": body}],
        desired=body,
    )


def sample_changes() -> tuple[Change, ...]:
    """Changes of every op, sorted by key as upstream sorts them."""
    changes = [
        Change(key=ObjectKey("ConfigMap", "web", "old-config"), op="delete"),
        Change(key=ObjectKey("IPAddressPool", "metallb-system", "lan"), op="unchanged"),
        _secret_update(),
        _secret_create(),
        _service_update("dns-tcp"),
        _service_update("dns-udp"),
        Change(
            key=ObjectKey("Service", "web", "web-<b>|admin"),
            op="create",
            patch=[
                {
                    "op": "add",
                    "path": "/metadata/annotations/metallb.io~1allow-shared-ip",
                    "value": "web",
                }
            ],
        ),
    ]
    return tuple(sorted(changes, key=lambda c: c.key))


def sample_groups() -> tuple[SharingGroupReport, ...]:
    """A key-changing group, a group a service joins, and an untouched group."""
    return (
        SharingGroupReport(
            id="g-5c1d0e7a9b21",
            members=("dns/dns-tcp", "dns/dns-udp"),
            ips=("192.168.10.53",),
            ips_source="live",
            key_changing=True,
            touched=True,
            key_changes=(
                ("dns/dns-tcp", ("externalTrafficPolicy", "selector")),
                ("dns/dns-udp", ("externalTrafficPolicy", "selector")),
            ),
        ),
        SharingGroupReport(
            id="g-0f3e8a6b4c12",
            members=("ingress/http", "ingress/https"),
            ips=("192.168.10.80",),
            ips_source="live",
            key_changing=False,
            touched=True,
            joining=("ingress/https",),
        ),
        SharingGroupReport(
            id="g-77aa01b2c3d4",
            members=("game/tcp", "game/udp"),
            ips=("192.168.10.90",),
            ips_source="live",
            key_changing=False,
            touched=False,
        ),
    )


def sample_conflicts() -> tuple[Conflict, ...]:
    """One error (with an origin) and one warning whose text holds Markdown/HTML specials."""
    return (
        Conflict(
            message="TCP/80 is used twice on 192.168.10.80 (ingress/http and web/web-<b>|admin)",
            objects=("ingress/http", "web/web-<b>|admin"),
            severity="error",
            origin="desired/ingress.yaml: document 1, line 1",
            origins=(
                "desired/ingress.yaml: document 1, line 1",
                "desired/web.yaml: document 2, line 14",
            ),
        ),
        Conflict(
            message="sharing across namespaces: *ingress* and `web` share 192.168.10.80 @admins",
            objects=("ingress/http", "web/web-<b>|admin"),
            severity="warning",
        ),
    )


def sample_predictions() -> dict[str, Prediction]:
    """The seed scenario's outcome per behaviour."""
    pending = ServiceFate(
        "dns/dns-tcp",
        pending=True,
        stuck=False,
        ip_changed=False,
        reason=SHARING_ERROR,
        always=True,
    )
    stuck = ServiceFate(
        "dns/dns-tcp",
        pending=True,
        stuck=True,
        ip_changed=False,
        reason=SHARING_ERROR,
        always=False,
        stuck_until=STUCK_UNTIL_ANY_CONFIG_EVENT,
    )
    fine = ServiceFate("dns/dns-udp", pending=False, stuck=False, ip_changed=False)
    moved = ServiceFate("ingress/https", pending=False, stuck=False, ip_changed=True)
    return {
        "metallb-0.14": Prediction("metallb-0.14", (stuck, fine, moved), 2, True),
        "metallb-0.15": Prediction("metallb-0.15", (pending, fine, moved), 2, True),
        "fixed": Prediction("fixed", (fine,), 2, True),
    }


def sample_report() -> DiffReport:
    """The report every golden snapshot renders."""
    return DiffReport(
        changes=sample_changes(),
        groups=sample_groups(),
        conflicts=sample_conflicts(),
        predictions=sample_predictions(),
        target="metallb-0.15",
        notes=("desired/README.md: skipped, not a Kubernetes document",),
        live_source="file samples/seed-dns-local/live.yaml",
        statuses_known=True,
        extras={
            "mermaid": 'flowchart LR\n  w1["wave 1: dns group transition"] --> w2["wave 2"]',
            "plan": {"waves": [{"units": ["group g-5c1d0e7a9b21"]}, {"units": ["web"]}]},
        },
    )
