"""Every sample's `diff:` expectation (samples/*/expected.yaml, reasoned by hand from MetalLB's
rules) against what `planner diff` reports: exit codes per flag set through the CLI, and changes,
sharing groups, static conflicts and predictions through the library path the CLI calls.
"""

from __future__ import annotations

import functools
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.analysis.records import DiffReport, SharingGroupReport
from planner.cli import main
from planner.model.controller import BEHAVIORS
from planner.pipeline import build_report
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES

# Samples read against a live snapshot; samples/real-* replay a git history their own tests build.
SAMPLE_DIRS = sorted(
    p.parent for p in SAMPLES.glob("*/expected.yaml") if (p.parent / "live.yaml").exists()
)

# Where the sample's expectation and the planner disagree, and which side MetalLB's rules (and
# the documented report contract) back. Strict: the test fails once they agree again.
# (sample, aspect) → why the expectation and the planner differ (strict xfail); none now.
DISAGREEMENTS: dict[tuple[str, str], str] = {}


def _desired_path(sample: Path) -> Path:
    """The sample's desired input: desired/, a kustomize overlay, or a Helm chart."""
    if (sample / "desired").is_dir():
        return sample / "desired"
    overlays = sorted(p for p in (sample / "overlays").glob("*") if p.is_dir())
    if overlays:
        return overlays[0]
    return sample / "chart"


def _missing_tool(sample: Path) -> str | None:
    """Why the sample cannot run here (a renderer missing from PATH), or None."""
    desired = _desired_path(sample)
    if (desired / "Chart.yaml").exists() and shutil.which("helm") is None:
        return "helm is not on PATH: the Helm chart sample cannot be rendered"
    if (desired / "kustomization.yaml").exists() and not (
        shutil.which("kustomize") or shutil.which("kubectl")
    ):
        return "neither kustomize nor kubectl is on PATH: the overlay cannot be rendered"
    return None


def _expected(sample: Path) -> dict[str, Any]:
    data = yaml.safe_load((sample / "expected.yaml").read_text(encoding="utf-8"))
    expected: dict[str, Any] = data["diff"]
    return expected


@functools.cache
def _report(sample: Path) -> DiffReport:
    return build_report([str(_desired_path(sample))], LiveSource.file(str(sample / "live.yaml")))


def _runnable(sample: Path) -> DiffReport:
    reason = _missing_tool(sample)
    if reason:
        pytest.skip(reason)
    return _report(sample)


def _cases(aspect: str) -> list[Any]:
    """One pytest param per sample whose expectation has `aspect` (strict xfail if disputed)."""
    cases = []
    key = "groups" if aspect == "group-ips" else aspect
    for sample in SAMPLE_DIRS:
        if key not in _expected(sample):
            continue
        reason = DISAGREEMENTS.get((sample.name, aspect))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        cases.append(pytest.param(sample, id=sample.name, marks=marks))
    return cases


def _exit_code_cases() -> list[Any]:
    return [
        pytest.param(sample, flags, code, id=f"{sample.name}[{flags or 'defaults'}]")
        for sample in SAMPLE_DIRS
        for flags, code in _expected(sample)["exit_codes"].items()
    ]


def test_every_sample_has_a_diff_expectation() -> None:
    assert len(SAMPLE_DIRS) >= 9
    for sample in SAMPLE_DIRS:
        assert _expected(sample)["exit_codes"], sample.name


@pytest.mark.parametrize(("sample", "flags", "code"), _exit_code_cases())
def test_exit_code(sample: Path, flags: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    reason = _missing_tool(sample)
    if reason:
        pytest.skip(reason)
    argv = ["diff", str(_desired_path(sample)), "--live", str(sample / "live.yaml")]
    assert main(argv + shlex.split(flags)) == code
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("sample", _cases("changes"))
def test_changes(sample: Path) -> None:
    report = _runnable(sample)
    found = {(c.key.kind, c.key.namespace, c.key.name, c.op) for c in report.changes if c.changed}
    wanted = {(c["kind"], c["namespace"], c["name"], c["op"]) for c in _expected(sample)["changes"]}
    assert found == wanted


@pytest.mark.parametrize("sample", _cases("unchanged"))
def test_unchanged(sample: Path) -> None:
    report = _runnable(sample)
    ops = {(c.key.kind, c.key.namespace, c.key.name): c.op for c in report.changes}
    for item in _expected(sample)["unchanged"]:
        assert ops.get((item["kind"], item["namespace"], item["name"])) == "unchanged", item


def _groups_by_members(report: DiffReport) -> dict[tuple[str, ...], SharingGroupReport]:
    return {group.members: group for group in report.groups}


@pytest.mark.parametrize("sample", _cases("groups"))
def test_groups(sample: Path) -> None:
    groups = _groups_by_members(_runnable(sample))
    expected = _expected(sample)["groups"]
    assert set(groups) == {tuple(sorted(g["members"])) for g in expected}
    for want in expected:
        group = groups[tuple(sorted(want["members"]))]
        assert group.key_changing is want["key_changing"], group.members
        assert group.touched is want["touched"], group.members
        assert set(group.joining) == set(want.get("joining", [])), group.members
        assert set(group.leaving) == set(want.get("leaving", [])), group.members


@pytest.mark.parametrize("sample", _cases("group-ips"))
def test_group_ips(sample: Path) -> None:
    groups = _groups_by_members(_runnable(sample))
    for want in _expected(sample)["groups"]:
        group = groups[tuple(sorted(want["members"]))]
        assert set(group.ips) == set(want["ips"]), group.members


@pytest.mark.parametrize("sample", _cases("conflicts"))
def test_conflicts(sample: Path) -> None:
    errors = _runnable(sample).errors
    expected = _expected(sample)["conflicts"]
    assert {tuple(sorted(c.objects)) for c in errors} == {
        tuple(sorted(c["objects"])) for c in expected
    }
    for want in expected:
        matching = [c for c in errors if set(c.objects) == set(want["objects"])]
        for fragment in want.get("message_contains", []):
            assert any(fragment in c.message for c in matching), fragment


@pytest.mark.parametrize("sample", _cases("predictions"))
def test_predictions(sample: Path) -> None:
    report = _runnable(sample)
    expected = _expected(sample)["predictions"]
    assert set(expected) == set(BEHAVIORS)
    for behavior, want in expected.items():
        prediction = report.predictions[behavior]
        assert set(prediction.pending) == set(want["pending"]), behavior
        assert set(prediction.stuck) == set(want["stuck"]), behavior
        assert set(prediction.ip_changed) == set(want["ip_changed"]), behavior
