"""Option values that live in library modules, imported only when click needs them.

`planner --help` and every verb's own import must stay cheap: the command modules name their
choices and defaults as `"module:ATTRIBUTE"` and the library module is imported the first time
click parses, completes or shows that option (never for another verb, never for `--help` of the
group).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click


def resolve(spec: str) -> Any:
    """The attribute `spec` ("package.module:NAME") names, importing its module now."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class LazyValue:
    """A default read from a library module when click asks for it; shown in help as its value
    (a callable default, as click calls it, but not a function, so help does not say "dynamic")."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def __call__(self) -> Any:
        return resolve(self.spec)

    def __str__(self) -> str:
        return str(self())

    def __repr__(self) -> str:
        return f"LazyValue({self.spec!r})"


class LazyChoice(click.Choice[str]):
    """`click.Choice` over a tuple of strings read from a library module on first use."""

    def __init__(self, spec: str, case_sensitive: bool = True) -> None:
        self.spec = spec
        self._choices: tuple[str, ...] | None = None
        super().__init__((), case_sensitive=case_sensitive)

    @property
    def choices(self) -> tuple[str, ...]:
        if self._choices is None:
            self._choices = tuple(str(choice) for choice in resolve(self.spec))
        return self._choices

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        # click's own __init__ assigns the (empty) choices; keep the lazy ones unless given.
        if value:
            self._choices = tuple(value)
