"""Transcribe MetalLB's allocator and controller test tables into this folder's JSON vectors.

Reads only the test tables' data (Services, pools, IPs, expected errors and writes) from the
Go test files at each tag, never their code; the Go tests written as statements rather than
tables are transcribed by hand below (`statement_tests`). Regenerate with

    python tests/model/metallb_vectors/transcribe.py /work/.mirror/metallb+metallb/repo

(any git directory of metallb/metallb holding the tags). The tests read only the JSON files.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

TAGS = ("v0.14.9", "v0.15.3")
ALLOCATOR_TEST = "internal/allocator/allocator_test.go"
CONTROLLER_TEST = "controller/controller_test.go"
SERVICE_CONTROLLER_TEST = "internal/k8s/controllers/service_controller_test.go"
# Go constants the tables use, by the value Kubernetes or the allocator sees.
CONSTANTS = {
    "AnnotationLoadBalancerIPs": "metallb.io/loadBalancerIPs",
    "AnnotationAddressPool": "metallb.io/address-pool",
    "AnnotationAllowSharedIP": "metallb.io/allow-shared-ip",
    "v1.ProtocolTCP": "TCP",
    "v1.ProtocolUDP": "UDP",
    "v1.ServiceTypeLoadBalancer": "LoadBalancer",
    "v1.ServiceTypeClusterIP": "ClusterIP",
    "v1.IPFamilyPolicyRequireDualStack": "RequireDualStack",
    "v1.IPFamilyPolicyPreferDualStack": "PreferDualStack",
    "IPFamilyPolicyRequireDualStack": "RequireDualStack",
    "IPFamilyPolicyPreferDualStack": "PreferDualStack",
    "v1.IPv4Protocol": "IPv4",
    "v1.IPv6Protocol": "IPv6",
    "ipfamily.IPv4": "ipv4",
    "ipfamily.IPv6": "ipv6",
    "ipfamily.DualStack": "dual",
    "testSelector": "team=metallb",  # TestControllerMutation's labels.Parse("team=metallb")
}
# Go field names whose JSON name is not the field name with a lower-case first letter.
JSON_NAMES = {
    "ObjectMeta": "metadata",
    "ClusterIPs": "clusterIPs",
    "LoadBalancerIP": "loadBalancerIP",
    "IPFamilyPolicy": "ipFamilyPolicy",
    "IPFamilies": "ipFamilies",
}

# --- a reader of Go composite literals --------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+|//[^\n]*)
    |(?P<string>"(?:\\.|[^"\\])*")
    |(?P<raw>`[^`]*`)
    |(?P<number>-?\d+)
    |(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)
    |(?P<punct>[{}\[\](),:&*])
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


class Literal(dict[str, Any]):
    """A Go composite literal: its type (None when elided), keyed fields and plain items."""


def tokens(text: str) -> list[tuple[str, str]]:
    """Go tokens of `text` as (kind, text), without blanks and comments."""
    found = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind != "space":
            found.append((kind, match.group()))
    return found


class Reader:
    """Reads one Go expression (literals, names, calls) from a token list."""

    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks = toks
        self.at = 0

    def peek(self) -> str:
        return self.toks[self.at][1] if self.at < len(self.toks) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.at]
        if expected is not None and tok[1] != expected:
            raise ValueError(f"expected {expected!r}, found {tok[1]!r}")
        self.at += 1
        return tok

    def type_name(self) -> str:
        """A type: []T, [N]T, *T, map[K]V, struct{...} or a name."""
        first = self.peek()
        if first == "[":
            while self.take()[1] != "]":
                pass
            return "[]" + self.type_name()
        if first == "*":
            self.take()
            return "*" + self.type_name()
        if first == "map":
            self.take()
            self.take("[")
            key = self.type_name()
            self.take("]")
            return f"map[{key}]" + self.type_name()
        if first == "struct":
            self.take()
            self.skip_braces()
            return "struct"
        return self.take()[1]

    def skip_braces(self) -> None:
        self.take("{")
        depth = 1
        while depth:
            text = self.take()[1]
            depth += (text == "{") - (text == "}")

    def expression(self) -> Any:
        kind, text = self.toks[self.at]
        if text == "&":
            self.take()
            return self.expression()
        if kind in ("string", "raw", "number"):
            self.take()
            return text[1:-1] if kind == "raw" else ast.literal_eval(text)
        if text == "{":
            return self.literal(None)
        if text in ("[", "*", "map", "struct"):
            return self.literal(self.type_name())
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        self.take()
        if text in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[text]
        if self.peek() == "{":
            return self.literal(text)
        if self.peek() == "[":  # a generic call's type arguments: ptr.To[string]("foo")
            while self.take()[1] != "]":
                pass
        if self.peek() == "(":
            self.take("(")
            args = []
            while self.peek() != ")":
                args.append(self.expression())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return {"call": text, "args": args}
        return {"name": text}

    def literal(self, type_name: str | None) -> Literal:
        self.take("{")
        fields: dict[str, Any] = {}
        items: list[Any] = []
        while self.peek() != "}":
            first = self.expression()
            if self.peek() == ":":
                self.take(":")
                key = first["name"] if isinstance(first, dict) and "name" in first else first
                fields[str(key)] = self.expression()
            else:
                items.append(first)
            if self.peek() == ",":
                self.take()
        self.take("}")
        return Literal(type=type_name, fields=fields, items=items)


def expression_after(text: str, marker: str) -> Any:
    """The Go expression that starts right after the first `marker` in `text`."""
    return Reader(tokens(text[text.index(marker) + len(marker) :])).expression()


def function(source: str, name: str) -> str:
    """The text of one top-level Go function."""
    start = source.index(f"\nfunc {name}(")
    end = source.find("\nfunc ", start + 1)
    return source[start : end if end > 0 else len(source)]


# --- Go values as JSON data -------------------------------------------------------------------


def data(value: Any, names: dict[str, Any]) -> Any:
    """A Go value as JSON data (names from `names`, then CONSTANTS)."""
    if isinstance(value, Literal):
        if value["type"] in ("v1.Service", "*v1.Service"):
            return service(value, names)
        if value["fields"]:
            return {CONSTANTS.get(k, k): data(v, names) for k, v in value["fields"].items()}
        return [data(item, names) for item in value["items"]]
    if isinstance(value, dict) and "name" in value:
        return names[value["name"]] if value["name"] in names else CONSTANTS[value["name"]]
    if isinstance(value, dict) and "call" in value:
        return call(value["call"], [data(a, names) for a in value["args"]])
    return value


def call(name: str, args: list[Any]) -> Any:
    """The value of one of the test files' helper calls."""
    if name in ("ptr.To", "ipnet", "selector", "labels.Parse"):
        return args[0]
    if name == "sets.New":
        return args
    if name == "ports":  # ports("tcp/80", ...) -> [["tcp", 80], ...]
        return [[text.split("/")[0], int(text.split("/")[1])] for text in args]
    if name == "statusAssigned":
        return {"loadBalancer": {"ingress": [{"ip": ip} for ip in args[0]]}}
    raise KeyError(name)


def json_name(go_name: str) -> str:
    return JSON_NAMES.get(go_name, go_name[:1].lower() + go_name[1:])


def service(value: Literal, names: dict[str, Any]) -> dict[str, Any]:
    """A v1.Service literal as the manifest Kubernetes would serve."""
    manifest: dict[str, Any] = {}
    for field, inner in value["fields"].items():
        if field == "Status":
            manifest["status"] = data(inner, names)
            continue
        part = {json_name(k): data(v, names) for k, v in inner["fields"].items()}
        if "ports" in part:
            part["ports"] = [{json_name(k): v for k, v in p.items()} for p in part["ports"]]
        manifest[json_name(field)] = part
    return manifest


def pools(value: Literal, names: dict[str, Any]) -> list[dict[str, Any]]:
    """A config.Pools (or map of *config.Pool) literal: its pools, in the source's order."""
    if "ByName" in value["fields"]:
        value = value["fields"]["ByName"]
    found = []
    for key, pool in value["fields"].items():
        fields = pool["fields"]
        entry: dict[str, Any] = {
            "name": fields.get("Name", key),
            "cidr": data(fields.get("CIDR", Literal(type=None, fields={}, items=[])), names),
            "autoAssign": data(fields.get("AutoAssign", False), names),
            "avoidBuggyIPs": data(fields.get("AvoidBuggyIPs", False), names),
        }
        if "ServiceAllocations" in fields:
            allocation = data(fields["ServiceAllocations"], names) or {}
            entry["serviceAllocation"] = {
                "priority": allocation.get("Priority", 0),
                "namespaces": allocation.get("Namespaces", []),
                "serviceSelectors": allocation.get("ServiceSelectors", []),
            }
        unknown = set(fields) - {
            "Name",
            "CIDR",
            "AutoAssign",
            "AvoidBuggyIPs",
            "ServiceAllocations",
        }
        if unknown:
            raise ValueError(f"pool fields not transcribed: {sorted(unknown)}")
        found.append(entry)
    return found


def table_rows(body: str, names: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the function's `tests := []struct{...}{...}` table, as JSON data."""
    rows = expression_after(body, "tests := ")["items"]
    return [{k: data(v, names) for k, v in row["fields"].items()} for row in rows]


def pools_in(body: str, names: dict[str, Any]) -> list[dict[str, Any]]:
    """The first config.Pools literal of the function."""
    return pools(expression_after(body[body.index("&config.Pools{") :], "&"), names)


# --- allocator_test.go ------------------------------------------------------------------------


def allocator_tests(source: str) -> list[dict[str, Any]]:
    """TestAssignment, TestPoolAllocation, TestAllocation, TestBuggyIPs, TestAutoAssign and
    TestConfigReload as step lists (TestPoolCount and TestPoolMetrics count addresses for
    metrics: not modelled)."""
    names = {
        name: service(expression_after(source, f"\n\t{name} = "), {})
        for name in ("svc", "svcRequireDualStack", "svcPreferDualStack")
    }
    body = function(source, "TestAssignment")
    steps = []
    for row in table_rows(body, names):
        if not row["ips"]:  # the Go loop unassigns on an empty IP list
            steps.append({"op": "unassign", "desc": row["desc"], "svcKey": row["svcKey"]})
            continue
        steps.append(
            {
                "op": "assign",
                "desc": row.pop("desc"),
                "svcKey": row.pop("svcKey"),
                "svc": row.pop("svc"),
                "ips": row.pop("ips"),
                "ports": row.pop("ports", []),
                "sharingKey": row.pop("sharingKey", ""),
                "backendKey": row.pop("backendKey", ""),
                "wantErr": row.pop("wantErr", False),
            }
        )
        _all_read(row)
    found = [{"goTest": "TestAssignment", "pools": pools_in(body, names), "steps": steps}]
    for name, op in (
        ("TestPoolAllocation", "allocate_from_pool"),
        ("TestAllocation", "allocate"),
        ("TestBuggyIPs", "allocate"),
        ("TestAutoAssign", "allocate"),
    ):
        body = function(source, name)
        found.append(
            {"goTest": name, "pools": pools_in(body, names), "steps": allocations(body, op, names)}
        )
    found[1]["steps"] += [  # the two statements after TestPoolAllocation's loop
        {"op": "unassign", "desc": "(after the table) s5 gives up its IPs", "svcKey": "s5"},
        {
            "op": "allocate_from_pool",
            "desc": "(after the table) allocating from a pool that does not exist fails",
            "svcKey": "s5",
            "svc": names["svc"],
            "ipFamily": "ipv4",
            "ports": [],
            "sharingKey": "",
            "backendKey": "",
            "wantErr": True,
            "poolName": "nonexistentpool",
        },
    ]
    return found + config_reloads(function(source, "TestConfigReload"), names)


def allocations(body: str, op: str, names: dict[str, Any]) -> list[dict[str, Any]]:
    """Allocate/AllocateFromPool rows; each success must return IPs of its family's valid set."""
    valid = {}
    for variable, family in (
        ("validIP4s", "ipv4"),
        ("validIP6s", "ipv6"),
        ("validIPDualStacks", "dual"),
        ("validIPs", "any"),
    ):
        if f"\t{variable} := map" in body:
            listed = data(expression_after(body, f"\t{variable} := "), names)
            valid[family] = [ip for ip, ok in listed.items() if ok]
    steps = []
    for index, row in enumerate(table_rows(body, names)):
        desc = row.pop("desc", f"#{index + 1}")
        if row.pop("unassign", False):
            steps.append({"op": "unassign", "desc": desc, "svcKey": row["svcKey"]})
            continue
        step = {
            "op": op,
            "desc": desc,
            "svcKey": row.pop("svcKey"),
            "svc": row.pop("svc"),
            "ipFamily": row.pop("ipFamily", "ipv4"),
            "ports": row.pop("ports", []),
            "sharingKey": row.pop("sharingKey", ""),
            "backendKey": "",
            "wantErr": row.pop("wantErr", False),
        }
        if op == "allocate_from_pool":
            step["poolName"] = row.pop("poolName", "") or "test"  # the loop's default pool
        _all_read(row)
        if not step["wantErr"]:
            step["validIPs"] = valid.get("any") or valid[step["ipFamily"]]
        steps.append(step)
    return steps


def config_reloads(body: str, names: dict[str, Any]) -> list[dict[str, Any]]:
    """TestConfigReload: per row, the base pools, s1 on 1.2.3.0, s2 on 1000::, the row's pools."""
    base = pools_in(body[body.index("for _, test") :], names)
    svc = names["svc"]
    found = []
    for raw in expression_after(body, "tests := ")["items"]:
        row = {k: v if k == "pools" else data(v, names) for k, v in raw["fields"].items()}
        found.append(
            {
                "goTest": "TestConfigReload",
                "case": row["desc"],
                "pools": base,
                "steps": [
                    {
                        "op": "assign",
                        "desc": "s1 takes 1.2.3.0",
                        "svcKey": "s1",
                        "svc": svc,
                        "ips": ["1.2.3.0"],
                        "ports": [],
                        "sharingKey": "",
                        "backendKey": "",
                        "wantErr": False,
                    },
                    {
                        "op": "assign",
                        "desc": "s2 takes 1000::",
                        "svcKey": "s2",
                        "svc": svc,
                        "ips": ["1000::"],
                        "ports": [],
                        "sharingKey": "",
                        "backendKey": "",
                        "wantErr": False,
                    },
                    {"op": "set_pools", "desc": row["desc"], "pools": pools(row["pools"], names)},
                    {"op": "pool", "desc": "s1's pool", "svcKey": "s1", "want": row["poolS1"]},
                    {"op": "pool", "desc": "s2's pool", "svcKey": "s2", "want": row["poolS2"]},
                ],
            }
        )
    return found


def _all_read(row: dict[str, Any]) -> None:
    if row:
        raise ValueError(f"table fields not transcribed: {sorted(row)}")


# --- controller_test.go -----------------------------------------------------------------------


def controller_tests(source: str) -> list[dict[str, Any]]:
    """TestControllerMutation's table, then the tests written as statements."""
    body = function(source, "TestControllerMutation")
    names: dict[str, Any] = {}
    steps = []
    for row in table_rows(body, names):
        steps.append(
            {
                "op": "set_balancer",
                "desc": row.pop("desc"),
                "svcKey": "test",
                "in": row.pop("in", None),
                "want": row.pop("want", None),
                "wantErr": row.pop("wantErr", False),
                "stateNot": "SyncStateError",
            }
        )
        _all_read(row)
    mutation = {
        "goTest": "TestControllerMutation",
        "pools": pools_in(body, names),
        "shuffle": True,
        "steps": steps,
    }
    return [mutation, *statement_tests()]


def _lb(*cluster_ips: str, policy: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "LoadBalancer", "clusterIPs": list(cluster_ips)}
    if policy:
        spec["ipFamilyPolicy"] = policy
    return {"spec": spec}


def _with_status(svc: dict[str, Any], *ips: str) -> dict[str, Any]:
    return {**svc, "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}


def _pool(name: str, *cidrs: str) -> dict[str, Any]:
    return {"name": name, "cidr": list(cidrs), "autoAssign": True, "avoidBuggyIPs": False}


def _balance(desc: str, key: str, svc: Any, **expect: Any) -> dict[str, Any]:
    return {"op": "set_balancer", "desc": desc, "svcKey": key, "in": svc, **expect}


def _set_pools(desc: str, pools: Any, **expect: Any) -> dict[str, Any]:
    return {"op": "set_pools", "desc": desc, "pools": pools, **expect}


def statement_tests() -> list[dict[str, Any]]:
    """TestControllerConfig, TestDeleteRecyclesIP, TestControllerReassign and
    TestControllerDualStackConfig, transcribed by hand (the same at v0.14.9 and v0.15.3)."""
    svc = _lb("1.2.3.4")
    got = _with_status(svc, "1.2.3.0")
    ok = {"stateNot": "SyncStateError"}
    config = [
        _balance(
            "no configuration yet: nothing written, no warning",
            "test",
            svc,
            want=None,
            wantErr=False,
            **ok,
        ),
        _set_pools("an empty configuration is accepted", [], **ok),
        _set_pools("a configuration with one pool", [_pool("default", "1.2.3.0/24")], **ok),
        _balance("the Service gets the pool's first IP", "test", svc, want=got, **ok),
        _set_pools(
            "removing the pool that holds an allocation reprocesses all",
            [],
            state="SyncStateReprocessAll",
        ),
        _balance(
            "the Service is cleared, no retry (its IP is in no pool)",
            "test",
            got,
            want=svc,
            state="SyncStateErrorNoRetry",
        ),
        _set_pools("deleting the configuration is refused", None, state="SyncStateErrorNoRetry"),
    ]
    recycle = [
        _balance("svc1 takes the only IP", "test", svc, want=got, **ok),
        _balance("svc2 converges without an IP: nothing written", "test2", svc, want=None, **ok),
        _balance("deleting svc1 reprocesses all", "test", None, state="SyncStateReprocessAll"),
        _balance("svc2 now gets the IP", "test2", svc, want=got, **ok),
    ]
    two = [_pool("default", "1.2.3.0/24", "1000::1/127"), _pool("second", "4.5.6.0/24")]
    success = {"state": "SyncStateSuccess"}
    reassign = [
        _set_pools(
            "the first configuration reprocesses all", two[:1], state="SyncStateReprocessAll"
        ),
        _balance("the Service gets 1.2.3.0", "test", svc, want=got, **success),
        _set_pools("a second pool is added", two, **ok),
        # The Go test resets its recorder before looking, so no write is checked here.
        _balance("the allocation does not change", "test", got, **success),
        _set_pools(
            "deleting the pool that holds the IP reprocesses all",
            two[1:],
            state="SyncStateReprocessAll",
        ),
        _balance(
            "the Service moves to the second pool",
            "test",
            got,
            want=_with_status(svc, "4.5.6.0"),
            **success,
        ),
    ]
    dual = _lb("1.2.3.4", "1000::", policy="RequireDualStack")
    dual_config = [
        _balance(
            "no configuration yet: nothing written, no warning",
            "test",
            dual,
            want=None,
            wantErr=False,
            **ok,
        ),
        _set_pools("an empty configuration is accepted", [], **ok),
        _set_pools("a dual-stack pool", [_pool("default", "1.2.3.0/24", "1000::1/127")], **ok),
        _balance(
            "the Service gets one IP of each family",
            "test",
            dual,
            want=_with_status(dual, "1.2.3.0", "1000::"),
            **ok,
        ),
    ]
    return [
        {"goTest": "TestControllerConfig", "pools": None, "steps": config},
        {
            "goTest": "TestDeleteRecyclesIP",
            "pools": [_pool("default", "1.2.3.0/32")],
            "steps": recycle,
        },
        {"goTest": "TestControllerReassign", "pools": None, "steps": reassign},
        {"goTest": "TestControllerDualStackConfig", "pools": None, "steps": dual_config},
    ]


# --- internal/k8s/controllers/service_controller_test.go ----------------------------------------


def service_controller_tests(source: str) -> list[dict[str, Any]]:
    """TestLBClass: is a Service of this loadBalancerClass filtered out under `--lb-class`?
    (TestServiceController drives the reconciler with a fake client: not modelled.)"""
    steps = []
    for row in table_rows(function(source, "TestLBClass"), {}):
        steps.append(
            {
                "op": "filter",
                "desc": row.pop("desc"),
                "serviceLBClass": row.pop("serviceLBClass", None),
                "lbClass": row.pop("metallLBClass"),
                "shouldFilter": row.pop("shouldFilter"),
            }
        )
        _all_read(row)
    return [{"goTest": "TestLBClass", "steps": steps}]


# --- the files --------------------------------------------------------------------------------


def show(git_dir: str, tag: str, path: str) -> str:
    """A file at a tag of the MetalLB repository."""
    return subprocess.run(
        ["git", "-C", git_dir, "show", f"{tag}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def write_tables(git_dir: str, out: Path) -> None:
    """Write <tag>/<Go test file>.json for every tag."""
    for tag in TAGS:
        for name, path, read in (
            ("allocator_test", ALLOCATOR_TEST, allocator_tests),
            ("controller_test", CONTROLLER_TEST, controller_tests),
            ("service_controller_test", SERVICE_CONTROLLER_TEST, service_controller_tests),
        ):
            doc = {
                "release": tag,
                "source": f"metallb/metallb {path} at {tag}",
                "tests": read(show(git_dir, tag, path)),
            }
            (out / tag).mkdir(parents=True, exist_ok=True)
            (out / tag / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    write_tables(sys.argv[1], Path(__file__).resolve().parent)
