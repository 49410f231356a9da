"""Start-up: the CLI imports a verb's library only when that verb runs (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from planner.cli import cli
from planner.commands._lazy import LazyChoice, LazyValue, resolve

ROOT = Path(__file__).resolve().parent.parent

# Run `planner ARGS` in a fresh interpreter and print which modules it imported.
_PROBE = """
import contextlib, io, json, sys
from planner.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# The pipeline's stages: none of them is needed to print the group's help or a version.
_STAGES = ("model", "sources", "diff", "simulate", "analysis", "plan", "render", "apply", "gitops")


def _imported(*args: str) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    answer = json.loads(result.stdout)
    return int(answer["code"]), set(answer["modules"])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["completion", "bash"]])
def test_group_help_imports_no_library(args: list[str]) -> None:
    code, modules = _imported(*args)
    assert code == 0
    assert "networkx" not in modules
    assert "yaml" not in modules
    stages = sorted(m for m in modules if m.split(".")[1:2] and m.split(".")[1] in _STAGES)
    assert stages == []


def test_diff_imports_the_pipeline_but_not_networkx() -> None:
    # networkx orders plan units (planner.plan.graph); a diff does not plan, so it never pays it.
    # The probe can tell: a diff does load the pipeline (so the checks above are not vacuous).
    sample = ROOT / "samples" / "seed-dns-local"
    code, modules = _imported("diff", str(sample / "desired"), "--live", str(sample / "live.yaml"))
    assert code == 1
    assert "planner.pipeline" in modules
    assert "networkx" not in modules


def _params() -> list[tuple[str, click.Parameter]]:
    found: list[tuple[str, click.Parameter]] = []

    def walk(command: click.Command, path: str) -> None:
        found.extend((f"{path} {param.name}", param) for param in command.params)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "planner")
    return found


def test_every_lazy_option_resolves() -> None:
    lazy = 0
    for where, param in _params():
        if isinstance(param.type, LazyChoice):
            lazy += 1
            assert param.type.choices == tuple(resolve(param.type.spec)), where
            assert param.type.choices, where
        if isinstance(param.default, LazyValue):
            lazy += 1
            ctx = click.Context(cli)
            assert param.get_default(ctx) == resolve(param.default.spec), where
            assert param.type.convert(param.get_default(ctx), param, ctx) is not None, where
    assert lazy >= 10  # every verb's choices are lazy; a new option names its module the same way


def test_lazy_choice_converts_and_refuses_like_choice() -> None:
    choice = LazyChoice("planner.render.plan:GRAPH_FORMATS")
    assert choice.convert("dot", None, None) == "dot"
    with pytest.raises(click.BadParameter, match="mermaid"):
        choice.convert("svg", None, None)


def test_lazy_value_shows_its_value_in_help() -> None:
    value = LazyValue("planner.analysis.build:DEFAULT_FAIL_ON")
    assert str(value) == "stuck"
    assert value() == "stuck"
    help_text = " ".join(cli.commands["diff"].get_help(click.Context(cli.commands["diff"])).split())
    assert "[default: stuck]" in help_text
    assert "dynamic" not in help_text
