"""The progress reporter (a fake terminal and a fake clock) and the stages that call it."""

from __future__ import annotations

import io

import pytest

from planner.analysis.predict import predict
from planner.commands._progress import ProgressReporter, progress_text
from planner.pipeline import load_scenario, plan_scenario
from planner.plan.verify import verify_plan
from planner.progress import no_progress
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES

SEED = SAMPLES / "seed-dns-local"


class TtyIO(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A progress callback that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        self.calls.append((stage, done, total))

    def stage(self, name: str) -> list[tuple[int, int]]:
        return [(done, total) for stage, done, total in self.calls if stage == name]


def test_nothing_is_printed_in_the_first_two_seconds() -> None:
    stream, clock = TtyIO(), FakeClock()
    progress = ProgressReporter(stream, clock=clock)
    progress("loading")
    clock.now += 1.9
    progress("planning", 1, 3)
    progress.finish()
    assert stream.getvalue() == ""


def test_after_two_seconds_a_terminal_shows_the_stage_with_counts_and_finish_clears_it() -> None:
    stream, clock = TtyIO(), FakeClock()
    progress = ProgressReporter(stream, clock=clock)
    clock.now += 2.5
    progress("planning", 1, 3)
    assert stream.getvalue() == "\r\x1b[Kplanner: planning 1/3"
    progress.finish()
    assert stream.getvalue().endswith("planner: planning 1/3\r\x1b[K")
    progress.finish()  # a second finish writes nothing more
    assert stream.getvalue().count("\r\x1b[K") == 2


def test_a_stream_that_is_not_a_terminal_gets_nothing() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = ProgressReporter(stream, clock=clock)
    clock.now += 60
    progress("verifying", 5, 6)
    progress.finish()
    assert stream.getvalue() == "" and not progress.enabled


def test_disabled_quiet_reporter_prints_nothing_on_a_terminal() -> None:
    stream, clock = TtyIO(), FakeClock()
    progress = ProgressReporter(stream, clock=clock, enabled=False)
    clock.now += 60
    progress("verifying", 5, 6)
    assert stream.getvalue() == ""


def test_redraws_are_throttled_within_a_stage_but_not_across_stages() -> None:
    stream, clock = TtyIO(), FakeClock()
    progress = ProgressReporter(stream, clock=clock)
    clock.now += 3
    progress("exploring", 0, 3)
    progress("exploring", 1, 3)  # same instant, same stage: not drawn
    progress("planning", 0, 2)  # a new stage is drawn at once
    progress("planning", 2, 2)  # the end of a stage is drawn at once
    clock.now += 0.2
    progress("planning", 2, 2)
    assert stream.getvalue().split("\r\x1b[K")[1:] == [
        "planner: exploring 0/3",
        "planner: planning 0/2",
        "planner: planning 2/2",
        "planner: planning 2/2",
    ]


def test_a_dumb_terminal_gets_plain_lines() -> None:
    stream, clock = TtyIO(), FakeClock()
    progress = ProgressReporter(stream, clock=clock, rewrite=False)
    clock.now += 3
    progress("loading", 12)
    progress.finish()
    assert stream.getvalue() == "planner: loading 12\n"


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (("loading", 0, 0), "planner: loading"),
        (("loading", 7, 0), "planner: loading 7"),
        (("verifying", 2, 9), "planner: verifying 2/9"),
    ],
)
def test_progress_text(call: tuple[str, int, int], text: str) -> None:
    assert progress_text(*call) == text


def test_no_progress_accepts_every_call() -> None:
    assert no_progress("loading") is None and no_progress("planning", 1, 2) is None


def test_the_stages_report_loading_exploring_planning_and_verifying_to_the_end() -> None:
    record = Recorder()
    live = LiveSource.file(str(SEED / "live.yaml"))
    scenario = load_scenario([str(SEED / "desired")], live, progress=record)
    predict(scenario, progress=record)
    plan = plan_scenario(scenario, progress=record)
    verify_plan(plan, progress=record)
    assert record.stage("loading")[0] == (0, 0)
    assert record.stage("loading")[-1][0] > 0  # the number of objects read
    for stage in ("exploring", "planning", "verifying"):
        counts = record.stage(stage)
        assert counts[0][0] == 0 and counts[-1][0] == counts[-1][1] > 0, (stage, counts)
        assert [done for done, _ in counts] == sorted(done for done, _ in counts)
