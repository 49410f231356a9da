"""The brain of the stand-in `kubectl` (tests/fakes/kubectl): a simulated cluster and its state.

The state holds the cluster as it started (MetalLB behaviour, IPAddressPools, live Services with
their statuses), the log of everything that happened since (write arrivals and controller
steps), other objects (ConfigMaps, Flux sources), fault switches and the calls received. Each call
is answered by `answer`, which lets the controller take some steps and appends what it did to
the log. The brain runs in one of two ways:

- as the stand-in executable (`FakeCluster`): the state is a JSON file (path in
  $FAKE_KUBECTL_STATE); each invocation rebuilds `SimulatedCluster` by replaying the log, answers
  one call and writes the file back. This covers the real argv/exit-code/stderr path.
- in-process (`InProcessFake`): the same `answer` called through `planner.kubectl.run_kubectl`,
  with the state and the cluster kept in memory: no process start and no replay per call.

How far the controller gets between calls is the adversary, chosen by `schedule`:
- "drain": it handles everything after each write (each write lands alone: the order that
  leaves a metallb-0.14 member stuck);
- "lazy": it handles nothing until the next read (every write lands before any processing);
- "random": a seeded number of steps (0-3 after a write, 1-3 per read) and seeded tie orders
  in reprocess-all passes.

Faults (`faults` in the state): `fail_apply: {service, times}` (a real apply of that Service fails),
`reject_dry_run: svc` (the server dry-run refuses it), `block: {on, nth, marker}` (the nth call of
kind `on` — "dry-run", "apply", "get", "annotate" — touches `marker` and hangs, for kill tests;
the stand-in executable only),
`controller_down: true` (writes land, the controller never runs), `fail_get: {from, times}`
(from the `from`-th get on, `times` gets fail as an unreachable API server would).

Server-side apply is modelled as far as apply needs it: a field manager's labels and annotations
that it omits in a later apply are removed; spec maps merge and lists are replaced.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import planner.kubectl
from planner.errors import ToolFailedError
from planner.kubectl import LIVE_RESOURCES
from planner.model.allocator import Pool
from planner.model.pools import pools_from_objects
from planner.model.simcluster import RELOAD, Process, SimulatedCluster
from planner.objects import Manifest, svc_key_of
from planner.tools import redact_argv, stderr_tail

if TYPE_CHECKING:  # the stand-in executable imports this module on every call: keep it light
    import pytest

STATE_ENV = "FAKE_KUBECTL_STATE"
FAKES_DIR = Path(__file__).resolve().parent
BLOCK_SECONDS = 60.0  # a blocked call hangs this long at most (the test kills it sooner)

_VALUE_FLAGS = {"--kubeconfig", "--context", "-n", "--namespace", "-o", "--output", "-f"}


class FakeError(Exception):
    """An error kubectl would print (stderr line, exit code 1)."""


def new_state(
    *,
    behavior: str,
    services: Sequence[Manifest],
    pools: Sequence[Manifest],
    schedule: str = "drain",
    seed: int = 0,
    faults: dict[str, Any] | None = None,
    objects: dict[str, Manifest] | None = None,
    lb_class: str = "",
) -> dict[str, Any]:
    """A fresh state: the cluster before anything happened (`lb_class`: MetalLB's --lb-class)."""
    return {
        "behavior": behavior,
        "lb_class": lb_class,
        "services": list(services),
        "pools": list(pools),
        "schedule": schedule,
        "seed": seed,
        "faults": faults or {},
        "objects": objects or {},
        "log": [],
        "owned": {},
        "counters": {},
        "calls": [],
    }


def write_state(path: Path, **fields: Any) -> None:
    """Write a fresh state file (`new_state`'s fields): the cluster before anything happened."""
    save_state(path, new_state(**fields))


def load_state(path: Path) -> dict[str, Any]:
    """The state file as a dict."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".state.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(state, stream, indent=1, sort_keys=True)
    os.replace(temporary, path)


def build_cluster(state: dict[str, Any]) -> SimulatedCluster:
    """The simulated cluster: bootstrap on the initial state, then replay the log exactly."""
    pools: list[Pool] = pools_from_objects(state["pools"])
    cluster = SimulatedCluster.bootstrap(
        pools, state["services"], behavior=state["behavior"], lb_class=state["lb_class"]
    )
    for entry in state["log"]:
        if "arrive" in entry:
            cluster.arrive(entry["arrive"], entry["manifest"])
        else:
            order = entry["process"]
            cluster.process_next(Process(tuple(order) if order else None))
    return cluster


def live_services(path: Path) -> dict[str, Manifest]:
    """Every Service as the fake's API server shows it now (for test assertions)."""
    return copy.deepcopy(build_cluster(load_state(path)).store)


# --- one call ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What kubectl would do for one call: exit code, stdout and stderr."""

    code: int
    out: str = ""
    err: str = ""


def main(argv: Sequence[str], stdin: str) -> int:
    """Answer one kubectl call from the state file (replaying its log); kubectl's exit code."""
    path = Path(os.environ[STATE_ENV])
    state = load_state(path)
    reply = answer(state, build_cluster(state), argv, stdin, path)
    save_state(path, state)
    print(reply.out, end="")
    print(reply.err, end="", file=sys.stderr)
    return reply.code


def answer(
    state: dict[str, Any],
    cluster: SimulatedCluster,
    argv: Sequence[str],
    stdin: str,
    path: Path | None = None,
) -> Reply:
    """Answer one call (argv without the binary), changing `state` and `cluster` alike.

    `path` is the state file, saved before a `block` fault hangs; None (in-process) refuses it.
    """
    state["calls"].append(list(argv))
    words, flags = _parse(argv)
    try:
        output = _dispatch(state, cluster, words, flags, stdin, path)
    except FakeError as err:
        return Reply(1, err=f"{err}\n")
    return Reply(0, out=output)


def _parse(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    flags: dict[str, str] = {}
    items = list(argv)
    while items:
        item = items.pop(0)
        if item in _VALUE_FLAGS:
            flags[item] = items.pop(0)
        elif item.startswith("-"):
            name, _, value = item.partition("=")
            flags[name] = value or "true"
        else:
            words.append(item)
    return words, flags


def _dispatch(
    state: dict[str, Any],
    cluster: SimulatedCluster,
    words: list[str],
    flags: dict[str, str],
    stdin: str,
    path: Path | None,
) -> str:
    verb = words[0] if words else ""
    dry_run = flags.get("--dry-run") == "server"
    kind = "dry-run" if dry_run else verb
    _maybe_block(state, kind, path)
    if verb == "apply" and "--server-side" in flags and flags.get("-f") == "-":
        return _apply(state, cluster, json.loads(stdin), dry_run)
    if verb == "get":
        _maybe_fail_get(state)
        output = _get(state, cluster, words[1:], flags)
        _steps(state, cluster, after_write=False)
        return output
    if verb == "delete" and words[1:2] == ["service"]:
        return _delete(state, cluster, f"{flags['-n']}/{words[2]}", dry_run)
    if verb == "annotate" and words[1:2] == ["service"] and "--overwrite" in flags:
        return _annotate(state, cluster, f"{flags['-n']}/{words[2]}", words[3])
    raise FakeError(f"fake kubectl: unsupported call {words} {sorted(flags)}")


def _maybe_block(state: dict[str, Any], kind: str, path: Path | None) -> None:
    counters = state["counters"]
    counters[kind] = counters.get(kind, 0) + 1
    block = state["faults"].get("block")
    if block and block["on"] == kind and block["nth"] == counters[kind]:
        if path is None:  # hanging in-process would hang the test itself, with nobody to kill it
            raise RuntimeError("the `block` fault needs the stand-in kubectl as a subprocess")
        save_state(path, state)
        Path(block["marker"]).write_text("blocked\n", encoding="utf-8")
        time.sleep(BLOCK_SECONDS)
        raise FakeError("fake kubectl: blocked call was not killed")


def _maybe_fail_get(state: dict[str, Any]) -> None:
    fail = state["faults"].get("fail_get")
    if fail and state["counters"]["get"] >= fail["from"] and fail.get("times", 1) > 0:
        fail["times"] = fail.get("times", 1) - 1
        raise FakeError("Unable to connect to the server: net/http: TLS handshake timeout")


def _apply(state: dict[str, Any], cluster: SimulatedCluster, body: Any, dry_run: bool) -> str:
    items = body["items"] if body.get("kind") == "List" else [body]
    lines = []
    for item in items:
        kind = item["kind"].lower()
        name = item["metadata"]["name"]
        if kind == "service":
            svc = svc_key_of(item)
            _check_service(state, svc, item, dry_run)
            if not dry_run:
                merged = _server_side_apply(state, cluster.store.get(svc), item, svc)
                _arrive(state, cluster, svc, merged)
        elif not dry_run:
            key = f"{kind}/{item['metadata'].get('namespace', 'default')}/{name}"
            state["objects"][key] = item
        suffix = " (server dry run)" if dry_run else ""
        lines.append(f"{kind}/{name} serverside-applied{suffix}\n")
    return "".join(lines)


def _check_service(state: dict[str, Any], svc: str, item: Manifest, dry_run: bool) -> None:
    name = svc.split("/", 1)[1]
    if not (item.get("spec") or {}).get("ports"):
        raise FakeError(f'The Service "{name}" is invalid: spec.ports: Required value')
    faults = state["faults"]
    if dry_run and faults.get("reject_dry_run") == svc:
        raise FakeError(f'Error from server (Forbidden): services "{name}" is forbidden: policy')
    fail = faults.get("fail_apply")
    if not dry_run and fail and fail["service"] == svc and fail.get("times", 1) > 0:
        fail["times"] = fail.get("times", 1) - 1
        raise FakeError(f'Error from server (InternalError): services "{name}": injected fault')


def _server_side_apply(
    state: dict[str, Any], stored: Manifest | None, applied: Manifest, svc: str
) -> Manifest:
    merged = copy.deepcopy(stored) if stored else {}
    owned = state["owned"].setdefault(svc, {"labels": [], "annotations": []})
    meta = merged.setdefault("metadata", {})
    new_meta = applied.get("metadata") or {}
    for field in ("labels", "annotations"):
        values = dict(meta.get(field) or {})
        for key in owned[field]:
            if key not in (new_meta.get(field) or {}):
                values.pop(key, None)
        values.update(new_meta.get(field) or {})
        meta[field] = values
        owned[field] = sorted((new_meta.get(field) or {}).keys())
    meta["name"], meta["namespace"] = new_meta["name"], new_meta.get("namespace", "default")
    merged["apiVersion"], merged["kind"] = applied["apiVersion"], applied["kind"]
    merged["spec"] = _merge(merged.get("spec") or {}, applied.get("spec") or {})
    return merged


def _merge(stored: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(stored)
    for key, value in applied.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _delete(state: dict[str, Any], cluster: SimulatedCluster, svc: str, dry_run: bool) -> str:
    name = svc.split("/", 1)[1]
    if dry_run:
        return f'service "{name}" deleted (server dry run)\n'
    if svc in cluster.store:
        _arrive(state, cluster, svc, None)
    state["owned"].pop(svc, None)
    return f'service "{name}" deleted\n'


def _annotate(state: dict[str, Any], cluster: SimulatedCluster, svc: str, pair: str) -> str:
    if svc not in cluster.store:
        raise FakeError(f'Error from server (NotFound): services "{svc.split("/")[1]}" not found')
    key, _, value = pair.partition("=")
    updated = copy.deepcopy(cluster.store[svc])
    updated.setdefault("metadata", {}).setdefault("annotations", {})[key] = value
    _arrive(state, cluster, svc, updated)
    return f"service/{svc.split('/')[1]} annotated\n"


def _get(
    state: dict[str, Any], cluster: SimulatedCluster, words: list[str], flags: dict[str, str]
) -> str:
    namespace = flags.get("-n", "default")
    missing_ok = "--ignore-not-found" in flags
    if words and words[0] == "services":
        items = []
        for name in words[1:]:
            svc = cluster.store.get(f"{namespace}/{name}")
            if svc is None and not missing_ok:
                raise FakeError(f'Error from server (NotFound): services "{name}" not found')
            if svc is not None:
                items.append(_served(svc, len(state["log"])))
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}) + "\n"
    if words and words[0] == LIVE_RESOURCES and "-A" in flags:
        return _live_state(state, cluster, flags.get("-o", "yaml"))
    kind, _, name = words[0].partition("/")
    found = state["objects"].get(f"{kind}/{namespace}/{name}")
    if found is None:
        if missing_ok:
            return ""
        raise FakeError(f'Error from server (NotFound): {kind} "{name}" not found')
    return json.dumps(found) + "\n"


def _live_state(state: dict[str, Any], cluster: SimulatedCluster, output: str) -> str:
    """What `kubectl get svc,ipaddresspools.metallb.io,namespaces -A -o json|yaml` prints."""
    services = [_served(cluster.store[k], len(state["log"])) for k in sorted(cluster.store)]
    names = sorted({svc_key_of(s).split("/")[0] for s in services} | {"metallb-system"})
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}},
        }
        for n in names
    ]
    items = services + list(state["pools"]) + namespaces
    listed = {"apiVersion": "v1", "kind": "List", "items": items}
    if output == "json":
        return json.dumps(listed, indent=4, sort_keys=True) + "\n"
    return yaml.safe_dump(listed, sort_keys=True)


def _served(svc: Manifest, version: int) -> Manifest:
    shown = copy.deepcopy(svc)
    shown.setdefault("metadata", {})["resourceVersion"] = str(1000 + version)
    return shown


# --- the controller's pace ---------------------------------------------------------------------


def _arrive(state: dict[str, Any], cluster: SimulatedCluster, svc: str, manifest: Any) -> None:
    cluster.arrive(svc, copy.deepcopy(manifest))
    # A copy: the in-process state is never serialised, so a caller's later edit must not leak in.
    state["log"].append({"arrive": svc, "manifest": copy.deepcopy(manifest)})
    _steps(state, cluster, after_write=True)


def _steps(state: dict[str, Any], cluster: SimulatedCluster, *, after_write: bool) -> None:
    """Let the controller work as far as the schedule says (see the module docstring)."""
    if state["faults"].get("controller_down"):
        return
    schedule = state["schedule"]
    rng = random.Random(f"{state['seed']}:{len(state['log'])}")
    if schedule == "drain" or (schedule == "lazy" and not after_write):
        count = 1000
    elif schedule == "lazy":
        count = 0
    else:
        count = rng.randint(0, 3) if after_write else rng.randint(1, 3)
    for _ in range(count):
        if not cluster.queue:
            return
        order = None
        if cluster.queue[0] == RELOAD:
            order = list(rng.choice(cluster.pass_orders(all_ties=schedule == "random")))
        cluster.process_next(Process(tuple(order) if order else None))
        state["log"].append({"process": order})


# --- for tests -----------------------------------------------------------------------------------


class FakeCluster:
    """The stand-in executable with its state file; helpers to look inside and change it."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path

    @property
    def binary(self) -> str:
        return str(FAKES_DIR / "kubectl")

    def env(self) -> dict[str, str]:
        """Variables for a subprocess (or monkeypatch) that finds the stand-in as `kubectl`."""
        path = f"{FAKES_DIR}{os.pathsep}{os.environ.get('PATH', '')}"
        return {"PATH": path, STATE_ENV: str(self.state_path)}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this test's `Kubectl()` reach the fake: here, the stand-in first on PATH."""
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)

    def state(self) -> dict[str, Any]:
        return load_state(self.state_path)

    def cluster(self) -> SimulatedCluster:
        return build_cluster(self.state())

    def arrivals(self) -> list[str]:
        """The Services whose writes reached the API server, in order (nudges included)."""
        return [entry["arrive"] for entry in self.state()["log"] if "arrive" in entry]

    def calls(self, verb: str | None = None) -> list[list[str]]:
        """Every call received (argv without the binary), optionally only one verb's."""
        calls = self.state()["calls"]
        return [c for c in calls if verb is None or verb in c]

    def set_faults(self, **faults: Any) -> None:
        """Replace the fault switches (none: every call behaves)."""
        state = self.state()
        state["faults"] = faults
        save_state(self.state_path, state)

    def put_object(self, key: str, manifest: Manifest) -> None:
        """Store a non-Service object (`kind/namespace/name`), e.g. a Flux source's new status."""
        state = self.state()
        state["objects"][key] = manifest
        save_state(self.state_path, state)

    def edit_service(self, manifest: Manifest) -> None:
        """Someone else's write: it arrives like any other (the controller handles it)."""
        state = self.state()
        cluster = build_cluster(state)
        _arrive(state, cluster, svc_key_of(manifest), manifest)
        save_state(self.state_path, state)


class InProcessFake(FakeCluster):
    """The same brain called in this process through `planner.kubectl.run_kubectl`.

    The state and the simulated cluster live in memory, so a call costs no process start and no
    log replay. `state_path` is never written: should anything start the stand-in executable
    anyway, it finds no state file and fails loudly instead of answering from a stale one.
    """

    def __init__(self, state_path: Path, state: dict[str, Any]) -> None:
        super().__init__(state_path)
        _refuse_block(state["faults"])
        self._state = copy.deepcopy(state)
        self._cluster = build_cluster(self._state)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """PATH as for the stand-in (so `Kubectl()` finds a binary), and the runner seam."""
        super().install(monkeypatch)
        monkeypatch.setattr(planner.kubectl, "run_kubectl", self.run)

    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> str:
        """`planner.tools.run_tool` for kubectl: stdout, or ToolFailedError with its stderr."""
        reply = answer(self._state, self._cluster, list(argv[1:]), stdin or "")
        if reply.code != 0:
            raise ToolFailedError(redact_argv(argv), reply.code, stderr_tail(reply.err.encode()))
        return reply.out

    def state(self) -> dict[str, Any]:
        return copy.deepcopy(self._state)

    def cluster(self) -> SimulatedCluster:
        return self._cluster.copy()

    def set_faults(self, **faults: Any) -> None:
        _refuse_block(faults)
        self._state["faults"] = copy.deepcopy(faults)

    def put_object(self, key: str, manifest: Manifest) -> None:
        self._state["objects"][key] = copy.deepcopy(manifest)

    def edit_service(self, manifest: Manifest) -> None:
        _arrive(self._state, self._cluster, svc_key_of(manifest), manifest)


def _refuse_block(faults: dict[str, Any]) -> None:
    if "block" in faults:
        raise ValueError("the `block` fault needs the stand-in kubectl as a subprocess")


def start_fake(
    state_path: Path, monkeypatch: pytest.MonkeyPatch, *, subprocess: bool, **fields: Any
) -> FakeCluster:
    """A fake cluster (`new_state(**fields)`) that this test's `Kubectl()` reaches: the stand-in
    executable with its state file at `state_path` (`subprocess`), else `InProcessFake`."""
    state = new_state(**fields)
    fake: FakeCluster
    if subprocess:
        save_state(state_path, state)
        fake = FakeCluster(state_path)
    else:
        fake = InProcessFake(state_path, state)
    fake.install(monkeypatch)
    return fake
