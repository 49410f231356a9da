"""One module per verb; each exposes one click command that parses options and calls the library.

The CLI imports a verb's module the first time click looks the verb up (`LazyCommands`): a
`planner diff` never imports the plan, apply or GitOps verbs (issue 17, start-up). `--help`
lists every verb, so it imports them all, as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

import click

from planner.commands._lazy import resolve

# Each verb's name and where its click command lives ("module:ATTRIBUTE").
VERBS: dict[str, str] = {
    "annotate": "planner.commands.annotate:annotate",
    "apply": "planner.commands.apply:apply",
    "argocd": "planner.commands.argocd:argocd",
    "completion": "planner.commands.completion:completion",
    "diff": "planner.commands.diff:diff",
    "flux": "planner.commands.flux:flux",
    "graph": "planner.commands.plan:graph",
    "plan": "planner.commands.plan:plan",
    "verify": "planner.commands.plan:verify",
}


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name (click's `Group.commands`); a verb's module is imported when
    the verb is first looked up."""

    def __init__(self, where: Mapping[str, str]) -> None:
        self._entries: dict[str, str | click.Command] = dict(where)

    def __getitem__(self, name: str) -> click.Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            command = resolve(entry)
            if not isinstance(command, click.Command) or command.name != name:
                raise TypeError(f"{entry} is not the click command {name!r}")
            self._entries[name] = entry = command
        return entry

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def __getattr__(name: str) -> list[click.Command]:
    """`COMMANDS`: every verb's command, imported now (PEP 562; for callers that walk them all)."""
    if name == "COMMANDS":
        return list(LazyCommands(VERBS).values())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
