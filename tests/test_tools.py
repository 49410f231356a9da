"""planner.tools: PATH lookup, running programs, and the errors users see."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from planner.errors import ToolFailedError, ToolMissingError
from planner.tools import (
    ToolTimedOutError,
    find_tool,
    redact_argv,
    run_tool,
    stderr_tail,
)

PY = sys.executable


def test_find_tool_returns_the_path_of_a_program_on_path() -> None:
    found = find_tool("git")
    assert Path(found).name == "git"
    assert Path(found).is_file()


@pytest.mark.parametrize(
    ("tool", "hint"),
    [
        ("kubectl", "https://kubernetes.io/docs/tasks/tools/"),
        ("kustomize", "kubectl kustomize"),
        ("helm", "https://helm.sh/docs/intro/install/"),
        ("git", "https://git-scm.com/downloads"),
        ("frobnicate", "install frobnicate"),
    ],
)
def test_missing_tool_names_the_tool_and_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str, hint: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError) as caught:
        find_tool(tool)
    assert caught.value.tool == tool
    assert f"`{tool}` was not found on PATH" in str(caught.value)
    assert hint in str(caught.value)


def test_run_tool_looks_up_argv0_on_path_and_returns_stdout() -> None:
    assert run_tool(["git", "--version"]).startswith("git version ")


def test_run_tool_feeds_stdin_and_honours_cwd_and_env(tmp_path: Path) -> None:
    script = "import os, sys; print(sys.stdin.read().upper(), os.getcwd(), os.environ['PLANNER_T'])"
    out = run_tool([PY, "-c", script], cwd=tmp_path, stdin="hello", env={"PLANNER_T": "x1"})
    assert out.split() == ["HELLO", str(tmp_path.resolve()), "x1"]


def test_run_tool_without_stdin_gives_the_program_an_empty_one() -> None:
    assert run_tool([PY, "-c", "import sys; print(repr(sys.stdin.read()))"]).strip() == "''"


def test_failing_program_raises_with_argv_exit_code_and_last_stderr_line() -> None:
    script = "import sys; sys.stderr.write('first\\nError: it broke\\n\\n'); sys.exit(3)"
    with pytest.raises(ToolFailedError) as caught:
        run_tool([PY, "-c", script])
    err = caught.value
    assert err.returncode == 3
    assert err.argv == [PY, "-c", script]
    assert err.stderr == "first\nError: it broke"
    assert str(err).endswith("failed with exit code 3: Error: it broke")


def test_failure_message_never_shows_stdin_or_credential_flags() -> None:
    argv = [PY, "-c", "import sys; sys.exit(1)", "--token", "s3cr3t", "--password=hunter2"]
    with pytest.raises(ToolFailedError) as caught:
        run_tool(argv, stdin="password: topsecret")
    message = str(caught.value)
    for secret in ("s3cr3t", "hunter2", "topsecret"):
        assert secret not in message
    assert "--token *** --password=***" in message


def test_timeout_kills_the_program_and_says_so() -> None:
    with pytest.raises(ToolTimedOutError) as caught:
        run_tool([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert "timed out after 0.5 seconds" in str(caught.value)


def test_a_program_that_cannot_start_is_a_tool_failure(tmp_path: Path) -> None:
    not_executable = tmp_path / "tool"
    not_executable.write_text("no shebang, no exec bit\n")
    with pytest.raises(ToolFailedError) as caught:
        run_tool([str(not_executable)])
    assert caught.value.returncode == 126
    assert "could not start" in str(caught.value)


def test_missing_program_in_run_tool_is_tool_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="`helm` was not found"):
        run_tool(["helm", "template", "x", "."])


def test_redact_argv_masks_only_credential_values() -> None:
    shown = redact_argv(["kubectl", "--token", "abc", "--context", "prod", "--username=me"])
    assert shown == ["kubectl", "--token", "***", "--context", "prod", "--username=***"]


def test_stderr_tail_keeps_the_last_non_blank_lines() -> None:
    stderr = "\n".join(f"line {n}" for n in range(30)).encode() + b"\n\n\xff\n"
    tail = stderr_tail(stderr, lines=3).splitlines()
    assert tail == ["line 28", "line 29", "\ufffd"]
