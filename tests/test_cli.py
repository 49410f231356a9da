"""The `planner` group as a whole: help on every option, shell completion, the global --color and
the one colour decision (NO_COLOR, TERM=dumb, terminals)."""

from __future__ import annotations

import io
import subprocess
import sys
import tomllib
from collections.abc import Iterator

import click
import pytest

from planner.cli import DEPENDENCY_MODULES, EXIT_INTERNAL_ERROR, cli, main
from planner.commands._shared import color_enabled
from tests.conftest import REPO_ROOT, SAMPLES

SEED = SAMPLES / "seed-dns-local"
SEED_ARGS = [str(SEED / "desired"), "--live", str(SEED / "live.yaml")]
ANSI = "\x1b["


class TtyIO(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def walk(command: click.Command, path: str = "planner") -> Iterator[tuple[str, click.Command]]:
    """Every command of the group, nested groups included, with its full name."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, f"{path} {name}")


def test_every_command_and_every_option_has_help() -> None:
    names = []
    for path, command in walk(cli):
        assert (command.help or "").strip(), f"{path} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                names.append(f"{path} {param.opts[0]}")
                assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help"
    # The walk reached the nested commands and the hidden alias, so it checked what it should.
    assert "planner flux pre-sync --source" in names
    assert "planner argocd generate --kubeconfig" in names
    assert "planner apply --behavior" in names


@pytest.mark.parametrize("command", ["diff", "plan", "graph", "verify", "apply", "flux pre-sync"])
def test_every_report_command_has_the_short_options_and_colour(command: str) -> None:
    found = cli
    for word in command.split():
        assert isinstance(found, click.Group)
        found = found.commands[word]
    opts = {opt for param in found.params for opt in param.opts}
    assert {"-q", "--quiet", "--color"} <= opts
    if command in ("diff", "plan", "graph"):
        assert "-o" in opts and "--output" in opts


@pytest.mark.parametrize(
    "command", ["diff", "plan", "graph", "apply", "flux pre-sync", "argocd generate"]
)
def test_every_command_that_reads_the_cluster_takes_kubeconfig_and_context(command: str) -> None:
    found = cli
    for word in command.split():
        assert isinstance(found, click.Group)
        found = found.commands[word]
    opts = {opt for param in found.params for opt in param.opts}
    assert {"--kubeconfig", "--context"} <= opts


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef planner"),
        ("fish", "complete --no-files"),
    ],
)
def test_completion_prints_the_shells_script(
    shell: str, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert marker in out and "planner" in out and "_PLANNER_COMPLETE" in out, out
    assert err == ""


def test_completion_of_an_unknown_shell_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["completion", "tcsh"]) == 2
    assert "tcsh" in capsys.readouterr().err


# --- colour ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "tty", "env", "expected"),
    [
        ("auto", True, {"TERM": "xterm"}, True),
        ("auto", False, {"TERM": "xterm"}, False),
        ("auto", True, {"TERM": "xterm", "NO_COLOR": "1"}, False),
        ("auto", True, {"TERM": "xterm", "NO_COLOR": ""}, True),  # empty means unset
        ("auto", True, {"TERM": "dumb"}, False),
        ("always", False, {"TERM": "dumb", "NO_COLOR": "1"}, True),
        ("never", True, {"TERM": "xterm"}, False),
    ],
)
def test_the_colour_decision(mode: str, tty: bool, env: dict[str, str], expected: bool) -> None:
    stream = TtyIO() if tty else io.StringIO()
    assert color_enabled(mode, stream, env) is expected


def _diff_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, *argv: str, env: dict[str, str] | None = None
) -> str:
    """Run `planner ARGV` with stdout a terminal and the environment `env`; its stdout."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    stdout = TtyIO()
    monkeypatch.setattr("sys.stdout", stdout)
    assert main(list(argv)) == 1
    return stdout.getvalue()


def test_auto_colours_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ANSI in _diff_on_a_terminal(monkeypatch, "diff", *SEED_ARGS)


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_and_a_dumb_terminal_turn_auto_colour_off(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    out = _diff_on_a_terminal(monkeypatch, "diff", *SEED_ARGS, env=env)
    assert "Summary" in out and ANSI not in out


def test_never_wins_on_a_terminal_globally_and_per_command(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ANSI not in _diff_on_a_terminal(monkeypatch, "--color", "never", "diff", *SEED_ARGS)
    assert ANSI not in _diff_on_a_terminal(monkeypatch, "diff", "--color", "never", *SEED_ARGS)


def test_always_colours_a_pipe_and_the_commands_own_option_wins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # always means always
    assert main(["--color", "always", "diff", *SEED_ARGS]) == 1
    assert ANSI in capsys.readouterr().out
    assert main(["diff", "--color", "always", *SEED_ARGS]) == 1
    assert ANSI in capsys.readouterr().out
    assert main(["--color", "always", "diff", "--color", "never", *SEED_ARGS]) == 1
    assert ANSI not in capsys.readouterr().out


def test_colour_never_reaches_json_or_an_output_file(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    assert main(["--color", "always", "diff", *SEED_ARGS, "-o", "json"]) == 1
    assert ANSI not in capsys.readouterr().out
    report = tmp_path / "report.txt"  # type: ignore[operator]
    assert main(["--color", "always", "diff", *SEED_ARGS, "--output-file", str(report)]) == 1
    assert "Summary" in report.read_text() and ANSI not in report.read_text()


def test_a_missing_dependency_is_one_line_not_an_internal_error() -> None:
    # ruamel.yaml blocked in a fresh interpreter: annotate needs it, and says so in one line.
    code = (
        "import sys; sys.modules['ruamel'] = None; from planner.cli import main; "
        f"sys.exit(main(['annotate', '{SAMPLES / 'seed-dns-local' / 'desired'}', '--check']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "internal error" not in run.stderr
    assert "lacks ruamel.yaml, a dependency of planner" in run.stderr


def test_running_out_of_memory_is_one_line_and_fails_closed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr("planner.pipeline.build_report", exhausted)
    assert main(["diff", *SEED_ARGS]) == EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err
    assert err.startswith("planner: error: out of memory while planning")


def test_every_dependency_has_its_module_named() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {
        dependency.split(">")[0].split("=")[0].lower() for dependency in project["dependencies"]
    }
    assert names == {name.lower() for name in DEPENDENCY_MODULES.values()}


# The seed diff run in a fresh interpreter, then whether the objects alive at exit were frozen
# (read by an atexit hook: it runs before the shutdown's collections). `main()` without argv is
# what the console script runs; with argv, as tests and benches call it.
_FROZEN_AT_EXIT = """
import atexit, gc, sys
from planner.cli import main
atexit.register(lambda: print("frozen:", gc.get_freeze_count() > 0))
how = sys.argv.pop(1)
sys.exit(main() if how == "console" else main(sys.argv[1:]))
"""


def _frozen_at_exit(how: str) -> tuple[str, str]:
    run = subprocess.run(
        [sys.executable, "-c", _FROZEN_AT_EXIT, how, "diff", *SEED_ARGS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    report, frozen = run.stdout.rsplit("frozen: ", 1)
    return report, frozen.strip()


def test_only_the_console_script_freezes_what_is_alive_before_the_interpreter_exits() -> None:
    console_report, console_frozen = _frozen_at_exit("console")
    called_report, called_frozen = _frozen_at_exit("argv")
    assert (console_frozen, called_frozen) == ("True", "False")
    assert console_report == called_report and "Summary" in console_report


_KEPT_AT_EXIT = """
import atexit, sys
import planner.commands._shared as shared
from planner.cli import main


def kept():
    left = shared._LEFT_TO_THE_OS
    if left is None:
        return "nothing"
    names = sorted(type(item).__name__ for item in left if item is not left and item is not None)
    return ",".join(names) + (" in a cycle" if any(item is left for item in left) else "")


atexit.register(lambda: print("kept:", kept()))
how = sys.argv.pop(1)
sys.exit(main() if how == "console" else main(sys.argv[1:]))
"""


def _kept_at_exit(how: str, verb: str, *args: str) -> tuple[str, str]:
    run = subprocess.run(
        [sys.executable, "-c", _KEPT_AT_EXIT, how, verb, *args, *SEED_ARGS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    output, kept = run.stdout.rsplit("kept: ", 1)
    return output, kept.strip()


@pytest.mark.parametrize(
    ("verb", "args", "kept"),
    [
        ("diff", ("-o", "json"), "DiffReport in a cycle"),
        ("plan", ("-o", "json"), "Plan in a cycle"),
        ("plan", ("--verify", "-o", "json"), "Plan,VerifyReport in a cycle"),
    ],
)
def test_only_the_console_script_leaves_the_verbs_output_data_to_the_os(
    verb: str, args: tuple[str, ...], kept: str
) -> None:
    """The console script's report or plan is never freed object by object (the process ends
    right after it); a verb run in-process keeps nothing, and both print the same bytes."""
    console_output, console_kept = _kept_at_exit("console", verb, *args)
    called_output, called_kept = _kept_at_exit("argv", verb, *args)
    assert (console_kept, called_kept) == (kept, "nothing")
    assert console_output == called_output and console_output.startswith("{")


def test_what_is_left_to_the_os_outside_a_console_run_is_freed() -> None:
    """`left_to_the_os` keeps nothing unless the console script's run asked for it."""
    import weakref

    from planner.commands._shared import left_to_the_os

    class Data:
        pass

    data = Data()
    alive = weakref.ref(data)
    left_to_the_os(data)
    del data
    assert alive() is None
