"""One commit against one cluster: desired and live state joined into what the model reads.

>>> scenario = build_scenario(load_desired(["repo/"]), load_live_file("live.yaml"))
>>> scenario.writes        # the Service writes a naive apply of the commit makes
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner.collector import collector_paused
from planner.diff import Change, PruneMode, diff_objects
from planner.errors import InputError, Origin
from planner.model.allocator import Pool
from planner.model.group_annotations import GROUP_ANNOTATION_KEYS, stamped_services
from planner.model.pools import pools_from_objects
from planner.model.service import AllocationInputs, handled_by_metallb
from planner.model.simcluster import ServiceWrite
from planner.objects import KubeObject, Manifest, ObjectKey
from planner.sources.kinds import is_pool_manifest
from planner.sources.states import DesiredState, LiveState, Unrendered

NO_POOLS_NOTE = (
    "no MetalLB pool is known (none in the desired paths, --pools or the live state): requested"
    " IPs are taken as allowed and auto-assigned Services get an IP from an unknown pool"
)
# The stand-in when no pool is known: it owns every address, so requested IPs are allowed and
# auto-assigned Services get an address; reports name such an address "an IP from an unknown
# pool", never the address itself.
UNKNOWN_POOL = "unknown-pool"
UNKNOWN_POOL_OBJECT = KubeObject(
    ObjectKey("IPAddressPool", "metallb-system", UNKNOWN_POOL),
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": UNKNOWN_POOL, "namespace": "metallb-system"},
        "spec": {"addresses": ["0.0.0.0/0", "::/0"]},
    },
    Origin("(no pool known)"),
)


@dataclass(frozen=True)
class Scenario:
    """Desired and live state, their diff, and the inputs of the MetalLB model."""

    changes: tuple[Change, ...]
    live_services: dict[str, Manifest]  # svc → live object (status included)
    desired_services: dict[str, Manifest]  # svc → desired object as the repo has it
    stamped_services: dict[str, Manifest]  # svc → desired object with the group-wide annotations
    desired_objects: dict[str, KubeObject]  # svc → desired object with its origin
    deleted_services: tuple[str, ...]  # live Services the commit deletes
    pools: tuple[Pool, ...]  # the pools once the commit is applied
    live_pools: tuple[Pool, ...]  # the pools before it
    pool_objects: tuple[Manifest, ...]  # the pool manifests once the commit is applied
    live_pool_objects: tuple[Manifest, ...]  # the pool manifests before it
    namespaces: dict[str, dict[str, str]]  # namespace → labels
    statuses_known: bool  # False when live state came from a git ref
    # Services of another loadBalancerClass (MetalLB's --lb-class): never handed to MetalLB, so
    # in none of the Service maps above and never written to the model.
    unhandled_services: tuple[str, ...] = ()
    pools_known: bool = True  # False: no pool anywhere, UNKNOWN_POOL stands in on both sides
    source_notes: tuple[str, ...] = ()  # what reading desired and live state skipped or assumed
    unrendered: tuple[Unrendered, ...] = ()  # HelmReleases not rendered (either side), once each
    # svc → its desired Service's allocation inputs as the stamp read them, alone (no live
    # object, the default family): `allocation_inputs(..., read_alone=...)` reads them again.
    inputs_read_alone: dict[str, AllocationInputs] = field(default_factory=dict)
    live_commit: str = ""  # the commit id of the live state's git ref ("" for any other source)

    @property
    def key_changes(self) -> dict[str, tuple[str, ...]]:
        """svc → the allocation inputs its edit changes (only Services with such an edit)."""
        return {
            c.key.svc_key: c.key_changing
            for c in self.changes
            if c.key.kind == "Service" and c.key_changing
        }

    @property
    def unmanaged_services(self) -> tuple[str, ...]:
        """Live Services the repository does not manage: not desired, not deleted (prune mode).
        They are context: they hold IPs and ports, and the commit never touches them."""
        deleted = set(self.deleted_services)
        return tuple(
            svc
            for svc in self.live_services
            if svc not in self.desired_services and svc not in deleted
        )

    @property
    def services_after(self) -> dict[str, Manifest]:
        """Every Service once the commit is applied: the desired ones and the unmanaged live
        ones as they run, sorted."""
        return self._after(self.desired_services)

    @property
    def stamped_after(self) -> dict[str, Manifest]:
        """`services_after` with the desired Services as the naive writes carry them (the
        group-wide annotations stamped)."""
        return self._after(self.stamped_services)

    def _after(self, desired: dict[str, Manifest]) -> dict[str, Manifest]:
        after = {svc: self.live_services[svc] for svc in self.unmanaged_services}
        after.update(desired)
        return dict(sorted(after.items()))

    def naive_writes(self, stamped: bool) -> list[ServiceWrite]:
        """Every Service write of the commit as a GitOps tool makes it, sorted (None deletes)."""
        source = self.stamped_services if stamped else self.desired_services
        writes: list[ServiceWrite] = []
        for change in self.changes:
            if change.key.kind != "Service":
                continue
            svc = change.key.svc_key
            if svc in self.unhandled_services:
                continue
            if change.op == "delete":
                writes.append(ServiceWrite(svc, None))
            elif change.op != "unchanged" or (stamped and _annotations_differ(svc, self)):
                writes.append(ServiceWrite(svc, source[svc]))
        return writes


@collector_paused
def build_scenario(
    desired: DesiredState, live: LiveState, prune: PruneMode = "tracked", lb_class: str = ""
) -> Scenario:
    """Diff the commit against the cluster and collect what the model needs.

    `lb_class`: MetalLB's `--lb-class`; Services MetalLB is not handed stay in the diff only."""
    compared, kinds_note = _comparable(desired.objects, live)
    # a Service set aside (a value it reads is unknown) is in the repository: never deleted
    set_aside = {entry.key for entry in desired.unrendered if entry.key is not None}
    changes = tuple(
        change
        for change in diff_objects(compared, live.objects, prune, live.from_git)
        if change.op != "delete" or change.key not in set_aside
    )
    all_desired = {o.key.svc_key: o for o in desired.objects if o.key.kind == "Service"}
    unhandled = {
        svc
        for svc, body in [*((k, o.body) for k, o in all_desired.items()), *live.services.items()]
        if not handled_by_metallb(body, lb_class)
    }
    desired_objects = {k: o for k, o in all_desired.items() if k not in unhandled}
    desired_services = {svc: obj.body for svc, obj in sorted(desired_objects.items())}
    # Only MetalLB's Services are left: stamped whatever their class (MetalLB's own --lb-class).
    stamped = stamped_services(list(desired_services.values()), lb_class=None)
    deleted = {c.key for c in changes if c.op == "delete"}
    namespaces = dict(live.namespaces)
    namespaces.update(desired.namespaces)
    after = _with_context(_pool_objects(desired.objects, live.objects, deleted), desired, live)
    before = _with_context([o for o in live.objects if is_pool_manifest(o.body)], live)
    pools_known = bool(after or before)
    if not pools_known:
        after = before = [UNKNOWN_POOL_OBJECT]
    pool_objects = [o.body for o in after]
    live_pool_objects = [o.body for o in before]
    unrendered = _unrendered(desired.unrendered, live.unrendered)
    return Scenario(
        changes=changes,
        live_services={k: v for k, v in sorted(live.services.items()) if k not in unhandled},
        desired_services=desired_services,
        stamped_services=dict(zip(desired_services, stamped.manifests, strict=True)),
        desired_objects=desired_objects,
        deleted_services=tuple(sorted(k.svc_key for k in deleted if k.kind == "Service")),
        pools=tuple(pools_from_objects(after)),
        live_pools=tuple(pools_from_objects(before)),
        pool_objects=tuple(pool_objects),
        live_pool_objects=tuple(live_pool_objects),
        namespaces=namespaces,
        statuses_known=not live.from_git,
        live_commit=live.commit,
        unhandled_services=tuple(sorted(unhandled)),
        pools_known=pools_known,
        source_notes=(
            tuple(desired.notes)
            + _new_at_ref(desired.notes, live)
            + kinds_note
            + tuple(map(str, unrendered))
        ),
        unrendered=unrendered,
        inputs_read_alone={
            svc: inputs
            for svc, inputs in zip(desired_services, stamped.inputs, strict=True)
            if inputs is not None
        },
    )


# What every live read holds (kubectl get svc,ipaddresspools.metallb.io,namespaces), even empty.
_LIVE_KINDS = frozenset({"Service", "IPAddressPool", "Namespace"})


def _comparable(
    objects: Sequence[KubeObject], live: LiveState
) -> tuple[list[KubeObject], tuple[str, ...]]:
    """The desired objects the live state can be compared with, and a note for the rest: a
    cluster snapshot holds the kinds it read, so a Flux Kustomization, a HelmRelease or a
    Deployment it lacks is unknown, not new (a git ref holds every kind the repo had)."""
    if live.from_git:
        return list(objects), ()
    held = _LIVE_KINDS | {o.key.kind for o in live.objects}
    kept = [o for o in objects if o.key.kind in held]
    left = sorted({o.key.kind for o in objects if o.key.kind not in held})
    if not left:
        return kept, ()
    count = len(objects) - len(kept)
    were = "1 desired object was" if count == 1 else f"{count} desired objects were"
    note = f"the live state holds no {', '.join(left)}: {were} not compared (unknown, not created)"
    return kept, (note,)


def _pool_objects(
    desired: list[KubeObject], live: list[KubeObject], deleted: set[ObjectKey]
) -> list[KubeObject]:
    """Live pool objects, replaced by the repo's by identity, minus those the commit deletes."""
    by_key = {o.key: o for o in live if is_pool_manifest(o.body)}
    by_key.update({o.key: o for o in desired if is_pool_manifest(o.body)})
    return [by_key[k] for k in sorted(by_key) if k not in deleted]


def _with_context(pools: list[KubeObject], *states: DesiredState | LiveState) -> list[KubeObject]:
    """`pools` plus the states' context pools (found outside the diffed objects) that neither
    repeat an object nor clash with a pool already there (the diffed objects win)."""
    merged = list(pools)
    known = {o.key for o in merged}
    for obj in (o for state in states for o in state.context_pools):
        if obj.key in known:
            continue
        try:
            pools_from_objects([*merged, obj])
        except InputError:
            continue  # the same pool under another name or format: the first one found holds
        known.add(obj.key)
        merged.append(obj)
    return merged


def _annotations_differ(svc: str, scenario: Scenario) -> bool:
    live = scenario.live_services.get(svc)
    if live is None:
        return True
    ours, theirs = _annotations(scenario.stamped_services[svc]), _annotations(live)
    # The three keys looked up, not every annotation walked (9,000 calls at 10,000 Services)
    for name in GROUP_ANNOTATION_KEYS:
        mine, other = ours.get(name, _ABSENT), theirs.get(name, _ABSENT)
        if mine is not other and (mine is _ABSENT or other is _ABSENT or str(mine) != str(other)):
            return True
    return False


_ABSENT = object()


def _annotations(manifest: Manifest) -> Mapping[str, Any]:
    return (manifest.get("metadata") or {}).get("annotations") or {}


def _new_at_ref(desired_notes: Sequence[str], live: LiveState) -> tuple[str, ...]:
    """The live state's notes, less those a git ref's tree repeats from the work tree: the same
    note with its files read at the ref (`REF:path`), such as a chart fetched at the same
    version, a document skipped on both sides or the same Argo CD build options."""
    if not live.from_git:
        return tuple(live.notes)
    said, at_ref = set(desired_notes), f"{live.ref}:"
    return tuple(note for note in live.notes if note.replace(at_ref, "") not in said)


def _unrendered(
    desired: Sequence[Unrendered], live: Sequence[Unrendered]
) -> tuple[Unrendered, ...]:
    """HelmReleases not rendered on either side, each once (the desired side's when both)."""
    named = {entry.release for entry in desired}
    return (*desired, *(entry for entry in live if entry.release not in named))
