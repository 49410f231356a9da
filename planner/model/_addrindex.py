"""The allocator's data structures: no MetalLB rule lives here, only how addresses are indexed.

* `IntervalSet`: disjoint sorted integer intervals with O(log n) next-free;
* `CowTable`: a dict of mutable containers that clones share until either side changes one;
* `UndoLog`: what a set of tables changed since a snapshot, so a snapshot costs nothing until
  it is read (the allocator's lazy clone);
* `KeyIndex`: which addresses remember an allocation key (per family, per key, per key and
  port), so the allocator finds the first free or shareable address in a few steps.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")

# What an address index entry remembers: any hashable key (the allocator's sharing/backend
# key) and any hashable port; the index never looks inside them.
_Key = Hashable
_Port = Hashable


class IntervalSet:
    """Disjoint sorted integer intervals: which addresses hold a key, with O(log n) next-free."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def copy(self) -> IntervalSet:
        """An independent copy."""
        twin = IntervalSet()
        twin.starts = list(self.starts)
        twin.ends = list(self.ends)
        return twin

    def _index(self, x: int) -> int:
        return bisect.bisect_right(self.starts, x) - 1

    def __contains__(self, x: int) -> bool:
        i = self._index(x)
        return i >= 0 and self.ends[i] >= x

    def __bool__(self) -> bool:
        return bool(self.starts)

    def next_absent(self, x: int) -> int:
        """The smallest value >= x that is not in the set."""
        i = self._index(x)
        return self.ends[i] + 1 if i >= 0 and self.ends[i] >= x else x

    def add(self, x: int) -> None:
        """Insert x, merging with neighbouring intervals."""
        i = self._index(x)
        if i >= 0 and self.ends[i] >= x:
            return
        joins_left = i >= 0 and self.ends[i] == x - 1
        joins_right = i + 1 < len(self.starts) and self.starts[i + 1] == x + 1
        if joins_left and joins_right:
            self.ends[i] = self.ends.pop(i + 1)
            del self.starts[i + 1]
        elif joins_left:
            self.ends[i] = x
        elif joins_right:
            self.starts[i + 1] = x
        else:
            self.starts.insert(i + 1, x)
            self.ends.insert(i + 1, x)

    def remove(self, x: int) -> None:
        """Delete x, splitting its interval."""
        i = self._index(x)
        if i < 0 or self.ends[i] < x:
            return
        start, end = self.starts[i], self.ends[i]
        if start == end:
            del self.starts[i], self.ends[i]
        elif x == start:
            self.starts[i] = x + 1
        elif x == end:
            self.ends[i] = x - 1
        else:
            self.ends[i] = x - 1
            self.starts.insert(i + 1, x + 1)
            self.ends.insert(i + 1, end)


class CowTable(dict[_K, _V], Generic[_K, _V]):
    """A dict of mutable containers, shared with its clones until either side changes one.

    Read it as a dict (reads stay C-speed: this is the allocator's hot path); change an entry's
    container only through `mutable`, remove one only through `drop`.
    """

    def __init__(
        self,
        new: Callable[[], _V],
        dup: Callable[[_V], _V],
        items: Iterable[tuple[_K, _V]] = (),
    ) -> None:
        super().__init__(items)
        self._new = new
        self._dup = dup
        # The keys whose container this table created or copied since the last clone: the only
        # ones it may change in place (the others may be shared with a clone).
        self._owned: set[_K] = set(self)
        # Where its changes are recorded while a snapshot of it is pending (see UndoLog).
        self._undo: UndoLog | None = None

    def mutable(self, key: _K) -> _V:
        """The container at `key`, safe to change in place: created when missing, copied first
        when it may be shared with a clone."""
        current = self.get(key)
        if current is not None and key in self._owned:
            return current
        # Assigning over an existing key keeps its place, so the table's order does not change.
        mine = self._new() if current is None else self._dup(current)
        if self._undo is not None:
            self._undo.record(self, key, current)
        self[key] = mine
        self._owned.add(key)
        return mine

    def drop(self, key: _K) -> None:
        """Remove the entry at `key` (dropping a shared container changes no one else's)."""
        old = self.pop(key, None)
        self._owned.discard(key)
        if old is not None and self._undo is not None:
            self._undo.record(self, key, old)

    def clone(self) -> CowTable[_K, _V]:
        """A twin sharing every container with this table: from now on neither owns any."""
        # Built by hand: the constructor would compute an ownership set only to drop it.
        twin: CowTable[_K, _V] = CowTable.__new__(CowTable)
        twin.update(self)
        twin._new, twin._dup, twin._owned, twin._undo = self._new, self._dup, set(), None
        self._owned = set()
        return twin

    def disown(self) -> None:
        """Own no container any more (a snapshot shares them all from now on)."""
        self._owned = set()


class UndoLog:
    """The changes a group of tables made since snapshots of them that are still pending, so a
    snapshot is taken in O(1) and rebuilt (`restore`) only when it is read.

    A pending snapshot shares every container of the tables (`CowTable.disown`): a table that
    changes an entry replaces it (`mutable`, `drop`) and records the old container here, which
    is never changed in place again. `restore` copies a table as it is now and puts back, newest
    first, every container recorded since the snapshot: the table as it was (its entries; the
    order of its keys is not kept, and nothing reads it). Recording stops once no snapshot is
    pending; beyond `limit` records, every pending snapshot is rebuilt at once (`flush`), so
    the log never holds much more than the tables' worth of old containers.

    No reference cycle: the log holds its tables and snapshots weakly (a snapshot holds the
    tables it shares) and names the tables of its records by id, so a dropped allocator or
    snapshot is freed at once, not by the GC.
    """

    # Records kept at least, whatever the tables' size.
    MIN_LIMIT = 1024

    def __init__(
        self, tables: Sequence[CowTable[Any, Any]], plain: Sequence[dict[Any, Any]] = ()
    ) -> None:
        self.tables = tuple(weakref.ref(table) for table in tables)
        # Plain dicts whose owner records each entry it changes itself (see `active`); held
        # strongly (a dict takes no weak reference), which makes no cycle: they never hold the log.
        self.plain = tuple(plain)
        self.active = False  # some snapshot is pending: changes must be recorded
        self.limit = self.MIN_LIMIT
        # (id of the table, key, old container): by id, for a table holds the log (_undo), and
        # the table itself here would make a cycle only the GC frees (the state explorer runs
        # with it paused). Each table recorded is alive while a snapshot is pending (it holds it).
        self.entries: list[tuple[int, Any, Any]] = []
        # The snapshots still pending, each with what rebuilds it (called with the snapshot).
        self.pending: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = (
            weakref.WeakKeyDictionary()
        )

    def _live_tables(self) -> list[CowTable[Any, Any]]:
        # Alive while a snapshot is pending: the snapshot holds them.
        return [table for ref in self.tables if (table := ref()) is not None]

    def start(self, owner: Any, rebuild: Callable[[Any], None]) -> int:
        """A snapshot `owner` is pending from now (`rebuild(owner)` when flushed); the
        position its restore starts from."""
        tables = self._live_tables()
        for table in tables:
            table._undo = self
            table.disown()
        # Rebuilding a snapshot copies the tables: after as many records as they hold entries,
        # rebuilding every pending one costs no more than the records did.
        self.limit = max(self.MIN_LIMIT, sum(map(len, tables)) + sum(map(len, self.plain)))
        self.pending[owner] = rebuild
        self.active = True
        return len(self.entries)

    def record(self, table: dict[Any, Any], key: Any, old: Any) -> None:
        """`table` replaces or drops the value at `key` (old None: there was none)."""
        if not self.pending:
            self.stop()  # every snapshot was read or dropped: nobody needs the old containers
            return
        self.entries.append((id(table), key, old))
        if len(self.entries) > self.limit:
            self.flush()

    def restore(self, owner: Any, start: int) -> list[dict[Any, Any]]:
        """Copies of the tables, then of the plain dicts, as they were when `owner`'s snapshot
        began at `start` (then it is no longer pending)."""
        tables: list[dict[Any, Any]] = [*self._live_tables(), *self.plain]
        copies = {
            id(table): table.clone() if isinstance(table, CowTable) else table.copy()
            for table in tables
        }
        for table_id, key, old in reversed(self.entries[start:]):
            copy = copies[table_id]
            if old is None:
                dict.pop(copy, key, None)
            else:
                dict.__setitem__(copy, key, old)
        self.pending.pop(owner, None)
        if not self.pending:
            self.stop()
        return [copies[id(table)] for table in tables]

    def flush(self) -> None:
        """Rebuild every pending snapshot now (the log has grown past `limit`)."""
        for owner, rebuild in list(self.pending.items()):
            rebuild(owner)
        self.stop()

    def stop(self) -> None:
        """No snapshot pending: forget the records, and let the tables change unrecorded."""
        self.entries = []
        self.pending.clear()
        self.active = False
        for table in self._live_tables():
            if table._undo is self:
                table._undo = None


def _buggy(version: int, address: int) -> bool:
    """An IPv4 address ending in .0 or .255 (as planner.model.pools.is_buggy_ip)."""
    return version == 4 and address & 0xFF in (0, 255)


def compress(address: int) -> int:
    """Index of a non-buggy IPv4 address among non-buggy addresses (254 per /24)."""
    return (address >> 8) * 254 + (address & 0xFF) - 1


def decompress(index: int) -> int:
    """The non-buggy IPv4 address at this index (the inverse of `compress`)."""
    return (index // 254) << 8 | (index % 254 + 1)


def next_unbuggy(address: int) -> int:
    """The first IPv4 address at or after a .0/.255 one that ends in neither."""
    return address + 1 if address & 0xFF == 0 else address + 2


class KeyIndex:
    """Which addresses remember an allocation key: by family, by key, and by key and port in use.

    The allocator tells it every key an address starts or stops remembering and every port that
    appears on or leaves a keyed address; it answers "first address without a key" and "first
    address with this key and none of these ports" in a few bisections.
    """

    def __init__(self) -> None:
        # Addresses that remember a key, by family; "4-nobuggy" indexes IPv4 addresses without
        # the .0/.255 ones (see compress) so avoid-buggy pools skip whole runs in one step.
        self._keyed: CowTable[int | str, IntervalSet] = CowTable(
            IntervalSet,
            IntervalSet.copy,
            ((4, IntervalSet()), (6, IntervalSet()), ("4-nobuggy", IntervalSet())),
        )
        # The addresses remembering each key (sorted, per family), and those of them with a
        # given port in use (so clashing runs are skipped in one step).
        self._key_ips: CowTable[tuple[_Key, int], list[int]] = CowTable(list, list.copy)
        self._key_port_ips: CowTable[tuple[_Key, _Port, int], IntervalSet] = CowTable(
            IntervalSet, IntervalSet.copy
        )

    def clone(self) -> KeyIndex:
        """An independent copy; the two share containers until either changes one."""
        twin = KeyIndex.__new__(KeyIndex)
        twin._keyed = self._keyed.clone()
        twin._key_ips = self._key_ips.clone()
        twin._key_port_ips = self._key_port_ips.clone()
        return twin

    def tables(self) -> tuple[CowTable[Any, Any], ...]:
        """Its tables, for an UndoLog (in the order `of_tables` takes them)."""
        return (self._keyed, self._key_ips, self._key_port_ips)

    @classmethod
    def of_tables(cls, tables: Sequence[CowTable[Any, Any]]) -> KeyIndex:
        """An index made of these tables (as `tables` lists them)."""
        index = cls.__new__(cls)
        index._keyed, index._key_ips, index._key_port_ips = tables
        return index

    def add_key(self, version: int, address: int, key: _Key, ports: Iterable[_Port]) -> None:
        """The address now remembers `key`, with `ports` in use on it."""
        self._keyed.mutable(version).add(address)
        if version == 4 and not _buggy(version, address):
            self._keyed.mutable("4-nobuggy").add(compress(address))
        bisect.insort(self._key_ips.mutable((key, version)), address)
        for port in ports:
            self.add_port(version, address, key, port)

    def remove_key(self, version: int, address: int, key: _Key, ports: Iterable[_Port]) -> None:
        """The address no longer remembers `key` (it had `ports` in use)."""
        self._keyed.mutable(version).remove(address)
        if version == 4 and not _buggy(version, address):
            self._keyed.mutable("4-nobuggy").remove(compress(address))
        for port in ports:
            self.remove_port(version, address, key, port)
        entry = (key, version)
        same_key = self._key_ips.mutable(entry)
        del same_key[bisect.bisect_left(same_key, address)]
        if not same_key:
            self._key_ips.drop(entry)

    def add_port(self, version: int, address: int, key: _Key, port: _Port) -> None:
        """`port` is now in use on the address, which remembers `key`."""
        entry = (key, port, version)
        index = self._key_port_ips.get(entry)
        if index is None or address not in index:
            self._key_port_ips.mutable(entry).add(address)

    def remove_port(self, version: int, address: int, key: _Key, port: _Port) -> None:
        """`port` is no longer in use on the address, which remembers `key`."""
        entry = (key, port, version)
        index = self._key_port_ips.get(entry)
        if index is not None and address in index:
            index = self._key_port_ips.mutable(entry)
            index.remove(address)
            if not index:
                self._key_port_ips.drop(entry)

    def first_keyless(self, version: int, low: int, high: int, avoid_buggy: bool) -> int | None:
        """The lowest address in [low, high] that remembers no key (and is not buggy if avoided)."""
        if avoid_buggy and version == 4:
            start = compress(low if not _buggy(4, low) else next_unbuggy(low))
            candidate = decompress(self._keyed["4-nobuggy"].next_absent(start))
        else:
            candidate = self._keyed[version].next_absent(low)
        return candidate if candidate <= high else None

    def first_with_key(
        self,
        version: int,
        low: int,
        high: int,
        avoid_buggy: bool,
        key: _Key,
        ports: Iterable[_Port],
    ) -> int | None:
        """The lowest address in [low, high] remembering `key` with none of `ports` in use."""
        same_key = self._key_ips.get((key, version), [])
        clashes = [self._key_port_ips.get((key, p, version)) for p in ports]
        in_use = [c for c in clashes if c]
        candidate = low
        while True:
            i = bisect.bisect_left(same_key, candidate)
            if i == len(same_key) or same_key[i] > high:
                return None
            candidate = same_key[i]
            if avoid_buggy and _buggy(version, candidate):
                candidate += 1
                continue
            jump = max((c.next_absent(candidate) for c in in_use if candidate in c), default=None)
            if jump is None:
                return candidate
            candidate = jump
