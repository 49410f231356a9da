"""MetalLB address pools: the `Pool` record and pools from manifests (label selectors:
planner.model.selectors).

Facts from metallb/metallb `internal/config/config.go` (addressPoolFromCR, ParseCIDR,
poolsFor) and the pre-0.13 ConfigMap format (`address-pools:` under the `config` key).

    >>> pool = Pool("web", ["10.0.0.0/30", "10.0.1.1-10.0.1.2"])
    >>> [str(n) for n in pool.networks]
    ['10.0.0.0/30', '10.0.1.1/32', '10.0.1.2/32']
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml

from planner import kube_yaml
from planner.errors import InputError, Origin
from planner.model.addresses import ip_address
from planner.objects import KubeObject

if TYPE_CHECKING:  # imported where a pool has selectors (few do)
    from planner.model.selectors import LabelSelector

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

# Kubernetes sets this label on every namespace (since 1.21); selectors often use it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class PoolAddressError(ValueError):
    """An entry of a pool's addresses is not a CIDR or a valid `start-end` range."""


def go_quote(text: str) -> str:
    """Quote a string as Go's %q does for printable text (MetalLB's error messages use it)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@functools.lru_cache(maxsize=1 << 16)  # addresses are immutable; steps re-parse the same few
def parse_ip(text: str) -> IPAddress:
    """Parse one IP as Go's net.ParseIP does (IPv4-mapped IPv6 counts as IPv4); ValueError if bad."""
    if "%" in text:  # Python accepts an IPv6 zone (`fe80::1%eth0`); net.ParseIP does not
        raise ValueError(f"{text!r} has a zone, which Go's net.ParseIP rejects")
    ip = ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_addresses(entry: str) -> tuple[IPNetwork, ...]:
    """One `spec.addresses` entry as MetalLB's ParseCIDR reads it: a CIDR, or a range summarised."""
    if "-" not in entry:
        return (_parse_cidr(entry),)
    first, last = entry.split("-", 1)
    start = _parse_range_end(entry, first, "start")
    end = _parse_range_end(entry, last, "end")
    if start.version != end.version:
        # MetalLB's ParseCIDR does not reject this; its summariser yields no prefix for it,
        # so the entry silently adds nothing. Surely a mistake: we refuse it.
        raise PoolAddressError(
            f"invalid IP range {go_quote(entry)}: start IP {go_quote(str(start))} and end IP "
            f"{go_quote(str(end))} are of different families"
        )
    if int(start) > int(end):
        raise PoolAddressError(
            f"invalid IP range {go_quote(entry)}: start IP {go_quote(str(start))} "
            f"is after the end IP {go_quote(str(end))}"
        )
    return tuple(ipaddress.summarize_address_range(start, end))


def _parse_cidr(entry: str) -> IPNetwork:
    # Go's net.ParseCIDR needs the "/len" and masks host bits away.
    if "/" not in entry:
        raise PoolAddressError(f"invalid CIDR {go_quote(entry)}")
    address, _, length = entry.partition("/")
    try:
        ip = parse_ip(address)
        if not length.isdigit():
            raise ValueError(length)
        return ipaddress.ip_network(f"{ip}/{int(length)}", strict=False)
    except ValueError:
        raise PoolAddressError(f"invalid CIDR {go_quote(entry)}") from None


def _parse_range_end(entry: str, text: str, which: str) -> IPAddress:
    try:
        return parse_ip(text.strip())
    except ValueError:
        raise PoolAddressError(
            f"invalid IP range {go_quote(entry)}: invalid {which} IP {go_quote(text)}"
        ) from None


@dataclass(frozen=True)
class Pool:
    """One MetalLB address pool, as the allocator sees it (config.Pool + its ServiceAllocation).

    `cidrs` takes CIDRs and `start-end` ranges; `networks` holds them summarised, in order.
    `has_service_allocation` (None: derived) says whether `spec.serviceAllocation` is set: such a
    pool is left out of the all-pools pass even when its lists are empty.
    """

    name: str
    cidrs: tuple[str, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    namespaces: tuple[str, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    priority: int = 0
    _: KW_ONLY
    namespace_selectors: tuple[LabelSelector, ...] = ()
    has_service_allocation: bool | None = None
    networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _bounds: tuple[tuple[int, int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cidrs = (self.cidrs,) if isinstance(self.cidrs, str) else tuple(self.cidrs)
        object.__setattr__(self, "cidrs", tuple(str(c) for c in cidrs))
        namespaces = (self.namespaces,) if isinstance(self.namespaces, str) else self.namespaces
        object.__setattr__(self, "namespaces", tuple(namespaces))
        object.__setattr__(self, "service_selectors", _selectors(self.service_selectors))
        object.__setattr__(self, "namespace_selectors", _selectors(self.namespace_selectors))
        if self.has_service_allocation is None:
            derived = bool(
                self.namespaces
                or self.service_selectors
                or self.namespace_selectors
                or self.priority
            )
            object.__setattr__(self, "has_service_allocation", derived)
        networks = tuple(n for entry in self.cidrs for n in parse_addresses(entry))
        object.__setattr__(self, "networks", networks)
        bounds = tuple(
            (n.version, int(n.network_address), int(n.broadcast_address)) for n in networks
        )
        object.__setattr__(self, "_bounds", bounds)

    def contains(self, ip: IPAddress) -> bool:
        """Whether the pool owns the IP (poolFor: buggy IPs are not owned by an avoiding pool)."""
        return self.owns_address(ip.version, int(ip))

    def owns_address(self, version: int, address: int) -> bool:
        """`contains` for an address given as (IP version, integer)."""
        if self.avoid_buggy_ips and version == 4 and address & 0xFF in (0, 255):
            return False
        return any(v == version and low <= address <= high for v, low, high in self._bounds)


def _selectors(selectors: Iterable[Any]) -> tuple[LabelSelector, ...]:
    listed = [selectors] if isinstance(selectors, (str, Mapping)) else list(selectors)
    if not listed:
        return ()
    from planner.model.selectors import LabelSelector  # only a pool with selectors gets here

    return tuple(LabelSelector.of(s) for s in listed)


def is_buggy_ip(ip: IPAddress) -> bool:
    """An IPv4 address ending in .0 or .255 (ipConfusesBuggyFirmwares)."""
    return ip.version == 4 and int(ip) & 0xFF in (0, 255)


# --- pools from manifests --------------------------------------------------------------------


def pools_from_objects(objects: Iterable[Mapping[str, Any] | KubeObject]) -> list[Pool]:
    """Pools from IPAddressPool (and legacy AddressPool) objects and the pre-0.13 ConfigMap.

    Other objects are ignored. Raises InputError naming the object and field for bad input:
    invalid CIDR or range, no addresses, duplicate pool names, overlapping pools.
    """
    pools: list[Pool] = []
    seen: dict[str, str] = {}
    for obj in objects:
        body, origin = (obj.body, obj.origin) if isinstance(obj, KubeObject) else (obj, None)
        for pool, where in _pools_of_object(body, origin):
            if pool.name in seen:
                raise InputError(
                    f"{where}: duplicate definition of pool {go_quote(pool.name)} "
                    f"(also defined by {seen[pool.name]})",
                    origin,
                )
            _check_no_overlap(pool, pools, where, origin)
            seen[pool.name] = where
            pools.append(pool)
    return pools


def _pools_of_object(body: Mapping[str, Any], origin: Origin | None) -> list[tuple[Pool, str]]:
    kind = body.get("kind")
    group = str(body.get("apiVersion", "")).split("/")[0]
    if kind in ("IPAddressPool", "AddressPool") and group == "metallb.io":
        return [(_pool_of_crd(body, origin), _describe(body))]
    if kind == "ConfigMap":
        return _pools_of_configmap(body, origin)
    return []


def _describe(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    name = meta.get("name", "")
    namespace = meta.get("namespace")
    return f"{body.get('kind')} {namespace}/{name}" if namespace else f"{body.get('kind')} {name}"


def _pool_of_crd(body: Mapping[str, Any], origin: Origin | None) -> Pool:
    where = _describe(body)
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise InputError(f"{where}: metadata.name: missing pool name", origin)
    spec = body.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: spec: must be a mapping", origin)
    cidrs = _addresses(spec.get("addresses"), f"{where}: spec.addresses", origin)
    allocation = spec.get("serviceAllocation")
    extras = _service_allocation(allocation, f"{where}: spec.serviceAllocation", origin)
    try:
        return Pool(
            str(name),
            tuple(cidrs),
            auto_assign=_flag(spec, "autoAssign", True, f"{where}: spec.autoAssign", origin),
            avoid_buggy_ips=_flag(
                spec, "avoidBuggyIPs", False, f"{where}: spec.avoidBuggyIPs", origin
            ),
            has_service_allocation=allocation is not None,
            **extras,
        )
    except ValueError as error:  # selectors were checked already; this is defensive
        raise InputError(f"{where}: spec: {error}", origin) from None


def _addresses(value: Any, where: str, origin: Origin | None) -> list[str]:
    if not value:
        raise InputError(f"{where}: pool has no prefixes defined", origin)
    if not isinstance(value, list):
        raise InputError(f"{where}: must be a list of CIDRs or ranges", origin)
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise InputError(f"{where}[{index}]: must be a string, not {entry!r}", origin)
        try:
            parse_addresses(entry)
        except PoolAddressError as error:
            raise InputError(f"{where}[{index}]: {error}", origin) from None
    return list(value)


def _flag(
    spec: Mapping[str, Any], key: str, default: bool, where: str, origin: Origin | None
) -> bool:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InputError(f"{where}: must be true or false, not {value!r}", origin)
    return value


def _service_allocation(allocation: Any, where: str, origin: Origin | None) -> dict[str, Any]:
    if allocation is None:
        return {}
    if not isinstance(allocation, Mapping):
        raise InputError(f"{where}: must be a mapping", origin)
    priority = allocation.get("priority", 0) or 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InputError(f"{where}.priority: must be an integer, not {priority!r}", origin)
    namespaces = _string_list(allocation.get("namespaces"), f"{where}.namespaces", origin)
    if len(set(namespaces)) != len(namespaces):
        raise InputError(f"{where}.namespaces: duplicate definition in namespaces field", origin)
    return {
        "priority": priority,
        "namespaces": namespaces,
        "namespace_selectors": _selector_list(
            allocation.get("namespaceSelectors"), f"{where}.namespaceSelectors", origin
        ),
        "service_selectors": _selector_list(
            allocation.get("serviceSelectors"), f"{where}.serviceSelectors", origin
        ),
    }


def _string_list(value: Any, where: str, origin: Origin | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: must be a list of strings", origin)
    return list(value)


def _selector_list(value: Any, where: str, origin: Origin | None) -> list[LabelSelector]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: must be a list of label selectors", origin)
    from planner.model.selectors import LabelSelector  # only a pool with selectors gets here

    selectors = []
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}[{index}]: must be a label selector mapping", origin)
        try:
            selectors.append(LabelSelector.of(entry))
        except (TypeError, ValueError) as error:
            raise InputError(f"{where}[{index}]: {error}", origin) from None
    if len(set(selectors)) != len(selectors):
        raise InputError(f"{where}: duplicate label selectors", origin)
    return selectors


def _pools_of_configmap(body: Mapping[str, Any], origin: Origin | None) -> list[tuple[Pool, str]]:
    text = (body.get("data") or {}).get("config")
    if not isinstance(text, str):
        return []
    where = f"{_describe(body)}: data.config"
    try:
        config = kube_yaml.load(text)
    except yaml.YAMLError as error:
        raise InputError(f"{where}: not valid YAML ({_yaml_problem(error)})", origin) from None
    if not isinstance(config, Mapping) or "address-pools" not in config:
        return []
    entries = config["address-pools"] or []
    if not isinstance(entries, list):
        raise InputError(f"{where}: address-pools must be a list", origin)
    return [
        (_pool_of_legacy_entry(entry, f"{where}: address-pools[{i}]", origin), where)
        for i, entry in enumerate(entries)
    ]


def _yaml_problem(error: yaml.YAMLError) -> str:
    return str(getattr(error, "problem", None) or error).splitlines()[0]


def _pool_of_legacy_entry(entry: Any, where: str, origin: Origin | None) -> Pool:
    if not isinstance(entry, Mapping):
        raise InputError(f"{where}: must be a mapping", origin)
    if not entry.get("name"):
        raise InputError(f"{where}.name: missing pool name", origin)
    if not entry.get("protocol"):
        raise InputError(f"{where}.protocol: missing protocol", origin)
    cidrs = _addresses(entry.get("addresses"), f"{where}.addresses", origin)
    return Pool(
        str(entry["name"]),
        tuple(cidrs),
        auto_assign=_flag(entry, "auto-assign", True, f"{where}.auto-assign", origin),
        avoid_buggy_ips=_flag(entry, "avoid-buggy-ips", False, f"{where}.avoid-buggy-ips", origin),
    )


def _check_no_overlap(pool: Pool, earlier: list[Pool], where: str, origin: Origin | None) -> None:
    # config.go poolsFor: CIDRs must not overlap, within a pool or across pools.
    defined = [(other.name, n) for other in earlier for n in other.networks]
    for network in pool.networks:
        for other_name, other in defined:
            if network.version == other.version and network.overlaps(other):
                raise InputError(
                    f"{where}: CIDR {go_quote(str(network))} in pool {go_quote(pool.name)} "
                    f"overlaps with already defined CIDR {go_quote(str(other))} "
                    f"(pool {go_quote(other_name)})",
                    origin,
                )
        defined.append((pool.name, network))
