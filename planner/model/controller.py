"""MetalLB's controller, one Service event at a time: SetBalancer / convergeBalancer / SetPools.

Facts from metallb/metallb `controller/main.go` (SetBalancer, SetPools), `controller/service.go`
(convergeBalancer, clearServiceState, allocateIPs, getDesiredLbIPs) and
`internal/k8s/controllers/service_controller.go` (what each sync state makes the queue do); our
own code. Behaviours:

- `metallb-0.15` is v0.15.3: a change of a Service's allocation key (backend key + sharing key,
  joined as one string) answers `reprocess_all` (PR #2692, issue #2403); RequireDualStack with
  fewer than two cluster IPs fails.
- `metallb-0.14` is v0.14.9: the same without those two rules (and its allocator's v0.14.9 mode).
- `fixed`: metallb-0.15 plus the group-transition rule of group-transitions.md.
`RELEASES` names the exact release of each; docs/model.md lists every difference. Per release
too: which config events re-process every Service (`config_event`, `stuck_until`) and which
Service MetalLB never settles (`never_settles`).

    >>> c = Controller(pools, behavior="metallb-0.15")
    >>> r = c.set_balancer("dns/dns-tcp", manifest)
    >>> r.state, r.service["status"], r.warnings
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import itertools
import operator
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Self, cast

from planner.model.allocator import AllocationError, Allocator, ErrorKind, Pool, PoolOrder, Port
from planner.model.events import Event as Event  # noqa: PLC0414 - importers find it here
from planner.model.events import HolderNames, Refusals
from planner.model.events import Result as Result  # noqa: PLC0414 - as Event
from planner.model.pools import NAMESPACE_NAME_LABEL
from planner.model.service import (
    ALLOCATED_FROM_POOL_ANNOTATION,
    DEPRECATED_PREFIX,
    GROUP_ANNOTATION,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    ServiceInputError,
    annotation,
    backend_key,
    handled_by_metallb,
    has_cluster_ip,
    ingress_ips,
    ip_family_of,
    is_load_balancer,
    ports,
    requested_ips,
    requested_pool,
    sharing_key,
)
from planner.objects import Manifest


class Behavior(StrEnum):
    """The MetalLB behaviours the controller reproduces (see the module docstring).

    A StrEnum: each member equals its string, so callers may pass and compare plain strings.
    """

    METALLB_0_14 = "metallb-0.14"
    METALLB_0_15 = "metallb-0.15"
    FIXED = "fixed"


# The exact MetalLB release each behaviour reproduces; reports name it wherever the behaviour is.
RELEASES: dict[str, str] = {
    Behavior.METALLB_0_14.value: "MetalLB v0.14.9",
    Behavior.METALLB_0_15.value: "MetalLB v0.15.3",
    Behavior.FIXED.value: "MetalLB v0.15.3 with the fixed group transition",
}


def release_of(behavior: str) -> str:
    """The exact MetalLB release a behaviour reproduces ("MetalLB v0.14.9" for metallb-0.14)."""
    return RELEASES[str(behavior)]


def release_note(behavior: str) -> str:
    """The release in parentheses, " (MetalLB v0.14.9)", for a report heading naming the behaviour; "" for an unknown one."""
    release = RELEASES.get(str(behavior))
    return f" ({release})" if release else ""


# How long a Service the controller left pending stays so, when nothing touches it. Up to
# v0.15.2 the allocator rewrites the cached configuration's IPv4 CIDRs in place (poolCount and
# getIPFromCIDR hand the pool's *net.IPNet to ipaddr.NewPrefix, which sets n.IP = n.IP.To16()),
# so the pool reconciler's "configuration did not change" check (reflect.DeepEqual against a
# freshly parsed config, whose IPv4 CIDRs are 4 bytes) never holds: every Namespace, pool or
# community event re-processes every Service. v0.15.3 copies the CIDR (copyCIDR) and ignores them.
STUCK_UNTIL_ANY_CONFIG_EVENT = (
    "until the next Namespace or pool change, a controller restart, or a nudge"
)
STUCK_UNTIL_NUDGE = "until a nudge or restart"


def rewrites_cached_config(behavior: str) -> bool:
    """Whether the behaviour's release rewrites its cached pool CIDRs in place (v0.14.9 and
    v0.15.0-v0.15.2 do; v0.15.3, hence metallb-0.15 and fixed, does not)."""
    return str(behavior) == Behavior.METALLB_0_14.value


def config_check_never_holds(behavior: str, pools: Sequence[Pool] | None) -> bool:
    """Whether the pool reconciler's "configuration did not change" check always fails: the
    release rewrites its cached CIDRs and some pool has an IPv4 entry written as a CIDR (Go's
    net.ParseCIDR gives it 4 bytes; a `start-end` range is summarised into 16-byte prefixes,
    which To16 leaves alone, as it leaves IPv6)."""
    return rewrites_cached_config(behavior) and any(
        "-" not in entry and ":" not in entry for pool in pools or () for entry in pool.cidrs
    )


def stuck_until(behavior: str, pools: Sequence[Pool] | None) -> str:
    """What re-processes a Service left pending under this behaviour and configuration:
    STUCK_UNTIL_ANY_CONFIG_EVENT where the config check never holds, else STUCK_UNTIL_NUDGE
    (a change of the rendered configuration re-processes every Service in every release)."""
    if config_check_never_holds(behavior, pools):
        return STUCK_UNTIL_ANY_CONFIG_EVENT
    return STUCK_UNTIL_NUDGE


def never_settles(behavior: str, svc: Manifest) -> str:
    """Why MetalLB never settles a Service whose status it just wrote, or "" when it may.

    v0.15.0+ (not metallb-0.14): a single-stack PreferDualStack Service written with two IPs of
    both families is cleared on its next handling (serviceFamilyChanged: a dual LB family on
    single-family cluster IPs), gets one IP of its family (PR #2726), and then one of the other
    family again from the same pool (AllocateFromPoolForAdditionalFamily): it flips for ever.
    """
    if str(behavior) == Behavior.METALLB_0_14.value or _family_policy(svc) != "PreferDualStack":
        return ""
    try:
        lb_family = ip_family_of([ip for ip in ingress_ips(svc) if _valid_ip(ip)])
        svc_family = ip_family_of(_cluster_ips(svc))
    except ValueError:
        return ""
    if lb_family != "dual" or svc_family == "dual":
        return ""
    return (
        f"{release_of(behavior).split(' with ')[0]} never settles it: a single-stack "
        "PreferDualStack Service on a pool with both families flips between one and two IPs "
        "(convergeBalancer adds the missing family, then serviceFamilyChanged clears both IPs "
        "of a single-stack Service), until another Service takes the pool's last free IP of "
        "the other family"
    )


# The members' plain strings, in the same order: callers hand BEHAVIORS to click.Choice, which
# matches Enum choices by NAME ("FIXED"), and to yaml.safe_dump, which refuses str subclasses.
BEHAVIORS: tuple[str, ...] = tuple(b.value for b in Behavior)
# The MetalLB a cluster is assumed to run unless told (`--target`, a plan's `target`).
DEFAULT_TARGET: str = Behavior.METALLB_0_15.value

SUCCESS = "success"
ERROR = "error"
ERROR_NO_RETRY = "error_no_retry"
REPROCESS_ALL = "reprocess_all"

# What an IP remembers of its holder; an unallocated Service has the zero key, as in Go.
NO_KEY = ("", "")

_ATOMS = (str, int, float, bool, type(None))


def copy_manifest(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars), much faster than copy.deepcopy.

    Manifests are copied on every simulated step; anything that is not a plain dict, list or
    scalar (a YAML timestamp, a subclass) is handed to copy.deepcopy unchanged in meaning.
    """
    kind = type(value)
    if kind is dict:
        return {key: copy_manifest(item) for key, item in value.items()}
    if kind is list:
        return [copy_manifest(item) for item in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


class _Converge:
    """The events and the allocator calls of one convergeBalancer run."""

    def __init__(self, svc_key: str) -> None:
        self.svc_key = svc_key
        self.events: list[Event] = []

    def info(self, reason: str, message: str, names: HolderNames | None = None) -> None:
        self.events.append(Event(self.svc_key, "Normal", reason, message, names))

    def warn(self, reason: str, message: str, names: HolderNames | None = None) -> None:
        self.events.append(Event(self.svc_key, "Warning", reason, message, names))


@dataclass(frozen=True)
class _GroupFacts:
    """What a group's cached member manifests (None: not cached) say: ready, and in which order
    a transition converges the members (empty while not ready)."""

    cached: tuple[Manifest | None, ...]
    ready: bool
    order: tuple[str, ...]


class _Repeat(NamedTuple):
    """A handling to repeat without running it: the allocator version it ran on (or left),
    the manifest it read (compared by identity), its answer, whether it re-assigned the
    Service's own allocation (which moves it last in the allocator's walk order), and all of the
    state it read when that is little (see Controller._holding). A named tuple: one is made
    per pending member per pass (a third of a frozen dataclass's cost)."""

    version: int
    manifest: Manifest
    result: Result
    reassigned: bool
    # For a Service that converged with nothing to do: what its handling read (_holding).
    holding: Hashable | None
    # The manifest is one this controller wrote, not one it was handed: a manifest equal to it
    # (the API server's copy of the write) is the same input. See Controller._written.
    written: bool = False


@dataclass(frozen=True)
class _Refused:
    """A handling refused the IPs its Service requests because others hold one under another
    key (see Controller._note_refusal): the manifest it read (compared by identity), the IPs and
    ports it asked for, what it read of the allocator apart from the other holders' names
    (Allocator.sharing_reads), the IP it was refused, and its event's message up to the names."""

    manifest: Manifest
    ips: tuple[str, ...]
    ports: tuple[Port, ...]
    reads: Hashable
    ip: str
    head: str


class Refusing(NamedTuple):
    """A Service whose next handling with `manifest` is the answer of its watched refusal
    (Controller.refusing), and that refusal."""

    manifest: Manifest
    refused: _Refused


# The one answer a quiet Service gives (compared with, never handed out: see Result.copied).
_QUIET_ANSWER = Result(SUCCESS)


class ConvergeError(Exception):
    """convergeBalancer gave up on this Service (MetalLB's ErrConverge)."""


class Controller:
    """The MetalLB controller model: an allocator, the pools, and its informer cache."""

    def __init__(
        self,
        pools: Sequence[Pool] | None = None,
        behavior: str = Behavior.METALLB_0_15,
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
        pool_order: PoolOrder | None = None,
        *,
        shares_manifests: bool = False,
        lb_class: str | None = "",
        remembers: bool = True,
    ) -> None:
        """`shares_manifests`: the caller never changes a manifest it passes in or gets back
        (the simulated cluster replaces its stored ones whole), so none needs copying.
        `remembers`: skip handlings whose answer is known (_set_one, _still_settled); False runs
        every one, for tests that compare the two.
        `lb_class`: MetalLB's `--lb-class` ("" when unset); Services of another class are
        never handed to the controller (service.handled_by_metallb). None: the caller hands
        only Services it has filtered already (planner.diff.scenario), so every one is taken."""
        if behavior not in BEHAVIORS:
            raise ValueError(f"unknown behavior {behavior!r}; expected one of {BEHAVIORS}")
        self.behavior = behavior
        self.lb_class = lb_class
        self._pools: list[Pool] | None = None
        version = "0.14" if behavior == Behavior.METALLB_0_14 else "0.15"
        self._allocator = Allocator([], pool_order=pool_order, version=version)
        # Which quiet Services an allocator call may wake: see _wake_ips.
        self._allocator.track_moves()
        self._namespaces: dict[str, dict[str, str]] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._cache: dict[str, Manifest] = {}
        # Groups whose transition changed nothing: the allocator version after it, the member
        # manifests it read (kept, so compared by identity) and what it read of the allocator
        # (None: more than _group_holding tells). See _set_group_member.
        self._settled: dict[tuple[str, ...], tuple[int, tuple[Manifest, ...], Hashable | None]] = {}
        # Services whose last handling left the allocator as it found it (or only re-assigned
        # their own allocation): what it answered. See _set_one.
        self._unchanged: dict[str, _Repeat] = {}
        # Services left pending because others hold their requested IP under another key: what
        # their refusal read, so it is answered again whenever those reads are as they were,
        # naming the holders of then. See _note_refusal.
        self._refused: dict[str, _Refused] = {}
        # Quiet Services: handed the manifest kept here, a handling is known to answer success
        # with no event and no write, and to re-assign the Service's own allocation (stock) or
        # its settled group's (fixed: `_quiet_members`, with the group and its order). Each is
        # dropped (woken) as soon as something its handling reads may change (see _wake_ips),
        # so a reprocess-all pass hands over only the others (answer_quiet).
        self._quiet: dict[str, Manifest] = {}
        self._quiet_members: dict[str, tuple[Manifest, tuple[str, ...], tuple[str, ...]]] = {}
        # Services whose remembered refusal (_refused) was found to read as it did, and has not
        # been touched since (Allocator.touches): answered again without reading it again. Each
        # with the touches that end that, indexed by touch.
        self._refused_still: dict[str, list[Hashable]] = {}
        # The last _others_named: allocator version, IP, names, allocator.
        self._names_memo: tuple[int, str, HolderNames | None, Allocator] | None = None
        self._refused_watch: dict[Hashable, set[str]] = {}
        # Watched refusals (a subset of _refused_still) whose next answer needs no check beyond
        # the manifest and the version: see refusing. Dropped with the watch.
        self._refusing: dict[str, Refusing] = {}
        # Those whose remembered answer a pass's Refusals holds (not _unchanged yet), and the
        # allocator version of the latest refusal answered: none is at a later version.
        self._refused_in: dict[str, Refusals] = {}
        self.latest_refusal = -1
        # Every member of a group with quiet members, to its group (waking one wakes them all).
        self._quiet_group_of: dict[str, tuple[str, ...]] = {}
        # While a pass watches (watch_quiet): the Services woken, in order.
        self._woken: list[str] | None = None
        self._shares_manifests = shares_manifests
        self._remembers = remembers
        # What each group's members' cached manifests say (readiness, transition order), while
        # they are the same objects: a pure function of them, so copies of the controller share it.
        # With the cache stamp they were checked at: while it is the same, no cached manifest
        # changed, so the facts hold without looking at every member (see _cache_put).
        self._group_memo: dict[tuple[tuple[str, ...], str], tuple[_GroupFacts, object]] = {}
        # A new object whenever a cached manifest changes: one a copy shares only until either
        # changes its cache, so the same stamp means the same cache (copies share _group_memo).
        self._cache_stamp = object()
        # Groups whose settled members were last put at the end of the allocator's walk: its
        # walk_changes right after (see _set_group_member).
        self._walked: dict[tuple[str, ...], int] = {}
        # Logs the state explorer's symmetry reduction reads and empties (planner.simulate.
        # states); the model never reads them, and they are not in the fingerprint. Members of
        # group transitions whose outcome may depend on the order the members were taken in (by
        # name; see _converge_group), and the members each other transition wrote, when it wrote
        # several (their keys are queued in name order: the explorer checks they are alike).
        self.order_sensitive: frozenset[str] = frozenset()
        self.written_together: tuple[frozenset[str], ...] = ()
        # The configuration as the pool reconciler last handed it over (its currentConfig).
        self._config: frozenset[tuple[Pool, frozenset[str]]] | None = None
        self._pool_order = pool_order
        if namespaces:
            self.set_namespaces(namespaces)
        if pools is not None:
            self.set_pools(pools)

    # --- the public surface --------------------------------------------------------------

    @property
    def allocator(self) -> Allocator:
        """The allocator this controller drives (read it; change it only through the controller)."""
        return self._allocator

    @property
    def pools(self) -> list[Pool] | None:
        """The pools in force, or None while no configuration has been read."""
        return None if self._pools is None else list(self._pools)

    def copy(self) -> Controller:
        """An independent copy (allocator state, cache and all), for exploring schedules."""
        twin = copy.copy(self)
        twin._allocator = self._allocator.clone()
        twin._keys = dict(self._keys)
        # Cached manifests are replaced, never changed in place: the dict is all to copy.
        twin._cache = dict(self._cache)
        twin._settled = dict(self._settled)
        twin._unchanged = dict(self._unchanged)
        twin._refused = dict(self._refused)
        twin._quiet = dict(self._quiet)
        twin._quiet_members = dict(self._quiet_members)
        twin._quiet_group_of = dict(self._quiet_group_of)
        twin._refused_still = dict(self._refused_still)
        twin._refusing = dict(self._refusing)
        twin._refused_in = dict(self._refused_in)
        twin._refused_watch = {touch: set(keys) for touch, keys in self._refused_watch.items()}
        twin._woken = None
        twin._walked = dict(self._walked)
        twin._pools = None if self._pools is None else list(self._pools)
        twin._namespaces = dict(self._namespaces)
        return twin

    def restarted(self) -> Controller:
        """The controller process started again: the same flags (behaviour, --lb-class, the
        Go-map pool order) and Namespaces, but nothing allocated, cached or configured yet."""
        return Controller(
            None,
            self.behavior,
            self._namespaces,
            self._pool_order,
            shares_manifests=self._shares_manifests,
            lb_class=self.lb_class,
            remembers=self._remembers,
        )

    # What the controller keeps that decides its future, as hashable values, in two parts: the
    # one no single Service owns (shared_fingerprint) and each Service's (service_fingerprint,
    # for every key of fingerprint_keys). Not the pools, namespaces or behaviour (fixed for one
    # exploration), nor the "changed nothing" memos (_settled, _unchanged): they only skip work
    # whose result is known.

    def shared_fingerprint(self) -> Hashable:
        """The allocator's part that belongs to no one Service (keys and ports per IP)."""
        return self._allocator.shared_fingerprint()

    def service_fingerprint(
        self, svc_key: str, manifest_id: Callable[[Manifest], Hashable]
    ) -> tuple[Hashable, tuple[str, str] | None, Hashable]:
        """One Service's part: its allocation, its allocation keys and its informer cache
        entry (the manifest by `manifest_id`); None for each it has not."""
        svc = self._cache.get(svc_key)
        return (
            self._allocator.allocation(svc_key),
            self._keys.get(svc_key),
            None if svc is None else manifest_id(svc),
        )

    def fingerprint_keys(self) -> set[str]:
        """The Services with a part (service_fingerprint) that is not all None."""
        return self._keys.keys() | self._cache.keys() | self._allocator.allocated()

    def set_namespaces(self, namespaces: Mapping[str, Mapping[str, str]]) -> None:
        """Namespace labels, for pools with `namespaceSelectors` (MetalLB reads Namespace objects)."""
        self._namespaces = {name: dict(labels) for name, labels in namespaces.items()}
        self._wake_all()  # every handling reads the configuration
        self._allocator.set_namespace_labels(self._namespaces)

    def set_pools(self, pools: Sequence[Pool] | None) -> str:
        """SetPools: None (configuration deleted) keeps the old pools and answers error_no_retry."""
        if pools is None:
            return ERROR_NO_RETRY
        self._pools = list(pools)
        self._wake_all()  # every handling reads the configuration
        self._allocator.set_pools(self._pools)
        self._config = _rendered(self._pools, self._namespaces)
        return REPROCESS_ALL

    def config_event(
        self,
        pools: Sequence[Pool] | None,
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
    ) -> str | None:
        """The pool reconciler on a pool, community or Namespace event (create, delete, label
        change): `pools` and `namespaces` are the cluster's now (namespaces None: unchanged).

        None when it ignores the event: the rendered configuration (pools, namespaceSelectors
        resolved) equals the one it holds and the release keeps that copy intact (see
        config_check_never_holds). Else SetPools' state (`reprocess_all`: reprocess every Service).
        """
        if namespaces is not None:
            # Harmless when ignored: the selectors resolve as before, or the config differs.
            self.set_namespaces(namespaces)
        if (
            pools is not None
            and self._config is not None
            and _rendered(pools, self._namespaces) == self._config
            and not config_check_never_holds(self.behavior, self._pools)
        ):
            return None
        return self.set_pools(pools)

    def observe(self, svc_key: str, svc: Manifest | None) -> None:
        """Record a Service version the informer saw, without handling it (readiness reads these)."""
        self._wake(svc_key)
        if svc is None or not self._handles(svc):
            self._cache_drop(svc_key)
        else:
            self._cache_put(svc_key, self._kept(svc))

    def _cache_put(self, svc_key: str, svc: Manifest) -> None:
        """Cache a Service's manifest (the informer), stamping the cache anew when it changed;
        a new one wakes the Service and the quiet group it is in (their answers read it)."""
        if self._cache.get(svc_key) is not svc:
            self._wake(svc_key)
            self._cache[svc_key] = svc
            self._cache_stamp = object()

    def _cache_drop(self, svc_key: str) -> None:
        """Forget a Service's cached manifest, stamping the cache anew when it held one."""
        if self._cache.pop(svc_key, None) is not None:
            self._wake(svc_key)
            self._cache_stamp = object()

    def _kept(self, svc: Manifest) -> Manifest:
        """What the cache keeps of a manifest the caller holds too."""
        return svc if self._shares_manifests else copy_manifest(svc)

    def _editable(self, svc: Manifest) -> Manifest:
        """A copy to write a status and annotations into, leaving `svc` as it was. With shared
        manifests only the dicts the controller changes are copied (metadata, annotations, status);
        the rest stays shared, since nobody changes it."""
        if not self._shares_manifests:
            copied: Manifest = copy_manifest(svc)
            return copied
        work = dict(svc)
        for key in ("metadata", "status"):
            if isinstance(work.get(key), dict):
                work[key] = dict(work[key])
        metadata = work.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
            metadata["annotations"] = dict(metadata["annotations"])
        return work

    def hold(self, svc_key: str, svc: Manifest) -> bool:
        """Take a Service's current IPs under its keys without handling or caching it.

        For Services a simulation leaves out but whose addresses are taken (planner.simulate.reduction's
        "frozen neighbours"); False when its IPs cannot be assigned (MetalLB would clear them).
        """
        ips = list(ingress_ips(svc))
        if not ips or not is_load_balancer(svc) or not self._handles(svc):
            return False
        self._wake_ips(svc_key)
        try:
            self._allocator.assign(
                svc_key, svc, ips, ports(svc), sharing_key(svc), backend_key(svc)
            )
        except (AllocationError, ServiceInputError):
            return False
        finally:
            self._wake_ips(svc_key)
        self._keys[svc_key] = (sharing_key(svc), backend_key(svc))
        return True

    def allocation_key(self, svc_key: str) -> tuple[str, str]:
        """(sharing key, backend key) the allocator holds for the Service; NO_KEY when unallocated."""
        if self._allocator.pool(svc_key) is None:
            return NO_KEY
        return self._keys.get(svc_key, NO_KEY)

    def set_balancer(self, svc_key: str, svc: Manifest | None) -> Result:
        """Handle one Service event (None: the Service was deleted), as SetBalancer does."""
        self._wake_self(svc_key)  # quiet again below when the answer is a remembered one
        if svc is None:
            return self._deleted(svc_key)
        repeat = self._unchanged.get(svc_key)
        if repeat is not None and repeat.manifest is svc and self._shares_manifests:
            # Handled before by _set_one with this very manifest (every reprocess-all pass
            # hands every Service over again): so it is ours, the configuration was read, and
            # it is no member of a fixed group's transition; what follows is _set_one's repeat.
            self._cache_put(svc_key, svc)  # observe()
            if self._still_unchanged(svc_key, svc):
                return self._repeated(svc_key, svc)
            # What _set_one tries next, its checks above done (ours, configured, no transition
            # member): a pending member of a large group comes here on every pass.
            refused = self._refused_again(svc_key, svc)
            if refused is not None:
                return refused
        if not self._handles(svc):
            # Filtered before the handler (filterByLoadBalancerClass): not ours, nothing to do.
            return Result(SUCCESS)
        # observe(svc_key, svc), its checks done above (every Service of every pass comes here).
        self._cache_put(svc_key, self._kept(svc))
        if self._pools is None:
            # Configuration not read yet: MetalLB does nothing and reports success.
            return Result(SUCCESS)
        if self.behavior == Behavior.FIXED and _group_of(svc) is not None:
            return self._set_group_member(svc_key, svc)
        return self._set_one(svc_key, svc)

    def _handles(self, svc: Manifest) -> bool:
        """Whether MetalLB is handed this Service at all (its loadBalancerClass)."""
        return self.lb_class is None or handled_by_metallb(svc, self.lb_class)

    # --- stock MetalLB ------------------------------------------------------------------

    def _deleted(self, svc_key: str) -> Result:
        self._cache_drop(svc_key)
        if self._allocator.pool(svc_key) is None:
            return Result(SUCCESS)
        self._unassign(svc_key)
        # Another Service may have been waiting for what this one held.
        return Result(REPROCESS_ALL)

    def _set_one(self, svc_key: str, svc: Manifest) -> Result:
        # Handled before, and neither the allocator nor its manifest changed since: the handling
        # would do and answer exactly what it did (every reprocess-all pass hands every Service
        # over, and a Service left pending fails the same way each time).
        if self._still_unchanged(svc_key, svc):
            return self._repeated(svc_key, svc)
        refused = self._refused_again(svc_key, svc)
        if refused is not None:
            return refused
        version, reassigns = self._allocator.version, self._allocator.reassigns
        key = self._keys.get(svc_key)
        result = self._converge_one(svc_key, svc)
        if not self._shares_manifests or not self._remembers:
            return result  # only a manifest nobody changes may be recognised by identity
        if result == Result(SUCCESS):
            # Converged with nothing to write: handled again, its assign only re-assigns it.
            holding = self._holding(svc_key, svc)
            self._unchanged[svc_key] = _Repeat(self._allocator.version, svc, result, True, holding)
            if holding is not None:
                self._quiet[svc_key] = svc  # as _repeated would make it on the next handling
        elif (
            result.service is None
            and self._pool_order is None  # a stateful pool order draws anew on every handling
            and self._allocator.version == version
            and self._keys.get(svc_key) == key
        ):
            # Nothing it reads changed (allocator, its keys; no write, so no cache change): the
            # same state again gives the same answer, and re-assigns it as this run did.
            again = self._allocator.reassigns != reassigns
            self._unchanged[svc_key] = _Repeat(version, svc, result, again, None)
            self._note_refusal(svc_key, svc, result)
        elif result.service is not None and result.state != ERROR_NO_RETRY:
            self._written(svc_key, result.service)
        return result

    def _repeated(self, svc_key: str, svc: Manifest) -> Result:
        """The remembered answer of a Service _still_unchanged holds for, its walk move replayed.

        Quiet from now on when that answer is success with no event and no write and holds
        while what `_holding` read stays (not only while the version does): `_wake_ips` drops
        it on any change to its IPs, its keys or its manifest, or on a configuration change."""
        repeat = self._unchanged[svc_key]
        if repeat.reassigned:
            self._allocator.reassigned(svc_key)
            if (
                repeat.holding is not None
                and repeat.manifest is svc
                and self._shares_manifests
                and repeat.result == _QUIET_ANSWER
            ):
                self._quiet[svc_key] = svc
        return repeat.result.copied()

    def quiet(self) -> dict[str, Manifest]:
        """The quiet Services (see answer_quiet) with the manifest each must be handed; a copy."""
        members = {svc_key: quiet[0] for svc_key, quiet in self._quiet_members.items()}
        return {**self._quiet, **members}

    def quiet_in(self, store: Mapping[str, Manifest]) -> dict[str, Manifest]:
        """quiet(), after waking each quiet Service whose stored manifest is not the one it was
        quiet for (a caller changed the store by hand): checked in C while all are (usually)."""
        quiet = self.quiet()
        if all(map(operator.is_, map(store.get, quiet), quiet.values())):
            return quiet
        for svc_key, svc in quiet.items():
            if store.get(svc_key) is not svc:
                self._wake(svc_key)
        return self.quiet()

    def watch_quiet(self) -> list[str]:
        """Log the Services woken from now on (a reprocess-all pass hands them over after all);
        the log, until unwatch_quiet."""
        self._woken = []
        return self._woken

    def unwatch_quiet(self) -> None:
        self._woken = None

    def answer_quiet(self, svc_keys: Sequence[str]) -> None:
        """Hand over these quiet Services (distinct), in order, as set_balancer would with their
        quiet manifests: each answers Result(SUCCESS) with no event and no write (the caller
        logs those) and re-assigns its allocation, or its settled group's, in the walk order."""
        members = self._quiet_members
        if not members or members.keys().isdisjoint(svc_keys):
            self._allocator.reassigned_all(svc_keys)
            return
        start = 0
        for index, svc_key in enumerate(svc_keys):
            quiet = members.get(svc_key)
            if quiet is None:
                continue
            self._allocator.reassigned_all(svc_keys[start:index])
            start = index + 1
            self._walk_settled(quiet[1], quiet[2])
        self._allocator.reassigned_all(svc_keys[start:])

    def _wake(self, svc_key: str) -> None:
        """What its handling, or its group's, reads may have changed: neither is quiet now."""
        self._wake_self(svc_key)
        members = self._quiet_group_of.get(svc_key)
        if members is None:
            return
        for member in members:
            self._wake_self(member)
            if self._quiet_group_of.get(member) == members:
                del self._quiet_group_of[member]

    def _wake_self(self, svc_key: str) -> None:
        """It is quiet no more (its group's other members may stay so)."""
        if self._refused_still:
            self._unwatch_refusal(svc_key)
        if (
            self._quiet.pop(svc_key, None) is not None
            or self._quiet_members.pop(svc_key, None) is not None
        ) and self._woken is not None:
            self._woken.append(svc_key)

    def _quiet_member(
        self, svc_key: str, svc: Manifest, members: tuple[str, ...], order: tuple[str, ...]
    ) -> None:
        """A member whose settled group answered again is quiet, when that holds while what
        _group_holding read stays (no caller's pool order), set_balancer's stock repeat cannot
        come first, and no other group claims a member."""
        if svc_key in self._refusing:
            self._settle_refusing(svc_key)  # (its remembered answer is read just below)
        repeat = self._unchanged.get(svc_key)
        if (
            self._pool_order is not None
            or not self._shares_manifests
            or not self._remembers
            or (repeat is not None and repeat.manifest is svc)
        ):
            return
        # A group's members are claimed all together and woken all together (_wake): when one
        # is claimed by this group, all are (checking each made a pass quadratic in its size).
        if self._quiet_group_of.get(svc_key) != members:
            if any(self._quiet_group_of.get(m, members) != members for m in members):
                return
            for member in members:
                self._quiet_group_of.setdefault(member, members)
        self._quiet_members[svc_key] = (svc, members, order)

    def _wake_ips(self, svc_key: str) -> None:
        """Called before and after an allocator call that may change the Service's allocation:
        wake the quiet Services whose handling may read something else now.

        An allocator call changes nothing but the Service's allocation and, on its IPs, the key
        they remember, the ports in use and the Services on them. A quiet Service of its own
        reads its allocation, its IPs' keys and its ports' holders (Allocator.holding): only
        those the allocator logged as moved (Allocator.moves) may read otherwise, so a member
        of a large group stays quiet while others come and go on its IP. A settled group's
        quiet members read the Services on their IPs too (holdings): every one on the IPs is
        woken while there are such."""
        moved = self._allocator.moves()
        self._refusals_touched(svc_key)
        if not self._quiet and not self._quiet_members:
            return
        if self._quiet_members:
            # Every Service the call moved is on the Service's IPs before or after it.
            self._wake_neighbours(svc_key)
            return
        self._wake(svc_key)
        for holder in moved:
            self._wake(holder)

    def _refusals_touched(self, svc_key: str) -> None:
        """Around an allocator call on the Service: the remembered refusals whose reads it
        touched (Allocator.touches), and the Service's own, are to be read again."""
        touched = self._allocator.touches()
        if not self._refused_still:
            return
        self._unwatch_refusal(svc_key)  # (its keys or allocation may change too)
        for touch in touched:
            for refused in self._refused_watch.pop(touch, ()):
                self._unwatch_refusal(refused)

    def _wake_neighbours(self, svc_key: str) -> None:
        """Wake the Service and every Service on its IPs."""
        if not self._quiet and not self._quiet_members:
            return
        self._wake(svc_key)
        for holder in self._allocator.neighbours(svc_key):
            self._wake(holder)

    def _wake_all(self) -> None:
        for svc_key in [*self._quiet, *self._quiet_members]:
            self._wake(svc_key)
        self._forget_watches()

    def _forget_watches(self) -> None:
        """Every remembered refusal is to be read again (its answer kept in _unchanged)."""
        for svc_key in list(self._refusing):
            self._settle_refusing(svc_key)
        self._refused_still.clear()
        self._refused_watch.clear()

    def _watch_refusal(self, svc_key: str, refused: _Refused) -> None:
        """The refusal reads as it did: it does so until the allocator touches what it reads
        (or the configuration or the Service's own state changes: _wake_self, _wake_all)."""
        if svc_key in self._refused_still:
            return
        watch = self._allocator.sharing_watch(refused.ips, refused.ports)
        self._refused_still[svc_key] = watch
        for touch in watch:
            self._refused_watch.setdefault(touch, set()).add(svc_key)

    def _unwatch_refusal(self, svc_key: str) -> None:
        """Its refusal's reads must be read again on its next handling."""
        if self._refusing:
            self._settle_refusing(svc_key)
        for touch in self._refused_still.pop(svc_key, ()):
            keys = self._refused_watch.get(touch)
            if keys is not None:
                keys.discard(svc_key)
                if not keys:
                    del self._refused_watch[touch]

    def _settle_refusing(self, svc_key: str) -> None:
        """Drop the Service from `refusing`, its remembered answer put in _unchanged when a
        pass's Refusals held it (the memo is read only once the Service leaves refusing: its
        own handling, or its refusal touched, wakes it first)."""
        entry = self._refusing.pop(svc_key, None)
        refusals = self._refused_in.pop(svc_key, None)
        if entry is not None and refusals is not None:
            result = refusals.result(svc_key)
            self._unchanged[svc_key] = _Repeat(
                refusals.version, entry.manifest, result, False, None
            )

    def refusing(self) -> Mapping[str, Refusing]:
        """The Services whose next handling with the manifest named is their remembered
        refusal's answer unless the allocator is at the version that answer was given on
        (refused_version; never later than latest_refusal): refused_answer would answer them
        without reading anything else (they are watched, not quiet, and the cache holds that
        manifest; leaving any of those states drops them). Read it; do not change it. A pass
        answers runs of them together (refuse_together)."""
        return self._refusing

    def refused_version(self, svc_key: str) -> int:
        """The allocator version a `refusing` Service's remembered answer was given on."""
        refusals = self._refused_in.get(svc_key)
        return self._unchanged[svc_key].version if refusals is None else refusals.version

    def refused_before(self, svc_keys: Sequence[str], version: int) -> bool:
        """Whether one pass's Refusals answered all these `refusing` Services, on another
        allocator version than `version` (refused_version of each, read in C); False when
        they were not answered together."""
        refused_in = self._refused_in
        refusals = refused_in.get(svc_keys[0])
        return (
            refusals is not None
            and refusals.version != version
            and all(map(operator.is_, map(refused_in.get, svc_keys), itertools.repeat(refusals)))
        )

    def refuse_together(self, members: Mapping[str, Refusing]) -> Refusals:
        """refused_answer for each of these `refusing` Services (in order; all refused the same
        IP; the allocator at none's refused_version), as one pass's Refusals: their events,
        results and remembered answers are made when read."""
        first = next(iter(members))
        version = self.latest_refusal = self._allocator.version
        heads = {key: entry.refused.head for key, entry in members.items()}
        names = self._others_named(members[first].refused.ip, first)
        refusals = Refusals(heads, names, "AllocationFailed", ERROR_NO_RETRY, version)
        self._refused_in.update(zip(members, itertools.repeat(refusals)))
        return refusals

    def _written(self, svc_key: str, work: Manifest) -> None:
        """Remember the handling of the Service's own write, which comes back next (its status
        update): it converges with nothing to do while what it reads is as the write left it.

        This handling converged and wrote `work`: its status holds the Service's allocation, its
        pool annotation that allocation's pool, in a spec that asks for them (the checks of
        convergeBalancer passed on this very spec). Handed `work` again, a Service that holds
        that allocation alone re-assigns it (Assign finds its key and its ports as they are),
        keeps it and writes nothing: success, no event, the allocation walked last. Not for a
        PreferDualStack Service (its family check and additional family read more: _holding).
        """
        holding = self._holding(svc_key, work)
        if (
            holding is None
            or list(ingress_ips(work)) != self._allocator.ips(svc_key)
            or annotation(work, ALLOCATED_FROM_POOL_ANNOTATION) != self._allocator.pool(svc_key)
        ):
            return
        self._unchanged[svc_key] = _Repeat(
            self._allocator.version, work, Result(SUCCESS), True, holding, written=True
        )

    def _still_unchanged(self, svc_key: str, svc: Manifest) -> bool:
        """Whether the Service was handled on this allocator state with this very manifest, and
        that handling left both as they were (its answer is remembered)."""
        if not self._remembers:
            return False
        handled = self._unchanged.get(svc_key)
        if handled is None:
            return False
        if handled.manifest is not svc:
            if not handled.written or handled.manifest != svc:
                return False
            # The write came back: remember the API server's copy (compared by identity after).
            handled = self._unchanged[svc_key] = handled._replace(manifest=svc, written=False)
        if handled.version == self._allocator.version:
            return True
        # The allocator changed elsewhere (another holder of its IP came or went): a Service
        # that converged with nothing to do reads only its own allocation, its IPs' keys and
        # its ports' holders, so it has nothing to do again while those are as they were.
        # (The manifest is the same object, so _holding's checks of it hold as they did.)
        return handled.holding is not None and handled.holding == (
            self._keys.get(svc_key),
            self._allocator.holding(svc_key),
        )

    def _note_refusal(self, svc_key: str, svc: Manifest, result: Result) -> None:
        """Remember a handling that left the Service pending, holding nothing, because others
        hold a requested IP under another key (what each pending member of a group changing its
        key meets on every pass until the last old holder leaves).

        Why it may be answered again without running (_refused_again): the Service holds no
        allocation and shows no IPs (it wrote nothing and raised one event), so up to Assign its
        handling reads only its manifest (the same object) and the configuration. Assign of
        its requested IPs reads the configuration (poolFor, the pool's serviceAllocation) and,
        per IP, the key the IP remembers, the holders of the Service's ports and whether anyone
        else holds the IP (checkSharing): Allocator.sharing_reads, the same again. So Assign
        refuses the same IP for the same reason, and nothing after the refusal reads more. Only
        the message differs: it names the IP's holders of the moment, read again each time.
        The refusal is recomputed here and its message compared with the event's, so only a
        handling that ended in exactly this refusal is remembered.
        """
        if self._pool_order is not None or self._allocator.pool(svc_key) is not None:
            return
        if svc_key in self._keys or result.state != ERROR_NO_RETRY or len(result.events) != 1:
            return
        event = result.events[0]
        if event.type != "Warning" or event.reason != "AllocationFailed":
            return
        try:
            ips, asked_ports = requested_ips(svc), ports(svc)
            keys = sharing_key(svc), backend_key(svc)
        except ServiceInputError:
            return
        if not ips:
            return
        refusal = self._allocator.refusal(svc_key, svc, ips, asked_ports, *keys)
        if refusal is None or refusal.kind != ErrorKind.SHARING_KEY_MISMATCH:
            return
        head = _failed_head(svc_key, refusal.head)
        if event.head != head or not _same_names(event.names, refusal.names):
            return
        self._refused[svc_key] = _Refused(
            svc,
            ips,
            asked_ports,
            self._allocator.sharing_reads(svc_key, ips, asked_ports),
            refusal.ip,
            head,
        )

    def refused_answer(self, svc_key: str, svc: Manifest) -> Result | None:
        """set_balancer(svc_key, svc), when its answer is a remembered refusal (_refused_again:
        a pending member of a large group on every pass), without set_balancer's other checks;
        None when that is not so (hand the Service over).

        Exactly set_balancer's way there: the Service is not quiet (nothing to wake), its
        remembered handling read this very manifest (so it is ours and configured, and no
        member of a transition), which the cache holds (observe changes nothing), holding
        nothing (_still_unchanged asks no holding) on another allocator version (_still_unchanged
        is False; on the same one set_balancer repeats it: handed over)."""
        if svc_key in self._refusing:
            self._settle_refusing(svc_key)  # its answer read below (answered anew after)
        repeat = self._unchanged.get(svc_key)
        if (
            repeat is None
            or repeat.manifest is not svc
            or repeat.holding is not None
            or repeat.version == self._allocator.version
            or not self._shares_manifests
            or self._cache.get(svc_key) is not svc
            or svc_key in self._quiet
            or svc_key in self._quiet_members
        ):
            return None
        return self._refused_again(svc_key, svc)

    def _refused_again(self, svc_key: str, svc: Manifest) -> Result | None:
        """The answer of a remembered refusal (_note_refusal) whose reads are as they were, its
        message naming the IP's holders now; None when it does not apply."""
        refused = self._refused.get(svc_key) if self._remembers else None
        if refused is None or refused.manifest is not svc:
            return None
        if svc_key not in self._refused_still:
            if (
                svc_key in self._keys
                or self._allocator.pool(svc_key) is not None
                or self._allocator.sharing_reads(svc_key, refused.ips, refused.ports)
                != refused.reads
            ):
                return None
            self._watch_refusal(svc_key, refused)
        names = self._others_named(refused.ip, svc_key)
        event = Event(svc_key, "Warning", "AllocationFailed", refused.head, names)
        result = Result.warning(ERROR_NO_RETRY, event)
        # As the handling it stands for would: the same answer again while nothing changes.
        version = self.latest_refusal = self._allocator.version
        self._unchanged[svc_key] = _Repeat(version, svc, result, False, None)
        if self._shares_manifests and svc_key in self._refused_still:
            # Watched, not quiet, its manifest cached (observed before it came here).
            self._refusing[svc_key] = Refusing(svc, refused)
        return result

    def _others_named(self, ip: str, svc_key: str) -> HolderNames | None:
        """allocator.holder_names(ip, svc_key) for a Service holding nothing: the IP's holders,
        the same for every pending member of its group at one allocator version (kept)."""
        memo = self._names_memo
        version = self._allocator.version
        if memo is not None and memo[0] == version and memo[1] == ip and self._allocator is memo[3]:
            return memo[2]
        names = self._allocator.holder_names(ip, svc_key)
        self._names_memo = (version, ip, names, self._allocator)
        return names

    def _holding(self, svc_key: str, svc: Manifest) -> Hashable | None:
        """What a handling of a Service that holds its allocation alone reads of the state (see
        _still_unchanged); None when that is not all it reads."""
        if (
            self._pool_order is not None  # a stateful pool order draws anew on every handling
            or _family_policy(svc) == "PreferDualStack"  # it may ask a pool for another family
        ):
            return None
        holding = self._allocator.holding(svc_key)  # None unless it holds its allocation alone
        return None if holding is None else (self._keys.get(svc_key), holding)

    def _converge_one(self, svc_key: str, svc: Manifest) -> Result:
        prev_ips = list(self._allocator.ips(svc_key))
        prev_key = self.allocation_key(svc_key)
        work = self._editable(svc)
        run = _Converge(svc_key)
        state = SUCCESS if self._converge(run, svc_key, work) else ERROR_NO_RETRY
        if self.behavior != Behavior.METALLB_0_14 and _joined(prev_key) != _joined(
            self.allocation_key(svc_key)
        ):
            state = REPROCESS_ALL
        if work == svc:
            return _result(state, None, run.events)
        for name in sorted((svc.get("metadata") or {}).get("annotations") or {}):
            if name.startswith(DEPRECATED_PREFIX):
                run.warn("deprecatedAnnotation", f"Service uses deprecated annotation {name}")
        if (
            prev_ips
            and self._allocator.pool(svc_key) is None
            and self._allocator.pool_for_ips(prev_ips)
        ):
            # It let go of IPs that are still in a pool: someone may be waiting for them.
            state = REPROCESS_ALL
        self._cache_put(svc_key, self._kept(work))
        return _result(state, work, run.events)

    def _converge(self, run: _Converge, svc_key: str, svc: Manifest) -> bool:
        """convergeBalancer: True when the Service converged, False for ErrConverge."""
        try:
            self._converge_steps(run, svc_key, svc)
        except ConvergeError:
            return False
        except ServiceInputError as err:
            # A field the API server would have refused (e.g. a port that is no number).
            run.warn("LoadBalancerFailed", f"{err.field}: {err.message}")
            return False
        return True

    def _converge_steps(self, run: _Converge, svc_key: str, svc: Manifest) -> None:
        if not is_load_balancer(svc):
            self._clear(svc_key, svc)  # it may have been a LoadBalancer before
            return
        if not self._pools:
            self._clear(svc_key, svc)
            raise ConvergeError
        if not has_cluster_ip(svc):
            self._clear(svc_key, svc)  # MetalLB only logs this one: no event
            raise ConvergeError
        policy = _family_policy(svc)
        if (
            policy == "RequireDualStack"
            and len(_cluster_ips(svc)) < 2
            and self.behavior != Behavior.METALLB_0_14
        ):
            # v0.15.0+ only; v0.14.9 goes on and asks the allocator by the cluster IPs' family.
            run.warn(
                "not enough clusterips",
                f"Service requires dual stack but not enough clusterips {_cluster_ips(svc)}",
            )
            self._clear(svc_key, svc)
            raise ConvergeError
        lb_ips = self._current_ips(run, svc_key, svc, policy)
        lb_ips = self._keep_current(run, svc_key, svc, lb_ips)
        if len(lb_ips) == 1 and policy == "PreferDualStack":
            # v0.14.9+ (commit 5f648117d): a single IP under PreferDualStack gets one of the
            # other family from the same pool.
            lb_ips = self._add_other_family(run, svc_key, svc, lb_ips)
        if not lb_ips:
            lb_ips = self._allocate(run, svc_key, svc)
        pool = self._allocator.pool(svc_key)
        if not pool or pool not in {p.name for p in self._pools or []}:
            run.warn("InternalError", "allocated an IP that has no pool")
            self._clear(svc_key, svc)
            raise ConvergeError
        _write_status(svc, lb_ips, pool)

    def _current_ips(self, run: _Converge, svc_key: str, svc: Manifest, policy: str) -> list[str]:
        """The IPs in the status, or [] (state cleared) when there are none or of a wrong family."""
        lb_ips = [ip for ip in ingress_ips(svc) if _valid_ip(ip)]
        if not lb_ips:
            self._clear(svc_key, svc)
            return []
        try:
            lb_family = ip_family_of(lb_ips)
        except ValueError as err:
            run.warn("nolbIPsIPFamily", f"Failed to retrieve LBIPs IPFamily for {lb_ips}: {err}")
            lb_family = "unknown"
        try:
            svc_family = ip_family_of(_cluster_ips(svc))
        except ValueError as err:
            run.warn("noclusterIPsIPFamily", f"Failed to retrieve ClusterIPs IPFamily: {err}")
            raise ConvergeError from None
        if _family_changed(lb_family, svc_family, policy):
            self._clear(svc_key, svc)
            return []
        return lb_ips

    def _keep_current(
        self, run: _Converge, svc_key: str, svc: Manifest, lb_ips: list[str]
    ) -> list[str]:
        """Re-assign the current IPs with the current key; drop them if the user asks otherwise."""
        if not lb_ips:
            return lb_ips
        try:
            self._assign(svc_key, svc, lb_ips)
        except AllocationError as err:
            run.info(
                "ClearAssignment",
                f'current IP for "{svc_key}" not allowed by config, '
                f"will attempt for new IP assignment: {err.head}",
                err.names,
            )
            self._clear(svc_key, svc)
            lb_ips = []
        wanted_pool = requested_pool(svc)
        if lb_ips and wanted_pool and self._allocator.pool(svc_key) != wanted_pool:
            self._clear(svc_key, svc)
            lb_ips = []
        try:
            wanted_ips = requested_ips(svc)
        except ServiceInputError as err:
            run.warn("LoadBalancerFailed", f"invalid requested loadbalancer IPs: {err.message}")
            raise ConvergeError from None
        if wanted_ips and sorted(lb_ips) != sorted(wanted_ips):
            self._clear(svc_key, svc)
            lb_ips = []
        return lb_ips

    def _add_other_family(
        self, run: _Converge, svc_key: str, svc: Manifest, lb_ips: list[str]
    ) -> list[str]:
        """PreferDualStack with one IP: try to add one of the other family from the same pool."""
        self._wake_ips(svc_key)
        try:
            extra = self._allocator.allocate_from_pool_for_additional_family(
                svc_key,
                svc,
                lb_ips[0],
                self._allocator.pool(svc_key) or "",
                list(ports(svc)),
                sharing_key(svc),
                backend_key(svc),
            )
        except AllocationError as err:
            run.info(
                "AdditionalAssignFailed",
                f"cannot assign additional IP in PreferDualStack: {err.head}",
                err.names,
            )
            return lb_ips
        finally:
            self._wake_ips(svc_key)
        self._keys[svc_key] = (sharing_key(svc), backend_key(svc))
        run.info("IPAllocated", f'Assigned additional IP "{extra}"')
        return [*lb_ips, extra]

    def _allocate(self, run: _Converge, svc_key: str, svc: Manifest) -> list[str]:
        try:
            lb_ips = self._allocate_ips(svc_key, svc)
        except AllocationError as err:
            # A sharing-key refusal names the IP's holders: kept as they are, printed when read.
            run.warn("AllocationFailed", _failed_head(svc_key, err.head), err.names)
            raise ConvergeError from None
        except (ServiceInputError, ValueError) as err:
            reason = err.message if isinstance(err, ServiceInputError) else str(err)
            run.warn("AllocationFailed", _failed_head(svc_key, reason))
            raise ConvergeError from None
        run.info("IPAllocated", f"Assigned IP {_go_list(lb_ips)}")
        return lb_ips

    def _allocate_ips(self, svc_key: str, svc: Manifest) -> list[str]:
        """allocateIPs: the requested IPs, else the requested pool, else every pool."""
        family = ip_family_of(_cluster_ips(svc))
        wanted_ips = list(requested_ips(svc))
        wanted_pool = requested_pool(svc)
        if wanted_ips:
            if ip_family_of(wanted_ips) != family:
                raise ValueError(
                    f"requested loadBalancer IP(s) {_go_list(wanted_ips)} "
                    "does not match the ipFamily of the service"
                )
            self._assign(svc_key, svc, wanted_ips)
            if wanted_pool and self._allocator.pool(svc_key) != wanted_pool:
                self._unassign(svc_key)
                raise ValueError(
                    f"requested loadBalancer IP(s) {_go_list(wanted_ips)} is not compatible "
                    f"with requested address pool {wanted_pool}"
                )
            return wanted_ips
        args = (ports(svc), sharing_key(svc), backend_key(svc))
        self._wake_ips(svc_key)
        try:
            if wanted_pool:
                ips = self._allocator.allocate_from_pool(svc_key, svc, family, wanted_pool, *args)
            else:
                ips = self._allocator.allocate(svc_key, svc, family, *args)
        finally:
            self._wake_ips(svc_key)
        self._keys[svc_key] = (sharing_key(svc), backend_key(svc))
        return list(ips)

    def _assign(self, svc_key: str, svc: Manifest, ips: list[str]) -> None:
        self._wake_ips(svc_key)
        try:
            self._allocator.assign(
                svc_key, svc, list(ips), list(ports(svc)), sharing_key(svc), backend_key(svc)
            )
        finally:
            self._wake_ips(svc_key)
        self._keys[svc_key] = (sharing_key(svc), backend_key(svc))

    def _unassign(self, svc_key: str) -> None:
        self._wake_ips(svc_key)
        self._allocator.unassign(svc_key)
        self._wake_ips(svc_key)
        self._keys.pop(svc_key, None)

    def _clear(self, svc_key: str, svc: Manifest) -> None:
        """clearServiceState: release the IPs, drop the pool annotation, empty the status."""
        self._unassign(svc_key)
        annotations = (svc.get("metadata") or {}).get("annotations")
        if annotations and ALLOCATED_FROM_POOL_ANNOTATION in annotations:
            del annotations[ALLOCATED_FROM_POOL_ANNOTATION]
        if ingress_ips(svc):
            svc.setdefault("status", {})["loadBalancer"] = {}

    # --- behaviour `fixed`: group transitions --------------------------------------------

    def _set_group_member(self, svc_key: str, svc: Manifest) -> Result:
        group = _group_of(svc)
        assert group is not None
        _, members, digest = group
        if svc_key not in members:
            # Only a member every member lists may join a transition: treat it as stock.
            return self._set_one(svc_key, svc)
        facts = self._group_facts(members, digest)
        if not facts.ready:
            # Waiting for its group: keep exactly what it has, write nothing.
            self._reclaim(svc_key, svc)
            waiting = Event(svc_key, "Normal", "WaitingForGroup", members.waiting)
            return Result(SUCCESS, events=(waiting,))
        # A transition that changed nothing, run again on the same allocator state and the same
        # members, changes nothing again (every reprocess-all pass hands each member over).
        cached = cast(tuple[Manifest, ...], facts.cached)
        if self._still_settled(members, cached):
            self._walk_settled(members, facts.order)
            self._quiet_member(svc_key, svc, members, facts.order)
            return Result(SUCCESS)
        result = self._converge_group(svc_key, members, facts.order)
        if result == Result(SUCCESS):
            self._settled[members] = (
                self._allocator.version,
                cached,
                self._group_holding(members),
            )
            # Handed its manifest again, it finds the group settled (as _set_group_member does).
            self._quiet_member(svc_key, svc, members, facts.order)
        return result

    def _walk_settled(self, members: tuple[str, ...], order: tuple[str, ...]) -> None:
        """A settled group's members put last in the walk, as the transition would have; again
        on a walk this very loop left, it moves nobody (each member is put last in the same
        order), so it is skipped."""
        if self._walked.get(members) != self._allocator.walk_changes:
            for member in order:
                self._allocator.reassigned(member)
            self._walked[members] = self._allocator.walk_changes

    def _group_facts(self, members: tuple[str, ...], digest: str) -> _GroupFacts:
        """Whether the group is ready, and its transition order, from the members' cached
        manifests; remembered while those are the very same objects (each handling of a member
        would otherwise read every member: quadratic in the group's size per reprocess-all pass)."""
        memo = self._group_memo.get((members, digest))
        if memo is not None and memo[1] is self._cache_stamp:
            return memo[0]  # no cached manifest changed since they were checked
        cached = tuple(map(self._cache.get, members))
        if memo is not None and all(map(operator.is_, memo[0].cached, cached)):
            facts = memo[0]
        else:
            ready = self._group_ready(members, digest)
            order = tuple(_transition_order(members, self._cache)) if ready else ()
            facts = _GroupFacts(cached, ready, order)
        self._group_memo[(members, digest)] = (facts, self._cache_stamp)
        return facts

    def _still_settled(self, members: tuple[str, ...], cached: tuple[Manifest, ...]) -> bool:
        """Whether the group's last transition changed nothing, and neither its member manifests
        nor what it read of the allocator changed since (the whole allocator, or _group_holding)."""
        settled = self._settled.get(members) if self._remembers else None
        if settled is None:
            return False
        if settled[1] is not cached and not all(map(operator.is_, settled[1], cached)):
            return False
        if settled[0] == self._allocator.version:
            return True
        if settled[2] is None or settled[2] != self._group_holding(members):
            return False
        # It reads the same on this version: the pass's other members find that at once, where
        # each comparing the holdings of every member was quadratic in the group's size.
        self._settled[members] = (self._allocator.version, settled[1], settled[2])
        return True

    def _group_holding(self, members: tuple[str, ...]) -> Hashable | None:
        """What a transition that changed nothing read of the controller's state, or None when
        that is more than this tells (a pool order drawing anew on every call).

        It wrote nothing and raised no event, so every member that is a LoadBalancer kept the
        IPs of its status through Assign: no Allocate, no AllocateFromPoolForAdditionalFamily
        (each raises an event). It read the configuration, the members' allocations and keys,
        and on the members' IPs what Unassign and Assign read (Allocator.holdings); the rest of
        the allocator it neither read nor changed. The same again gives the same transition.
        """
        if self._pool_order is not None:
            return None
        return (
            tuple(map(self._keys.get, members)),
            self._allocator.holdings(members),
        )

    def _reclaim(self, svc_key: str, svc: Manifest) -> None:
        """After a controller restart, a waiting member re-claims the IPs its status shows.

        With its own key if it can; else with the key the IP remembers (its group's, which it
        shared before its own edit); else it stays unrecorded, its status untouched.
        """
        ips = [ip for ip in ingress_ips(svc) if _valid_ip(ip)]
        if not ips or self._allocator.pool(svc_key) is not None:
            return
        keys = [(sharing_key(svc), backend_key(svc))]
        remembered = self._allocator.remembered_key(ips[0])
        if remembered is not None and remembered not in keys:
            keys.append(remembered)
        for sharing, backend in keys:
            self._wake_ips(svc_key)
            try:
                self._allocator.assign(svc_key, svc, ips, list(ports(svc)), sharing, backend)
            except AllocationError:
                continue
            finally:
                self._wake_ips(svc_key)
            self._keys[svc_key] = (sharing, backend)
            return

    def _group_ready(self, members: tuple[str, ...], digest: str) -> bool:
        """Every member exists in the cache and carries the same digest."""
        for member in members:
            cached = self._cache.get(member)
            if cached is None or annotation(cached, GROUP_DIGEST_ANNOTATION) != digest:
                return False
        return True

    def _converge_group(
        self, svc_key: str, members: tuple[str, ...], order: Sequence[str]
    ) -> Result:
        """Release every member, then converge each onto the group's IPs; all or nothing."""
        # Only the members' keys change here: theirs are saved, not every Service's (a copy of
        # all of them per transition grew with the component and its frozen neighbours).
        saved, saved_keys = self._allocator.clone(), {m: self._keys.get(m) for m in members}
        before = {m: (self._allocator.ips(m), self.allocation_key(m)) for m in members}
        for member in members:
            self._unassign(member)
        works: dict[str, Manifest] = {}
        runs: list[_Converge] = []
        group_ips = self._shared_ips(members)
        # With no IPs to aim at, the first member without requested IPs picks for the others.
        picked = not group_ips and sum(not _requests_ips(self._cache[m]) for m in members) > 1
        for member in order:
            run = _Converge(member)
            runs.append(run)
            work = self._converge_member(run, member, group_ips)
            if work is None:
                # Which member fails first (and is named) follows the order.
                self._note_order_sensitive(members)
                self._restore(saved, saved_keys)
                # A member handed straight into the transition after a restart was never
                # recorded: it keeps its status, so it re-claims those IPs like a waiting one.
                for waiting in members:
                    self._reclaim(waiting, self._cache[waiting])
                return _infeasible(members, member, run)
            if not _requests_ips(work):
                # Members without requested IPs follow the first one's pick; requested IPs are
                # each member's own target (a transition group may move members to different IPs).
                group_ips = group_ips or list(ingress_ips(work))
            works[member] = work
        changed = any(
            before[m] != (self._allocator.ips(m), self.allocation_key(m)) for m in members
        )
        writes = {m: w for m, w in works.items() if w != self._cache[m]}
        for member, work in writes.items():
            self._cache_put(member, self._kept(work))
        events = tuple(e for run in runs for e in run.events)
        if picked or any(e.type == "Warning" for e in events):
            self._note_order_sensitive(members)
        elif len(writes) > 1:
            self.written_together = (*self.written_together, frozenset(writes))
        return Result.of(
            REPROCESS_ALL if changed else SUCCESS,
            writes.get(svc_key),
            events,
            svc_key,
            {m: w for m, w in writes.items() if m != svc_key},
        )

    def _restore(self, saved: Allocator, keys: Mapping[str, tuple[str, str] | None]) -> None:
        """Put back the allocator and these Services' keys as a failed transition found them."""
        self._allocator = saved
        self._forget_watches()  # another allocator: nothing logged what it changed
        for member, key in keys.items():
            if key is None:
                self._keys.pop(member, None)
            else:
                self._keys[member] = key
            # On the IPs it holds again (another allocator: nothing logged its changes).
            self._wake_neighbours(member)

    def _note_order_sensitive(self, members: tuple[str, ...]) -> None:
        """Log a transition whose outcome may depend on its members' order (name order here).

        Otherwise it does not: with every member's target fixed before the loop (its requested
        IPs, or the IPs its group shares), each Assign checks pairwise conditions (same key,
        disjoint ports) that hold in every order once they hold in one, and the allocator's
        state after them is the same set; no warning text names who came first. So only a
        failure (the first failing member is named), a pick by the first member or a warning
        count. (Several writes queue their keys in name order: logged apart, written_together.)"""
        if len(members) > 1:
            self.order_sensitive = self.order_sensitive | frozenset(members)

    def _shared_ips(self, members: tuple[str, ...]) -> list[str]:
        """The IPs a group without requested IPs stays on: those most of its members hold now.

        None ([]) when some member requests IPs (they decide), when nobody holds any, or when the
        members ask for a pool that does not own them (then the first member picks, the rest follow).
        """
        cached = [self._cache[m] for m in members]
        if any(_requests_ips(svc) for svc in cached):
            return []
        held = Counter(tuple(sorted(ingress_ips(svc))) for svc in cached if ingress_ips(svc))
        if not held:
            return []
        ips = min(held.items(), key=lambda item: (-item[1], item[0]))[0]
        wanted_pools = {requested_pool(svc) for svc in cached} - {""}
        if wanted_pools and self._allocator.pool_for_ips(list(ips)) not in wanted_pools:
            return []
        return list(ips)

    def _converge_member(
        self, run: _Converge, member: str, group_ips: list[str]
    ) -> Manifest | None:
        """One member's convergeBalancer, aimed at the group's IPs; None when it cannot join."""
        work = self._editable(self._cache[member])
        if group_ips and not _requests_ips(work):
            # No IPs of its own to ask for: its target is the IPs its group shares.
            _set_ingress(work, group_ips)
        if not self._converge(run, member, work):
            return None
        ips = list(ingress_ips(work))
        if not is_load_balancer(work):
            return work  # it left the group (no longer a LoadBalancer)
        if not ips:
            run.warn("GroupTransitionFailed", "no IP assigned")
            return None
        if group_ips and not _requests_ips(work) and sorted(ips) != sorted(group_ips):
            run.warn(
                "GroupSplit", f"would get {_go_list(ips)}, not the group's {_go_list(group_ips)}"
            )
            return None
        return work


def _infeasible(members: tuple[str, ...], failing: str, run: _Converge) -> Result:
    """One GroupTransitionInfeasible warning on every member, naming the failing check."""
    failures = [str(e) for e in run.events if e.type == "Warning"]
    message = (
        f"group transition of {', '.join(members)} is not possible: "
        f"{failing}: {'; '.join(failures)}; every member keeps its current allocation"
    )
    events = tuple(Event(m, "Warning", "GroupTransitionInfeasible", message) for m in members)
    return Result(ERROR_NO_RETRY, None, [f"GroupTransitionInfeasible: {message}"], {}, events)


def _transition_order(members: tuple[str, ...], cache: Mapping[str, Manifest]) -> list[str]:
    """Members with requested IPs first, then the others; by name within each."""

    return sorted(members, key=lambda m: (not _requests_ips(cache[m]), m))


def _requests_ips(svc: Manifest) -> bool:
    try:
        return bool(requested_ips(svc))
    except ServiceInputError:
        return False


def _set_ingress(svc: Manifest, ips: Sequence[str]) -> None:
    # `status: null` (a live snapshot may say it) is a Service without a status.
    if svc.get("status") is None:
        svc["status"] = {}
    svc["status"]["loadBalancer"] = {"ingress": [{"ip": ip} for ip in ips]}


def _group_of(svc: Manifest) -> tuple[str, _Members, str] | None:
    """(group id, members, digest) from the group-wide annotations, or None when absent."""
    group = annotation(svc, GROUP_ANNOTATION)
    digest = annotation(svc, GROUP_DIGEST_ANNOTATION)
    members_text = annotation(svc, GROUP_MEMBERS_ANNOTATION)
    if not group or not digest or not members_text:
        return None
    return group, _members(members_text), digest


@functools.lru_cache(maxsize=16384)
def _members(members_text: str) -> _Members:
    """The members annotation's names, sorted, each once. Cached: every handling of a member
    reads the annotation, which names every member (a pass over one group of N parses N*N)."""
    return _Members(sorted({m.strip() for m in members_text.split(",") if m.strip()}))


class _Members(tuple[str, ...]):
    """A group's member names (a tuple, equal to and hashed as the plain one), hashed once, with
    a set for `in` and its "waiting for" text built once: each handling of a member looks its
    group up in several tables, and hashing or scanning N names there, or joining them into
    its event, made one reprocess-all pass over a group of N quadratic."""

    _hash: int
    _names: frozenset[str]
    waiting: str

    def __new__(cls, names: Iterable[str]) -> Self:
        members = super().__new__(cls, names)
        members._hash = tuple.__hash__(members)
        members._names = frozenset(members)
        members.waiting = f"waiting for {', '.join(members)}"
        return members

    def __hash__(self) -> int:
        return self._hash

    def __contains__(self, name: object) -> bool:
        return name in self._names


def _result(state: str, service: Manifest | None, events: list[Event]) -> Result:
    return Result.of(state, service, tuple(events))


def _failed_head(svc_key: str, reason: str) -> str:
    """An AllocationFailed message up to the holders it may name."""
    return f'Failed to allocate IP for "{svc_key}": {reason}'


def _same_names(one: HolderNames | None, other: HolderNames | None) -> bool:
    """Whether two holder snapshots name the same Services (the same snapshot, mostly)."""
    if one is other:
        return True
    return one is not None and other is not None and str(one) == str(other)


def _write_status(svc: Manifest, lb_ips: list[str], pool: str) -> None:
    """Program the status and the pool annotation (kept as is when already right)."""
    if list(ingress_ips(svc)) != list(lb_ips):
        _set_ingress(svc, lb_ips)
    metadata = svc.setdefault("metadata", {})
    if (metadata.get("annotations") or {}).get(ALLOCATED_FROM_POOL_ANNOTATION) != pool:
        metadata["annotations"] = dict(metadata.get("annotations") or {})
        metadata["annotations"][ALLOCATED_FROM_POOL_ANNOTATION] = pool


def _cluster_ips(svc: Manifest) -> list[str]:
    """spec.clusterIPs, else spec.clusterIP (ipfamily.ForService)."""
    spec = svc.get("spec") or {}
    cluster_ips = [str(ip) for ip in spec.get("clusterIPs") or []]
    if cluster_ips:
        return cluster_ips
    return [str(spec["clusterIP"])] if spec.get("clusterIP") else []


def _family_policy(svc: Manifest) -> str:
    return str((svc.get("spec") or {}).get("ipFamilyPolicy") or "SingleStack")


def _rendered(
    pools: Sequence[Pool], namespaces: Mapping[str, Mapping[str, str]]
) -> frozenset[tuple[Pool, frozenset[str]]]:
    """The configuration as the pool reconciler compares it: each pool (a Go map: no order) with
    the namespaces its namespaceSelectors select (toConfig resolves them from the Namespaces)."""
    labels = {ns: {NAMESPACE_NAME_LABEL: ns, **own} for ns, own in namespaces.items()}
    return frozenset(
        (
            pool,
            frozenset(
                ns
                for ns, own in labels.items()
                if any(s.matches(own) for s in pool.namespace_selectors)
            ),
        )
        for pool in pools
    )


def _joined(key: tuple[str, str]) -> str:
    """AllocationKey as Go returns it: backend key + sharing key in one string, so keys that
    join alike (backend "app=web", sharing "prodkey" vs "app=webprod", "key") are no change."""
    sharing, backend = key
    return backend + sharing


def _family_changed(lb_family: str, svc_family: str, policy: str) -> bool:
    """serviceFamilyChanged: PreferDualStack tolerates a single-stack LB IP on a dual cluster IP."""
    if lb_family == "unknown":
        return True
    if lb_family == svc_family:
        return False
    return not (svc_family == "dual" and policy == "PreferDualStack")


@functools.lru_cache(maxsize=4096)
def _valid_ip(text: str) -> bool:
    # Cached: the same few status IPs are checked on every simulated step.
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _go_list(ips: Sequence[str]) -> str:
    """A list of IPs as Go's %q prints a []net.IP (["a" "b"])."""
    return "[" + " ".join(f'"{ip}"' for ip in ips) + "]"
