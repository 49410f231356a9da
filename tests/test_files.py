"""planner.files: one atomic writer, the same guarantees for every caller (same-directory temporary
file, fsync, permissions, no half-written file and no leftover temporary file on error)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner import files
from planner.files import atomic_write, stage_beside


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_text_is_written_as_utf8_and_bytes_as_given(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a.txt", "grüße\n")
    atomic_write(tmp_path / "b.bin", b"\xef\xbb\xbfraw")
    assert (tmp_path / "a.txt").read_bytes() == "grüße\n".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\xef\xbb\xbfraw"
    assert _names(tmp_path) == ["a.txt", "b.bin"]


def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("a much longer old content\n", encoding="utf-8")
    atomic_write(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"


def test_a_new_file_gets_what_a_plain_write_would(tmp_path: Path, umask_027: None) -> None:
    path = tmp_path / "new.json"
    atomic_write(path, "{}")
    assert path.stat().st_mode & 0o7777 == 0o640  # 0o666 less the umask, not mkstemp's 0o600


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o600)
    atomic_write(path, "new\n")
    assert path.stat().st_mode & 0o7777 == 0o600


def test_an_explicit_mode_wins(tmp_path: Path) -> None:
    path = tmp_path / "out.yaml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o600)
    atomic_write(path, "new\n", mode=0o644)
    assert path.stat().st_mode & 0o7777 == 0o644


def test_the_data_is_synced_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.json"
    seen: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.append(path.exists())  # the target must not be there yet
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    atomic_write(path, "{}")
    assert seen == [False]
    assert path.read_text(encoding="utf-8") == "{}"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old\n", encoding="utf-8")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert _names(tmp_path) == ["plan.json"]


def test_a_failed_rename_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a directory cannot be replaced by a file
    with pytest.raises(OSError):
        atomic_write(target, "new\n")
    assert _names(tmp_path) == ["taken"]


def test_a_missing_directory_names_the_target_not_the_temporary(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "plan.json"
    with pytest.raises(FileNotFoundError) as caught:
        atomic_write(path, "{}")
    assert caught.value.filename == str(path)
    assert caught.value.strerror


def test_the_temporary_file_is_beside_the_target_and_hidden(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"old\n")
    temporary = stage_beside(path, b"new\n")
    assert temporary.parent == tmp_path and temporary.name.startswith(".a.yaml.")
    assert temporary.read_bytes() == b"new\n" and path.read_bytes() == b"old\n"
    os.replace(temporary, path)
    assert path.read_bytes() == b"new\n" and _names(tmp_path) == ["a.yaml"]


def test_a_taken_temporary_name_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda _: next(names))
    squatter = tmp_path / ".a.yaml.aaaa.tmp"
    squatter.write_bytes(b"someone else's\n")
    temporary = stage_beside(tmp_path / "a.yaml", b"mine\n")
    assert temporary.name == ".a.yaml.bbbb.tmp"
    assert squatter.read_bytes() == b"someone else's\n"
