"""samples/real-flux-remote-chart: a home-ops app whose Services come from a HelmRelease of a
chart in an OCI registry (an OCIRepository, as bjw-s app-template is used). The stand-in helm
(tests/fakes/helm) serves the sample's `registry/` as oci://ghcr.io/bjw-s/helm: with
`--fetch-charts` helm pulls the chart once and the commit's key change is found; without it the
release is "not rendered" and no `helm pull` runs. What this proves and what it does not:
docs/sources.md ("Remote charts").
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
from planner.plan.verify import verify_plan
from planner.sources import HelmOptions
from planner.sources.helm_fetch import ChartFetcher
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES
from tests.sources.conftest import kustomize_available
from tests.test_real_flux_helmrelease import assert_plan_as_expected, build_history, helm_bin

SAMPLE = SAMPLES / "real-flux-remote-chart"
EXPECTED: dict[str, Any] = yaml.safe_load((SAMPLE / "expected.yaml").read_text(encoding="utf-8"))
APP, _, REF = EXPECTED["history"]["run"].partition(" --live-git ")
pytestmark = pytest.mark.skipif(
    not kustomize_available(), reason="neither kustomize nor kubectl: the app cannot be built"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample's history as the current directory; on PATH only the stand-in helm (serving
    the sample's registry, logging to helm.log), kubectl or kustomize, git and python."""
    top = tmp_path / "home-ops"
    build_history(SAMPLE, top)
    bin_dir = helm_bin(tmp_path / "bin", with_helm=True)
    for tool in ("kubectl", "kustomize"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    served = {url: str(SAMPLE / path) for url, path in EXPECTED["history"]["registry"].items()}
    monkeypatch.setenv("FAKE_HELM_REPOS", json.dumps(served))
    monkeypatch.setenv("FAKE_HELM_LOG", str(tmp_path / "helm.log"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # pulled charts: seen removed
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(top)
    return top


def helm_calls(repo: Path) -> list[list[str]]:
    log = repo.parent / "helm.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _cli(*args: str) -> int:
    return main(["diff", APP, "--live-git", REF, *args])


@pytest.mark.parametrize(("flags", "code"), EXPECTED["diff"]["exit_codes"].items())
def test_exit_codes_with_fetch_charts(
    repo: Path, flags: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("--fetch-charts", *shlex.split(flags)) == code
    captured = capsys.readouterr()
    assert captured.err == "" and "not rendered" not in captured.out
    # both refs render from one pull, and nothing pulled outlives the run
    assert [argv[0] for argv in helm_calls(repo)] == ["pull", "template", "template"]
    assert list(repo.parent.glob("planner-charts-*")) == []


@pytest.mark.parametrize(("flags", "code"), EXPECTED["diff"]["exit_codes_without_fetch"].items())
def test_exit_codes_without_fetch_charts(
    repo: Path, flags: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(*shlex.split(flags)) == code
    out = capsys.readouterr().out
    [note] = [line for line in out.splitlines() if "HelmRelease network/blocky not" in line]
    assert note.strip(" -").startswith(f"{APP}/blocky/app: document 1, line 1: ")
    assert EXPECTED["diff"]["unrendered_without_fetch"] in note
    assert helm_calls(repo) == []  # offline unless asked: helm was not even run


def _report(fetch: bool) -> Any:
    if not fetch:
        return build_report([APP], LiveSource.git(REF))
    with ChartFetcher() as charts:
        return build_report(
            [APP], LiveSource.git(REF), DiffOptions(helm=HelmOptions(charts=charts))
        )


def _changed(report: Any) -> set[tuple[str, str, str, str]]:
    return {(c.key.kind, c.key.namespace, c.key.name, c.op) for c in report.changes if c.changed}


def test_diff_matches_the_expectation(repo: Path) -> None:
    report = _report(fetch=True)
    want = EXPECTED["diff"]
    assert _changed(report) == {
        (c["kind"], c["namespace"], c["name"], c["op"]) for c in want["changes"]
    }
    ops = {(c.key.kind, c.key.namespace, c.key.name): c.op for c in report.changes}
    for item in want["unchanged"]:
        assert ops[(item["kind"], item["namespace"], item["name"])] == "unchanged", item
    assert report.unrendered == ()
    # the same version fetched for the work tree and the ref: said once
    assert sum(want["fetched"] in note for note in report.notes) == 1
    [group] = report.groups
    [want_group] = want["groups"]
    assert list(group.members) == sorted(want_group["members"])
    assert set(group.ips) == set(want_group["ips"])
    assert (group.key_changing, group.touched) == (True, True)
    for behavior, prediction in want["predictions"].items():
        assert set(report.predictions[behavior].pending) == set(prediction["pending"]), behavior
        assert set(report.predictions[behavior].stuck) == set(prediction["stuck"]), behavior
        assert set(report.predictions[behavior].ip_changed) == set(prediction["ip_changed"])


def test_without_the_flag_only_the_helmrelease_changes(repo: Path) -> None:
    report = _report(fetch=False)
    want = EXPECTED["diff"]["changes_without_fetch"]
    assert _changed(report) == {(c["kind"], c["namespace"], c["name"], c["op"]) for c in want}
    assert not report.groups  # no Service is known at either ref
    assert len(report.unrendered) == 1


def test_the_rendered_services_are_the_charts(repo: Path) -> None:
    with ChartFetcher() as charts:
        scenario = load_scenario([APP], LiveSource.git(REF), helm=HelmOptions(charts=charts))
    for svc, want in EXPECTED["diff"]["services"].items():
        body = scenario.desired_objects[svc].body
        assert body["metadata"]["annotations"] == want["metadata"]["annotations"]
        for field, value in want["spec"].items():
            assert body["spec"][field] == value, field
        assert scenario.desired_objects[svc].rendered_by == "helm"
    assert scenario.live_services["network/blocky-dns-tcp"]["spec"]["externalTrafficPolicy"] == (
        "Cluster"
    )


def test_plan_and_verify_agree_with_diff(repo: Path) -> None:
    with ChartFetcher() as charts:
        scenario = load_scenario([APP], LiveSource.git(REF), helm=HelmOptions(charts=charts))
    plan = plan_scenario(scenario)
    assert_plan_as_expected(plan, EXPECTED["plan"])
    assert verify_plan(plan).ok
    assert main(["plan", APP, "--live-git", REF, "--fetch-charts"]) == 0
    assert main(["plan", APP, "--live-git", REF, "--fetch-charts", "--verify"]) == 0
