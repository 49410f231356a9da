"""One shared IP held by a large group: the structures that keep a handling's cost independent of
the group's size give the answers the straightforward computation gives.

- the allocator's holder names per IP (built once per version, not per refusal);
- Allocator.sharing_reads: equal reads, the same refusal (apart from the holders it names);
- the controller's remembered refusals of pending members (Controller._note_refusal).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model.allocator import Allocator, ErrorKind, Pool, Port
from planner.model.controller import Controller
from tests.model.test_controller_memo import Spec, World, run_step

SERVICES = tuple(f"ns/s{i}" for i in range(6))
IPS = ("10.0.0.1", "10.0.0.2", "fd00::1")
KEYS = (("a", ""), ("a", "local"), ("b", ""), ("", ""))
PORTS = ((Port("TCP", 53),), (Port("UDP", 53),), (Port("TCP", 80),), ())
LAN = Pool("lan", ("10.0.0.0/30", "fd00::/127"))
LAN_SMALL = Pool("lan", ("10.0.0.0/31", "fd00::/127"))

ASSIGN = st.tuples(
    st.just("assign"),
    st.sampled_from(SERVICES),
    st.sampled_from((*((ip,) for ip in IPS), ("10.0.0.1", "fd00::1"))),
    st.sampled_from(PORTS),
    st.sampled_from(KEYS),
)
OPERATIONS = st.one_of(
    ASSIGN,
    ASSIGN,
    ASSIGN,
    st.tuples(st.just("unassign"), st.sampled_from(SERVICES)),
    st.tuples(st.just("clone")),
    st.tuples(st.just("pools"), st.sampled_from((LAN, LAN_SMALL))),
)


def straightforward_others(allocator: Allocator, ip: str, svc_key: str) -> str:
    """The other holders as the refusal named them before the cache: sorted, itself left out."""
    return ",".join(name for name in allocator.holders(ip) if name != svc_key)


def probes() -> list[tuple[str, tuple[str, ...], tuple[Port, ...], tuple[str, str]]]:
    """Every request a Service holding nothing might make: IPs, ports, keys."""
    asked = [(ip,) for ip in IPS] + [("10.0.0.1", "fd00::1")]
    return [
        (svc, ips, ports, key)
        for svc in ("ns/new", SERVICES[0])
        for ips in asked
        for ports in PORTS[:2]
        for key in KEYS
    ]


@settings(max_examples=200, deadline=None)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=40))
def test_holder_names_and_sharing_reads_match_the_straightforward_answers(
    operations: list[tuple[Any, ...]],
) -> None:
    """After every change (and on clones, which share the cached names until either changes):
    the names a sharing-key refusal gives are the sorted other holders, the refusal ends with
    them, and two states with equal sharing_reads refuse alike apart from those names."""
    allocator = Allocator([LAN])
    seen: dict[tuple[Any, ...], tuple[ErrorKind | None, str, str]] = {}
    for operation in operations:
        kind = operation[0]
        if kind == "assign":
            _, svc, ips, ports, (sharing, backend) = operation
            try:
                allocator.assign(svc, None, list(ips), ports, sharing, backend)
            except Exception as error:  # noqa: BLE001 - refusals are expected, any kind
                assert type(error).__name__ == "AllocationError", error
        elif kind == "unassign":
            allocator.unassign(operation[1])
        elif kind == "clone":
            twin = allocator.clone()
            # The original goes on changing: the twin's cached names must not follow it.
            allocator.unassign(SERVICES[0])
            allocator = twin
        else:
            allocator.set_pools([operation[1]])
        for ip in IPS:
            for svc in (*SERVICES, "ns/new"):
                assert allocator.others_on(ip, svc) == straightforward_others(allocator, ip, svc)
        for svc, ips, ports, (sharing, backend) in probes():
            if allocator.pool(svc) is not None:
                continue  # sharing_reads speaks of a Service that holds nothing
            refusal = allocator.refusal(svc, None, ips, ports, sharing, backend)
            reads = (svc, ips, ports, sharing, backend, allocator.sharing_reads(svc, ips, ports))
            if refusal is None:
                outcome: tuple[ErrorKind | None, str, str] = (None, "", "")
            elif refusal.kind == ErrorKind.SHARING_KEY_MISMATCH:
                assert refusal.others == straightforward_others(allocator, refusal.ip, svc)
                assert refusal.message.endswith(refusal.others)
                head = refusal.message[: len(refusal.message) - len(refusal.others)]
                outcome = (refusal.kind, refusal.ip, head)
            else:
                outcome = (refusal.kind, "", refusal.message)
            assert seen.setdefault(reads, outcome) == outcome, (reads, outcome)


# --- the controller --------------------------------------------------------------------------

GROUP_IP = "10.0.0.1"


def member(local: bool) -> Spec:
    """A member of the one group: one requested IP, one key, a port of its own."""
    return Spec(GROUP_IP, "a", local, None, "v4", None, True)


MEMBERS = 3
WRITE_MEMBER = st.tuples(
    st.just("write"),
    st.integers(0, MEMBERS - 1),
    st.builds(member, st.sampled_from((True, True, False))),  # mostly to the new key
)
MEMBER_STEPS = st.one_of(
    WRITE_MEMBER,
    WRITE_MEMBER,
    st.tuples(st.sampled_from(("pass", "reverse-pass", "settle"))),
    st.tuples(st.just("handle"), st.integers(0, MEMBERS - 1)),
    st.tuples(st.sampled_from(("delete", "copy"))),
)


@settings(max_examples=150, deadline=None)
@given(
    behavior=st.sampled_from(("metallb-0.14", "metallb-0.15")),
    steps=st.lists(MEMBER_STEPS, min_size=4, max_size=40),
)
def test_a_group_changing_its_key_is_answered_alike_with_remembered_refusals(
    behavior: str, steps: list[tuple[Any, ...]]
) -> None:
    """One group on one requested IP whose members change their key one at a time (pending until
    the last old holder leaves), in random order with passes between: a controller that answers
    pending members from their remembered refusals answers and holds exactly what one running
    every handling does (state, warnings with the holders of the moment, events)."""
    remembering, afresh = World(behavior, True), World(behavior, False)
    start = {index: member(False) for index in range(MEMBERS)}
    specs_of = (dict(start), dict(start))
    fixed_steps: list[tuple[Any, ...]] = [("write-all",), ("settle",)]
    for step in steps:
        # "delete" and "copy" take an index or none; give delete one (the last member).
        fixed_steps.append(("delete", MEMBERS - 1) if step == ("delete",) else step)
    for number, step in enumerate(fixed_steps):
        got = run_step(remembering, step, specs_of[0])
        want = run_step(afresh, step, specs_of[1])
        assert got == want, (number, step)
        assert remembering.state() == afresh.state(), (number, step)


def pending_pair() -> World:
    """Three members on one IP, s0 then s1 changed to Local (both pending, each handled again
    after its status was cleared), s2 still Cluster."""
    world = World("metallb-0.15", True)
    specs: dict[int, Spec] = {}
    for index in range(3):
        run_step(world, ("write", index, member(False)), specs)
    run_step(world, ("settle",), specs)
    for index in (0, 1):
        # The write clears its status; the echo of that write is the pending handling.
        run_step(world, ("write", index, member(True)), specs)
        run_step(world, ("handle", index), specs)
    return world


def test_a_pending_member_is_answered_without_running_naming_the_holders_of_now() -> None:
    """After another holder left the IP (the allocator changed), a pending member's handling is
    not run again; its warning names the holders left, as a handling run afresh names them."""
    world = pending_pair()
    assert "ns/s0" in world.controller._refused
    assert world.controller.allocator.holders(GROUP_IP) == ["ns/s2"]
    with mock.patch.object(
        Controller, "_converge_one", autospec=True, side_effect=Controller._converge_one
    ) as converge:
        result = world.handle("ns/s0")
    converge.assert_not_called()
    assert result.state == "error_no_retry" and result.service is None
    refusal = (
        'AllocationFailed: Failed to allocate IP for "ns/s0": can\'t change sharing key for '
        '"ns/s0", address also in use by ns/s2'
    )
    assert result.warnings == [refusal]


def test_a_pending_member_runs_again_once_the_ip_forgets_the_old_key() -> None:
    """When the last old holder leaves, the IP forgets its key (no port left): what the refusal
    read changed, so the member is handled afresh and takes the IP with its new key."""
    world = pending_pair()
    specs: dict[int, Spec] = {index: member(index < 2) for index in range(3)}
    run_step(world, ("write", 2, member(True)), specs)
    with mock.patch.object(
        Controller, "_converge_one", autospec=True, side_effect=Controller._converge_one
    ) as converge:
        result = world.handle("ns/s0")
    assert [call.args[1] for call in converge.call_args_list] == ["ns/s0"]
    assert result.warnings == [] and result.service is not None
    assert world.controller.allocator.ips("ns/s0") == [GROUP_IP]
