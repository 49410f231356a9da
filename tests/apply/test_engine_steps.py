"""The named steps of planner.apply.engine one at a time (tests/apply/test_engine.py runs them end
to end): resume from the journal, refuse or decline before writing, stop at the first failed
wave, roll back; and the one plan-file reader `planner verify` and `planner apply` share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.apply import engine
from planner.apply.engine import (
    AppliedWave,
    ApplyReport,
    PollPolicy,
    WaveStatus,
    apply_plan,
)
from planner.apply.journal import JournalRecord
from planner.apply.plan_file import read_plan_file
from planner.errors import InputError, ToolFailedError
from planner.kubectl import Kubectl
from planner.objects import Manifest
from planner.plan.fingerprint import plan_digest
from planner.plan.records import Plan, PlannedWave, plan_to_dict
from planner.plan.units import APPLY, Write
from tests.fakes.plans import TCP, UDP, changed, seed_live, seed_plan, two_wave_plan
from tests.fakes.progress import RecordingProgress


class MemoryJournal:
    """A journal in memory that counts its saves."""

    location = "memory"

    def __init__(self, record: JournalRecord | None = None) -> None:
        self.record = record
        self.saved: list[JournalRecord] = []

    def load(self) -> JournalRecord | None:
        return self.record

    def save(self, record: JournalRecord) -> None:
        self.saved.append(record)
        self.record = record


class UnreadableJournal(MemoryJournal):
    def load(self) -> JournalRecord | None:
        raise AssertionError("the journal was read")


class Recorder:
    """A kubectl runner: `get services` answers from `live`, every call is kept."""

    def __init__(self, live: dict[str, Manifest] | None = None, fail: str = "") -> None:
        self.live = live or {}
        self.fail = fail
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], stdin: str | None = None) -> str:
        self.calls.append(argv)
        if self.fail and self.fail in argv:
            raise ToolFailedError(argv, 1, "refused")
        if "get" in argv and "services" in argv:
            namespace = argv[argv.index("-n") + 1]
            items = [m for k, m in self.live.items() if k.split("/")[0] == namespace]
            return json.dumps({"kind": "List", "items": items})
        return ""

    def verbs(self) -> list[str]:
        return [argv[2] for argv in self.calls]  # after the binary and --request-timeout


def _kubectl(recorder: Recorder) -> Kubectl:
    return Kubectl(binary="kubectl", runner=recorder)


def _run(plan: Plan, recorder: Recorder, **options: Any) -> engine._Run:
    fields: dict[str, Any] = {
        "behavior": plan.target,
        "timeout": 1.0,
        "dry_run": False,
        "progress": RecordingProgress(),
        "poll": PollPolicy(),
        "digest": plan_digest(plan),
    }
    fields.update(options)
    return engine._Run(plan, _kubectl(recorder), **fields)


def _seed_live() -> dict[str, Manifest]:
    services, _ = seed_live()
    return {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s for s in services}


# --- before the first write ----------------------------------------------------------------------


def test_an_unknown_behaviour_is_refused_before_the_journal_is_read() -> None:
    with pytest.raises(InputError, match="unknown MetalLB behaviour 'metallb-9'"):
        apply_plan(
            seed_plan(), _kubectl(Recorder()), behavior="metallb-9", journal=UnreadableJournal()
        )


def test_only_this_plans_journal_counts_as_finished() -> None:
    plan = two_wave_plan()
    ours = JournalRecord(plan_digest(plan), (1,))
    other = JournalRecord("0" * 64, (1, 2))
    assert engine._finished_earlier(_run(plan, Recorder(), journal=MemoryJournal(ours))) == {1}
    assert engine._finished_earlier(_run(plan, Recorder(), journal=MemoryJournal(other))) == set()
    assert engine._finished_earlier(_run(plan, Recorder(), journal=None)) == set()


def test_finished_waves_are_reported_as_resumed_without_a_kubectl_call() -> None:
    plan = two_wave_plan()
    recorder = Recorder()
    journal = MemoryJournal(JournalRecord(plan_digest(plan), (1, 2)))
    report = apply_plan(plan, _kubectl(recorder), journal=journal, progress=RecordingProgress())
    assert report.status == WaveStatus.DONE and [w.status for w in report.waves] == [
        WaveStatus.RESUMED,
        WaveStatus.RESUMED,
    ]
    assert report.lines == ("every wave was finished earlier",) and recorder.calls == []


def test_a_journal_claiming_a_wave_the_cluster_does_not_show_is_refused() -> None:
    """A forged (or stale) journal that skips wave 1: wave 2 must not run out of order. Every
    Service a finished wave wrote must still show that write, or nothing is written."""
    plan = two_wave_plan()
    recorder = Recorder(_seed_live())  # the cluster as before the plan: wave 1 never ran
    journal = MemoryJournal(JournalRecord(plan_digest(plan), (1,)))
    report = apply_plan(plan, _kubectl(recorder), journal=journal, progress=RecordingProgress())
    assert report.status == WaveStatus.REFUSED
    assert report.lines[0] == "the cluster changed since the plan was made; nothing was written"
    assert any(
        line.startswith(f"{TCP}: changed since wave 1 of the plan wrote it")
        for line in report.lines
    )
    assert set(recorder.verbs()) == {"get"}
    assert journal.saved == []


def test_a_changed_cluster_is_refused_before_confirmation() -> None:
    plan = seed_plan()
    live = _seed_live()
    live[TCP] = changed(live[TCP], loadBalancerIP="192.168.10.99")
    asked: list[list[str]] = []

    def confirm(summary: list[str]) -> bool:
        asked.append(summary)
        return True

    run = _run(plan, Recorder())
    stop = engine._why_not_start(run, plan.waves, live, confirm)
    assert stop is not None and stop[0] == WaveStatus.REFUSED
    assert stop[1][0].startswith("the cluster changed since the plan was made")
    assert any(line.startswith(f"{TCP}: its") for line in stop[1]) and asked == []


def test_a_no_at_the_prompt_declines_and_a_dry_run_never_asks() -> None:
    plan = seed_plan()
    live = _seed_live()
    refuse = _run(plan, Recorder())
    assert engine._why_not_start(refuse, plan.waves, live, lambda _: False) == (
        WaveStatus.DECLINED,
        ["nothing was changed"],
    )

    def never(summary: list[str]) -> bool:
        raise AssertionError("a dry run asked for confirmation")

    dry = _run(plan, Recorder(), dry_run=True)
    assert engine._why_not_start(dry, plan.waves, live, never) is None


def test_a_dry_run_checks_no_preconditions_in_the_wave() -> None:
    plan = seed_plan()
    live = _seed_live()
    live[TCP] = changed(live[TCP], loadBalancerIP="192.168.10.99")
    assert (
        engine._changed_since_plan(_run(plan, Recorder(), dry_run=True), plan.waves[0], live) == ()
    )
    refusal = engine._changed_since_plan(_run(plan, Recorder()), plan.waves[0], live)
    assert refusal and refusal[0].startswith("the cluster changed")


def test_the_objects_just_read_are_reused_when_they_cover_the_wave() -> None:
    plan = seed_plan()
    recorder = Recorder(_seed_live())
    run = _run(plan, recorder)
    just_read = {TCP: None, UDP: None}
    assert engine._saved_objects(run, plan.waves[0], just_read) is just_read
    assert recorder.calls == []
    saved = engine._saved_objects(run, plan.waves[0], {TCP: None})
    assert set(saved) == {TCP, UDP} and saved[TCP] is not None
    assert recorder.verbs() == ["get"]


# --- the waves in order --------------------------------------------------------------------------


def _scripted(monkeypatch: pytest.MonkeyPatch, statuses: Sequence[str]) -> list[int]:
    """Replace the wave runner: wave i gets statuses[i-1]; returns the waves that ran."""
    ran: list[int] = []

    def run_wave(run: engine._Run, wave: PlannedWave, just_read: object) -> AppliedWave:
        ran.append(wave.index)
        return AppliedWave(wave.index, statuses[wave.index - 1])

    monkeypatch.setattr(engine, "_run_wave", run_wave)
    return ran


def test_the_first_wave_that_fails_stops_the_run_and_is_not_journaled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = two_wave_plan()
    ran = _scripted(monkeypatch, [WaveStatus.TIMED_OUT, WaveStatus.DONE])
    journal = MemoryJournal()
    run = _run(plan, Recorder(), journal=journal)
    report = engine._carry_out(run, plan.waves, {}, [])
    assert (report.status, ran, journal.saved, run.finished) == (
        WaveStatus.TIMED_OUT,
        [1],
        [],
        set(),
    )
    assert report.journal == "memory" and report.exit_code == 1


def test_each_finished_wave_is_journaled_before_the_next_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = two_wave_plan()
    ran = _scripted(monkeypatch, [WaveStatus.DONE, WaveStatus.DONE])
    journal = MemoryJournal()
    run = _run(plan, Recorder(), journal=journal)
    report = engine._carry_out(run, plan.waves, {}, [AppliedWave(0, WaveStatus.RESUMED)])
    digest = plan_digest(plan)
    assert journal.saved == [JournalRecord(digest, (1,)), JournalRecord(digest, (1, 2))]
    assert report.status == WaveStatus.DONE and ran == [1, 2]
    assert [w.status for w in report.waves] == [
        WaveStatus.RESUMED,
        WaveStatus.DONE,
        WaveStatus.DONE,
    ]


def test_a_dry_run_records_nothing_and_names_no_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = two_wave_plan()
    _scripted(monkeypatch, [WaveStatus.DRY_RUN, WaveStatus.DRY_RUN])
    journal = MemoryJournal()
    run = _run(plan, Recorder(), journal=journal, dry_run=True)
    report = engine._carry_out(run, plan.waves, {}, [])
    assert (report.status, report.journal, journal.saved, run.finished) == (
        WaveStatus.DRY_RUN,
        "",
        [],
        set(),
    )
    assert report.exit_code == 0


# --- rolling back --------------------------------------------------------------------------------


def test_a_failed_write_puts_back_what_the_wave_wrote() -> None:
    plan = seed_plan()
    live = _seed_live()
    recorder = Recorder()
    run = _run(plan, recorder)
    written = [Write(TCP, APPLY, live[TCP]), Write("web/new", APPLY, {"kind": "Service"})]
    saved: dict[str, Manifest | None] = {TCP: live[TCP], "web/new": None}
    outcome = engine._rolled_back(run, plan.waves[0], written, saved, (UDP,), "writing x failed")
    assert outcome.status == WaveStatus.ROLLED_BACK
    assert (outcome.written, outcome.skipped, outcome.restored) == (
        (TCP, "web/new"),
        (UDP,),
        (TCP, "web/new"),
    )
    assert outcome.lines == (
        "writing x failed",
        "every object written in this wave was put back as it was",
    )
    assert recorder.verbs() == ["delete", "apply"]  # newest first: the created one is deleted


def test_a_failed_restore_is_named_for_a_fix_by_hand() -> None:
    plan = seed_plan()
    live = _seed_live()
    run = _run(plan, Recorder(fail="apply"))
    written = [Write(TCP, APPLY, live[TCP])]
    outcome = engine._rolled_back(run, plan.waves[0], written, {TCP: live[TCP]}, (), "failed")
    assert outcome.restored == ()
    assert outcome.lines[1].startswith(f"restoring {TCP} FAILED, fix it by hand")


# --- the plan file -------------------------------------------------------------------------------


def test_json_yaml_and_a_byte_order_mark_read_back(tmp_path: Path) -> None:
    plan = two_wave_plan()
    body = plan_to_dict(plan)
    files = {
        "plan.json": json.dumps(body).encode(),
        "plan.yaml": yaml.safe_dump(body).encode(),
        "bom.json": b"\xef\xbb\xbf" + json.dumps(body).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert plan_digest(read_plan_file(tmp_path / name)) == plan_digest(plan), name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "plan.yaml: cannot read plan file: No such file or directory"),
        (b"waves: \xff\n", r"plan.yaml: the plan file is not UTF-8 text \(byte 7\)"),
        (b"waves: [\n  unclosed\n", "plan.yaml: the plan file is not JSON or YAML"),
        (b'{"waves": [}', "plan.yaml: the plan file is not JSON or YAML"),
        (b"[" * 5000 + b"]" * 5000, "plan.yaml: the plan file is nested"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "plan.yaml: the plan file is nested"),
        (b"- a list\n", "plan.yaml: not a plan file written by `planner plan`"),
    ],
)
def test_a_bad_plan_file_is_one_line_naming_the_file(
    tmp_path: Path, data: bytes | None, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(InputError, match=message) as caught:
        read_plan_file(path)
    assert len(str(caught.value).splitlines()) == 1
    assert str(caught.value).startswith(str(path))


def test_the_report_prints_each_status_as_its_word() -> None:
    waves = (AppliedWave(1, WaveStatus.RESUMED), AppliedWave(2, WaveStatus.ROLLED_BACK))
    report = ApplyReport(WaveStatus.ROLLED_BACK, "0123456789abcdef0123", "fixed", waves)
    lines = report.render()
    assert lines[0] == "planner apply: rolled-back (plan 0123456789abcdef, fixed)"
    assert [line for line in lines if line.startswith("  wave")] == [
        "  wave 1: resumed",
        "  wave 2: rolled-back",
    ]
    assert [s.value for s in WaveStatus] == [
        "done",
        "dry-run",
        "declined",
        "refused",
        "rolled-back",
        "timed-out",
        "resumed",
    ]
