"""The allocator's data structures (planner.model._addrindex) against plain Python values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model._addrindex import (
    CowTable,
    IntervalSet,
    KeyIndex,
    UndoLog,
    compress,
    decompress,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=80), st.integers(0, 45))
def test_interval_index_agrees_with_a_plain_set(edits: list[tuple[bool, int]], probe: int) -> None:
    index, plain = IntervalSet(), set()
    for add, value in edits:
        if add:
            index.add(value)
            plain.add(value)
        else:
            index.remove(value)
            plain.discard(value)
    expected = probe
    while expected in plain:
        expected += 1
    assert index.next_absent(probe) == expected
    # intervals are sorted, disjoint and merged (never adjacent)
    assert all(
        s <= e < n - 1
        for s, e, n in zip(index.starts, index.ends, index.starts[1:] + [10**9], strict=False)
    )


def test_a_cow_table_copies_a_shared_container_before_changing_it() -> None:
    table: CowTable[str, list[int]] = CowTable(list, list.copy)
    table.mutable("a").append(1)
    table.mutable("b").append(2)
    twin = table.clone()
    assert twin["a"] is table["a"]  # shared until either side changes it
    twin.mutable("a").append(3)
    table.mutable("b").append(4)
    assert (table["a"], table["b"]) == ([1], [2, 4])
    assert (twin["a"], twin["b"]) == ([1, 3], [2])
    # once copied, the container is this side's own: no second copy
    mine = twin.mutable("a")
    assert twin.mutable("a") is mine


def test_a_cow_table_keeps_its_order_and_drops_only_its_own_entry() -> None:
    table: CowTable[str, list[int]] = CowTable(list, list.copy, [("a", [1]), ("b", [2])])
    twin = table.clone()
    twin.mutable("a").append(9)  # re-assigning a key keeps its place
    assert list(twin) == ["a", "b"]
    twin.drop("b")
    twin.drop("missing")
    assert dict(twin) == {"a": [1, 9]}
    assert dict(table) == {"a": [1], "b": [2]}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 2 * 256))
def test_compressed_indexes_skip_only_buggy_addresses(address: int) -> None:
    if address & 0xFF in (0, 255):
        return
    assert decompress(compress(address)) == address
    following = address + 1 if address & 0xFF != 254 else address + 3
    assert compress(following) == compress(address) + 1


def _plain_first(
    keys: dict[int, str],
    ports: dict[int, set[int]],
    low: int,
    high: int,
    avoid: bool,
    key: str | None,
    wanted: set[int],
) -> int | None:
    """The search, literally: every address in order (key None: the first keyless one)."""
    for address in range(low, high + 1):
        if avoid and address & 0xFF in (0, 255):
            continue
        if key is None and address not in keys:
            return address
        if key is not None and keys.get(address) == key and not ports[address] & wanted:
            return address
    return None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 600), st.sampled_from("kl"), st.sets(st.integers(1, 3))),
        max_size=40,
    ),
    st.integers(0, 600),
    st.integers(0, 600),
    st.booleans(),
    st.sets(st.integers(1, 3)),
)
def test_key_index_finds_what_a_full_scan_finds(
    entries: list[tuple[int, str, set[int]]],
    low: int,
    span: int,
    avoid: bool,
    wanted: set[int],
) -> None:
    index = KeyIndex()
    keys: dict[int, str] = {}
    ports: dict[int, set[int]] = {}
    for address, key, in_use in entries:
        if address in keys:  # the address forgets its old key (and ports) first
            index.remove_key(4, address, keys[address], ports[address])
        index.add_key(4, address, key, sorted(in_use))
        keys[address], ports[address] = key, set(in_use)
    twin = index.clone()
    # a change on the twin leaves the original's answers alone
    for address in list(keys)[:3]:
        twin.remove_key(4, address, keys[address], ports[address])
    high = low + span
    assert index.first_keyless(4, low, high, avoid) == _plain_first(
        keys, ports, low, high, avoid, None, wanted
    )
    assert index.first_with_key(4, low, high, avoid, "k", sorted(wanted)) == _plain_first(
        keys, ports, low, high, avoid, "k", wanted
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.sampled_from("abcd"), st.integers(0, 9)),
            st.tuples(st.just("drop"), st.sampled_from("abcd"), st.just(0)),
            st.tuples(st.just("snapshot"), st.just(""), st.just(0)),
        ),
        max_size=40,
    )
)
def test_a_table_restored_from_its_undo_log_is_the_table_at_the_snapshot(
    edits: list[tuple[str, str, int]],
) -> None:
    """Snapshots taken at random points of a table's changes, restored at the end: each holds
    what the table held then (and restoring changed neither the table nor the others)."""
    table: CowTable[str, list[int]] = CowTable(list, list.copy)
    undo = UndoLog([table])
    snapshots: list[tuple[object, int, dict[str, list[int]]]] = []
    owners = []
    for action, key, value in edits:
        if action == "append":
            table.mutable(key).append(value)
        elif action == "drop":
            table.drop(key)
        else:
            owner = KeyIndex()  # any object with a weak reference stands for the snapshot
            owners.append(owner)
            start = undo.start(owner, lambda _: None)
            snapshots.append((owner, start, {k: list(v) for k, v in table.items()}))
    now = {k: list(v) for k, v in table.items()}
    for owner, start, expected in snapshots:
        (restored,) = undo.restore(owner, start)
        assert {k: list(v) for k, v in restored.items()} == expected
        restored.mutable("a").append(99)  # its own containers now: the table is not touched
    assert {k: list(v) for k, v in table.items()} == now
    assert table._undo is None and undo.entries == []
