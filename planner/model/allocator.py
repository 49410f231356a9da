"""MetalLB's IP allocator, rule for rule (metallb/metallb `internal/allocator/allocator.go`).

Where MetalLB iterates a Go map (the all-pools pass, the pool that owns an IP when pools overlap,
pinned pools of equal priority), its pick is not deterministic. This model makes that explicit:

* simulation: every such iteration visits pools in the order `pool_order(names)` returns
  (default: configuration order; `shuffled_pool_order(seed)` imitates Go's random order);
* enumeration: `possible_allocations(request)` (and friends) return the SET of every outcome any
  iteration order could give, without changing state. The simulated pick is always a member.

    >>> a = Allocator([Pool("a", ["10.0.0.0/31"]), Pool("b", ["10.0.1.0/31"])])
    >>> sorted(a.possible_allocations(AllocationRequest("ns/s", {}, "ipv4")))
    [('10.0.0.0',), ('10.0.1.0',)]
    >>> a.allocate("ns/s", {}, "ipv4", [], "", "")
    ['10.0.0.0']
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Hashable, Iterable, KeysView, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from planner.model._addrindex import CowTable, KeyIndex, UndoLog
from planner.model.events import HolderNames
from planner.model.pools import (
    NAMESPACE_NAME_LABEL,
    IPAddress,
    IPNetwork,
    Pool,
    go_quote,
    is_buggy_ip,
    parse_ip,
)

if TYPE_CHECKING:
    from planner.model.selectors import LabelSelector

__all__ = [
    "AllocationError",
    "AllocationRequest",
    "Allocator",
    "AllocatorState",
    "ErrorKind",
    "Outcome",
    "Pool",
    "PoolOrder",
    "Port",
    "shuffled_pool_order",
]

FAMILIES = ("ipv4", "ipv6", "dual")
# Each names the MetalLB release whose allocator it reproduces (docs/model.md, "Releases"):
# "0.15": v0.15.0-v0.15.3: one best pool per pass, PreferDualStack, a single-stack Service
#   always gets one IP of its family, a pool with a priority-only serviceAllocation is pinned
#   for every Service.
# "0.14": v0.14.9: the same best-pool allocator and PreferDualStack support (commit 5f648117d),
#   without the single-stack alignment and the match-everything serviceAllocation.
# "0.14.8": v0.14.0-v0.14.8: pools tried one by one (first success wins), dual stack needs both
#   families; kept to tell which predictions v0.14.9 changed.
VERSIONS = ("0.14.8", "0.14", "0.15")
POOL_BY_POOL = "0.14.8"
POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")

# Given pool names in configuration order, the order one Go map iteration visits them.
PoolOrder = Callable[[tuple[str, ...]], Sequence[str]]


def shuffled_pool_order(seed: int) -> PoolOrder:
    """A pool order that shuffles every iteration with a seeded RNG, like Go's map order."""
    import random  # with bisect and _sha512 ~1.4 ms at start-up; a diff that never shuffles

    rng = random.Random(seed)

    def order(names: tuple[str, ...]) -> list[str]:
        shuffled = list(names)
        rng.shuffle(shuffled)
        return shuffled

    return order


@dataclass(frozen=True)
class Port:
    """One (protocol, port) of a service; protocol as Kubernetes writes it ("TCP", "UDP")."""

    proto: str
    port: int

    def __str__(self) -> str:
        return f"{self.proto}/{self.port}"


class ErrorKind(StrEnum):
    """What went wrong, one kind per MetalLB error."""

    NOT_ALLOWED = "not_allowed"  # "%q is not allowed in config": the IPs are in no pool
    POOL_INCOMPATIBLE = "pool_incompatible"  # the owning pool's serviceAllocation excludes svc
    TOO_MANY_IPS = "too_many_ips"
    SAME_FAMILY = "same_family"
    SHARING_KEY_MISMATCH = "sharing_key_mismatch"  # others hold the IP under another key
    PORT_IN_USE = "port_in_use"
    NO_AVAILABLE_IPS = "no_available_ips"
    UNKNOWN_POOL = "unknown_pool"
    WRONG_FAMILY = "wrong_family"
    INVALID_IP = "invalid_ip"


class AllocationError(Exception):
    """An allocator call was refused; `kind` says which rule, the message is MetalLB's.

    A sharing-key refusal names the IP and its other holders (`ip`, `names`: the message is
    `head` followed by them), so a caller may render it again for other holders (Controller)."""

    def __init__(
        self, kind: ErrorKind, message: str, *, ip: str = "", names: HolderNames | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        # With `names`, the message is `head` followed by them, joined only when read: a
        # refusal of a large group's pending member names every other member.
        self.head = message
        self.ip = ip
        self.names = names

    @property
    def others(self) -> str:
        """The other holders the message ends with ("" when it names none)."""
        return "" if self.names is None else str(self.names)

    @property
    def message(self) -> str:
        return self.head + self.others

    def __str__(self) -> str:
        return self.message


class Key(NamedTuple):
    """The allocation key an IP remembers: sharing key and backend key."""

    sharing: str
    backend: str


@dataclass(frozen=True)
class _Alloc:
    pool: str
    ips: tuple[IPAddress, ...]
    ports: tuple[Port, ...]
    key: Key


@dataclass(frozen=True)
class Outcome:
    """One possible result of a call: the IPs and recorded pool, or the error kind on failure."""

    ips: tuple[str, ...]
    pool: str | None
    error: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class AllocatorState:
    """A comparable snapshot of everything the allocator remembers (for tests and verify)."""

    allocations: tuple[tuple[str, str, tuple[str, ...], tuple[Port, ...], Key], ...]
    ip_keys: tuple[tuple[str, Key], ...]
    pools: tuple[str, ...]


@dataclass(frozen=True)
class AllocationRequest:
    """What a caller asks of the allocator, written once: the Service and its allocation inputs.

    `family` is "ipv4", "ipv6" or "dual" (Assign reads the family from its IPs instead). The
    policy is `spec.ipFamilyPolicy` of `svc` unless `ip_family_policy` is given. `pool_name` is
    the pool AllocateFromPool draws from; `ips` the addresses Assign is asked for.
    """

    svc_key: str
    svc: Mapping[str, Any] | None
    family: str = "ipv4"
    ports: Iterable[Port | tuple[str, int]] = ()
    sharing_key: str | None = ""
    backend_key: str | None = ""
    _: KW_ONLY
    ip_family_policy: str | None = None
    pool_name: str = ""
    ips: Sequence[str] = ()


@dataclass(frozen=True)
class _Request:
    """An AllocationRequest resolved: the service facts the allocator reads from the manifest."""

    svc_key: str
    namespace: str
    labels: Mapping[str, str]
    family: str
    policy: str
    primary: int  # 4 or 6: spec.ipFamilies[0] decides which family is preferred
    ports: tuple[Port, ...]
    key: Key


def _ip_list(ips: Iterable[Any]) -> str:
    """Go's %q of a []net.IP: ["1.2.3.4" "1000::"] (a missing IP prints as <nil>)."""
    return "[" + " ".join(go_quote("<nil>" if ip is None else str(ip)) for ip in ips) + "]"


class Allocator:
    """Tracks pools and which service holds which IP with which key, as MetalLB's allocator does.

    `pool_order` decides every Go-map iteration in simulation (default: configuration order).
    `namespace_labels` ({namespace: labels}) resolves pools' namespaceSelectors; see
    `set_namespace_labels`. `version` picks MetalLB's allocator: "0.15" (v0.15.3), "0.14" (v0.14.9)
    or "0.14.8".
    """

    def __init__(
        self,
        pools: Iterable[Pool] = (),
        *,
        pool_order: PoolOrder | None = None,
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
        version: str = "0.15",
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
        self._version = version
        self._pool_order = pool_order
        self._pools: dict[str, Pool] = {}
        self._namespace_labels: dict[str, dict[str, str]] = {}
        self._pool_namespaces: dict[str, frozenset[str]] = {}
        self._allocated: dict[str, _Alloc] = {}
        # Each allocation's place in the walk (its order in _allocated: larger is later), so a
        # pending clone can put back the order it had (see clone).
        self._walk: dict[str, int] = {}
        self._walk_next = 0
        # Counts the changes to what the allocator remembers (allocations, pools, labels): an
        # unchanged version means an unchanged state, so a caller may reuse what it derived.
        self.version = 0
        # Counts the changes to the configuration alone (pools, namespace labels).
        self.config_version = 0
        # Counts `reassigned` calls (which change only the walk order, not the version).
        self.reassigns = 0
        # Counts the changes to the walk order of allocations (a `reassigned` that moved one
        # counts; one of the Service already last does not): unchanged means the same walk.
        self.walk_changes = 0
        self._key_for_ip: dict[IPAddress, Key] = {}
        # Per-IP tables whose inner containers clone() shares until either side changes one
        # (copy-on-write: change them only through `mutable` and `drop`).
        self._ports_in_use: CowTable[IPAddress, dict[Port, str]] = CowTable(dict, dict.copy)
        self._services_on_ip: CowTable[IPAddress, dict[str, None]] = CowTable(dict, dict.copy)
        # Which addresses remember which key: the index behind the first-fit search.
        self._index = KeyIndex()
        # Per IP, its holders' names as a sharing-key refusal lists them, with the version they
        # were read at and as a set (to find what changed at the next version): every pending
        # holder of a shared IP reads them on every pass (see _holder_names).
        self._holder_texts: dict[IPAddress, tuple[int, HolderNames, frozenset[str]]] = {}
        # What the tables changed while a clone of this allocator is pending (see clone).
        self._undo: UndoLog | None = None
        # poolFor's answers for the pools in force, by IPs, while no pool order draws anew
        # (every handling asks it once or twice for the same few IPs; see _pool_for).
        self._owners: dict[tuple[IPAddress, ...], str | None] = {}
        # While a caller tracks them (track_moves): the Services whose `holding` an allocation
        # change may have changed, since the caller last took them (see moves).
        self._moved: list[str] | None = None
        # Alike, what sharing_reads reads that changed: an IP whose remembered key changed or
        # which became held or free, an (IP, port) whose holder changed (see touches).
        self._touched: list[Hashable] | None = None
        if namespace_labels:
            self._namespace_labels = _with_name_labels(namespace_labels)
        self.set_pools(pools)

    # --- configuration ------------------------------------------------------------------------

    def set_pools(self, pools: Iterable[Pool]) -> list[str]:
        """Replace the pools (SetPools): re-map each allocation to the pool that now owns its IPs.

        Since MetalLB v0.14 (PR #2097) a new configuration is always accepted: allocations whose
        IPs no pool owns any more are dropped. Returns those services' keys, sorted.
        """
        self.version += 1
        self.config_version += 1
        new_pools: dict[str, Pool] = {}
        for pool in pools:
            if pool.name in new_pools:
                raise ValueError(f"duplicate definition of pool {go_quote(pool.name)}")
            new_pools[pool.name] = pool
        self._pools = new_pools
        # A new dict, not cleared: clones made before share the old one, for the old pools.
        self._owners = {}
        self._resolve_namespaces()
        dropped: list[str] = []
        # MetalLB walks its allocations in Go map order; only which key a shared IP remembers
        # could depend on it, and only when its holders' keys differ. We walk insertion order.
        for svc_key, alloc in list(self._allocated.items()):
            owner = self._pool_for(alloc.ips)
            if owner is None:
                self.unassign(svc_key)
                dropped.append(svc_key)
            elif owner != alloc.pool:
                # MetalLB unassigns and re-assigns, so the IP now remembers this service's key.
                self.unassign(svc_key)
                self._record(svc_key, _Alloc(owner, alloc.ips, alloc.ports, alloc.key))
        return sorted(dropped)

    def orphaned_by(self, pools: Iterable[Pool]) -> list[str]:
        """Services whose IPs no pool of `pools` would own: `set_pools(pools)` would drop them."""
        probe = {p.name: p for p in pools}
        return sorted(
            svc
            for svc, alloc in self._allocated.items()
            if not any(_owns(p, alloc.ips) for p in probe.values())
        )

    def set_namespace_labels(self, namespace_labels: Mapping[str, Mapping[str, str]]) -> None:
        """Tell the model every namespace and its labels (for pools' namespaceSelectors).

        MetalLB resolves namespaceSelectors against the cluster's namespaces when it reads the
        configuration; a namespace the model was not told about matches no selector. Each
        namespace also carries Kubernetes' automatic `kubernetes.io/metadata.name` label.
        """
        self.version += 1
        self.config_version += 1
        self._namespace_labels = _with_name_labels(namespace_labels)
        self._resolve_namespaces()

    def _resolve_namespaces(self) -> None:
        self._pool_namespaces = {
            name: frozenset(pool.namespaces) | self._selected_namespaces(pool.namespace_selectors)
            for name, pool in self._pools.items()
            if pool.has_service_allocation
        }

    def _selected_namespaces(self, selectors: tuple[LabelSelector, ...]) -> frozenset[str]:
        return frozenset(
            ns
            for ns, labels in self._namespace_labels.items()
            if any(s.matches(labels) for s in selectors)
        )

    @property
    def pools(self) -> dict[str, Pool]:
        """The configured pools by name, in configuration order."""
        return dict(self._pools)

    # --- queries ------------------------------------------------------------------------------

    def pool(self, svc_key: str) -> str | None:
        """The pool recorded for the service's allocation, or None."""
        alloc = self._allocated.get(svc_key)
        return alloc.pool if alloc else None

    def ips(self, svc_key: str) -> list[str]:
        """The service's IPs, in the order they were assigned ([] when it holds none)."""
        alloc = self._allocated.get(svc_key)
        return [str(ip) for ip in alloc.ips] if alloc else []

    def services(self) -> list[str]:
        """Every service holding an allocation, sorted."""
        return sorted(self._allocated)

    def neighbours(self, svc_key: str) -> list[str]:
        """Every Service on the IPs the Service holds, itself included (in no order; [] when it
        holds none): whose reads a change of its allocation may change."""
        alloc = self._allocated.get(svc_key)
        if alloc is None:
            return []
        on_ip = self._services_on_ip
        return [holder for ip in alloc.ips for holder in on_ip.get(ip, ())]

    def holders(self, ip: str) -> list[str]:
        """The services holding an IP, sorted."""
        return sorted(self._services_on_ip.get(_ip(ip), {}))

    def remembered_key(self, ip: str) -> tuple[str, str] | None:
        """The (sharing key, backend key) the IP remembers, or None when it remembers none."""
        key = self._key_for_ip.get(_ip(ip))
        return (key.sharing, key.backend) if key else None

    def pool_for_ips(self, ips: Sequence[str]) -> str | None:
        """The pool that owns all the IPs (PoolForIP), in simulation order; None if none does."""
        return self._pool_for(tuple(_ip(ip) for ip in ips))

    def snapshot(self) -> AllocatorState:
        """Everything the allocator remembers, as a comparable value."""
        allocations = tuple(
            (svc, a.pool, tuple(str(ip) for ip in a.ips), a.ports, a.key)
            for svc, a in sorted(self._allocated.items())
        )
        keys = tuple(sorted((str(ip), k) for ip, k in self._key_for_ip.items()))
        return AllocatorState(allocations, keys, tuple(self._pools))

    def fingerprint(self) -> Hashable:
        """Everything a later call can read, as a hashable value: allocations, the key each IP
        remembers, the ports in use per IP (Unassign frees ports whoever holds them, so they are
        not implied by the allocations). Not the pools and labels (a state explorer never changes
        them) nor the order set_pools walks allocations (only set_pools reads it)."""
        return (frozenset(self._allocated.items()), *self.shared_fingerprint())

    def shared_fingerprint(self) -> tuple[Hashable, Hashable]:
        """The part of `fingerprint` that belongs to no one Service: the key each IP remembers
        and the ports in use per IP (a state explorer takes each Service's part on its own)."""
        return (
            frozenset(self._key_for_ip.items()),
            frozenset((ip, frozenset(ports.items())) for ip, ports in self._ports_in_use.items()),
        )

    def allocation(self, svc_key: str) -> _Alloc | None:
        """The Service's part of `fingerprint`: its allocation as a value (None without one)."""
        return self._allocated.get(svc_key)

    def allocated(self) -> KeysView[str]:
        """The Services holding an allocation (a view, in no particular order)."""
        return self._allocated.keys()

    def clone(self) -> Allocator:
        """An independent copy (same pool order function) for exploring what-ifs.

        Taken in O(1) of the per-IP and per-key tables: the copy is pending (it shares them, and
        this allocator records what it changes in them, see _addrindex.UndoLog) until it is
        first read, when it rebuilds them as they were. A group transition's saved allocator,
        read only when the transition fails, so costs nothing on success."""
        # Hand-written rather than deepcopy (the hot path of every explored schedule): pools,
        # labels, pool namespaces, allocations, keys, IPs and ports are immutable or replaced
        # whole, so only the containers this allocator mutates in place are copied. The inner
        # containers of the per-IP/per-key tables are shared until either side changes one
        # (copy-on-write, see planner.model._addrindex.CowTable).
        state = dict(self.__dict__)
        state["_pools"] = dict(self._pools)
        # Namespace labels are replaced whole (set_namespace_labels), never changed in place.
        state["_namespace_labels"] = dict(self._namespace_labels)
        state["_pool_namespaces"] = dict(self._pool_namespaces)
        # Entries of the version both share now stay true for each; later ones are each's own.
        state["_holder_texts"] = dict(self._holder_texts)
        state["_undo"] = None
        state["_moved"] = None if self._moved is None else []
        state["_touched"] = None if self._touched is None else []
        undo = self._undo
        if undo is None:
            undo = self._undo = UndoLog(self._tables(), self._plain())
        twin = _PendingClone.__new__(_PendingClone)
        start = undo.start(twin, _rebuilt)
        object.__setattr__(twin, "_pending", (undo, start, state))
        return twin

    def _tables(self) -> tuple[CowTable[Any, Any], ...]:
        """The copy-on-write tables a pending clone shares (in the order _rebuilt takes them)."""
        return (self._ports_in_use, self._services_on_ip, *self._index.tables())

    def _plain(self) -> tuple[dict[Any, Any], ...]:
        """The plain dicts a pending clone shares, each change noted (in _rebuilt's order)."""
        return (self._allocated, self._walk, self._key_for_ip)

    def _note(self, table: dict[Any, Any], key: Any, old: Any) -> None:
        """Record a change to a plain dict while a clone is pending (old None: no entry)."""
        undo = self._undo
        if undo is not None and undo.active:
            undo.record(table, key, old)

    # --- assign / unassign --------------------------------------------------------------------

    def assign(
        self,
        svc_key: str,
        svc: Mapping[str, Any] | None,
        ips: Sequence[str],
        ports: Iterable[Port | tuple[str, int]],
        sharing_key: str | None,
        backend_key: str | None,
    ) -> None:
        """Give the service exactly these IPs if MetalLB's rules allow it (Assign)."""
        request = AllocationRequest(svc_key, svc, "ipv4", ports, sharing_key, backend_key, ips=ips)
        parsed = _parse_ips(request.ips)
        self._assign(_resolve(request), parsed, self._pool_for(parsed))

    def unassign(self, svc_key: str) -> bool:
        """Release the service's IPs; True if it held any (Unassign)."""
        alloc = self._allocated.pop(svc_key, None)
        if alloc is None:
            return False
        self._note(self._allocated, svc_key, alloc)
        self._note(self._walk, svc_key, self._walk.pop(svc_key))
        self.version += 1
        self.walk_changes += 1
        if self._moved is not None:
            self._moved.append(svc_key)
        for ip in alloc.ips:
            self._release_ports(ip, alloc.ports)
            if svc_key in self._services_on_ip.get(ip, ()):
                del self._services_on_ip.mutable(ip)[svc_key]
                if not self._services_on_ip.get(ip):
                    self._touch(ip)  # free now
            if not self._services_on_ip.get(ip):
                self._services_on_ip.drop(ip)
            # MetalLB forgets the IP's key when no PORT is left on it, not when no service is.
            if not self._ports_in_use.get(ip):
                self._ports_in_use.drop(ip)
                self._forget_key(ip)
        return True

    def _release_ports(self, ip: IPAddress, ports: tuple[Port, ...]) -> None:
        """Free the ports on the IP (whoever holds them, as MetalLB's Unassign does)."""
        held = self._ports_in_use.get(ip)
        if not held or not any(port in held for port in ports):
            return  # nothing to free: leave a container shared with a clone untouched
        in_use = self._ports_in_use.mutable(ip)
        moved = self._moved
        for port in ports:
            holder = in_use.pop(port, None)
            if holder is not None:
                self._index_port(ip, port, present=False)
                if moved is not None:
                    moved.append(holder)  # Unassign frees a port whoever holds it
                    self._touch((ip, port))

    def _assign(self, request: _Request, ips: tuple[IPAddress, ...], pool: str | None) -> None:
        error = self._assign_error(request, ips, pool)
        if error:
            try:
                raise error
            finally:
                # Its traceback keeps this frame: without `error` in it, no reference cycle
                # (sampled runs raise refusals by the thousand, with the collector paused).
                del error
        assert pool is not None
        alloc = _Alloc(pool, ips, request.ports, request.key)
        if self._allocated.get(request.svc_key) == alloc and all(
            self._key_for_ip.get(ip) == alloc.key for ip in ips
        ):
            # Already exactly so (a Service handled again): unassigning and recording it again
            # would only move it last in the walk order, so the state's version stays.
            self.reassigned(request.svc_key)
            return
        self.unassign(request.svc_key)
        self._record(request.svc_key, alloc)

    def holding(self, svc_key: str) -> Hashable | None:
        """All that re-assigning the Service exactly its own allocation reads, when it holds it
        alone (holds_alone); None otherwise.

        Assign reads the configuration (poolFor, the pool's serviceAllocation), and on each IP
        what checkSharing reads: the key the IP remembers and the holders of the Service's own
        ports (the other holders only when the keys do not share). Held alone, the IP remembers
        the allocation's own key and the Service holds its ports, so the configuration version
        and the allocation are all of it: other holders coming and going change neither.
        """
        alloc = self._allocated.get(svc_key)
        if alloc is None or not alloc.key.sharing:
            return None
        key_for_ip, ports_in_use = self._key_for_ip, self._ports_in_use
        for ip in alloc.ips:
            if key_for_ip.get(ip) != alloc.key:
                return None
            in_use = ports_in_use.get(ip) or {}
            for port in alloc.ports:
                if in_use.get(port) != svc_key:
                    return None
        return (self.config_version, alloc)

    def holdings(self, svc_keys: Sequence[str]) -> Hashable:
        """All that unassigning these Services and assigning them again reads: the configuration
        version, their allocations, and on each IP any of them holds, what Assign and Unassign
        read there (the key it remembers, its ports in use with their holders, the Services
        on it). Other IPs and other Services' allocations are not read."""
        allocs = tuple(map(self._allocated.get, svc_keys))
        ips = dict.fromkeys(ip for alloc in allocs if alloc is not None for ip in alloc.ips)
        entries = tuple(
            (
                self._key_for_ip.get(ip),
                frozenset((self._ports_in_use.get(ip) or {}).items()),
                frozenset(self._services_on_ip.get(ip) or ()),
            )
            for ip in ips
        )
        return (self.config_version, allocs, tuple(ips), entries)

    def holds_alone(self, svc_key: str) -> bool:
        """Whether the Service's allocation may be re-assigned whoever else is on its IPs: every
        IP remembers its key, which shares (sharingOK with itself), and it holds all its ports."""
        return self.holding(svc_key) is not None

    def track_moves(self) -> None:
        """Log from now on the Services whose `holding` an allocation change may change (a
        clone logs too, in its own log); `moves` hands them over."""
        if self._moved is None:
            self._moved = []
            self._touched = []

    def moves(self) -> list[str]:
        """The Services logged since the last call (see track_moves), and the log emptied: the
        Service whose allocation changed, the holders of ports it took or freed, and everyone
        on an IP whose remembered key changed (what `holding` reads, and nothing else does)."""
        moved = self._moved
        if not moved:
            return []
        self._moved = []
        return moved

    def touches(self) -> list[Hashable]:
        """What sharing_reads reads that changed since the last call (see track_moves), and
        the log emptied: IPs whose remembered key changed or which became held or free, and
        (IP, port) pairs whose holder changed (entries of sharing_watch)."""
        touched = self._touched
        if not touched:
            return []
        self._touched = []
        return touched

    def sharing_watch(self, ips: Sequence[str], ports: Sequence[Port]) -> list[Hashable]:
        """The `touches` entries that name a change to what sharing_reads of these IPs and
        ports reads of the allocator (all of it but the configuration version)."""
        parsed = [_ip(text) for text in ips]
        return [*parsed, *((ip, port) for ip in parsed for port in ports)]

    def _touch(self, entry: Hashable) -> None:
        if self._touched is not None:
            self._touched.append(entry)

    def _moved_on(self, ip: IPAddress) -> None:
        """Log every Service on the IP, and the IP (the key it remembers changed)."""
        if self._moved is not None:
            self._moved.extend(self._services_on_ip.get(ip) or ())
            self._touch(ip)

    def reassigned(self, svc_key: str) -> None:
        """The Service was given its own allocation again: like MetalLB's Unassign and Assign,
        it moves last in the order set_pools walks allocations (nothing else changes)."""
        self.reassigns += 1
        if next(reversed(self._allocated), None) == svc_key:
            return  # already last: popping and putting it back changes nothing
        alloc = self._allocated.pop(svc_key, None)
        if alloc is not None:
            self._allocated[svc_key] = alloc
            self._note(self._walk, svc_key, self._walk[svc_key])
            self._walk[svc_key] = self._walk_next
            self._walk_next += 1
            self.walk_changes += 1

    def reassigned_all(self, svc_keys: Sequence[str]) -> None:
        """`reassigned` for each of these distinct Services, in order, at a fraction of the
        cost (a reprocess-all pass answering the Services whose handling it knows)."""
        undo = self._undo
        if (undo is not None and undo.active) or len(svc_keys) < 2:
            for svc_key in svc_keys:
                self.reassigned(svc_key)  # each walk entry it replaces is logged for a clone
            return
        self.reassigns += len(svc_keys)
        allocated = self._allocated
        moving = [svc_key for svc_key in svc_keys if svc_key in allocated]
        if not moving:
            return
        # Only the first can be last already (a no-op); each later one is behind it then.
        moved = moving[1:] if next(reversed(allocated)) == moving[0] else moving
        for svc_key in moving:
            allocated[svc_key] = allocated.pop(svc_key)
        start = self._walk_next
        self._walk.update(zip(moved, range(start, start + len(moved)), strict=True))
        self._walk_next += len(moved)
        self.walk_changes += len(moved)

    def _assign_error(
        self, request: _Request, ips: tuple[IPAddress, ...], pool: str | None
    ) -> AllocationError | None:
        """Why Assign refuses these IPs when `pool` is the pool poolFor returned; None if it may."""
        if pool is None:
            return AllocationError(
                ErrorKind.NOT_ALLOWED, f"{_ip_list(ips)} is not allowed in config"
            )
        if not self._compatible(self._pools[pool], request):
            return AllocationError(
                ErrorKind.POOL_INCOMPATIBLE, f"pool {pool} not compatible for ip assignment"
            )
        if len(ips) > 2:
            return AllocationError(
                ErrorKind.TOO_MANY_IPS, f"more than two addresses {_ip_list(ips)}"
            )
        if len(ips) == 2 and ips[0].version == ips[1].version:
            return AllocationError(
                ErrorKind.SAME_FAMILY,
                f"{go_quote(str(ips[0]))} {go_quote(str(ips[1]))} has the same family",
            )
        for ip in ips:
            error = self._sharing_error(request, ip)
            if error:
                return error
        return None

    def _sharing_error(self, request: _Request, ip: IPAddress) -> AllocationError | None:
        """checkSharing: may the service use this IP next to those already on it?"""
        existing = self._key_for_ip.get(ip)
        if existing is None:
            return None
        if not _sharing_ok(existing, request.key):
            others = self._others_on(ip, request.svc_key)
            if others is not None:
                # MetalLB lists the others in Go map order; we sort them.
                return AllocationError(
                    ErrorKind.SHARING_KEY_MISMATCH,
                    f"can't change sharing key for {go_quote(request.svc_key)}, "
                    "address also in use by ",
                    ip=str(ip),
                    names=others,
                )
        in_use = self._ports_in_use.get(ip, {})
        for port in request.ports:
            holder = in_use.get(port)
            if holder is not None and holder != request.svc_key:
                return AllocationError(
                    ErrorKind.PORT_IN_USE,
                    f"port {port} is already in use on {go_quote(str(ip))}",
                )
        return None

    def _others_on(self, ip: IPAddress, svc_key: str) -> HolderNames | None:
        """The Services on the IP other than `svc_key`, as a sharing-key refusal names them
        (None when there are none)."""
        holders = self._services_on_ip.get(ip)
        if not holders or (len(holders) == 1 and svc_key in holders):
            return None
        names = self._holder_names(ip, holders)
        # The Service itself asks with another key (once per key change): left out of them.
        return names.without(svc_key) if svc_key in holders else names

    def _holder_names(self, ip: IPAddress, holders: Mapping[str, None]) -> HolderNames:
        """Every holder of the IP; one snapshot per allocator version, kept as what changed
        since the IP's snapshot before (see events.HolderNames).

        Every change to who holds an IP changes the version, so an entry of the current version
        is exact. A pending member of a large group is refused on every pass with these names:
        its warning keeps the snapshot, O(1), where the text was O(N) per refusal."""
        cached = self._holder_texts.get(ip)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        now = frozenset(holders)
        if cached is None:
            names = HolderNames.of(now)
        else:
            names = cached[1].then(now, now - cached[2], cached[2] - now)
        self._holder_texts[ip] = (self.version, names, now)
        return names

    def others_on(self, ip: str, svc_key: str) -> str:
        """The Services on the IP other than `svc_key`, as a sharing-key refusal names them."""
        names = self.holder_names(ip, svc_key)
        return "" if names is None else str(names)

    def holder_names(self, ip: str, svc_key: str) -> HolderNames | None:
        """others_on's names, printed only when read (None: nobody else is on the IP)."""
        return self._others_on(_ip(ip), svc_key)

    def refusal(
        self,
        svc_key: str,
        svc: Mapping[str, Any] | None,
        ips: Sequence[str],
        ports: Iterable[Port | tuple[str, int]],
        sharing_key: str | None,
        backend_key: str | None,
    ) -> AllocationError | None:
        """Why `assign` of these IPs would be refused now (None: it would not); changes nothing."""
        request = AllocationRequest(svc_key, svc, "ipv4", ports, sharing_key, backend_key, ips=ips)
        try:
            parsed = _parse_ips(request.ips)
        except AllocationError as error:
            return error
        return self._assign_error(_resolve(request), parsed, self._pool_for(parsed))

    def sharing_reads(self, svc_key: str, ips: Sequence[str], ports: Sequence[Port]) -> Hashable:
        """What Assign of these IPs to a Service that holds none reads of the allocator, except
        the other holders' names: the configuration version (poolFor, the pool's
        serviceAllocation), and per IP the key it remembers, who holds each of the ports, and
        whether anyone else is on it (checkSharing). Equal reads: Assign gives the same answer,
        its refusal naming whoever holds the IP then."""
        entries = []
        for text in ips:
            ip = _ip(text)
            holders = self._services_on_ip.get(ip) or {}
            in_use = self._ports_in_use.get(ip) or {}
            entries.append(
                (
                    self._key_for_ip.get(ip),
                    tuple(map(in_use.get, ports)),
                    len(holders) > (svc_key in holders),
                )
            )
        return (self.config_version, tuple(entries))

    def _record(self, svc_key: str, alloc: _Alloc) -> None:
        self.version += 1
        self.walk_changes += 1
        old = self._allocated.get(svc_key)
        self._note(self._allocated, svc_key, old)
        self._allocated[svc_key] = alloc
        if old is None:  # a new entry, walked last (an existing one keeps its place)
            self._note(self._walk, svc_key, None)
            self._walk[svc_key] = self._walk_next
            self._walk_next += 1
        moved = self._moved
        if moved is not None:
            moved.append(svc_key)
        for ip in alloc.ips:
            self._remember_key(ip, alloc.key)
            in_use = self._ports_in_use.mutable(ip)
            for port in alloc.ports:
                if moved is not None and in_use.get(port) != svc_key:
                    if port in in_use:
                        moved.append(in_use[port])  # (Assign refuses a port in use: never so)
                    self._touch((ip, port))
                in_use[port] = svc_key
                self._index_port(ip, port, present=True)
            if not self._services_on_ip.get(ip):
                self._touch(ip)  # held now
            self._services_on_ip.mutable(ip)[svc_key] = None

    def _remember_key(self, ip: IPAddress, key: Key) -> None:
        if self._key_for_ip.get(ip) == key:
            # Already so: forgetting and re-indexing would walk every port on the IP (every
            # member of a large group), and leave the index exactly as it is.
            return
        if ip not in self._key_for_ip:
            self._moved_on(ip)  # (a key forgotten logs them in _forget_key)
        self._forget_key(ip)
        self._note(self._key_for_ip, ip, None)
        self._key_for_ip[ip] = key
        self._index.add_key(ip.version, int(ip), key, self._ports_in_use.get(ip, {}))

    def _forget_key(self, ip: IPAddress) -> None:
        key = self._key_for_ip.pop(ip, None)
        if key is not None:
            self._moved_on(ip)
            self._note(self._key_for_ip, ip, key)
            self._index.remove_key(ip.version, int(ip), key, self._ports_in_use.get(ip, {}))

    def _index_port(self, ip: IPAddress, port: Port, present: bool) -> None:
        """Keep the key index in step with a port appearing on, or leaving, a keyed address."""
        key = self._key_for_ip.get(ip)
        if key is None:
            return
        if present:
            self._index.add_port(ip.version, int(ip), key, port)
        else:
            self._index.remove_port(ip.version, int(ip), key, port)

    # --- allocate -----------------------------------------------------------------------------

    def allocate(
        self,
        svc_key: str,
        svc: Mapping[str, Any] | None,
        family: str,
        ports: Iterable[Port | tuple[str, int]],
        sharing_key: str | None,
        backend_key: str | None,
        *,
        ip_family_policy: str | None = None,
    ) -> list[str]:
        """Pick IPs for the service: pinned pools first, then every auto-assign pool (Allocate).

        `family` is "ipv4", "ipv6" or "dual" (from the clusterIPs). The policy (SingleStack,
        PreferDualStack, RequireDualStack) is `spec.ipFamilyPolicy` of `svc` unless
        `ip_family_policy` is given; MetalLB treats a missing policy as SingleStack, so a "dual"
        request without a dual-stack policy fails, as it does in MetalLB.
        """
        request = _resolve(
            AllocationRequest(
                svc_key,
                svc,
                family,
                ports,
                sharing_key,
                backend_key,
                ip_family_policy=ip_family_policy,
            )
        )
        existing = self._allocated.get(svc_key)
        if existing:
            self._assign(request, existing.ips, self._pool_for(existing.ips))
            return self.ips(svc_key)
        pinned, all_pools = self._pool_passes(request)
        if self._version == POOL_BY_POOL:
            return self._allocate_pool_by_pool(request, pinned + all_pools)
        for candidates in (pinned, all_pools):
            if self._allocate_from_pools(request, candidates):
                return self.ips(svc_key)
        raise AllocationError(ErrorKind.NO_AVAILABLE_IPS, "no available IPs")

    def _allocate_pool_by_pool(self, request: _Request, classes: list[list[str]]) -> list[str]:
        """v0.14.8 Allocate: AllocateFromPool on each pool in order; the first success wins."""
        for cls in classes:
            for name in self._order(tuple(cls)):
                try:
                    ips = self._ips_from_pool(request, name)
                    self._assign(request, ips, self._pool_for(ips))
                except AllocationError:
                    continue
                return self.ips(request.svc_key)
        raise AllocationError(ErrorKind.NO_AVAILABLE_IPS, "no available IPs")

    def _allocate_from_pools(self, request: _Request, classes: list[list[str]]) -> bool:
        """allocateFromPools: the best pool in simulation order, then Assign; False on failure."""
        ordered = [name for cls in classes for name in self._order(tuple(cls))]
        best = self._best_pool(request, ordered)
        if best is None:
            return False
        name, free = best
        ips, _ = _select_ips(request, name, free, self._version)
        if ips is None or None in ips:
            return False
        chosen = tuple(ip for ip in ips if ip is not None)
        owner = self._pool_for(chosen)
        if self._assign_error(request, chosen, owner):
            return False
        self._assign(request, chosen, owner)
        return True

    def _best_pool(
        self, request: _Request, ordered: list[str]
    ) -> tuple[str, dict[int, IPAddress | None]] | None:
        """findBestPoolForService over pools in the given order: the pool and its free IPs."""
        fallback: dict[int, tuple[str, dict[int, IPAddress | None]]] = {}
        for name in ordered:
            free = self._free_ips(self._pools[name], request)
            rank = _rank(request, free)
            if rank == 0:
                return name, free
            if rank is not None:
                fallback.setdefault(rank, (name, free))
        return fallback.get(1) or fallback.get(2)

    def allocate_from_pool(
        self,
        svc_key: str,
        svc: Mapping[str, Any] | None,
        family: str,
        pool_name: str,
        ports: Iterable[Port | tuple[str, int]],
        sharing_key: str | None,
        backend_key: str | None,
        *,
        ip_family_policy: str | None = None,
    ) -> list[str]:
        """Pick IPs from one named pool (AllocateFromPool; the pool need not be auto-assign)."""
        asked = AllocationRequest(
            svc_key,
            svc,
            family,
            ports,
            sharing_key,
            backend_key,
            ip_family_policy=ip_family_policy,
            pool_name=pool_name,
        )
        request = _resolve(asked)
        existing = self._allocated.get(svc_key)
        if existing:
            self._check_existing_family(request, existing)
            self._assign(request, existing.ips, self._pool_for(existing.ips))
            return self.ips(svc_key)
        ips = self._ips_from_pool(request, asked.pool_name)
        self._assign(request, ips, self._pool_for(ips))
        return self.ips(svc_key)

    def allocate_from_pool_for_additional_family(
        self,
        svc_key: str,
        svc: Mapping[str, Any] | None,
        existing_ip: str,
        pool_name: str,
        ports: Iterable[Port | tuple[str, int]],
        sharing_key: str | None,
        backend_key: str | None,
    ) -> str:
        """Add an IP of the other family to a single-IP PreferDualStack service; returns it.

        (AllocateFromPoolForAdditionalFamily exists from v0.14.9 on; v0.14.8 never calls it.)
        """
        request = _resolve(AllocationRequest(svc_key, svc, "ipv4", ports, sharing_key, backend_key))
        existing = parse_ip(existing_ip)
        pool = self._known_pool(pool_name)
        other = 6 if existing.version == 4 else 4
        extra = self._free_ips(pool, request, (other,))[other]
        if extra is None:
            # MetalLB passes the missing (nil) IP on to Assign, which finds no pool for it.
            raise AllocationError(
                ErrorKind.NO_AVAILABLE_IPS, f"{_ip_list((existing, None))} is not allowed in config"
            )
        ips = (existing, extra)
        self._assign(request, ips, self._pool_for(ips))
        return str(extra)

    def _check_existing_family(self, request: _Request, existing: _Alloc) -> None:
        held = _family_of(existing.ips)
        tolerant = self._version != POOL_BY_POOL and request.policy == "PreferDualStack"
        if not tolerant and held != request.family:
            raise AllocationError(
                ErrorKind.WRONG_FAMILY,
                f"IP for wrong family assigned alloc {held} service family {request.family}",
            )

    def _known_pool(self, pool_name: str) -> Pool:
        pool = self._pools.get(pool_name)
        if pool is None:
            raise AllocationError(ErrorKind.UNKNOWN_POOL, f"unknown pool {go_quote(pool_name)}")
        return pool

    def _ips_from_pool(self, request: _Request, pool_name: str) -> tuple[IPAddress, ...]:
        """The IPs AllocateFromPool would hand to Assign, or its error."""
        pool = self._known_pool(pool_name)
        if self._version == POOL_BY_POOL:
            return self._ips_from_pool_v014(request, pool)
        ips, error = _select_ips(request, pool.name, self._free_ips(pool, request), self._version)
        if ips is None:
            raise AllocationError(ErrorKind.NO_AVAILABLE_IPS, error)
        if None in ips:
            # A single-stack request on an exhausted pool: MetalLB hands Assign a nil IP, which
            # no pool owns, so its message is the "not allowed" one although the pool is full.
            raise AllocationError(
                ErrorKind.NO_AVAILABLE_IPS, f"{_ip_list(ips)} is not allowed in config"
            )
        return tuple(ip for ip in ips if ip is not None)

    def _ips_from_pool_v014(self, request: _Request, pool: Pool) -> tuple[IPAddress, ...]:
        """v0.14.8 AllocateFromPool: one address of each family needed, in the pool's CIDR
        order."""
        wanted = list(_families_needed(request))
        found = []
        for network in pool.networks:
            if network.version in wanted:
                ip = self._first_fit(network, pool.avoid_buggy_ips, request)
                if ip is not None:
                    found.append(ip)
                    wanted.remove(network.version)
        if wanted:
            raise AllocationError(
                ErrorKind.NO_AVAILABLE_IPS,
                f"no available IPs in pool {go_quote(pool.name)} for {request.family} IPFamily",
            )
        return tuple(found)

    # --- enumeration --------------------------------------------------------------------------

    # Each takes an AllocationRequest.

    def possible_allocations(self, request: AllocationRequest) -> set[tuple[str, ...]]:
        """Every IP tuple `allocate` could return under any Go map order; () stands for failure."""
        return {o.ips for o in self.possible_allocate_outcomes(request)}

    def possible_allocations_from_pool(self, request: AllocationRequest) -> set[tuple[str, ...]]:
        """Every IP tuple `allocate_from_pool` (from `request.pool_name`) could return; () stands
        for failure."""
        return {o.ips for o in self.possible_allocate_from_pool_outcomes(request)}

    def possible_allocate_outcomes(self, request: AllocationRequest) -> set[Outcome]:
        """Every outcome of `allocate` (IPs, recorded pool, or error kind); changes nothing."""
        facts = _resolve(request)
        existing = self._allocated.get(facts.svc_key)
        if existing:
            return self._assign_outcomes(facts, existing.ips)
        pinned, all_pools = self._pool_passes(facts)
        if self._version == POOL_BY_POOL:
            return self._pool_by_pool_outcomes(facts, pinned + all_pools)
        outcomes = self._pass_outcomes(facts, pinned)
        if not all(o.ok for o in outcomes):
            outcomes = {o for o in outcomes if o.ok} | self._pass_outcomes(facts, all_pools)
        return {o if o.ok else _failure(ErrorKind.NO_AVAILABLE_IPS) for o in outcomes}

    def possible_allocate_from_pool_outcomes(self, request: AllocationRequest) -> set[Outcome]:
        """Every outcome of `allocate_from_pool` from `request.pool_name` (only the recorded pool
        can vary); changes nothing."""
        facts = _resolve(request)
        existing = self._allocated.get(facts.svc_key)
        try:
            if existing:
                self._check_existing_family(facts, existing)
                return self._assign_outcomes(facts, existing.ips)
            return self._assign_outcomes(facts, self._ips_from_pool(facts, request.pool_name))
        except AllocationError as error:
            return {_failure(error.kind)}

    def possible_assign_outcomes(self, request: AllocationRequest) -> set[Outcome]:
        """Every outcome of `assign` of `request.ips` (overlapping pools: which pool owns the IPs
        varies)."""
        return self._assign_outcomes(_resolve(request), _parse_ips(request.ips))

    def _assign_outcomes(self, request: _Request, ips: tuple[IPAddress, ...]) -> set[Outcome]:
        owners: list[str | None] = [n for n, pool in self._pools.items() if _owns(pool, ips)]
        owners = owners or [None]
        outcomes = set()
        for owner in owners:
            error = self._assign_error(request, ips, owner)
            outcomes.add(_failure(error.kind) if error else Outcome(_strs(ips), owner))
        return outcomes

    def _pool_by_pool_outcomes(self, request: _Request, classes: list[list[str]]) -> set[Outcome]:
        """v0.14.8: any pool of a class may come first; the next class is reached only by an
        order in which every pool of this class fails (each pool's failure is independent)."""
        outcomes: set[Outcome] = set()
        for cls in classes:
            every_pool_may_fail = True
            for name in cls:
                attempt = self._from_pool_outcomes(request, name)
                outcomes |= {o for o in attempt if o.ok}
                every_pool_may_fail = every_pool_may_fail and not all(o.ok for o in attempt)
            if not every_pool_may_fail:
                return outcomes
        return outcomes | {_failure(ErrorKind.NO_AVAILABLE_IPS)}

    def _from_pool_outcomes(self, request: _Request, pool_name: str) -> set[Outcome]:
        try:
            return self._assign_outcomes(request, self._ips_from_pool(request, pool_name))
        except AllocationError as error:
            return {_failure(error.kind)}

    def _pass_outcomes(self, request: _Request, classes: list[list[str]]) -> set[Outcome]:
        """Every outcome of allocateFromPools when each class of pools may come in any order."""
        free = {name: self._free_ips(self._pools[name], request) for cls in classes for name in cls}
        rank = {name: _rank(request, ips) for name, ips in free.items()}
        ranks = [r for r in rank.values() if r is not None]
        if not ranks:
            return {_failure(ErrorKind.NO_AVAILABLE_IPS)}
        best = min(ranks)
        # The first class holding a pool of the best rank decides; any of its such pools may win.
        winners = next(
            [n for n in cls if rank[n] == best] for cls in classes if best in map(rank.get, cls)
        )
        outcomes: set[Outcome] = set()
        for name in winners:
            ips, _ = _select_ips(request, name, free[name], self._version)
            if ips is None or None in ips:
                outcomes.add(_failure(ErrorKind.NO_AVAILABLE_IPS))
                continue
            outcomes |= self._assign_outcomes(request, tuple(ip for ip in ips if ip is not None))
        return outcomes

    # --- pools for a service ------------------------------------------------------------------

    def _pool_passes(self, request: _Request) -> tuple[list[list[str]], list[list[str]]]:
        """The pinned pools (classes of equal priority, in priority order) and the all-pools pass."""
        pinned = self._pinned_pools(request)
        all_pools = [
            name
            for name, pool in self._pools.items()
            if pool.auto_assign and not pool.has_service_allocation
        ]
        return pinned, [all_pools]

    def _pinned_pools(self, request: _Request) -> list[list[str]]:
        """pinnedPoolsForService: by namespace, then by service selector; sorted by priority.

        Go's sort of equal priorities keeps no defined order (and pools come from a map), so
        each priority class is an unordered set; priority 0 (or less) comes last.
        """
        by_namespace = [
            name
            for name, namespaces in self._pool_namespaces.items()
            if request.namespace in namespaces
        ]
        by_selector = sorted(
            name
            for name, pool in self._pools.items()
            if pool.has_service_allocation
            and (pool.service_selectors or self._matches_everything(pool))
        )
        names = [
            name
            for name in dict.fromkeys(by_namespace + by_selector)
            if self._pools[name].auto_assign and self._compatible(self._pools[name], request)
        ]
        classes: dict[int, list[str]] = {}
        for name in names:
            priority = self._pools[name].priority
            classes.setdefault(max(0, priority), []).append(name)
        order = sorted(classes, key=lambda p: (p == 0, p))
        return [classes[p] for p in order]

    def _matches_everything(self, pool: Pool) -> bool:
        """v0.15.0+ (config.go addressPoolServiceAllocationsFromCR): a serviceAllocation setting
        no namespaces and no selectors gets the match-everything service selector, so the pool
        is pinned for every Service. Up to v0.14.9 it is never pinned (and never auto-assigned)."""
        return (
            self._version == "0.15"
            and not pool.namespaces
            and not pool.namespace_selectors
            and not pool.service_selectors
        )

    def _compatible(self, pool: Pool, request: _Request) -> bool:
        """isPoolCompatibleWithService: resolved namespaces (if any), then service selectors."""
        if not pool.has_service_allocation:
            return True
        namespaces = self._pool_namespaces.get(pool.name, frozenset())
        if namespaces and request.namespace not in namespaces:
            return False
        if pool.service_selectors:
            return any(s.matches(request.labels) for s in pool.service_selectors)
        return True

    def _pool_for(self, ips: tuple[IPAddress, ...]) -> str | None:
        """poolFor: the first pool, in (Go map) iteration order, that owns every IP."""
        if self._pool_order is None:
            # Configuration order: a pure function of the pools (replaced only by set_pools).
            try:
                return self._owners[ips]
            except KeyError:
                owner = self._owners[ips] = self._first_owner(ips)
                return owner
        return self._first_owner(ips)

    def _first_owner(self, ips: tuple[IPAddress, ...]) -> str | None:
        for name in self._order(tuple(self._pools)):
            if _owns(self._pools[name], ips):
                return name
        return None

    def _order(self, names: tuple[str, ...]) -> list[str]:
        if self._pool_order is None or len(names) < 2:
            return list(names)
        ordered = list(self._pool_order(names))
        if sorted(ordered) != sorted(names):
            raise ValueError("pool_order must return a permutation of the names it is given")
        return ordered

    # --- free addresses -----------------------------------------------------------------------

    def _free_ips(
        self, pool: Pool, request: _Request, families: tuple[int, ...] | None = None
    ) -> dict[int, IPAddress | None]:
        """getFreeIPsFromPool: the first usable address of each family, CIDRs in order."""
        wanted = families or _families_needed(request)
        if families is None and self._version == "0.14" and request.policy != "SingleStack":
            # v0.14.9 selects by policy alone: a single-stack Service may take both families.
            wanted = (4, 6)
        found: dict[int, IPAddress | None] = {4: None, 6: None}
        for network in pool.networks:
            if network.version not in wanted or found[network.version] is not None:
                continue
            found[network.version] = self._first_fit(network, pool.avoid_buggy_ips, request)
            if all(found[f] is not None for f in wanted):
                break
        return found

    def _first_fit(
        self, network: IPNetwork, avoid_buggy: bool, request: _Request
    ) -> IPAddress | None:
        """getIPFromCIDR: the lowest address of the network that passes checkSharing.

        Addresses that remember no key always pass; of those that do, only ones remembering the
        request's own key with none of its ports in use, or held by the service itself, can.
        """
        low, high = int(network.network_address), int(network.broadcast_address)
        best = self._index.first_keyless(network.version, low, high, avoid_buggy)
        limit = high if best is None else best - 1
        shared = self._first_shareable(network.version, low, limit, avoid_buggy, request)
        if shared is not None:
            best, limit = shared, shared - 1
        own = self._allocated.get(request.svc_key)
        for ip in own.ips if own else ():
            address = int(ip)
            if ip.version != network.version or not low <= address <= limit:
                continue
            if avoid_buggy and is_buggy_ip(ip):
                continue
            if self._sharing_error(request, ip) is None:
                best, limit = address, address - 1
        return None if best is None else network.network_address.__class__(best)

    def _first_shareable(
        self, version: int, low: int, high: int, avoid_buggy: bool, request: _Request
    ) -> int | None:
        """The lowest address in [low, high] remembering the request's key, free of its ports."""
        if not request.key.sharing:
            return None  # an empty sharing key never shares (sharingOK)
        return self._index.first_with_key(
            version, low, high, avoid_buggy, request.key, request.ports
        )


# --- helpers ----------------------------------------------------------------------------------


class _PendingClone(Allocator):
    """An Allocator.clone not read yet: its first attribute read rebuilds its tables from the
    original's undo log and turns it into a plain Allocator (no cost on later reads)."""

    def __getattribute__(self, name: str) -> Any:
        _rebuilt(self)
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        _rebuilt(self)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        _rebuilt(self)
        object.__delattr__(self, name)


def _rebuilt(twin: Allocator) -> None:
    """Give a pending clone its own tables, as they were when it was taken (once)."""
    fields = object.__getattribute__(twin, "__dict__")
    pending = fields.pop("_pending", None)
    if pending is None:
        return  # rebuilt already (read, or flushed by the original's log)
    undo, start, state = pending
    restored = undo.restore(twin, start)
    ports_in_use, services_on_ip, keyed, key_ips, key_port_ips = restored[:5]
    allocated, walk, key_for_ip = restored[5:]
    fields.update(state)
    fields["_ports_in_use"] = ports_in_use
    fields["_services_on_ip"] = services_on_ip
    fields["_index"] = KeyIndex.of_tables((keyed, key_ips, key_port_ips))
    # The allocations in the order they were walked then (a restore puts entries back anywhere).
    fields["_allocated"] = {svc: allocated[svc] for svc in sorted(allocated, key=walk.__getitem__)}
    fields["_walk"] = walk
    fields["_key_for_ip"] = key_for_ip
    object.__setattr__(twin, "__class__", Allocator)


def _resolve(request: AllocationRequest) -> _Request:
    """The facts the allocator reads from a request's Service manifest (checked)."""
    if request.family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {request.family!r}")
    svc = request.svc or {}
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    policy = request.ip_family_policy or spec.get("ipFamilyPolicy") or "SingleStack"
    if policy not in POLICIES:
        raise ValueError(f"ip family policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    families = spec.get("ipFamilies") or []
    svc_key = request.svc_key
    return _Request(
        svc_key=svc_key,
        namespace=meta.get("namespace") or (svc_key.split("/")[0] if "/" in svc_key else ""),
        labels=dict(meta.get("labels") or {}),
        family=request.family,
        policy=policy,
        primary=6 if families[:1] == ["IPv6"] else 4,
        ports=tuple(_port(p) for p in request.ports or ()),
        key=Key(request.sharing_key or "", request.backend_key or ""),
    )


def _with_name_labels(
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> dict[str, dict[str, str]]:
    return {ns: {NAMESPACE_NAME_LABEL: ns, **labels} for ns, labels in namespace_labels.items()}


def _port(port: Port | tuple[str, int]) -> Port:
    if isinstance(port, Port):
        return port
    proto, number = port
    return Port(str(proto), int(number))


@functools.lru_cache(maxsize=4096)
def _ip(text: str) -> IPAddress:
    """parse_ip, remembered (an address is immutable): every handling of a pass parses the same
    few requested and status IPs again, at some microseconds each. The address keeps its hash:
    ipaddress computes it anew (hash(hex(int))) on each of the allocator's per-IP lookups."""
    parsed = parse_ip(text)
    if isinstance(parsed, ipaddress.IPv4Address):
        return _HashedIPv4(parsed)
    return _HashedIPv6(parsed)


class _HashedIPv4(ipaddress.IPv4Address):
    """An IPv4Address (equal to, hashed as, printed as the plain one) that computes its hash
    and its text once."""

    __slots__ = ("_hash", "_text")

    def __init__(self, address: ipaddress.IPv4Address | int | str) -> None:
        # An int or text when unpickled (ipaddress's __reduce__ passes one).
        super().__init__(int(address) if isinstance(address, ipaddress.IPv4Address) else address)
        self._hash = super().__hash__()
        self._text = super().__str__()

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self._text  # (printed on every Allocator.ips: each handling asks it)

    def __repr__(self) -> str:
        return f"{type(self).__mro__[1].__name__}({str(self)!r})"  # as the plain address prints


class _HashedIPv6(ipaddress.IPv6Address):
    """As _HashedIPv4, for IPv6 (parse_ip refuses zones, so the integer is the whole address)."""

    __slots__ = ("_hash", "_text")

    def __init__(self, address: ipaddress.IPv6Address | int | str) -> None:
        # An int or text when unpickled (ipaddress's __reduce__ passes one).
        super().__init__(int(address) if isinstance(address, ipaddress.IPv6Address) else address)
        self._hash = super().__hash__()
        self._text = super().__str__()

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self._text  # (printed on every Allocator.ips: each handling asks it)

    def __repr__(self) -> str:
        return f"{type(self).__mro__[1].__name__}({str(self)!r})"  # as the plain address prints


def _parse_ips(ips: Sequence[str]) -> tuple[IPAddress, ...]:
    if isinstance(ips, str):
        ips = [ips]
    if not ips:
        raise ValueError("assign needs at least one IP")
    parsed = []
    for ip in ips:
        try:
            parsed.append(_ip(str(ip)))
        except ValueError:
            raise AllocationError(ErrorKind.INVALID_IP, f"invalid IP {go_quote(str(ip))}") from None
    return tuple(parsed)


def _owns(pool: Pool, ips: tuple[IPAddress, ...]) -> bool:
    return all(pool.owns_address(ip.version, int(ip)) for ip in ips)


def _sharing_ok(existing: Key, new: Key) -> bool:
    """sharingOK: both keys share, with equal sharing and backend keys."""
    return bool(existing.sharing) and bool(new.sharing) and existing == new


def _family_of(ips: tuple[IPAddress, ...]) -> str:
    if len(ips) == 2:
        return "dual"
    return "ipv6" if ips[0].version == 6 else "ipv4"


def _families_needed(request: _Request) -> tuple[int, ...]:
    if request.family == "ipv4":
        return (4,)
    if request.family == "ipv6":
        return (6,)
    return (4, 6)


def _rank(request: _Request, free: Mapping[int, IPAddress | None]) -> int | None:
    """How findBestPoolForService rates a pool: 0 takes it at once, 1/2 are PreferDualStack
    fallbacks (primary family only / secondary family only), None skips it."""
    if request.family in ("ipv4", "ipv6"):
        return 0 if free[4 if request.family == "ipv4" else 6] is not None else None
    secondary_family = 6 if request.primary == 4 else 4
    primary, secondary = free[request.primary], free[secondary_family]
    if primary is not None and secondary is not None:
        return 0
    if request.policy != "PreferDualStack":
        return None
    if primary is not None:
        return 1
    return 2 if secondary is not None else None


def _select_ips(
    request: _Request, pool_name: str, free: Mapping[int, IPAddress | None], version: str
) -> tuple[tuple[IPAddress | None, ...] | None, str]:
    """selectIPsForFamilyAndPolicy: the IPs to assign, or None and MetalLB's error message.

    v0.15 (PR #2726): a single-family request gets its family's address even when there is
    none (None), as in MetalLB, where the nil IP then fails in Assign. v0.14.9 goes by the
    policy alone, so a single-stack PreferDualStack or RequireDualStack Service may get both.
    """
    v4, v6 = free[4], free[6]
    if version == "0.15" and request.family == "ipv4":
        return (v4,), ""
    if version == "0.15" and request.family == "ipv6":
        return (v6,), ""
    if request.policy == "SingleStack" and request.family in ("ipv4", "ipv6"):
        ip = v4 if request.family == "ipv4" else v6
        if ip is not None:
            return (ip,), ""
        return None, f"no available IPs in pool {pool_name} for {request.family} IPFamily"
    if request.policy in ("RequireDualStack", "PreferDualStack") and v4 and v6:
        return (v4, v6), ""
    if request.policy == "PreferDualStack" and (v4 or v6):
        return ((v4,) if v4 else (v6,)), ""
    return None, f"no available IPs in pool {pool_name} for {request.family} IPFamily"


def _failure(kind: ErrorKind) -> Outcome:
    return Outcome((), None, kind)


def _strs(ips: tuple[IPAddress, ...]) -> tuple[str, ...]:
    return tuple(str(ip) for ip in ips)
