"""Crashes fail closed: an unexpected exception is exit code 4 with one line on stderr (the
traceback only with --debug or PLANNER_DEBUG=1), and every wrapper that runs `planner` (the pre-commit
hooks, the Argo CD plugin, the Flux Job; the GitHub Action in tests/render/test_github_action.py)
reads that as a failure, never as a verdict or a success.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from tests.conftest import REPO_ROOT, SAMPLES

SEED = SAMPLES / "seed-dns-local"
# Exit codes that mean something to a caller: success, a verdict, a user error.
MEANINGFUL = {0, 1, 2, 3}


class Injected(RuntimeError):
    """The crash a test injects."""


def inject_crash(
    monkeypatch: pytest.MonkeyPatch, module: str, name: str, error: Exception | None = None
) -> None:
    """Make `module.name` raise, wherever it is bound in a planner module (eager or lazy import)."""
    original = getattr(sys.modules[module], name)

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise error if error is not None else Injected("boom\nsecond line")

    for loaded in list(sys.modules.values()):
        if not getattr(loaded, "__name__", "").startswith("planner"):
            continue
        for bound, value in list(vars(loaded).items()):
            if value is original:  # also under another name (`import generate as generate_stream`)
                monkeypatch.setattr(loaded, bound, crash)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _the_diff_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    inject_crash(monkeypatch, "planner.pipeline", "build_report")


DIFF_ARGS = ["diff", str(SEED / "desired"), "--live", str(SEED / "live.yaml")]


def test_a_crash_exits_4_with_one_line_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PLANNER_DEBUG", raising=False)
    _the_diff_crashes(monkeypatch)
    code, _, err = run(DIFF_ARGS, capsys)
    assert code == 4
    assert code not in MEANINGFUL
    assert err.count("\n") == 1, err
    assert err.startswith("planner: internal error: please report it")
    assert "Injected: boom second line" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["--debug", "PLANNER_DEBUG=1"])
def test_debug_shows_the_traceback(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _the_diff_crashes(monkeypatch)
    argv = DIFF_ARGS
    if how == "--debug":
        monkeypatch.delenv("PLANNER_DEBUG", raising=False)
        argv = ["--debug", *DIFF_ARGS]
    else:
        monkeypatch.setenv("PLANNER_DEBUG", "1")
    code, _, err = run(argv, capsys)
    assert code == 4
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("planner: internal error:")


def test_planner_debug_0_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLANNER_DEBUG", "0")
    _the_diff_crashes(monkeypatch)
    code, _, err = run(DIFF_ARGS, capsys)
    assert (code, "Traceback" in err) == (4, False)


def test_a_user_error_is_still_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["diff", str(SEED / "desired"), "--live", "/nonexistent.yaml"], capsys)
    assert code == 2
    assert err.startswith("planner: error:") and err.count("\n") == 1


def test_a_recursion_error_and_an_unprintable_exception_fail_closed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no")

    for error in (RecursionError("deep"), Unprintable()):
        with monkeypatch.context() as patch:
            inject_crash(patch, "planner.pipeline", "build_report", error)
            code, _, err = run(DIFF_ARGS, capsys)
        assert code == 4, err
        assert err.count("\n") == 1
        assert type(error).__name__ in err


# --- the wrappers: each runs `planner` and must read 4 as a failure -------------------------------


def _hooks() -> dict[str, dict[str, Any]]:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    return {hook["id"]: hook for hook in hooks}


def _entry_argv(hook: dict[str, Any], files: list[str]) -> list[str]:
    """The argv pre-commit runs: entry, then args (the user's, else the hook's), then the files
    when pass_filenames (the flux hook takes its directories as args instead)."""
    words = hook["entry"].split()
    assert words[0] == "planner"
    if hook.get("pass_filenames", True):
        return [*words[1:], *hook.get("args", []), *files]
    return [*words[1:], *files]


@pytest.mark.parametrize(
    ("hook_id", "module", "name"),
    [
        ("planner-annotate-check", "planner.gitops.annotate", "annotate_paths"),
        ("planner-flux-trigger", "planner.gitops.flux_trigger", "update_triggers"),
    ],
)
def test_a_pre_commit_hook_fails_on_a_crash(
    hook_id: str,
    module: str,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # pre-commit fails a hook on any non-zero exit: a crash must never be 0.
    hook = _hooks()[hook_id]
    assert hook["language"] == "python"
    svc = tmp_path / "svc.yaml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\n")
    monkeypatch.chdir(tmp_path)
    __import__(module)
    inject_crash(monkeypatch, module, name)
    target = svc if hook.get("pass_filenames", True) else tmp_path
    code, _, err = run(_entry_argv(hook, [str(target)]), capsys)
    assert code == 4, err
    assert "internal error" in err


def test_the_argocd_plugin_fails_on_a_crash_and_prints_no_manifests(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plugin = yaml.safe_load((REPO_ROOT / "plugins" / "argocd" / "plugin.yaml").read_text())
    command = plugin["spec"]["generate"]["command"]
    assert command[0] == "planner" and "args" not in plugin["spec"]["generate"]
    # No shell in between that could swallow the exit code (`sh -c "planner ... || true"`).
    assert not {"sh", "bash", "-c"} & set(command)
    monkeypatch.chdir(tmp_path)
    import planner.gitops.argocd

    inject_crash(monkeypatch, planner.gitops.argocd.__name__, "generate")
    code, out, err = run(command[1:], capsys)
    assert code == 4, err
    assert out == ""  # Argo CD must never see (and prune to) an empty or partial stream


def _job_container() -> dict[str, Any]:
    job = yaml.safe_load((REPO_ROOT / "plugins" / "flux" / "hook" / "job.yaml").read_text())
    assert job["spec"]["backoffLimit"] == 0  # a crash is not retried into a half-applied state
    (container,) = job["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def test_the_flux_job_fails_on_a_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    container = _job_container()
    # The image's ENTRYPOINT is `planner` itself: no command override, no shell around it.
    assert "command" not in container
    dockerfile = (REPO_ROOT / "plugins" / "flux" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["planner"]' in dockerfile
    import planner.gitops.flux

    inject_crash(monkeypatch, planner.gitops.flux.__name__, "pre_sync")
    code, _, err = run(container["args"], capsys)
    assert code == 4, err  # the Job's container fails, so the app Kustomization is not applied
    assert "internal error" in err
