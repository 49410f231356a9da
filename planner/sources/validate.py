"""Type checks of the few fields the planner reads, so that bad input is one clear sentence.

The API server would reject each of these at apply time; catching them here names the file,
document, line and field instead of failing deep inside the diff or the model.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Mapping
from typing import Any

from planner.errors import InputError
from planner.model.pools import parse_ip
from planner.model.service import (
    DEPRECATED_LB_IPS_ANNOTATION,
    DEPRECATED_PREFIX,
    FAMILY_POLICIES,
    GROUP_ANNOTATION_PREFIX,
    LB_IPS_ANNOTATION,
    STABLE_PREFIX,
    ServiceInputError,
    parse_requested_ip,
)
from planner.objects import KubeObject, is_dns_1035_label, is_dns_label, is_mapping

PROTOCOLS = ("TCP", "UDP", "SCTP")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
_LABEL_RULE = "lowercase letters, digits and '-', at most 63"
MAX_SHOWN_DIGITS = 20  # a longer number is described, not quoted
# IANA_SVC_NAME, the rule for a targetPort given by name (Kubernetes' IsValidPortName).
_PORT_NAME = re.compile(r"^(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")


# `annotate` rewrites the planner's own annotations, so reading them must not refuse a mistyped
# value it is about to fix (an unquoted all-digit digest reads as a number); diff still does.
OWN_ANNOTATIONS = "shared-ip-planner.dev/"

# Objects that passed with OWN_ANNOTATIONS rewritable (to_objects checks every object so): the
# full check (diff's) of one of them need only look at those annotations' values, which halves
# the checks of a diff (bench/README.md, readpath). Bodies are read-only once read (the diff
# copies what it edits). Held by identity while the object lives: an id is reused after it.
_PASSED_REWRITABLE: weakref.WeakValueDictionary[int, KubeObject] = weakref.WeakValueDictionary()


def check_fields(obj: KubeObject, rewritable: str | None = None) -> None:
    """Raise InputError naming the object's origin and the field when a read field is mistyped;
    annotation values under the `rewritable` prefix may have any type."""
    if rewritable is None and _PASSED_REWRITABLE.get(id(obj)) is obj:
        _raise_problem(obj, _own_annotation_problem(obj.body))
        return
    problem = _metadata_problem(obj.body, rewritable) or _name_problem(obj)
    if problem is None and obj.key.kind == "Service":
        problem = _service_problem(obj.body)
    _raise_problem(obj, problem)
    bad_ip = _requested_ip_error(obj.body) if obj.key.kind == "Service" else None
    if bad_ip is not None:
        raise bad_ip.with_origin(obj.origin)
    if rewritable == OWN_ANNOTATIONS:
        _PASSED_REWRITABLE[id(obj)] = obj


def _raise_problem(obj: KubeObject, problem: tuple[str, str] | None) -> None:
    if problem is not None:
        field, what = problem
        raise InputError(f"{obj.key}: field {field} {what}", obj.origin)


def _metadata_problem(body: Mapping[str, Any], rewritable: str | None) -> tuple[str, str] | None:
    metadata = body.get("metadata")
    if not is_mapping(metadata):
        return "metadata", f"must be a mapping, not {_shown(metadata)}"
    for field in ("name", "namespace"):
        if field in metadata and not isinstance(metadata[field], str):
            return f"metadata.{field}", f"must be a string, not {_shown(metadata[field])}"
    for section in ("labels", "annotations"):
        values = metadata.get(section)
        if values is None:
            continue
        if not is_mapping(values):
            return f"metadata.{section}", f"must be a mapping, not {_shown(values)}"
        for key, value in values.items():
            if isinstance(value, str):
                continue  # most values: the key need not be looked at
            if rewritable and section == "annotations" and str(key).startswith(rewritable):
                continue
            if value is None and section == "annotations" and not is_read_annotation(str(key)):
                # The API server takes null (as "" on create, a removal in a patch); Flux's
                # substitution writes it for a variable it does not know. Only its readers care.
                continue
            return _not_a_string(f"metadata.{section}.{key}", value)
    managed = metadata.get("managedFields")
    if managed is not None and not isinstance(managed, list):
        return "metadata.managedFields", f"must be a list, not {_shown(managed)}"
    return None


def is_read_annotation(annotation: str) -> bool:
    """Whether the planner or MetalLB reads the annotation (then null is refused)."""
    return annotation.startswith((STABLE_PREFIX, DEPRECATED_PREFIX, GROUP_ANNOTATION_PREFIX))


def _own_annotation_problem(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """What _metadata_problem finds beyond what it let through under OWN_ANNOTATIONS."""
    annotations = body["metadata"].get("annotations") or {}
    for key, value in annotations.items():
        if not isinstance(value, str) and str(key).startswith(OWN_ANNOTATIONS):
            return _not_a_string(f"metadata.annotations.{key}", value)
    return None


def _not_a_string(field: str, value: Any) -> tuple[str, str]:
    return field, f"must be a string (quote it in YAML), not {_shown(value)}"


def _name_problem(obj: KubeObject) -> tuple[str, str] | None:
    """A namespace, or a Service name, the API server would refuse (kubectl apply fails on it)."""
    metadata = obj.body["metadata"]
    namespace = metadata.get("namespace")
    if namespace is not None and not is_dns_label(namespace):
        return "metadata.namespace", f"{_shown(namespace)} is not a DNS-1123 label ({_LABEL_RULE})"
    name = metadata.get("name")
    if obj.key.kind == "Service" and name is not None and not is_dns_1035_label(name):
        return "metadata.name", (
            f"{_shown(name)} is not a DNS-1035 label ({_LABEL_RULE}, starting with a letter), "
            "as Kubernetes requires of Service names"
        )
    return None


def _service_problem(body: Mapping[str, Any]) -> tuple[str, str] | None:
    spec = body.get("spec")
    if spec is None:
        return None
    if not is_mapping(spec):
        return "spec", f"must be a mapping, not {_shown(spec)}"
    for field in ("type", "loadBalancerIP", "ipFamilyPolicy"):
        if field in spec and spec[field] is not None and not isinstance(spec[field], str):
            return f"spec.{field}", f"must be a string, not {_shown(spec[field])}"
    policy = spec.get("externalTrafficPolicy")
    if policy is not None and policy not in TRAFFIC_POLICIES:
        return "spec.externalTrafficPolicy", f"must be Cluster or Local, not {_shown(policy)}"
    family_policy = spec.get("ipFamilyPolicy")
    if family_policy is not None and family_policy not in FAMILY_POLICIES:
        return (
            "spec.ipFamilyPolicy",
            f"must be one of {', '.join(FAMILY_POLICIES)}, not {_shown(family_policy)}",
        )
    return (
        _selector_problem(spec)
        or _families_problem(spec)
        or _ports_problem(spec)
        or _cluster_ips_problem(spec)
        or _status_problem(body)
    )


def _cluster_ips_problem(spec: Mapping[str, Any]) -> tuple[str, str] | None:
    """`clusterIP` a string, `clusterIPs` a list of strings (each an IP, or "None")."""
    cluster_ip = spec.get("clusterIP")
    if cluster_ip is not None and not isinstance(cluster_ip, str):
        return "spec.clusterIP", f"must be a string, not {_shown(cluster_ip)}"
    cluster_ips = spec.get("clusterIPs")
    if cluster_ips is None:
        return None
    if not isinstance(cluster_ips, list):
        return "spec.clusterIPs", f"must be a list, not {_shown(cluster_ips)}"
    for index, ip in enumerate(cluster_ips):
        if ip in ("", "None"):
            continue
        if not _is_ip(ip):
            return f"spec.clusterIPs[{index}]", f"must be an IP address, not {_shown(ip)}"
    return None


# Where a Service requests IPs: (field, "annotations" or "spec", key), in the order checked.
_REQUEST_FIELDS = (
    *(
        (f"metadata.annotations.{name}", "annotations", name)
        for name in (LB_IPS_ANNOTATION, DEPRECATED_LB_IPS_ANNOTATION)
    ),
    ("spec.loadBalancerIP", "spec", "loadBalancerIP"),
)


def _requested_ip_error(body: Mapping[str, Any]) -> ServiceInputError | None:
    """A requested IP MetalLB cannot parse (a zone, a prefix length...); how many IPs and of
    which families is left to the conflict analysis, which reports it as MetalLB does."""
    spec = body.get("spec")
    if not is_mapping(spec) or spec.get("type") != "LoadBalancer":
        return None
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    for field, source, name in _REQUEST_FIELDS:
        text = (annotations if source == "annotations" else spec).get(name)
        for part in text.split(",") if isinstance(text, str) and text else ():
            if _parses_as_ip(part):
                continue
            try:
                parse_requested_ip(part, field)
            except ServiceInputError as err:
                return err
    return None


@functools.lru_cache(maxsize=4096)
def _parses_as_ip(text: str) -> bool:
    """Whether MetalLB parses `text` as a requested IP (the field only words the error). The
    members of a sharing group request the same IPs, and desired and live state both hold them:
    at 10,000 Services, 20,000 requests of 3,334 distinct texts."""
    try:
        parse_requested_ip(text, "")
    except ServiceInputError:
        return False
    return True


def _status_problem(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """`status.loadBalancer.ingress` is a list of mappings whose `ip` is a plain IP address."""
    status = body.get("status")
    if status is None:
        return None
    if not is_mapping(status):
        return "status", f"must be a mapping, not {_shown(status)}"
    balancer = status.get("loadBalancer")
    if balancer is None:
        return None
    if not is_mapping(balancer):
        return "status.loadBalancer", f"must be a mapping, not {_shown(balancer)}"
    ingress = balancer.get("ingress")
    if ingress is None:
        return None
    if not isinstance(ingress, list):
        return "status.loadBalancer.ingress", f"must be a list, not {_shown(ingress)}"
    for index, entry in enumerate(ingress):
        field = f"status.loadBalancer.ingress[{index}]"
        if not is_mapping(entry):
            return field, f"must be a mapping, not {_shown(entry)}"
        ip = entry.get("ip")
        if ip is not None and not _is_ip(ip):
            return f"{field}.ip", f"must be an IP address, not {_shown(ip)}"
    return None


# An IPv4 address as Python writes it (no leading zeros), which parse_ip surely accepts. Most
# cluster IPs are such, each unique to its Service: parsing them (10,000 at 10,000 Services)
# also filled parse_ip's cache with addresses nothing else reads (the model tells a cluster
# IP's family with the same test, planner.model.service).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def _is_ip(value: Any) -> bool:
    """A plain IP address as Go's net.ParseIP reads it: no prefix length, no zone."""
    if not isinstance(value, str):
        return False
    if _CANONICAL_IPV4.fullmatch(value):
        return True
    try:
        parse_ip(value)
    except ValueError:
        return False
    return True


def _selector_problem(spec: Mapping[str, Any]) -> tuple[str, str] | None:
    selector = spec.get("selector")
    if selector is None:
        return None
    if not is_mapping(selector):
        return "spec.selector", f"must be a mapping of labels, not {_shown(selector)}"
    for key, value in selector.items():
        if not isinstance(value, str):
            return (
                f"spec.selector.{key}",
                f"must be a string (quote it in YAML), not {_shown(value)}",
            )
    return None


def _families_problem(spec: Mapping[str, Any]) -> tuple[str, str] | None:
    families = spec.get("ipFamilies")
    if families is None:
        return None
    if not isinstance(families, list):
        return "spec.ipFamilies", f"must be a list, not {_shown(families)}"
    for index, family in enumerate(families):
        if family not in IP_FAMILIES:
            return f"spec.ipFamilies[{index}]", f"must be IPv4 or IPv6, not {_shown(family)}"
    return None


def _ports_problem(spec: Mapping[str, Any]) -> tuple[str, str] | None:
    ports = spec.get("ports")
    if ports is None:
        return None
    if not isinstance(ports, list):
        return "spec.ports", f"must be a list of port mappings, not {_shown(ports)}"
    for index, port in enumerate(ports):
        problem = _port_problem(port)
        if problem is not None:
            field, what = problem
            return f"spec.ports[{index}]{field}", what
    return None


def _port_problem(port: Any) -> tuple[str, str] | None:
    if not is_mapping(port):
        return "", f"must be a mapping with a port, not {_shown(port)}"
    for field in ("port", "nodePort"):
        value = port.get(field)
        if field == "nodePort" and value is None:
            continue
        if not _is_port_number(value):
            return f".{field}", f"must be a number from 1 to 65535, not {_shown(value)}"
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        return ".protocol", f"must be TCP, UDP or SCTP, not {_shown(protocol)}"
    if "name" in port and not isinstance(port["name"], str):
        return ".name", f"must be a string, not {_shown(port['name'])}"
    return _target_port_problem(port.get("targetPort"))


def _target_port_problem(target: Any) -> tuple[str, str] | None:
    if target is None or _is_port_number(target):
        return None
    if isinstance(target, str) and _PORT_NAME.match(target) and re.search("[a-z]", target):
        return None
    if isinstance(target, str) and target.isdigit():
        # Kubernetes reads a quoted number as a port name, and a name needs a letter.
        return ".targetPort", f"is the string {target!r}, which Kubernetes rejects: write {target}"
    return ".targetPort", f"must be a port number or a port name, not {_shown(target)}"


def _is_port_number(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 65535


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "null"
    if is_mapping(value):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if type(value) is int and len(str(value)) > MAX_SHOWN_DIGITS:
        return f"a number of {len(str(value))} digits"
    return f"{type(value).__name__} {value!r}"
