"""key_changing_fields: every allocation input, changed and not changed."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from planner.diff import KEY_FIELDS, diff_objects, key_changing_fields
from tests.diff.builders import lb_service, obj, served, service

Edit = Callable[[dict], None]


def annotate(key: str, value: str | None) -> Edit:
    def edit(svc: dict) -> None:
        annotations = svc["metadata"].setdefault("annotations", {})
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value

    return edit


def set_spec(field: str, value: object) -> Edit:
    def edit(svc: dict) -> None:
        svc["spec"][field] = value

    return edit


def edited(base: dict, *edits: Edit) -> dict:
    svc = copy.deepcopy(base)
    for edit in edits:
        edit(svc)
    return svc


BASE = lb_service(
    "dns-tcp",
    ports=[{"name": "dns", "port": 53}, {"name": "dot", "port": 853}],
    selector={"app": "coredns", "tier": "edge"},
)
LOCAL = edited(BASE, set_spec("externalTrafficPolicy", "Local"))

KEY_CHANGING = [
    ("sharing key", BASE, annotate("metallb.io/allow-shared-ip", "dns-2"), ("sharing-key",)),
    ("sharing removed", BASE, annotate("metallb.io/allow-shared-ip", None), ("sharing-key",)),
    (
        "Cluster to Local",
        BASE,
        set_spec("externalTrafficPolicy", "Local"),
        ("externalTrafficPolicy",),
    ),
    ("selector under Local", LOCAL, set_spec("selector", {"app": "coredns"}), ("selector",)),
    (
        "a port added",
        BASE,
        set_spec("ports", [{"port": 53}, {"port": 853}, {"port": 5353}]),
        ("ports",),
    ),
    (
        "a protocol changed",
        BASE,
        set_spec("ports", [{"port": 53, "protocol": "UDP"}, {"port": 853}]),
        ("ports",),
    ),
    (
        "requested IP",
        BASE,
        annotate("metallb.io/loadBalancerIPs", "192.168.10.54"),
        ("requested-ips",),
    ),
    (
        "requested IP moved to spec",
        BASE,
        lambda s: (
            annotate("metallb.io/loadBalancerIPs", None)(s),
            set_spec("loadBalancerIP", "192.168.10.54")(s),
        ),
        ("requested-ips",),
    ),
    ("requested pool", BASE, annotate("metallb.io/address-pool", "dmz"), ("requested-pool",)),
    ("type", BASE, set_spec("type", "ClusterIP"), ("type",)),
    ("families", BASE, set_spec("ipFamilies", ["IPv6"]), ("ip-families",)),
    ("family policy", BASE, set_spec("ipFamilyPolicy", "RequireDualStack"), ("ip-families",)),
    (
        "two at once",
        BASE,
        lambda s: (
            annotate("metallb.io/address-pool", "dmz")(s),
            set_spec("externalTrafficPolicy", "Local")(s),
        ),
        ("externalTrafficPolicy", "requested-pool"),
    ),
]

NOT_KEY_CHANGING = [
    ("selector under Cluster", BASE, set_spec("selector", {"app": "other"})),
    (
        "ports reordered",
        BASE,
        set_spec("ports", [{"name": "dot", "port": 853}, {"name": "dns", "port": 53}]),
    ),
    (
        "targetPort and name",
        BASE,
        set_spec("ports", [{"name": "x", "port": 53, "targetPort": 5353}, {"port": 853}]),
    ),
    ("a label", BASE, lambda s: s["metadata"].update(labels={"team": "net"})),
    ("sessionAffinity", BASE, set_spec("sessionAffinity", "ClientIP")),
    ("explicit defaults", BASE, set_spec("externalTrafficPolicy", "Cluster")),
    (
        "deprecated twin under a stable key",
        BASE,
        annotate("metallb.universe.tf/allow-shared-ip", "other"),
    ),
    (
        "Local with the same selector",
        LOCAL,
        set_spec("selector", {"tier": "edge", "app": "coredns"}),
    ),
]


@pytest.mark.parametrize(
    ("case", "base", "edit", "expected"), KEY_CHANGING, ids=[c[0] for c in KEY_CHANGING]
)
def test_key_changing_edits_name_the_changed_inputs(
    case: str, base: dict, edit: Edit, expected: tuple
) -> None:
    assert key_changing_fields(served(base), edited(base, edit)) == expected


@pytest.mark.parametrize(
    ("case", "base", "edit"), NOT_KEY_CHANGING, ids=[c[0] for c in NOT_KEY_CHANGING]
)
def test_other_edits_change_no_key(case: str, base: dict, edit: Edit) -> None:
    assert key_changing_fields(served(base), edited(base, edit)) == ()


def test_the_reported_names_are_the_documented_ones() -> None:
    reported = {name for _, _, _, expected in KEY_CHANGING for name in expected}
    assert reported == set(KEY_FIELDS)


def test_a_missing_side_or_no_load_balancer_is_no_key_change() -> None:
    assert key_changing_fields(None, BASE) == ()
    assert key_changing_fields(served(BASE), None) == ()
    internal = service("api", ports=[{"port": 80}], selector={"app": "api"})
    assert (
        key_changing_fields(served(internal), edited(internal, set_spec("ports", [{"port": 81}])))
        == ()
    )


def test_a_family_left_to_the_cluster_follows_the_live_cluster_ips() -> None:
    dual = lb_service("gw", ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="PreferDualStack")
    live = served(dual)
    repo = edited(dual, lambda s: s["spec"].pop("ipFamilies"))
    assert key_changing_fields(live, repo) == ()


def test_diff_objects_classifies_updates_only() -> None:
    new = edited(BASE, set_spec("externalTrafficPolicy", "Local"))
    changes = diff_objects(
        [obj(new), obj(lb_service("fresh"))], [obj(served(BASE, applied="kubectl"))]
    )
    assert [(c.key.name, c.op, c.key_changing) for c in changes] == [
        ("dns-tcp", "update", ("externalTrafficPolicy",)),
        ("fresh", "create", ()),
    ]
