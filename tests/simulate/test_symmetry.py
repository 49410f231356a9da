"""Components that are the same up to renaming are simulated once: the shapes that match, the
ones that must not, the renaming of messages, and (the property that matters) predictions, plans
and verify reports identical with and without the shortcut."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.analysis import predict
from planner.model.pools import pools_from_objects
from planner.objects import Manifest, svc_key_of
from planner.pipeline import plan_scenario
from planner.plan.build import PlanRefused
from planner.plan.records import plan_to_dict
from planner.plan.verify import verify_plan
from planner.simulate.reduction import components
from planner.simulate.symmetry import Renaming, Shape, shape_of
from planner.simulate.world import World
from tests.plan.test_build import ip_pool, running, scenario_of, service

POOL = ip_pool("lan", "10.0.0.0/24")
OTHER_POOL = ip_pool("dmz", "10.0.1.0/24")
MANUAL_POOL = ip_pool("manual", "10.0.2.0/24", auto_assign=False)  # a pool of other settings


def in_namespace(manifest: Manifest, namespace: str) -> Manifest:
    moved = copy.deepcopy(manifest)
    moved["metadata"]["namespace"] = namespace
    return moved


def dns_group(namespace: str, ip: str, *, local: bool, share: str = "dns") -> list[Manifest]:
    """The seed's group: DNS over TCP and UDP on one requested IP."""
    return [
        in_namespace(
            service(name, port=53, proto=proto, share=share, ips=[ip], local=local, app="dns"),
            namespace,
        )
        for name, proto in (("dns-tcp", "TCP"), ("dns-udp", "UDP"))
    ]


def shapes(desired: list[Manifest], live_specs: list[Manifest], pools: list[Manifest]) -> list:
    """The shape of every component of the naive apply, in component order."""
    scenario = scenario_of(desired, running(live_specs, pools), pools)
    world = World.of(scenario)
    parts = components(scenario.naive_writes(stamped=True), scenario.live_services, scenario.pools)
    return [world.shape(part) for part in parts]


def two_teams(ip_a: str, ip_b: str, pools: list[Manifest] | None = None, **b: Any) -> list:
    pools = pools or [POOL]
    live = dns_group("team-a", ip_a, local=False) + dns_group("team-b", ip_b, local=False)
    desired = dns_group("team-a", ip_a, local=True) + dns_group(
        "team-b", ip_b, **{"local": True, **b}
    )
    return shapes(desired, live, pools)


@pytest.mark.parametrize("ip_b", ["10.0.0.9", "10.0.0.255"])  # .255: no first-fit reads it
def test_groups_that_differ_in_names_and_ips_share_a_shape(ip_b: str) -> None:
    a, b = two_teams("10.0.0.5", ip_b)
    assert a is not None and b is not None
    assert a.signature == b.signature
    renaming = a.renaming_to(b)
    assert renaming.key("team-a/dns-tcp") == "team-b/dns-tcp"
    assert renaming.ips_of(("10.0.0.5",)) == (ip_b,)


def test_groups_in_pools_of_equal_settings_share_a_shape() -> None:
    # Which of two such pools holds the IP is a name: renamed with the rest.
    a, b = two_teams("10.0.0.5", "10.0.1.9", [POOL, OTHER_POOL])
    assert a is not None and b is not None
    assert a.signature == b.signature
    renaming = a.renaming_to(b)
    assert renaming.ips_of(("10.0.0.5",)) == ("10.0.1.9",)
    assert renaming.mapping["lan"] == "dmz"
    # A message naming the pool is not rewritten: that component is simulated.
    assert renaming.text('assigned IP "10.0.0.5" from pool "lan"') is None


@pytest.mark.parametrize(
    ("ip_b", "pools", "edit", "why"),
    [
        ("10.0.2.9", [POOL, MANUAL_POOL], {}, "the IP is in a pool of other settings"),
        ("10.0.0.9", None, {"share": "dns2"}, "team-b also renames its sharing key"),
    ],
)
def test_groups_that_differ_in_what_the_model_reads_do_not(
    ip_b: str, pools: list[Manifest] | None, edit: dict[str, Any], why: str
) -> None:
    a, b = two_teams("10.0.0.5", ip_b, pools, **edit)
    assert a is not None and b is not None
    assert a.signature != b.signature, why


def test_an_auto_assigned_group_has_no_shape() -> None:
    # Its new IP is the pool's first free address: not a matter of names.
    live = [service("web", share="w"), service("api", port=81, share="w")]
    desired = [
        service("web", share="w", local=True),
        service("api", port=81, share="w", local=True),
    ]
    assert shapes(desired, live, [POOL]) == [None]


def test_a_pool_with_a_service_allocation_leaves_no_shape() -> None:
    pinned = copy.deepcopy(POOL)
    pinned["spec"]["serviceAllocation"] = {"namespaces": ["team-a"]}
    live = dns_group("team-a", "10.0.0.5", local=False)
    desired = dns_group("team-a", "10.0.0.5", local=True)
    assert shapes(desired, live, [pinned]) == [None]


def test_prefer_dual_stack_leaves_no_shape() -> None:
    # Under v0.15 a single requested IP gets one of the other family drawn from the pool.
    live = dns_group("team-a", "10.0.0.5", local=False)
    desired = dns_group("team-a", "10.0.0.5", local=True)
    for manifest in live + desired:
        manifest["spec"]["ipFamilyPolicy"] = "PreferDualStack"
    assert shapes(desired, live, [POOL]) == [None]


def test_a_name_also_used_as_a_literal_leaves_no_shape() -> None:
    # The sharing key "TCP" is also a protocol: renaming it would rename the protocol too.
    live = dns_group("team-a", "10.0.0.5", local=False, share="TCP")
    desired = dns_group("team-a", "10.0.0.5", local=True, share="TCP")
    assert shapes(desired, live, [POOL]) == [None]


def test_a_shape_holds_only_the_fields_the_model_reads() -> None:
    context = [("team-a/web", service("web", ips=["10.0.0.5"]))]
    context[0][1]["metadata"]["namespace"] = "team-a"
    other = copy.deepcopy(context)
    other[0][1]["metadata"]["uid"] = "1234"
    other[0][1]["spec"]["ports"][0]["nodePort"] = 31000
    pools = pools_from_objects([POOL])
    first = shape_of(context, [], pools, pools)
    second = shape_of(other, [], pools, pools)
    assert first is not None and second is not None
    assert first.signature == second.signature


RENAMING = Renaming(
    {"team-a": "team-b", "dns-tcp": "dns-tcp", "10.0.0.5": "10.0.0.9"}, frozenset({"10.0.0.5"})
)


@pytest.mark.parametrize(
    ("message", "renamed"),
    [
        (
            'can\'t change sharing key for "team-a/dns-tcp", address also in use by team-a/dns-tcp',
            'can\'t change sharing key for "team-b/dns-tcp", address also in use by team-b/dns-tcp',
        ),
        (
            'port TCP/53 is already in use on "10.0.0.5"',
            'port TCP/53 is already in use on "10.0.0.9"',
        ),
        ("would get [10.0.0.5], not the group's []", "would get [10.0.0.9], not the group's []"),
        ("waiting for team-a", None),  # a bare name may be a word of the message
        ("10.0.0.5:53", None),  # an IP inside a longer word
        ("team-a/other", None),  # half a Service key
    ],
)
def test_messages_are_renamed_only_where_names_are_unambiguous(
    message: str, renamed: str | None
) -> None:
    assert RENAMING.text(message) == renamed


def test_renamings_of_one_shape_share_its_message_templates() -> None:
    """A message is split once per source shape; each renaming fills in its own names."""
    source = Shape("s", ("team-a", "dns", "10.0.0.5"), frozenset({"10.0.0.5"}), (53,))
    to_b = source.renaming_to(
        Shape("s", ("team-b", "dns", "10.0.0.9"), frozenset({"10.0.0.9"}), (54,))
    )
    to_c = source.renaming_to(
        Shape("s", ("team-c", "web", "10.0.0.7"), frozenset({"10.0.0.7"}), (80,))
    )
    message = 'port TCP/53 of "team-a/dns" is already in use on "10.0.0.5"'
    assert to_b.text(message) == 'port TCP/54 of "team-b/dns" is already in use on "10.0.0.9"'
    assert to_c.text(message) == 'port TCP/80 of "team-c/web" is already in use on "10.0.0.7"'
    assert to_b.text("waiting for team-a") is None
    assert to_c.text("waiting for team-a") is None  # the template's answer, kept
    assert set(source.templates) == {message, "waiting for team-a"}
    assert to_b.templates is source.templates is to_c.templates


# --- the property: the shortcut changes nothing -------------------------------------------------


# The state budget of the property's explorations: small components are proved, larger ones
# sampled (the property holds either way), and the examples stay fast.
BUDGET = 2_000


@contextmanager
def fresh(symmetric: bool) -> Iterator[None]:
    """Nothing remembered from earlier runs; with or without the shortcut."""
    patches = []
    if not symmetric:
        patches.append(mock.patch.object(World, "shape", lambda self, part: None))
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


def everything(
    desired: list[Manifest],
    live: list[Manifest],
    symmetric: bool,
    pools: list[Manifest] | None = None,
) -> dict[str, Any]:
    """Prediction, plan and verify report for a scenario (in `pools`, POOL when None), as
    comparable values."""
    with fresh(symmetric):
        scenario = scenario_of(desired, live, pools or [POOL])
        result: dict[str, Any] = {"predict": predict.predict(scenario, max_states=BUDGET)}
        try:
            plan = plan_scenario(scenario, max_states=BUDGET)
        except PlanRefused as refused:
            return {**result, "refused": str(refused)}
        result["plan"] = json.dumps(plan_to_dict(plan), sort_keys=True)
        result["verify"] = verify_plan(plan, max_states=BUDGET).lines()
        return result


EDITS = ("local", "local-one", "move", "swap", "delete", "none")


@st.composite
def templated(draw: st.DrawFn) -> tuple[list[Manifest], list[Manifest]]:
    """A team's groups and one edit, copied into 2–3 teams at other IPs; one team may differ."""
    groups = draw(st.integers(1, 2))
    sizes = [draw(st.integers(1, 2)) for _ in range(groups)]
    edit = draw(st.sampled_from(EDITS))
    odd_team = draw(st.sampled_from([None, 0, 1]))
    live: list[Manifest] = []
    desired: list[Manifest] = []
    for team in range(draw(st.integers(2, 3))):
        base = 10 + 16 * team
        ips = [f"10.0.0.{base + g}" for g in range(groups)]
        for g, size in enumerate(sizes):
            for m in range(size):
                spec = {"port": 80 + m, "share": f"g{g}", "ips": [ips[g]], "app": f"a{g}"}
                before = in_namespace(service(f"s{g}{m}", **spec), f"team-{team}")
                live.append(before)
                after = _edited(before, edit if team != odd_team else "none", g, m, ips)
                if after is not None:
                    desired.append(after)
    return desired, running(live, [POOL])


def _edited(
    manifest: Manifest, edit: str, group: int, member: int, ips: list[str]
) -> Manifest | None:
    after = copy.deepcopy(manifest)
    annotations = after["metadata"]["annotations"]
    if edit == "local" or (edit == "local-one" and member == 0):
        after["spec"]["externalTrafficPolicy"] = "Local"
    elif edit == "move":
        annotations["metallb.io/loadBalancerIPs"] = ips[group].rsplit(".", 1)[0] + f".{200 + group}"
    elif edit == "swap" and len(ips) == 2:
        annotations["metallb.io/loadBalancerIPs"] = ips[1 - group]
    elif edit == "delete" and member == 0:
        return None
    return after


# Each example plans and verifies twice: slow, and the same examples on every run.
PROPERTY = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
Case = tuple[list[Manifest], list[Manifest]]  # desired and live


def assert_shapes_change_nothing(
    desired: list[Manifest], live: list[Manifest], pools: list[Manifest] | None = None
) -> None:
    """Predictions, plans and verify reports are the same with and without shapes."""
    with_shapes = everything(desired, live, symmetric=True, pools=pools)
    assert with_shapes == everything(desired, live, symmetric=False, pools=pools)


@settings(PROPERTY, max_examples=25)
@given(templated())
def test_renamed_outcomes_equal_simulated_ones(case: Case) -> None:
    assert_shapes_change_nothing(*case)


# Two pools of equal settings and one set apart (no auto-assignment): teams spread over them.
SPREAD_POOLS = [POOL, OTHER_POOL, MANUAL_POOL]
POOL_EDITS = ("local", "local-one", "move", "other-pool", "pinned", "wrong-pool", "none")


@st.composite
def spread(draw: st.DrawFn) -> tuple[list[Manifest], list[Manifest]]:
    """2–3 teams of one group each, each team in a pool of its own drawing; one edit for all (a
    key change, a move in its pool or to the next pool, the pool requested by name, rightly or
    not), one team may not."""
    size = draw(st.integers(1, 3))
    edit = draw(st.sampled_from(POOL_EDITS))
    odd_team = draw(st.sampled_from([None, 0, 1]))
    live: list[Manifest] = []
    desired: list[Manifest] = []
    for team in range(draw(st.integers(2, 3))):
        pool = draw(st.integers(0, len(SPREAD_POOLS) - 1))
        ip = f"10.0.{pool}.{10 + 16 * team}"
        team_edit = edit if team != odd_team else "none"
        for m in range(size):
            before = in_namespace(
                service(f"s{m}", port=80 + m, share="g", ips=[ip], app="a"), f"team-{team}"
            )
            live.append(before)
            after = copy.deepcopy(before)
            annotations = after["metadata"]["annotations"]
            if team_edit == "local" or (team_edit == "local-one" and m == 0):
                after["spec"]["externalTrafficPolicy"] = "Local"
            elif team_edit == "move":
                annotations["metallb.io/loadBalancerIPs"] = f"10.0.{pool}.{200 + team}"
            elif team_edit == "other-pool":
                annotations["metallb.io/loadBalancerIPs"] = f"10.0.{(pool + 1) % 3}.{200 + team}"
            elif team_edit in ("pinned", "wrong-pool"):
                named = pool if team_edit == "pinned" else (pool + 1) % 3
                annotations["metallb.io/address-pool"] = SPREAD_POOLS[named]["metadata"]["name"]
            desired.append(after)
    return desired, running(live, SPREAD_POOLS)


@settings(PROPERTY, max_examples=25)
@given(spread())
def test_renamed_outcomes_across_pools_equal_simulated_ones(case: Case) -> None:
    assert_shapes_change_nothing(*case, pools=SPREAD_POOLS)


def test_same_shaped_components_are_simulated_once() -> None:
    live = running(
        [
            m
            for team in ("team-a", "team-b", "team-c")
            for m in dns_group(team, f"10.0.0.{ord(team[-1])}", local=False)
        ],
        [POOL],
    )
    desired = [
        m
        for team in ("team-a", "team-b", "team-c")
        for m in dns_group(team, f"10.0.0.{ord(team[-1])}", local=True)
    ]
    explored = []
    real = predict.explore_writes

    def counted(cluster: Any, writes: Any, seed: int, **options: Any) -> Any:
        explored.append(sorted(svc_key_of(m) for _, m in writes if m))
        return real(cluster, writes, seed, **options)

    with fresh(symmetric=True), mock.patch.object(predict, "explore_writes", counted):
        prediction = predict.predict(scenario_of(desired, live, [POOL]))
    assert len(explored) == 3  # one component per behaviour, not three
    pending = {f.service for f in prediction["metallb-0.15"].fates if f.pending}
    assert pending == {
        f"{t}/dns-{p}" for t in ("team-a", "team-b", "team-c") for p in ("tcp", "udp")
    }


def test_a_failed_claim_on_a_renamed_component_quotes_a_simulated_schedule() -> None:
    teams = ("team-a", "team-b", "team-c")
    live = running(
        [m for t in teams for m in dns_group(t, f"10.0.0.{ord(t[-1])}", local=False)], [POOL]
    )
    desired = [m for t in teams for m in dns_group(t, f"10.0.0.{ord(t[-1])}", local=True)]
    with fresh(symmetric=True):
        plan = plan_scenario(scenario_of(desired, live, [POOL]))
        (wave,) = plan.waves
        # team-c's component is the third of one shape: renamed, not simulated, until a claim fails.
        wrong = {**wave.expected_ips, "team-c/dns-tcp": (("10.0.0.200",),)}
        tampered = dataclasses.replace(plan, waves=(dataclasses.replace(wave, expected_ips=wrong),))
        (claim,) = [c for c in verify_plan(tampered).claims if not c.holds]
    lines = claim.counterexample.splitlines()
    assert lines[0].startswith("team-c/dns-tcp ends at ['10.0.0.99'], expected one of")
    assert lines[1].startswith("schedule: arrive ")


# --- ports and selectors: canonical by their equality (issue 17's heterogeneous repos) ----------


def own_group(namespace: str, ip: str, port: int, label: str, *, local: bool) -> list[Manifest]:
    """A 2-member group with its own port numbers and a selector of its own label key."""
    members = []
    for offset, proto in enumerate(("TCP", "UDP")):
        manifest = in_namespace(
            service(f"m{offset}", port=port + offset, proto=proto, share="grp", ips=[ip]),
            namespace,
        )
        manifest["spec"]["selector"] = {label: "backend"}
        if local:
            manifest["spec"]["externalTrafficPolicy"] = "Local"
        members.append(manifest)
    return members


def own_groups(*, clash: str = "") -> tuple[list[Manifest], list[Manifest]]:
    """Two teams' groups, each with its own ports and selector, both changing their key;
    `clash`: the team whose second member also takes its first member's port and protocol."""
    live: list[Manifest] = []
    desired: list[Manifest] = []
    for team, ip, port, label in (
        ("team-a", "10.0.0.5", 1000, "a"),
        ("team-b", "10.0.0.9", 2000, "b.io/x"),
    ):
        live += own_group(team, ip, port, label, local=False)
        after = own_group(team, ip, port, label, local=True)
        if team == clash:
            after[1]["spec"]["ports"][0].update(port=port, protocol="TCP")
        desired += after
    return desired, live


def test_groups_with_their_own_ports_and_selectors_share_a_shape() -> None:
    desired, live = own_groups()
    a, b = shapes(desired, running(live, [POOL]), [POOL])
    assert a is not None and b is not None
    assert a.signature == b.signature
    renaming = a.renaming_to(b)
    assert renaming.text('port TCP/1000 is already in use on "10.0.0.5"') == (
        'port TCP/2000 is already in use on "10.0.0.9"'
    )
    assert renaming.text("1000 is a number of the message") is None  # a bare port: ambiguous


def test_a_port_clash_is_part_of_the_shape() -> None:
    desired, live = own_groups(clash="team-b")
    a, b = shapes(desired, running(live, [POOL]), [POOL])
    assert a is not None and b is not None
    assert a.signature != b.signature  # team-b's members clash on one port, team-a's do not


def test_the_protocol_of_a_port_is_part_of_the_shape() -> None:
    desired, live = own_groups()
    for manifest in desired:  # both teams' second member takes the first one's number
        port = manifest["spec"]["ports"][0]
        port["port"] -= port["port"] % 2
    team_b_udp = desired[3]["spec"]["ports"][0]
    team_b_udp["protocol"] = "TCP"  # team-b's now clash (TCP twice), team-a's do not
    a, b = shapes(desired, running(live, [POOL]), [POOL])
    assert a is not None and b is not None
    assert a.signature != b.signature


def joined_group(namespace: str, before: tuple[str, str], after: tuple[str, str]) -> tuple:
    """One Local Service on its own IP whose (selector value, sharing key) goes before → after."""
    live = service("web", share=before[1], ips=["10.0.0.5"], local=True, app=before[0])
    desired = service("web", share=after[1], ips=["10.0.0.5"], local=True, app=after[0])
    return in_namespace(desired, namespace), in_namespace(live, namespace)


def test_keys_that_join_alike_are_part_of_the_shape() -> None:
    # metallb-0.15 compares backend + sharing as one string: "app=web"+"prodkey" and
    # "app=webprod"+"key" are no change, "app=x"+"y" and "app=z"+"w" are one.
    same_desired, same_live = joined_group("team-a", ("web", "prodkey"), ("webprod", "key"))
    other_desired, other_live = joined_group("team-b", ("x", "y"), ("z", "w"))
    (same,) = shapes([same_desired], running([same_live], [POOL]), [POOL])
    (other,) = shapes([other_desired], running([other_live], [POOL]), [POOL])
    assert same is not None and other is not None
    assert same.signature != other.signature


def test_keys_that_join_alike_are_predicted_as_simulated() -> None:
    desired, live = [], []
    for namespace, ip, before, after in (
        ("team-a", "10.0.0.5", ("web", "prodkey"), ("webprod", "key")),
        ("team-b", "10.0.0.9", ("x", "y"), ("z", "w")),
    ):
        for name, port in (("m0", 80), ("m1", 81)):
            live.append(
                in_namespace(
                    service(name, port=port, share=before[1], ips=[ip], local=True, app=before[0]),
                    namespace,
                )
            )
            desired.append(
                in_namespace(
                    service(name, port=port, share=after[1], ips=[ip], local=True, app=after[0]),
                    namespace,
                )
            )
    live = running(live, [POOL])
    assert everything(desired, live, symmetric=True) == everything(desired, live, symmetric=False)


@st.composite
def heterogeneous(draw: st.DrawFn) -> tuple[list[Manifest], list[Manifest]]:
    """2–3 teams of one group each, every team with its own port numbers and selector key (and
    maybe protocols); one edit for all (a key change, a port clash, a move), one team may not."""
    size = draw(st.integers(1, 3))
    edit = draw(st.sampled_from(("local", "clash", "same-number", "local-one", "move", "none")))
    odd_team = draw(st.sampled_from([None, 0, 1]))
    live: list[Manifest] = []
    desired: list[Manifest] = []
    for team in range(draw(st.integers(2, 3))):
        ip = f"10.0.0.{10 + 16 * team}"
        base = draw(st.sampled_from((53, 80, 1000 + 100 * team)))
        label = draw(st.sampled_from(("app", f"tier-{team}", "k8s.io/name")))
        protocols = [draw(st.sampled_from(("TCP", "UDP"))) for _ in range(size)]
        team_edit = edit if team != odd_team else "none"
        for m in range(size):
            before = in_namespace(
                service(f"s{m}", port=base + m, proto=protocols[m], share="g", ips=[ip]),
                f"team-{team}",
            )
            before["spec"]["selector"] = {label: f"a{team}"}
            live.append(before)
            after = copy.deepcopy(before)
            if team_edit in ("local", "clash") or (team_edit == "local-one" and m == 0):
                after["spec"]["externalTrafficPolicy"] = "Local"
            if team_edit == "clash" and m > 0:
                after["spec"]["ports"][0].update(port=base, protocol=protocols[0])
            if team_edit == "same-number" and m > 0:  # a clash only if the protocols match
                after["spec"]["ports"][0].update(port=base)
            if team_edit == "move":
                after["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = (
                    f"10.0.0.{200 + team}"
                )
            desired.append(after)
    return desired, running(live, [POOL])


@settings(PROPERTY, max_examples=20)
@given(heterogeneous())
def test_renamed_outcomes_of_own_ports_and_selectors_equal_simulated_ones(case: Case) -> None:
    assert_shapes_change_nothing(*case)


def test_a_component_no_other_could_share_a_shape_with_is_not_shaped() -> None:
    # A lone large group's shape costs the square of its size and cannot pay: not computed.
    live = running(
        dns_group("team-a", "10.0.0.5", local=False) + [service("web", ips=["10.0.0.7"])], [POOL]
    )
    desired = dns_group("team-a", "10.0.0.5", local=True) + [
        service("web", ips=["10.0.0.7"], local=True)
    ]
    scenario = scenario_of(desired, live, [POOL])
    world = World.of(scenario)
    computed = []
    real = World.shape

    def counted(self: World, part: Any) -> Any:
        computed.append(part.services)
        return real(self, part)

    with mock.patch.object(World, "shape", counted):
        parts = world.parts(scenario.naive_writes(stamped=True))
    assert [shape for _, shape in parts] == [None, None]
    assert computed == []  # two components, one of two writes and one of one
    doubled = desired + dns_group("team-b", "10.0.0.9", local=True)
    scenario = scenario_of(
        doubled, live + running(dns_group("team-b", "10.0.0.9", local=False), [POOL]), [POOL]
    )
    with mock.patch.object(World, "shape", counted):
        parts = World.of(scenario).parts(scenario.naive_writes(stamped=True))
    assert len(computed) == 2  # the two DNS groups: each may share the other's shape
