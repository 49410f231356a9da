"""samples/real-flux-helmrelease (issue 13, section 5): a Flux repository whose Services come from
HelmReleases with post-build substitution, replayed from a git history this test builds. `diff`,
`plan` and `plan --verify` must agree with the expectation reasoned by hand (expected.yaml), with
the stand-in helm (tests/fakes/helm) on PATH; without helm every HelmRelease is unrendered.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from planner.pipeline import build_report, load_scenario, plan_scenario
from planner.plan.records import Plan
from planner.plan.verify import verify_plan
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES
from tests.fakes import put_python_on_path
from tests.sources.conftest import git

SAMPLE = SAMPLES / "real-flux-helmrelease"
EXPECTED: dict[str, Any] = yaml.safe_load((SAMPLE / "expected.yaml").read_text(encoding="utf-8"))
FAKE_HELM = Path(__file__).resolve().parent / "fakes" / "helm"
APP = "apps/dns"
REF = "HEAD~1"


def build_history(sample: Path, repo: Path) -> None:
    """Commit the sample's `repo/` tree, then its `commit/` files laid over it."""
    shutil.copytree(sample / "repo", repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "the repository before the commit")
    shutil.copytree(sample / "commit", repo, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "the commit under review")


def helm_bin(directory: Path, with_helm: bool) -> Path:
    """A PATH directory: git, python3 (for the stand-in) and, with `with_helm`, the stand-in."""
    directory.mkdir()
    for tool in ("git", "sh"):
        found = shutil.which(tool)
        if found:
            (directory / tool).symlink_to(found)
    put_python_on_path(directory)
    if with_helm:
        (directory / "helm").symlink_to(FAKE_HELM)
    return directory


def _checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_helm: bool) -> Path:
    top = tmp_path / "home-ops"
    build_history(SAMPLE, top)
    monkeypatch.setenv("PATH", str(helm_bin(tmp_path / "bin", with_helm)))
    monkeypatch.chdir(top)
    return top


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample's history in a fresh repository, as the current directory, helm on PATH."""
    return _checkout(tmp_path, monkeypatch, with_helm=True)


@pytest.fixture
def repo_without_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same, with no helm on PATH."""
    return _checkout(tmp_path, monkeypatch, with_helm=False)


def _cli(args: str) -> int:
    return main(["diff", APP, "--live-git", REF, *shlex.split(args)])


@pytest.mark.parametrize(("flags", "code"), EXPECTED["diff"]["exit_codes"].items())
def test_exit_codes(repo: Path, flags: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(flags) == code
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("flags", "code"), EXPECTED["diff"]["exit_codes_without_helm"].items())
def test_exit_codes_without_helm(
    repo_without_helm: Path, flags: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(flags) == code
    out = capsys.readouterr().out
    for side in ("tcp", "udp"):
        # one note per HelmRelease: the work tree's (the ref's says the same of the same release)
        [note] = [line for line in out.splitlines() if f"HelmRelease dns/dns-{side} not" in line]
        assert note.strip(" -").startswith(f"{APP}/helmrelease-{side}.yaml: document 1, line 1: ")
        assert "helm is not on PATH" in note and "its Services were not checked" in note


def test_diff_matches_the_expectation(repo: Path) -> None:
    report = build_report([APP], LiveSource.git(REF))
    want = EXPECTED["diff"]
    found = {(c.key.kind, c.key.namespace, c.key.name, c.op) for c in report.changes if c.changed}
    assert found == {(c["kind"], c["namespace"], c["name"], c["op"]) for c in want["changes"]}
    ops = {(c.key.kind, c.key.namespace, c.key.name): c.op for c in report.changes}
    for item in want["unchanged"]:
        assert ops[(item["kind"], item["namespace"], item["name"])] == "unchanged", item
    assert report.unrendered == ()
    [group] = report.groups
    [want_group] = want["groups"]
    assert list(group.members) == sorted(want_group["members"])
    assert set(group.ips) == set(want_group["ips"])
    assert (group.key_changing, group.touched) == (True, True)
    assert report.errors == ()
    for behavior, prediction in want["predictions"].items():
        assert set(report.predictions[behavior].pending) == set(prediction["pending"]), behavior
        assert set(report.predictions[behavior].stuck) == set(prediction["stuck"]), behavior
        assert set(report.predictions[behavior].ip_changed) == set(prediction["ip_changed"])


def test_the_rendered_services_carry_the_substituted_values(repo: Path) -> None:
    scenario = load_scenario([APP], LiveSource.git(REF))
    for svc, want in EXPECTED["diff"]["services"].items():
        body = scenario.desired_objects[svc].body
        assert body["metadata"]["annotations"] == want["metadata"]["annotations"]
        for field, value in want["spec"].items():
            assert body["spec"][field] == value, field
        # the origin names the HelmRelease that made the Service
        assert scenario.desired_objects[svc].origin.file == f"{APP}/helmrelease-tcp.yaml"
        assert scenario.desired_objects[svc].rendered_by == "helm"
    # the live side was rendered as at the ref: Cluster there
    assert scenario.live_services["dns/dns-tcp"]["spec"]["externalTrafficPolicy"] == "Cluster"


def assert_plan_as_expected(plan: Plan, want: dict[str, Any]) -> None:
    """The plan's waves (units, expected IPs) are expected.yaml's `plan`."""
    assert [sorted((u.kind, frozenset(u.members)) for u in wave.units) for wave in plan.waves] == [
        sorted((u["kind"], frozenset(u["members"])) for u in wave["units"])
        for wave in want["waves"]
    ]
    assert [dict(wave.expected_ips) for wave in plan.waves] == [
        {svc: (tuple(ips),) for svc, ips in wave.items()} for wave in want["expected_ips"]
    ]


def test_plan_and_verify_agree_with_diff(repo: Path) -> None:
    scenario = load_scenario([APP], LiveSource.git(REF))
    plan = plan_scenario(scenario)
    assert_plan_as_expected(plan, EXPECTED["plan"])
    report = verify_plan(plan)
    assert report.ok, "\n".join(report.lines())
    assert main(["plan", APP, "--live-git", REF]) == 0
    assert main(["plan", APP, "--live-git", REF, "--verify"]) == 0


_LEFT_OUT = [
    f"note: {APP}/helmrelease-{p}.yaml: document 1, line 1: HelmRelease dns/dns-{p} not "
    "rendered (helm is not on PATH); its Services were not checked, and are not in this plan"
    for p in ("tcp", "udp")
]


def test_plan_without_helm_says_what_it_left_out(
    repo_without_helm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", APP, "--live-git", REF]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Nothing to do: no Service write changes anything.\n"
    assert captured.err.splitlines() == _LEFT_OUT


def test_graph_without_helm_says_what_it_left_out(
    repo_without_helm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The picture of an empty plan is no proof that nothing needs ordering: the HelmReleases
    it could not render are named, as `plan` names them (before: an empty picture alone)."""
    assert main(["graph", APP, "--live-git", REF]) == 0
    captured = capsys.readouterr()
    assert captured.out == "flowchart TB\n"
    assert captured.err.splitlines() == _LEFT_OUT
