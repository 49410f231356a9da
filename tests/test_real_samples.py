"""The samples/real-* repositories (issue 13, "Done when"): each sample's `repo/` is committed,
then its `commit/` files laid over it (and its `history.deletes` removed) and committed; the
commit is reviewed as `planner diff APP --live-git HEAD~1` at the repository's top.

Every sample's expected.yaml (reasoned by hand from MetalLB's rules) is checked against `diff`
and `plan`, and `diff`, `plan`, `plan --verify`, `annotate --check` and `argocd generate` must
agree with each other: the same Services, the same groups, the same verdict where they give one.
Samples without `history` in expected.yaml (another helper's, e.g. real-flux-helmrelease) have
their own tests.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import shutil
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.analysis.build import exit_code, verdict
from planner.analysis.records import DiffReport
from planner.cli import main
from planner.diff.scenario import Scenario
from planner.errors import InputError, ToolFailedError
from planner.gitops.annotate import annotate_paths
from planner.gitops.argocd import generate, read_context
from planner.model.controller import BEHAVIORS, DEFAULT_TARGET
from planner.model.service import GROUP_ANNOTATION
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
from planner.plan.records import Plan
from planner.plan.verify import verify_plan
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES
from tests.sources.conftest import git, kustomize_available

REF = "HEAD~1"
SAMPLE_DIRS = sorted(
    p.parent
    for p in SAMPLES.glob("real-*/expected.yaml")
    # real-flux-helmrelease has its own test (tests/test_real_flux_helmrelease.py): it needs the
    # stand-in helm on PATH, and argocd generate and annotate deliberately do not render Flux.
    if "app" in yaml.safe_load(p.read_text(encoding="utf-8")).get("history", {})
)
SYNC_WAVE = "argocd.argoproj.io/sync-wave"


def _expected(sample: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((sample / "expected.yaml").read_text(encoding="utf-8"))
    return data


def _app(sample: Path) -> str:
    app: str = _expected(sample)["history"]["app"]
    return app


def build_history(sample: Path, top: Path) -> Path:
    """The sample's two commits in a fresh repository at `top`: `repo/`, then the commit."""
    shutil.copytree(sample / "repo", top)
    git(top, "init", "--quiet", "--initial-branch=main")
    if "remote" in _expected(sample)["history"]:  # what Argo CD Applications name as repoURL
        git(top, "remote", "add", "origin", _expected(sample)["history"]["remote"])
    git(top, "add", "-A")
    git(top, "commit", "--quiet", "-m", "the repository before the commit")
    if (sample / "commit").is_dir():
        shutil.copytree(sample / "commit", top, dirs_exist_ok=True)
    for path in _expected(sample)["history"].get("deletes", []):
        git(top, "rm", "-r", "--quiet", path)
    git(top, "add", "-A")
    git(top, "commit", "--quiet", "-m", "the commit under review")
    return top


_SCRATCH: list[Path] = []  # where this test process builds the repositories (pytest's tmp)


@pytest.fixture(autouse=True, scope="module")
def _scratch(tmp_path_factory: pytest.TempPathFactory) -> None:
    _SCRATCH.append(tmp_path_factory.mktemp("real-samples"))


@functools.cache
def _checkout(sample: Path) -> Path:
    """The sample's repository, built once per test process (no test writes to it)."""
    return build_history(sample, _SCRATCH[0] / sample.name / "home-ops")


def _needs_tools(sample: Path) -> None:
    app = sample / "repo" / _app(sample)
    if (app / "kustomization.yaml").exists() and not kustomize_available():
        pytest.skip("neither kustomize nor kubectl is on PATH: the overlay cannot be rendered")


@contextlib.contextmanager
def _at_top(sample: Path) -> Iterator[Path]:
    _needs_tools(sample)
    with contextlib.chdir(_checkout(sample)) as _:
        yield _checkout(sample)


@functools.cache
def _scenario(sample: Path) -> Scenario:
    with _at_top(sample):
        return load_scenario([_app(sample)], LiveSource.git(REF))


@functools.cache
def _report(sample: Path, target: str = DEFAULT_TARGET) -> DiffReport:
    with _at_top(sample):
        return build_report([_app(sample)], LiveSource.git(REF), DiffOptions(target=target))


@functools.cache
def _plan(sample: Path, target: str = DEFAULT_TARGET) -> Plan:
    return plan_scenario(_scenario(sample), target=target)


def _ids() -> list[Any]:
    return [pytest.param(s, id=s.name) for s in SAMPLE_DIRS]


def _exit_cases() -> list[Any]:
    return [
        pytest.param(sample, flags, code, id=f"{sample.name}[{flags or 'defaults'}]")
        for sample in SAMPLE_DIRS
        for flags, code in _expected(sample)["diff"]["exit_codes"].items()
    ]


def test_the_real_samples_are_here() -> None:
    names = {s.name for s in SAMPLE_DIRS}
    assert {
        "real-plain-pools-elsewhere",
        "real-kustomize-base",
        "real-ipv6",
        "real-deleted-app",
        "real-argocd-app-of-apps",
        "real-argocd-applicationset",
        "real-argocd-build-options",
        "real-flux-app-dir",
        "real-flux-fleet-overlay",
    } <= names


# --- diff and plan against the expectation ------------------------------------------------------


@pytest.mark.parametrize(("sample", "flags", "code"), _exit_cases())
def test_diff_exit_code(
    sample: Path, flags: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with _at_top(sample):
        assert main(["diff", _app(sample), "--live-git", REF, *shlex.split(flags)]) == code
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("sample", _ids())
def test_diff_changes_groups_and_conflicts(sample: Path) -> None:
    report, want = _report(sample), _expected(sample)["diff"]
    found = {(c.key.kind, c.key.namespace, c.key.name, c.op) for c in report.changes if c.changed}
    assert found == {(c["kind"], c["namespace"], c["name"], c["op"]) for c in want["changes"]}
    ops = {(c.key.kind, c.key.namespace, c.key.name): c.op for c in report.changes}
    for item in want["unchanged"]:
        assert ops.get((item["kind"], item["namespace"], item["name"])) == "unchanged", item
    groups = {g.members: g for g in report.groups}
    assert set(groups) == {tuple(sorted(g["members"])) for g in want["groups"]}
    for wanted in want["groups"]:
        group = groups[tuple(sorted(wanted["members"]))]
        assert set(group.ips) == set(wanted["ips"])
        assert group.key_changing is wanted["key_changing"]
        assert group.touched is wanted["touched"]
        assert set(group.joining) == set(wanted.get("joining", []))
        assert set(group.leaving) == set(wanted.get("leaving", []))
    assert [c.message for c in report.errors] == [c["message"] for c in want["conflicts"]]
    for fragment in want.get("notes_absent", []):
        assert not [n for n in report.notes if fragment in n], fragment
    for fragment in want.get("notes_present", []):
        assert [n for n in report.notes if fragment in n], fragment
    # what was not rendered or followed, counted in the verdict (nothing when none)
    unchecked = verdict(report).sentence.partition("; ")[2]
    assert unchecked == want.get("unchecked", "")


@pytest.mark.parametrize("sample", _ids())
def test_diff_predictions(sample: Path) -> None:
    report, want = _report(sample), _expected(sample)["diff"]["predictions"]
    assert set(want) == set(BEHAVIORS)
    for behavior, wanted in want.items():
        prediction = report.predictions[behavior]
        assert set(prediction.pending) == set(wanted["pending"]), behavior
        assert set(prediction.stuck) == set(wanted["stuck"]), behavior
        assert set(prediction.ip_changed) == set(wanted["ip_changed"]), behavior


@pytest.mark.parametrize("sample", _ids())
def test_plan_waves_and_expected_ips(sample: Path) -> None:
    plan, want = _plan(sample), _expected(sample)["plan"]
    assert [sorted((u.kind, frozenset(u.members)) for u in w.units) for w in plan.waves] == [
        sorted((u["kind"], frozenset(u["members"])) for u in wave["units"])
        for wave in want["waves"]
    ]
    assert [dict(w.expected_ips) for w in plan.waves] == [
        {svc: ((*sorted(ips),),) for svc, ips in wave.items()} for wave in want["expected_ips"]
    ]


def _same_as_cases() -> list[Any]:
    return [
        pytest.param(sample, path, id=f"{sample.name}[{path}]")
        for sample in SAMPLE_DIRS
        for path in _expected(sample)["history"].get("same_as", [])
    ]


def _services_view(report: DiffReport) -> tuple[Any, ...]:
    """What a report says about Services: their changes, groups, predictions and verdict."""
    changes = {(c.key.svc_key, c.op) for c in report.changes if c.key.kind == "Service"}
    groups = {(g.members, g.ips, g.key_changing, g.touched) for g in report.groups}
    predictions = {
        behavior: (set(p.pending), set(p.stuck), set(p.ip_changed))
        for behavior, p in report.predictions.items()
    }
    return changes, groups, predictions, exit_code(report, "stuck"), report.errors


@pytest.mark.parametrize(("sample", "path"), _same_as_cases())
def test_naming_another_path_of_the_app_gives_the_same_verdict(sample: Path, path: str) -> None:
    """A Flux app named by its directory (a Kustomization's spec.path), a file in it, or a
    folder above it is read as Flux builds it: the same Services as the app's expected ones."""
    with _at_top(sample):
        other = build_report([path], LiveSource.git(REF), DiffOptions())
    assert _services_view(other) == _services_view(_report(sample))


# --- the commands agree with each other ---------------------------------------------------------


def _partition(services: Mapping[str, Mapping[str, Any]]) -> set[frozenset[str]]:
    """Groups of two or more Services by their stamped group annotation."""
    by_group: dict[str, set[str]] = defaultdict(set)
    for svc, manifest in services.items():
        group = ((manifest.get("metadata") or {}).get("annotations") or {}).get(GROUP_ANNOTATION)
        if group:
            by_group[group].add(svc)
    return {frozenset(m) for m in by_group.values() if len(m) > 1}


def _desired_groups(sample: Path) -> set[frozenset[str]]:
    """The groups after the commit, as diff reports them (members that stay)."""
    return {
        frozenset(set(g.members) - set(g.leaving))
        for g in _report(sample).groups
        if len(set(g.members) - set(g.leaving)) > 1
    }


@pytest.mark.parametrize("target", BEHAVIORS)
@pytest.mark.parametrize("sample", _ids())
def test_diff_plan_and_verify_give_one_verdict(sample: Path, target: str) -> None:
    report = _report(sample, target)
    plan = _plan(sample, target)  # no static conflict: a plan exists under every target
    assert not report.errors
    changed = {c.key.svc_key for c in report.changes if c.changed and c.key.kind == "Service"}
    written = {w.service for wave in plan.waves for w in wave.writes}
    desired = set(_scenario(sample).desired_services)
    assert changed <= written <= desired | set(_scenario(sample).deleted_services)
    assert _partition(_scenario(sample).stamped_services) == _desired_groups(sample)
    # the plan's proof holds, and a plan that converges under the target is what diff promises
    # under `fixed` (the plan's group-wide annotations): nobody stuck
    verified = verify_plan(plan)
    assert verified.ok, "\n".join(verified.lines())
    assert not report.predictions["fixed"].stuck
    assert exit_code(report, "stuck") == (3 if report.predictions[target].stuck else 1)


@pytest.mark.parametrize("sample", _ids())
def test_plan_verify_through_the_cli(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _at_top(sample):
        assert main(["plan", _app(sample), "--live-git", REF, "--verify"]) == 0
    lines = capsys.readouterr().err.splitlines()
    # what was not followed is said first (a note each), then the claims
    claims = [line for line in lines if not line.startswith("note: ")]
    assert len(lines) - len(claims) == len(_report(sample).unrendered)
    assert claims
    assert all(line.startswith("proved ") for line in claims), claims


@pytest.mark.parametrize("sample", _ids())
def test_argocd_generate_outputs_the_same_services_and_groups(sample: Path) -> None:
    agree = _expected(sample)["agree"]["argocd"]
    if agree is False:
        assert not (_checkout(sample) / _app(sample)).exists()  # nothing for Argo CD to render
        return
    _needs_tools(sample)
    app = _checkout(sample) / _app(sample)
    context = read_context({"ARGOCD_APP_SOURCE_PATH": _app(sample)})
    if agree == "flux-only":  # Argo CD applies the files as written: `${VAR}` is no address
        with pytest.raises(InputError, match=r"'\$\{SVC_[A-Z0-9_]+\}' is not a valid IP"):
            generate(app, context)
        return
    if agree == "refused":  # Argo CD's kustomize keeps its load restrictor (Flux's does not)
        with pytest.raises(ToolFailedError, match="is not in or below"):
            generate(app, context)
        return
    if agree == "label-refused":  # outside Flux builds a label that is no string stays refused
        with pytest.raises(InputError, match=r"must be a string \(quote it in YAML\), not bool"):
            generate(app, context)
        return
    stream = generate(app, context)
    if agree == "no-services":  # the app's output holds Flux Kustomizations, which Argo CD applies
        assert [d["kind"] for d in yaml.safe_load_all(stream) if d["kind"] == "Service"] == []
        return
    services = {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}": d
        for d in yaml.safe_load_all(stream)
        if d["kind"] == "Service"
    }
    assert set(services) == set(_scenario(sample).desired_services)
    assert _partition(services) == _desired_groups(sample)
    # the sync waves never contradict the plan's order
    plan_wave = {w.service: wave.index for wave in _plan(sample).waves for w in wave.writes}
    sync = {
        svc: int(d["metadata"].get("annotations", {}).get(SYNC_WAVE, 0))
        for svc, d in services.items()
    }
    for a, wave_a in plan_wave.items():
        for b, wave_b in plan_wave.items():
            if a in sync and b in sync and wave_a < wave_b:
                assert sync[a] <= sync[b], (a, b)


@pytest.mark.parametrize("sample", _ids())
def test_annotate_check_wants_the_groups_diff_reports(sample: Path, tmp_path: Path) -> None:
    if not _expected(sample)["agree"]["annotate"]:
        pytest.skip("annotate does not read this app (rendered, or gone at HEAD)")
    copy = tmp_path / "app"
    shutil.copytree(_checkout(sample) / _app(sample), copy)
    checked = annotate_paths([copy], check=True)
    assert checked.services == len(_scenario(sample).desired_services)
    assert bool(checked.changed) is bool(_desired_groups(sample))  # --check exits 1 iff so
    annotate_paths([copy])
    written = {}
    for file in sorted(copy.rglob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "Service":
                written[f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"] = doc
    assert _partition(written) == _desired_groups(sample)
    assert annotate_paths([copy], check=True).changed == ()
