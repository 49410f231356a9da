"""Key-changing edits: which of a Service's allocation inputs an edit changes.

The inputs come from planner.model.service.allocation_inputs (the one place that reads them
from a manifest); this module only compares them and names what differs.
"""

from __future__ import annotations

from planner.model.service import AllocationInputs, allocation_inputs
from planner.objects import Manifest

# The names reported for each changed input (stable: reports and JSON carry them).
SHARING_KEY = "sharing-key"  # metallb.io/allow-shared-ip (or its deprecated twin)
EXTERNAL_TRAFFIC_POLICY = "externalTrafficPolicy"
SELECTOR = "selector"  # only under externalTrafficPolicy: Local
PORTS = "ports"  # the set of (protocol, port)
REQUESTED_IPS = "requested-ips"  # metallb.io/loadBalancerIPs or spec.loadBalancerIP
REQUESTED_POOL = "requested-pool"  # metallb.io/address-pool
TYPE = "type"  # in or out of type LoadBalancer
IP_FAMILIES = "ip-families"  # the family MetalLB allocates for, and the family policy
KEY_FIELDS: tuple[str, ...] = (
    SHARING_KEY,
    EXTERNAL_TRAFFIC_POLICY,
    SELECTOR,
    PORTS,
    REQUESTED_IPS,
    REQUESTED_POOL,
    TYPE,
    IP_FAMILIES,
)


def key_changing_fields(old_svc: Manifest | None, new_svc: Manifest | None) -> tuple[str, ...]:
    """The allocation inputs an edit from `old_svc` (live) to `new_svc` (desired) changes.

    Empty when nothing MetalLB allocates by changes, when either side is missing (a creation
    or deletion joins or leaves a group; it is no edit), or when neither is a LoadBalancer.
    Raises planner.model.service.ServiceInputError for a field MetalLB cannot read.
    """
    if old_svc is None or new_svc is None:
        return ()
    old = allocation_inputs(old_svc, live=old_svc)
    # A desired manifest rarely has cluster IPs: its family comes from the live object's.
    new = allocation_inputs(new_svc, live=old_svc)
    return changed_inputs(old, new, old_svc, new_svc)


def changed_inputs(
    old: AllocationInputs, new: AllocationInputs, old_svc: Manifest, new_svc: Manifest
) -> tuple[str, ...]:
    """`key_changing_fields` from inputs already read: `old` of `old_svc` (live=old_svc), `new`
    of `new_svc` (live=old_svc)."""
    if not old.is_load_balancer and not new.is_load_balancer:
        return ()
    if old.is_load_balancer != new.is_load_balancer:
        return (TYPE,)
    return tuple(name for name in KEY_FIELDS if _differs(name, old, new, old_svc, new_svc))


def _differs(
    name: str, old: AllocationInputs, new: AllocationInputs, old_svc: Manifest, new_svc: Manifest
) -> bool:
    if name == SHARING_KEY:
        return old.sharing_key != new.sharing_key
    if name in (EXTERNAL_TRAFFIC_POLICY, SELECTOR):
        if old.backend_key == new.backend_key:
            return False
        # The backend key changed: say whether the policy or the selector did it.
        policy_changed = _traffic_policy(old_svc) != _traffic_policy(new_svc)
        return policy_changed if name == EXTERNAL_TRAFFIC_POLICY else not policy_changed
    if name == PORTS:
        return set(old.ports) != set(new.ports)
    if name == REQUESTED_IPS:
        return set(old.requested_ips) != set(new.requested_ips)
    if name == REQUESTED_POOL:
        return old.requested_pool != new.requested_pool
    if name == IP_FAMILIES:
        return (old.family, old.family_policy) != (new.family, new.family_policy)
    return False  # TYPE is decided before the field-by-field comparison


def _traffic_policy(svc: Manifest) -> str:
    return str((svc.get("spec") or {}).get("externalTrafficPolicy") or "Cluster")
