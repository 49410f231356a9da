"""Writing files so that a reader never sees half of one (the base layer's only file writer).

A write goes to a temporary file in the target's own directory (so the final rename stays on one
file system and is atomic), is flushed and fsync'ed, gets its permissions, and only then replaces
the target. On any error the temporary file is removed and the target is left as it was.

    atomic_write(Path("plan.json"), text)            # keep plan.json's mode (0o666 - umask if new)
    atomic_write(Path("out.yaml"), data, mode=0o644)  # exactly these permissions
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

# What `open(path, "w")` asks for; the kernel takes the umask off (tempfile.mkstemp's 0o600 would
# make every new file private, which no caller meant).
NEW_FILE_MODE = 0o666
_NAME_ATTEMPTS = 100
# Exclusive, and never through a link someone placed at the temporary name (as mkstemp does).
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def atomic_write(path: Path, data: str | bytes | Iterable[str], mode: int | None = None) -> None:
    """Replace `path` with `data` (text, or text in pieces, is written as UTF-8): readers see the
    old or the new file.

    `mode`: the new file's permission bits; None keeps the existing file's, or for a new file
    gives what a plain write would (0o666 less the umask). Errors are the OSError of the step
    that failed; the temporary file is gone and `path` is unchanged.
    """
    temporary = stage_beside(path, data, mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def stage_beside(path: Path, data: str | bytes | Iterable[str], mode: int | None = None) -> Path:
    """A complete, synced temporary copy of `data` beside `path`, ready for `os.replace`.

    For callers that replace several files at once: stage every one first, then rename them
    all, so a failure while writing leaves every target as it was. `mode` as in `atomic_write`.
    """
    permissions = mode if mode is not None else _existing_mode(path)
    handle, temporary = _create_beside(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            if isinstance(data, (str, bytes)):
                stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            else:  # each piece written as it comes: a long report is never whole in memory
                for piece in data:
                    stream.write(piece.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        if permissions is not None:
            os.chmod(temporary, permissions)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _existing_mode(path: Path) -> int | None:
    """The permission bits of the file at `path`, or None when there is none yet."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return None


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, exclusively created `.NAME.<random>.tmp` in `path`'s directory, open for writing."""
    for _ in range(_NAME_ATTEMPTS):
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(temporary, _CREATE_FLAGS, NEW_FILE_MODE), temporary
        except FileExistsError:
            continue
        except OSError as err:  # name the file the caller asked for, not our temporary one
            raise type(err)(err.errno, err.strerror, str(path)) from err
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))
