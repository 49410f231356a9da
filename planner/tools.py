"""The one wrapper for external programs (kubectl, kustomize, helm, git).

Programs are looked up on PATH, never downloaded. A missing program raises `ToolMissingError`
naming how to install it; a failing one raises `ToolFailedError` with argv, exit code and the end
of its stderr. Neither stdin nor the environment ever reaches a message (they may hold secrets).

    >>> out = run_tool(["git", "--version"])
    >>> out.startswith("git version")
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from planner.errors import ToolFailedError, ToolMissingError

DEFAULT_TIMEOUT = 300.0
STDERR_TAIL_LINES = 20

INSTALL_HINTS: dict[str, str] = {
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/) and put it on PATH",
    "kustomize": (
        "install kustomize (https://kubectl.docs.kubernetes.io/installation/kustomize/) "
        "or kubectl, which includes it as `kubectl kustomize`"
    ),
    "helm": "install helm (https://helm.sh/docs/intro/install/) and put it on PATH",
    "git": "install git (https://git-scm.com/downloads) and put it on PATH",
}

# Flags whose value is a credential; their values are masked in error messages.
_SECRET_FLAGS = frozenset({"--token", "--password", "--username", "--client-key", "--pass"})


class ToolTimedOutError(ToolFailedError):
    """An external program ran longer than its timeout and was killed."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        super().__init__(argv, -1, f"timed out after {timeout:g} seconds")


def find_tool(name: str, env: Mapping[str, str] | None = None) -> str:
    """The full path of `name` on PATH (of `env`, else of this process), or ToolMissingError."""
    search_path = (env if env is not None else os.environ).get("PATH", os.defpath)
    import shutil  # with bz2, lzma and zlib: only when a tool is looked for, not at start-up

    found = shutil.which(name, path=search_path)
    if found is None:
        hint = INSTALL_HINTS.get(name, f"install {name} and put it on PATH")
        raise ToolMissingError(name, hint)
    return found


def run_tool(
    argv: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Run `argv` (argv[0] looked up on PATH) and return its stdout; raise on a non-zero exit.

    `env` holds variables laid over the current environment; `stdin` is text fed to the program.
    """
    import subprocess  # some 4 ms at start-up; a text diff of plain files runs no program

    full_env = {**os.environ, **env} if env else None
    program = find_tool(argv[0], full_env) if os.sep not in argv[0] else argv[0]
    shown = redact_argv(argv)
    try:
        done = subprocess.run(
            [program, *argv[1:]],
            cwd=cwd,
            input=stdin.encode() if stdin is not None else None,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env=full_env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise ToolTimedOutError(shown, timeout) from err
    except OSError as err:
        raise ToolFailedError(shown, 126, f"could not start: {err.strerror or err}") from err
    if done.returncode != 0:
        raise ToolFailedError(shown, done.returncode, stderr_tail(done.stderr))
    return done.stdout.decode("utf-8", errors="replace")


def redact_argv(argv: Sequence[str]) -> list[str]:
    """argv as it may be shown: values of credential flags replaced by `***`."""
    shown: list[str] = []
    mask_next = False
    for arg in argv:
        flag, has_value, _ = arg.partition("=")
        if mask_next:
            shown.append("***")
        elif has_value and flag in _SECRET_FLAGS:
            shown.append(f"{flag}=***")
        else:
            shown.append(arg)
        mask_next = not has_value and arg in _SECRET_FLAGS
    return shown


def stderr_tail(stderr: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    """The last `lines` non-blank lines of a program's stderr, decoded leniently."""
    text = stderr.decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
