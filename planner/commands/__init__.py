"""One module per verb; each exposes one click command that parses options and calls the library."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
