"""The controller's events, with texts printed only when read.

A pending member of a group of N Services sharing one IP is refused on every reprocess-all pass
with a warning naming every other holder of the IP; a simulated run logs O(N^2) such warnings,
so texts built at once cost O(N^3) memory (1.2 GB at 400 members, bench/README.md). Here an
event keeps its message's fixed head and a `HolderNames` snapshot of the IP's holders, which
shares all but its changes with the snapshot before it, and joins them only when read.

    >>> names = HolderNames.of(["ns/b", "ns/a"])
    >>> event = Event("ns/c", "Warning", "AllocationFailed", "in use by ", names)
    >>> str(event)
    'AllocationFailed: in use by ns/a,ns/b'
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, overload

from planner.objects import Manifest

# Sets a slot of an immutable instance (whose own __setattr__ refuses), as frozen dataclasses do.
_set = object.__setattr__

# A snapshot rebuilds its whole name list after this many links (or once its changes since
# the last whole list outnumber the names): reading it walks at most that far, and a chain
# stays shallow enough to pickle without deep recursion.
_MAX_LINKS = 64


class HolderNames:
    """The names of an IP's holders at one moment, printed sorted and joined with commas.

    Persistent: `then` gives the next moment's snapshot as a link holding only the names that
    came and went, so the snapshots of every moment of a run cost O(changes), not O(N) each.
    """

    __slots__ = ("_added", "_changes", "_links", "_names", "_parent", "_removed", "size")

    _parent: HolderNames | None
    _added: frozenset[str]
    _removed: frozenset[str]
    _names: tuple[str, ...] | None  # sorted, in a snapshot that holds its whole list
    _links: int
    _changes: int
    size: int

    @classmethod
    def of(cls, names: Iterable[str]) -> HolderNames:
        """A snapshot holding its whole name list."""
        snapshot = cls.__new__(cls)
        whole = tuple(sorted(names))
        snapshot._parent, snapshot._names = None, whole
        snapshot._added = snapshot._removed = frozenset()
        snapshot._links = snapshot._changes = 0
        snapshot.size = len(whole)
        return snapshot

    def then(
        self, now: Collection[str], added: Collection[str], removed: Collection[str]
    ) -> HolderNames:
        """The snapshot of `now`, which is this one with `added` come and `removed` gone."""
        if not added and not removed:
            return self
        changes = self._changes + len(added) + len(removed)
        if self._links + 1 >= _MAX_LINKS or changes >= max(len(now), _MAX_LINKS):
            return HolderNames.of(now)
        return self._link(frozenset(added), frozenset(removed), len(now), changes)

    def without(self, name: str) -> HolderNames:
        """This snapshot less one name it holds (the Service asking, in its own refusal)."""
        return self._link(frozenset(), frozenset((name,)), self.size - 1, self._changes + 1)

    def _link(
        self, added: frozenset[str], removed: frozenset[str], size: int, changes: int
    ) -> HolderNames:
        snapshot = HolderNames.__new__(HolderNames)
        snapshot._parent, snapshot._names = self, None
        snapshot._added, snapshot._removed = added, removed
        snapshot._links, snapshot._changes = self._links + 1, changes
        snapshot.size = size
        return snapshot

    def names(self) -> list[str]:
        """The names, sorted (built anew on each call)."""
        links: list[HolderNames] = []
        node = self
        while node._names is None:
            links.append(node)
            assert node._parent is not None
            node = node._parent
        if not links:
            return list(node._names)
        held = set(node._names)
        for link in reversed(links):
            held -= link._removed
            held |= link._added
        return sorted(held)

    def __str__(self) -> str:
        return ",".join(self.names())

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"HolderNames({self.names()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (HolderNames.of, (self.names(),))


class Event:
    """A Kubernetes event the controller raises on a Service (type "Normal" or "Warning").

    `names`, when given, ends the message (an IP's holders): joined only when it is read."""

    __slots__ = ("head", "names", "reason", "svc_key", "type")

    svc_key: str
    type: str
    reason: str
    head: str
    names: HolderNames | None

    def __init__(
        self, svc_key: str, type: str, reason: str, message: str, names: HolderNames | None = None
    ) -> None:
        _set(self, "svc_key", svc_key)
        _set(self, "type", type)
        _set(self, "reason", reason)
        _set(self, "head", message)
        _set(self, "names", names)

    @property
    def message(self) -> str:
        """The whole message (built on each read when it names holders)."""
        return self.head if self.names is None else self.head + str(self.names)

    def _key(self) -> tuple[str, str, str, str]:
        return (self.svc_key, self.type, self.reason, self.message)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        if (self.svc_key, self.type, self.reason) != (other.svc_key, other.type, other.reason):
            return False
        if self.head == other.head and self.names is other.names:
            return True  # the same snapshot: no need to print it
        return self.message == other.message

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable: cannot set {name}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Event, (self.svc_key, self.type, self.reason, self.head, self.names))

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"Event(svc_key={self.svc_key!r}, type={self.type!r}, reason={self.reason!r}, "
            f"message={self.message!r})"
        )


class Refusals:
    """One reprocess-all pass's refusals of pending Services, all for one IP at one allocator
    version: per Service the head of its Warning's message, and the IP's holders it names.

    Kept as one record, not one event, result and memo per Service (a group of N changing its
    key is refused N^2/2 times per schedule); each Service's are made only when read."""

    __slots__ = ("heads", "names", "reason", "state", "version")

    heads: dict[str, str]
    names: HolderNames | None
    reason: str
    state: str
    version: int

    def __init__(
        self,
        heads: dict[str, str],
        names: HolderNames | None,
        reason: str,
        state: str,
        version: int,
    ) -> None:
        _set(self, "heads", heads)
        _set(self, "names", names)
        _set(self, "reason", reason)
        _set(self, "state", state)
        _set(self, "version", version)

    def event(self, svc_key: str) -> Event:
        """The Service's Warning event."""
        return Event(svc_key, "Warning", self.reason, self.heads[svc_key], self.names)

    def result(self, svc_key: str) -> Result:
        """The Service's answer: the state and its one Warning, no write."""
        return Result.warning(self.state, self.event(svc_key))

    def events(self) -> Iterator[Event]:
        """Every Service's event, in the pass's order."""
        return map(self.event, self.heads)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Refusals is immutable: cannot set {name}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Refusals, (self.heads, self.names, self.reason, self.state, self.version))


def _event_of(entry: Event | Refusals, svc_key: str) -> Event:
    """A Service's event from an entry of its warnings (an event, or a pass's refusals)."""
    return entry if type(entry) is Event else entry.event(svc_key)  # type: ignore[union-attr]


class EventTexts(Sequence[str]):
    """Events as their "Reason: message" texts, each printed when it is read (a caller asking
    why a Service is pending reads the first few of its many warnings). With `svc_key`, an
    entry may be a pass's `Refusals`, standing for that Service's event."""

    __slots__ = ("_events", "_svc_key")

    def __init__(self, events: Sequence[Event | Refusals], svc_key: str = "") -> None:
        self._events = events
        self._svc_key = svc_key

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> EventTexts: ...

    def __getitem__(self, index: int | slice) -> str | EventTexts:
        if isinstance(index, slice):
            return EventTexts(self._events[index], self._svc_key)
        return str(_event_of(self._events[index], self._svc_key))

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[str]:
        svc_key = self._svc_key
        return (str(_event_of(entry, svc_key)) for entry in self._events)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventTexts):
            return list(self) == list(other)
        if isinstance(other, list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a sequence that compares to lists, as a list

    def __repr__(self) -> str:
        return repr(list(self))


class Result:
    """The outcome of one `set_balancer` call (see the design README): the state, the Service as
    the controller wrote it (None: no write), its warning texts ("Reason: message"), the other
    members a group transition wrote, and every event of every member touched.

    `Result.of` keeps the warnings as events, printed on each read of `warnings` (a new list each
    time); a list given to the constructor is kept and handed out as it is."""

    __slots__ = ("_warnings", "events", "group_writes", "service", "state")

    state: str
    service: Manifest | None
    _warnings: list[str] | tuple[Event, ...]
    group_writes: dict[str, Manifest]
    events: tuple[Event, ...]

    def __init__(
        self,
        state: str,
        service: Manifest | None = None,
        warnings: list[str] | None = None,
        group_writes: dict[str, Manifest] | None = None,
        events: tuple[Event, ...] = (),
    ) -> None:
        self._set(state, service, [] if warnings is None else warnings, group_writes or {}, events)

    @classmethod
    def of(
        cls,
        state: str,
        service: Manifest | None,
        events: tuple[Event, ...],
        svc_key: str | None = None,
        group_writes: dict[str, Manifest] | None = None,
    ) -> Result:
        """A result whose warnings are the Warning events (of `svc_key` only, when given)."""
        warned = tuple(
            e for e in events if e.type == "Warning" and (svc_key is None or e.svc_key == svc_key)
        )
        result = cls.__new__(cls)
        result._set(state, service, warned, group_writes or {}, events)
        return result

    @classmethod
    def warning(cls, state: str, event: Event) -> Result:
        """Result.of(state, None, (event,)) for one Warning event, made directly (a pending
        member of a large group is answered so on every pass)."""
        events = (event,)
        result = cls.__new__(cls)
        result._set(state, None, events, {}, events)
        return result

    def _set(
        self,
        state: str,
        service: Manifest | None,
        warnings: list[str] | tuple[Event, ...],
        group_writes: dict[str, Manifest],
        events: tuple[Event, ...],
    ) -> None:
        _set(self, "state", state)
        _set(self, "service", service)
        _set(self, "_warnings", warnings)
        _set(self, "group_writes", group_writes)
        _set(self, "events", events)

    @property
    def warnings(self) -> list[str]:
        """The handled Service's warning texts, in order."""
        if isinstance(self._warnings, list):
            return self._warnings
        return [str(e) for e in self._warnings]

    def copied(self) -> Result:
        """The same answer in containers of its own (callers may extend its lists and dicts);
        warnings kept as events stay shared (they are printed anew on each read)."""
        warnings = self._warnings
        copy = Result.__new__(Result)
        copy._set(
            self.state,
            self.service,
            list(warnings) if isinstance(warnings, list) else warnings,
            dict(self.group_writes),
            self.events,
        )
        return copy

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        if (self.state, self.service, self.group_writes, self.events) != (
            other.state,
            other.service,
            other.group_writes,
            other.events,
        ):
            return False
        if self._warnings is other._warnings:
            return True
        return self.warnings == other.warnings

    __hash__ = None  # type: ignore[assignment]  # holds lists and dicts, as the dataclass did

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Result is immutable: cannot set {name}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Result, (self.state, self.service, self.warnings, self.group_writes, self.events))

    def __repr__(self) -> str:
        return (
            f"Result(state={self.state!r}, service={self.service!r}, warnings={self.warnings!r}, "
            f"group_writes={self.group_writes!r}, events={self.events!r})"
        )


class EventLog(Sequence[tuple[int, Event]]):
    """A simulated cluster's log of (step, event), in order; a pass's `Refusals` is one entry
    standing for its events (expanded only when the log is read)."""

    __slots__ = ("_by_service", "_entries", "_size")

    def __init__(self, entries: Iterable[tuple[int, Event | Refusals]] = ()) -> None:
        self._entries: list[tuple[int, Event | Refusals]] = []
        self._size = 0
        # Per Service its Warning entries, indexed when first read up to the entry count held
        # (see warnings_of): logging stays O(1) per entry, a pass's Refusals included.
        self._by_service: tuple[int, dict[str, list[Event | Refusals]]] | None = None
        for step, item in entries:
            if type(item) is Event:
                self.append((step, item))
            else:
                self.add_refusals(step, item)  # type: ignore[arg-type]

    def append(self, logged: tuple[int, Event]) -> None:
        self._entries.append(logged)
        self._size += 1

    def extend(self, logged: Sequence[tuple[int, Event]]) -> None:
        self._entries.extend(logged)
        self._size += len(logged)

    def add_refusals(self, step: int, refusals: Refusals) -> None:
        """Log every event of a pass's refusals at this step."""
        self._entries.append((step, refusals))
        self._size += len(refusals.heads)

    def copy(self) -> EventLog:
        """An independent log sharing the (immutable) entries: O(entries), not O(events)."""
        twin = EventLog.__new__(EventLog)
        twin._entries = list(self._entries)
        twin._size = self._size
        twin._by_service = None
        return twin

    def warnings_of(self, svc_key: str) -> list[Event | Refusals]:
        """The Service's Warning events in order, each an event or a pass's Refusals naming it.

        Indexed for every Service when read, from the entries logged since the last read: a
        pending member of a large group is refused on every pass, and indexing it there cost
        one append per member per pass (most runs' warnings are never read)."""
        indexed, index = self._by_service or (0, {})
        entries = self._entries
        for _, item in itertools.islice(entries, indexed, None):
            if type(item) is Event:
                if item.type == "Warning":
                    index.setdefault(item.svc_key, []).append(item)
            else:
                for svc_key_named in item.heads:  # type: ignore[union-attr]
                    index.setdefault(svc_key_named, []).append(item)
        self._by_service = (len(entries), index)
        return list(index.get(svc_key, ()))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[tuple[int, Event]]:
        for step, item in self._entries:
            if type(item) is Event:
                yield step, item
            else:
                for event in item.events():  # type: ignore[union-attr]
                    yield step, event

    @overload
    def __getitem__(self, index: int) -> tuple[int, Event]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, Event]]: ...

    def __getitem__(self, index: int | slice) -> tuple[int, Event] | list[tuple[int, Event]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._size)
            if step == 1 and stop == self._size:
                return self._tail(self._size - start) if start < stop else []
            return list(self)[index]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError("event log index out of range")
        return self._tail(self._size - index)[0]

    def _tail(self, count: int) -> list[tuple[int, Event]]:
        """The last `count` events, expanding only the entries they are in."""
        taken: list[tuple[int, Event | Refusals]] = []
        held = 0
        for entry in reversed(self._entries):
            if held >= count:
                break
            taken.append(entry)
            item = entry[1]
            held += len(item.heads) if isinstance(item, Refusals) else 1
        tail = list(EventLog(reversed(taken)))
        return tail[len(tail) - count :]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventLog):
            return self._size == other._size and list(self) == list(other)
        if isinstance(other, list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a sequence that compares to lists, as a list

    def __repr__(self) -> str:
        return f"EventLog({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (EventLog, (list(self._entries),))


class SameAnswers:
    """Services that gave one answer (a pass's quiet ones), as one entry of PassResults."""

    __slots__ = ("keys", "result")

    def __init__(self, keys: Sequence[str], result: Result) -> None:
        self.keys = keys
        self.result = result


class PassResults(Sequence[tuple[str, Result]]):
    """A reprocess-all pass's (Service, answer) pairs, in the pass's order; a `Refusals` or
    `SameAnswers` entry stands for its Services' answers (made only when read)."""

    __slots__ = ("_entries", "_size")

    def __init__(self, entries: Sequence[tuple[str, Result] | Refusals | SameAnswers]) -> None:
        self._entries = tuple(entries)
        self._size = -1  # counted when asked: a pass must not walk its quiet Services' answers

    def __len__(self) -> int:
        if self._size < 0:
            self._size = sum(map(_answer_count, self._entries))
        return self._size

    def __iter__(self) -> Iterator[tuple[str, Result]]:
        for entry in self._entries:
            if isinstance(entry, Refusals):
                for svc_key in entry.heads:
                    yield svc_key, entry.result(svc_key)
            elif isinstance(entry, SameAnswers):
                yield from zip(entry.keys, itertools.repeat(entry.result))
            else:
                yield entry

    @overload
    def __getitem__(self, index: int) -> tuple[str, Result]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[str, Result], ...]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[str, Result] | tuple[tuple[str, Result], ...]:
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PassResults | list | tuple):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares to tuples by value

    def __repr__(self) -> str:
        return f"PassResults({list(self)!r})"


def _answer_count(entry: tuple[str, Result] | Refusals | SameAnswers) -> int:
    """How many answers an entry of PassResults stands for."""
    if isinstance(entry, Refusals):
        return len(entry.heads)
    return len(entry.keys) if isinstance(entry, SameAnswers) else 1
