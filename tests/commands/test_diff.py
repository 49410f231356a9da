"""`planner diff` end to end, in-process through `planner.cli.main`: flags, exit codes, the three
outputs, bad input (one line, exit 2, nothing written), stdin, --live-git on a real git repo,
and Secret values kept out of every output."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from planner.analysis.build import GIT_STATUS_NOTE
from planner.cli import main
from planner.render.json_report import load_schema
from planner.tools import run_tool
from tests.conftest import REPO_ROOT, SAMPLES
from tests.render.schema_subset import validate
from tests.sources.conftest import git

SEED = SAMPLES / "seed-dns-local"
SEED_ARGS = [str(SEED / "desired"), "--live", str(SEED / "live.yaml")]
SECRET_DATA = "c2VjcmV0LXRva2VuLXZhbHVl"  # base64 of "secret-token-value"
SECRET_PLAIN = "plain-text-password-42"
SECRET_LIVE = "b2xkLXRva2Vu"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diff", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("planner: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


# --- exit codes and outputs ---------------------------------------------------------------------


def test_changes_within_policy_exit_1_with_a_text_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, *SEED_ARGS)
    assert code == 1, err
    assert "Summary" in out and "2 update" in out
    assert "dns/dns-tcp" in out and "192.168.10.53" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_a_clean_repo_against_its_own_cluster_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SEED / "live.yaml"), "--live", str(SEED / "live.yaml"))
    assert code == 0
    assert "0 create, 0 update, 0 delete" in out


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (["--target", "metallb-0.14"], 3),  # stuck under v0.14
        (["--target", "metallb-0.14", "--fail-on", "never"], 1),
        (["--fail-on", "pending"], 3),  # v0.15 still has a pending window
        (["--target", "fixed", "--fail-on", "pending"], 1),
    ],
)
def test_fail_on_judges_the_target_prediction(
    capsys: pytest.CaptureFixture[str], flags: list[str], code: int
) -> None:
    assert run(capsys, *SEED_ARGS, *flags)[0] == code


def test_a_static_conflict_exits_3_whatever_the_policy(capsys: pytest.CaptureFixture[str]) -> None:
    clash = SAMPLES / "port-clash"
    code, out, _ = run(
        capsys, str(clash / "desired"), "--live", str(clash / "live.yaml"), "--fail-on", "never"
    )
    assert code == 3
    assert "TCP/443" in out


def test_json_output_is_valid_against_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SEED_ARGS, "--output", "json")
    assert code == 1
    data = json.loads(out)
    assert validate(data, load_schema()) == []
    assert {(c["name"], c["op"]) for c in data["changes"]} == {
        ("dns-tcp", "update"),
        ("dns-udp", "update"),
    }
    assert data["groups"][0]["members"] == ["dns/dns-tcp", "dns/dns-udp"]
    assert data["groups"][0]["key_changing"] is True
    assert data["predictions"]["metallb-0.14"]["stuck"] == ["dns/dns-tcp", "dns/dns-udp"]
    assert data["live_source"] == f"file {SEED / 'live.yaml'}"
    assert data["extras"] == {}  # the plan goes only into the Markdown report


def test_markdown_has_summary_details_and_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SEED_ARGS, "--output", "markdown", "--target", "metallb-0.14")
    assert code == 3
    assert "**Changes:** 0 create · 2 update · 0 delete · 1 unchanged" in out
    assert "<details><summary>" in out and "</details>" in out
    assert "**metallb-0.14 (target)**" in out
    assert "```mermaid\nflowchart TB" in out
    assert "group transition" in out  # the plan's one unit moves the group together


def test_markdown_says_why_there_is_no_plan(capsys: pytest.CaptureFixture[str]) -> None:
    clash = SAMPLES / "port-clash"
    _, out, _ = run(
        capsys, str(clash / "desired"), "--live", str(clash / "live.yaml"), "--output", "markdown"
    )
    assert "no plan: cannot plan: port TCP/443" in out
    assert "```mermaid" not in out


def test_desired_defaults_to_the_current_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SEED / "desired")
    code, out, _ = run(capsys, "--live", str(SEED / "live.yaml"))
    assert code == 1
    assert "dns/dns-udp" in out


def test_stdin_dash_reads_the_desired_manifests(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "---\n".join(p.read_text() for p in sorted((SEED / "desired").glob("*.yaml")))
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, _ = run(capsys, "-", "--live", str(SEED / "live.yaml"), "--output", "json")
    assert code == 1
    assert {c["origin"].split(":")[0] for c in json.loads(out)["changes"]} == {"<stdin>"}


# --- --output-file ------------------------------------------------------------------------------


def test_output_file_gets_the_report_and_stdout_stays_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "report.md"
    code, out, _ = run(capsys, *SEED_ARGS, "--output", "markdown", "--output-file", str(target))
    assert code == 1 and out == ""
    assert target.read_text().startswith("✅ **passes: changes, none leaves a Service stuck")
    assert "\n## shared-ip planner" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary left behind


def test_output_file_is_left_alone_on_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "report.json"
    target.write_text("previous report\n")
    missing = str(tmp_path / "missing.yaml")
    code, out, err = run(
        capsys, str(SEED / "desired"), "--live", missing, "--output-file", str(target)
    )
    assert_one_line_error(code, out, err, "missing.yaml")
    assert target.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


# --- bad input ----------------------------------------------------------------------------------


def test_malformed_yaml_is_one_line_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: [unclosed\n")
    code, out, err = run(capsys, str(bad), "--live", str(SEED / "live.yaml"))
    assert_one_line_error(code, out, err, "bad.yaml", "line")


def test_missing_live_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(SEED / "desired"), "--live", "no-such-live.yaml")
    assert_one_line_error(code, out, err, "no-such-live.yaml", "does not exist")


def test_two_live_sources_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *SEED_ARGS, "--live-git", "HEAD")
    assert_one_line_error(code, out, err, "exactly one", "--live and --live-git")


def test_no_live_source_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(SEED / "desired"))
    assert_one_line_error(code, out, err, "exactly one", "got none")


def test_context_without_live_kubectl_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *SEED_ARGS, "--context", "prod")
    assert_one_line_error(code, out, err, "--context applies only to --live-kubectl")


def test_an_unknown_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *SEED_ARGS, "--target", "metallb-0.99")
    assert code == 2 and out == ""
    assert "metallb-0.99" in err and "Traceback" not in err


def test_live_kubectl_without_kubectl_names_the_tool(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no kubectl
    code, out, err = run(capsys, str(SEED / "desired"), "--live-kubectl")
    assert_one_line_error(code, out, err, "kubectl")


# --- --live-git on a real repository ------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=Planner Test", "-c", "user.email=test@example.invalid"]
    return run_tool(["git", "-C", str(repo), *identity, *args])


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A repo whose HEAD holds the seed sample's manifests with both Services on Cluster,
    and whose work tree switches them to Local (the commit under review)."""
    repo = tmp_path / "repo"
    (repo / "desired").mkdir(parents=True)
    for source in (SEED / "desired").glob("*.yaml"):
        text = source.read_text().replace(
            "externalTrafficPolicy: Local", "externalTrafficPolicy: Cluster"
        )
        (repo / "desired" / source.name).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    for source in (SEED / "desired").glob("*.yaml"):
        (repo / "desired" / source.name).write_text(source.read_text())
    return repo


def test_live_git_diffs_against_the_ref_with_statuses_unknown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, git_repo: Path
) -> None:
    monkeypatch.chdir(git_repo)
    code, out, _ = run(capsys, "desired", "--live-git", "HEAD", "--output", "json")
    data = json.loads(out)
    assert code == 1
    named = git(git_repo, "rev-parse", "HEAD")[:12]
    assert data["statuses_known"] is False
    assert data["live_source"] == f"git HEAD (commit {named})"
    assert GIT_STATUS_NOTE in data["notes"]
    assert {(c["name"], c["op"]) for c in data["changes"]} == {
        ("dns-tcp", "update"),
        ("dns-udp", "update"),
    }
    assert data["groups"][0]["ips_source"] == "requested"
    # The model starts from the requested IPs: the seed's outcome, with no cluster at all.
    assert data["predictions"]["metallb-0.14"]["stuck"] == ["dns/dns-tcp", "dns/dns-udp"]


def test_live_git_against_the_same_commit_has_no_changes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, git_repo: Path
) -> None:
    _git(git_repo, "commit", "-q", "-am", "to Local")
    monkeypatch.chdir(git_repo)
    code, out, _ = run(capsys, "desired", "--live-git", "HEAD")
    assert code == 0
    assert "statuses unknown" in out


def test_live_git_with_an_unknown_ref(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, git_repo: Path
) -> None:
    monkeypatch.chdir(git_repo)
    code, out, err = run(capsys, "desired", "--live-git", "no-such-branch")
    assert_one_line_error(code, out, err, "no-such-branch")


# --- Secret values ------------------------------------------------------------------------------


def _secret(data: str, string_data: str | None = None) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata: {name: tsig-key, namespace: dns}",
        f"data: {{password: {data}}}",
    ]
    if string_data:
        lines.append(f"stringData: {{token: {string_data}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("output", ["text", "markdown", "json"])
def test_secret_values_never_reach_any_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "secret.yaml").write_text(_secret(SECRET_DATA, SECRET_PLAIN))
    new = tmp_path / "new"
    new.mkdir()
    (new / "secret.yaml").write_text(_secret(SECRET_DATA).replace("tsig-key", "new-key"))
    live = tmp_path / "live.yaml"
    live.write_text(_secret(SECRET_LIVE))
    for path in (desired, new):
        code, out, err = run(capsys, str(path), "--live", str(live), "--output", output)
        assert code == 1, err
        for value in (SECRET_DATA, SECRET_PLAIN, SECRET_LIVE, "secret-token-value"):
            assert value not in out and value not in err


# --- colour on a terminal -----------------------------------------------------------------------


def test_colour_only_on_a_terminal() -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "diff", *SEED_ARGS],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the program exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 1
    assert b"\x1b[" in b"".join(chunks)
