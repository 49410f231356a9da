"""Static conflicts: desired Services that can never converge, found before anything is applied.

MetalLB has no Service webhook, so these only show up in a cluster as `<pending>` and an
`AllocationFailed` event. Each check here restates one of MetalLB's rules
(metallb/metallb `controller/service.go`, `internal/allocator/allocator.go`) and words its
finding the way MetalLB's event would, followed by the objects involved.

    >>> for conflict in static_conflicts(desired_services, pools, namespace_labels):
    ...     print(conflict.severity, conflict.origin, conflict.message)

Everything is grouped by IP (or by pool) first, so the cost grows linearly with the number of
Services.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from planner.analysis.records import Conflict
from planner.model.allocator import Port
from planner.model.pools import NAMESPACE_NAME_LABEL, IPAddress, Pool, is_buggy_ip, parse_ip
from planner.model.service import (
    DEPRECATED_PREFIX,
    LB_IPS_ANNOTATION,
    LB_IPS_ANNOTATIONS,
    STABLE_PREFIX,
    AllocationInputs,
    ServiceInputError,
    allocation_inputs,
    cluster_family,
    ingress_ips,
    is_load_balancer,
)
from planner.objects import KubeObject, Manifest

__all__ = ["static_conflicts"]

ERROR = "error"
K = TypeVar("K", bound=Hashable)
WARNING = "warning"


@dataclass(frozen=True)
class _Service:
    """One desired LoadBalancer Service whose requested IPs are usable, with where it came from."""

    inputs: AllocationInputs
    namespace: str
    origin: str

    @property
    def key(self) -> str:
        return self.inputs.svc_key


def static_conflicts(
    desired_services: Mapping[str, KubeObject],
    pools: Sequence[Pool],
    namespace_labels: Mapping[str, Mapping[str, str]],
    live_services: Mapping[str, Manifest] | None = None,
    known_inputs: Mapping[str, AllocationInputs] | None = None,
) -> tuple[Conflict, ...]:
    """Every static conflict (error) and warning of the desired Services, sorted.

    `desired_services` maps "namespace/name" to the desired Service; `live_services` (optional)
    lends the cluster's cluster IPs to tell a Service's IP family when the manifest does not say.
    `known_inputs`: allocation inputs already read the same way (with the live object and the
    cluster's family, planner.analysis.groups.load_balancer_inputs); the others are read here.
    Raises ServiceInputError (with the object's origin) for fields MetalLB cannot read at all.
    """
    known = known_inputs or {}
    live = live_services or {}
    config = _Pools(pools)
    default_family = cluster_family_of(pools, live.values())
    conflicts: list[Conflict] = []
    usable: list[_Service] = []
    for svc_key in sorted(desired_services):
        obj = desired_services[svc_key]
        if not is_load_balancer(obj.body):
            continue
        origin = str(obj.origin) if obj.origin else ""
        conflicts.extend(_deprecated_annotation_warnings(svc_key, obj.body, origin))
        request_error = _ip_request_error(svc_key, obj.body, origin)
        if request_error is not None:
            # MetalLB gives such a Service no IP at all: nothing further to check for it.
            conflicts.append(request_error)
            continue
        inputs = known.get(svc_key) or _inputs_of(obj, live.get(svc_key), default_family)
        service = _Service(inputs, obj.key.namespace, origin)
        conflicts.extend(_family_conflicts(service))
        conflicts.extend(_pool_conflicts(service, config, namespace_labels))
        usable.append(service)
    conflicts.extend(_shared_ip_conflicts(usable))
    conflicts.extend(_cross_namespace_pool_warnings(usable))
    conflicts.extend(_pool_capacity_conflicts(usable, config))
    return tuple(sorted(conflicts, key=_conflict_order))


# --- one Service at a time -------------------------------------------------------------------


def _inputs_of(obj: KubeObject, live: Manifest | None, default_family: str) -> AllocationInputs:
    try:
        return allocation_inputs(obj.body, live, default_family)
    except ServiceInputError as err:
        raise err.with_origin(obj.origin) from None


def _deprecated_annotation_warnings(svc_key: str, body: Manifest, origin: str) -> list[Conflict]:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    deprecated = sorted(name for name in annotations if name.startswith(DEPRECATED_PREFIX))
    if not deprecated:
        return []
    parts = []
    for name in deprecated:
        stable = STABLE_PREFIX + name[len(DEPRECATED_PREFIX) :]
        ignored = " (ignored: the stable one is also set and wins)" if stable in annotations else ""
        parts.append(f"{name} is deprecated, use {stable}{ignored}")
    return [_conflict(WARNING, "; ".join(parts), [svc_key], [origin])]


def _ip_request_error(svc_key: str, body: Manifest, origin: str) -> Conflict | None:
    """Requests MetalLB refuses outright: annotation plus spec.loadBalancerIP, >2 IPs, one family.

    An unparseable IP is not a conflict but bad input: allocation_inputs raises for it later.
    """
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    spec = body.get("spec") or {}
    from_annotation = _annotation_ips(annotations)
    if from_annotation and spec.get("loadBalancerIP"):
        message = f"service can not have both {LB_IPS_ANNOTATION} and svc.Spec.LoadBalancerIP"
        return _conflict(ERROR, f"{message}: {svc_key} gets no IP", [svc_key], [origin])
    parts = from_annotation.split(",")
    if len(parts) < 2:
        return None  # one IP can break neither rule
    ips = _parsed_ips(parts)
    if not ips:
        return None
    if len(ips) > 2:
        message = f"more than two addresses {_go_ips(ips)}"
        return _conflict(ERROR, f"{message}: {svc_key} requests {len(ips)}", [svc_key], [origin])
    if len(ips) == 2 and ips[0].version == ips[1].version:
        message = f'"{ips[0]}" "{ips[1]}" has the same family'
        return _conflict(
            ERROR,
            f"{message}: {svc_key} may request one IPv4 and one IPv6 address",
            [svc_key],
            [origin],
        )
    return None


def _annotation_ips(annotations: Mapping[str, object]) -> str:
    # The stable key wins whenever it is present, even with an empty value (valueForAnnotation).
    for name in LB_IPS_ANNOTATIONS:
        if name in annotations:
            return str(annotations[name] or "")
    return ""


def _parsed_ips(parts: Iterable[str]) -> list[IPAddress]:
    try:
        return [parse_ip(part.strip()) for part in parts]
    except ValueError:
        return []


def _family_conflicts(service: _Service) -> list[Conflict]:
    """Requested IPs of another family than the Service's (model.service.family: stated, else
    inferred from the request or the cluster, so an IPv6-only cluster is no mismatch)."""
    ips = service.inputs.requested_ips
    if not ips:
        return []
    requested = "dual" if len(ips) == 2 else _ip_family(ips[0])
    if requested == service.inputs.family:
        return []
    message = (
        f"requested loadBalancer IP(s) {_go_ips(ips)} does not match the ipFamily of the service:"
        f" {service.key} is {service.inputs.family}, the request is {requested}"
    )
    return [_conflict(ERROR, message, [service.key], [service.origin])]


def cluster_family_of(pools: Sequence[Pool], live_services: Iterable[Manifest]) -> str:
    """The family a Service stating none gets here: from the pools' addresses (the stand-in that
    owns every address tells nothing) and the live Services' cluster and ingress IPs."""
    networks = [network for pool in pools for network in pool.networks if network.prefixlen > 0]
    if any(network.version == 4 for network in networks):
        # An IPv4 pool settles it (only an all-IPv6 cluster is IPv6): parsing every live
        # Service's addresses, twice per diff, cost a tenth of a second per 10,000 Services.
        return cluster_family([str(network) for network in networks])
    addresses = [str(network) for network in networks]
    for svc in live_services:
        spec = svc.get("spec") or {}
        addresses += [str(ip) for ip in spec.get("clusterIPs") or [] if ip and ip != "None"]
        addresses += ingress_ips(svc)
    return cluster_family(addresses)


def _pool_conflicts(
    service: _Service, config: _Pools, namespace_labels: Mapping[str, Mapping[str, str]]
) -> list[Conflict]:
    inputs = service.inputs
    by_name = config.by_name
    requested_pool = by_name.get(inputs.requested_pool) if inputs.requested_pool else None
    if inputs.requested_pool and requested_pool is None:
        message = f'unknown pool "{inputs.requested_pool}": {service.key} requests it' + (
            f", the pools are {', '.join(sorted(by_name))}" if by_name else ", there are no pools"
        )
        return [_conflict(ERROR, message, [service.key], [service.origin])]
    if inputs.requested_ips:
        return _requested_ip_conflicts(service, config, requested_pool, namespace_labels)
    if requested_pool is not None:
        return _admission_conflicts(service, requested_pool, namespace_labels)
    return []


def _requested_ip_conflicts(
    service: _Service,
    config: _Pools,
    requested_pool: Pool | None,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> list[Conflict]:
    ips = service.inputs.requested_ips
    holder = config.owner(ips)
    if holder is None:
        where = "outside every IPAddressPool" if len(ips) == 1 else "not all in one IPAddressPool"
        message = f"{_go_ips(ips)} is not allowed in config: {service.key} requests it, {where}"
        return [_conflict(ERROR, message, [service.key], [service.origin])]
    if requested_pool is not None and holder.name != requested_pool.name:
        message = (
            f"requested loadBalancer IP(s) {_go_ips(ips)} is not compatible with requested"
            f" address pool {requested_pool.name}: {service.key} requests both, the IP is in"
            f" pool {holder.name}"
        )
        return [_conflict(ERROR, message, [service.key], [service.origin])]
    return _admission_conflicts(service, holder, namespace_labels)


def _admission_conflicts(
    service: _Service, pool: Pool, namespace_labels: Mapping[str, Mapping[str, str]]
) -> list[Conflict]:
    labels = dict(service.inputs.labels)
    if _pool_admits(pool, service.namespace, namespace_labels, labels):
        return []
    message = (
        f"pool {pool.name} not compatible for ip assignment: its serviceAllocation does not"
        f" admit {service.key} (namespace {service.namespace}, its labels or its namespace's)"
    )
    return [_conflict(ERROR, message, [service.key], [service.origin])]


# --- Services that request the same IP -------------------------------------------------------


def _shared_ip_conflicts(services: Sequence[_Service]) -> list[Conflict]:
    by_ip: dict[str, list[_Service]] = defaultdict(list)
    for service in services:
        for ip in service.inputs.requested_ips:
            by_ip[ip].append(service)
    conflicts: list[Conflict] = []
    for ip in sorted(by_ip, key=_ip_order):
        holders = by_ip[ip]
        if len(holders) < 2:
            continue
        key_conflict = _key_conflict(ip, holders)
        if key_conflict is not None:
            conflicts.append(key_conflict)
        conflicts.extend(_port_conflicts(ip, holders))
        conflicts.extend(_cross_namespace_warning(f'"{ip}" is shared', holders))
    return conflicts


def _key_conflict(ip: str, holders: Sequence[_Service]) -> Conflict | None:
    """Services on one requested IP whose allocation keys MetalLB's sharingOK rejects."""
    lone = [s for s in holders if not s.inputs.sharing_key]
    if lone:
        names = ", ".join(s.key for s in lone)
        verb = "does" if len(lone) == 1 else "do"
        message = (
            f'"{ip}" is requested by {len(holders)} Services but {names} {verb} not allow sharing'
            " (no metallb.io/allow-shared-ip): MetalLB gives the IP to one of them and the others"
            ' stay pending ("new service does not allow sharing")'
        )
        return _conflict_of(ERROR, message, holders)
    by_sharing = _partition(holders, lambda s: s.inputs.sharing_key)
    if len(by_sharing) > 1:
        first, second = sorted(by_sharing)[:2]
        message = (
            f'"{ip}" is requested by Services with different sharing keys'
            f" ({_partition_text(by_sharing)}): only one key can hold it"
            f' ("sharing key "{second}" does not match existing sharing key "{first}"")'
        )
        return _conflict_of(ERROR, message, holders)
    by_backend = _partition(holders, lambda s: s.inputs.backend_key)
    if len(by_backend) > 1:
        first, second = sorted(by_backend)[:2]
        message = (
            f'"{ip}" is requested by externalTrafficPolicy: Local Services with different'
            f" selectors ({_partition_text(by_backend)}): only one backend can hold it"
            f' ("backend key "{second}" does not match existing sharing key "{first}"")'
        )
        return _conflict_of(ERROR, message, holders)
    return None


def _port_conflicts(ip: str, holders: Sequence[_Service]) -> list[Conflict]:
    users: dict[Port, list[_Service]] = defaultdict(list)
    for service in holders:
        for port in dict.fromkeys(service.inputs.ports):
            users[port].append(service)
    conflicts = []
    for port in sorted(users, key=lambda port: (port.proto, port.port)):
        if len(users[port]) > 1:
            names = " and ".join(s.key for s in users[port])
            message = (
                f'port {port.proto}/{port.port} is already in use on "{ip}": {names} both use it'
            )
            conflicts.append(_conflict_of(ERROR, message, users[port]))
    return conflicts


def _cross_namespace_warning(subject: str, holders: Sequence[_Service]) -> list[Conflict]:
    namespaces = sorted({s.namespace for s in holders})
    if len(namespaces) < 2:
        return []
    message = (
        f"{subject} across namespaces {', '.join(namespaces)} ({', '.join(s.key for s in holders)}):"
        " MetalLB allows it, but an edit in one namespace can put the other's Service in pending"
    )
    return [_conflict_of(WARNING, message, holders)]


def _cross_namespace_pool_warnings(services: Sequence[_Service]) -> list[Conflict]:
    """Auto-assigned Services of one allocation key in several namespaces will likely share an IP."""
    auto = [s for s in services if s.inputs.sharing_key and not s.inputs.requested_ips]
    by_key = _partition(
        auto, lambda s: (s.inputs.sharing_key, s.inputs.backend_key, s.inputs.requested_pool)
    )
    conflicts = []
    for key in sorted(by_key):
        subject = f'sharing key "{key[0]}" (auto-assigned) is used'
        conflicts.extend(_cross_namespace_warning(subject, by_key[key]))
    return conflicts


# --- pools too small ------------------------------------------------------------------------


def _pool_capacity_conflicts(services: Sequence[_Service], config: _Pools) -> list[Conflict]:
    """A pool named by more Services than it has addresses for (a lower bound: sharing counted)."""
    by_name = config.by_name
    by_pool = _partition(
        [s for s in services if s.inputs.requested_pool in by_name and not s.inputs.requested_ips],
        lambda s: s.inputs.requested_pool,
    )
    if not by_pool:
        return []
    taken = _requested_ips_per_pool(services, config)
    conflicts = []
    for name in sorted(by_pool):
        needed = _addresses_needed(by_pool[name], taken.get(name, set()))
        capacity = _pool_capacity(by_name[name])
        short = [fam for fam in ("ipv4", "ipv6") if needed[fam] > capacity[fam]]
        if short:
            fam = short[0]
            message = (
                f'no available IPs in pool "{name}": {len(by_pool[name])} Services request it and'
                f" need at least {needed[fam]} {_family_word(fam)} addresses, it has"
                f" {capacity[fam]}"
            )
            conflicts.append(_conflict_of(ERROR, message, by_pool[name]))
    return conflicts


def _requested_ips_per_pool(services: Sequence[_Service], config: _Pools) -> dict[str, set[str]]:
    per_pool: dict[str, set[str]] = defaultdict(set)
    for ip in {ip for s in services for ip in s.inputs.requested_ips}:
        holder = config.owner((ip,))
        if holder is not None:
            per_pool[holder.name].add(ip)
    return per_pool


def _addresses_needed(requesters: Sequence[_Service], taken: set[str]) -> dict[str, int]:
    # Services of one allocation key may share one address; every other Service needs its own.
    # Addresses that other Services request by IP are taken as well.
    needed = {"ipv4": 0, "ipv6": 0}
    slots: dict[object, _Service] = {}
    for service in requesters:
        inputs = service.inputs
        slots[(inputs.allocation_key, inputs.family) if inputs.sharing_key else service.key] = (
            service
        )
    for service in slots.values():
        for fam in _families_needed(service.inputs):
            needed[fam] += 1
    for ip in taken:
        needed[_ip_family(ip)] += 1
    return needed


def _families_needed(inputs: AllocationInputs) -> tuple[str, ...]:
    if inputs.family == "dual" and inputs.family_policy == "RequireDualStack":
        return ("ipv4", "ipv6")
    return ("ipv6",) if inputs.family == "ipv6" else ("ipv4",)


def _family_word(fam: str) -> str:
    return "IPv4" if fam == "ipv4" else "IPv6"


# --- pools as MetalLB's allocator reads them ------------------------------------------------


class _Pools:
    """The configured pools by name, and which pool owns which IPs (poolFor), remembered."""

    def __init__(self, pools: Sequence[Pool]) -> None:
        self.by_name = {pool.name: pool for pool in pools}
        self._owners: dict[tuple[str, ...], Pool | None] = {}

    def owner(self, ips: tuple[str, ...]) -> Pool | None:
        """The pool that owns every one of `ips`, or None."""
        if ips not in self._owners:
            addresses = [_address(ip) for ip in ips]
            self._owners[ips] = next(
                (p for p in self.by_name.values() if all(p.contains(a) for a in addresses)), None
            )
        return self._owners[ips]


def _pool_admits(
    pool: Pool,
    namespace: str,
    namespace_labels: Mapping[str, Mapping[str, str]],
    service_labels: Mapping[str, str],
) -> bool:
    """isPoolCompatibleWithService, with namespace selectors resolved over the known namespaces."""
    allowed = set(pool.namespaces)
    for selector in pool.namespace_selectors:
        allowed.update(ns for ns, labels in namespace_labels.items() if selector.matches(labels))
        # A namespace we were not shown still carries Kubernetes' own name label.
        unseen = namespace not in namespace_labels
        if unseen and selector.matches({NAMESPACE_NAME_LABEL: namespace}):
            allowed.add(namespace)
    if allowed and namespace not in allowed:
        return False
    if pool.service_selectors:
        return any(selector.matches(service_labels) for selector in pool.service_selectors)
    return True


def _pool_capacity(pool: Pool) -> dict[str, int]:
    """Addresses per family (poolCount), leaving out .0/.255 when the pool avoids buggy IPs."""
    capacity = {"ipv4": 0, "ipv6": 0}
    for network in pool.networks:
        fam = "ipv4" if network.version == 4 else "ipv6"
        size = network.num_addresses
        if pool.avoid_buggy_ips and network.version == 4:
            size -= _buggy_addresses(network)
        capacity[fam] += size
    return capacity


def _buggy_addresses(network: ipaddress.IPv4Network) -> int:
    if network.prefixlen <= 24:
        return 2 * (network.num_addresses // 256)
    return sum(1 for ip in (network[0], network[-1]) if is_buggy_ip(ip))


# --- small helpers --------------------------------------------------------------------------


def _partition(items: Iterable[_Service], key: Callable[[_Service], K]) -> dict[K, list[_Service]]:
    groups: dict[K, list[_Service]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _partition_text(groups: Mapping[str, Sequence[_Service]]) -> str:
    return "; ".join(f'"{key}": {", ".join(s.key for s in groups[key])}' for key in sorted(groups))


@functools.lru_cache(maxsize=1 << 16)
def _address(ip: str) -> IPAddress:
    # Thousands of Services name the same few addresses: parse each once.
    return parse_ip(ip)


def _ip_family(ip: str) -> str:
    return "ipv4" if _address(ip).version == 4 else "ipv6"


def _ip_order(ip: str) -> tuple[int, int]:
    address = _address(ip)
    return (address.version, int(address))


def _go_ips(ips: Iterable[object]) -> str:
    """A list of IPs as Go's %q prints a []net.IP: ["10.0.0.1" "fd00::1"]."""
    return "[" + " ".join(f'"{ip}"' for ip in ips) + "]"


def _conflict(
    severity: str, message: str, objects: Sequence[str], origins: Sequence[str]
) -> Conflict:
    return Conflict(
        message=message,
        objects=tuple(objects),
        severity=severity,
        origin=next((o for o in origins if o), ""),
        origins=tuple(origins),
    )


def _conflict_of(severity: str, message: str, services: Sequence[_Service]) -> Conflict:
    ordered = sorted(services, key=lambda s: s.key)
    return _conflict(severity, message, [s.key for s in ordered], [s.origin for s in ordered])


def _conflict_order(conflict: Conflict) -> tuple[int, tuple[str, ...]]:
    # A stable sort: conflicts of the same objects stay in the order they were found (by IP, port).
    return (0 if conflict.severity == ERROR else 1, conflict.objects)
