"""Kubernetes objects as the pipeline sees them: an ordered identity key, the body, its origin."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from planner.errors import InputError, Origin


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """Whether a parsed value is a mapping; a plain dict (all that YAML and JSON give) is told
    by its type first, as the Mapping ABC's check costs some ten times more."""
    return type(value) is dict or isinstance(value, Mapping)


Manifest = dict[str, Any]


@dataclass(frozen=True, order=True)
class ObjectKey:
    """The identity of an object everywhere in the planner: (kind, namespace, name).

    Cluster-scoped objects have namespace "". Services are also named by `svc_key`
    ("namespace/name"), the form the allocator model and MetalLB use.
    """

    kind: str
    namespace: str
    name: str

    @property
    def svc_key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.svc_key}" if self.namespace else f"{self.kind} {self.name}"


@dataclass
class KubeObject:
    """One Kubernetes object with where it came from (None for objects the planner made).

    `rendered_by` names the tool ("kustomize", "helm") whose output held the object; its origin
    then points into that output, not into a file that can be edited in place.
    """

    key: ObjectKey
    body: Manifest
    origin: Origin | None = field(default=None, compare=False)
    rendered_by: str | None = field(default=None, compare=False)

    @property
    def is_service(self) -> bool:
        return self.key.kind == "Service"


def svc_key_of(manifest: Manifest) -> str:
    """The "namespace/name" of a Service manifest (namespace "default" when unset)."""
    meta = manifest.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


# Kubernetes' name rules (apimachinery's validation.IsDNS1123Label, IsDNS1123Subdomain and
# IsDNS1035Label): the API server refuses an object whose name or namespace breaks them.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_SUBDOMAIN_MAX = 253


def is_dns_label(text: str) -> bool:
    """Whether `text` is a DNS-1123 label, as Kubernetes requires of namespace names."""
    return _DNS_LABEL.fullmatch(text) is not None


def is_dns_1035_label(text: str) -> bool:
    """Whether `text` is a DNS-1035 label, as Kubernetes requires of Service names."""
    return _DNS_1035_LABEL.fullmatch(text) is not None


def is_dns_subdomain(text: str) -> bool:
    """Whether `text` is a DNS-1123 subdomain, as Kubernetes requires of most object names."""
    return len(text) <= _DNS_SUBDOMAIN_MAX and _DNS_SUBDOMAIN.fullmatch(text) is not None


# apimachinery's IsQualifiedName: an optional DNS-1123 subdomain and "/", then the name part.
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def is_qualified_name(text: str) -> bool:
    """Whether `text` is a qualified name (`example.com/name`, or `name`), as Kubernetes
    requires of a Service's `spec.loadBalancerClass`."""
    prefix, slash, name = text.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return False
    return _QUALIFIED_NAME.fullmatch(name) is not None


def check_lb_class(value: str, given_as: str) -> str:
    """`value` when it is "" (MetalLB run without --lb-class) or a class a Service can carry;
    else InputError naming where it was given (`--lb-class`, parameter `lb-class`)."""
    if value and not is_qualified_name(value):
        # The API server refuses a Service of such a class: no Service would ever be MetalLB's.
        raise InputError(
            f"{given_as} is {value!r}; expected a loadBalancerClass Kubernetes accepts, a "
            "qualified name such as example.com/metallb (an optional DNS subdomain and `/`, "
            "then up to 63 letters, digits, `-`, `_` or `.`, alphanumeric at both ends)"
        )
    return value
