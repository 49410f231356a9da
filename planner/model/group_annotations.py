"""The group-wide annotations: the planner's half of the group-transition contract.

A pure function of the desired Service manifests (no cluster, no clock, no I/O), so the same repo
gives byte-identical annotations on every run and every machine. docs/annotations.md states the
exact formats, precisely enough to implement the allocator half from it.

    >>> group_annotations(services)["dns/dns-tcp"]
    {'shared-ip-planner.dev/group': 'dns@192.168.10.53',
     'shared-ip-planner.dev/group-members': 'dns/dns-tcp,dns/dns-udp',
     'shared-ip-planner.dev/group-digest': '3f9a...'}   # 32 lowercase hex digits
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from planner.digest import sha256_hex
from planner.errors import InputError
from planner.model._unionfind import UnionFind
from planner.model.service import (
    GROUP_ANNOTATION,
    GROUP_ANNOTATION_PREFIX,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    AllocationInputs,
    address,
    allocation_inputs,
    handled_by_metallb,
)
from planner.objects import Manifest, svc_key_of

__all__ = [
    "DIGEST_FORMAT",
    "DIGEST_LENGTH",
    "GROUP_ANNOTATION",
    "GROUP_ANNOTATION_KEYS",
    "GROUP_ANNOTATION_PREFIX",
    "GROUP_DIGEST_ANNOTATION",
    "GROUP_MEMBERS_ANNOTATION",
    "NUDGE_ANNOTATION",
    "SharingGroup",
    "StampedServices",
    "canonical_inputs",
    "desired_sharing_groups",
    "group_annotations",
    "group_digest",
    "stamp_group_annotations",
    "stamped_services",
]

# The three annotations the planner owns, in the order it writes them.
GROUP_ANNOTATION_KEYS = (GROUP_ANNOTATION, GROUP_MEMBERS_ANNOTATION, GROUP_DIGEST_ANNOTATION)

# Written by `planner apply` (and the Argo CD nudge hook) to make MetalLB handle a Service again;
# no allocation input reads it.
NUDGE_ANNOTATION = GROUP_ANNOTATION_PREFIX + "nudge"

# Hex digits of sha256 kept in `group-digest` (128 bits: no accidental collisions in practice).
DIGEST_LENGTH = 32

# First element of the serialised digest input; bump it if the serialisation ever changes.
DIGEST_FORMAT = "shared-ip-planner.dev/group-digest/v1"

# Target part of a group id for a group that takes any pool (no `address-pool` annotation).
ANY_POOL = "*"


@dataclass(frozen=True)
class SharingGroup:
    """Services of one sharing key that will share one IP: id, sorted members, their inputs."""

    group_id: str
    sharing_key: str
    requested_ips: tuple[str, ...]  # the union over members, sorted; () for a pool group
    requested_pool: str  # "" = any pool; only meaningful when requested_ips is ()
    members: tuple[str, ...]  # svc keys "namespace/name", sorted
    inputs: tuple[AllocationInputs, ...]  # in the order of `members`

    @property
    def digest(self) -> str:
        """The `group-digest` value of every member."""
        return group_digest(self.inputs)

    def annotations(self) -> dict[str, str]:
        """The three annotations every member carries."""
        return {
            GROUP_ANNOTATION: self.group_id,
            GROUP_MEMBERS_ANNOTATION: ",".join(self.members),
            GROUP_DIGEST_ANNOTATION: self.digest,
        }


def desired_sharing_groups(
    services: Sequence[Manifest], lb_class: str | None = ""
) -> list[SharingGroup]:
    """The sharing groups of two or more members in the desired manifests, sorted by group id.

    Non-Service manifests, Services of other types, Services without a sharing key and Services
    MetalLB (`--lb-class lb_class`) is not handed are ignored; `lb_class` None: the caller kept
    only MetalLB's already (a scenario). Raises InputError on two manifests for the same Service
    and ServiceInputError on bad fields.
    """
    return _sharing_groups(_inputs_of(services, lb_class))


def _sharing_groups(inputs: Iterable[AllocationInputs | None]) -> list[SharingGroup]:
    """`desired_sharing_groups` of the inputs `_inputs_of` read."""
    read = sorted((i for i in inputs if i is not None), key=lambda i: i.svc_key)
    sharing = [i for i in read if i.is_load_balancer and i.sharing_key]
    clusters = _requested_ip_clusters(sharing) + _pool_clusters(sharing)
    groups = _distinct_ids([_group_of(cluster) for cluster in clusters if len(cluster) >= 2])
    return sorted(groups, key=lambda group: group.group_id)


def _distinct_ids(groups: list[SharingGroup]) -> list[SharingGroup]:
    """Pool groups of one key and pool that differ only by backend key get it in their id."""
    seen = Counter(group.group_id for group in groups)
    return [
        replace(group, group_id=f"{group.group_id}/backend={group.inputs[0].backend_key}")
        if seen[group.group_id] > 1
        else group
        for group in groups
    ]


def group_annotations(
    services: Sequence[Manifest], lb_class: str | None = ""
) -> dict[str, dict[str, str]]:
    """svc_key → the three group-wide annotations, for every member of every desired group."""
    return _annotations_of(desired_sharing_groups(services, lb_class))


def _annotations_of(groups: Iterable[SharingGroup]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for group in groups:
        stamped = group.annotations()
        for member in group.members:
            result[member] = dict(stamped)
    return dict(sorted(result.items()))


def stamp_group_annotations(
    services: Sequence[Manifest], lb_class: str | None = ""
) -> list[dict[str, Any]]:
    """Copies of `services` with the group-wide annotations set, and removed where stale.

    A manifest that is in no group loses any of the three annotations it still carries; if that
    leaves its `annotations` empty, the key goes too. The inputs are never mutated; a copy has
    its own top level, `metadata` and `annotations` and shares the rest (`spec`, ...) with its
    input, so treat both as read-only below those (a deep copy of every desired Service was
    the scenario's largest cost).
    """
    return stamped_services(services, lb_class).manifests


@dataclass(frozen=True)
class StampedServices:
    """Manifests with the group-wide annotations stamped, and the inputs the stamp read."""

    manifests: list[dict[str, Any]]  # copies, in the order given (stamp_group_annotations)
    # Each manifest's allocation inputs read alone (no live object, the default family), in
    # the same order; None for a manifest that is no Service MetalLB is handed.
    inputs: list[AllocationInputs | None]


def stamped_services(services: Sequence[Manifest], lb_class: str | None = "") -> StampedServices:
    """`stamp_group_annotations`, with the allocation inputs it read (a scenario reads them
    again with each Service's live object: `allocation_inputs(..., read_alone=...)`)."""
    inputs = _inputs_of(services, lb_class)
    wanted = _annotations_of(_sharing_groups(inputs))
    return StampedServices([_stamped(manifest, wanted) for manifest in services], inputs)


def group_digest(inputs: Iterable[AllocationInputs]) -> str:
    """sha256 (hex, first DIGEST_LENGTH digits) of the canonical serialisation of `inputs`."""
    payload = canonical_inputs(inputs)
    return sha256_hex(payload)[:DIGEST_LENGTH]


def canonical_inputs(inputs: Iterable[AllocationInputs]) -> bytes:
    """The exact bytes the digest is taken over (docs/annotations.md, "group-digest").

    Compact JSON (RFC 8259, no whitespace, non-ASCII as \\uXXXX) of
    [DIGEST_FORMAT, [member, ...]] with members sorted by svc key and each member the array
    [svc_key, sharing_key, backend_key, [[protocol, port], ...], [requested IP, ...],
    requested_pool, family, family_policy]; ports and IPs sorted.
    """
    members = [_canonical_member(i) for i in sorted(inputs, key=lambda i: i.svc_key)]
    document = [DIGEST_FORMAT, members]
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _canonical_member(inputs: AllocationInputs) -> list[object]:
    return [
        inputs.svc_key,
        inputs.sharing_key,
        inputs.backend_key,
        sorted([port.proto, port.port] for port in inputs.ports),
        list(_sorted_ips(inputs.requested_ips)),
        inputs.requested_pool,
        inputs.family,
        inputs.family_policy,
    ]


def _inputs_of(services: Sequence[Manifest], lb_class: str | None) -> list[AllocationInputs | None]:
    """Each manifest's allocation inputs, in order (None: no Service MetalLB is handed, see
    `desired_sharing_groups`); a Service given twice is an error."""
    handled = [lb_class is None or handled_by_metallb(s, lb_class) for s in services]
    seen: set[str] = set()
    result: list[AllocationInputs | None] = []
    for manifest, its_class in zip(services, handled, strict=True):
        if not its_class or manifest.get("kind") != "Service":
            result.append(None)
            continue
        inputs = allocation_inputs(manifest)
        if inputs.svc_key in seen:
            raise InputError(f"Service {inputs.svc_key} is defined more than once")
        seen.add(inputs.svc_key)
        result.append(inputs)
    return result


def _requested_ip_clusters(sharing: list[AllocationInputs]) -> list[list[AllocationInputs]]:
    """Services with requested IPs, per sharing key, joined when their requested IPs overlap."""
    joined: UnionFind[tuple[str, str]] = UnionFind()
    with_ips = [i for i in sharing if i.requested_ips]
    for inputs in with_ips:
        joined.union(*((inputs.sharing_key, ip) for ip in inputs.requested_ips))
    # Clusters in the order of their first member (the root only names a cluster).
    clusters: dict[tuple[str, str], list[AllocationInputs]] = defaultdict(list)
    for inputs in with_ips:
        clusters[joined[(inputs.sharing_key, inputs.requested_ips[0])]].append(inputs)
    return list(clusters.values())


def _pool_clusters(sharing: list[AllocationInputs]) -> list[list[AllocationInputs]]:
    """Services without requested IPs, per (sharing key, requested pool, backend key).

    Different backend keys can never share an IP, so MetalLB puts such Services on different
    IPs: they are not one group (grouping them would make the fixed allocator refuse the split).
    """
    clusters: dict[tuple[str, str, str], list[AllocationInputs]] = defaultdict(list)
    for inputs in sharing:
        if not inputs.requested_ips:
            key = (inputs.sharing_key, inputs.requested_pool, inputs.backend_key)
            clusters[key].append(inputs)
    return list(clusters.values())


def _group_of(cluster: list[AllocationInputs]) -> SharingGroup:
    members = sorted(cluster, key=lambda inputs: inputs.svc_key)
    sharing_key = members[0].sharing_key
    ips = _sorted_ips({ip for inputs in members for ip in inputs.requested_ips})
    pool = "" if ips else members[0].requested_pool
    target = ",".join(ips) if ips else f"pool/{pool or ANY_POOL}"
    return SharingGroup(
        group_id=f"{sharing_key}@{target}",
        sharing_key=sharing_key,
        requested_ips=ips,
        requested_pool=pool,
        members=tuple(inputs.svc_key for inputs in members),
        inputs=tuple(members),
    )


def _sorted_ips(ips: Iterable[str]) -> tuple[str, ...]:
    """Requested IPs (canonical, as allocation_inputs gives them) once each, IPv4 before IPv6,
    then numerically."""
    # A canonical address is its own text: no str() of the parsed address (a tenth of stamping
    # 10,000 Services went to writing them back), and equal texts are equal addresses.
    return tuple(sorted(set(ips), key=_ip_order))


def _ip_order(ip: str) -> tuple[int, IPv4Address | IPv6Address]:
    parsed = address(ip)  # parsed once per process
    return parsed.version, parsed


def _stamped(manifest: Manifest, wanted: dict[str, dict[str, str]]) -> dict[str, Any]:
    result = dict(manifest)
    if isinstance(result.get("metadata"), dict):
        result["metadata"] = dict(result["metadata"])  # the only part ever changed below
    if manifest.get("kind") != "Service":
        return result
    current = dict((result.get("metadata") or {}).get("annotations") or {})
    stale = [name for name in GROUP_ANNOTATION_KEYS if name in current]
    target = {k: v for k, v in current.items() if k not in GROUP_ANNOTATION_KEYS}
    target.update(wanted.get(svc_key_of(manifest), {}))
    if target == current:
        return result
    metadata = result.setdefault("metadata", {})
    if target or not stale:
        metadata["annotations"] = target
    else:
        metadata.pop("annotations", None)
    return result
