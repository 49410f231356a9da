"""Components that are the same up to renaming: simulate one, rename its outcome for the others.

Repos built from templates hold many sharing groups that differ only in names and addresses (a
DNS group per team, a gateway per tenant); hand-written repos hold groups that differ in their
ports and selectors too. When every Service of a component requests its IPs (and none asks for a
second family with PreferDualStack) and no pool has a serviceAllocation, no pool address is ever
drawn, and the model decides everything from:

- Service keys (namespace/name) by equality and by string order (queues, passes, members);
- sharing keys and the group-wide annotations by equality only;
- selectors only through the backend key under `Local` (their label-set text, compared for
  equality, and, under metallb-0.15, joined to the sharing key as one string);
- port numbers only by equality (a clash is the same protocol and number on one IP), quoted in
  messages as "PROTO/NUMBER"; the ports' other fields (name, targetPort, nodePort) not at all;
- load-balancer IPs by equality, string and numeric order, family and the pools that contain
  them (avoid-buggy-IPs matters only to a pool's first-fit search); cluster IPs by family;
- the one pool holding every load-balancer IP, when the commit changes no pool, by its settings
  and by its name only (in its annotations, compared with it, and in messages: `_one_pool`);
- everything else as written.

So two components whose inputs become equal once each name and IP is replaced by a placeholder
numbered in order of appearance, each selector by the number of its label-set text and each port
number by its own number (both in order of appearance), and which agree on all those orders and
properties and on which (backend, sharing) pairs join to equal strings, have the same outcome up
to that renaming. `Shape.signature` is exactly that replaced text plus those facts. Anything else
a name could decide (free addresses of a pool, pinned pools, a name that is also used as a
literal elsewhere) makes `shape_of` return None: such components are simulated. The exception
is a piece split from a pool (planner.simulate.poolsplit), whose keyless addresses are the
pool's first ones: part of its signature, renamed as themselves.

`planner.simulate.reduction` (`shaped`, `once_per_shape`) simulates each shape once; this module
is imported only where a shape is computed: two components with as many writes and Services.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import islice
from typing import Any

from planner.model.addresses import ip_address
from planner.model.allocator import Pool
from planner.model.service import (
    ALLOCATED_FROM_POOL_ANNOTATIONS,
    GROUP_ANNOTATION,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    LB_IPS_ANNOTATIONS,
    POOL_ANNOTATIONS,
    SHARING_ANNOTATIONS,
    allocation_inputs,
    is_load_balancer,
    sharing_key,
)
from planner.model.simcluster import Action, Arrive, Process, ServiceWrite
from planner.objects import Manifest

# An identifier as Kubernetes names, label values and IPs (with IPv6's colons) spell it.
_RUN = re.compile(r"[A-Za-z0-9._:-]+")
# A run, or a namespace/name pair, in a message.
_WORD = re.compile(r"[A-Za-z0-9._:-]+(?:/[A-Za-z0-9._:-]+)?")

_NAME_ANNOTATIONS = frozenset(
    (*SHARING_ANNOTATIONS, GROUP_ANNOTATION, GROUP_MEMBERS_ANNOTATION, GROUP_DIGEST_ANNOTATION)
)
_IP_ANNOTATIONS = frozenset(LB_IPS_ANNOTATIONS)
# Annotations whose value names a pool: the requested one, and the one MetalLB allocated from.
_POOL_NAME_ANNOTATIONS = frozenset((*POOL_ANNOTATIONS, *ALLOCATED_FROM_POOL_ANNOTATIONS))
# The placeholder of the pool every load-balancer IP of a component lies in (see _one_pool).
_POOL_PLACEHOLDER = "\2pool"
# Fields the model never reads and the API server fills in differently for every object.
_OPAQUE_METADATA = frozenset(
    ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "labels")
)
_NO_IP = ("", "None")
# The (backend, sharing) pairs whose joins a signature compares, at most (beyond: no shape).
_JOINED_PAIRS_MAX = 100_000


class _Asymmetric(Exception):
    """The component's outcome may depend on a name or IP beyond what a signature records."""


@dataclass(frozen=True)
class _Mapped:
    """A piece of a message that a renaming replaces: a name or IP, or a port number."""

    source: str  # as the source component writes it
    port: bool = False  # a port number (Renaming.ports), else a name or IP (Renaming.mapping)


# A message as pieces: text kept as written and pieces to replace; None when it cannot be renamed.
_Template = tuple[str | _Mapped, ...] | None


@dataclass(frozen=True)
class Shape:
    """A component's inputs with names and IPs replaced by numbered placeholders."""

    signature: str
    tokens: tuple[str, ...]  # the names and IPs, numbered by their index
    ips: frozenset[str]
    ports: tuple[int, ...] = ()  # the port numbers, numbered by their index
    # A piece split from a pool: the keyless addresses it may take, the same for every piece of
    # this signature (they are part of it), so renamed as themselves.
    kept: frozenset[str] = frozenset()
    # Messages of this shape's outcome as templates, shared by every renaming from it: where a
    # message's names, IPs and ports are depends only on this side (Renaming.text).
    templates: dict[str, _Template] = field(default_factory=dict, compare=False, repr=False)

    def renaming_to(self, other: Shape) -> Renaming:
        """The renaming that turns this shape's names, IPs and ports into `other`'s (same
        signature)."""
        ports = {str(a): str(b) for a, b in zip(self.ports, other.ports, strict=True)}
        mapping = dict(zip(self.tokens, other.tokens, strict=True))
        return Renaming(mapping, self.ips, ports, self.kept, self.templates)


@dataclass(frozen=True)
class Renaming:
    """Names and IPs of one component mapped to another's."""

    mapping: Mapping[str, str]
    ips: frozenset[str]
    ports: Mapping[str, str] = field(default_factory=dict)  # port numbers, as text
    kept: frozenset[str] = frozenset()  # IPs renamed as themselves (Shape.kept)
    # message -> its template; the source shape's, shared by all its renamings (a template
    # reads only the keys of `mapping` and `ports`, and `ips`: the source's)
    templates: dict[str, _Template] = field(default_factory=dict, compare=False, repr=False)

    def text(self, text: str) -> str | None:
        """A message of the source component, as the target's would read; None when the message
        uses a name other than as a Service's namespace/name, an IP or a "PROTO/PORT" (it
        cannot be renamed)."""
        if text in self.templates:
            template = self.templates[text]
        else:
            template = self.templates[text] = self._template(text)
        if template is None:
            return None
        return "".join(p if isinstance(p, str) else self._replaced(p) for p in template)

    def _replaced(self, piece: _Mapped) -> str:
        return self.ports[piece.source] if piece.port else self.mapping[piece.source]

    def _template(self, text: str) -> _Template:
        """The message split into text kept as written and the pieces to replace; None when it
        cannot be renamed. A 10,000-Service diff renames some 30 distinct messages 2,000 times."""
        pieces: list[str | _Mapped] = []
        end = 0
        for match in _WORD.finditer(text):
            word = self._word(match.group())
            if word is None:
                return None
            pieces.append(text[end : match.start()])
            pieces.extend(word)
            end = match.end()
        pieces.append(text[end:])
        return tuple(pieces)

    def key(self, svc: str) -> str:
        """A Service key (namespace/name) of the source component, as the target's."""
        namespace, _, name = svc.partition("/")
        return f"{self.mapping[namespace]}/{self.mapping[name]}"

    def ips_of(self, ips: tuple[str, ...]) -> tuple[str, ...] | None:
        """IPs of the source component as the target's; None when one is not the component's."""
        if not all(ip in self.ips or ip in self.kept for ip in ips):
            return None
        return tuple(self.mapping[ip] if ip in self.ips else ip for ip in ips)

    def schedule(self, actions: Sequence[Action]) -> tuple[Action, ...]:
        """A schedule of the source component, for the target's Services."""
        return tuple(
            Arrive(self.key(a.svc_key))
            if isinstance(a, Arrive)
            else a
            if a.pass_order is None
            else Process(tuple(self.key(svc) for svc in a.pass_order))
            for a in actions
        )

    def _word(self, word: str) -> list[str | _Mapped] | None:
        first, slash, second = word.partition("/")
        parts = [first, second] if slash else [first]
        names = [p for p in parts if p in self.mapping and p not in self.ips]
        if slash and len(names) == 2:
            return [_Mapped(first), "/", _Mapped(second)]
        if names:
            return None  # a bare name (or half a pair): it may be a literal of the message
        if slash and second in self.ports and not self._touches(first):
            return [first, "/", _Mapped(second, port=True)]  # a Port as the allocator prints it
        renamed: list[str | _Mapped] = []
        for part in parts:
            if renamed:
                renamed.append("/")
            if part in self.ips:
                renamed.append(_Mapped(part))
            elif self._touches(part) or part in self.ports:
                return None  # a port number alone may be any number of the message
            else:
                renamed.append(part)
        return renamed

    def _touches(self, part: str) -> bool:
        return any(token in part for token in self.mapping)


def shape_of(
    context: Sequence[tuple[str, Manifest]],
    writes: Sequence[ServiceWrite],
    pools_before: Sequence[Pool],
    pools_after: Sequence[Pool],
    drawn: Pool | None = None,
) -> Shape | None:
    """The component's shape, or None when its outcome may depend on more than a shape says.
    `drawn`: the pool a piece was split from (planner.simulate.poolsplit)."""
    pools = [*pools_before, *pools_after]
    if any(pool.has_service_allocation for pool in pools):
        return None
    manifests = [m for _, m in context] + [m for _, m in writes if m is not None]
    try:
        if drawn is None and not all(_requests_ips(m) for m in manifests):
            return None
        namer = _Namer(manifests, {pool.name for pool in pools})
        one_pool = None if drawn is not None else _one_pool(namer, pools_before, pools_after)
        namer.pool = one_pool.name if one_pool is not None else ""
        # Every Service key the model may sort: the component's and its groups' members.
        keys = sorted({svc for svc, _ in context} | {svc for svc, _ in writes} | namer.members)
        canonical = (
            [namer.manifest(m) for _, m in context],
            [(namer.key(svc), None if m is None else namer.manifest(m)) for svc, m in writes],
            [namer.key(svc) for svc in keys],
        )
        joins = _joined_keys(manifests, namer)
    except _Asymmetric:
        return None
    tokens = namer.order
    ips = [t for t in tokens if t in namer.ips]
    balancer_ips = [t for t in ips if t in namer.balancer_ips]
    kept: tuple[str, ...] = ()
    if drawn is not None:
        same = drawn in pools_before  # the pool as it was: its addresses held as bootstrapped
        found = _first_keyless(drawn, same, balancer_ips, writes)
        if found is None:
            return None
        kept = found
    if one_pool is None:
        where: tuple[Any, ...] = (
            repr(list(pools_before)),
            repr(list(pools_after)),
            [_ip_facts(ip, pools) for ip in ips],
        )
    else:
        # Which pool it is, and where it stands among the others, is a name the renaming maps
        # (the pool's name is its last token); what the allocator reads of it is kept.
        traits = [[_pool_traits(pool) for pool in side] for side in (pools_before, pools_after)]
        where = (
            "one pool",
            traits,
            _pool_traits(one_pool),
            [_ip_facts(ip, [one_pool]) for ip in ips],
        )
        tokens = [*tokens, one_pool.name]
    facts = (
        canonical,
        joins,
        where,
        [namer.number[t] for t in sorted(balancer_ips)],
        [namer.number[t] for t in sorted(balancer_ips, key=_numeric)],
        kept,
    )
    return Shape(repr(facts), tuple(tokens), frozenset(ips), tuple(namer.ports), frozenset(kept))


def _one_pool(namer: _Namer, before: Sequence[Pool], after: Sequence[Pool]) -> Pool | None:
    """The pool every load-balancer IP of the component lies in, when nothing else of the pools
    can reach its outcome; else None (the pools then stand in its shape as they are).

    Every Service requests its IPs (shape_of), no pool has a service allocation and the commit
    changes no pool (their order aside: only an auto-assignment reads it). Each requested IP is
    then looked up in the one pool holding it (pools never overlap), which is read for its
    settings and by its name only: in the pool annotations, which a shape renames with it, and
    in messages, which a renaming does not rewrite if they name it (Renaming.text: the component
    is simulated). So components in pools of equal settings share a shape. A cluster IP in a
    pool, or a requested IP in another pool or in none, leaves the pools as they are."""
    if _by_name(before) != _by_name(after) or not namer.balancer_ips:
        return None
    found: Pool | None = None
    for ip in namer.ips:
        address = ip_address(ip)
        owners = [pool for pool in before if any(address in n for n in pool.networks)]
        if ip not in namer.balancer_ips:
            if owners:
                return None
            continue
        if len(owners) != 1 or (found is not None and owners[0].name != found.name):
            return None
        found = owners[0]
    return found


def _by_name(pools: Sequence[Pool]) -> dict[str, Pool]:
    return {pool.name: pool for pool in pools}


def _pool_traits(pool: Pool) -> list[tuple[str, Any]]:
    """What the allocator reads of a pool besides its name and addresses."""
    return [
        (f.name, getattr(pool, f.name))
        for f in fields(pool)
        if f.compare and f.name not in ("name", "cidrs")
    ]


def _first_keyless(
    pool: Pool, same_pools: bool, held: Sequence[str], writes: Sequence[ServiceWrite]
) -> tuple[str, ...] | None:
    """The keyless addresses a piece split from `pool` may take: the pool's first usable ones,
    one per write (poolsplit: at most one each); None when one of them is the piece's own
    (then which ones it takes depends on its address) or the pool changes."""
    from planner.simulate.poolsplit import keyless  # pieces split from a pool only

    versions = {ip_address(ip).version for ip in held}
    if not same_pools or len(versions) != 1:
        return None
    first = islice(keyless(pool, versions.pop(), set()), len(writes))
    found = tuple(str(ip) for ip in first)
    return None if set(found) & set(held) else found


def _joined_keys(manifests: Sequence[Manifest], namer: _Namer) -> list[list[tuple[str, str]]]:
    """Which (backend, sharing) pairs join to equal strings (metallb-0.15 compares a Service's
    allocation key as backend + sharing): the classes of more than one pair, canonical.

    Every backend and sharing key of the component's manifests (and "", the key of a Service
    without one) is paired, a superset of the pairs the controller compares."""
    backends = {"": ""} | {text: namer.backend(text) for text in namer.backends}
    sharings = {"", *(sharing_key(m) for m in manifests)}
    if len(backends) * len(sharings) > _JOINED_PAIRS_MAX:
        raise _Asymmetric
    named = {key: namer.replaced_text(key) for key in sharings}
    joined: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for backend, backend_token in backends.items():
        for key, key_token in named.items():
            joined[backend + key].append((backend_token, key_token))
    return sorted(sorted(pairs) for pairs in joined.values() if len(pairs) > 1)


def _requests_ips(manifest: Manifest) -> bool:
    """A LoadBalancer that asks for its IPs, and for no second family, never reads the free
    addresses of a pool."""
    if not is_load_balancer(manifest):
        return True
    if (manifest.get("spec") or {}).get("ipFamilyPolicy") == "PreferDualStack":
        return False  # v0.15 draws the other family's address from the pool
    try:
        return bool(allocation_inputs(manifest).requested_ips)
    except ValueError:
        return False  # a bad request: its messages quote what was written


def _label_set(selector: Any) -> str:
    """The selector as the backend key's label-set text (service.backend_key's join)."""
    if not selector:
        return ""
    if not isinstance(selector, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in selector.items()
    ):
        raise _Asymmetric  # the API server would refuse it; not worth a shape
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def _numeric(ip: str) -> tuple[int, int]:
    address = ip_address(ip)
    return address.version, int(address)


def _ip_facts(ip: str, pools: Sequence[Pool]) -> tuple[Any, ...]:
    # Whether an address ends in .0 or .255 matters only to a pool's first-fit search, which a
    # shaped component never runs (requested IPs are checked for pool, sharing and ports).
    address = ip_address(ip)
    return address.version, [any(address in n for n in p.networks) for p in pools]


class _Namer:
    """Numbers the names and IPs of a component's manifests in order of appearance."""

    def __init__(self, manifests: Sequence[Manifest], literals: set[str]) -> None:
        self.names: set[str] = set()
        self.ips: set[str] = set()
        self.balancer_ips: set[str] = set()  # requested or held; cluster IPs give a family only
        self.members: set[str] = set()
        self.backends: dict[str, int] = {}  # a selector's label-set text → its number
        self.ports: list[int] = []  # port numbers in order of appearance
        self._port_number: dict[int, int] = {}
        for manifest in manifests:
            self._collect(manifest)
        # An IP in a name (the group id names its IP) is renamed as that IP.
        self.names -= self.ips
        if (self.names | self.ips) & literals:
            raise _Asymmetric
        self.number: dict[str, int] = {}
        self.order: list[str] = []
        # The pool a shape renames (_one_pool; "" for none): its name in a pool annotation.
        self.pool = ""

    def key(self, svc: str) -> str:
        namespace, _, name = svc.partition("/")
        return f"{self._placeholder(namespace)}/{self._placeholder(name)}"

    def backend(self, text: str) -> str:
        """The placeholder of a selector's label-set text (numbered as first collected)."""
        return f"\1b{self.backends[text]}" if text else ""

    def replaced_text(self, value: str) -> str:
        """A sharing key (or any name-bearing text) with its names as placeholders."""
        return str(self._replaced(value))

    def manifest(self, manifest: Manifest) -> dict[str, Any]:
        """The manifest as the model reads it, names and IPs replaced by placeholders."""
        return {key: self._field(key, value) for key, value in manifest.items()}

    def _field(self, key: str, value: Any) -> Any:
        if key == "metadata" and isinstance(value, Mapping):
            return self._metadata(value)
        if key == "spec" and isinstance(value, Mapping):
            return self._spec(value)
        if key == "status" and isinstance(value, Mapping):
            return self._status(value)
        return self._literal(value)

    def _metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in metadata.items():
            if key in _OPAQUE_METADATA:
                continue
            if key in ("name", "namespace"):
                result[key] = self._replaced(value)
            elif key == "annotations" and isinstance(value, Mapping):
                result[key] = {k: self._annotation(k, v) for k, v in value.items()}
            else:
                result[key] = self._literal(value)
        return result

    def _annotation(self, key: str, value: Any) -> Any:
        if key in _NAME_ANNOTATIONS or key in _IP_ANNOTATIONS:
            return self._replaced(value)
        if key in _POOL_NAME_ANNOTATIONS and self.pool and value == self.pool:
            return _POOL_PLACEHOLDER
        return self._literal(value)

    def _spec(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in spec.items():
            if key in ("loadBalancerIP", "clusterIP", "clusterIPs"):
                result[key] = self._replaced(value)
            elif key == "selector":
                # Read only as the backend key's label-set text, by equality (and joined).
                result[key] = self.backend(_label_set(value))
            elif key == "ports" and isinstance(value, list):
                result[key] = [self._port(port) for port in value]
            elif key != "healthCheckNodePort":
                result[key] = self._literal(value)
        return result

    def _status(self, status: Mapping[str, Any]) -> dict[str, Any]:
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        entries = [
            {k: self._replaced(v) if k == "ip" else self._literal(v) for k, v in entry.items()}
            if isinstance(entry, Mapping)
            else self._literal(entry)
            for entry in ingress
        ]
        rest = {k: self._literal(v) for k, v in status.items() if k != "loadBalancer"}
        return {"loadBalancer": {"ingress": entries}, **rest}

    def _port(self, port: Any) -> Any:
        """A port as the model reads it: its protocol, and its number's placeholder (a number
        is compared only with numbers, for clashes on one IP)."""
        if not isinstance(port, Mapping):
            return self._literal(port)
        number = port.get("port")
        if isinstance(number, bool) or not isinstance(number, int):
            # The model reports it as written: keep it so (the other fields as before).
            return {k: self._literal(v) for k, v in port.items() if k != "nodePort"}
        if number not in self._port_number:
            self._port_number[number] = len(self.ports)
            self.ports.append(number)
        protocol = self._literal(port.get("protocol") or "TCP")
        return {"protocol": protocol, "port": f"\1p{self._port_number[number]}"}

    def _replaced(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._replaced(v) for v in value]
        if not isinstance(value, str) or value in _NO_IP:
            return self._literal(value)
        return _RUN.sub(lambda m: self._placeholder(m.group()), value)

    def _literal(self, value: Any) -> Any:
        """A value the model reads as written: it must not use a name or IP of the component."""
        if isinstance(value, Mapping):
            return {self._literal(k): self._literal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._literal(v) for v in value]
        if isinstance(value, str) and any(
            run in self.names or run in self.ips for run in _RUN.findall(value)
        ):
            raise _Asymmetric
        return value

    def _placeholder(self, token: str) -> str:
        if token not in self.names and token not in self.ips:
            raise _Asymmetric  # a key of `writes` that no manifest names
        if token not in self.number:
            self.number[token] = len(self.order)
            self.order.append(token)
        return f"\0{self.number[token]}"

    # --- collecting ----------------------------------------------------------------------------

    def _collect(self, manifest: Manifest) -> None:
        metadata = manifest.get("metadata") or {}
        spec = manifest.get("spec") or {}
        ingress = ((manifest.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        self._add(self.names, metadata.get("name"), metadata.get("namespace"))
        annotations = metadata.get("annotations") or {}
        self._add(self.names, *(annotations.get(a) for a in _NAME_ANNOTATIONS))
        members = annotations.get(GROUP_MEMBERS_ANNOTATION)
        if isinstance(members, str):
            self.members |= {m.strip() for m in members.split(",") if m.strip()}
        self.backends.setdefault(_label_set(spec.get("selector")), len(self.backends))
        self.balancer_ips |= self._add_ips(
            *(annotations.get(a) for a in _IP_ANNOTATIONS),
            spec.get("loadBalancerIP"),
            *(entry.get("ip") for entry in ingress if isinstance(entry, Mapping)),
        )
        cluster_ips = spec.get("clusterIPs") or []
        self._add_ips(
            spec.get("clusterIP"),
            *(cluster_ips if isinstance(cluster_ips, list) else [cluster_ips]),
        )

    @staticmethod
    def _add(found: set[str], *values: Any) -> None:
        for value in values:
            if value is None:
                continue
            if not isinstance(value, str):
                raise _Asymmetric
            found.update(_RUN.findall(value))

    def _add_ips(self, *values: Any) -> set[str]:
        runs: set[str] = set()
        self._add(runs, *(v for v in values if v not in _NO_IP))
        for run in runs:
            try:
                address = ip_address(run)
            except ValueError:
                raise _Asymmetric from None
            if str(address) != run or getattr(address, "ipv4_mapped", None) is not None:
                raise _Asymmetric  # the model prints the canonical form, not the written one
        self.ips |= runs
        return runs
