"""Options and helpers several verbs share: the desired and live sources, cluster access, the
target, how reports print (colour, quiet, progress) and atomic output files."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from planner.commands._lazy import LazyChoice, LazyValue
from planner.commands._progress import ProgressReporter
from planner.errors import InputError
from planner.progress import Progress, no_progress

if TYPE_CHECKING:  # the library is imported when a command runs, not when the CLI starts
    from planner.diff import PruneMode
    from planner.diff.scenario import Scenario
    from planner.sources import HelmOptions
    from planner.sources.live import LiveSource
    from planner.sources.states import Unrendered

F = TypeVar("F", bound=Callable[..., Any])

COLOR_MODES = ("auto", "always", "never")
TARGET_HELP = "The MetalLB the cluster runs (what predictions, plans and nudges are made for)."

# kubectl's own flags, passed through to every kubectl call (planner.kubectl.Kubectl).
_CLUSTER_OPTIONS = (
    click.option(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file for kubectl (kubectl's --kubeconfig; default: kubectl's own).",
    ),
    click.option(
        "--context",
        metavar="NAME",
        help="kubeconfig context for kubectl (kubectl's --context; default: the current one).",
    ),
)


def _checked_lb_class(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """--lb-class as given, once it is a class a Service can carry (one line, exit 2, if not)."""
    from planner.objects import check_lb_class

    return check_lb_class(value, "--lb-class")


LB_CLASS_OPTION = click.option(
    "--lb-class",
    metavar="NAME",
    default="",
    callback=_checked_lb_class,
    help="MetalLB's own --lb-class; Services of any other loadBalancerClass (any class at "
    "all when unset) are not MetalLB's: in no sharing group and no prediction.",
)

_SOURCE_OPTIONS = (
    click.argument("desired", nargs=-1),
    click.option(
        "--live",
        "live_file",
        metavar="FILE",
        help='A saved live snapshot (YAML or JSON); "-" reads it from stdin.',
    ),
    click.option("--live-kubectl", is_flag=True, help="Read live state with kubectl (read-only)."),
    *_CLUSTER_OPTIONS,
    click.option("--live-git", metavar="REF", help="Live state: the DESIRED paths at a git ref."),
    click.option(
        "--prune",
        type=LazyChoice("planner.diff:PRUNE_MODES"),
        default="tracked",
        show_default=True,
        help="Which live objects missing from DESIRED count as deletions (docs/diff.md).",
    ),
    click.option(
        "--helm-values", multiple=True, metavar="FILE", help="Values file for charts (repeatable)."
    ),
    click.option("--helm-release", metavar="NAME", help="Release name for charts."),
    click.option(
        "--fetch-charts",
        is_flag=True,
        help="Let helm pull the remote charts of HelmReleases and Argo CD Applications (once "
        "each, removed at the end); default: they are not rendered (docs/security.md).",
    ),
    click.option(
        "--argocd-build-options",
        "argocd_build_options",
        metavar="OPTIONS",
        help="Argo CD's kustomize build options (argocd-cm's kustomize.buildOptions, e.g. "
        '"--enable-helm --load-restrictor LoadRestrictionsNone"), instead of those the '
        "repository declares (docs/sources.md).",
    ),
    LB_CLASS_OPTION,
    click.option(
        "--pools",
        "pool_paths",
        multiple=True,
        metavar="PATH",
        help="A file or directory holding MetalLB pools kept outside DESIRED (repeatable; "
        "IPAddressPools, the legacy ConfigMap, configInline of Helm values; docs/sources.md).",
    ),
)


@dataclass(frozen=True)
class Sources:
    """What the source options name: the desired paths, one live source, pruning and helm."""

    desired: tuple[str, ...]
    live: LiveSource
    prune: PruneMode
    helm: HelmOptions
    lb_class: str = ""  # MetalLB's --lb-class ("" when it runs without one)
    pools: tuple[str, ...] = ()  # --pools PATH...: pools kept outside DESIRED

    def scenario(self, progress: Progress = no_progress) -> Scenario:
        """Read everything and diff it (the first step of every verb that plans)."""
        from planner.pipeline import load_scenario

        return load_scenario(
            list(self.desired) or ["."],
            self.live,
            prune=self.prune,
            helm=self.helm,
            progress=progress,
            lb_class=self.lb_class,
            pools=self.pools,
        )


def source_options(command: F) -> F:
    """DESIRED... plus exactly one live source (--live, --live-kubectl, --live-git), --prune,
    the helm options and --pools, handed to the command as one `sources: Sources` argument."""

    @functools.wraps(command)
    def with_sources(
        *,
        desired: tuple[str, ...],
        live_file: str | None,
        live_kubectl: bool,
        kubeconfig: str | None,
        context: str | None,
        live_git: str | None,
        prune: PruneMode,
        helm_values: tuple[str, ...],
        helm_release: str | None,
        fetch_charts: bool,
        argocd_build_options: str | None,
        lb_class: str,
        pool_paths: tuple[str, ...],
        **options: Any,
    ) -> Any:
        from planner.sources import HelmOptions
        from planner.sources.desired import STDIN

        live = live_source(live_file, live_kubectl, Cluster(kubeconfig, context), live_git)
        if live_file == STDIN and STDIN in desired:
            raise InputError(
                'stdin ("-") can be read once: give it to DESIRED or to --live, not both'
            )
        with contextlib.ExitStack() as run:
            charts = None
            if fetch_charts:  # what helm pulls lives as long as the command, not longer
                from planner.sources.helm_fetch import ChartFetcher

                charts = run.enter_context(ChartFetcher())
            kustomize_build = None
            if argocd_build_options is not None:
                from planner.sources.argocd_build_options import given_options

                kustomize_build = given_options(argocd_build_options)
            helm = HelmOptions(
                release=helm_release,
                values=helm_values,
                charts=charts,
                kustomize_build=kustomize_build,
            )
            sources = Sources(desired, live, prune, helm, lb_class, pool_paths)
            return command(sources=sources, **options)

    for option in reversed(_SOURCE_OPTIONS):
        with_sources = option(with_sources)
    return with_sources  # type: ignore[return-value]


def target_option(command: F) -> F:
    """--target: the MetalLB the cluster runs (the same option on every verb)."""
    return click.option(
        "--target",
        type=LazyChoice("planner.model.controller:BEHAVIORS"),
        default=LazyValue("planner.model.controller:DEFAULT_TARGET"),
        show_default=True,
        help=TARGET_HELP,
    )(command)


@dataclass(frozen=True)
class Cluster:
    """Which cluster kubectl talks to: kubectl's --kubeconfig and --context (None: its default)."""

    kubeconfig: str | None = None
    context: str | None = None


def cluster_options(command: F) -> F:
    """--kubeconfig and --context, handed to the command as one `cluster: Cluster` argument."""

    @functools.wraps(command)
    def with_cluster(*, kubeconfig: str | None, context: str | None, **options: Any) -> Any:
        return command(cluster=Cluster(kubeconfig, context), **options)

    for option in reversed(_CLUSTER_OPTIONS):
        with_cluster = option(with_cluster)
    return with_cluster  # type: ignore[return-value]


def live_source(
    live_file: str | None, live_kubectl: bool, cluster: Cluster, live_git: str | None
) -> LiveSource:
    """The one live source the options name; InputError for none, several, or a stray
    --context / --kubeconfig (they only apply to --live-kubectl)."""
    given = [
        name
        for name, value in (
            ("--live", live_file),
            ("--live-kubectl", live_kubectl),
            ("--live-git", live_git),
        )
        if value
    ]
    if len(given) != 1:
        found = f"got {' and '.join(given)}" if given else "got none"
        raise InputError(
            f"give exactly one of --live FILE, --live-kubectl, --live-git REF ({found})"
        )
    for flag, value in (("--context", cluster.context), ("--kubeconfig", cluster.kubeconfig)):
        if value and not live_kubectl:
            raise InputError(f"{flag} applies only to --live-kubectl")
    from planner.sources.live import LiveSource

    if live_file:
        return LiveSource.file(live_file)
    if live_git:
        return LiveSource.git(live_git)
    return LiveSource.kubectl(cluster.context, cluster.kubeconfig)


# --- how reports print: colour, quiet, progress ---------------------------------------------


def color_enabled(mode: str, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """The one colour decision: always / never as asked; auto colours only a terminal, and
    never when NO_COLOR is set (any non-empty value) or TERM is dumb."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# What verbs built for their output, kept to the end of the console script's run (None: not
# such a run, nothing is kept). The process ends right after the verb, and the OS takes its
# memory back at once: freeing a 10,000-Service report or plan object by object first cost
# 0.06 CPU s (bench/README.md, "perf14").
_LEFT_TO_THE_OS: list[object] | None = None


def leaving_to_the_os() -> None:
    """Keep from now on what verbs hand to `left_to_the_os` (the console script's run only:
    a caller that runs verbs in-process, tests among them, frees their data as usual)."""
    global _LEFT_TO_THE_OS
    _LEFT_TO_THE_OS = []


def left_to_the_os(*objects: object) -> None:
    """Keep `objects` (a verb's report or plan, once written) alive until the process ends,
    when `leaving_to_the_os` was called; else nothing."""
    if _LEFT_TO_THE_OS is not None:
        _LEFT_TO_THE_OS.extend(objects)


def never_freed() -> None:
    """Make what is kept a reference cycle: the interpreter's shutdown clears every module, and
    the cycle keeps it alive then; once `gc.freeze()` (cli._ending) took every object out of
    the collector's sight, no collection frees it either."""
    if _LEFT_TO_THE_OS is not None:
        _LEFT_TO_THE_OS.append(_LEFT_TO_THE_OS)


@dataclass
class Terminal:
    """How one command prints: colour decided once, quiet or not, and its progress reporter."""

    color: bool
    quiet: bool
    progress: ProgressReporter

    def emit(self, text: str | Iterable[str], output_file: Path | None) -> None:
        """The report: to `output_file` (atomically, also when quiet), else stdout unless quiet.
        `text` may come in pieces, each written as it is read (never joined into one string)."""
        self.progress.finish()
        if output_file is not None:
            emit(text, output_file)
        elif not self.quiet:
            chunks = [text] if isinstance(text, str) else _whole_lines(text)
            for chunk in chunks:
                for piece in _pieces(chunk):
                    click.echo(piece, nl=False, color=self.color)

    def echo(self, line: str, *, err: bool = False) -> None:
        """One line of the report body (stdout, or stderr with `err`); nothing when quiet."""
        self.progress.finish()
        if not self.quiet:
            click.echo(line, err=err, color=self.color and not err)


# Stdout takes a long report in pieces of whole lines: written whole, a 344 MB JSON plan (100,000
# Services) was encoded into one more 344 MB copy (bench/README.md, "Memory of sampled runs").
_PIECE_CHARS = 1 << 20


def _pieces(text: str) -> Iterator[str]:
    """`text` in pieces of whole lines of about _PIECE_CHARS (an ANSI code never spans two)."""
    start = 0
    while len(text) - start > _PIECE_CHARS:
        end = text.find("\n", start + _PIECE_CHARS) + 1
        if end == 0:
            break
        yield text[start:end]
        start = end
    yield text[start:]


def _whole_lines(pieces: Iterable[str]) -> Iterator[str]:
    """The text of `pieces`, each cut after its last line break (the rest goes with the next):
    as `_pieces`, no write ends inside a line."""
    carry = ""
    for piece in pieces:
        text = carry + piece
        cut = text.rfind("\n") + 1
        if cut:
            yield text[:cut]
        carry = text[cut:]
    if carry:
        yield carry


def global_color() -> str:
    """The group's --color (auto when the command runs outside the `planner` group)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return str(obj.get("color", "auto")) if isinstance(obj, dict) else "auto"


def terminal_of(
    color: str | None, quiet: bool, environ: Mapping[str, str] = os.environ
) -> Terminal:
    """The Terminal for a command's --color (None: the global one) and --quiet."""
    mode = color or global_color()
    reporter = ProgressReporter(
        sys.stderr, enabled=not quiet, rewrite=environ.get("TERM") != "dumb"
    )
    return Terminal(color_enabled(mode, sys.stdout, environ), quiet, reporter)


COLOR_OPTION = click.option(
    "--color",
    type=click.Choice(COLOR_MODES),
    default=None,
    help="Colour the report: auto (a terminal, unless NO_COLOR is set or TERM=dumb), always, "
    "never. Default: the global --color, which defaults to auto.",
)
QUIET_OPTION = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No report body: keep only the exit code and error messages "
    "(an --output-file is still written).",
)


def report_options(command: F) -> F:
    """--color and -q/--quiet, handed to the command as one `terminal: Terminal` argument."""

    @functools.wraps(command)
    def with_terminal(*, color: str | None, quiet: bool, **options: Any) -> Any:
        terminal = terminal_of(color, quiet)
        try:
            return command(terminal=terminal, **options)
        finally:
            terminal.progress.finish()

    return COLOR_OPTION(QUIET_OPTION(with_terminal))  # type: ignore[return-value]


def emit(text: str | Iterable[str], output_file: Path | None) -> None:
    """Print `text` (or its pieces), or write it to `output_file` atomically (never half-written)."""
    if output_file is None:
        for piece in [text] if isinstance(text, str) else text:
            click.echo(piece, nl=False)
        return
    from planner.files import atomic_write  # secrets and hmac: only a written file needs them

    try:
        atomic_write(output_file, text, mode=0o644)
    except OSError as err:
        raise InputError(f"cannot write `{output_file}`: {err.strerror or err}") from err


def exploration_options(command: F) -> F:
    """--seed and --max-states: how every verb that simulates explores delivery orders."""
    seed = click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of sampled orders."
    )
    max_states = click.option(
        "--max-states",
        type=click.IntRange(min=1),
        default=LazyValue("planner.simulate.world:DEFAULT_MAX_STATES"),
        show_default=True,
        help="State budget of one component's exploration; beyond it, claims rest on a sample.",
    )
    return seed(max_states(command))


def say_not_in_plan(unrendered: Iterable[Unrendered], terminal: Terminal) -> None:
    """One note on stderr per source not rendered or not followed: never a silent "nothing to
    do", an empty picture or a plan applied without them (docs/sources.md)."""
    for entry in unrendered:
        terminal.echo(f"note: {entry}, and are not in this plan", err=True)


accept_sampled_option = click.option(
    "--accept-sampled",
    is_flag=True,
    help="Exit 0 when a claim only held on sampled schedules (not proved on every state).",
)


def output_file_option(what: str) -> Callable[[F], F]:
    """--output-file: write `what` there (atomically, only on success) instead of stdout."""
    return click.option(
        "--output-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Write {what} here (atomically, only on success) instead of stdout.",
    )
