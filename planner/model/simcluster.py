"""A simulated cluster: Services, pools, one MetalLB controller and its work queue.

The caller decides when each write ARRIVES (reaches the API server and the controller's informer)
and how arrivals interleave with the controller's own processing; everything else follows
MetalLB's source. The event model, read from metallb/metallb
`internal/k8s/controllers/service_controller.go` (reconcileService),
`service_controller_reload.go` (reprocessAll) and controller-runtime's work queue:

- The queue holds keys: "namespace/name" for a Service, and RELOAD for a reprocess-all request.
  A key already waiting in the queue is not added twice (the work queue de-duplicates).
- An arrival stores the object (status and controller-owned fields kept, as the API server does
  for a spec write) and queues its key. The informer cache sees it at once (`Controller.observe`).
- Processing a Service key hands the CURRENT stored object (None once deleted) to
  `Controller.set_balancer`. `reprocess_all` queues RELOAD; `error` re-queues the key
  (rate-limited retry, modelled as the back of the queue); `error_no_retry` and `success` do
  nothing more. Then every object the controller wrote is stored and, being an update the
  informer sees, queues that Service's key again (the controller sees its own writes; the watch
  event comes back through the API server, so after the reload request).
- Processing RELOAD is one step: list every Service, sort by the number of ingress IPs,
  most first (sort.Slice, not stable: the order among equals is unspecified, so it is a choice),
  and hand each one to the controller in that order. If any answered `reprocess_all` or `error`,
  RELOAD is queued again (reprocessAll returns an error to get a backoff retry).
- Until a reprocess-all pass ends without a retry, a Service key is dropped unhandled
  (ServiceReconciler.initialLoadPerformed, v0.14.9 and v0.15.3): after `bootstrap` and `restart`.
- Pool, community and Namespace events (`set_pools`, `set_namespaces`, `touch_pools`) go
  through the pool reconciler: ignored when the rendered config is unchanged, except up to
  v0.15.2 (metallb-0.14) with an IPv4 CIDR, where each one reprocesses every Service.
- A Service MetalLB never settles (controller.never_settles) is recorded in `flapping` with the
  cause, and the write that shows it does not queue it again: the flip is named, not repeated.
- A step is one arrival or one processed key. The schedule is the list of steps.

Deviations, on purpose: the informer sees every write at once (no watch lag). A pass hands each
Service its stored version at the moment it is handled (MetalLB hands the listed copy; a stale
copy would fail its status update with a conflict and be retried, reaching the same state).
Retries wait no time. A restart (`bootstrap`, `restart`) runs the initial reprocess-all pass
before any Service event; the Service keys the informer queues at start are not modelled.
The allocator's Go-map pool order is chosen with `pool_order` at bootstrap
(`planner.model.allocator.shuffled_pool_order(seed)` for a random one).

    >>> cluster = SimulatedCluster.bootstrap(pools, live_services, behavior="metallb-0.14")
    >>> writes = [("dns/dns-tcp", desired_tcp), ("dns/dns-udp", desired_udp)]
    >>> for run in explore(cluster, writes):          # every interleaving
    ...     run.cluster.went_pending("dns/dns-tcp"), run.cluster.stuck_at_end("dns/dns-tcp")
"""

from __future__ import annotations

import bisect
import copy
import heapq
import ipaddress
import itertools
import math
import operator
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from planner.model.allocator import Pool, PoolOrder
from planner.model.controller import (
    ERROR,
    REPROCESS_ALL,
    SUCCESS,
    Behavior,
    Controller,
    Event,
    Refusing,
    Result,
    copy_manifest,
    never_settles,
    stuck_until,
)
from planner.model.events import EventLog, EventTexts, PassResults, Refusals, SameAnswers
from planner.model.service import (
    ALLOCATED_FROM_POOL_ANNOTATION,
    cluster_family,
    family,
    ingress_ips,
    is_load_balancer,
)
from planner.objects import Manifest, svc_key_of

RELOAD = "metallbreload/reload"  # the key MetalLB queues to reprocess every Service

# More distinct reprocess-all orders than this at one step: explore only sorted and reversed.
MAX_PASS_ORDERS = 24

# Fewer quiet and `refusing` Services than this at a pass: each is handed over (the bulk
# answer's set-up costs more than it saves).
QUIET_PASS_MIN = 8

# Run.extra's flag for a run explored past a reprocess-all pass whose tie orders were cut.
TIES_CUT = "ties_cut"


class ServiceWrite(NamedTuple):
    """One write the simulated cluster takes: a Service's "namespace/name" and its new manifest
    (None deletes the Service)."""

    service: str
    manifest: Manifest | None


@dataclass(frozen=True)
class Arrive:
    """The next pending write of this Service reaches the API server."""

    svc_key: str

    def __str__(self) -> str:
        return f"arrive {self.svc_key}"


@dataclass(frozen=True)
class Process:
    """The controller handles the head of its queue; `pass_order` orders a reprocess-all pass."""

    pass_order: tuple[str, ...] | None = None

    def __str__(self) -> str:
        return "process" if self.pass_order is None else f"process ({', '.join(self.pass_order)})"


Action = Arrive | Process


class ServicePart(NamedTuple):
    """One Service's part of a state's fingerprint (SimulatedCluster.service_fingerprint):
    manifests as the caller numbers them, None where the Service has nothing."""

    key: str
    stored: Hashable
    writes: tuple[Hashable, ...]  # not arrived yet, in order (() without any)
    controller: tuple[Hashable, tuple[str, str] | None, Hashable]  # allocation, keys, cache
    summary: tuple[tuple[str, ...], bool] | None  # first IPs, went pending (None: no history)
    flapping: bool


@dataclass(frozen=True)
class StatusRecord:
    """One status a Service had: from `step` on it showed `ips` (() is pending)."""

    step: int
    ips: tuple[str, ...]
    cause: str  # "bootstrap", "arrive" (a write), "controller" (a status update)
    load_balancer: bool = True  # False once the Service is deleted or no longer a LoadBalancer

    @property
    def outage(self) -> bool:
        """A LoadBalancer Service without IPs."""
        return self.load_balancer and not self.ips


@dataclass(frozen=True)
class Handled:
    """What one processed queue item did (one result per Service handed to the controller)."""

    step: int
    item: str
    results: Sequence[tuple[str, Result]]  # a tuple, or a pass's PassResults


@dataclass
class _Ties:
    """A pass's tie groups (most ingress IPs first, each sorted), with the store's keys and
    manifests and each Service's count they were read from; the flat orders made once.
    Shared by copies of the cluster: never changed once made, but for the orders it caches."""

    keys: tuple[str, ...]
    manifests: tuple[Manifest, ...]
    counts: dict[str, int]
    groups: tuple[tuple[str, ...], ...]
    _default: tuple[str, ...] | None = None
    _reverse: tuple[str, ...] | None = None

    def default(self) -> tuple[str, ...]:
        """The default pass order: ties by key."""
        if self._default is None:
            self._default = tuple(itertools.chain.from_iterable(self.groups))
        return self._default

    def reverse(self) -> tuple[str, ...]:
        """The order with every tie reversed."""
        if self._reverse is None:
            self._reverse = tuple(k for g in self.groups for k in reversed(g))
        return self._reverse


class _HeldRun(NamedTuple):
    """The run of refusing Services a pass last joined (_join_refusing), for the next pass to
    check at once: their IP, keys in pass order, and `Controller.refusing` entries."""

    ip: str
    keys: tuple[str, ...]
    entries: tuple[Refusing, ...]


_NO_RUN = _HeldRun("", (), ())
_MANIFEST = operator.attrgetter("manifest")


class SimulatedCluster:
    """Services in an API server, one MetalLB controller, its queue, and the history of statuses."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.store: dict[str, Manifest] = {}
        self.queue: list[str] = []
        # The keys in `queue` as a set, with the list and the length it was taken at (the queue
        # is a public list: another list, or another length, and it is taken again). A random
        # run of a large group queues every member: `in` on the list scanned it per key.
        self._queued: tuple[list[str], int, set[str]] | None = None
        self.step = 0
        self.history: dict[str, list[StatusRecord]] = {}
        self.events: EventLog = EventLog()
        self.handled: list[Handled] = []
        self._pending: dict[str, list[Manifest | None]] = {}
        # The Services with writes not arrived, sorted: the arrivals `options` offers, kept as
        # writes are submitted and arrive (a random run draws one without listing them all).
        self._pending_keys: list[str] = []
        # Per Service the stored manifest last counted and its number of ingress IPs: stored
        # manifests are replaced, never changed, so the count holds while the manifest is the
        # same object (a reprocess-all pass orders every Service by it). Shared by copies.
        self._ip_counts: dict[str, tuple[Manifest, int]] = {}
        # The pass's tie groups and the store's keys and manifests they were read from (_ties).
        self._kept_ties: _Ties | None = None
        # The run of refusing Services the last pass joined (_standing). Shared by copies: a
        # hint only, every entry checked against the copy's own controller and store.
        self._held: _HeldRun | None = None
        self._next_cluster_ip = 1
        # ServiceReconciler.initialLoadPerformed: until a reprocess-all pass ends without a retry,
        # Service events are dropped (both releases). A cluster built by hand is past it.
        self.initial_load_performed = True
        # Services MetalLB never settles, with the cause (see never_settles): their own status
        # writes are not queued again, so the flip is named instead of explored to a bound.
        self.flapping: dict[str, str] = {}

    # --- building one ------------------------------------------------------------------------

    @classmethod
    def bootstrap(
        cls,
        pools: Sequence[Pool] | None,
        services: Mapping[str, Manifest] | Sequence[Manifest],
        behavior: str = Behavior.METALLB_0_15,
        *,
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
        pool_order: PoolOrder | None = None,
        pass_order: Sequence[str] | None = None,
        max_steps: int = 1000,
        lb_class: str | None = "",
    ) -> SimulatedCluster:
        """A controller (re)start on live state: read the pools, reprocess all, settle.

        The Services' statuses become the allocator's state the way a restarted controller
        rebuilds it: each Service's current IPs are re-assigned, those with IPs first.
        `lb_class`: the controller's --lb-class (None: the Services are MetalLB's already).
        """
        controller = Controller(
            None,
            behavior,
            namespaces=namespaces,
            pool_order=pool_order,
            shares_manifests=True,
            lb_class=lb_class,
        )
        cluster = cls(controller)
        cluster.initial_load_performed = False
        items = services.values() if isinstance(services, Mapping) else services
        for manifest in items:
            key = svc_key_of(manifest)
            cluster.store[key] = cluster._with_cluster_ips(copy_manifest(manifest), None)
            controller.observe(key, cluster.store[key])
            cluster._record(key, "bootstrap")
        if controller.set_pools(pools) == REPROCESS_ALL:
            cluster._enqueue(RELOAD)
        cluster.process_next(Process(tuple(pass_order) if pass_order else None))
        cluster.settle(max_steps)
        return cluster

    def copy(self) -> SimulatedCluster:
        """An independent copy (store, queue, controller and history) to explore a branch."""
        twin = copy.copy(self)
        twin.controller = self.controller.copy()
        # Stored manifests are replaced, never changed in place: the dict is all to copy.
        twin.store = dict(self.store)
        twin.queue = list(self.queue)
        twin._queued = None
        # Records, events and results are never changed once logged: copying the lists will do.
        twin.history = {key: list(records) for key, records in self.history.items()}
        twin.events = self.events.copy()
        twin.handled = list(self.handled)
        twin._pending = {key: list(writes) for key, writes in self._pending.items()}
        twin._pending_keys = list(self._pending_keys)
        twin.flapping = dict(self.flapping)
        return twin

    def snapshot(self) -> SimulatedCluster:
        """The whole state, to `restore` later (a frozen copy; keep it, do not change it)."""
        return self.copy()

    def restore(self, snapshot: SimulatedCluster) -> None:
        """Go back to a state taken with `snapshot` (the snapshot stays reusable)."""
        self.__dict__.update(snapshot.copy().__dict__)

    # --- the caller's choices ----------------------------------------------------------------

    def set_pools(self, pools: Sequence[Pool] | None) -> None:
        """A pool or community event with these pools: the pool reconciler renders the
        configuration and, unless it ignores it as unchanged (Controller.config_event, per
        release), hands it to the controller, which reprocesses every Service."""
        self.step += 1
        if self.controller.config_event(pools) == REPROCESS_ALL:
            self._enqueue(RELOAD)

    def set_namespaces(self, namespaces: Mapping[str, Mapping[str, str]]) -> None:
        """A Namespace event (create, delete, label change): every namespace and its labels now.
        Up to v0.15.2 (metallb-0.14, IPv4 CIDRs) it reprocesses every Service; v0.15.3 only when
        the namespaces some pool's namespaceSelectors select change."""
        self.step += 1
        if self.controller.config_event(self.controller.pools, namespaces) == REPROCESS_ALL:
            self._enqueue(RELOAD)

    def touch_pools(self) -> None:
        """A pool or community event that leaves the configuration as it is (a Community added,
        a pool's spec rewritten alike): reprocesses every Service only up to v0.15.2."""
        self.set_pools(self.controller.pools)

    def restart(self) -> None:
        """The controller restarts: an empty allocator, the configuration read again and a
        reprocess-all pass queued (Services with IPs first, so they rebuild the allocator from
        their statuses); Service events are dropped until a pass ends without a retry. Then
        `settle()` or `process_next()` as usual; stored objects and pending writes stay."""
        self.step += 1
        pools = self.controller.pools
        self.controller = self.controller.restarted()
        for key, svc in self.store.items():
            self.controller.observe(key, svc)
        # The informer's initial list queues every Service too: dropped by the gate, or handled
        # after the pass like any event; only the reload request is modelled.
        self.queue = []
        self.initial_load_performed = False
        if self.controller.set_pools(pools) == REPROCESS_ALL:
            self._enqueue(RELOAD)

    def submit(self, svc_key: str, manifest: Manifest | None) -> None:
        """Queue a write that has not arrived yet; `Arrive(svc_key)` delivers it, in submit order."""
        writes = self._pending.setdefault(svc_key, [])
        if not writes:
            bisect.insort(self._pending_keys, svc_key)
        writes.append(copy_manifest(manifest))

    def pending_writes(self) -> list[str]:
        """Services with writes submitted but not arrived, sorted."""
        return list(self._pending_keys)

    def arrive(self, svc_key: str, manifest: Manifest | None) -> None:
        """A write reaches the API server now: store it, tell the informer, queue the key."""
        self.step += 1
        if manifest is None:
            self.store.pop(svc_key, None)
        else:
            self.store[svc_key] = self._merged(svc_key, manifest)
        self.controller.observe(svc_key, self.store.get(svc_key))
        self._record(svc_key, "arrive")
        self._enqueue(svc_key)

    def apply(self, action: Action) -> Handled | None:
        """Carry out one step of a schedule."""
        if isinstance(action, Arrive):
            writes = self._pending.get(action.svc_key)
            if not writes:
                raise ValueError(f"no pending write for {action.svc_key}")
            manifest = writes.pop(0)
            if not writes:
                self._pending_keys.remove(action.svc_key)
            self.arrive(action.svc_key, manifest)
            return None
        return self.process_next(action)

    def process_next(self, action: Process | None = None) -> Handled | None:
        """The controller handles the head of its queue (None when the queue is empty)."""
        if not self.queue:
            return None
        item = self._dequeue()
        self.step += 1
        if item == RELOAD:
            chosen = tuple(action.pass_order or ()) if action else ()
            results = self._reprocess_all(self._pass_order(chosen))
        elif not self.initial_load_performed:
            results = ()  # reconcileService returns at once: no reprocess-all pass finished yet
        else:
            results = ((item, self._handle(item)),)
        handled = Handled(self.step, item, results)
        self.handled.append(handled)
        return handled

    def _pass_order(self, chosen: tuple[str, ...]) -> Sequence[str]:
        """The chosen order, then the Services it leaves out (MetalLB lists all) by default."""
        default = self.pass_orders()[0]
        if not chosen:
            return default
        listed = set(chosen)
        if listed.issuperset(default):
            return chosen  # (checked in C: usually the chosen order names every Service)
        return [*chosen, *(k for k in default if k not in listed)]

    def settle(self, max_steps: int = 1000) -> bool:
        """Process until the queue is empty; False if it is still busy after `max_steps` steps."""
        for _ in range(max_steps):
            if not self.queue:
                return True
            self.process_next()
        return not self.queue

    def options(self, explore_ties: bool = False) -> list[Action]:
        """Every step that could come next: an arrival of each pending write, or processing."""
        actions: list[Action] = [Arrive(k) for k in self._pending_keys]
        if self.queue:
            if self.queue[0] == RELOAD and explore_ties:
                actions.extend(Process(order) for order in self.pass_orders(all_ties=True))
            else:
                actions.append(Process())
        return actions

    def option_count(self, explore_ties: bool = False) -> int:
        """len(options(explore_ties)), without building them."""
        count = len(self._pending_keys)
        if self.queue:
            if self.queue[0] == RELOAD and explore_ties:
                orders = self._tie_order_count()
                count += 2 if orders > MAX_PASS_ORDERS else orders
            else:
                count += 1
        return count

    def option(self, index: int, explore_ties: bool = False) -> Action:
        """options(explore_ties)[index], building only that one (a random run draws an index)."""
        arrivals = len(self._pending_keys)
        if index < arrivals:
            return Arrive(self._pending_keys[index])
        if not self.queue or index >= self.option_count(explore_ties):
            raise IndexError(f"no option {index}")
        if self.queue[0] == RELOAD and explore_ties:
            return Process(self.pass_orders(all_ties=True)[index - arrivals])
        return Process()

    def ties_cut(self) -> bool:
        """Whether `options(explore_ties=True)` leaves reprocess-all orders out now (more than
        MAX_PASS_ORDERS orders among ties: only sorted and reversed are offered)."""
        if not self.queue or self.queue[0] != RELOAD:
            return False
        return self._tie_order_count() > MAX_PASS_ORDERS

    def _tie_order_count(self) -> int:
        """How many orders a reprocess-all pass may take now (every order among ties)."""
        total = 1
        for group in self._ties():
            total *= math.factorial(len(group))
        return total

    def _ip_count(self, svc_key: str) -> int:
        """How many ingress IPs the stored Service shows (counted once per stored manifest)."""
        svc = self.store[svc_key]
        counted = self._ip_counts.get(svc_key)
        if counted is not None and counted[0] is svc:
            return counted[1]
        count = len(ingress_ips(svc))
        self._ip_counts[svc_key] = (svc, count)
        return count

    def pass_orders(self, all_ties: bool = False) -> list[tuple[str, ...]]:
        """Orders a reprocess-all pass may take now: most ingress IPs first, ties in any order.

        The first is the default (ties by key). With `all_ties`, every order among ties, unless
        there are more than MAX_PASS_ORDERS: then the default and the one with ties reversed.
        """
        ties = self._kept()
        groups, default = ties.groups, ties.default()
        if not all_ties:
            return [default]
        count = 1
        for g in groups:
            count *= math.factorial(len(g))
        if count > MAX_PASS_ORDERS:
            return [default, ties.reverse()]
        return [
            tuple(k for g in combo for k in g)
            for combo in itertools.product(*(itertools.permutations(g) for g in groups))
        ]

    def fingerprint(self, manifest_id: Callable[[Manifest], Hashable]) -> Hashable:
        """The state as a hashable value, equal for two clusters whose futures (every schedule
        from here, and the facts below at its end) are the same: stored manifests, writes not
        arrived, the queue, the next cluster IP, the controller's state, and per Service the
        part of its history the facts read (its first IPs; whether it went pending). Not the
        step count, events or handled items: they are logged, never read by a later step.
        Made of the part no one Service owns and each Service's part (a state explorer that
        renames Services takes them one by one)."""
        return (
            self.shared_fingerprint(),
            frozenset(self.service_fingerprint(k, manifest_id) for k in self.fingerprint_keys()),
        )

    def shared_fingerprint(self) -> Hashable:
        """The part of `fingerprint` no one Service owns: the queue, the next cluster IP, whether
        the first pass was performed, the controller's (keys and ports per IP)."""
        return (
            tuple(self.queue),
            self._next_cluster_ip,
            self.initial_load_performed,
            self.controller.shared_fingerprint(),
        )

    def service_fingerprint(
        self, svc_key: str, manifest_id: Callable[[Manifest], Hashable]
    ) -> ServicePart:
        """One Service's part of `fingerprint`: its key, its stored manifest, its writes not
        arrived, the controller's part, its history's summary (first IPs, went pending; None
        without history) and whether it flaps (manifests by `manifest_id`, None where absent)."""
        svc = self.store.get(svc_key)
        writes = self._pending.get(svc_key)
        records = self.history.get(svc_key)
        summary = None
        if records is not None:
            first = next((r.ips for r in records if r.ips), ())
            summary = (first, bool(first) and self.went_pending(svc_key))
        return ServicePart(
            svc_key,
            None if svc is None else manifest_id(svc),
            tuple(None if m is None else manifest_id(m) for m in writes) if writes else (),
            self.controller.service_fingerprint(svc_key, manifest_id),
            summary,
            svc_key in self.flapping,
        )

    def fingerprint_keys(self) -> set[str]:
        """The Services `fingerprint` holds a part of: any the state says something about."""
        keys = self.store.keys() | self.history.keys() | self.flapping.keys()
        keys.update(k for k, writes in self._pending.items() if writes)
        return keys | self.controller.fingerprint_keys()

    # --- observable facts --------------------------------------------------------------------

    def ips(self, svc_key: str) -> tuple[str, ...]:
        """The Service's ingress IPs now (() pending or absent)."""
        svc = self.store.get(svc_key)
        return ingress_ips(svc) if svc else ()

    def went_pending(self, svc_key: str) -> bool:
        """Its status went from some IPs to none while it was a LoadBalancer (an outage)."""
        return bool(self._outages(svc_key))

    def pending_steps(self, svc_key: str) -> int:
        """For how many steps it was pending after having had an IP (the outage window)."""
        return sum(end - start for start, end in self._outages(svc_key))

    def _outages(self, svc_key: str) -> list[tuple[int, int]]:
        """(from step, to step) of every stretch pending after having had IPs."""
        records = self.history.get(svc_key, [])
        stretches = []
        had_ips = False
        for index, record in enumerate(records):
            if record.outage and had_ips:
                end = records[index + 1].step if index + 1 < len(records) else self.step
                stretches.append((record.step, max(end, record.step + 1)))
            had_ips = had_ips or bool(record.ips)
        return stretches

    def stuck_at_end(self, svc_key: str) -> bool:
        """It is a LoadBalancer Service without an IP now."""
        svc = self.store.get(svc_key)
        return svc is not None and is_load_balancer(svc) and not ingress_ips(svc)

    def changed_ip(self, svc_key: str) -> bool:
        """It has IPs now, and they are not the ones it first had. A Service that never settles
        (`flapping`) changed IP only when neither status holds the other (it flips between one
        IP and the same IP with one of the other family)."""
        first = next((r.ips for r in self.history.get(svc_key, []) if r.ips), ())
        now = self.ips(svc_key)
        if svc_key in self.flapping:
            return (
                bool(first) and bool(now) and not (set(now) <= set(first) or set(first) <= set(now))
            )
        return bool(first) and bool(now) and set(now) != set(first)

    def stuck_until(self, svc_key: str) -> str:
        """What re-processes it while it is stuck (Controller.stuck_until's words), else ""."""
        if not self.stuck_at_end(svc_key):
            return ""
        return stuck_until(self.controller.behavior, self.controller.pools)

    def warnings(self, svc_key: str) -> Sequence[str]:
        """Every warning event raised on the Service, in order (each text printed when read)."""
        return EventTexts(self.events.warnings_of(svc_key), svc_key)

    def statuses(self, svc_key: str) -> list[tuple[str, ...]]:
        """Every status the Service had, in order (() for pending)."""
        return [r.ips for r in self.history.get(svc_key, [])]

    # --- internals -------------------------------------------------------------------------

    def _handle(self, svc_key: str) -> Result:
        # The controller copies what it keeps and never changes its argument: no copy here.
        result = self.controller.set_balancer(svc_key, self.store.get(svc_key))
        self._log(result.events)
        # The reload request is queued as the handler returns; the watch events of its own
        # writes come back through the API server, so after it.
        if result.state == REPROCESS_ALL:
            self._enqueue(RELOAD)
        elif result.state == ERROR:
            self._enqueue(svc_key)
        self._store_writes(svc_key, result)
        return result

    def _reprocess_all(self, order: Sequence[str]) -> Sequence[tuple[str, Result]]:
        """A reprocess-all pass in this order: the controller's quiet Services (their answer is
        known: Controller.answer_quiet) are answered in bulk, runs of pending ones refused for
        one IP together (Controller.refuse_together), the others handed over one by one, in
        the same order; a Service woken by a handling is handed over when its turn comes."""
        controller = self.controller
        quiet, refusing = controller.quiet_in(self.store), controller.refusing()
        position = dict(zip(order, itertools.count()))
        if len(position) != len(order) or len(quiet) + len(refusing) < QUIET_PASS_MIN:
            return self._reprocess_each(order)  # (an order naming a Service twice: as it is)
        # The positions to hand over (not quiet), in order; the rest between two of them are
        # answered together, so a pass costs its handlings, not its Services. Services a
        # handling wakes are due too (a heap: a few per pass); a run of pending members joined
        # at once is skipped in `due` by its length, not popped one by one.
        due = sorted(map(position.__getitem__, position.keys() - quiet.keys()))
        next_due, woken_due = 0, list[int]()
        results: list[tuple[str, Result] | Refusals | SameAnswers] = []
        retry = False
        woken = controller.watch_quiet()
        done = 0
        # (Bound once: a pending member of a large group is handed over on every pass.)
        store, logged, step = self.store, self.events, self.step
        refused_answer = controller.refused_answer
        # Pending Services refused together: a run of `refusing` ones refused the same IP,
        # answered at once when the run ends (nothing they do changes what others read).
        version = controller.allocator.version
        # No refusal was answered on this version: none of `refusing` is at it (checked each
        # only when one may be).
        fresh = version != controller.latest_refusal
        together: dict[str, Refusing] = {}
        ip = ""
        try:
            while True:
                if woken_due and (next_due == len(due) or woken_due[0] < due[next_due]):
                    at = heapq.heappop(woken_due)
                elif next_due < len(due):
                    at = due[next_due]
                    next_due += 1
                else:
                    break
                if at < done:
                    continue  # woken twice
                if at > done:
                    fresh = self._refuse_together(together, results) and fresh
                    self._answer_quiet(order[done:at], results)
                done = at + 1
                key = order[at]
                svc = store.get(key)
                if svc is None:
                    continue
                entry = refusing.get(key)
                if (
                    entry is not None
                    and entry.manifest is svc
                    and (fresh or controller.refused_version(key) != version)
                ):
                    if together and entry.refused.ip != ip:
                        fresh = self._refuse_together(together, results) and fresh
                    ip = entry.refused.ip
                    together[key] = entry
                    # The positions after it that the loop would take here next, one by one:
                    # each is due (see _join_refusing), the next ones in `due` unless woken.
                    joined = self._join_refusing(order, done, together, ip, (fresh, version))
                    done += joined
                    next_due = bisect.bisect_left(due, done, next_due)
                    continue
                fresh = self._refuse_together(together, results) and fresh
                result = refused_answer(key, svc)
                if result is not None:
                    # A refusal: one Warning, no write, nobody woken (_log's work, for one event).
                    fresh = False
                    logged.append((step, result.events[0]))
                    results.append((key, result))
                    continue
                seen = len(woken)
                result = self.handle_listed(key)
                version = controller.allocator.version
                fresh = version != controller.latest_refusal
                results.append((key, result))
                retry = retry or result.state in (REPROCESS_ALL, ERROR)
                for svc_key in woken[seen:]:
                    later = position.get(svc_key, -1)
                    if later >= done:
                        heapq.heappush(woken_due, later)
            self._refuse_together(together, results)
            self._answer_quiet(order[done:], results)
        finally:
            controller.unwatch_quiet()
        self._end_pass(retry)
        return PassResults(results)

    def _join_refusing(
        self,
        order: Sequence[str],
        start: int,
        together: dict[str, Refusing],
        ip: str,
        at: tuple[bool, int],
    ) -> int:
        """Add to `together` the leading keys of `order` from `start` (after one just added)
        that the pass's loop would add next: each `refusing` with its stored manifest, refused
        `ip`, and not at its refused version (`at`: the loop's `fresh` and allocator version).
        How many; the loop then skips their positions. (Nothing is handed over in between, so
        nothing they read changes: a pending member costs a few lookups here, not a turn of the
        loop.)

        Each is due next, in order, unchecked: a `refusing` Service is never quiet, and only
        its own handling (which this pass has not come to) makes it refusing, so it was not
        quiet when the pass began. Its stored manifest is checked for a caller who replaced it
        by hand: the cluster's own writes drop it from `refusing` (observe wakes it)."""
        held = self._standing(order, start, ip, at)
        together.update(zip(held.keys, held.entries, strict=True))
        joined = len(held.keys)
        store, controller = self.store, self.controller
        refusing, (fresh, version) = controller.refusing(), at
        for key in itertools.islice(order, start + joined, None):
            entry = refusing.get(key)
            if (
                entry is None
                or entry.manifest is not store.get(key)
                or entry.refused.ip != ip
                or not (fresh or controller.refused_version(key) != version)
            ):
                break
            together[key] = entry
            joined += 1
        self._held = _HeldRun(ip, tuple(together), tuple(together.values()))
        return joined

    def _standing(
        self, order: Sequence[str], start: int, ip: str, at: tuple[bool, int]
    ) -> _HeldRun:
        """The run the last pass joined, when it stands again at `start` (before it, or its
        first key just added): each of its keys next in `order`, `refusing` with the very entry
        it had (so refused `ip`) and its stored manifest. _join_refusing's checks, made in C
        for the whole run (a group changing its key one member at a time meets the same
        pending members, plus one, on every pass); an empty run when any fails (each is checked
        by itself then). Unless `fresh`, they must have been refused together on another
        version."""
        held, controller, (fresh, version) = self._held, self.controller, at
        if held is None or held.ip != ip:
            return _NO_RUN
        keys, entries = held.keys, held.entries
        if start and order[start - 1] == keys[0]:
            keys, entries = keys[1:], entries[1:]
        count = len(keys)
        if (
            not count
            or tuple(order[start : start + count]) != keys
            or not all(map(operator.is_, map(controller.refusing().get, keys), entries))
            or not all(map(operator.is_, map(self.store.get, keys), map(_MANIFEST, entries)))
            or not (fresh or controller.refused_before(keys, version))
        ):
            return _NO_RUN
        return _HeldRun(ip, keys, entries)

    def _refuse_together(
        self,
        together: dict[str, Refusing],
        results: list[tuple[str, Result] | Refusals | SameAnswers],
    ) -> bool:
        """Answer a run of refused Services (emptied after): one log entry for their Warning
        events, one for their results. False when it answered any (a refusal was answered on
        this version)."""
        if not together:
            return True
        refusals = self.controller.refuse_together(together)
        self.events.add_refusals(self.step, refusals)
        results.append(refusals)
        together.clear()
        return False

    def _answer_quiet(
        self, keys: Sequence[str], results: list[tuple[str, Result] | Refusals | SameAnswers]
    ) -> None:
        """These quiet Services' handlings, as handle_listed would have done them: no event and
        no write to log or store, each answering success (one Result for the pass's quiet ones)."""
        if keys:
            self.controller.answer_quiet(keys)
            results.append(SameAnswers(keys, Result(SUCCESS)))

    def _reprocess_each(self, order: Sequence[str]) -> tuple[tuple[str, Result], ...]:
        results = []
        for key in order:
            if key not in self.store:
                continue
            results.append((key, self.handle_listed(key)))
        self.end_pass(results)
        return tuple(results)

    # A reprocess-all pass one Service at a time (the state explorer chooses each next one):
    # begin_pass, handle_listed per Service, end_pass; the same as process_next's pass.

    def begin_pass(self) -> list[list[str]]:
        """Take RELOAD off the head of the queue; the pass's tie groups (most ingress IPs
        first, each sorted), which the Services must be handled in, each group in any order."""
        if not self.queue or self.queue[0] != RELOAD:
            raise ValueError("no reprocess-all pass at the head of the queue")
        self._dequeue()
        self.step += 1
        return self._tie_groups()

    def handle_listed(self, svc_key: str) -> Result:
        """One Service of a reprocess-all pass handed to the controller, its writes stored."""
        result = self.controller.set_balancer(svc_key, self.store[svc_key])
        # Most handings of a pass repeat an answer with no event and no write: nothing to log.
        if result.events:
            self._log(result.events)
        if result.service is not None or result.group_writes:
            self._store_writes(svc_key, result)
        return result

    def _log(self, events: Sequence[Event]) -> None:
        """Log a handling's events (each Service's warnings are read from the log)."""
        if not events:
            return  # most handlings raise none
        step = self.step
        self.events.extend([(step, e) for e in events])

    def _store_writes(self, svc_key: str, result: Result) -> None:
        """Store what one handling wrote: the Service's status and its group's writes, by key."""
        writes = dict(result.group_writes)
        if result.service is not None:
            writes[svc_key] = result.service
        for written in sorted(writes):
            self._store_write(written, writes[written])

    def end_pass(self, results: Sequence[tuple[str, Result]]) -> None:
        """The pass is over: RELOAD again when any Service asked for it (or failed); else the
        initial load is done (Service events are handled from now on)."""
        self._end_pass(any(r.state in (REPROCESS_ALL, ERROR) for _, r in results))

    def _end_pass(self, retry: bool) -> None:
        if retry:
            self._enqueue(RELOAD)
        else:
            self.initial_load_performed = True

    def log_pass(self, results: Sequence[tuple[str, Result]]) -> None:
        """Log a pass carried out with begin_pass/handle_listed/end_pass, as process_next does."""
        self.handled.append(Handled(self.step, RELOAD, tuple(results)))

    def _tie_groups(self) -> list[list[str]]:
        return [list(group) for group in self._ties()]

    def _ties(self) -> tuple[tuple[str, ...], ...]:
        """The stored Services by number of ingress IPs, most first, each tie sorted."""
        return self._kept().groups

    def _kept(self) -> _Ties:
        """The tie groups, kept while the store holds the very same keys and manifests (a step
        with a pass at the head of the queue asks three times: how many options, which one, then
        the pass's default order), and updated for the Services whose manifest was replaced
        (a pass comes after a few writes: counting every Service again grew with the store).
        Checked by identity, in C: the store is a public dict, which a caller may change."""
        store = self.store
        kept = self._kept_ties
        if (
            kept is None
            or len(kept.keys) != len(store)
            or not all(map(operator.is_, kept.keys, store))
        ):
            kept = self._kept_ties = self._counted_ties()
            return kept
        manifests = tuple(store.values())
        replaced = list(
            itertools.compress(kept.keys, map(operator.is_not, kept.manifests, manifests))
        )
        if not replaced:
            return kept
        counts = kept.counts
        moved = [key for key in replaced if self._ip_count(key) != counts[key]]
        if not moved:
            kept = _Ties(kept.keys, manifests, counts, kept.groups, kept._default, kept._reverse)
        else:
            counts = dict(counts)
            counts.update((key, self._ip_count(key)) for key in moved)
            kept = _Ties(
                kept.keys, manifests, counts, _regrouped(kept.groups, kept.counts, counts, moved)
            )
        self._kept_ties = kept
        return kept

    def _counted_ties(self) -> _Ties:
        """The tie groups counted afresh from every stored Service."""
        store = self.store
        counts = {key: self._ip_count(key) for key in store}
        by_count: dict[int, list[str]] = {}
        for key in sorted(store):
            by_count.setdefault(counts[key], []).append(key)
        groups = tuple(tuple(by_count[n]) for n in sorted(by_count, reverse=True))
        return _Ties(tuple(store), tuple(store.values()), counts, groups)

    def _store_write(self, svc_key: str, written: Manifest) -> None:
        """The controller's status update: status and annotations replace the stored ones."""
        stored = self.store.get(svc_key)
        if stored is None:
            return  # deleted meanwhile: the update would fail with NotFound
        # Only the dicts that change are new; the rest is shared (stored manifests never change).
        merged = dict(stored)
        merged["status"] = copy_manifest(written.get("status") or {})
        annotations = (written.get("metadata") or {}).get("annotations")
        merged["metadata"] = {
            **(stored.get("metadata") or {}),
            "annotations": copy_manifest(annotations or {}),
        }
        if merged == stored:
            return
        self.store[svc_key] = merged
        self.controller.observe(svc_key, merged)
        self._record(svc_key, "controller")
        cause = never_settles(self.controller.behavior, merged)
        if cause:
            # Its next handling would undo this write and the one after redo it, for ever.
            self.flapping[svc_key] = cause
            return
        self._enqueue(svc_key)

    def _enqueue(self, item: str) -> None:
        """Queue a key unless it is waiting already (the work queue de-duplicates)."""
        queue = self.queue
        queued = self._queued_keys()
        if queued is None:
            if item not in queue:
                queue.append(item)
            return
        if item not in queued:
            queue.append(item)
            queued.add(item)
            self._queued = (queue, len(queue), queued)

    def _dequeue(self) -> str:
        """Take the head of the queue."""
        queued = self._queued_keys()
        item = self.queue.pop(0)
        if queued is not None:
            queued.discard(item)  # (no key is twice in a queue a set was taken of)
            self._queued = (self.queue, len(self.queue), queued)
        return item

    def _queued_keys(self) -> set[str] | None:
        """The keys in the queue as a set (taken again when the list or its length is not the
        one it was taken at); None when a caller queued some key twice."""
        queue, kept = self.queue, self._queued
        if kept is not None and kept[0] is queue and kept[1] == len(queue):
            return kept[2]
        queued = set(queue)
        if len(queued) != len(queue):
            self._queued = None
            return None
        self._queued = (queue, len(queue), queued)
        return queued

    def _record(self, svc_key: str, cause: str) -> None:
        svc = self.store.get(svc_key)
        record = StatusRecord(
            self.step, self.ips(svc_key), cause, svc is not None and is_load_balancer(svc)
        )
        records = self.history.setdefault(svc_key, [])
        last = records[-1] if records else None
        if last is None or (last.ips, last.load_balancer) != (record.ips, record.load_balancer):
            records.append(record)

    def _merged(self, svc_key: str, manifest: Manifest) -> Manifest:
        """A spec write as the API server stores it: status and server-set fields are kept."""
        stored = self.store.get(svc_key)
        merged = copy_manifest(manifest)
        merged.pop("status", None)
        if stored is not None and stored.get("status"):
            merged["status"] = copy_manifest(stored["status"])
        owned = ((stored or {}).get("metadata") or {}).get("annotations") or {}
        meta = merged.setdefault("metadata", {})
        if ALLOCATED_FROM_POOL_ANNOTATION in owned:
            annotations = dict(meta.get("annotations") or {})
            annotations.setdefault(
                ALLOCATED_FROM_POOL_ANNOTATION, owned[ALLOCATED_FROM_POOL_ANNOTATION]
            )
            meta["annotations"] = annotations
        return self._with_cluster_ips(merged, stored)

    def _cluster_family(self) -> str:
        """The family the API server gives a Service stating none: IPv6 when every pool is."""
        pools = self.controller.allocator.pools.values()
        return cluster_family(str(n) for pool in pools for n in pool.networks if n.prefixlen)

    def _with_cluster_ips(self, svc: Manifest, stored: Manifest | None) -> Manifest:
        """Fill clusterIP(s) and families as the API server does: kept, or assigned when new."""
        # `spec: null` reads as no spec, as the API server reads it (a live snapshot may say it).
        spec = svc["spec"] = svc.get("spec") or {}
        old = (stored or {}).get("spec") or {}
        for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if not spec.get(name) and old.get(name):
                spec[name] = copy_manifest(old[name])
        if spec.get("clusterIPs") or spec.get("clusterIP"):
            return svc
        wanted = family(svc, stored, self._cluster_family())
        first_v6 = (spec.get("ipFamilies") or ["IPv4"])[0] == "IPv6"
        v4 = f"10.96.{self._next_cluster_ip // 256}.{self._next_cluster_ip % 256}"
        v6 = str(ipaddress.IPv6Address("fd00:10:96::") + self._next_cluster_ip)
        self._next_cluster_ip += 1
        ips = {"ipv4": [v4], "ipv6": [v6], "dual": [v6, v4] if first_v6 else [v4, v6]}[wanted]
        spec["clusterIPs"] = ips
        spec["clusterIP"] = ips[0]
        spec.setdefault("ipFamilies", ["IPv6" if ":" in ip else "IPv4" for ip in ips])
        spec.setdefault("ipFamilyPolicy", "RequireDualStack" if wanted == "dual" else "SingleStack")
        return svc


def _regrouped(
    groups: tuple[tuple[str, ...], ...],
    before: Mapping[str, int],
    after: Mapping[str, int],
    moved: Sequence[str],
) -> tuple[tuple[str, ...], ...]:
    """The tie groups with the `moved` Services taken from their count's group (`before`) into
    their new one (`after`), each kept sorted; empty groups dropped."""
    by_count = {before[group[0]]: list(group) for group in groups}
    for key in moved:
        by_count[before[key]].remove(key)
        bisect.insort(by_count.setdefault(after[key], []), key)
    return tuple(tuple(by_count[n]) for n in sorted(by_count, reverse=True) if by_count[n])


# --- schedules -----------------------------------------------------------------------------


@dataclass
class Run:
    """One complete schedule and the cluster it left behind."""

    schedule: tuple[Action, ...]
    cluster: SimulatedCluster
    settled: bool = True
    label: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        """The schedule as one line, e.g. "arrive a; process; arrive b; process"."""
        return "; ".join(str(a) for a in self.schedule)


def prepared(cluster: SimulatedCluster, writes: Sequence[ServiceWrite]) -> SimulatedCluster:
    """A copy of the cluster with the writes submitted (not yet arrived)."""
    twin = cluster.copy()
    for svc_key, manifest in writes:
        twin.submit(svc_key, manifest)
    return twin


def explore(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    *,
    explore_ties: bool = False,
    max_steps: int = 200,
) -> Iterator[Run]:
    """Every interleaving of the writes' arrivals (in any order) with the controller's steps.

    Exponential: meant for a handful of writes. A branch longer than `max_steps` is cut and
    yielded with `settled=False`; a run whose path passed a reprocess-all pass whose tie orders
    were cut (see `ties_cut`) carries `extra[TIES_CUT] = True`: its siblings are not all there.
    """
    start = prepared(cluster, writes)
    stack: list[tuple[SimulatedCluster, tuple[Action, ...], bool]] = [(start, (), False)]
    while stack:
        state, schedule, cut = stack.pop()
        actions = state.options(explore_ties)
        if not actions or len(schedule) >= max_steps:
            run = Run(schedule, state, settled=not actions)
            if cut:
                run.extra[TIES_CUT] = True
            yield run
            continue
        cut = cut or (explore_ties and state.ties_cut())
        for action in reversed(actions):
            # The last branch taken from a state may have the state itself: nothing reads it after.
            branch = state if action is actions[0] else state.copy()
            branch.apply(action)
            stack.append((branch, (*schedule, action), cut))


def random_runs(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    seed: int,
    count: int,
    *,
    explore_ties: bool = True,
    max_steps: int = 500,
) -> Iterator[Run]:
    """`count` schedules drawn with a seeded RNG: each step picks uniformly among the options."""
    import random  # imported by the runs that draw (start-up: a small diff never does)

    rng = random.Random(seed)
    # One prepared start, copied per run: submitting copies every write, and no run changes it.
    start = prepared(cluster, writes)
    for index in range(count):
        state = _started(cluster, writes, start)
        schedule: list[Action] = []
        while len(schedule) < max_steps:
            count = state.option_count(explore_ties)
            if not count:
                break
            # rng.choice over range(count) draws as rng.choice(state.options(...)) would (one
            # _randbelow(count)): the same schedules, without building every option each step.
            action = state.option(rng.choice(range(count)), explore_ties)
            state.apply(action)
            schedule.append(action)
        settled = not state.option_count()
        yield Run(tuple(schedule), state, settled, label=f"random #{index} seed {seed}")


def replay(
    cluster: SimulatedCluster, writes: Sequence[ServiceWrite], schedule: Sequence[Action]
) -> Run:
    """Carry out a given schedule on a copy of the cluster (then settle what is left)."""
    state = prepared(cluster, writes)
    for action in schedule:
        state.apply(action)
    settled = state.settle()
    return Run(tuple(schedule), state, settled and not state.pending_writes())


def one_at_a_time(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    max_steps: int = 1000,
    *,
    start: SimulatedCluster | None = None,
) -> Run:
    """Each write arrives only once the controller is idle (fully processed), in the given order."""
    state = _started(cluster, writes, start)
    schedule: list[Action] = []
    settled = True
    for svc_key, _ in writes:
        _apply(state, schedule, Arrive(svc_key))
        settled = _drain(state, schedule, max_steps) and settled
    return Run(tuple(schedule), state, settled, label="one at a time")


def all_at_once(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    max_steps: int = 1000,
    *,
    start: SimulatedCluster | None = None,
) -> Run:
    """Every write arrives before the controller handles any of them, in the given order."""
    state = _started(cluster, writes, start)
    schedule: list[Action] = []
    for svc_key, _ in writes:
        _apply(state, schedule, Arrive(svc_key))
    settled = _drain(state, schedule, max_steps)
    return Run(tuple(schedule), state, settled, label="all at once")


def before_reprocess(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    max_steps: int = 1000,
    *,
    start: SimulatedCluster | None = None,
) -> Run:
    """Each next write arrives as soon as the previous one's own event was handled, so before
    any reprocess-all pass it caused (the window in which v0.14 can recover by luck)."""
    state = _started(cluster, writes, start)
    schedule: list[Action] = []
    for svc_key, _ in writes:
        _apply(state, schedule, Arrive(svc_key))
        while state.queue and state.queue[0] != RELOAD and len(schedule) < max_steps:
            _apply(state, schedule, Process())
    settled = _drain(state, schedule, max_steps)
    return Run(tuple(schedule), state, settled, label="before reprocess")


def adversarial_runs(
    cluster: SimulatedCluster, writes: Sequence[ServiceWrite], max_steps: int = 1000
) -> Iterator[Run]:
    """The named schedules that expose the known races, in the given order and reversed."""
    for ordering in (list(writes), list(reversed(writes))):
        # One prepared start per ordering (a Service's writes are submitted in its order).
        start = prepared(cluster, ordering)
        for strategy in (one_at_a_time, all_at_once, before_reprocess):
            yield strategy(cluster, ordering, max_steps, start=start)


def _started(
    cluster: SimulatedCluster, writes: Sequence[ServiceWrite], start: SimulatedCluster | None
) -> SimulatedCluster:
    """A copy of `start` (`prepared(cluster, writes)`, shared by several runs), else prepared."""
    return prepared(cluster, writes) if start is None else start.copy()


def _apply(state: SimulatedCluster, schedule: list[Action], action: Action) -> None:
    state.apply(action)
    schedule.append(action)


def _drain(state: SimulatedCluster, schedule: list[Action], max_steps: int) -> bool:
    while state.queue and len(schedule) < max_steps:
        _apply(state, schedule, Process())
    return not state.queue
