"""The metallb-0.14 nudge hook: a Sync hook Job per group transition that may leave a member
pending, and the ServiceAccount, Roles and RoleBindings it runs with.

MetalLB v0.14 does not re-check a Service whose allocation failed when the rest of its group
changes key later, so that Service stays <pending> and Argo CD waits on its wave forever. Any
update of the Service makes MetalLB's Service reconciler (which watches every update) look at it
again; an annotation-only patch is the smallest such update.

The objects are built as data and serialised by the YAML emitter: a name can only ever be a
string value in its own field. Namespaces and names are still checked as Kubernetes checks them,
so that the Job's shell script (which splits MEMBERS on spaces and `/`) gets what it expects.

    >>> nudge = Nudge("3f9a0c1d2e3f4a5b6c7d8e9f00112233", ("dns/a", "dns/b"), ("dns/a",), 2)
    >>> [o["kind"] for o in nudge_objects([nudge], "dns", "example.org/planner:1", {})]
    ['Job', 'ServiceAccount', 'Role', 'RoleBinding']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.errors import InputError
from planner.model.group_annotations import SharingGroup
from planner.objects import Manifest, is_dns_label, is_dns_subdomain

NUDGE_NAME = "shared-ip-planner-nudge"  # the Jobs' prefix, the ServiceAccount, Roles, bindings
NUDGE_TIMEOUT_SECONDS = 600
NUDGE_DEADLINE_MARGIN = 60  # activeDeadlineSeconds = timeout + this
RUN_AS_USER = 999  # the sidecar image's user
DIGEST_SHORT = 10  # digest characters in the Job name

HOOK = "argocd.argoproj.io/hook"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"

# Kubernetes' own rules: namespaces are DNS-1123 labels, object names DNS-1123 subdomains.
_DIGEST = re.compile(r"[0-9a-f]{10,64}")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")

# The Job's container runs this with MEMBERS, STUCK, GROUP_DIGEST and TIMEOUT_SECONDS set.
# 1. wait until every member carries the new group digest (Argo CD writes a wave's Services one
#    by one); 2. while a member has no IP, annotate the pending ones listed in STUCK with a new
#    value each round; exit 0 once every member has an IP, 1 at the timeout (the sync fails).
NUDGE_SCRIPT = r"""set -eu
deadline=$(( $(date +%s) + TIMEOUT_SECONDS ))
field() {
  kubectl get service -n "${1%%/*}" "${1#*/}" -o "jsonpath=$2" 2>/dev/null || true
}
digest_of() { field "$1" '{.metadata.annotations.shared-ip-planner\.dev/group-digest}'; }
ips_of() { field "$1" '{.status.loadBalancer.ingress[*].ip}'; }
check_deadline() {
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "$1" >&2; exit 1; fi
}
# 1. Argo CD writes the wave's Services one by one: wait for all of them.
for m in $MEMBERS; do
  until [ "$(digest_of "$m")" = "$GROUP_DIGEST" ]; do
    check_deadline "timed out: $m never carried group digest $GROUP_DIGEST"
    sleep "${POLL_SECONDS:-2}"
  done
done
# 2. Nudge pending members until every member has an IP. Each round writes a new
#    value, so that every round is an update MetalLB sees.
round=0
while :; do
  pending=""
  for m in $MEMBERS; do [ -n "$(ips_of "$m")" ] || pending="$pending $m"; done
  [ -n "$pending" ] || { echo "every member of the group has an IP"; exit 0; }
  check_deadline "timed out: still pending after $round nudges:$pending"
  round=$((round + 1))
  for m in $STUCK; do
    case " $pending " in *" $m "*)
      echo "nudging $m (round $round)"
      kubectl annotate service -n "${m%%/*}" "${m#*/}" --overwrite \
        "shared-ip-planner.dev/nudge=$GROUP_DIGEST.$round" >/dev/null ;;
    esac
  done
  sleep "${POLL_SECONDS:-5}"
done
"""


@dataclass(frozen=True)
class Nudge:
    """One group transition that may leave members pending under MetalLB v0.14."""

    digest: str
    members: tuple[str, ...]  # namespace/name
    stuck: tuple[str, ...]  # the members that may stay pending
    wave: int


def nudges_needed(
    groups: Sequence[SharingGroup], stuck: frozenset[str] | None, waves: Mapping[str, int]
) -> list[Nudge]:
    """Group transitions among the desired `groups` that may leave a member stuck under v0.14.
    `stuck`: the Services the live plan says may stay pending; None without live state, where
    any group may be changing its key, so every member of every group may."""
    found = []
    for group in groups:
        members = group.members if stuck is None else tuple(m for m in group.members if m in stuck)
        if members:
            wave = waves.get(group.members[0], 0)
            found.append(Nudge(group.digest, group.members, members, wave))
    return sorted(found, key=lambda nudge: (nudge.wave, nudge.digest))


def nudge_objects(
    nudges: list[Nudge], job_namespace: str, image: str, namespace_waves: Mapping[str, int]
) -> list[Manifest]:
    """The Sync hook Jobs, then their RBAC (one wave before the first Job); InputError, one
    line, for a namespace, name, digest or image Kubernetes would not accept."""
    if not nudges:
        return []
    check_nudge_inputs(nudges, job_namespace, image)
    member_namespaces = sorted({m.split("/", 1)[0] for n in nudges for m in n.members})
    # One wave before the first Job, but not before a Namespace the app creates for them.
    rbac_wave = min(n.wave for n in nudges) - 1
    needed = [job_namespace, *member_namespaces]
    rbac_wave = max([rbac_wave, *(namespace_waves.get(ns, rbac_wave) for ns in needed)])
    jobs = [nudge_job(nudge, job_namespace, image) for nudge in nudges]
    return jobs + nudge_rbac(job_namespace, member_namespaces, rbac_wave)


def check_nudge_inputs(nudges: list[Nudge], job_namespace: str, image: str) -> None:
    """InputError for anything the objects would carry that Kubernetes (or the script) refuses."""
    if not is_dns_label(job_namespace):
        raise InputError(
            "target-behavior metallb-0.14 needs the Application's destination namespace "
            f"(ARGOCD_APP_NAMESPACE) for the nudge Job; it is {job_namespace!r}, not a "
            "Kubernetes namespace name (a DNS-1123 label)"
        )
    if not _IMAGE.fullmatch(image):
        raise InputError(f"the nudge hook image {image!r} is not an image reference")
    for nudge in nudges:
        if not _DIGEST.fullmatch(nudge.digest):
            raise InputError(f"the group digest {nudge.digest!r} is not lowercase hex digits")
        for member in (*nudge.members, *nudge.stuck):
            _check_member(member)


def _check_member(member: str) -> None:
    namespace, _, name = member.partition("/")
    if not is_dns_label(namespace):
        raise InputError(
            f"the nudge hook cannot name the Service {member!r}: its namespace {namespace!r} "
            "is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)"
        )
    if not is_dns_subdomain(name):
        raise InputError(
            f"the nudge hook cannot name the Service {member!r}: its name {name!r} is not a "
            "DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)"
        )


def nudge_job(nudge: Nudge, job_namespace: str, image: str) -> Manifest:
    """The Sync hook Job of one group transition, in the group's wave (unchecked: see
    nudge_objects)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{NUDGE_NAME}-{nudge.digest[:DIGEST_SHORT]}",
            "namespace": job_namespace,
            # The same wave as the group's Services: created with them, and the wave is done
            # only when this Job has completed and every member is Healthy (has an IP).
            "annotations": {
                HOOK: "Sync",
                SYNC_WAVE: str(nudge.wave),
                HOOK_DELETE_POLICY: "BeforeHookCreation,HookSucceeded",
            },
            "labels": {
                "app.kubernetes.io/name": NUDGE_NAME,
                "app.kubernetes.io/part-of": "shared-ip-planner",
            },
        },
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": NUDGE_TIMEOUT_SECONDS + NUDGE_DEADLINE_MARGIN,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": NUDGE_NAME}},
                "spec": _pod_spec(nudge, image),
            },
        },
    }


def _pod_spec(nudge: Nudge, image: str) -> Manifest:
    return {
        "serviceAccountName": NUDGE_NAME,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "nudge",
                "image": image,
                "env": [
                    {"name": "GROUP_DIGEST", "value": nudge.digest},
                    {"name": "MEMBERS", "value": " ".join(nudge.members)},
                    {"name": "STUCK", "value": " ".join(nudge.stuck)},
                    {"name": "TIMEOUT_SECONDS", "value": str(NUDGE_TIMEOUT_SECONDS)},
                ],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                "command": ["/bin/sh", "-c"],
                "args": [NUDGE_SCRIPT],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


def nudge_rbac(job_namespace: str, member_namespaces: list[str], wave: int) -> list[Manifest]:
    """The Jobs' ServiceAccount, then per member namespace a Role allowing get and patch on
    Services, and its RoleBinding: ordinary (tracked, pruned) resources in sync wave `wave`."""
    annotations = {SYNC_WAVE: str(wave)}
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _rbac_metadata(job_namespace, annotations),
    }
    found: list[Manifest] = [account]
    for namespace in member_namespaces:
        found.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _rbac_metadata(namespace, annotations),
                "rules": [
                    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "patch"]}
                ],
            }
        )
        found.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _rbac_metadata(namespace, annotations),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": NUDGE_NAME,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": NUDGE_NAME, "namespace": job_namespace}
                ],
            }
        )
    return found


def _rbac_metadata(namespace: str, annotations: Mapping[str, str]) -> Manifest:
    return {"name": NUDGE_NAME, "namespace": namespace, "annotations": dict(annotations)}
