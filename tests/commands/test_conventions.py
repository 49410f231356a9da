"""The conventions every verb shares (kubectl/dyff/helm-diff style): -o, -q, --live -,
--kubeconfig/--context passed to kubectl, --target everywhere (apply's old --behavior kept
hidden), and progress on a terminal's stderr."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import pytest

from planner.cli import cli, main
from planner.commands import _shared
from planner.commands._progress import ProgressReporter
from planner.plan.records import plan_to_dict
from tests.conftest import SAMPLES
from tests.fakes.fake_cluster import FakeCluster, start_fake
from tests.fakes.plans import seed_live, seed_plan
from tests.gitops.test_argocd import FIXTURES, argo_env, copy_app, fake_kubectl

SEED = SAMPLES / "seed-dns-local"
DESIRED = str(SEED / "desired")
LIVE = str(SEED / "live.yaml")
SEED_ARGS = [DESIRED, "--live", LIVE]


class TtyIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, out: str, err: str, fragment: str) -> None:
    assert (code, out) == (2, "")
    assert err.startswith("planner: error: ") and err.count("\n") == 1 and fragment in err, err


def _fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behavior: str = "fixed") -> FakeCluster:
    """The seed's live state in the fake cluster, reached in-process (tests/fakes)."""
    services, pools = seed_live()
    state = tmp_path / "state.json"
    return start_fake(
        state, monkeypatch, subprocess=False, behavior=behavior, services=services, pools=pools
    )


# --- --lb-class -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["diff", *SEED_ARGS],
        ["plan", *SEED_ARGS],
        ["graph", *SEED_ARGS],
        ["annotate", "--check", DESIRED],
        ["argocd", "generate"],
        ["flux", "pre-sync", "--source", "gitrepository/apps", "--path", "."],
    ],
    ids=lambda argv: " ".join(argv[:2]) if argv[0] in ("argocd", "flux") else argv[0],
)
def test_every_verb_refuses_an_lb_class_no_service_can_carry(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = _run(capsys, *argv, "--lb-class", "edge lb")
    _one_line_error(code, out, err, "--lb-class is 'edge lb'; expected a loadBalancerClass")


# --- -o and -q --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("long", "short"),
    [
        (["diff", *SEED_ARGS, "--output", "json"], ["diff", *SEED_ARGS, "-o", "json"]),
        (["plan", *SEED_ARGS, "--output", "yaml"], ["plan", *SEED_ARGS, "-o", "yaml"]),
        (["graph", *SEED_ARGS, "--format", "dot"], ["graph", *SEED_ARGS, "-o", "dot"]),
    ],
)
def test_short_o_is_output(
    capsys: pytest.CaptureFixture[str], long: list[str], short: list[str]
) -> None:
    first = _run(capsys, *long)
    assert first[1].strip() and _run(capsys, *short) == first


def test_graph_accepts_output_as_the_long_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "graph", *SEED_ARGS, "--output", "dot")
    assert code == 0 and out.startswith("digraph")


def test_quiet_diff_prints_no_report_but_keeps_the_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(capsys, "diff", *SEED_ARGS, "-q") == (1, "", "")
    assert _run(capsys, "diff", LIVE, "--live", LIVE, "--quiet") == (0, "", "")


def test_quiet_still_writes_the_output_file_and_still_reports_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "plan.json"
    assert _run(capsys, "plan", *SEED_ARGS, "-q", "-o", "json", "--output-file", str(report)) == (
        0,
        "",
        "",
    )
    assert json.loads(report.read_text())["waves"]
    _one_line_error(*_run(capsys, "diff", DESIRED, "-q"), "give exactly one of")


def test_quiet_plan_verify_and_verify_print_no_claims(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _run(capsys, "plan", *SEED_ARGS, "--verify")
    assert code == 0 and "proved" in err and out  # without -q: the claims and the plan
    assert _run(capsys, "plan", *SEED_ARGS, "--verify", "-q") == (0, "", "")
    plan_file = tmp_path / "plan.json"
    assert main(["plan", *SEED_ARGS, "-o", "json", "--output-file", str(plan_file)]) == 0
    capsys.readouterr()
    assert "proved" in _run(capsys, "verify", str(plan_file))[2]
    assert _run(capsys, "verify", str(plan_file), "-q") == (0, "", "")


def test_quiet_verify_keeps_the_failed_claims_of_its_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_to_dict(seed_plan())))  # a hand-made plan that fails
    code, out, err = _run(capsys, "verify", str(plan_file), "-q")
    assert (code, out) == (3, "")
    lines = err.splitlines()
    assert lines[-1] == "planner: error: the plan does not verify: see the FAILED claims above"
    assert lines[0].startswith("FAILED") and not any(
        x.startswith(("proved", "held")) for x in lines
    )


def test_quiet_annotate_check_keeps_the_exit_code_and_the_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = tmp_path / "desired"
    repo.mkdir()
    for source in (SEED / "desired").glob("*.yaml"):
        (repo / source.name).write_text(source.read_text())
    code, out, err = _run(capsys, "annotate", str(repo), "--check")
    assert code == 1 and "would annotate" in out
    code, out, err = _run(capsys, "annotate", str(repo), "--check", "-q")
    assert (code, out) == (1, "") and "need the group-wide annotations" in err


# --- --live - ---------------------------------------------------------------------------------


def test_live_dash_reads_the_snapshot_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = _run(capsys, "diff", *SEED_ARGS, "-o", "json")
    monkeypatch.setattr("sys.stdin", io.StringIO(Path(LIVE).read_text()))
    code, out, err = _run(capsys, "diff", DESIRED, "--live", "-", "-o", "json")
    assert (code, err) == (from_file[0], "")
    by_file, by_stdin = json.loads(from_file[1]), json.loads(out)
    assert by_stdin["changes"] == by_file["changes"] and by_stdin["changes"]


def test_stdin_for_both_desired_and_live_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(Path(LIVE).read_text()))
    for verb in ("diff", "plan", "graph"):
        _one_line_error(*_run(capsys, verb, "-", "--live", "-"), "DESIRED or to --live, not both")


# --- --kubeconfig and --context -----------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--context", "--kubeconfig"])
def test_cluster_flags_need_live_kubectl(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    _one_line_error(*_run(capsys, "diff", *SEED_ARGS, flag, "x"), f"{flag} applies only to")


@pytest.mark.parametrize("verb", ["diff", "plan", "graph"])
def test_live_kubectl_passes_kubeconfig_and_context_to_kubectl(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    verb: str,
) -> None:
    fake = _fake(tmp_path, monkeypatch)
    argv = [verb, DESIRED, "--live-kubectl", "--kubeconfig", "/k/config", "--context", "prod"]
    code, out, err = _run(capsys, *argv)
    assert code in (0, 1) and out, err
    (call,) = fake.calls()
    assert call[:4] == ["--kubeconfig", "/k/config", "--context", "prod"] and "get" in call


def test_apply_passes_kubeconfig_and_context_to_every_kubectl_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake(tmp_path, monkeypatch, behavior="metallb-0.15")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_to_dict(seed_plan())))
    argv = ["apply", str(plan_file), "--dry-run", "--kubeconfig", "/k/config", "--context", "prod"]
    assert main(argv) == 0
    assert "--kubeconfig /k/config --context prod" in capsys.readouterr().err
    calls = fake.calls()
    assert calls and all(c[:4] == ["--kubeconfig", "/k/config", "--context", "prod"] for c in calls)


def test_argocd_generate_passes_kubeconfig_and_context_to_kubectl(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = copy_app(tmp_path, FIXTURES / "live-order" / "desired", "dns")
    bin_dir, log = fake_kubectl(tmp_path, FIXTURES / "live-order" / "live.yaml")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    for name, value in argo_env("dns", "dns", "dns", live_state="true").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(app)
    argv = ["argocd", "generate", "--kubeconfig", str(kubeconfig), "--context", "edge"]
    code, out, err = _run(capsys, *argv)
    assert code == 0 and "kind: Service" in out, err
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call[:4] == ["--kubeconfig", str(kubeconfig), "--context", "edge"]


# --- --target everywhere ----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--target", "--behavior"])
def test_apply_takes_target_and_its_old_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: str
) -> None:
    fake = _fake(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["apply", DESIRED, "--live-kubectl", "--yes", flag, "fixed"]) == 0
    assert "proved  fixed" in capsys.readouterr().err
    assert fake.arrivals()


def test_apply_refuses_target_and_behavior_that_disagree(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_to_dict(seed_plan())))
    argv = ["apply", str(plan_file), "--target", "fixed", "--behavior", "metallb-0.14"]
    _one_line_error(*_run(capsys, *argv), "--behavior is the old name of --target")


def test_apply_help_shows_target_and_hides_behavior(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "apply", "--help")
    assert code == 0 and "--target" in out and "--behavior" not in out


def test_target_has_one_meaning_on_every_command() -> None:
    helps = set()
    for path in (["diff"], ["plan"], ["graph"], ["apply"], ["flux", "pre-sync"]):
        command = cli
        for word in path:
            command = command.commands[word]  # type: ignore[attr-defined]
        (target,) = [p for p in command.params if "--target" in p.opts]
        helps.add((target.help or "").removesuffix(" Default: the plan's target."))
    assert helps == {_shared.TARGET_HELP}


# --- progress -----------------------------------------------------------------------------------


def _plan_with_progress(
    monkeypatch: pytest.MonkeyPatch, stderr: io.StringIO, *extra: str
) -> tuple[int, str, str]:
    """`planner plan --verify` with a reporter that does not wait its two seconds."""
    reporter = functools.partial(ProgressReporter, delay=0.0)
    monkeypatch.setattr(_shared, "ProgressReporter", reporter)
    monkeypatch.setenv("TERM", "xterm")
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setattr("sys.stderr", stderr)
    code = main(["plan", *SEED_ARGS, "--verify", *extra])
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_terminal_sees_every_stage_and_a_cleared_line_before_the_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = _plan_with_progress(monkeypatch, TtyIO())
    assert code == 0 and out
    for stage in ("planner: loading", "planner: planning 1/1", "planner: verifying 3/3"):
        assert stage in err, err
    before_claims = err.split("proved", 1)[0]
    assert before_claims.endswith("\r\x1b[K") or "\n" in before_claims


def test_progress_is_silent_off_a_terminal_and_with_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, err = _plan_with_progress(monkeypatch, io.StringIO())
    assert "planner: " not in err and "proved" in err
    _, _, err = _plan_with_progress(monkeypatch, TtyIO(), "-q")
    assert err == ""
