"""The `planner` command line: parses arguments and hands over to one verb module each.

Every verb lives in `planner/commands/<verb>.py` as a click command that only parses its options
and calls library code; its module is imported only when that verb runs (or help lists it).
User errors (`PlannerError`) become one line on stderr and exit code 2. Anything else is a bug:
one "internal error" line and exit code 4 (EXIT_INTERNAL_ERROR), never a code a wrapper could
read as success or as a verdict (0, 1, 3); the traceback only with --debug or PLANNER_DEBUG=1.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

import click

from planner import __version__
from planner.commands import VERBS, LazyCommands
from planner.commands._shared import COLOR_MODES, leaving_to_the_os, never_freed
from planner.errors import PlannerError

# An unexpected exception: its own code, so that no caller mistakes a crash for a verdict.
EXIT_INTERNAL_ERROR = 4
DEBUG_ENV = "PLANNER_DEBUG"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="planner")
@click.option("--debug", is_flag=True, help="Show a traceback for errors (for bug reports).")
@click.option(
    "--color",
    type=click.Choice(COLOR_MODES),
    default="auto",
    show_default=True,
    help="Colour reports: auto (only a terminal, never with NO_COLOR set or TERM=dumb), "
    "always, never. A command's own --color wins.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, color: str) -> None:
    """Plan MetalLB shared-IP changes so that no Service goes <pending>."""
    ctx.obj = {"debug": debug, "color": color}


# Each verb's module is imported when click looks the verb up: `planner diff` loads no other verb.
cli.commands = LazyCommands(VERBS)


# The modules of pyproject.toml's dependencies, by the distribution that provides them (a
# test checks the two lists agree).
DEPENDENCY_MODULES = {
    "yaml": "PyYAML",
    "ruamel": "ruamel.yaml",
    "jsonpatch": "jsonpatch",
    "jsonpointer": "jsonpatch",  # jsonpatch's own dependency
    "networkx": "networkx",
    "click": "click",
    "jsonschema": "jsonschema",
    "yaml_rs": "yaml-rs",  # imported only where its absence is fine (sources/fast_yaml.py)
    "orjson": "orjson",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests call this directly). Without
    `argv` (the console script) the process is about to end: see _ending."""
    if argv is None:
        leaving_to_the_os()
    code = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        _ending()
    return code


def _ending() -> None:
    """Take every object still alive out of the cyclic collector's sight: the interpreter's
    shutdown would run full collections over all of them (the modules, their classes and
    functions) only to free memory the OS takes back at exit anyway (the seed diff: 13-19 of
    its 150-170 CPU ms, bench/README.md "startup"). The rest of the shutdown still runs: atexit
    handlers, streams flushed, modules cleared. Written files are closed before (emit). What
    the verb left to the OS (its report or plan) is never freed either (never_freed)."""
    never_freed()
    gc.freeze()


def _run(args: list[str]) -> int:
    """The verb's exit code, user errors and bugs turned into one line on stderr."""
    debug = "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        result = cli.main(args=args, prog_name="planner", standalone_mode=False)
    except PlannerError as err:
        if debug:
            import traceback  # only --debug prints one: not worth importing on every start

            traceback.print_exc()
        click.echo(f"planner: error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("planner: aborted", err=True)
        return 2
    except click.ClickException as err:
        err.show()
        return 2
    except click.exceptions.Exit as err:
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("planner: interrupted", err=True)
        return 130
    except ModuleNotFoundError as err:
        missing = DEPENDENCY_MODULES.get((err.name or "").split(".")[0])
        if missing is None:
            return _internal_error(err, debug)
        # Not a bug: an install without its dependencies (e.g. the package copied, or --no-deps).
        click.echo(
            f"planner: error: this Python ({sys.executable}) lacks {missing}, a dependency of "
            "planner: install planner with its dependencies (README: pip install -c "
            "constraints.txt .)",
            err=True,
        )
        return 2
    except MemoryError:
        # A limit, not a bug to report: simulating one sharing group of about 1,000 Services
        # needs more than 6 GB today (issue 16). Fail closed, and say what it was.
        click.echo(
            "planner: error: out of memory while planning (one sharing group of many hundreds "
            "of Services is the known cause); no verdict was reached",
            err=True,
        )
        return EXIT_INTERNAL_ERROR
    except Exception as err:  # noqa: BLE001 - the last resort: a bug must fail closed
        return _internal_error(err, debug)
    return result if isinstance(result, int) else 0


def _internal_error(err: BaseException, debug: bool) -> int:
    """A bug: one line on stderr (the traceback too when debugging), exit EXIT_INTERNAL_ERROR."""
    if debug:
        import traceback

        traceback.print_exc()
    try:
        detail = str(err)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the crash
        detail = ""
    what = " ".join(f"{type(err).__name__}: {detail}".split())[:300]  # one line, bounded
    click.echo(
        f"planner: internal error: please report it, with the output of the same command run "
        f"with --debug ({what})",
        err=True,
    )
    return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
