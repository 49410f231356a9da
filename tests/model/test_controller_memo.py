"""The controller's remembered answers change nothing: random event sequences, step by step,
on a controller that skips handlings whose answer it knows and on one that runs every one."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model.allocator import Pool
from planner.model.controller import BEHAVIORS, Controller, Result
from planner.model.service import ALLOCATED_FROM_POOL_ANNOTATION
from tests.model.test_seed_scenario import with_group_annotations

NAMES = ("s0", "s1", "s2", "s3", "s4")
# Small pools, so Services contend: `lan` has 4 IPv4 addresses and 2 IPv6 ones.
LAN = Pool("lan", ["10.0.0.0/30", "fd00::/127"])
LAN2 = Pool("lan2", ["10.0.1.0/31"])
# The first is the controller's at the start; the others drop addresses, or rename the pool
# that owns them (every allocation on it is recorded anew, with the new pool's name).
POOL_SETS = (
    (LAN, LAN2),
    (LAN,),
    (Pool("lan", ["10.0.0.0/31"]), LAN2),
    (Pool("lan3", ["10.0.0.0/30", "fd00::/127"]), LAN2),
)
REQUESTED = (None, None, "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.0.1,fd00::1")
# None stands for a port of the Service's own (TCP 1000 + its index): members that may share.
# () is no port at all: the IP forgets its key when the last port on it goes, not the last
# Service, so a Service may hold an IP that remembers another Service's key.
PORTS = (None, None, None, (), (("TCP", 53),), (("UDP", 53),), (("TCP", 53), ("UDP", 53)))
FAMILIES = ("v4", "v4", "prefer", "dual")


@dataclass(frozen=True)
class Spec:
    """What a write sets of one Service (its status comes from the API server's copy)."""

    requested: str | None
    sharing: str
    local: bool
    ports: tuple[tuple[str, int], ...] | None
    family: str
    pool: str | None
    load_balancer: bool


def manifest(index: int, spec: Spec) -> dict[str, Any]:
    """The Service as written, with the cluster IPs the API server gave it."""
    annotations: dict[str, str] = {}
    if spec.sharing:
        annotations["metallb.io/allow-shared-ip"] = spec.sharing
    if spec.requested:
        annotations["metallb.io/loadBalancerIPs"] = spec.requested
    if spec.pool:
        annotations["metallb.io/address-pool"] = spec.pool
    v4, v6 = f"10.96.0.{index + 1}", f"fd00:10:96::{index + 1}"
    ports = (("TCP", 1000 + index),) if spec.ports is None else spec.ports
    cluster_ips = [v4, v6] if spec.family == "dual" else [v4]
    policy = {"v4": "SingleStack", "prefer": "PreferDualStack", "dual": "RequireDualStack"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAMES[index], "namespace": "ns", "annotations": annotations},
        "spec": {
            "type": "LoadBalancer" if spec.load_balancer else "ClusterIP",
            "selector": {"app": "web"},
            "externalTrafficPolicy": "Local" if spec.local else "Cluster",
            "ports": [{"port": port, "protocol": proto} for proto, port in ports],
            "clusterIP": v4,
            "clusterIPs": cluster_ips,
            "ipFamilies": ["IPv4", "IPv6"][: len(cluster_ips)],
            "ipFamilyPolicy": policy[spec.family],
        },
    }


ANY_SPECS = st.builds(
    Spec,
    st.sampled_from(REQUESTED),
    st.sampled_from(("", "a", "a", "a", "b")),
    st.booleans(),
    st.sampled_from(PORTS),
    st.sampled_from(FAMILIES),
    st.sampled_from((None, None, "lan2")),
    st.sampled_from((True, True, True, False)),  # mostly LoadBalancers
)
# Members of one sharing group (one key, each its own port), on a requested IP or auto-assigned,
# with or without a key change: most writes, so groups form, get ready and settle.
GROUP_SPECS = st.builds(
    Spec,
    st.sampled_from((None, "10.0.0.1", "10.0.0.3")),
    st.just("a"),
    st.booleans(),
    st.sampled_from((None, None, None, ())),
    st.just("v4"),
    st.just(None),
    st.just(True),
)
SPECS = st.one_of(GROUP_SPECS, GROUP_SPECS, ANY_SPECS)
INDEX = st.integers(0, len(NAMES) - 1)
WRITE = st.tuples(st.just("write"), INDEX, SPECS)
# Reprocess-all passes, where remembered answers are used (one handles each echo first).
PASS = st.tuples(st.sampled_from(("pass", "reverse-pass", "settle", "settle")))
STEPS = st.one_of(
    WRITE,
    WRITE,
    WRITE,
    PASS,
    PASS,
    PASS,
    st.tuples(st.just("write-all")),
    st.tuples(st.just("handle"), INDEX),
    st.tuples(st.sampled_from(("delete", "not-lb")), INDEX),
    st.tuples(st.just("pools"), st.integers(0, len(POOL_SETS) - 1)),
    st.tuples(st.sampled_from(("copy", "restart"))),
)


class World:
    """One controller and the API server's copies of the Services, as the simulated cluster
    keeps them: written manifests are new objects, handed to the controller again unchanged."""

    def __init__(self, behavior: str, remembers: bool) -> None:
        self.controller = Controller(
            list(POOL_SETS[0]), behavior, shares_manifests=True, remembers=remembers
        )
        self.store: dict[str, dict[str, Any]] = {}

    def write(self, key: str, written: dict[str, Any]) -> None:
        """A spec write: the stored status and pool annotation are kept."""
        stored = self.store.get(key)
        merged = copy.deepcopy(written)
        if stored is not None and stored.get("status"):
            merged["status"] = copy.deepcopy(stored["status"])
        owned = ((stored or {}).get("metadata") or {}).get("annotations") or {}
        if ALLOCATED_FROM_POOL_ANNOTATION in owned:
            merged["metadata"]["annotations"][ALLOCATED_FROM_POOL_ANNOTATION] = owned[
                ALLOCATED_FROM_POOL_ANNOTATION
            ]
        self.store[key] = merged
        self.controller.observe(key, merged)

    def handle(self, key: str) -> Result:
        """The controller handles the stored Service; what it writes is stored (a new object)."""
        result = self.controller.set_balancer(key, self.store.get(key))
        writes = dict(result.group_writes)
        if result.service is not None:
            writes[key] = result.service
        for written_key, written in sorted(writes.items()):
            stored = self.store.get(written_key)
            if stored is None:
                continue
            merged = dict(stored)
            merged["status"] = copy.deepcopy(written.get("status") or {})
            merged["metadata"] = {
                **stored["metadata"],
                "annotations": copy.deepcopy(written["metadata"].get("annotations") or {}),
            }
            self.store[written_key] = merged
            self.controller.observe(written_key, merged)
        return result

    def state(self) -> tuple[Any, ...]:
        """Everything observable: allocator (and its walk order), keys, cache, the store, and
        the transition logs the state explorer's symmetry guard reads (a skipped transition
        must be one that logs nothing)."""
        controller = self.controller
        allocator = controller.allocator
        return (
            allocator.snapshot(),
            tuple(allocator._allocated),
            allocator.fingerprint(),
            dict(controller._keys),
            dict(controller._cache),
            {key: controller.allocation_key(key) for key in NAMES},
            copy.deepcopy(self.store),
            controller.order_sensitive,
            controller.written_together,
        )


def write_and_handle(world: World, index: int, specs: dict[int, Spec]) -> Result:
    """Write the Service at `index` (group annotations stamped over every spec) and handle it."""
    written = {i: manifest(i, s) for i, s in sorted(specs.items())}
    stamped = dict(zip(written, with_group_annotations(written.values()), strict=True))
    world.write(f"ns/{NAMES[index]}", stamped[index])
    return world.handle(f"ns/{NAMES[index]}")


def run_step(world: World, step: tuple[Any, ...], specs: dict[int, Spec]) -> list[Result]:
    """One step on one world: the results of the handlings it made."""
    kind = step[0]
    if kind == "write":
        specs[step[1]] = step[2]
        return [write_and_handle(world, step[1], specs)]
    if kind == "write-all":
        # Every Service written again with its group's annotations as they are now (a group
        # whose members were written one by one becomes ready).
        return [write_and_handle(world, index, specs) for index in sorted(specs)]
    if kind == "handle":
        return [world.handle(f"ns/{NAMES[step[1]]}")]
    if kind in ("pass", "reverse-pass"):
        keys = sorted(world.store, reverse=kind == "reverse-pass")
        return [world.handle(key) for key in keys]
    if kind == "settle":
        # Passes until one writes nothing (at most 4): groups settle, then stay so.
        results: list[Result] = []
        for _ in range(4):
            handled = [world.handle(key) for key in sorted(world.store)]
            results.extend(handled)
            if not any(r.service is not None or r.group_writes for r in handled):
                break
        return results
    if kind == "delete":
        specs.pop(step[1], None)
        world.store.pop(f"ns/{NAMES[step[1]]}", None)
        return [world.handle(f"ns/{NAMES[step[1]]}")]
    if kind == "not-lb":
        key = f"ns/{NAMES[step[1]]}"
        if key not in world.store:
            return []
        changed = copy.deepcopy(world.store[key])
        changed["spec"]["type"] = "ClusterIP"
        world.store[key] = changed
        return [world.handle(key)]
    if kind == "pools":
        world.controller.set_pools(list(POOL_SETS[step[1]]))
        return []
    if kind == "copy":
        world.controller = world.controller.copy()
        return []
    assert kind == "restart"
    world.controller = world.controller.restarted()
    world.controller.set_pools(list(POOL_SETS[0]))
    for key, stored in world.store.items():
        world.controller.observe(key, stored)
    # Services with IPs first, as a restarted controller's pass lists them.
    keys = sorted(world.store, key=lambda k: (not world.store[k].get("status"), k))
    return [world.handle(key) for key in keys]


@settings(max_examples=300, deadline=None)
@given(
    behavior=st.sampled_from(BEHAVIORS),
    start=st.dictionaries(INDEX, SPECS, min_size=2),
    steps=st.lists(STEPS, min_size=4, max_size=40),
)
def test_remembered_answers_are_the_answers_run_afresh(
    behavior: str, start: dict[int, Spec], steps: list[tuple[Any, ...]]
) -> None:
    """After every step the two controllers answered alike (state, writes, warnings, events)
    and hold the same state, down to the order set_pools walks allocations in."""
    remembering, afresh = World(behavior, True), World(behavior, False)
    specs_of: tuple[dict[int, Spec], dict[int, Spec]] = (dict(start), dict(start))
    for number, step in enumerate([("write-all",), ("pass",), *steps]):
        got = run_step(remembering, step, specs_of[0])
        want = run_step(afresh, step, specs_of[1])
        assert got == want, (number, step)
        assert remembering.state() == afresh.state(), (number, step)


def side_by_side(behavior: str, steps: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
    """Run the steps on both controllers, comparing after each; the groups the remembering one
    transitioned during the last step."""
    remembering, afresh = World(behavior, True), World(behavior, False)
    specs_of: tuple[dict[int, Spec], dict[int, Spec]] = ({}, {})
    for number, step in enumerate(steps):
        with mock.patch.object(
            Controller, "_converge_group", autospec=True, side_effect=Controller._converge_group
        ) as transitions:
            got = run_step(remembering, step, specs_of[0])
        assert got == run_step(afresh, step, specs_of[1]), (number, step)
        assert remembering.state() == afresh.state(), (number, step)
    return [call.args[2] for call in transitions.call_args_list]


def member(requested: str | None, sharing: str, ports: Any = None, local: bool = False) -> Spec:
    return Spec(requested, sharing, local, ports, "v4", None, True)


def test_a_settled_group_is_not_transitioned_again_when_only_another_group_moved() -> None:
    """fixed: group b's transition changes the allocator, not what group a's read: a's
    members are answered without a transition, exactly as when it runs."""
    steps: list[tuple[Any, ...]] = [
        ("write", 0, member("10.0.0.1", "a")),
        ("write", 1, member("10.0.0.1", "a")),
        ("write", 2, member("10.0.0.2", "b")),
        ("write", 3, member("10.0.0.2", "b")),
        ("write-all",),
        ("pass",),
        ("pass",),
        ("write", 2, member("10.0.0.2", "b", local=True)),
        ("write", 3, member("10.0.0.2", "b", local=True)),
        ("write-all",),
        ("pass",),
    ]
    transitioned = side_by_side("fixed", steps)
    assert ("ns/s0", "ns/s1") not in transitioned, transitioned


def test_a_settled_group_is_transitioned_again_when_its_ip_remembers_another_key() -> None:
    """fixed: members without ports leave no port on their IP, so it forgets their key when
    a Service of theirs leaves it; another key then takes it. Their allocations are as they
    were, their IP's entry is not: the transition runs again (and finds itself infeasible)."""
    steps: list[tuple[Any, ...]] = [
        ("write", 0, member("10.0.0.0", "a", ports=())),
        ("write", 1, member("10.0.0.0", "a", ports=())),
        ("write-all",),
        ("pass",),
        ("pass",),
        # Not a member (auto-assigned), but on the group's IP: it shares key "a".
        ("write", 2, member(None, "a", ports=())),
        ("pass",),
        ("delete", 2),
        ("write", 3, member("10.0.0.0", "b", ports=(("TCP", 53),))),
        ("pass",),
    ]
    transitioned = side_by_side("fixed", steps)
    assert ("ns/s0", "ns/s1") in transitioned, transitioned


def test_the_memo_is_used_by_the_property() -> None:
    """The property above exercises skipped handlings: a settled sharing Service, after
    another holder of its IP came, is answered without running (and alike afresh)."""
    spec_a = Spec("10.0.0.1", "a", False, (("TCP", 53),), "v4", None, True)
    spec_b = Spec("10.0.0.1", "a", False, (("UDP", 53),), "v4", None, True)
    steps: list[tuple[Any, ...]] = [
        ("write", 0, spec_a),
        ("handle", 0),
        ("write", 1, spec_b),
        ("handle", 1),
        ("pass",),
    ]
    world = World("metallb-0.15", True)
    specs: dict[int, Spec] = {}
    for step in steps[:-1]:
        run_step(world, step, specs)
    # s1's arrival changed the allocator since s0 was last handled: only what s0 read did not.
    assert world.controller._unchanged["ns/s0"].version != world.controller.allocator.version
    with mock.patch.object(
        Controller, "_converge_one", autospec=True, side_effect=Controller._converge_one
    ) as converge:
        run_step(world, steps[-1], specs)
    handled = [call.args[1] for call in converge.call_args_list]
    assert "ns/s0" not in handled, handled


def test_a_services_own_write_handed_back_is_answered_without_running() -> None:
    """The API server's copy of the controller's write (an equal manifest, another object) is
    answered without convergeBalancer while the Service holds its allocation alone, also after
    another holder of its IP came; not once the manifest differs."""
    world = World("metallb-0.15", True)
    specs: dict[int, Spec] = {}
    first = run_step(world, ("write", 0, member("10.0.0.1", "a")), specs)
    assert first[0].service is not None  # written: its status and pool annotation
    run_step(world, ("write", 1, member("10.0.0.1", "a")), specs)  # the allocator changes
    echo = world.store["ns/s0"]
    assert echo == first[0].service and echo is not first[0].service
    with mock.patch.object(Controller, "_converge_one") as converge:
        assert world.handle("ns/s0") == Result("success")
    converge.assert_not_called()
    changed = copy.deepcopy(echo)
    changed["metadata"]["labels"] = {"app": "other"}
    world.store["ns/s0"] = changed
    ran = Result("success")
    with mock.patch.object(Controller, "_converge_one", return_value=ran) as converge:
        assert world.handle("ns/s0") is ran
    converge.assert_called_once()
