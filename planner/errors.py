"""The one root error type for user-facing failures.

Library code raises a `PlannerError` subclass carrying one actionable sentence; the CLI prints it
as one line and exits 2. Nothing else should reach the user as a traceback (except with --debug).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Control characters (newlines, escape sequences) and Unicode line separators: a message quoting
# a value that holds them would break the one-line rule, or drive the terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with control characters written as escapes (`\\n`, `\\x1b`): one line stays one."""
    return _UNPRINTABLE.sub(lambda match: repr(match.group())[1:-1], text)


class PlannerError(Exception):
    """A user error: bad input, a missing tool, a failed external command."""

    exit_code = 2

    def __str__(self) -> str:
        return escape_controls(super().__str__())


@dataclass(frozen=True)
class Origin:
    """Where an object came from: file, 0-based document index in the file, 1-based line."""

    file: str
    document: int = 0
    line: int = 1

    def __str__(self) -> str:
        return f"{self.file}: document {self.document + 1}, line {self.line}"


class InputError(PlannerError):
    """Bad input in a manifest or a snapshot; the message names file, document and line."""

    def __init__(self, message: str, origin: Origin | None = None) -> None:
        self.origin = origin
        self.reason = message
        super().__init__(f"{origin}: {message}" if origin else message)


class ToolMissingError(PlannerError):
    """An external program (kubectl, kustomize, helm) is not on PATH."""

    def __init__(self, tool: str, how_to_install: str) -> None:
        self.tool = tool
        super().__init__(f"`{tool}` was not found on PATH; {how_to_install}")


class ToolFailedError(PlannerError):
    """An external program exited non-zero; carries argv, exit code and the end of stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "(no stderr)"
        super().__init__(f"`{' '.join(argv)}` failed with exit code {returncode}: {last}")
