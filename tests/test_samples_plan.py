"""Every sample's `plan:` expectation (samples/*/expected.yaml, reasoned by hand from MetalLB's
rules) against `planner plan`: the waves (unit kinds and members as sets), the IPs expected after
each wave, or the refusal; and a verify run of every plan that passes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.diff.scenario import Scenario
from planner.pipeline import load_scenario, plan_scenario
from planner.plan.build import TRANSITION_GROUP_PREFIX, PlanRefused
from planner.plan.records import Plan, PlannedWave
from planner.plan.units import APPLY
from planner.plan.verify import verify_plan
from planner.render.plan import render_plan
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES
from tests.render.schema_subset import validate
from tests.render.test_plan_render import SCHEMA
from tests.test_samples_diff import _desired_path, _missing_tool

# samples/real-* with a `repo/` are git histories: tests/test_real_samples.py replays them.
SAMPLE_DIRS = sorted(
    p.parent for p in SAMPLES.glob("*/expected.yaml") if not (p.parent / "repo").is_dir()
)

# Samples the planner cannot plan yet, and why. Strict: the test fails once they plan.
KNOWN_FAILURES: dict[str, str] = {}


def _plan_expectation(sample: Path) -> dict[str, Any] | None:
    data = yaml.safe_load((sample / "expected.yaml").read_text(encoding="utf-8"))
    expectation: dict[str, Any] | None = data.get("plan")
    return expectation


def _cases() -> list[Any]:
    cases = []
    for sample in SAMPLE_DIRS:
        if _plan_expectation(sample) is None:
            continue
        marks = []
        if sample.name in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[sample.name]))
        cases.append(pytest.param(sample, id=sample.name, marks=marks))
    return cases


@functools.cache
def _scenario(sample: Path) -> Scenario:
    live = LiveSource.file(str(sample / "live.yaml"))
    return load_scenario([str(_desired_path(sample))], live)


def _runnable(sample: Path) -> Scenario:
    reason = _missing_tool(sample)
    if reason:
        pytest.skip(reason)
    return _scenario(sample)


@functools.cache
def _plan(sample: Path) -> Plan:
    return plan_scenario(_scenario(sample))


def _is_cleanup(wave: PlannedWave, earlier: list[PlannedWave]) -> bool:
    """The planner's last wave writing back the repo's annotations after a merged cycle.

    The samples state the waves that move Services; this bookkeeping wave moves nobody.
    """
    transitioned = {
        w.service
        for other in earlier
        for w in other.writes
        if w.manifest is not None
        and str(
            w.manifest["metadata"].get("annotations", {}).get("shared-ip-planner.dev/group")
        ).startswith(TRANSITION_GROUP_PREFIX)
    }
    return bool(transitioned) and {w.service for w in wave.writes} == transitioned


def _moving_waves(plan: Plan) -> list[PlannedWave]:
    waves = list(plan.waves)
    if len(waves) > 1 and _is_cleanup(waves[-1], waves[:-1]):
        waves = waves[:-1]
    return waves


@pytest.mark.parametrize("sample", _cases())
def test_sample_plan_matches_expectation(sample: Path) -> None:
    expectation = _plan_expectation(sample)
    assert expectation is not None
    scenario = _runnable(sample)
    if expectation.get("refused"):
        with pytest.raises(PlanRefused):
            plan_scenario(scenario)
        return
    waves = _moving_waves(_plan(sample))
    assert [_unit_shapes(w) for w in waves] == [
        sorted((u["kind"], frozenset(u["members"])) for u in wave["units"])
        for wave in expectation["waves"]
    ]
    assert [_ips(w) for w in waves] == [
        {svc: ((*sorted(ips),),) for svc, ips in wave.items()}
        for wave in expectation["expected_ips"]
    ]


def _unit_shapes(wave: PlannedWave) -> list[tuple[str, frozenset[str]]]:
    return sorted((u.kind, frozenset(u.members)) for u in wave.units)


def _ips(wave: PlannedWave) -> dict[str, tuple[tuple[str, ...], ...]]:
    return {svc: tuple(options) for svc, options in wave.expected_ips.items()}


@pytest.mark.parametrize(
    "sample",
    [c for c in _cases() if not (_plan_expectation(c.values[0]) or {}).get("refused")],
)
def test_sample_plan_verifies(sample: Path) -> None:
    _runnable(sample)
    report = verify_plan(_plan(sample))
    assert report.ok, "\n".join(report.lines())
    assert {c.behavior for c in report.claims} == {"fixed", "metallb-0.14", "metallb-0.15"}
    # Issue 16's bar: every sample's claims are proved over every reachable state, none sampled.
    assert report.sampled == () and all(c.exhaustive for c in report.claims), report.lines()


@pytest.mark.parametrize("sample", _cases())
def test_sample_plan_writes_every_member_with_its_group_annotations(sample: Path) -> None:
    """Each written object is the full desired Service with the annotations the repo gets."""
    if (_plan_expectation(sample) or {}).get("refused"):
        pytest.skip("refused: no plan")
    scenario = _runnable(sample)
    plan = _plan(sample)
    final = {w.service: w for wave in plan.waves for w in wave.writes}
    for svc, write in final.items():
        assert write.op == APPLY
        assert write.manifest == scenario.stamped_services[svc]


@pytest.mark.parametrize("sample", _cases())
def test_sample_plan_json_is_valid_against_the_schema(sample: Path) -> None:
    if (_plan_expectation(sample) or {}).get("refused"):
        pytest.skip("refused: no plan")
    _runnable(sample)
    data = json.loads(render_plan(_plan(sample), "json"))
    assert validate(data, SCHEMA) == []
