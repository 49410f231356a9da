"""The composite GitHub Action (action.yml): its shape, and its scripts run for real with bash.

`planner` is replaced on PATH by a small script that records its arguments and exits with the
code a test asks for, so the exit-code policy is tested for every code; when the real
`planner diff` command exists, one test also runs the diff step against a sample.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, SAMPLES

ACTION = REPO_ROOT / "action.yml"
BASH = shutil.which("bash")
GIT = shutil.which("git")
# How GitHub Actions runs `shell: bash` steps (errexit and pipefail on).
GITHUB_BASH = [BASH or "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is needed to run the action's scripts")

FAKE_PLANNER = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_ARGV"
if [ "$FAKE_CODE" = 2 ]; then echo "planner: error: desired/x.yaml: document 1, line 3: bad" >&2;
else echo "## shared-ip planner: fake report"; fi
exit "$FAKE_CODE"
"""


def _action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return loaded


def _step(step_id_or_name: str) -> dict[str, Any]:
    for step in _action()["runs"]["steps"]:
        if step_id_or_name in (step.get("id"), step.get("name")):
            return step
    raise AssertionError(f"no step {step_id_or_name!r} in action.yml")


def _env_for(
    step: dict[str, Any], inputs: dict[str, str], github: dict[str, str]
) -> dict[str, str]:
    """The step's env block with `${{ inputs.x }}` / `${{ github.x }}` filled in as Actions would."""
    env = {}
    for name, template in step.get("env", {}).items():
        expression = str(template).removeprefix("${{").removesuffix("}}").strip()
        scope, _, key = expression.partition(".")
        env[name] = {"inputs": inputs, "github": github}.get(scope, {}).get(key, "")
    return env


def _defaults() -> dict[str, str]:
    return {name: str(spec.get("default", "")) for name, spec in _action()["inputs"].items()}


def _run_diff_step(
    tmp_path: Path,
    inputs: dict[str, str],
    code: int,
    cwd: Path,
    base_ref: str = "",
    fake_planner: str = FAKE_PLANNER,
) -> tuple[int, dict[str, str], str, list[str]]:
    """Run the diff step's script; return its status, its outputs, the summary and planner argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "planner"
    fake.write_text(fake_planner)
    fake.chmod(0o755)
    step = _step("diff")
    env = {
        **os.environ,
        **_env_for(step, {**_defaults(), **inputs}, {"base_ref": base_ref}),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "FAKE_ARGV": str(tmp_path / "argv"),
        "FAKE_CODE": str(code),
    }
    done = subprocess.run(
        [*GITHUB_BASH, step["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    outputs = dict(
        line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines() if line
    )
    argv_file = tmp_path / "argv"
    argv = argv_file.read_text().splitlines() if argv_file.exists() else []
    return done.returncode, outputs, (tmp_path / "summary").read_text(), argv


def _judge(code: str, fail_on: str = "stuck") -> subprocess.CompletedProcess[str]:
    step = _step("Judge the exit code")
    env = {**os.environ, "PLANNER_EXIT_CODE": code, "PLANNER_FAIL_ON": fail_on}
    return subprocess.run(
        [*GITHUB_BASH, step["run"]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_action_is_composite_with_the_documented_inputs_and_outputs() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {
        "desired",
        "live-git",
        "live-file",
        "target",
        "fail-on",
        "fetch-charts",
        "argocd-build-options",
        "python-version",
        "working-directory",
        "fail-job",
    }
    assert action["inputs"]["fail-on"]["default"] == "stuck"
    assert action["inputs"]["fetch-charts"]["default"] == "false"  # offline unless asked
    assert action["inputs"]["target"]["default"] == "metallb-0.15"
    assert set(action["outputs"]) == {"report-file", "exit-code"}


def test_the_action_installs_its_own_checkout_with_setup_python() -> None:
    setup = _action()["runs"]["steps"][0]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    assert "pip install" in _step("Install shared-ip planner")["run"]
    assert '"$GITHUB_ACTION_PATH"' in _step("Install shared-ip planner")["run"]


def test_no_input_is_spliced_into_a_script() -> None:
    # Script injection: inputs must reach scripts through env, never through ${{ }} in `run`.
    for step in _action()["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_a_live_snapshot_is_passed_with_the_policy_flags(tmp_path: Path) -> None:
    inputs = {
        "desired": "apps/dns\n  apps/web.yaml",
        "live-file": "live.yaml",
        "fail-on": "pending",
    }
    status, outputs, summary, argv = _run_diff_step(tmp_path, inputs, code=1, cwd=tmp_path)
    assert status == 0
    assert argv == [
        "diff",
        "apps/dns",
        "apps/web.yaml",
        "--live",
        "live.yaml",
        "--output",
        "markdown",
        "--target",
        "metallb-0.15",
        "--fail-on",
        "pending",
    ]
    assert outputs == {"report-file": str(tmp_path / "planner-diff.md"), "exit-code": "1"}
    assert summary == "## shared-ip planner: fake report\n"
    assert Path(outputs["report-file"]).read_text() == summary


@pytest.mark.skipif(GIT is None, reason="git is needed for the --live-git default")
def test_the_base_branch_is_the_default_live_state(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "svc.yaml").write_text("kind: Service\n")
    subprocess.run([*git, "add", "svc.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    status, outputs, _, argv = _run_diff_step(
        tmp_path, {"desired": "svc.yaml"}, code=0, cwd=repo, base_ref="main"
    )
    assert status == 0
    assert argv[:4] == ["diff", "svc.yaml", "--live-git", "origin/main"]
    assert outputs["exit-code"] == "0"


@pytest.mark.parametrize(("fetch", "passed"), [("true", True), ("false", False)])
def test_fetch_charts_passes_the_flag_only_when_true(
    tmp_path: Path, fetch: str, passed: bool
) -> None:
    inputs = {"desired": "k8s", "live-file": "live.yaml", "fetch-charts": fetch}
    _, _, _, argv = _run_diff_step(tmp_path, inputs, code=1, cwd=tmp_path)
    assert ("--fetch-charts" in argv) is passed
    assert argv[:4] == ["diff", "k8s", "--live", "live.yaml"]


@pytest.mark.parametrize(
    ("options", "passed"),
    [
        ("", []),
        (
            "--enable-helm --load-restrictor 'Load Restrictions'",
            ["--enable-helm --load-restrictor 'Load Restrictions'"],
        ),
    ],
)
def test_argocd_build_options_are_passed_as_one_argument_when_set(
    tmp_path: Path, options: str, passed: list[str]
) -> None:
    inputs = {"desired": "k8s", "live-file": "live.yaml", "argocd-build-options": options}
    _, _, _, argv = _run_diff_step(tmp_path, inputs, code=1, cwd=tmp_path)
    given = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--argocd-build-options"]
    assert given == passed  # one argument, never split by the shell
    assert argv[:4] == ["diff", "k8s", "--live", "live.yaml"]


def test_an_explicit_ref_wins_over_the_base_branch(tmp_path: Path) -> None:
    inputs = {"desired": "k8s", "live-git": "v1.2.0"}
    _, _, _, argv = _run_diff_step(tmp_path, inputs, code=1, cwd=tmp_path, base_ref="main")
    assert argv[:4] == ["diff", "k8s", "--live-git", "v1.2.0"]


def test_an_error_is_reported_in_the_summary(tmp_path: Path) -> None:
    inputs = {"desired": "k8s", "live-file": "live.yaml"}
    status, outputs, summary, _ = _run_diff_step(tmp_path, inputs, code=2, cwd=tmp_path)
    assert status == 0  # the step records; the judging step fails the job
    assert outputs["exit-code"] == "2"
    assert "`planner diff` failed (exit code 2)" in summary
    assert "desired/x.yaml: document 1, line 3: bad" in summary


def test_without_any_live_state_the_step_reports_an_error(tmp_path: Path) -> None:
    status, outputs, summary, argv = _run_diff_step(tmp_path, {"desired": "k8s"}, 0, tmp_path)
    assert (status, outputs["exit-code"], argv) == (0, "2", [])
    assert "no live state" in summary


@pytest.mark.parametrize(("code", "fails"), [("0", False), ("1", False), ("2", True), ("3", True)])
def test_the_job_fails_by_the_exit_code_policy(code: str, fails: bool) -> None:
    judged = _judge(code)
    assert (judged.returncode != 0) == fails
    if code == "3":
        assert "::error title=planner diff::" in judged.stdout
        assert "--fail-on stuck" in judged.stdout


# A Python that dies before planner's handler (an import error on a broken install) exits 1 with
# a traceback and no report; a planner that crashes in its handler exits 4 with one line.
CRASHING_PLANNERS = {
    "exit 4": "#!/bin/sh\necho 'planner: internal error: please report it (KeyError: x)' >&2\nexit 4\n",
    "traceback, exit 1": (
        "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
        "echo 'ModuleNotFoundError: No module named jsonschema' >&2\nexit 1\n"
    ),
    "no report, exit 0": "#!/bin/sh\nexit 0\n",
    "killed": "#!/bin/sh\nkill -9 $$\n",
}


@pytest.mark.parametrize("fake", sorted(CRASHING_PLANNERS))
def test_a_crashed_planner_fails_the_job(fake: str, tmp_path: Path) -> None:
    inputs = {"desired": "k8s", "live-file": "live.yaml"}
    status, outputs, summary, _ = _run_diff_step(
        tmp_path, inputs, code=0, cwd=tmp_path, fake_planner=CRASHING_PLANNERS[fake]
    )
    assert status == 0  # the step records; the judging step fails the job
    assert outputs["exit-code"] not in ("0", "1", "3")
    assert "`planner diff` failed (exit code" in summary
    judged = _judge(outputs["exit-code"])
    assert judged.returncode != 0
    assert "::error title=planner diff::" in judged.stdout


@pytest.mark.parametrize("code", ["4", "5", "127", "137"])
def test_any_other_code_fails_the_job(code: str) -> None:
    judged = _judge(code)
    assert judged.returncode != 0
    if code == "4":
        assert "crashed" in judged.stdout


def test_the_judging_step_can_be_switched_off() -> None:
    assert _step("Judge the exit code")["if"] == "inputs.fail-job == 'true'"


def _diff_command_exists() -> bool:
    from planner.commands import COMMANDS

    return any(command.name == "diff" for command in COMMANDS)


def _run_diff_step_on_the_seed(tmp_path: Path, bin_dir: Path) -> None:
    """The action's diff step, run by bash on the seed sample with `bin_dir` first on PATH;
    its outputs land in tmp_path/output and tmp_path/summary."""
    sample = SAMPLES / "seed-dns-local"
    step = _step("diff")
    inputs = {
        **_defaults(),
        "desired": str(sample / "desired"),
        "live-file": str(sample / "live.yaml"),
    }
    env = {
        **os.environ,
        **_env_for(step, inputs, {"base_ref": ""}),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    subprocess.run([*GITHUB_BASH, step["run"]], env=env, check=True, cwd=tmp_path)


@pytest.mark.skipif(not _diff_command_exists(), reason="`planner diff` is not registered yet")
def test_the_real_planner_diff_on_the_seed_sample(tmp_path: Path) -> None:
    bin_dir = tmp_path / "real-bin"
    bin_dir.mkdir()
    launcher = bin_dir / "planner"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m planner.cli "$@"\n')
    launcher.chmod(0o755)
    _run_diff_step_on_the_seed(tmp_path, bin_dir)
    assert "exit-code=1" in (tmp_path / "output").read_text()
    assert (tmp_path / "summary").read_text().startswith("✅ **passes: changes")
    assert "\n## shared-ip planner" in (tmp_path / "summary").read_text()


@pytest.mark.skipif(not _diff_command_exists(), reason="`planner diff` is not registered")
def test_the_real_planner_crashing_fails_the_job(tmp_path: Path) -> None:
    # The real CLI with a crash injected deep in `planner diff`: exit 4, the job fails.
    bin_dir = tmp_path / "real-bin"
    bin_dir.mkdir()
    launcher = bin_dir / "planner"
    inject = (
        "import sys, planner.cli, planner.pipeline, planner.commands.diff as d\n"
        "def crash(*a, **k):\n    raise KeyError('injected')\n"
        "for m in list(sys.modules.values()):\n"
        "    if getattr(m, '__name__', '').startswith('planner') and "
        "getattr(m, 'build_report', None) is not None:\n"
        "        m.build_report = crash\n"
        "sys.exit(planner.cli.main())\n"
    )
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{inject}" "$@"\n')
    launcher.chmod(0o755)
    _run_diff_step_on_the_seed(tmp_path, bin_dir)
    assert "exit-code=4" in (tmp_path / "output").read_text()
    summary = (tmp_path / "summary").read_text()
    assert "internal error" in summary and "KeyError" in summary
    assert _judge("4").returncode != 0


def _doc_yaml_blocks() -> list[Any]:
    text = (REPO_ROOT / "docs" / "github-action.md").read_text()
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]


def test_the_documented_workflow_uses_only_real_inputs() -> None:
    workflow = _doc_yaml_blocks()[0]
    steps = workflow["jobs"]["planner-diff"]["steps"]
    planner = next(s for s in steps if s.get("id") == "planner")
    assert set(planner["with"]) <= set(_action()["inputs"])
    comment = steps[-1]
    # The comment step reads the file the diff step writes: $RUNNER_TEMP/planner-diff.md.
    assert comment["with"]["path"] == "${{ runner.temp }}/planner-diff.md"
    assert 'report="${RUNNER_TEMP:-/tmp}/planner-diff.md"' in _step("diff")["run"]


def test_the_docs_list_every_input() -> None:
    text = (REPO_ROOT / "docs" / "github-action.md").read_text()
    for name in _action()["inputs"]:
        assert f"| `{name}` |" in text
