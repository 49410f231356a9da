"""`planner completion bash|zsh|fish`: print the shell completion script (click's machinery)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PLANNER_COMPLETE"  # what click's completion scripts set to ask for completions


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(planner completion bash)"        (e.g. in ~/.bashrc)
    zsh:   eval "$(planner completion zsh)"         (e.g. in ~/.zshrc)
    fish:  planner completion fish > ~/.config/fish/completions/planner.fish
    """
    from click.shell_completion import get_completion_class  # only this verb needs it

    completer = get_completion_class(shell)
    if completer is None:  # click knows every shell of SHELLS; this guards a future click
        raise click.UsageError(f"no completion for {shell}")
    root = ctx.find_root().command
    click.echo(completer(root, {}, "planner", COMPLETE_VAR).source(), nl=False)
    return 0
