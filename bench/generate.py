"""Generate a benchmark repo: N LoadBalancer Services in sharing groups, and a live snapshot.

    python bench/generate.py OUT_DIR [--services 10000] [--group-size 4] [--seed 0]
                             [--heterogeneous | --one-group]

Writes OUT_DIR/desired/ (pools.yaml, namespaces.yaml and one multi-document file per namespace)
and OUT_DIR/live.yaml (a kubectl `List` with what the API server and MetalLB fill in: statuses,
cluster IPs, node ports, defaults; no managedFields, which `kubectl get` hides). Each live
Service's uid is a seeded random version-4 UUID, as the API server makes them: about one in
seven holds a digit before `e-` (`...-5c0e-...`), which a plan's JSON render must not take for a
float (bench/README.md, "uids15"). Groups of `group-size` Services share one IP
(DNS-like TCP/UDP 53, HTTP 80, HTTPS 443...). Most groups request their IP in one of a few /16
pools (`metallb.io/loadBalancerIPs`); every tenth group is auto-assigned from the one
auto-assign pool, and its live IP is the one MetalLB would have given it (the pool's addresses in
order). A seeded tenth of the groups gets a key-changing edit: every member goes from
`externalTrafficPolicy: Cluster` to `Local`. The same arguments give the same bytes.

Two other shapes (issue 17, issue 16):
- `--heterogeneous`: groups of 3 (`--group-size` is ignored), each with its own ports (numbers no
  other group uses) and its own selector (a label key of its own), every group changing its key;
  requested IPs, every tenth group auto-assigned. No two groups are the same up to renaming of
  names and IPs alone.
- `--one-group`: all N Services in one sharing group on one requested IP (each its own port),
  every member changing its key; `--shape independent`: the same N Services, each in a group of
  its own on its own IP (the side-by-side baseline of `bench/bench_diff.py --one-group`).
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - only without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

Manifest = dict[str, Any]

DEFAULT_SERVICES = 10_000
DEFAULT_GROUP_SIZE = 4
NAMESPACES = 100
REQUEST_POOLS = ("10.10.0.0/16", "10.11.0.0/16", "10.12.0.0/16")  # requested IPs only
AUTO_POOL = "10.20.0.0/16"  # autoAssign: true, for the auto-assigned groups
AUTO_EVERY = 10  # every tenth group is auto-assigned
KEY_CHANGE_SHARE = 0.10  # the share of groups whose members all switch to Local
SHAPES = ("templated", "heterogeneous", "one-group", "independent")
HETEROGENEOUS_SIZE = 3
FIRST_OWN_PORT = 1024  # the heterogeneous and one-group shapes number their own ports from here
# One (name, protocol, port) per member of a group: all distinct on the shared IP.
MEMBER_PORTS = (
    ("dns-tcp", "TCP", 53),
    ("dns-udp", "UDP", 53),
    ("http", "TCP", 80),
    ("https", "TCP", 443),
    ("quic", "UDP", 443),
    ("metrics", "TCP", 9090),
)
# A /12 (the largest IPv4 service range Kubernetes allows): a /16 ran out past 65,526 Services.
# Cluster IPs start at 172.20.0.10 as they did in the /16, so smaller repos are unchanged.
SERVICE_CIDR = ipaddress.ip_network("172.16.0.0/12")
FIRST_CLUSTER_IP = int(ipaddress.ip_address("172.20.0.10")) - int(SERVICE_CIDR.network_address)
TIMESTAMP = "2026-11-01T00:00:00Z"
SHAPE_HELP = (
    "templated (default), heterogeneous (3-member groups, own ports and selectors, all "
    "changing), one-group (every Service in one group), independent (every Service alone)"
)


@dataclass(frozen=True)
class Group:
    """One sharing group: its namespace, name, IP, pool, and whether the commit changes its key."""

    index: int
    namespace: str
    ip: str
    pool: str
    requested: bool
    key_change: bool
    own_ports: bool = False  # each member its own port number (FIRST_OWN_PORT + member serial)
    own_selector: bool = False  # the selector's label key names the group

    @property
    def name(self) -> str:
        return f"g{self.index:05d}"


def plan_groups(
    services: int, group_size: int, seed: int, auto_every: int = AUTO_EVERY
) -> list[Group]:
    """The groups of the repo: IPs spread over the pools, every `auto_every`-th group
    auto-assigned (0: none), a seeded tenth with a key change."""
    count = -(-services // group_size)
    rng = random.Random(seed)
    changing = set(rng.sample(range(count), round(count * KEY_CHANGE_SHARE)))
    auto_hosts = ipaddress.ip_network(AUTO_POOL).hosts()
    request_hosts = [ipaddress.ip_network(cidr).hosts() for cidr in REQUEST_POOLS]
    groups = []
    for index in range(count):
        requested = auto_every == 0 or index % auto_every != auto_every - 1
        if requested:
            pool_index = index % len(REQUEST_POOLS)
            ip, pool = str(next(request_hosts[pool_index])), f"requested-{pool_index}"
        else:
            ip, pool = str(next(auto_hosts)), "auto"
        namespace = f"team-{index % NAMESPACES:03d}"
        groups.append(Group(index, namespace, ip, pool, requested, index in changing))
    return groups


def plan_shape(
    services: int, shape: str, seed: int, auto_every: int = AUTO_EVERY
) -> tuple[list[Group], int]:
    """The groups of a non-templated shape and their size (see the module's docstring)."""
    if shape == "heterogeneous":
        groups = plan_groups(services, HETEROGENEOUS_SIZE, seed, auto_every)
        own = [_own(g, key_change=True, selector=True) for g in groups]
        return own, HETEROGENEOUS_SIZE
    if shape == "one-group":
        (group,) = plan_groups(1, 1, seed, auto_every=0)
        return [_own(group, key_change=True, selector=False)], services
    if shape == "independent":
        groups = plan_groups(services, 1, seed, auto_every=0)
        return [_own(g, key_change=True, selector=False) for g in groups], 1
    raise SystemExit(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")


def _own(group: Group, *, key_change: bool, selector: bool) -> Group:
    return replace(group, key_change=key_change, own_ports=True, own_selector=selector)


def member_names(group: Group, size: int) -> list[str]:
    return [f"{group.name}-{_member_port(group, m, size)[0]}" for m in range(size)]


def _member_port(group: Group, member: int, size: int) -> tuple[str, str, int]:
    """(name, protocol, port) of a member: the templated ones, or numbers of its own."""
    if not group.own_ports:
        return MEMBER_PORTS[member]
    # Distinct for the first 64,512 Services; beyond, numbers repeat (on other IPs, no clash).
    number = FIRST_OWN_PORT + (group.index * size + member) % (65_536 - FIRST_OWN_PORT)
    return f"p{number}", ("TCP", "UDP")[member % 2], number


def desired_service(group: Group, member: int, local: bool, size: int = 0) -> Manifest:
    """A member as the repo declares it (Local when `local`; `size`: its group's, for the
    shapes whose ports are their own)."""
    port_name, protocol, port = _member_port(group, member, size)
    annotations = {"metallb.io/allow-shared-ip": group.name}
    if group.requested:
        annotations["metallb.io/loadBalancerIPs"] = group.ip
    selector = (
        {f"bench.example/{group.name}": "backend"}
        if group.own_selector
        else {"app.kubernetes.io/name": group.name}
    )
    spec: Manifest = {
        "type": "LoadBalancer",
        "selector": selector,
        "ports": [{"name": port_name, "port": port, "protocol": protocol, "targetPort": port}],
    }
    if local:
        spec["externalTrafficPolicy"] = "Local"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{group.name}-{port_name}",
            "namespace": group.namespace,
            "labels": {"app.kubernetes.io/name": group.name},
            "annotations": annotations,
        },
        "spec": spec,
    }


def live_uids(seed: int) -> Iterator[str]:
    """The live Services' uids in order: random version-4 UUIDs (what the API server gives),
    the same for the same seed."""
    rng = random.Random(f"uids/{seed}")
    while True:
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def live_service(group: Group, member: int, serial: int, uid: str, size: int = 0) -> Manifest:
    """A member as the API server and MetalLB hold it before the commit (always Cluster)."""
    body = desired_service(group, member, local=False, size=size)
    cluster_ip = str(SERVICE_CIDR[FIRST_CLUSTER_IP + serial])
    meta = body["metadata"]
    meta.update(
        {
            "uid": uid,
            "resourceVersion": str(100_000 + serial),
            "creationTimestamp": TIMESTAMP,
        }
    )
    meta["annotations"]["metallb.io/ip-allocated-from-pool"] = group.pool
    port = body["spec"]["ports"][0]
    port["nodePort"] = 30000 + serial % 2767
    body["spec"].update(
        {
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "allocateLoadBalancerNodePorts": True,
        }
    )
    body["status"] = {"loadBalancer": {"ingress": [{"ip": group.ip, "ipMode": "VIP"}]}}
    return body


def pools() -> list[Manifest]:
    """The request-only /16 pools and the one auto-assign pool."""
    result = [
        _pool(f"requested-{i}", cidr, auto_assign=False) for i, cidr in enumerate(REQUEST_POOLS)
    ]
    return result + [_pool("auto", AUTO_POOL, auto_assign=True)]


def _pool(name: str, cidr: str, auto_assign: bool) -> Manifest:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": [cidr], "autoAssign": auto_assign},
    }


def namespaces(names: list[str]) -> list[Manifest]:
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in names]


def write_repo(
    out: Path,
    services: int,
    group_size: int,
    seed: int,
    auto_every: int = AUTO_EVERY,
    shape: str = "templated",
) -> dict[str, int]:
    """Write OUT/desired/ and OUT/live.yaml; return counts of what was written."""
    if shape != "templated":
        groups, group_size = plan_shape(services, shape, seed, auto_every)
    elif not 1 <= group_size <= len(MEMBER_PORTS):
        raise SystemExit(f"--group-size must be 1..{len(MEMBER_PORTS)}")
    else:
        groups = plan_groups(services, group_size, seed, auto_every)
    desired_dir = out / "desired"
    desired_dir.mkdir(parents=True, exist_ok=True)
    namespace_names = sorted({g.namespace for g in groups})
    _dump(desired_dir / "pools.yaml", pools())
    _dump(desired_dir / "namespaces.yaml", namespaces(namespace_names))
    by_namespace: dict[str, list[Manifest]] = {name: [] for name in namespace_names}
    live_items: list[Manifest] = []
    uids = live_uids(seed)
    written = 0
    for group in groups:
        for member in range(group_size):
            if written == services:
                break
            by_namespace[group.namespace].append(
                desired_service(group, member, group.key_change, group_size)
            )
            live_items.append(live_service(group, member, written, next(uids), group_size))
            written += 1
    for name, manifests in by_namespace.items():
        _dump(desired_dir / f"{name}.yaml", manifests)
    live_items += pools() + namespaces(namespace_names)
    live = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}}
    _dump(out / "live.yaml", [{**live, "items": live_items}])
    changing = sum(1 for g in groups if g.key_change)
    auto = sum(1 for g in groups if not g.requested)
    return {
        "services": written,
        "groups": len(groups),
        "auto_assigned_groups": auto,
        "key_changing_groups": changing,
    }


def _dump(path: Path, documents: list[Manifest]) -> None:
    with path.open("w", encoding="utf-8") as out:
        yaml.dump_all(documents, out, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def repo_files(out: Path) -> Iterator[Path]:
    """Every YAML file of a generated repo: the desired files, then the live snapshot."""
    yield from sorted((out / "desired").glob("*.yaml"))
    yield out / "live.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="Directory to write (created if missing).")
    parser.add_argument("--services", type=int, default=DEFAULT_SERVICES)
    parser.add_argument("--group-size", type=int, default=DEFAULT_GROUP_SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--auto-every",
        type=int,
        default=AUTO_EVERY,
        help="Every Nth group auto-assigned (0: none).",
    )
    parser.add_argument("--shape", choices=SHAPES, default="templated", help=SHAPE_HELP)
    parser.add_argument(
        "--heterogeneous", dest="shape", action="store_const", const="heterogeneous"
    )
    parser.add_argument("--one-group", dest="shape", action="store_const", const="one-group")
    args = parser.parse_args(argv)
    counts = write_repo(
        args.out, args.services, args.group_size, args.seed, args.auto_every, args.shape
    )
    print(", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
