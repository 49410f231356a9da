"""`planner annotate PATH... [--check]`: stamp the group-wide annotations into the repo's YAML."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands._shared import LB_CLASS_OPTION, QUIET_OPTION


@click.command("annotate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing; exit 1 and list the files that would change (for CI and pre-commit).",
)
@click.option(
    "--tree",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Form the groups from every manifest under TREE; check or write only the files "
    "PATH... touch (the pre-commit hook passes the changed files).",
)
@LB_CLASS_OPTION
@QUIET_OPTION
def annotate(
    paths: tuple[Path, ...], check: bool, tree: Path | None, lb_class: str, quiet: bool
) -> int:
    """Write, update or remove the group-wide annotations in YAML files in place.

    Every Service found under PATH... takes part in the group computation; only the annotation
    lines of each file change. Directories rendered by kustomize or Helm are skipped.
    """
    from planner.gitops.annotate import annotate_paths

    result = annotate_paths(list(paths), check=check, tree=tree, lb_class=lb_class)
    for warning in result.warnings:
        click.echo(f"planner annotate: {warning}", err=True)
    for skipped in result.skipped:
        click.echo(f"planner annotate: skipped {skipped.path}: {skipped.reason}", err=True)
    verb = "would annotate" if check else "annotated"
    for path in result.changed if not quiet else ():
        click.echo(f"{verb} {path}")
    if check and result.changed:
        click.echo(
            f"{len(result.changed)} file(s) need the group-wide annotations; "
            "run `planner annotate` on the same paths",
            err=True,
        )
        return 1
    return 0
