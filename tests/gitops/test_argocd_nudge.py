"""The metallb-0.14 nudge hook (planner.gitops.argocd.nudge): built as data, identical to what
the former template-filled hook emitted, and no name can change its shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.gitops.argocd import (
    DEFAULT_IMAGE,
    Nudge,
    dump_stream,
    generate,
    nudge_objects,
    read_context,
)
from planner.gitops.argocd.nudge import (
    NUDGE_SCRIPT,
    is_dns_label,
    is_dns_subdomain,
    nudge_job,
    nudge_rbac,
)
from planner.sources.documents import parse_yaml
from tests.gitops.test_argocd import outside_any_repository

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argocd"
GOLDEN = FIXTURES / "nudge-golden"  # written by the template-filling code before the rewrite
DNS = Nudge("3f9a0c1d2e3f4a5b6c7d8e9f00112233", ("dns/dns-tcp", "dns/dns-udp"), ("dns/dns-tcp",), 2)
GATEWAYS = Nudge(
    "0123456789abcdef0123456789abcdef",
    ("edge/gw-a", "web-team-1/gw-b.v2"),
    ("edge/gw-a", "web-team-1/gw-b.v2"),
    4,
)
MIRROR_IMAGE = "mirror.example.org:5000/planner/cmp@sha256:" + "ab" * 32

Doc = dict[str, Any]


# --- the same objects as the template-filled hook ----------------------------------------------


def test_objects_are_byte_identical_to_the_template_filled_ones() -> None:
    objects = nudge_objects([DNS, GATEWAYS], "dns", DEFAULT_IMAGE, {"web-team-1": 5})
    assert dump_stream(objects) == (GOLDEN / "objects.yaml").read_text()
    mirrored = nudge_objects([DNS], "argocd-apps", MIRROR_IMAGE, {})
    assert dump_stream(mirrored) == (GOLDEN / "objects-mirror-image.yaml").read_text()


def test_a_whole_metallb_014_stream_is_byte_identical_to_before(tmp_path: Path) -> None:
    env = {
        "ARGOCD_APP_NAME": "web",
        "ARGOCD_APP_NAMESPACE": "edge",
        "PARAM_TARGET_BEHAVIOR": "metallb-0.14",
    }
    stream = generate(outside_any_repository(tmp_path, FIXTURES / "waves"), read_context(env))
    assert stream == (GOLDEN / "waves-metallb-0.14.yaml").read_text()
    assert "kind: Job" in stream


def test_the_script_is_the_jobs_only_argument() -> None:
    container = nudge_job(DNS, "dns", DEFAULT_IMAGE)["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    assert container["args"] == [NUDGE_SCRIPT]
    assert NUDGE_SCRIPT.startswith("set -eu\n") and NUDGE_SCRIPT.endswith("done\n")


def test_rbac_follows_the_namespace_the_app_creates_last() -> None:
    objects = nudge_objects([DNS], "argocd-apps", DEFAULT_IMAGE, {"dns": 7, "argocd-apps": 3})
    waves = {o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] for o in objects[1:]}
    assert waves == {"7"}
    assert nudge_objects([], "", "", {}) == []  # nothing to nudge: nothing checked, nothing out


# --- Kubernetes' name rules --------------------------------------------------------------------


def test_dns_labels_and_subdomains_follow_kubernetes() -> None:
    assert is_dns_label("a") and is_dns_label("web-team-1") and is_dns_label("a" * 63)
    for bad in ("", "a" * 64, "-a", "a-", "A", "a.b", "a_b", "dns\n", "a b"):
        assert not is_dns_label(bad), bad
    assert is_dns_subdomain("gw-b.v2") and is_dns_subdomain(".".join(["a" * 63] * 3) + ".b")
    assert is_dns_subdomain("a" * 253) and not is_dns_subdomain("a" * 254)
    for bad in ("", "a..b", ".a", "a.", "Web", "a/b", "a\n", "-a.b"):
        assert not is_dns_subdomain(bad), bad


HOSTILE = [
    'web"x',
    "web'x",
    "web#x",
    "web: x",
    "{web}",
    "web\n  - name: EVIL",
    "web x",
    "Web",
    "web/x",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_member_name_kubernetes_would_refuse_is_one_clear_line(name: str) -> None:
    nudge = Nudge(DNS.digest, (f"dns/{name}", "dns/dns-udp"), (f"dns/{name}",), 2)
    with pytest.raises(InputError, match="is not a DNS-1123 subdomain") as caught:
        nudge_objects([nudge], "dns", DEFAULT_IMAGE, {})
    assert "\n" not in str(caught.value)
    assert repr(f"dns/{name}") in str(caught.value)


@pytest.mark.parametrize("namespace", [*HOSTILE[:7], "a.b", "dns\n"])
def test_a_member_namespace_that_is_not_a_label_is_refused(namespace: str) -> None:
    nudge = Nudge(DNS.digest, (f"{namespace}/dns-tcp",), (f"{namespace}/dns-tcp",), 2)
    with pytest.raises(InputError, match="is not a DNS-1123 label") as caught:
        nudge_objects([nudge], "dns", DEFAULT_IMAGE, {})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("namespace", ["", "dns\n", "dns: x", "Dns", "a.b", "{dns}"])
def test_a_job_namespace_that_is_not_a_label_is_refused(namespace: str) -> None:
    # "dns\n" passed the former check (`$` matches before a final newline).
    with pytest.raises(InputError, match="ARGOCD_APP_NAMESPACE") as caught:
        nudge_objects([DNS], namespace, DEFAULT_IMAGE, {})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("image", ["", "img\n", "img name", "img#x", '"img"', "{img}"])
def test_an_image_that_is_not_a_reference_is_refused(image: str) -> None:
    with pytest.raises(InputError, match="is not an image reference"):
        nudge_objects([DNS], "dns", image, {})


def test_a_digest_that_is_not_hex_is_refused() -> None:
    nudge = Nudge("3f9a0c1d2e: x", DNS.members, DNS.stuck, 2)
    with pytest.raises(InputError, match="not lowercase hex"):
        nudge_objects([nudge], "dns", DEFAULT_IMAGE, {})


def test_generate_refuses_a_service_name_that_would_have_broken_the_template(
    tmp_path: Path,
) -> None:
    # The former template put this name between double quotes and crashed on a YAML error.
    service = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: web\n"
        "  annotations: {{metallb.universe.tf/allow-shared-ip: k, "
        "metallb.universe.tf/loadBalancerIPs: 10.0.0.1}}\n"
        "spec: {{type: LoadBalancer, ports: [{{port: {port}, protocol: TCP}}]}}\n"
    )
    (tmp_path / "a.yaml").write_text(service.format(name="'web\"x: {y} #z'", port=80))
    (tmp_path / "b.yaml").write_text(service.format(name="web-b", port=443))
    # The API server refuses that name, so every target refuses it, naming where it is written
    # (as diff does), before any hook is built.
    for target in ("metallb-0.14", "fixed"):
        context = read_context({"ARGOCD_APP_NAMESPACE": "web", "PARAM_TARGET_BEHAVIOR": target})
        with pytest.raises(InputError, match="a.yaml: document 1, line 1: .*not a DNS-1035 label"):
            generate(tmp_path, context)


# --- data, not text: whatever a string holds, it stays a string in its own field ---------------

_nasty = st.text(alphabet="ab-.:#'\"{}[]\n\t /\\&*!|>%@`", min_size=1, max_size=24)


def _shape(value: Any) -> Any:
    """The object with every string blanked: what the text of a name must not be able to change."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return "" if isinstance(value, str) else value


@settings(max_examples=150, deadline=None)
@given(
    member=_nasty,
    namespace=_nasty,
    image=_nasty,
    digest=_nasty,
)
def test_no_string_can_change_the_emitted_objects(
    member: str, namespace: str, image: str, digest: str
) -> None:
    """The builders without the checks, fed any text: the stream reads back as exactly the
    objects built, with the same shape as for ordinary names."""
    nudge = Nudge(digest, (member, "dns/dns-udp"), (member,), 2)
    built = [nudge_job(nudge, namespace, image), *nudge_rbac(namespace, [namespace, "dns"], 1)]
    ordinary = [
        nudge_job(DNS, "dns", DEFAULT_IMAGE),
        *nudge_rbac("dns", ["dns", "web"], 1),
    ]
    read_back = [d.body for d in parse_yaml(dump_stream(built), "<out>").documents]
    assert read_back == built
    assert [_shape(doc) for doc in read_back] == [_shape(doc) for doc in ordinary]
    env = read_back[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[1] == {"name": "MEMBERS", "value": f"{member} dns/dns-udp"}
