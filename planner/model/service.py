"""What MetalLB reads from a Service manifest: its allocation inputs.

Facts from metallb/metallb `controller/service.go` (SharingKey, valueForAnnotation,
getDesiredLbIPs), `internal/allocator/k8salloc/k8salloc.go` (Ports, BackendKey) and
`internal/ipfamily/ipfamily.go` (ForAddresses, ForService); our own code.

    >>> inputs = allocation_inputs(manifest)          # raises ServiceInputError on bad input
    >>> inputs.sharing_key, inputs.backend_key, inputs.requested_ips

Each derivation is also a public function, because the controller must apply them at the
points where MetalLB does (a bad `loadBalancerIPs` annotation only fails late, for example).
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

from planner.errors import InputError, Origin
from planner.model.addresses import ip_address
from planner.model.allocator import Port
from planner.objects import Manifest, svc_key_of

STABLE_PREFIX = "metallb.io/"
DEPRECATED_PREFIX = "metallb.universe.tf/"

SHARING_ANNOTATION = STABLE_PREFIX + "allow-shared-ip"
DEPRECATED_SHARING_ANNOTATION = DEPRECATED_PREFIX + "allow-shared-ip"
SHARING_ANNOTATIONS = (SHARING_ANNOTATION, DEPRECATED_SHARING_ANNOTATION)

LB_IPS_ANNOTATION = STABLE_PREFIX + "loadBalancerIPs"
DEPRECATED_LB_IPS_ANNOTATION = DEPRECATED_PREFIX + "loadBalancerIPs"
LB_IPS_ANNOTATIONS = (LB_IPS_ANNOTATION, DEPRECATED_LB_IPS_ANNOTATION)

POOL_ANNOTATION = STABLE_PREFIX + "address-pool"
DEPRECATED_POOL_ANNOTATION = DEPRECATED_PREFIX + "address-pool"
POOL_ANNOTATIONS = (POOL_ANNOTATION, DEPRECATED_POOL_ANNOTATION)

ALLOCATED_FROM_POOL_ANNOTATION = STABLE_PREFIX + "ip-allocated-from-pool"
DEPRECATED_ALLOCATED_FROM_POOL_ANNOTATION = DEPRECATED_PREFIX + "ip-allocated-from-pool"
ALLOCATED_FROM_POOL_ANNOTATIONS = (
    ALLOCATED_FROM_POOL_ANNOTATION,
    DEPRECATED_ALLOCATED_FROM_POOL_ANNOTATION,
)

# The planner's group-wide annotations (group-transitions.md); planner/model/group_annotations.py imports these.
GROUP_ANNOTATION_PREFIX = "shared-ip-planner.dev/"
GROUP_ANNOTATION = GROUP_ANNOTATION_PREFIX + "group"
GROUP_MEMBERS_ANNOTATION = GROUP_ANNOTATION_PREFIX + "group-members"
GROUP_DIGEST_ANNOTATION = GROUP_ANNOTATION_PREFIX + "group-digest"


FAMILIES = ("ipv4", "ipv6", "dual")
FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
DUAL_POLICIES = ("PreferDualStack", "RequireDualStack")


class ServiceInputError(InputError):
    """A Service field MetalLB cannot use; carries the field path, the caller adds the origin."""

    def __init__(self, field: str, message: str, origin: Origin | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}", origin)

    def with_origin(self, origin: Origin | None) -> ServiceInputError:
        """The same error, located at `origin` (file, document, line)."""
        return ServiceInputError(self.field, self.message, origin)


@dataclass(frozen=True, slots=True)
class AllocationInputs:
    """Everything about one Service that MetalLB's allocation depends on."""

    svc_key: str
    is_load_balancer: bool
    sharing_key: str
    backend_key: str
    ports: tuple[Port, ...]
    requested_ips: tuple[str, ...]
    requested_pool: str
    family: str  # "ipv4" | "ipv6" | "dual"
    family_policy: str  # "SingleStack" | "PreferDualStack" | "RequireDualStack"
    labels: tuple[tuple[str, str], ...]

    @property
    def allocation_key(self) -> tuple[str, str]:
        """(sharing key, backend key): what an IP remembers of its last holder."""
        return (self.sharing_key, self.backend_key)


def allocation_inputs(
    svc: Manifest,
    live: Manifest | None = None,
    default_family: str = "ipv4",
    *,
    read_alone: AllocationInputs | None = None,
) -> AllocationInputs:
    """Derive the allocation inputs of a Service manifest (live: the cluster's current object;
    `default_family`: the cluster's, for a Service nothing else tells the family of).

    `read_alone`: `allocation_inputs(svc)` when the caller has it (or those of a copy of `svc`
    that differs only where no input reads, such as the group-wide annotations); only what the
    live object and the default family decide is then derived again."""
    table = _REMEMBERED.get()
    if table is None:
        return _derived_inputs(svc, live, default_family, read_alone)
    return table.inputs(svc, live, default_family, read_alone)


class _InputsTable:
    """Allocation inputs by the identity of (manifest, live object, default family).

    Manifests are plain dicts (neither hashable nor weakly referable): each entry keeps its
    two objects alive, so no id is reused while the table lives. A bad input is not kept:
    its ServiceInputError is raised on every call, as without the table."""

    def __init__(self) -> None:
        self._entries: dict[
            tuple[int, int, str], tuple[AllocationInputs, Manifest, Manifest | None]
        ] = {}

    def inputs(
        self,
        svc: Manifest,
        live: Manifest | None,
        default_family: str,
        read_alone: AllocationInputs | None,
    ) -> AllocationInputs:
        key = (id(svc), id(live), default_family)
        entry = self._entries.get(key)
        if entry is None:
            entry = (_derived_inputs(svc, live, default_family, read_alone), svc, live)
            self._entries[key] = entry
        return entry[0]


# The table of the stage running now (None: each call derives anew).
_REMEMBERED: contextvars.ContextVar[_InputsTable | None] = contextvars.ContextVar(
    "remembered_inputs", default=None
)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def inputs_remembered(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` run with each Service's allocation inputs derived once per (manifest, live
    object, default family), by identity: planning reads the same Services' inputs again and
    again (units, components, transitions: 87,000 reads of 20,920 pairs at 10,000 Services).
    The manifests must not change meanwhile (planning changes none in place: it copies). A
    nested call shares the outer call's table; the table goes when the outer call ends."""

    @functools.wraps(function)
    def remembering(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _REMEMBERED.get() is not None:
            return function(*args, **kwargs)
        token = _REMEMBERED.set(_InputsTable())
        try:
            return function(*args, **kwargs)
        finally:
            _REMEMBERED.reset(token)

    return remembering


def _derived_inputs(
    svc: Manifest,
    live: Manifest | None,
    default_family: str,
    read_alone: AllocationInputs | None = None,
) -> AllocationInputs:
    if read_alone is not None:
        return _in_context(read_alone, svc, live, default_family)
    # Each section looked up once for all the inputs that read it (a derivation read the
    # annotations four times and the spec eight; 33,000 derivations per 10,000-Service diff).
    metadata = svc.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    spec = svc.get("spec") or {}
    # In the order the inputs were always read: of two bad fields, the same one is named.
    key, balanced = svc_key_of(svc), spec.get("type") == "LoadBalancer"
    shared = _value_of(annotations, SHARING_ANNOTATION, DEPRECATED_SHARING_ANNOTATION)
    backend, own_ports = _backend_key(spec), _ports(spec)
    requested = _requested_ips(annotations, spec)
    return AllocationInputs(
        svc_key=key,
        is_load_balancer=balanced,
        sharing_key=shared,
        backend_key=backend,
        ports=own_ports,
        requested_ips=requested,
        requested_pool=_value_of(annotations, POOL_ANNOTATION, DEPRECATED_POOL_ANNOTATION),
        family=_family(svc, spec, live, default_family, requested),
        family_policy=_family_policy(spec, live),
        labels=tuple(sorted((str(k), str(v)) for k, v in (metadata.get("labels") or {}).items())),
    )


def _in_context(
    read_alone: AllocationInputs, svc: Manifest, live: Manifest | None, default_family: str
) -> AllocationInputs:
    """`svc`'s inputs from those read without context: of all its inputs only the family and
    its policy read the live object and the default family (a scenario's desired Services,
    read alone when stamped, are read again with their live objects: a third of the cost)."""
    context = family(svc, live, default_family), family_policy(svc, live)
    if context == (read_alone.family, read_alone.family_policy):
        return read_alone  # frozen: one record shared by both readings
    return replace(read_alone, family=context[0], family_policy=context[1])


def annotation(svc: Manifest | None, name: str) -> str:
    """One annotation's value as text ("" when the Service or the annotation is absent)."""
    return str(_annotations(svc or {}).get(name) or "")


def annotation_value(svc: Manifest, stable: str, deprecated: str) -> str:
    """The stable annotation's value when its key is present (even empty), else the deprecated one."""
    return _value_of(_annotations(svc), stable, deprecated)


def _value_of(annotations: Mapping[str, Any], stable: str, deprecated: str) -> str:
    if stable in annotations:
        return str(annotations[stable] or "")
    return str(annotations.get(deprecated) or "")


def is_load_balancer(svc: Manifest) -> bool:
    """Whether MetalLB handles the Service at all (`spec.type: LoadBalancer`)."""
    return _spec(svc).get("type") == "LoadBalancer"


def load_balancer_class(svc: Manifest) -> str | None:
    """`spec.loadBalancerClass`, or None when the Service sets none."""
    value = _spec(svc).get("loadBalancerClass")
    return None if value is None else str(value)


def handled_by_metallb(svc: Manifest | None, lb_class: str = "") -> bool:
    """Whether MetalLB's controller, started with `--lb-class lb_class`, is handed the Service.

    filterByLoadBalancerClass (internal/k8s/controllers/service_controller.go, v0.14.9 and
    v0.15.3 alike): without a class of its own MetalLB takes only Services that set none; with
    one, only Services that set exactly it. A deletion (None) always reaches the controller.
    """
    if svc is None:
        return True
    own = load_balancer_class(svc)
    if own is None:
        return not lb_class
    return own == lb_class


def sharing_key(svc: Manifest) -> str:
    """The `allow-shared-ip` value; the stable key wins whenever it is present."""
    return annotation_value(svc, SHARING_ANNOTATION, DEPRECATED_SHARING_ANNOTATION)


def backend_key(svc: Manifest) -> str:
    """The selector as a Kubernetes label-set string under `Local`, else the empty string."""
    return _backend_key(_spec(svc))


def _backend_key(spec: Mapping[str, Any]) -> str:
    if spec.get("externalTrafficPolicy") != "Local":
        return ""
    selector = spec.get("selector") or {}
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def ports(svc: Manifest) -> tuple[Port, ...]:
    """One (protocol, port) per `spec.ports[]`; the API server defaults the protocol to TCP."""
    return _ports(_spec(svc))


def _ports(spec: Mapping[str, Any]) -> tuple[Port, ...]:
    result = []
    for index, entry in enumerate(spec.get("ports") or []):
        field = f"spec.ports[{index}]"
        if not isinstance(entry, Mapping):
            raise ServiceInputError(field, "is not a mapping")
        number = entry.get("port")
        if isinstance(number, bool) or not isinstance(number, int):
            raise ServiceInputError(f"{field}.port", f"must be an integer, not {number!r}")
        result.append(_port(str(entry.get("protocol") or "TCP"), number))
    return tuple(result)


# Bounded: a repo has few distinct ports (a handful per 10,000 Services in bench/generate.py).
@functools.lru_cache(maxsize=1 << 12)
def _port(protocol: str, number: int) -> Port:
    """One record per (protocol, port), shared by every Service that has it: the records are
    frozen, and a 10,000-Service diff reads some 60,000 ports (one object each before)."""
    return Port(protocol, number)


def requested_pool(svc: Manifest) -> str:
    """The pool named by the `address-pool` annotation ("" when none)."""
    return annotation_value(svc, POOL_ANNOTATION, DEPRECATED_POOL_ANNOTATION)


def requested_ips(svc: Manifest) -> tuple[str, ...]:
    """The IPs the Service asks for, canonical, in the order written (raises ServiceInputError)."""
    return _requested_ips(_annotations(svc), _spec(svc))


def _requested_ips(annotations: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[str, ...]:
    field = LB_IPS_ANNOTATION if LB_IPS_ANNOTATION in annotations else DEPRECATED_LB_IPS_ANNOTATION
    from_annotation = _value_of(annotations, LB_IPS_ANNOTATION, DEPRECATED_LB_IPS_ANNOTATION)
    from_spec = str(spec.get("loadBalancerIP") or "")
    if not from_annotation and not from_spec:
        return ()
    if from_annotation and from_spec:
        raise ServiceInputError(
            "spec.loadBalancerIP",
            f"cannot be set together with the {field} annotation (MetalLB assigns no IP)",
        )
    if from_spec:
        return (_parse_ip(from_spec, "spec.loadBalancerIP"),)
    return _requested_in_annotation(from_annotation, field)


# One entry per distinct annotation text: 45,000 at 100,000 Services (bench/generate.py). A
# cache of 4,096 held the 10,000-Service repo's but thrashed beyond (2,250 parses at 10,000
# Services, 20,841 at 30,000: the parses grew with the square of the repo).
@functools.cache
def _requested_in_annotation(text: str, field: str) -> tuple[str, ...]:
    """The annotation's IPs, parsed once per text: a large group's fixed-behaviour transition
    orders every member by it on each handling (errors are not cached: raised every time)."""
    ips = tuple(_parse_ip(part, f"metadata.annotations.{field}") for part in text.split(","))
    _check_ip_families(ips, f"metadata.annotations.{field}")
    return ips


def ip_family_of(ips: tuple[str, ...] | list[str]) -> str:
    """ "ipv4", "ipv6" or "dual" for one IP or two IPs of different families (ValueError otherwise)."""
    versions = [_address(ip).version for ip in ips]
    if len(versions) == 1:
        return "ipv4" if versions[0] == 4 else "ipv6"
    if len(versions) == 2 and versions[0] != versions[1]:
        return "dual"
    raise ValueError(f"{list(ips)} is not one IP or two IPs of different families")


def family(svc: Manifest, live: Manifest | None = None, default: str = "ipv4") -> str:
    """The Service's IP family as MetalLB derives it from its cluster IPs.

    Desired manifests rarely carry cluster IPs (the API server assigns them), so in order: its
    cluster IPs; its `ipFamilies` / `ipFamilyPolicy`; the live object's (whose cluster IPs the
    API server keeps); its requested IPs (the API server gives a Service that states nothing the
    family its request needs only if the cluster has it, so this is the family that can work);
    else `default`, the cluster's (cluster_family).
    """
    return _family(svc, _spec(svc), live, default)


def _family(
    svc: Manifest,
    spec: Mapping[str, Any],
    live: Manifest | None,
    default: str,
    requested: tuple[str, ...] | None = None,
) -> str:
    """family(); `requested`: `requested_ips(svc)` when the caller has read it."""
    own = _stated_family(spec)
    if own:
        return own
    if live is not None:
        stated = _stated_family(_spec(live))
        if stated:
            return stated
    own_request = _requested_family(svc) if requested is None else _family_of(requested, spec)
    return own_request or (_requested_family(live) if live is not None else "") or default


def cluster_family(addresses: Iterable[str]) -> str:
    """The family a Service stating none gets in a cluster whose pools and Services hold
    `addresses` (IPs or CIDRs): IPv6 in an IPv6-only cluster, else IPv4 (the usual primary)."""
    versions = {_version(text) for text in addresses}
    versions.discard(0)
    return "ipv6" if versions == {6} else "ipv4"


def _version(text: str) -> int:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False).version
    except ValueError:
        return 0  # not an address (a range's ends are given one by one): tells nothing


def _stated_family(spec: Mapping[str, Any]) -> str:
    """The family its cluster IPs or its `ipFamilies` / `RequireDualStack` state ("" if none)."""
    cluster_ips = [ip for ip in (spec.get("clusterIPs") or []) if ip and ip != "None"]
    if not cluster_ips and spec.get("clusterIP") not in (None, "", "None"):
        cluster_ips = [str(spec["clusterIP"])]
    if cluster_ips:
        return _family_of_cluster_ips(cluster_ips)
    return _declared_family(spec)


def _requested_family(svc: Manifest) -> str:
    """The family of its requested IPs; two only make it dual-stack when its policy allows."""
    try:
        ips = requested_ips(svc)
    except ServiceInputError:
        return ""  # reported where the request is read
    return _family_of(ips, _spec(svc))


def _family_of(ips: tuple[str, ...], spec: Mapping[str, Any]) -> str:
    """The family of requested `ips` ("" when none, or when the policy keeps two apart)."""
    if not ips:
        return ""
    if len(ips) == 2 and spec.get("ipFamilyPolicy") not in DUAL_POLICIES:
        return ""  # a SingleStack Service cannot hold both: the cluster decides its family
    try:
        return ip_family_of(ips)
    except ValueError:
        return ""


def family_policy(svc: Manifest, live: Manifest | None = None) -> str:
    """`spec.ipFamilyPolicy`, else the live object's, else SingleStack (MetalLB's default)."""
    return _family_policy(_spec(svc), live)


def _family_policy(spec: Mapping[str, Any], live: Manifest | None) -> str:
    policy = spec.get("ipFamilyPolicy")
    if not policy and live is not None:
        policy = _spec(live).get("ipFamilyPolicy")
    policy = str(policy or "SingleStack")
    if policy not in FAMILY_POLICIES:
        raise ServiceInputError(
            "spec.ipFamilyPolicy", f"must be one of {', '.join(FAMILY_POLICIES)}, not {policy!r}"
        )
    return policy


def has_cluster_ip(svc: Manifest) -> bool:
    """Whether the Service has a cluster IP MetalLB can read its family from."""
    spec = _spec(svc)
    return bool(spec.get("clusterIPs")) or bool(spec.get("clusterIP"))


def ingress_ips(svc: Manifest) -> tuple[str, ...]:
    """The IPs in `status.loadBalancer.ingress` (empty: the Service is pending)."""
    status = svc.get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    # (type(entry) is dict first: the ABC's isinstance costs a microsecond per entry, and each
    # handling reads the status several times. A list, not a generator, for the tuple: the
    # generator's frame cost more than the one entry most Services have.)
    return tuple(
        [
            str(entry["ip"])
            for entry in ingress
            if (type(entry) is dict or isinstance(entry, Mapping)) and entry.get("ip")
        ]
    )


# An IPv4 address as Python writes it (no leading zeros): it parses, and reads back the same.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def _family_of_cluster_ips(cluster_ips: list[str]) -> str:
    # Most Services have one cluster IP, a plain IPv4 one, unique to it: no parse needed.
    only = cluster_ips[0] if len(cluster_ips) == 1 else None
    if type(only) is str and _CANONICAL_IPV4.fullmatch(only):
        return "ipv4"
    try:
        return ip_family_of([str(_address(ip)) for ip in cluster_ips])
    except ValueError as err:
        raise ServiceInputError("spec.clusterIPs", f"cannot tell the IP family: {err}") from None


def _declared_family(spec: Mapping[str, Any]) -> str:
    families = [str(f) for f in (spec.get("ipFamilies") or [])]
    if len(families) >= 2 or spec.get("ipFamilyPolicy") == "RequireDualStack":
        return "dual"
    if families:
        if families[0] not in ("IPv4", "IPv6"):
            raise ServiceInputError("spec.ipFamilies", f"unknown IP family {families[0]!r}")
        return "ipv4" if families[0] == "IPv4" else "ipv6"
    return ""


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # Remembered (ip_address): every simulated step re-reads the same few addresses.
    if "%" in text:  # Python accepts an IPv6 zone (`fe80::1%eth0`); Go's net.ParseIP does not
        raise ValueError(f"{text!r} has a zone, which Go's net.ParseIP rejects")
    return ip_address(text)


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """One IP address (no zone, as Go's net.ParseIP), parsed once per process; ValueError if bad."""
    return _address(text)


def parse_requested_ip(text: str, field: str) -> str:
    """One requested IP, canonical, as MetalLB parses it (no zone); ServiceInputError if bad."""
    return _parse_ip(text, field)


def _parse_ip(text: str, field: str) -> str:
    try:
        ip = _address(text.strip())
    except ValueError:
        raise ServiceInputError(field, f"{text.strip()!r} is not a valid IP address") from None
    # Go's net.IP treats an IPv4-mapped IPv6 address as IPv4 and prints it that way.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _check_ip_families(ips: tuple[str, ...], field: str) -> None:
    if len(ips) > 2:
        raise ServiceInputError(field, f"requests {len(ips)} IPs; at most 2 are allowed")
    if len(ips) == 2 and ip_family_of(ips[:1]) == ip_family_of(ips[1:]):
        raise ServiceInputError(field, f"requests two IPs of the same family: {', '.join(ips)}")


def _annotations(svc: Manifest) -> Mapping[str, Any]:
    return (svc.get("metadata") or {}).get("annotations") or {}


def _labels(svc: Manifest) -> Mapping[str, Any]:
    return (svc.get("metadata") or {}).get("labels") or {}


def _spec(svc: Manifest) -> Mapping[str, Any]:
    return svc.get("spec") or {}
