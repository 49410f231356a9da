"""Fetch a Flux source artifact (a .tar.gz served by source-controller) and unpack it safely.

The Flux pre-sync hook reads `.status.artifact` of a GitRepository or OCIRepository (through
`planner.kubectl`), then calls this module; it uses only the standard library.

    artifact = artifact_from_source(git_repository_object)
    unpacked = fetch_artifact(artifact.url, artifact.digest, Path("/tmp/src"))
    # unpacked.root now holds the source tree; nothing is there if any check failed.

Every failure is an `ArtifactError` (a `PlannerError`) with one sentence; the destination is
either fully unpacked or absent.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, NamedTuple

from planner.errors import PlannerError

DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_UNPACKED_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_MEMBERS = 50_000
# A pax extended header or a GNU long name/link record: tarfile reads one whole into memory, so its
# size is refused before that. Real ones hold a path and a few times (well under 4 KiB).
DEFAULT_MAX_EXTENDED_HEADER_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 30.0
_CHUNK_BYTES = 64 * 1024

# Flux writes `<algo>:<hex>` (RFC-0005); source-controller may be configured for sha384/sha512.
# blake3 is also possible there but not in hashlib, so it is refused with a clear message.
_DIGEST_RE = re.compile(r"^(?P<algo>[a-z0-9]+):(?P<hex>[0-9a-f]+)$")
_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
_LEGACY_CHECKSUM_RE = re.compile(r"^[0-9a-f]{64}$")
_SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket", "ExternalArtifact")


class ArtifactError(PlannerError):
    """The source artifact could not be read, fetched, verified or unpacked."""


class ArtifactDownloadError(ArtifactError):
    """The artifact URL could not be fetched (network, HTTP status, timeout)."""


class ArtifactDigestError(ArtifactError):
    """The digest is malformed, unsupported, or does not match the downloaded bytes."""


class ArtifactTooLargeError(ArtifactError):
    """The archive, its unpacked content or its member count exceeds a limit."""


class UnsafeArchiveError(ArtifactError):
    """An archive member would escape the destination or is not a plain file, dir or link."""


class SourceArtifact(NamedTuple):
    """What `.status.artifact` of a Flux source says: where to fetch it and what it must hash to."""

    url: str
    digest: str
    revision: str


@dataclass(frozen=True)
class Limits:
    """Size limits applied while downloading and unpacking."""

    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS
    max_extended_header_bytes: int = DEFAULT_MAX_EXTENDED_HEADER_BYTES


@dataclass(frozen=True)
class UnpackedArtifact:
    """A verified, unpacked artifact: its directory and what it took."""

    root: Path
    digest: str
    archive_bytes: int
    unpacked_bytes: int
    members: int


# --- reading the source object -----------------------------------------------------------------


def artifact_from_source(obj: dict[str, Any]) -> SourceArtifact:
    """Read url, digest and revision from `.status.artifact` of a Flux source object."""
    where = _describe_source(obj)
    status = obj.get("status")
    artifact = status.get("artifact") if isinstance(status, dict) else None
    if not isinstance(artifact, dict):
        raise ArtifactError(
            f"{where} has no .status.artifact yet; wait until source-controller reports it Ready"
        )
    url = artifact.get("url")
    if not isinstance(url, str) or not url:
        raise ArtifactError(f"{where} has no .status.artifact.url")
    revision = artifact.get("revision")
    return SourceArtifact(
        url=url,
        digest=_digest_of(artifact, where),
        revision=revision if isinstance(revision, str) else "",
    )


def _describe_source(obj: dict[str, Any]) -> str:
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else "source"
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    name = f"{metadata.get('namespace', '')}/{metadata.get('name', '?')}".lstrip("/")
    if kind not in _SOURCE_KINDS:
        raise ArtifactError(f"{kind} {name} is not a Flux source kind ({', '.join(_SOURCE_KINDS)})")
    return f"{kind} {name}"


def _digest_of(artifact: dict[str, Any], where: str) -> str:
    digest = artifact.get("digest")
    if isinstance(digest, str) and digest:
        try:
            parse_digest(digest)
        except ArtifactDigestError as err:
            raise ArtifactDigestError(f"{where}: {err}") from err
        return digest
    # Sources before RFC-0005 (v1beta2) publish only `checksum`: the bare SHA-256 hex.
    checksum = artifact.get("checksum")
    if isinstance(checksum, str) and _LEGACY_CHECKSUM_RE.match(checksum):
        return f"sha256:{checksum}"
    raise ArtifactDigestError(f"{where} has neither .status.artifact.digest nor a sha256 checksum")


def parse_digest(digest: str) -> tuple[str, str]:
    """Split `<algo>:<hex>` into its parts, refusing algorithms hashlib cannot check."""
    match = _DIGEST_RE.match(digest)
    if not match:
        raise ArtifactDigestError(f"artifact digest {digest!r} is not of the form <algo>:<hex>")
    algo, hex_value = match.group("algo"), match.group("hex")
    if algo not in _HEX_LENGTH:
        raise ArtifactDigestError(
            f"artifact digest algorithm {algo!r} is not supported (use sha256, sha384 or sha512)"
        )
    if len(hex_value) != _HEX_LENGTH[algo]:
        raise ArtifactDigestError(f"artifact digest {digest!r} has the wrong length for {algo}")
    return algo, hex_value


# --- download ----------------------------------------------------------------------------------


def fetch_artifact(
    url: str,
    digest: str,
    dest_dir: Path,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    *,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> UnpackedArtifact:
    """Download `url`, check it against `digest`, and unpack it into `dest_dir` (all or nothing)."""
    limits = Limits(max_bytes, max_unpacked_bytes, max_members)
    algo, expected = parse_digest(digest)
    dest_dir = Path(dest_dir)
    _check_destination(dest_dir)
    try:
        dest_dir.parent.mkdir(parents=True, exist_ok=True)
        # Staging next to the destination: the final rename stays on one file system.
        with tempfile.TemporaryDirectory(prefix=".artifact-", dir=dest_dir.parent) as work:
            archive = Path(work) / "artifact.tar.gz"
            size, actual = _download(url, archive, algo, limits.max_download_bytes, timeout)
            if actual != expected:
                raise ArtifactDigestError(
                    f"artifact from {_redact(url)} has digest {algo}:{actual}, expected {digest}"
                )
            staging = Path(work) / "unpacked"
            staging.mkdir()
            unpacked_bytes, members = unpack_archive(archive, staging, limits)
            _move_into_place(staging, dest_dir)
    except OSError as err:
        raise ArtifactError(
            f"cannot unpack the artifact into {dest_dir}: {err.strerror or err}"
        ) from err
    return UnpackedArtifact(dest_dir, digest, size, unpacked_bytes, members)


def _check_destination(dest_dir: Path) -> None:
    if dest_dir.is_symlink() or (dest_dir.exists() and not dest_dir.is_dir()):
        raise ArtifactError(f"destination {dest_dir} exists and is not a directory")
    if dest_dir.is_dir() and any(dest_dir.iterdir()):
        raise ArtifactError(f"destination {dest_dir} is not empty")


def _move_into_place(staging: Path, dest_dir: Path) -> None:
    if dest_dir.is_dir():
        dest_dir.rmdir()  # checked empty above; rename needs it gone on every platform
    os.replace(staging, dest_dir)


def _download(url: str, target: Path, algo: str, max_bytes: int, timeout: float) -> tuple[int, str]:
    """Stream `url` into `target`, hashing as it goes; stop as soon as `max_bytes` is passed."""
    if not url.startswith(("http://", "https://")):
        raise ArtifactDownloadError(f"artifact URL {_redact(url)} is not http(s)")
    hasher = hashlib.new(algo)
    total = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
            _refuse_announced_size(response, url, max_bytes)
            for chunk in _chunks(response):
                total += len(chunk)
                if total > max_bytes:
                    raise ArtifactTooLargeError(
                        f"artifact from {_redact(url)} is larger than the {max_bytes}-byte limit"
                    )
                hasher.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as err:
        raise ArtifactDownloadError(
            f"fetching artifact {_redact(url)} failed with HTTP {err.code}"
            " (an old artifact may have been garbage-collected; retry with the current one)"
        ) from err
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ArtifactDownloadError(f"fetching artifact {_redact(url)} failed: {reason}") from err
    return total, hasher.hexdigest()


def _refuse_announced_size(response: Any, url: str, max_bytes: int) -> None:
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise ArtifactTooLargeError(
            f"artifact from {_redact(url)} announces {announced} bytes,"
            f" over the {max_bytes}-byte limit"
        )


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK_BYTES):
        yield chunk


def _redact(url: str) -> str:
    """Drop any query string or user-info so tokens in a URL never reach an error message."""
    without_query = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = without_query.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


# --- unpacking ---------------------------------------------------------------------------------


def unpack_archive(archive: Path, dest: Path, limits: Limits = Limits()) -> tuple[int, int]:
    """Check every member of a .tar.gz, then unpack it into the empty dir `dest`.

    Returns (unpacked bytes, member count). On error `dest` may hold a partial tree: callers
    unpack into a staging directory (as `fetch_artifact` does) and discard it.
    """
    try:
        with gzip.open(archive, "rb") as tar_stream:
            # tarfile reads the decompressed stream through the bound: every byte counts
            # (headers, pax records, padding), and nothing past the limit is ever decompressed.
            bounded = _BoundedStream(tar_stream, limits.max_unpacked_bytes)
            with tarfile.open(fileobj=bounded, mode="r:", tarinfo=_bounded_tarinfo(limits)) as tar:
                members, unpacked_bytes = _checked_members(tar, dest, limits)
                for member in members:
                    _extract_member(tar, member, dest)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise UnsafeArchiveError(f"artifact is not a readable .tar.gz archive: {err}") from err
    except OSError as err:
        raise ArtifactError(f"unpacking the artifact failed: {err.strerror or err}") from err
    return unpacked_bytes, len(members)


class _BoundedStream(io.RawIOBase):
    """A read-only file over the decompressed tar stream that refuses to go past `limit` bytes.

    tarfile reads headers and contents and seeks over contents it skips; both move the offset,
    and the offset is what had to be decompressed, so it is what the limit bounds.
    """

    def __init__(self, raw: io.BufferedIOBase, limit: int) -> None:
        super().__init__()
        self.raw = raw
        self.limit = limit
        self.offset = 0

    def read(self, size: int | None = -1) -> bytes:
        room = self.limit - self.offset
        # never ask for more than one byte past the limit: a huge request is never buffered
        wanted = room + 1 if size is None or size < 0 or size > room else size
        chunk = self.raw.read(wanted)
        self._moved_to(self.offset + len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self.offset
        elif whence != os.SEEK_SET:
            raise OSError("the artifact stream only seeks from its start")
        self._moved_to(offset)
        self.offset = self.raw.seek(offset)
        return self.offset

    def tell(self) -> int:
        return self.offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _moved_to(self, offset: int) -> None:
        if offset > self.limit:
            raise ArtifactTooLargeError(
                f"artifact unpacks to more than the {self.limit}-byte limit"
                " (tar headers and padding included)"
            )
        self.offset = offset


# Records tarfile reads whole into memory before the member they describe.
_EXTENDED_HEADER_TYPES = {
    tarfile.XHDTYPE: "pax extended header",
    tarfile.XGLTYPE: "pax global header",
    tarfile.SOLARIS_XHDTYPE: "pax extended header",
    tarfile.GNUTYPE_LONGNAME: "GNU long name",
    tarfile.GNUTYPE_LONGLINK: "GNU long link name",
}


def _bounded_tarinfo(limits: Limits) -> type[tarfile.TarInfo]:
    """A TarInfo class that refuses an over-long extended header before tarfile reads it."""

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
            what = _EXTENDED_HEADER_TYPES.get(self.type)
            if what is not None and self.size > limits.max_extended_header_bytes:
                raise ArtifactTooLargeError(
                    f"artifact holds a {what} of {self.size} bytes, over the"
                    f" {limits.max_extended_header_bytes}-byte limit"
                )
            return super()._proc_member(tar)  # type: ignore[misc, no-any-return]

    return BoundedTarInfo


def _checked_members(
    tar: tarfile.TarFile, dest: Path, limits: Limits
) -> tuple[list[tarfile.TarInfo], int]:
    """Read the member headers one by one, enforcing limits before reading any further.

    Returns the members and the bytes they unpack to (hardlinks count as the copies they become).
    """
    members: list[tarfile.TarInfo] = []
    file_sizes: dict[str, int] = {}
    seen: set[str] = set()
    total = 0
    while (member := tar.next()) is not None:
        if len(members) >= limits.max_members:
            raise ArtifactTooLargeError(f"artifact has more than {limits.max_members} members")
        name = _safe_name(member)
        if name in seen:
            raise UnsafeArchiveError(f"artifact member {member.name!r} appears twice")
        _check_member_type(member)
        _data_filter(member, dest, on_disk=False)
        total += _unpacked_size(member, file_sizes)
        if total > limits.max_unpacked_bytes:
            raise ArtifactTooLargeError(
                f"artifact unpacks to more than the {limits.max_unpacked_bytes}-byte limit"
            )
        if member.isfile():
            file_sizes[name] = member.size
        seen.add(name)
        members.append(member)
    return members, total


def _unpacked_size(member: tarfile.TarInfo, file_sizes: dict[str, int]) -> int:
    if member.isfile():
        return member.size
    if member.islnk():
        return file_sizes.get(_lexical_join("", member.linkname) or "", 0)
    return 0


def _safe_name(member: tarfile.TarInfo) -> str:
    """The member's normalised relative path; absolute paths and `..` are refused."""
    raw = member.name
    if raw.startswith("/") or "\\" in raw or "\x00" in raw:
        raise UnsafeArchiveError(f"artifact member {raw!r} has an absolute or invalid path")
    parts = [p for p in PurePosixPath(raw).parts if p != "."]
    if ".." in parts:
        raise UnsafeArchiveError(f"artifact member {raw!r} contains '..'")
    return "/".join(parts)


def _check_member_type(member: tarfile.TarInfo) -> None:
    # Not left to the data filter: it lets types it does not know through as regular files.
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(
            f"artifact member {member.name!r} is a device, FIFO or other special file"
        )


def _data_filter(member: tarfile.TarInfo, dest: Path, *, on_disk: bool) -> None:
    """tarfile's `data` filter (PEP 706) on `member`, its refusals in this module's words.

    Before unpacking (`on_disk` False) it checks names and link targets against the empty
    destination; while unpacking, against what earlier members put on disk (symlink chains).
    """
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:  # pragma: no cover - Python before 3.11.4: the checks above only
        return
    try:
        data_filter(member, str(dest))
    except tarfile.FilterError as err:
        raise UnsafeArchiveError(_filter_refusal(member, err, on_disk)) from None


def _filter_refusal(member: tarfile.TarInfo, err: tarfile.FilterError, on_disk: bool) -> str:
    name = member.name
    if isinstance(err, tarfile.SpecialFileError):
        return f"artifact member {name!r} is a device, FIFO or other special file"
    if isinstance(err, tarfile.AbsolutePathError):
        return f"artifact member {name!r} has an absolute or invalid path"
    if on_disk:
        return f"artifact member {name!r} resolves outside the archive through a symlink"
    if isinstance(err, tarfile.AbsoluteLinkError | tarfile.LinkOutsideDestinationError):
        kind = "symlink" if member.issym() else "hardlink"
        return f"artifact member {name!r} is a {kind} pointing outside the archive ({member.linkname!r})"
    return f"artifact member {name!r} leads outside the archive"


def _lexical_join(base: str, target: str) -> str | None:
    """Join `target` to `base` without touching the disk; None when it leaves the root."""
    if target.startswith("/"):
        return None
    parts: list[str] = [p for p in PurePosixPath(base).parts if p not in (".", "")]
    for part in PurePosixPath(target).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    name = _safe_name(member)
    target = dest / name if name else dest
    _ensure_inside(dest, target.parent, member)
    _data_filter(member, dest, on_disk=True)
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        _ensure_inside(dest, target, member)
    elif member.issym():
        _extract_symlink(member, target, dest)
    elif member.islnk():
        _copy_hardlink(member, target, dest)
    else:
        source = tar.extractfile(member)
        if source is None:
            raise UnsafeArchiveError(f"artifact member {member.name!r} has no readable content")
        with source:
            _write_new_file(target, source)


def _extract_symlink(member: tarfile.TarInfo, target: Path, dest: Path) -> None:
    # Earlier symlinks are on disk now, so realpath sees what a later write would follow.
    target.parent.mkdir(parents=True, exist_ok=True)
    _ensure_inside(dest, target.parent / member.linkname, member)
    os.symlink(member.linkname, target)


def _copy_hardlink(member: tarfile.TarInfo, target: Path, dest: Path) -> None:
    # A copy rather than os.link: the content is what matters, and a copy cannot alias anything.
    source = dest / _lexical_join("", member.linkname)  # type: ignore[operator]
    _ensure_inside(dest, source, member)
    if not source.is_file():
        raise UnsafeArchiveError(
            f"artifact member {member.name!r} is a hardlink to {member.linkname!r},"
            " which is not a regular file earlier in the archive"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as content:
        _write_new_file(target, content)


def _write_new_file(target: Path, content: IO[bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    except FileExistsError as err:
        raise UnsafeArchiveError(
            f"artifact member path {target.name!r} is written twice (through a link or directory)"
        ) from err
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(content, out, _CHUNK_BYTES)


def _ensure_inside(root: Path, path: Path, member: tarfile.TarInfo) -> None:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise UnsafeArchiveError(
            f"artifact member {member.name!r} resolves outside the archive through a symlink"
        )
