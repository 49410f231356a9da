"""Carry a plan out against a cluster, one atomic wave at a time.

For each wave: check the live objects are what the plan expects (else refuse, naming what
changed); save them; server-side dry-run of every object of the wave; only if all pass, apply
them one by one (so we know exactly which were written); if a write fails, re-apply the saved
versions of the written ones (delete the ones we created) and stop; wait until every Service of
the wave shows one of its expected IP tuples, nudging the Services the plan says the behaviour
leaves stuck; then record the wave as finished in the journal.

    >>> report = apply_plan(plan, Kubectl(context="prod"), timeout=300, journal=journal)
    >>> str(report.status), report.exit_code
    ('done', 0)
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol, TextIO

from planner.apply.assumed import kept_ips, unheld_ips
from planner.apply.journal import Journal, JournalRecord
from planner.diff.scenario import build_scenario
from planner.errors import InputError, ToolFailedError
from planner.kubectl import LIVE_RESOURCES, Kubectl, KubectlCall
from planner.model.controller import BEHAVIORS
from planner.model.group_annotations import NUDGE_ANNOTATION
from planner.model.service import ingress_ips
from planner.objects import Manifest
from planner.pipeline import plan_scenario
from planner.plan.fingerprint import (
    ABSENT,
    VOLATILE_ANNOTATIONS,
    changed_parts,
    differing_fields,
    live_fingerprint,
    matches_write,
    plan_digest,
)
from planner.plan.records import LiveOrigin, Plan, PlannedWave
from planner.plan.stand_in import Arrivals, StandIns
from planner.plan.units import APPLY, DELETE, Write
from planner.plan.verify import VerifyReport, verify_plan
from planner.render.plan import expected_words
from planner.sources.desired import load_desired
from planner.sources.live import live_state_from_yaml
from planner.sources.states import Unrendered


class WaveStatus(StrEnum):
    """How one wave, or the whole apply, ended: the words the report prints."""

    DONE = "done"
    DRY_RUN = "dry-run"
    DECLINED = "declined"
    REFUSED = "refused"
    ROLLED_BACK = "rolled-back"
    TIMED_OUT = "timed-out"
    RESUMED = "resumed"  # a wave finished by an earlier run (the journal says so)


# How a predicted pending window ends, in words for the timeout report.
UNTIL_WORDS = {
    "group-complete": "the last member of its group lands",
    "nudge": "something touches it (the plan's nudge)",
    "recreated": "it is recreated",
    "end-of-wave": "the end of the wave",
    "never": "for good",
}


@dataclass(frozen=True)
class PollPolicy:
    """How the wait polls: first interval, growth factor, longest interval (seconds).

    `nudge_grace`: how long to let the controller converge on its own before nudging the
    Services the plan says this behaviour may leave stuck.
    """

    first: float = 0.5
    factor: float = 1.5
    longest: float = 5.0
    nudge_grace: float = 5.0


class Progress(Protocol):
    """Where apply reports what it does (a terminal, a log, or a test's list)."""

    def say(self, line: str) -> None:
        """One line that stays."""

    def waiting(self, wave: int, services: Sequence[str], elapsed: float) -> None:
        """The Services of `wave` still not at their expected IPs after `elapsed` seconds."""


class StreamProgress:
    """Progress on a stream: one rewritten line on a terminal, plain lines otherwise.

    Plain output prints a waiting line when the set of waiting Services changes, and at most
    every `plain_every` seconds otherwise, so CI logs stay short.
    """

    def __init__(self, stream: TextIO, live: bool | None = None, plain_every: float = 10.0) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.plain_every = plain_every
        self._line_open = False
        self._last: tuple[tuple[str, ...], float] | None = None

    def say(self, line: str) -> None:
        """Print a line (ending a live waiting line first)."""
        self._end_live_line()
        self.stream.write(line + "\n")
        self.stream.flush()

    def waiting(self, wave: int, services: Sequence[str], elapsed: float) -> None:
        """Show who still waits: rewrite the live line, or print a plain line now and then."""
        text = f"wave {wave}: {elapsed:.0f}s, waiting for {', '.join(services)}"
        if self.live:
            self.stream.write("\r\x1b[K" + text[:160])
            self.stream.flush()
            self._line_open = True
            return
        key = tuple(services)
        if (
            self._last is None
            or self._last[0] != key
            or elapsed - self._last[1] >= self.plain_every
        ):
            self._last = (key, elapsed)
            self.say(text)

    def _end_live_line(self) -> None:
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self._line_open = False


@dataclass(frozen=True)
class AppliedWave:
    """What happened to one wave of the plan when it was carried out on the cluster."""

    index: int
    status: WaveStatus
    written: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # writes already visible in the cluster, not repeated
    restored: tuple[str, ...] = ()  # rolled back after a failed write
    nudged: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()  # not at their expected IPs when the wait ended
    lines: tuple[str, ...] = ()  # the explanation, one sentence per line


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of `apply_plan`: overall status, every wave touched, the journal used."""

    status: WaveStatus
    plan_digest: str
    behavior: str
    waves: tuple[AppliedWave, ...] = ()
    lines: tuple[str, ...] = ()
    journal: str = ""

    @property
    def exit_code(self) -> int:
        """0 when the plan is carried out (or dry-run), 1 when apply stopped."""
        return 0 if self.status in (WaveStatus.DONE, WaveStatus.DRY_RUN) else 1

    def render(self) -> list[str]:
        """The report as lines for a terminal or a CI log."""
        out = [f"planner apply: {self.status} (plan {self.plan_digest[:16]}, {self.behavior})"]
        out += [f"  {line}" for line in self.lines]
        for wave in self.waves:
            out.append(f"  wave {wave.index}: {wave.status}")
            out += [f"    {line}" for line in _wave_lines(wave)]
        if self.journal:
            out.append(f"  journal: {self.journal}")
        return out


def _wave_lines(wave: AppliedWave) -> list[str]:
    lines = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("written", wave.written),
            ("already in the cluster", wave.skipped),
            ("restored", wave.restored),
            ("nudged", wave.nudged),
            ("not at expected IPs", wave.waiting),
        )
        if names
    ]
    return lines + list(wave.lines)


@dataclass
class _Run:
    """The state of one apply run (private: apply_plan is the interface)."""

    plan: Plan
    kubectl: Kubectl
    behavior: str
    timeout: float
    dry_run: bool
    progress: Progress
    poll: PollPolicy
    digest: str
    journal: Journal | None = None
    finished: set[int] = field(default_factory=set)
    # The plan's predicted addresses: any one IP of their pools stands for each.
    stand_ins: StandIns = field(default_factory=lambda: StandIns({}, {}))

    def __post_init__(self) -> None:
        self.stand_ins = StandIns.of(self.plan)

    @property
    def journal_location(self) -> str:
        """Where the finished waves are kept ("" for a dry run, which records nothing)."""
        return self.journal.location if self.journal is not None and not self.dry_run else ""

    def report(
        self, status: WaveStatus, waves: Sequence[AppliedWave], lines: Sequence[str] = ()
    ) -> ApplyReport:
        """The run's report with `status`, the waves touched and an explanation."""
        return ApplyReport(
            status, self.digest, self.behavior, tuple(waves), tuple(lines), self.journal_location
        )


def plan_and_verify(
    desired_paths: Sequence[str], kubectl: Kubectl, *, target: str, seed: int = 0
) -> tuple[Plan, VerifyReport, tuple[Unrendered, ...]]:
    """Plan DESIRED against the cluster's live state (read through `kubectl`), then verify it;
    also what was not rendered or not followed (its Services are not in the plan)."""
    live = live_state_from_yaml(kubectl.get_live_state_yaml(), f"kubectl get {LIVE_RESOURCES}")
    scenario = build_scenario(load_desired(desired_paths), live)
    plan = replace(plan_scenario(scenario, target=target), live_source=LiveOrigin("kubectl"))
    return plan, verify_plan(plan, seed=seed), scenario.unrendered


def apply_plan(
    plan: Plan,
    kubectl: Kubectl,
    *,
    behavior: str | None = None,
    timeout: float = 300.0,
    dry_run: bool = False,
    confirm: Callable[[list[str]], bool] | None = None,
    progress: Progress | None = None,
    journal: Journal | None = None,
    poll: PollPolicy | None = None,
) -> ApplyReport:
    """Carry out the plan's unfinished waves; see the module docstring for the steps.

    `confirm` gets the plan summary and returns whether to go on (not called for a dry run);
    `timeout` bounds each wave's wait, in seconds.
    """
    run = _Run(
        plan,
        kubectl,
        _known_behavior(behavior or plan.target),
        timeout,
        dry_run,
        progress or StreamProgress(sys.stderr),
        poll or PollPolicy(),
        plan_digest(plan),
        journal,
    )
    run.finished = _finished_earlier(run)
    resumed = [AppliedWave(i, WaveStatus.RESUMED) for i in sorted(run.finished)]
    todo = [w for w in plan.waves if w.index not in run.finished]
    if not todo:
        return run.report(WaveStatus.DONE, resumed, ["every wave was finished earlier"])
    live = _live_of(run, todo)
    stop = _why_not_start(run, todo, live, confirm)
    if stop is not None:
        return run.report(stop[0], resumed, stop[1])
    return _carry_out(run, todo, live, resumed)


def _known_behavior(behavior: str) -> str:
    """`behavior`, if it is one the model knows; else an InputError listing them."""
    if behavior not in BEHAVIORS:
        raise InputError(
            f"unknown MetalLB behaviour {behavior!r}; expected one of {', '.join(BEHAVIORS)}"
        )
    return behavior


def _finished_earlier(run: _Run) -> set[int]:
    """The waves the journal records as finished for this very plan (none for another plan)."""
    record = run.journal.load() if run.journal is not None else None
    if record is None or record.plan_digest != run.digest:
        return set()
    return set(record.finished_waves)


def _why_not_start(
    run: _Run,
    todo: Sequence[PlannedWave],
    live: Mapping[str, Manifest | None],
    confirm: Callable[[list[str]], bool] | None,
) -> tuple[WaveStatus, list[str]] | None:
    """REFUSED when the cluster changed since the plan, DECLINED when the user says no."""
    problems = precondition_problems(run.plan, live, run.finished, _checked_services(run, todo))
    if problems:
        return WaveStatus.REFUSED, _refusal(problems)
    unheld = unheld_ips(run.plan, live) if not run.finished else []
    if unheld:
        return WaveStatus.REFUSED, [_assumed_refusal(run.plan), *unheld]
    summary = plan_summary(run.plan, run.behavior, run.finished)
    if not run.dry_run and confirm is not None and not confirm(summary):
        return WaveStatus.DECLINED, ["nothing was changed"]
    return None


def _carry_out(
    run: _Run,
    todo: Sequence[PlannedWave],
    live: Mapping[str, Manifest | None],
    resumed: list[AppliedWave],
) -> ApplyReport:
    """Run the waves in order, journaling each finished one; stop at the first that fails."""
    outcomes = list(resumed)
    for wave in todo:
        outcome = _run_wave(run, wave, live if wave is todo[0] else {})
        outcomes.append(outcome)
        if outcome.status not in (WaveStatus.DONE, WaveStatus.DRY_RUN):
            return run.report(outcome.status, outcomes)
        _record_finished(run, wave)
    return run.report(WaveStatus.DRY_RUN if run.dry_run else WaveStatus.DONE, outcomes)


def _record_finished(run: _Run, wave: PlannedWave) -> None:
    """Remember a finished wave: later waves expect its writes, and a rerun skips it."""
    if run.dry_run:
        return
    run.finished.add(wave.index)
    if run.journal is not None:
        run.journal.save(JournalRecord(run.digest, tuple(sorted(run.finished))))


def _refusal(problems: list[str]) -> list[str]:
    return ["the cluster changed since the plan was made; nothing was written", *problems]


def _assumed_refusal(plan: Plan) -> str:
    if not plan.from_git_ref:
        return (
            "the cluster no longer shows the IPs the plan was made against; nothing was "
            "written; make the plan again"
        )
    origin = plan.live_source.describe() if plan.live_source else "live state without statuses"
    return (
        f"the plan was made from {origin}, without statuses, and the cluster does not hold the "
        "IPs it assumes; nothing was written; make the plan again against the cluster "
        "(`planner apply DESIRED... --live-kubectl`)"
    )


def _written(waves: Iterable[PlannedWave]) -> set[str]:
    return {w.service for wave in waves for w in wave.writes}


def _checked_services(run: _Run, todo: Sequence[PlannedWave]) -> set[str]:
    """The Services checked before the first write: those the waves to do write, and those the
    waves the journal calls finished wrote (they must still show those writes: a journal is
    untrusted, and one skipping a wave that never ran would let later waves run out of order)."""
    finished = [wave for wave in run.plan.waves if wave.index in run.finished]
    return _written(todo) | _written(finished)


def _live_of(run: _Run, waves: Sequence[PlannedWave]) -> Mapping[str, Manifest | None]:
    """The Services checked before the first write, those the first wave waits for, and, before
    the first wave of a plan made from a git ref, those it expects to keep their IPs (one read)."""
    kept = set(kept_ips(run.plan)) if not run.finished else set()
    return run.kubectl.get_services(
        _checked_services(run, waves) | set(waves[0].expected_ips) | kept
    )


def plan_summary(plan: Plan, behavior: str, finished: set[int]) -> list[str]:
    """What apply is about to do, for the confirmation prompt."""
    lines = [f"plan {plan_digest(plan)[:16]}: {len(plan.waves)} wave(s), behaviour {behavior}"]
    if finished:
        lines.append(f"waves finished earlier: {', '.join(map(str, sorted(finished)))}")
    for wave in plan.waves:
        if wave.index in finished:
            continue
        ops = ", ".join(f"{w.op} {w.service}" for w in wave.writes)
        lines.append(f"wave {wave.index}: {ops}")
        nudges = wave.nudges.get(behavior, ())
        if nudges:
            lines.append(f"  then nudge if still pending: {', '.join(nudges)}")
    return lines


# --- preconditions -----------------------------------------------------------------------------


def precondition_problems(
    plan: Plan,
    live: Mapping[str, Manifest | None],
    finished: set[int],
    services: Iterable[str],
) -> list[str]:
    """One sentence per Service that is not what the plan expects before its next write.

    Expected: what the plan's last finished write left (resume), else the fingerprint the plan
    was made against. A Service that already shows its next write is fine (a crash after the
    write and before the journal): that work is not repeated.
    """
    problems = []
    for svc in sorted(services):
        next_write, earlier = _writes_around(plan, svc, finished)
        current = live.get(svc)
        if next_write is not None and matches_write(current, next_write[1]):
            continue
        if earlier is not None:
            if not matches_write(current, earlier[1]):
                problems.append(_differs_from_write(svc, current, *earlier))
        elif svc in plan.preconditions and not _as_planned(plan, svc, current):
            problems.append(_differs_from_plan(plan, svc, current))
    return problems


def _as_planned(plan: Plan, svc: str, current: Manifest | None) -> bool:
    """The live Service is the one the plan was made against. Read from a git ref, that is the
    manifest as committed, which the API server has since defaulted (clusterIP, node ports):
    every field it sets must be live, as for a write of ours; else the same fingerprint."""
    committed = _committed(plan, svc)
    if committed is not None:
        return matches_write(current, Write(svc, APPLY, committed))
    return live_fingerprint(current) == plan.preconditions[svc]


def _committed(plan: Plan, svc: str) -> Manifest | None:
    """The Service as the git ref held it, for a plan made from one (None otherwise)."""
    return plan.baseline.services.get(svc) if plan.from_git_ref else None


def _writes_around(
    plan: Plan, svc: str, finished: set[int]
) -> tuple[tuple[int, Write] | None, tuple[int, Write] | None]:
    """The Service's first write in an unfinished wave, and its last write before that wave."""
    earlier: tuple[int, Write] | None = None
    for wave in plan.waves:
        for write in wave.writes:
            if write.service != svc:
                continue
            if wave.index not in finished:
                return (wave.index, write), earlier
            earlier = (wave.index, write)
    return None, earlier


def _differs_from_write(svc: str, live: Manifest | None, wave: int, write: Write) -> str:
    if write.op == DELETE:
        return f"{svc}: wave {wave} of the plan deleted it, but it exists again"
    if live is None:
        return f"{svc}: wave {wave} of the plan wrote it, but it no longer exists"
    fields = differing_fields(_chosen(write.manifest or {}), live)
    return f"{svc}: changed since wave {wave} of the plan wrote it ({', '.join(fields[:5])})"


def _differs_from_plan(plan: Plan, svc: str, live: Manifest | None) -> str:
    expected = plan.preconditions[svc]
    if expected == ABSENT:
        return f"{svc}: did not exist when the plan was made, and exists now"
    if live is None:
        return f"{svc}: existed when the plan was made, and no longer exists"
    committed = _committed(plan, svc)
    if committed is not None and plan.live_source is not None:
        # only extra group-wide annotations in the cluster leave no field of the manifest's
        fields = ", ".join(differing_fields(_chosen(committed), live)[:5]) or "group annotations"
        origin = plan.live_source.describe()
        return f"{svc}: differs from its manifest at {origin} ({fields}); make the plan again"
    parts = " and ".join(changed_parts(live_fingerprint(live), expected))
    return f"{svc}: its {parts} changed since the plan was made; make the plan again"


def _chosen(manifest: Manifest) -> Manifest:
    meta = manifest.get("metadata") or {}
    return {
        "metadata": {k: meta[k] for k in ("labels", "annotations") if k in meta},
        "spec": manifest.get("spec") or {},
    }


# --- one wave ----------------------------------------------------------------------------------


def _run_wave(
    run: _Run, wave: PlannedWave, just_read: Mapping[str, Manifest | None]
) -> AppliedWave:
    """One wave (module docstring); `just_read` may hold its live Services, read a moment ago."""
    saved = _saved_objects(run, wave, just_read)
    changed = _changed_since_plan(run, wave, saved)
    if changed:
        return AppliedWave(wave.index, WaveStatus.REFUSED, lines=changed)
    todo = [w for w in wave.writes if not matches_write(saved.get(w.service), w)]
    skipped = tuple(sorted(w.service for w in wave.writes if w not in todo))
    refusal = _server_dry_run(run, todo)
    if refusal:
        return AppliedWave(wave.index, WaveStatus.REFUSED, skipped=skipped, lines=(refusal,))
    if run.dry_run:
        return _print_calls(run, wave, todo, skipped)
    written, failure = _write_all(run, wave, todo)
    if failure is not None:
        return _rolled_back(run, wave, written, saved, skipped, failure)
    return _wait_and_nudge(run, wave, tuple(w.service for w in written), skipped)


def _saved_objects(
    run: _Run, wave: PlannedWave, just_read: Mapping[str, Manifest | None]
) -> Mapping[str, Manifest | None]:
    """The live Services the wave writes or waits for (kept to roll back); reuses `just_read`."""
    needed = {w.service for w in wave.writes} | set(wave.expected_ips)
    return just_read if needed <= set(just_read) else run.kubectl.get_services(needed)


def _changed_since_plan(
    run: _Run, wave: PlannedWave, saved: Mapping[str, Manifest | None]
) -> tuple[str, ...]:
    """Why the wave's Services are not what the plan expects ((), or always () in a dry run)."""
    if run.dry_run:
        return ()
    services = {w.service for w in wave.writes}
    problems = precondition_problems(run.plan, saved, run.finished, services)
    return tuple(_refusal(problems)) if problems else ()


def _rolled_back(
    run: _Run,
    wave: PlannedWave,
    written: Sequence[Write],
    saved: Mapping[str, Manifest | None],
    skipped: tuple[str, ...],
    failure: str,
) -> AppliedWave:
    """A write failed: put back what the wave wrote, and say what failed and what was restored."""
    restored, lines = _roll_back(run, written, saved)
    return AppliedWave(
        wave.index,
        WaveStatus.ROLLED_BACK,
        written=tuple(w.service for w in written),
        skipped=skipped,
        restored=restored,
        lines=(failure, *lines),
    )


def _write_call(run: _Run, write: Write, *, server_dry_run: bool) -> KubectlCall:
    if write.op == DELETE or write.manifest is None:
        return run.kubectl.delete_call(write.service, server_dry_run=server_dry_run)
    return run.kubectl.apply_call([write.manifest], server_dry_run=server_dry_run)


def _server_dry_run(run: _Run, todo: Sequence[Write]) -> str:
    """Validate every write of the wave on the server; "" when all pass, else why not."""
    applies = [w.manifest for w in todo if w.op != DELETE and w.manifest is not None]
    calls = [run.kubectl.apply_call(applies, server_dry_run=True)] if applies else []
    calls += [_write_call(run, w, server_dry_run=True) for w in todo if w.op == DELETE]
    for call in calls:
        try:
            run.kubectl.run(call)
        except ToolFailedError as err:
            return f"the API server refused the wave in a dry run, nothing was written: {err}"
    return ""


def _print_calls(
    run: _Run, wave: PlannedWave, todo: Sequence[Write], skipped: tuple[str, ...]
) -> AppliedWave:
    run.progress.say(f"wave {wave.index}: would run")
    for write in todo:
        run.progress.say("  " + _write_call(run, write, server_dry_run=False).shown())
    for svc, options in sorted(wave.expected_ips.items()):
        expected = expected_words(options, wave.predicted_ips.get(svc, {}))
        run.progress.say(f"  then wait for {svc}: {expected}")
    for group in run.stand_ins.groups.get(wave.index, ()):
        run.progress.say(f"  then wait for {', '.join(group)} to show the same IP")
    for svc in wave.nudges.get(run.behavior, ()):
        call = run.kubectl.nudge_call(svc, NUDGE_ANNOTATION, "<time>")
        run.progress.say("  if still pending: " + call.shown())
    return AppliedWave(wave.index, WaveStatus.DRY_RUN, skipped=skipped)


def _write_all(
    run: _Run, wave: PlannedWave, todo: Sequence[Write]
) -> tuple[list[Write], str | None]:
    """Write one object per call, so a failure leaves an exact list of what was written."""
    written: list[Write] = []
    for write in todo:
        try:
            run.kubectl.run(_write_call(run, write, server_dry_run=False))
        except ToolFailedError as err:
            return written, f"writing {write.service} ({write.op}) failed: {err}"
        written.append(write)
        run.progress.say(f"wave {wave.index}: {write.op} {write.service}")
    return written, None


def _roll_back(
    run: _Run, written: Sequence[Write], saved: Mapping[str, Manifest | None]
) -> tuple[tuple[str, ...], list[str]]:
    """Put back the saved version of every written object, newest first; report what failed."""
    restored: list[str] = []
    lines: list[str] = []
    for write in reversed(written):
        before = saved.get(write.service)
        try:
            if before is None:
                run.kubectl.delete(write.service)
            else:
                run.kubectl.apply(restorable(before))
        except ToolFailedError as err:
            lines.append(f"restoring {write.service} FAILED, fix it by hand: {err}")
            continue
        restored.append(write.service)
    if not lines:
        lines.append("every object written in this wave was put back as it was")
    return tuple(sorted(restored)), lines


def restorable(live: Manifest) -> Manifest:
    """A live object as it can be applied again: no status, no server bookkeeping."""
    meta = live.get("metadata") or {}
    kept_meta: dict[str, Any] = {"name": meta.get("name"), "namespace": meta.get("namespace")}
    if meta.get("labels"):
        kept_meta["labels"] = copy.deepcopy(meta["labels"])
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in VOLATILE_ANNOTATIONS
    }
    if annotations:
        kept_meta["annotations"] = annotations
    return {
        "apiVersion": live.get("apiVersion", "v1"),
        "kind": live.get("kind", "Service"),
        "metadata": kept_meta,
        "spec": copy.deepcopy(live.get("spec") or {}),
    }


# --- waiting -----------------------------------------------------------------------------------


def _arrivals(run: _Run, wave: PlannedWave, live: Mapping[str, Manifest | None]) -> Arrivals:
    """How the wave's Services stand against their expected IP tuples (order of the IPs does not
    matter; a predicted address stands for any one IP of its pools, the same one in a group)."""
    shown = {svc: ingress_ips(m) for svc, m in live.items() if m is not None}
    return run.stand_ins.arrivals(wave, shown)


def _wait_and_nudge(
    run: _Run, wave: PlannedWave, written: tuple[str, ...], skipped: tuple[str, ...]
) -> AppliedWave:
    """Poll with backoff until every Service is at an expected IP tuple, or the timeout.

    The Services this behaviour may leave stuck (the plan's nudges) are nudged once every other
    Service has arrived and `nudge_grace` has passed: a nudge before the group's last write
    was handled would fail the same way again. A failed read is retried until the timeout.
    """
    stuck_prone = set(wave.nudges.get(run.behavior, ()))
    start = time.monotonic()
    interval = run.poll.first
    nudged: tuple[str, ...] = ()
    while True:
        elapsed = time.monotonic() - start
        waiting, live = _read_waiting(run, wave)
        if not waiting:
            run.progress.say(
                f"wave {wave.index}: every Service at its expected IPs ({elapsed:.1f}s)"
            )
            return AppliedWave(wave.index, WaveStatus.DONE, written, skipped, nudged=nudged)
        if elapsed >= run.timeout:
            lines = _timeout_explanation(run, wave, waiting, live, elapsed)
            return AppliedWave(
                wave.index,
                WaveStatus.TIMED_OUT,
                written,
                skipped,
                (),
                nudged,
                waiting,
                tuple(lines),
            )
        if _nudge_due(run, live, waiting, stuck_prone - set(nudged), elapsed):
            nudged = _nudge(run, wave, waiting)
        run.progress.waiting(wave.index, waiting, elapsed)
        time.sleep(min(interval, max(run.timeout - elapsed, 0.0)))
        interval = min(interval * run.poll.factor, run.poll.longest)


def _nudge_due(
    run: _Run,
    live: Mapping[str, Manifest | None],
    waiting: tuple[str, ...],
    to_nudge: set[str],
    elapsed: float,
) -> bool:
    """Only the Services to nudge still wait (their group landed), and the grace is over."""
    ready = bool(live) and bool(to_nudge) and set(waiting) <= to_nudge
    return ready and elapsed >= run.poll.nudge_grace


def _read_waiting(
    run: _Run, wave: PlannedWave
) -> tuple[tuple[str, ...], Mapping[str, Manifest | None]]:
    """Who still waits, and the live objects; on a failed read everyone waits and live is {}."""
    try:
        live = run.kubectl.get_services(wave.expected_ips)
    except ToolFailedError as err:
        run.progress.say(f"wave {wave.index}: reading the Services failed, will retry: {err}")
        return tuple(sorted(wave.expected_ips)), {}
    return _arrivals(run, wave, live).waiting, live


def _nudge(run: _Run, wave: PlannedWave, services: Sequence[str]) -> tuple[str, ...]:
    """Annotate each Service once (a failed nudge is reported, not retried)."""
    value = f"{run.digest[:12]}-wave{wave.index}-{time.time_ns()}"
    for svc in services:
        try:
            run.kubectl.nudge(svc, NUDGE_ANNOTATION, value)
        except ToolFailedError as err:
            run.progress.say(f"wave {wave.index}: nudging {svc} failed: {err}")
            continue
        run.progress.say(f"wave {wave.index}: nudged {svc} ({NUDGE_ANNOTATION}={value})")
    return tuple(services)


def _timeout_explanation(
    run: _Run,
    wave: PlannedWave,
    waiting: Sequence[str],
    live: Mapping[str, Manifest | None],
    elapsed: float,
) -> list[str]:
    """Why the wave timed out: each waiting Service, what it shows, and what the model said."""
    behavior = run.behavior
    prediction = run.plan.predictions.get(behavior)
    windows = prediction.windows if prediction is not None else ()
    lines = [
        f"timed out after {elapsed:.0f}s; the wave's writes stay in place, rerun to keep waiting"
    ]
    lines += [
        f"{', '.join(group)} show different IPs, where the plan predicts one shared IP"
        for group in _arrivals(run, wave, live).split
    ]
    for svc in waiting:
        current = live.get(svc)
        shown = ", ".join(ingress_ips(current)) if current is not None else ""
        expected = expected_words(wave.expected_ips[svc], wave.predicted_ips.get(svc, {}))
        lines.append(f"{svc} shows {shown or '<pending>'}, expected {expected}")
        predicted = [w for w in windows if w.service == svc and w.wave == wave.index]
        for window in predicted:
            reason = f": {window.reason}" if window.reason else ""
            lines.append(
                f"  the model: {behavior} leaves {svc} pending until "
                f"{UNTIL_WORDS.get(window.until, window.until)}{reason}"
            )
        if not predicted:
            namespace, name = svc.split("/", 1)
            lines.append(
                f"  the model predicts no pending window for {svc} under {behavior}: the cluster "
                f"differs from the model; see `kubectl describe service -n {namespace} {name}`"
            )
    return lines
