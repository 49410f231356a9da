"""The normalisation rules, one at a time (against a live object with no applier record)."""

from __future__ import annotations

import copy

import pytest

from planner.diff.normalise import (
    drop_explicit_defaults,
    from_api_server,
    normalise_desired,
    normalise_live,
)
from tests.diff.builders import lb_service, namespace, pool, secret, served


def test_server_metadata_status_and_namespace_are_dropped_on_both_sides() -> None:
    desired = lb_service("a")
    desired["metadata"]["creationTimestamp"] = None  # as `kubectl create --dry-run -o yaml` writes
    live = served(desired)
    assert "status" in live
    for body in (normalise_desired(desired), normalise_live(live, desired)):
        assert set(body["metadata"]) == {"name", "annotations"}
        assert "status" not in body


@pytest.mark.parametrize(
    "annotation",
    [
        "kubectl.kubernetes.io/last-applied-configuration",
        "metallb.io/ip-allocated-from-pool",
        "metallb.universe.tf/ip-allocated-from-pool",
        "argocd.argoproj.io/tracking-id",
        "kustomize.toolkit.fluxcd.io/checksum",
    ],
)
def test_tool_annotations_are_ignored_unless_the_repo_sets_them(annotation: str) -> None:
    desired = lb_service("a")
    live = served(desired)
    live["metadata"]["annotations"][annotation] = "{}"
    assert normalise_live(live, desired) == normalise_desired(desired)
    if annotation.startswith("kustomize"):
        desired["metadata"]["annotations"][annotation] = "set-by-repo"
        kept = normalise_live(live, desired)
        assert kept["metadata"]["annotations"][annotation] == "{}"


@pytest.mark.parametrize(
    "label",
    [
        "app.kubernetes.io/instance",
        "kustomize.toolkit.fluxcd.io/name",
        "helm.toolkit.fluxcd.io/name",
    ],
)
def test_tracking_labels_are_ignored_unless_the_repo_sets_them(label: str) -> None:
    desired = lb_service("a", labels={"team": "net"})
    live = served(desired, applied="kubectl")
    live["metadata"]["labels"][label] = "app"
    assert normalise_live(live, desired)["metadata"]["labels"] == {"team": "net"}
    desired["metadata"]["labels"][label] = "other-app"
    assert normalise_live(live, desired)["metadata"]["labels"][label] == "app"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clusterIP", "10.96.0.9"),
        ("clusterIPs", ["10.96.0.9"]),
        ("healthCheckNodePort", 32001),
        ("ipFamilies", ["IPv6"]),
    ],
)
def test_server_allocated_fields_count_only_when_the_repo_sets_them(
    field: str, value: object
) -> None:
    desired = lb_service("a")
    live = served(desired)
    live["spec"][field] = value
    assert field not in normalise_live(live, desired)["spec"]
    desired["spec"][field] = value
    assert normalise_live(live, desired)["spec"][field] == value


@pytest.mark.parametrize(
    ("field", "default", "other"),
    [
        ("sessionAffinity", "None", "ClientIP"),
        ("internalTrafficPolicy", "Cluster", "Local"),
        ("externalTrafficPolicy", "Cluster", "Local"),
        ("allocateLoadBalancerNodePorts", True, False),
        ("ipFamilyPolicy", "SingleStack", "PreferDualStack"),
    ],
)
def test_defaults_are_dropped_only_when_live_holds_the_default(
    field: str, default: object, other: object
) -> None:
    desired = lb_service("a")
    live = served(desired)
    live["spec"][field] = default
    assert field not in normalise_live(live, desired)["spec"]
    # A non-default value the applier recorded (the repo used to set it) is a difference.
    earlier = copy.deepcopy(desired)
    earlier["spec"][field] = other
    assert normalise_live(served(earlier, applied="kubectl"), desired)["spec"][field] == other


def test_type_cluster_ip_is_the_default_type() -> None:
    desired = lb_service("a")
    del desired["spec"]["type"]
    live = served(desired)
    assert live["spec"]["type"] == "ClusterIP"
    assert "type" not in normalise_live(live, desired)["spec"]


def test_port_defaults_are_dropped_per_matched_port() -> None:
    desired = lb_service(
        "a", ports=[{"port": 53}, {"name": "web", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    )
    live = served(desired)
    assert live["spec"]["ports"][0] == {
        "port": 53,
        "protocol": "TCP",
        "targetPort": 53,
        "nodePort": 30000,
    }
    assert normalise_live(live, desired)["spec"]["ports"] == desired["spec"]["ports"]


def test_a_non_default_target_port_or_protocol_is_kept() -> None:
    desired = lb_service("a", ports=[{"name": "dns", "port": 53}])
    live = served(desired)
    live["spec"]["ports"][0].update(targetPort=5353, protocol="UDP")
    assert normalise_live(live, desired)["spec"]["ports"] == [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}
    ]


def test_a_numeric_string_target_port_is_not_the_port_number() -> None:
    desired = lb_service("a", ports=[{"name": "http", "port": 80}])
    live = served(desired)
    live["spec"]["ports"][0]["targetPort"] = "80"
    assert normalise_live(live, desired)["spec"]["ports"][0]["targetPort"] == "80"


def test_pool_and_namespace_defaults_are_dropped() -> None:
    for desired in (pool(), namespace("dns")):
        assert normalise_live(served(desired), desired) == normalise_desired(desired)


def test_string_data_is_folded_into_base64_data() -> None:
    desired = secret("s", data={"a": "eA=="}, stringData={"b": "y"})
    assert normalise_desired(desired)["data"] == {"a": "eA==", "b": "eQ=="}
    assert "stringData" not in normalise_desired(desired)


def test_inputs_are_never_changed() -> None:
    desired = lb_service("a")
    live = served(desired, applied="ssa", tracking="flux")
    before = copy.deepcopy((desired, live))
    normalise_live(live, desired)
    normalise_desired(desired)
    assert (desired, live) == before


def test_objects_from_an_api_server_are_recognised_by_their_server_metadata() -> None:
    assert from_api_server(served(lb_service("a")))
    assert not from_api_server(lb_service("a"))


def test_explicit_defaults_are_dropped_only_where_the_other_side_leaves_them_unset() -> None:
    """drop_explicit_defaults, rule by rule: a default the target spells out goes when the
    current object lacks the field (or its whole parent), and stays otherwise."""
    spec = {
        "type": "ClusterIP",  # default, current lacks it: dropped
        "sessionAffinity": "None",  # default, current holds it: kept
        "externalTrafficPolicy": "Local",  # not the default: kept
        "allocateLoadBalancerNodePorts": True,  # default, current lacks it: dropped
    }
    target = {"kind": "Service", "spec": dict(spec)}
    drop_explicit_defaults(target, {"kind": "Service", "spec": {"sessionAffinity": "None"}})
    assert target["spec"] == {"sessionAffinity": "None", "externalTrafficPolicy": "Local"}
    for current in ({"kind": "Service"}, {"kind": "Service", "spec": "mistyped"}):
        target = {"kind": "Service", "spec": dict(spec)}
        drop_explicit_defaults(target, current)
        assert target["spec"] == {"externalTrafficPolicy": "Local"}
    secret_target = {"kind": "Secret", "type": "Opaque"}
    drop_explicit_defaults(secret_target, {"kind": "Secret"})
    assert secret_target == {"kind": "Secret"}
    unusual = {"kind": "Service", "spec": None}
    drop_explicit_defaults(unusual, {"kind": "Service"})
    assert unusual == {"kind": "Service", "spec": None}
