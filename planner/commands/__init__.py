"""One module per verb; each exposes one click command that parses options and calls the library."""

from __future__ import annotations

import click

from planner.commands.annotate import annotate
from planner.commands.apply import apply
from planner.commands.argocd import argocd
from planner.commands.completion import completion
from planner.commands.diff import diff
from planner.commands.flux import flux
from planner.commands.plan import graph, plan, verify

COMMANDS: list[click.Command] = [
    annotate,
    apply,
    argocd,
    completion,
    diff,
    flux,
    graph,
    plan,
    verify,
]
