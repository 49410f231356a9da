"""`planner apply PLAN_FILE`: the command line, a kill between waves and the rerun that resumes.

Tests that start `planner` as a process run the stand-in kubectl as one too (its state in a file);
tests calling `main` in-process call the same fake in-process (`InProcessFake`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.apply.journal import journal_name
from planner.cli import main
from planner.commands.apply import parse_duration
from planner.errors import InputError
from planner.model.service import GROUP_DIGEST_ANNOTATION as GROUP_DIGEST
from planner.plan.fingerprint import plan_digest
from planner.plan.records import Plan, plan_to_dict
from tests.conftest import REPO_ROOT
from tests.fakes.fake_cluster import FakeCluster, start_fake, write_state
from tests.fakes.plans import (
    SEED,
    SHARED_IP,
    SITE,
    SITE_IP,
    TCP,
    UDP,
    seed_live,
    seed_plan,
    two_wave_plan,
)


def _fake(tmp_path: Path, **faults: object) -> FakeCluster:
    """The seed's cluster behind the stand-in executable, for a `planner` started as a process."""
    services, pools = seed_live()
    fake = FakeCluster(tmp_path / "state.json")
    write_state(
        fake.state_path, behavior="metallb-0.15", services=services, pools=pools, faults=faults
    )
    return fake


def _in_process_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behavior: str = "metallb-0.15"
) -> FakeCluster:
    """The seed's cluster, called in-process by this test's `main`."""
    services, pools = seed_live()
    return start_fake(
        tmp_path / "state.json",
        monkeypatch,
        subprocess=False,
        behavior=behavior,
        services=services,
        pools=pools,
    )


def _plan_file(tmp_path: Path, plan: Plan) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_to_dict(plan)), encoding="utf-8")
    return path


def _cli(plan_file: Path, fake: FakeCluster, *extra: str) -> list[str]:
    return [sys.executable, "-m", "planner.cli", "apply", str(plan_file), *extra]


def _env(fake: FakeCluster) -> dict[str, str]:
    return {**os.environ, **fake.env()}


@pytest.mark.parametrize(
    ("text", "seconds"), [("300", 300.0), ("300s", 300.0), ("5m", 300.0), ("1h", 3600.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_timeout_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match="expected a duration"):
        parse_duration("soon")
    _in_process_fake(tmp_path, monkeypatch)
    plan_file = _plan_file(tmp_path, seed_plan())
    assert main(["apply", str(plan_file), "--timeout", "soon", "--yes"]) == 2
    assert capsys.readouterr().err == (
        "planner: error: --timeout 'soon': expected a duration like 300s, 5m or 1h\n"
    )


def test_without_yes_and_without_a_terminal_it_refuses(tmp_path: Path) -> None:
    fake = _fake(tmp_path)
    plan_file = _plan_file(tmp_path, seed_plan())
    done = subprocess.run(
        _cli(plan_file, fake),
        cwd=REPO_ROOT,
        env=_env(fake),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "planner: error: refusing to apply without confirmation: stdin is not a terminal; "
        "review the plan and pass --yes"
    )
    assert fake.arrivals() == []


def test_dry_run_prints_the_kubectl_calls_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _in_process_fake(tmp_path, monkeypatch)
    plan_file = _plan_file(tmp_path, seed_plan())
    assert main(["apply", str(plan_file), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "apply --server-side --field-manager=shared-ip-planner" in err
    assert out.splitlines()[0].startswith("planner apply: dry-run (plan ")
    assert fake.arrivals() == []
    assert not (tmp_path / ".shared-ip-planner").exists()


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"apply ended before blocking: {out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail("the stand-in kubectl never blocked")
        time.sleep(0.1)


def test_killed_between_waves_a_rerun_finishes_the_plan(tmp_path: Path) -> None:
    marker = tmp_path / "blocked"
    # The second server dry-run is wave 2's: the stand-in hangs there, after wave 1 finished.
    fake = _fake(tmp_path, block={"on": "dry-run", "nth": 2, "marker": str(marker)})
    plan = two_wave_plan()
    plan_file = _plan_file(tmp_path, plan)
    argv = _cli(plan_file, fake, "--yes", "--timeout", "60s")
    first = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=_env(fake),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches the stand-in too
    )
    try:
        _wait_for(marker, first, 120)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
    journal = tmp_path / ".shared-ip-planner" / journal_name(plan_digest(plan))
    assert json.loads(journal.read_text())["finished_waves"] == [1]
    assert SITE not in fake.cluster().store
    before = len(fake.arrivals())

    fake.set_faults()
    rerun = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=_env(fake),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "  wave 1: resumed\n  wave 2: done\n" in rerun.stdout
    assert fake.arrivals()[before:] == [SITE]
    assert fake.cluster().ips(SITE) == (SITE_IP,)
    assert json.loads(journal.read_text())["finished_waves"] == [1, 2]


def test_live_kubectl_plans_verifies_and_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _in_process_fake(tmp_path, monkeypatch, behavior="fixed")
    monkeypatch.chdir(tmp_path)
    argv = ["apply", str(SEED / "desired"), "--live-kubectl", "--yes", "--behavior", "fixed"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "proved  fixed         wave 1: no Service is ever pending" in err
    assert out.splitlines()[1:3] == ["  wave 1: done", f"    written: {TCP}, {UDP}"]
    cluster = fake.cluster()
    assert cluster.statuses(TCP) == [(SHARED_IP,)] and cluster.statuses(UDP) == [(SHARED_IP,)]
    assert GROUP_DIGEST in cluster.store[TCP]["metadata"]["annotations"]
    assert len(list((tmp_path / ".shared-ip-planner").iterdir())) == 1  # journal in the cwd


def test_more_than_one_plan_file_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = _plan_file(tmp_path, seed_plan())
    assert main(["apply", str(plan_file), str(plan_file), "--yes"]) == 2
    assert capsys.readouterr().err == (
        "planner: error: give one PLAN_FILE, or DESIRED... with --live-kubectl\n"
    )


def test_a_configmap_journal_records_the_finished_waves_in_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _in_process_fake(tmp_path, monkeypatch)
    plan = seed_plan()
    plan_file = _plan_file(tmp_path, plan)
    assert main(["apply", str(plan_file), "--yes", "--journal", "configmap:ops/planner"]) == 0
    key = journal_name(plan_digest(plan))
    assert f"journal: configmap ops/planner key {key}" in capsys.readouterr().out
    configmap = fake.state()["objects"]["configmap/ops/planner"]
    assert json.loads(configmap["data"][key])["finished_waves"] == [1]
    assert not (tmp_path / ".shared-ip-planner").exists()


def test_live_kubectl_fails_closed_on_a_sampled_verdict_unless_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `planner verify` and the Flux hook: a plan whose claims only held on sampled schedules
    is not applied without --accept-sampled (before: applied, the claims printed as `held`)."""
    from unittest import mock

    from planner.simulate import world

    fake = _in_process_fake(tmp_path, monkeypatch, behavior="fixed")
    monkeypatch.chdir(tmp_path)
    argv = ["apply", str(SEED / "desired"), "--live-kubectl", "--yes", "--target", "fixed"]
    # Explore nothing: the seed transition's claims then rest on sampled schedules only.
    with (
        mock.patch.object(world, "STATES_MAX_WRITES", 0),
        mock.patch.object(world, "FIXED_STATES_MAX_WRITES", 0),
    ):
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert fake.arrivals() == []
        assert err.splitlines()[-1].startswith("planner: error: ")
        assert err.splitlines()[-1].endswith(
            "nothing applied: pass --accept-sampled to apply on a sampled verdict"
        )
        assert main([*argv, "--accept-sampled"]) == 0
    assert fake.cluster().statuses(TCP) == [(SHARED_IP,)]


def test_live_kubectl_names_what_it_did_not_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HelmRelease whose chart is not fetched is left out of the plan: said, as `planner plan`
    says it (before: applied without a word about it)."""
    desired = tmp_path / "desired"
    desired.mkdir()
    for source in (SEED / "desired").iterdir():
        (desired / source.name).write_text(source.read_text())
    (desired / "release.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: web, namespace: site}\n"
        "spec: {chart: {spec: {chart: web, version: 1.0.0, sourceRef: "
        "{kind: HelmRepository, name: charts}}}}\n"
    )
    _in_process_fake(tmp_path, monkeypatch, behavior="fixed")
    monkeypatch.chdir(tmp_path)
    assert main(["apply", str(desired), "--live-kubectl", "--yes", "--target", "fixed"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "HelmRelease site/web not rendered" in notes[0]
    assert notes[0].endswith("its Services were not checked, and are not in this plan")
