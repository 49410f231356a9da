"""Artifact handling against a real HTTP server on 127.0.0.1 serving tarballs built here."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import shutil
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.gitops.flux_artifact import (
    ArtifactDigestError,
    ArtifactDownloadError,
    ArtifactError,
    ArtifactTooLargeError,
    Limits,
    SourceArtifact,
    UnsafeArchiveError,
    artifact_from_source,
    fetch_artifact,
    parse_digest,
    unpack_archive,
)

SERVICE_YAML = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: dns-tcp\n"


# --- building tarballs -------------------------------------------------------------------------


@dataclass
class Entry:
    """One tar member to write: a file (data), a dir, a symlink/hardlink (link) or a device."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""


def tarball(*entries: Entry) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.linkname = entry.link
            info.size = len(entry.data) if entry.kind == tarfile.REGTYPE else 0
            info.mode = 0o755 if entry.kind == tarfile.DIRTYPE else 0o644
            tar.addfile(info, io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- the local HTTP server ---------------------------------------------------------------------


@dataclass
class Route:
    body: bytes
    status: int = 200
    send_length: bool = True
    delay: float = 0.0


@dataclass
class ArtifactServer:
    """source-controller's role, played by http.server on 127.0.0.1 in a thread."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)

    def serve(self, path: str, body: bytes, **options: object) -> str:
        self.routes[path] = Route(body, **options)  # type: ignore[arg-type]
        return self.base + path


@pytest.fixture(scope="module")
def server() -> Iterator[ArtifactServer]:
    state = ArtifactServer(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = state.routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
                return
            time.sleep(route.delay)
            self.send_response(route.status)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            # the client may give up on purpose (size limit, timeout)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    return tmp_path


def assert_nothing_unpacked(workdir: Path) -> None:
    """The destination is absent, no staging dir is left, and nothing escaped."""
    assert sorted(p.name for p in workdir.iterdir()) == ["outside"]
    assert list((workdir / "outside").iterdir()) == []


def fetch(server: ArtifactServer, workdir: Path, archive: bytes, **options: object) -> Path:
    url = server.serve(f"/gitrepository/flux-system/app/{len(server.routes)}.tar.gz", archive)
    result = fetch_artifact(url, sha256(archive), workdir / "src", **options)  # type: ignore[arg-type]
    return result.root


# --- good artifacts ----------------------------------------------------------------------------


def test_good_digest_unpacks_files_dirs_and_inside_links(
    server: ArtifactServer, workdir: Path
) -> None:
    archive = tarball(
        Entry("apps", kind=tarfile.DIRTYPE),
        Entry("apps/dns/service.yaml", SERVICE_YAML),
        Entry("apps/current", kind=tarfile.SYMTYPE, link="dns"),
        Entry("apps/copy.yaml", kind=tarfile.LNKTYPE, link="apps/dns/service.yaml"),
    )
    url = server.serve("/gitrepository/flux-system/app/good.tar.gz", archive)

    result = fetch_artifact(url, sha256(archive), workdir / "src")

    assert result.root == workdir / "src"
    assert (result.root / "apps/dns/service.yaml").read_bytes() == SERVICE_YAML
    assert (result.root / "apps/current/service.yaml").read_bytes() == SERVICE_YAML
    assert (result.root / "apps/copy.yaml").read_bytes() == SERVICE_YAML
    assert not (result.root / "apps/copy.yaml").is_symlink()
    assert (result.archive_bytes, result.members) == (len(archive), 4)
    assert result.unpacked_bytes == 2 * len(SERVICE_YAML)
    assert sorted(p.name for p in workdir.iterdir()) == ["outside", "src"]


def test_sha512_digest_is_checked_with_sha512(server: ArtifactServer, workdir: Path) -> None:
    archive = tarball(Entry("a.yaml", SERVICE_YAML))
    url = server.serve("/sha512.tar.gz", archive)
    digest = "sha512:" + hashlib.sha512(archive).hexdigest()

    result = fetch_artifact(url, digest, workdir / "src")

    assert (result.root / "a.yaml").read_bytes() == SERVICE_YAML


def test_an_existing_empty_destination_is_filled(server: ArtifactServer, workdir: Path) -> None:
    (workdir / "src").mkdir()
    root = fetch(server, workdir, tarball(Entry("a.yaml", SERVICE_YAML)))
    assert (root / "a.yaml").read_bytes() == SERVICE_YAML


def test_a_non_empty_destination_is_refused_before_downloading(
    server: ArtifactServer, workdir: Path
) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="is not empty"):
        fetch(server, workdir, tarball(Entry("a.yaml", SERVICE_YAML)))
    assert (workdir / "src" / "keep.txt").read_text() == "mine"


def test_an_unusable_destination_is_a_clear_error(server: ArtifactServer, workdir: Path) -> None:
    (workdir / "outside" / "file").write_text("not a directory")
    archive = tarball(Entry("a.yaml", SERVICE_YAML))
    url = server.serve("/dest.tar.gz", archive)
    with pytest.raises(ArtifactError, match="cannot unpack the artifact into"):
        fetch_artifact(url, sha256(archive), workdir / "outside" / "file" / "src")


# --- digest ------------------------------------------------------------------------------------


def test_wrong_digest_unpacks_nothing(server: ArtifactServer, workdir: Path) -> None:
    archive = tarball(Entry("a.yaml", SERVICE_YAML))
    url = server.serve("/wrong-digest.tar.gz", archive)
    wrong = sha256(archive + b"tampered")

    with pytest.raises(ArtifactDigestError, match="expected " + wrong):
        fetch_artifact(url, wrong, workdir / "src")
    assert_nothing_unpacked(workdir)


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("abc", "not of the form"),
        ("sha256:" + "0" * 10, "wrong length"),
        ("blake3:" + "0" * 64, "not supported"),
        ("SHA256:" + "0" * 64, "not of the form"),
    ],
)
def test_malformed_or_unsupported_digests_are_refused(digest: str, message: str) -> None:
    with pytest.raises(ArtifactDigestError, match=message):
        parse_digest(digest)


# --- unsafe members ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([Entry("../outside/evil.yaml", b"x")], "contains '..'"),
        ([Entry("apps/../../outside/evil.yaml", b"x")], "contains '..'"),
        ([Entry("/tmp/evil.yaml", b"x")], "absolute"),
        ([Entry("link", kind=tarfile.SYMTYPE, link="../outside")], "symlink pointing outside"),
        ([Entry("link", kind=tarfile.SYMTYPE, link="/etc")], "symlink pointing outside"),
        ([Entry("a/b/l", kind=tarfile.SYMTYPE, link="../../../x")], "symlink pointing outside"),
        ([Entry("hard", kind=tarfile.LNKTYPE, link="../outside/x")], "hardlink pointing outside"),
        ([Entry("hard", kind=tarfile.LNKTYPE, link="/etc/passwd")], "hardlink pointing outside"),
        ([Entry("hard", kind=tarfile.LNKTYPE, link="missing.yaml")], "not a regular file"),
        ([Entry("tty", kind=tarfile.CHRTYPE)], "device, FIFO"),
        ([Entry("disk", kind=tarfile.BLKTYPE)], "device, FIFO"),
        ([Entry("pipe", kind=tarfile.FIFOTYPE)], "device, FIFO"),
        ([Entry("a.yaml", b"1"), Entry("./a.yaml", b"2")], "appears twice"),
    ],
    ids=[
        "traversal",
        "nested-traversal",
        "absolute",
        "symlink-up",
        "symlink-absolute",
        "symlink-deep",
        "hardlink-up",
        "hardlink-absolute",
        "hardlink-dangling",
        "char-device",
        "block-device",
        "fifo",
        "duplicate",
    ],
)
def test_unsafe_members_are_refused_and_nothing_is_unpacked(
    server: ArtifactServer, workdir: Path, entries: list[Entry], message: str
) -> None:
    with pytest.raises(UnsafeArchiveError, match=message):
        fetch(server, workdir, tarball(Entry("ok.yaml", SERVICE_YAML), *entries))
    assert_nothing_unpacked(workdir)


def test_symlink_chain_that_only_escapes_on_disk_is_refused(
    server: ArtifactServer, workdir: Path
) -> None:
    # `s -> .` is harmless, and `t -> s/..` looks like `.` on paper, but on disk s/.. is the
    # parent of the destination: writing t/evil.yaml would land outside.
    archive = tarball(
        Entry("s", kind=tarfile.SYMTYPE, link="."),
        Entry("t", kind=tarfile.SYMTYPE, link="s/.."),
        Entry("t/outside/evil.yaml", b"x"),
    )
    with pytest.raises(UnsafeArchiveError, match="resolves outside"):
        fetch(server, workdir, archive)
    assert_nothing_unpacked(workdir)


def test_write_through_an_inside_symlink_onto_an_existing_file_is_refused(
    server: ArtifactServer, workdir: Path
) -> None:
    archive = tarball(
        Entry("real/a.yaml", SERVICE_YAML),
        Entry("alias", kind=tarfile.SYMTYPE, link="real"),
        Entry("alias/a.yaml", b"overwrite"),
    )
    with pytest.raises(UnsafeArchiveError, match="written twice"):
        fetch(server, workdir, archive)
    assert_nothing_unpacked(workdir)


def test_garbage_instead_of_a_tarball_is_a_clear_error(
    server: ArtifactServer, workdir: Path
) -> None:
    with pytest.raises(UnsafeArchiveError, match="not a readable .tar.gz"):
        fetch(server, workdir, b"<html>not an artifact</html>")
    assert_nothing_unpacked(workdir)


# --- size limits -------------------------------------------------------------------------------


def test_download_limit_from_content_length(server: ArtifactServer, workdir: Path) -> None:
    archive = tarball(Entry("big.bin", bytes(range(256)) * 64))
    with pytest.raises(ArtifactTooLargeError, match="announces"):
        fetch(server, workdir, archive, max_bytes=len(archive) - 1)
    assert_nothing_unpacked(workdir)


def test_download_limit_is_enforced_while_streaming(server: ArtifactServer, workdir: Path) -> None:
    # No Content-Length: only counting the streamed bytes can catch it.
    archive = tarball(Entry("big.bin", bytes(range(256)) * 64))
    url = server.serve("/no-length.tar.gz", archive, send_length=False)
    with pytest.raises(ArtifactTooLargeError, match="larger than"):
        fetch_artifact(url, sha256(archive), workdir / "src", max_bytes=len(archive) - 1)
    assert_nothing_unpacked(workdir)


def test_unpacked_size_limit_stops_a_compression_bomb(
    server: ArtifactServer, workdir: Path
) -> None:
    archive = tarball(Entry("zeros.bin", bytes(4 * 1024 * 1024)))
    assert len(archive) < 16 * 1024
    with pytest.raises(ArtifactTooLargeError, match="unpacks to more than"):
        fetch(server, workdir, archive, max_unpacked_bytes=1024 * 1024)
    assert_nothing_unpacked(workdir)


def test_hardlink_copies_count_towards_the_unpacked_limit(
    server: ArtifactServer, workdir: Path
) -> None:
    links = [Entry(f"copy{i}", kind=tarfile.LNKTYPE, link="data.bin") for i in range(8)]
    archive = tarball(Entry("data.bin", bytes(1000)), *links)
    with pytest.raises(ArtifactTooLargeError, match="unpacks to more than"):
        fetch(server, workdir, archive, max_unpacked_bytes=5000)
    assert_nothing_unpacked(workdir)


def test_member_count_limit(server: ArtifactServer, workdir: Path) -> None:
    archive = tarball(*(Entry(f"f{i}.yaml", b"x") for i in range(11)))
    with pytest.raises(ArtifactTooLargeError, match="more than 10 members"):
        fetch(server, workdir, archive, max_members=10)
    assert_nothing_unpacked(workdir)


# --- download failures -------------------------------------------------------------------------


def test_a_garbage_collected_artifact_gives_http_status(
    workdir: Path, server: ArtifactServer
) -> None:
    with pytest.raises(ArtifactDownloadError, match="HTTP 404"):
        fetch_artifact(server.base + "/gone.tar.gz", sha256(b""), workdir / "src")
    assert_nothing_unpacked(workdir)


def test_a_slow_server_times_out(server: ArtifactServer, workdir: Path) -> None:
    url = server.serve("/slow.tar.gz", tarball(Entry("a", b"x")), delay=1.0)
    started = time.monotonic()
    with pytest.raises(ArtifactDownloadError, match="timed out"):
        fetch_artifact(url, sha256(b""), workdir / "src", timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert_nothing_unpacked(workdir)


def test_only_http_urls_are_fetched(workdir: Path) -> None:
    secret_file = workdir / "outside" / "secret"
    with pytest.raises(ArtifactDownloadError, match="is not http"):
        fetch_artifact(f"file://{secret_file}", sha256(b""), workdir / "src")


def test_tokens_in_the_url_never_reach_the_message(server: ArtifactServer, workdir: Path) -> None:
    url = server.base.replace("://", "://user:hunter2@") + "/gone.tar.gz?token=s3cret"
    with pytest.raises(ArtifactDownloadError) as caught:
        fetch_artifact(url, sha256(b""), workdir / "src")
    assert "hunter2" not in str(caught.value) and "s3cret" not in str(caught.value)
    assert "/gone.tar.gz" in str(caught.value)


def test_errors_are_planner_errors() -> None:
    for error in (ArtifactDigestError, ArtifactDownloadError, UnsafeArchiveError):
        assert issubclass(error, PlannerError)


# --- reading .status.artifact ------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


def source(kind: str = "GitRepository", **artifact: str) -> dict[str, object]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": kind,
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "status": {"artifact": artifact} if artifact else {},
    }


def test_artifact_from_a_git_repository() -> None:
    obj = source(
        url="http://source-controller.flux-system.svc.cluster.local./gitrepository/x.tar.gz",
        digest=DIGEST,
        revision="main@sha1:0123456789abcdef0123456789abcdef01234567",
    )
    url, digest, revision = artifact_from_source(obj)
    assert url.endswith("/gitrepository/x.tar.gz")
    assert digest == DIGEST
    assert revision == "main@sha1:0123456789abcdef0123456789abcdef01234567"


def test_artifact_from_an_oci_repository() -> None:
    obj = source("OCIRepository", url="http://sc/ocirepository/a.tar.gz", digest=DIGEST)
    assert artifact_from_source(obj) == SourceArtifact(
        "http://sc/ocirepository/a.tar.gz", DIGEST, ""
    )


def test_legacy_checksum_becomes_a_sha256_digest() -> None:
    obj = source(url="http://sc/a.tar.gz", checksum="ab" * 32, revision="main/0123abc")
    assert artifact_from_source(obj).digest == DIGEST


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (source(), "has no .status.artifact yet"),
        (source(digest=DIGEST), "has no .status.artifact.url"),
        (source(url="http://sc/a.tar.gz"), "neither .status.artifact.digest"),
        (source(url="http://sc/a.tar.gz", checksum="xyz"), "neither .status.artifact.digest"),
        (source(url="http://sc/a.tar.gz", digest="md5:abc"), "not supported"),
        (source("Kustomization", url="http://sc/a", digest=DIGEST), "not a Flux source kind"),
    ],
)
def test_unusable_source_objects_name_the_source(obj: dict[str, object], message: str) -> None:
    with pytest.raises(ArtifactError, match=message) as caught:
        artifact_from_source(obj)
    assert "flux-system/apps" in str(caught.value)


# --- extended headers and the bytes tarfile reads (unpack_archive on in-memory tarballs) ----------


def _unpack(tmp_path: Path, archive: bytes, limits: Limits | None = None) -> tuple[int, int]:
    (tmp_path / "a.tar.gz").write_bytes(archive)
    (tmp_path / "dest").mkdir()
    return unpack_archive(tmp_path / "a.tar.gz", tmp_path / "dest", limits or Limits())


def _raw_tarball(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _forged_pax_size(size: int) -> bytes:
    """A tarball whose first record is a pax header claiming `size` bytes it does not hold: a
    reader that trusts the size asks its file for all of them at once."""
    forged = tarfile.TarInfo("././@PaxHeader")
    forged.type, forged.size = tarfile.XHDTYPE, size
    header = forged.tobuf(tarfile.USTAR_FORMAT)
    body = bytes(header) + b"30 path=" + b"a" * 21 + b"\n" + bytes(512 - 30)
    return gzip.compress(body + bytes(1024), mtime=0)


def test_a_pax_header_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = _raw_tarball((tarfile.TarInfo("a" * 200_000 + ".yaml"), SERVICE_YAML))
    with pytest.raises(ArtifactTooLargeError, match=r"pax extended header of \d+ bytes, over"):
        _unpack(tmp_path, archive)
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_forged_pax_header_size_is_refused_not_buffered(tmp_path: Path) -> None:
    with pytest.raises(ArtifactTooLargeError, match="pax extended header of 16777216 bytes"):
        _unpack(tmp_path, _forged_pax_size(16 * 1024 * 1024))


def test_a_gnu_long_name_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    archive = _raw_tarball(
        (tarfile.TarInfo("d/" * 50_000 + "a.yaml"), SERVICE_YAML), fmt=tarfile.GNU_FORMAT
    )
    with pytest.raises(ArtifactTooLargeError, match="GNU long name of 100007 bytes"):
        _unpack(tmp_path, archive)


def test_extended_headers_under_the_limit_are_read(tmp_path: Path) -> None:
    long_name = "d" * 150 + "/service.yaml"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        archive = _raw_tarball((tarfile.TarInfo(long_name), SERVICE_YAML), fmt=fmt)
        shutil.rmtree(tmp_path / "dest", ignore_errors=True)
        assert _unpack(tmp_path, archive) == (len(SERVICE_YAML), 1)
        assert (tmp_path / "dest" / long_name).read_bytes() == SERVICE_YAML


def test_the_unpacked_limit_counts_headers_too(tmp_path: Path) -> None:
    # 300 empty files hold no content bytes but 300 headers of 512 bytes, plus pax records.
    members = [(tarfile.TarInfo(f"f{i}-" + "x" * 120 + ".yaml"), b"") for i in range(300)]
    archive = _raw_tarball(*members)
    with pytest.raises(ArtifactTooLargeError, match="headers and padding included"):
        _unpack(tmp_path, archive, Limits(max_unpacked_bytes=100_000))
    shutil.rmtree(tmp_path / "dest")
    assert _unpack(tmp_path, archive, Limits(max_unpacked_bytes=1_000_000)) == (0, 300)


def test_the_data_filter_refuses_what_it_knows(tmp_path: Path) -> None:
    """tarfile's own `data` filter runs on every member: a link to an absolute path is refused
    in this module's words (the filter's message is not shown)."""
    link = tarfile.TarInfo("etc")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    with pytest.raises(UnsafeArchiveError, match="symlink pointing outside the archive"):
        _unpack(tmp_path, _raw_tarball((link, b"")))
