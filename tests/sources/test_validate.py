"""check_fields: a mistyped field the planner reads is one sentence naming origin and field."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import InputError, Origin
from planner.objects import KubeObject, ObjectKey
from planner.sources.validate import OWN_ANNOTATIONS, check_fields
from tests.diff.builders import lb_service, obj, pool

ORIGIN = "repo/app.yaml: document 1, line 1"
KEY = ObjectKey("Service", "dns", "dns-tcp")


def broken(edit_path: tuple[str, ...], value: object) -> dict:
    svc = copy.deepcopy(lb_service("dns-tcp"))
    target = svc
    for part in edit_path[:-1]:
        target = target[part]
    target[edit_path[-1]] = value
    return svc


CASES = [
    (("metadata",), "dns", "field metadata must be a mapping, not the string 'dns'"),
    (
        ("metadata", "annotations"),
        ["a"],
        "field metadata.annotations must be a mapping, not a list",
    ),
    (
        ("metadata", "annotations", "metallb.io/allow-shared-ip"),
        53,
        (
            "field metadata.annotations.metallb.io/allow-shared-ip must be a string "
            "(quote it in YAML), not int 53"
        ),
    ),
    (
        ("metadata", "labels"),
        "app=x",
        "field metadata.labels must be a mapping, not the string 'app=x'",
    ),
    (("spec",), ["x"], "field spec must be a mapping, not a list"),
    (
        ("spec", "ports"),
        "80",
        "field spec.ports must be a list of port mappings, not the string '80'",
    ),
    (("spec", "ports"), [80], "field spec.ports[0] must be a mapping with a port, not int 80"),
    (
        ("spec", "ports"),
        [{"port": "80"}],
        "field spec.ports[0].port must be a number from 1 to 65535, not the string '80'",
    ),
    (
        ("spec", "ports"),
        [{"port": 0}],
        "field spec.ports[0].port must be a number from 1 to 65535, not int 0",
    ),
    (
        ("spec", "ports"),
        [{"port": True}],
        "field spec.ports[0].port must be a number from 1 to 65535, not bool True",
    ),
    (
        ("spec", "ports"),
        [{"port": 53, "protocol": "tcp"}],
        "field spec.ports[0].protocol must be TCP, UDP or SCTP, not the string 'tcp'",
    ),
    (
        ("spec", "ports"),
        [{"port": 80, "targetPort": "80"}],
        "field spec.ports[0].targetPort is the string '80', which Kubernetes rejects: write 80",
    ),
    (
        ("spec", "ports"),
        [{"port": 80, "targetPort": "Http_Port"}],
        "field spec.ports[0].targetPort must be a port number or a port name, not the string 'Http_Port'",
    ),
    (
        ("spec", "ports"),
        [{"port": 80, "nodePort": "30080"}],
        "field spec.ports[0].nodePort must be a number from 1 to 65535, not the string '30080'",
    ),
    (
        ("spec", "selector"),
        "app=x",
        "field spec.selector must be a mapping of labels, not the string 'app=x'",
    ),
    (
        ("spec", "selector"),
        {"version": 2},
        "field spec.selector.version must be a string (quote it in YAML), not int 2",
    ),
    (
        ("spec", "externalTrafficPolicy"),
        "local",
        "field spec.externalTrafficPolicy must be Cluster or Local, not the string 'local'",
    ),
    (
        ("spec", "ipFamilyPolicy"),
        "Foo",
        (
            "field spec.ipFamilyPolicy must be one of SingleStack, PreferDualStack, RequireDualStack,"
            " not the string 'Foo'"
        ),
    ),
    (("spec", "ipFamilies"), "IPv4", "field spec.ipFamilies must be a list, not the string 'IPv4'"),
    (
        ("spec", "ipFamilies"),
        ["ipv4"],
        "field spec.ipFamilies[0] must be IPv4 or IPv6, not the string 'ipv4'",
    ),
    (("spec", "loadBalancerIP"), 10, "field spec.loadBalancerIP must be a string, not int 10"),
]


@pytest.mark.parametrize(("path", "value", "message"), CASES, ids=[c[2][6:40] for c in CASES])
def test_a_mistyped_field_names_origin_object_and_field(
    path: tuple, value: object, message: str
) -> None:
    with pytest.raises(InputError) as err:
        check_fields(KubeObject(KEY, broken(path, value), Origin("repo/app.yaml")))
    assert str(err.value) == f"{ORIGIN}: Service dns/dns-tcp: {message}"


def test_a_null_annotation_nobody_here_reads_passes_and_one_metallb_reads_is_refused() -> None:
    """Flux writes null for a variable it does not know (rwlove/home-ops: a Cilium LB-IPAM
    annotation); the API server takes it, so only an annotation MetalLB or the planner reads
    is refused."""
    check_fields(obj(broken(("metadata", "annotations", "lbipam.cilium.io/ips"), None)))
    for name in ("metallb.io/allow-shared-ip", "metallb.universe.tf/loadBalancerIPs"):
        with pytest.raises(InputError, match=f"metadata.annotations.{name} must be a string"):
            check_fields(obj(broken(("metadata", "annotations", name), None)))
    with pytest.raises(InputError, match="metadata.labels.app must be a string"):
        check_fields(obj(broken(("metadata", "labels"), {"app": None})))


@pytest.mark.parametrize("target", [8080, "http", "dns-tcp", "h2c"])
def test_valid_target_ports_pass(target: object) -> None:
    check_fields(obj(broken(("spec", "ports"), [{"port": 80, "targetPort": target}])))


def test_well_typed_objects_of_any_kind_pass() -> None:
    check_fields(obj(lb_service("dns-tcp")))
    check_fields(obj(pool()))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("metadata", "namespace"),
            "a b",
            "field metadata.namespace the string 'a b' is not a DNS-1123 label",
        ),
        (("metadata", "namespace"), "DNS", "field metadata.namespace the string 'DNS' is not"),
        (("metadata", "name"), "1dns", "field metadata.name the string '1dns' is not a DNS-1035"),
        (("metadata", "name"), "dns.tcp", "field metadata.name the string 'dns.tcp' is not"),
        (("metadata", "name"), "d" * 64, "is not a DNS-1035 label"),
    ],
)
def test_names_the_api_server_refuses_are_one_line(path: tuple, value: str, message: str) -> None:
    """kubectl apply fails on them, so every command refuses them before predicting anything."""
    with pytest.raises(InputError, match=re.escape(message)):
        check_fields(KubeObject(KEY, broken(path, value), Origin("repo/app.yaml")))


def test_names_kubernetes_accepts_pass() -> None:
    check_fields(obj(broken(("metadata", "name"), "d" * 63)))
    check_fields(obj(broken(("metadata", "namespace"), "0-team")))
    check_fields(obj(pool()))


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            {"shared-ip-planner.dev/group-digest": 12, "metallb.io/allow-shared-ip": "k"},
            (
                "field metadata.annotations.shared-ip-planner.dev/group-digest must be a string "
                "(quote it in YAML), not int 12"
            ),
        ),
        ({"shared-ip-planner.dev/group": None}, "shared-ip-planner.dev/group must be a string"),
    ],
)
def test_the_full_check_after_the_rewritable_one_still_refuses_own_annotations(
    annotations: dict, message: str
) -> None:
    """to_objects lets the planner's own annotations be of any type; diff's full check of the
    same object (which only looks at them again) refuses them in the usual words."""
    mistyped = KubeObject(KEY, broken(("metadata", "annotations"), annotations), Origin("a.yaml"))
    check_fields(mistyped, rewritable=OWN_ANNOTATIONS)
    with pytest.raises(InputError, match=re.escape(message)) as err:
        check_fields(mistyped)
    fresh = KubeObject(KEY, mistyped.body, Origin("a.yaml"))
    with pytest.raises(InputError) as unchecked:
        check_fields(fresh)
    assert str(err.value) == str(unchecked.value)


def test_the_full_check_after_the_rewritable_one_passes_well_typed_objects() -> None:
    checked = obj(lb_service("dns-tcp"))
    check_fields(checked, rewritable=OWN_ANNOTATIONS)
    check_fields(checked)


def test_a_requested_ip_is_judged_by_its_text_and_worded_by_its_field() -> None:
    """Requested IPs are remembered by text (a group's members repeat them): a good one passes
    in any field, a bad one is refused each time, named by the field it is in."""
    ips = "metallb.io/loadBalancerIPs"
    good = lb_service("a", annotations={ips: "10.9.8.7"})
    again = lb_service("b", annotations={}, loadBalancerIP="10.9.8.7")
    for body in (good, good, again):
        check_fields(KubeObject(KEY, body, Origin("a.yaml")))
    for body, field in (
        (lb_service("c", annotations={ips: "10.9.8.999"}), f"metadata.annotations.{ips}"),
        (lb_service("d", annotations={}, loadBalancerIP="10.9.8.999"), "spec.loadBalancerIP"),
        (lb_service("e", annotations={ips: "10.9.8.999"}), f"metadata.annotations.{ips}"),
    ):
        with pytest.raises(InputError, match=rf"{re.escape(field)}: '10.9.8.999' is not a valid"):
            check_fields(KubeObject(KEY, body, Origin("a.yaml")))


def test_only_a_value_that_is_not_a_string_is_refused_whatever_the_key() -> None:
    """Annotation values are looked at first, their keys only for a value that is no string:
    under the rewritable prefix it passes the first check, and the full check refuses it."""
    body = lb_service("a")
    body["metadata"]["annotations"] = {
        OWN_ANNOTATIONS + "digest": 1234,
        OWN_ANNOTATIONS + "note": "fine",
        "other.dev/fine": "x",
    }
    obj = KubeObject(KEY, body, Origin("a.yaml"))
    check_fields(obj, rewritable=OWN_ANNOTATIONS)
    with pytest.raises(InputError, match=r"annotations\.shared-ip-planner\.dev/digest must be"):
        check_fields(obj)
    body["metadata"]["annotations"]["other.dev/count"] = 5
    with pytest.raises(InputError, match=r"annotations\.other\.dev/count must be a string"):
        check_fields(KubeObject(KEY, body, Origin("a.yaml")), rewritable=OWN_ANNOTATIONS)


@given(
    text=st.one_of(
        st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", fullmatch=True),
        st.from_regex(r"[0-9.:a-f%]{1,20}", fullmatch=True),
        st.text(max_size=16),
    )
)
def test_the_quick_ipv4_test_accepts_only_what_parse_ip_accepts(text: str) -> None:
    from planner.model.pools import parse_ip
    from planner.sources import validate

    try:
        parse_ip(text)
        parses = True
    except ValueError:
        parses = False
    assert validate._is_ip(text) is parses
    if validate._CANONICAL_IPV4.fullmatch(text):
        assert parses and str(parse_ip(text)) == text


@pytest.mark.parametrize(
    ("text", "quick"),
    [("10.0.0.1", True), ("255.255.255.255", True), ("0.0.0.0", True), ("010.0.0.1", False),
     ("256.0.0.1", False), ("10.0.0", False), ("::1", False), ("10.0.0.1 ", False)],
)  # fmt: skip
def test_the_quick_ipv4_test_takes_plain_addresses_only(text: str, quick: bool) -> None:
    from planner.sources import validate

    assert (validate._CANONICAL_IPV4.fullmatch(text) is not None) is quick
