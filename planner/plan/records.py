"""The apply plan: waves of units, the objects each writes, the IPs expected after each wave,
and what each MetalLB behaviour does while the plan is carried out.

This module holds the plan's records and their (de)serialisation; `planner.plan.build` builds a
plan, `planner.plan.verify` proves it, `planner.apply.engine` carries it out. A plan file is JSON or YAML of
`plan_to_dict` and validates against `planner/schemas/plan.schema.json`; its `digest` field
(`content_digest`) lets `verify` and `apply` refuse a plan edited after it was written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from planner.collector import collector_paused
from planner.errors import InputError
from planner.json_text import canonical_bytes
from planner.model.controller import DEFAULT_TARGET
from planner.plan.graph import canonical_json
from planner.plan.units import APPLY, DELETE, Write
from planner.simulate.world import Baseline

# 2: the plan records where its live state came from (`live_source`) and which expected IPs are
# only the model's prediction (an expected IP entry `{"predicted": IP, "pools": [...]}`); a
# version 1 file cannot say so, and is refused (plan_file.OLD_VERSION).
PLAN_VERSION = 2
LIVE_SOURCE_KINDS = ("file", "kubectl", "git")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # git's SHA-1 or SHA-256 object names
DIGEST_FIELD = "digest"
DIGEST_PREFIX = "sha256:"
STRATEGIES = ("atomic", "recreate")
# The canonical text is hashed in pieces as it is made, never whole (at 100,000 Services it was
# a 200 MB string and its bytes beside the plan; bench/README.md, "verifymem"): containers of
# the first levels, and any longer one, are walked item by item, the others encoded whole.
_WALKED_DEPTH = 3
_WALKED_LENGTH = 16
# Items written whole that are encoded together, at most (a Service's manifest is about 1 kB:
# a run's text stays well under a megabyte).
RUN_LENGTH = 256

# A Service's expected IPs after a wave: every IP tuple MetalLB could give it (one when certain).
ExpectedIPs = tuple[tuple[str, ...], ...]
# Per Service: its expected addresses that are only the model's prediction (it neither requests
# them nor showed them in its status when planned), each with the pools holding the address.
PredictedIPs = Mapping[str, Mapping[str, tuple[str, ...]]]


@dataclass(frozen=True)
class LiveOrigin:
    """Where the plan's live state came from: a file, kubectl, or a git ref (no statuses)."""

    kind: str  # one of LIVE_SOURCE_KINDS
    ref: str = ""  # the git ref as given (kind "git" only)
    commit: str = ""  # the commit id the ref named when the plan was made (kind "git" only)

    def describe(self) -> str:
        """How messages name it: "git ref HEAD~1 (commit 0123456789ab)", "kubectl", "file"."""
        if self.kind != "git":
            return self.kind
        return f"git ref {self.ref}" + (f" (commit {self.commit[:12]})" if self.commit else "")


@dataclass(frozen=True)
class PlannedUnit:
    """One unit of a wave: the Services it writes, the objects, and what it waits for."""

    id: str
    kind: str  # "service" | "group-transition"
    services: tuple[str, ...]
    members: tuple[str, ...]
    writes: tuple[Write, ...]
    waits_for: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # why it waits: what is released and claimed


@dataclass(frozen=True)
class PendingWindow:
    """A Service without an IP during the plan under one behaviour, and until when."""

    service: str
    wave: int  # 1-based
    until: str  # "group-complete" | "nudge" | "recreated" | "end-of-wave" | "never"
    reason: str = ""  # MetalLB's words


@dataclass(frozen=True)
class PlanPrediction:
    """What one behaviour does while the plan is applied: pending windows and the nudges it needs."""

    behavior: str
    windows: tuple[PendingWindow, ...]
    orders_explored: int = 0
    exhaustive: bool = True

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(sorted({w.service for w in self.windows}))

    @property
    def stuck(self) -> tuple[str, ...]:
        """Services that would stay pending without the plan's nudges."""
        return tuple(sorted({w.service for w in self.windows if w.until in ("nudge", "never")}))


@dataclass(frozen=True)
class PlannedWave:
    """Units without order between them, applied atomically; then the expected IPs and nudges."""

    index: int  # 1-based
    units: tuple[PlannedUnit, ...]
    expected_ips: Mapping[str, ExpectedIPs]
    nudges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # behaviour → services
    # The expected addresses that are predictions (planner.plan.stand_in): apply takes any one IP
    # of their pools; verify still holds the model to the address itself.
    predicted_ips: PredictedIPs = field(default_factory=dict)

    @property
    def writes(self) -> tuple[Write, ...]:
        return tuple(w for unit in self.units for w in unit.writes)


@dataclass(frozen=True)
class Plan:
    """The whole plan. `preconditions` fingerprints the live objects it was planned against."""

    strategy: str
    waves: tuple[PlannedWave, ...]
    predictions: Mapping[str, PlanPrediction]
    preconditions: Mapping[str, str]  # svc → fingerprint of its live object ("absent" if none)
    target: str = DEFAULT_TARGET
    notes: tuple[str, ...] = ()
    baseline: Baseline = field(default_factory=lambda: Baseline({}))
    live_source: LiveOrigin | None = None  # None: not recorded (a plan the library built)

    @property
    def from_git_ref(self) -> bool:
        """Whether the plan was made from a git ref: no live Service showed a status."""
        return self.live_source is not None and self.live_source.kind == "git"

    @property
    def units(self) -> tuple[PlannedUnit, ...]:
        return tuple(u for wave in self.waves for u in wave.units)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain data (what `--output json|yaml` writes and `verify`/`apply` read),
    with the digest of everything else in it."""
    return plan_data(plan).data


@dataclass(frozen=True)
class PlanData:
    """The plan as plain data (`plan_to_dict`), and whether orjson wrote all of its digest's
    canonical text and found no sign there that json would write it otherwise (json_text):
    then orjson's indented text of any part of it is json's too, unsearched (`checked`; the
    digest field left out of that text is `sha256:` and hex digits, no sign either)."""

    data: dict[str, Any]
    checked: bool


@collector_paused
def plan_data(plan: Plan) -> PlanData:
    """`plan_to_dict` and what its digest found (PlanData): the render of a 10,000-Service plan
    searched its 29 MB of indented text for the same signs again (0.06 s, bench/README.md,
    "perf14"). Made with the collector paused: its tens of thousands of containers (no cycle)
    set off a full collection of the whole run's objects once the plan's freeze is over (0.28 s
    of a 10,000-Service `plan`, gc.callbacks)."""
    data = _content_to_dict(plan)
    data[DIGEST_FIELD], checked = _digest(data)
    return PlanData(data, checked)


def content_digest(data: Mapping[str, Any]) -> str:
    """`sha256:` and the hash of the plan data's canonical JSON, its own digest field left out."""
    return _digest(data)[0]


def _digest(data: Mapping[str, Any]) -> tuple[str, bool]:
    """`content_digest`, and whether all of its text was orjson's, checked (_CanonicalPieces)."""
    content = {k: v for k, v in data.items() if k != DIGEST_FIELD}
    digest = hashlib.sha256()
    pieces = _CanonicalPieces()
    for piece in pieces.of(content, 0):
        digest.update(piece)
    return DIGEST_PREFIX + digest.hexdigest(), pieces.all_checked


@dataclass
class _CanonicalPieces:
    """The canonical JSON text of a value in pieces, and whether every piece was orjson's,
    checked by json_text (False once any was written otherwise)."""

    all_checked: bool = True

    def of(self, value: Any, depth: int) -> Iterator[bytes | memoryview]:
        """The canonical JSON text of `value` (graph.canonical_json's) in pieces of its UTF-8
        bytes, in order. A run's bytes are orjson's own, brackets cut off by a view: at 10,000
        Services the text was decoded, cut, joined and encoded again, five copies of its 20 MB."""
        if not _walked(value, depth):
            yield self._leaf(value)
            return
        is_dict = type(value) is dict
        opener = b"{" if is_dict else b"["
        for keys, whole in item_runs(value, depth, _WALKED_DEPTH, _WALKED_LENGTH):
            # a run of leaves in one encoder call, its brackets cut off (one call per leaf was
            # most of the digest's time: 37,000 leaves at 10,000 Services)
            text = canonical_bytes(sub_container(value, keys)) if whole else None
            if text is not None:
                yield opener
                yield memoryview(text)[1:-1]
                opener = b","
                continue
            if whole:  # a run orjson did not write as json would
                self.all_checked = False
            for key in keys:
                item = value[key]
                if is_dict:
                    opener += encode_basestring_ascii(key).encode() + b":"
                if _walked(item, depth + 1):
                    yield opener
                    yield from self.of(item, depth + 1)
                else:
                    yield opener + self._leaf(item)
                opener = b","
        yield b"}" if is_dict else b"]"

    def _leaf(self, value: Any) -> bytes:
        """A value's canonical text (graph.canonical_json's): orjson's bytes where checked."""
        text = canonical_bytes(value)
        if text is not None:
            return text
        self.all_checked = False
        return canonical_json(value).encode()


def _walked(value: Any, depth: int) -> bool:
    """Whether `_canonical_pieces` takes `value` item by item (else it is encoded whole)."""
    return walked_item_by_item(value, depth, _WALKED_DEPTH, _WALKED_LENGTH)


def walked_item_by_item(value: Any, depth: int, walked_depth: int, walked_length: int) -> bool:
    """Whether a JSON writer in pieces takes `value` item by item: a non-empty list, tuple or
    string-keyed dict above `walked_depth`, or longer than `walked_length`."""
    kind = type(value)
    if kind is dict:
        shallow = depth < walked_depth or len(value) > walked_length
        return shallow and bool(value) and all(type(key) is str for key in value)
    if kind is list or kind is tuple:
        return bool(value) and (depth < walked_depth or len(value) > walked_length)
    return False


def item_runs(
    value: Any, depth: int, walked_depth: int, walked_length: int
) -> Iterator[tuple[list[Any], bool]]:
    """A walked container's keys (a list's indices), sorted, in runs: consecutive items written
    whole (True) up to RUN_LENGTH of them, each item walked in turn alone (False)."""
    keys: Iterable[Any] = sorted(value) if type(value) is dict else range(len(value))
    run: list[Any] = []
    for key in keys:
        if walked_item_by_item(value[key], depth + 1, walked_depth, walked_length):
            if run:
                yield run, True
                run = []
            yield [key], False
            continue
        run.append(key)
        if len(run) == RUN_LENGTH:
            yield run, True
            run = []
    if run:
        yield run, True


def sub_container(value: Any, keys: list[Any]) -> Any:
    """The items of `keys` as a container of `value`'s kind (a dict keeps their keys)."""
    if type(value) is dict:
        return {key: value[key] for key in keys}
    return [value[key] for key in keys]


def _content_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "version": PLAN_VERSION,
        "strategy": plan.strategy,
        "target": plan.target,
        "waves": [_wave_to_dict(w) for w in plan.waves],
        "expected_ips": [_expected_to_dict(w.expected_ips, w.predicted_ips) for w in plan.waves],
        "predictions": {b: _prediction_to_dict(p) for b, p in sorted(plan.predictions.items())},
        "preconditions": dict(sorted(plan.preconditions.items())),
        "notes": list(plan.notes),
        "baseline": {
            "services": dict(sorted(plan.baseline.services.items())),
            "pools_before": list(plan.baseline.pools_before),
            "pools_after": list(plan.baseline.pools_after),
            "namespaces": dict(sorted(plan.baseline.namespaces.items())),
        },
        **_live_source_to_dict(plan.live_source),
    }


def _live_source_to_dict(origin: LiveOrigin | None) -> dict[str, Any]:
    if origin is None:
        return {}
    ref = {"ref": origin.ref} if origin.kind == "git" else {}
    commit = {"commit": origin.commit} if origin.commit else {}
    return {"live_source": {"kind": origin.kind, **ref, **commit}}


def _wave_to_dict(wave: PlannedWave) -> dict[str, Any]:
    return {
        "index": wave.index,
        "units": [
            {
                "id": u.id,
                "kind": u.kind,
                "services": list(u.services),
                "members": list(u.members),
                "waits_for": list(u.waits_for),
                "reasons": list(u.reasons),
                "objects": [_write_to_dict(w) for w in u.writes],
            }
            for u in wave.units
        ],
        "nudges": {b: list(s) for b, s in sorted(wave.nudges.items())},
    }


def _write_to_dict(write: Write) -> dict[str, Any]:
    namespace, name = write.service.split("/", 1)
    entry: dict[str, Any] = {
        "op": write.op,
        "kind": "Service",
        "namespace": namespace,
        "name": name,
    }
    if write.manifest is not None:
        entry["object"] = write.manifest
    return entry


def _expected_to_dict(
    expected: Mapping[str, ExpectedIPs], predicted: PredictedIPs
) -> dict[str, Any]:
    """Per Service its IP lists; an address that is only a prediction is written as such."""
    if not predicted:  # a plan made with statuses and pools known (at 10,000 Services: one pass)
        return {svc: [list(ips) for ips in options] for svc, options in sorted(expected.items())}
    return {
        svc: [[_ip_to_dict(ip, predicted.get(svc, {})) for ip in ips] for ips in options]
        for svc, options in sorted(expected.items())
    }


def _ip_to_dict(ip: str, predicted: Mapping[str, tuple[str, ...]]) -> str | dict[str, Any]:
    pools = predicted.get(ip)
    return ip if pools is None else {"predicted": ip, "pools": list(pools)}


def _prediction_to_dict(prediction: PlanPrediction) -> dict[str, Any]:
    return {
        "pending": list(prediction.pending),
        "stuck": list(prediction.stuck),
        "windows": [
            {"service": w.service, "wave": w.wave, "until": w.until, "reason": w.reason}
            for w in prediction.windows
        ],
        "orders_explored": prediction.orders_explored,
        "exhaustive": prediction.exhaustive,
    }


def plan_from_dict(data: Any, source: str = "<plan>") -> Plan:
    """Read a plan written by `plan_to_dict`; a malformed plan is an InputError naming `source`."""
    try:
        return _plan_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise InputError(f"{source}: not a plan file written by `planner plan` ({err})") from None


def _plan_from_dict(data: Mapping[str, Any]) -> Plan:
    if data.get("version") != PLAN_VERSION:
        raise ValueError(f"unsupported plan version {data.get('version')!r}")
    expected, wave_data = data["expected_ips"], data["waves"]
    if len(expected) != len(wave_data):
        raise ValueError(f"{len(wave_data)} wave(s) but {len(expected)} expected_ips entries")
    waves = tuple(_wave_from_dict(w, ips) for w, ips in zip(wave_data, expected, strict=True))
    predictions = {b: _prediction_from_dict(b, p) for b, p in data["predictions"].items()}
    return Plan(
        strategy=str(data["strategy"]),
        waves=waves,
        predictions=predictions,
        preconditions={str(k): str(v) for k, v in data["preconditions"].items()},
        target=str(data.get("target", DEFAULT_TARGET)),
        notes=tuple(data.get("notes", ())),
        baseline=_baseline_from_dict(data.get("baseline") or {}),
        live_source=_live_source_from_dict(data.get("live_source")),
    )


def _live_source_from_dict(data: Mapping[str, Any] | None) -> LiveOrigin | None:
    if data is None:
        return None
    kind, ref = str(data["kind"]), str(data.get("ref", ""))
    if kind not in LIVE_SOURCE_KINDS:
        raise ValueError(f"unknown live source {kind!r}")
    if (kind == "git") != bool(ref):  # a git ref, and only a git ref, names itself
        raise ValueError(f"live source {kind} with ref {ref!r}")
    commit = str(data.get("commit", ""))
    if commit and (kind != "git" or not _COMMIT_ID.fullmatch(commit)):
        raise ValueError(f"live source {kind} with commit {commit!r}")
    return LiveOrigin(kind, ref, commit)


def _baseline_from_dict(data: Mapping[str, Any]) -> Baseline:
    return Baseline(
        services=dict(data.get("services") or {}),
        pools_before=tuple(data.get("pools_before") or ()),
        pools_after=tuple(data.get("pools_after") or ()),
        namespaces={str(k): dict(v) for k, v in (data.get("namespaces") or {}).items()},
    )


def _wave_from_dict(data: Mapping[str, Any], expected: Mapping[str, Any]) -> PlannedWave:
    units = tuple(
        PlannedUnit(
            id=str(u["id"]),
            kind=str(u["kind"]),
            services=tuple(u["services"]),
            members=tuple(u.get("members", u["services"])),
            writes=tuple(_write_from_dict(o) for o in u["objects"]),
            waits_for=tuple(u.get("waits_for", ())),
            reasons=tuple(u.get("reasons", ())),
        )
        for u in data["units"]
    )
    expected_ips: dict[str, ExpectedIPs] = {}
    predicted: dict[str, dict[str, tuple[str, ...]]] = {}
    for svc, opts in expected.items():
        options = tuple(tuple(ips) for ips in opts)
        for entry in (e for ips in options for e in ips if type(e) is not str):
            predicted.setdefault(svc, {})[str(entry["predicted"])] = tuple(entry["pools"])
        if svc in predicted:  # each prediction by its address, as the model made it
            options = tuple(tuple(_address(e) for e in ips) for ips in options)
        expected_ips[svc] = options
    return PlannedWave(
        index=int(data["index"]),
        units=units,
        expected_ips=expected_ips,
        nudges={b: tuple(s) for b, s in data.get("nudges", {}).items()},
        predicted_ips=predicted,
    )


def _address(entry: str | Mapping[str, Any]) -> str:
    return entry if isinstance(entry, str) else str(entry["predicted"])


def _write_from_dict(data: Mapping[str, Any]) -> Write:
    op = str(data["op"])
    if op not in (APPLY, DELETE):
        raise ValueError(f"unknown op {op!r}")
    return Write(f"{data['namespace']}/{data['name']}", op, data.get("object"))


def _prediction_from_dict(behavior: str, data: Mapping[str, Any]) -> PlanPrediction:
    windows = tuple(
        PendingWindow(str(w["service"]), int(w["wave"]), str(w["until"]), str(w.get("reason", "")))
        for w in data["windows"]
    )
    return PlanPrediction(
        behavior, windows, int(data.get("orders_explored", 0)), bool(data.get("exhaustive", True))
    )
