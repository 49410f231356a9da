"""Bad input is one clear line naming file, document, line and field, exit 2, no traceback, in
diff, plan, annotate and argocd generate alike (issue 14)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from tests.conftest import SAMPLES

SEED = SAMPLES / "seed-dns-local"
BASE = (SEED / "desired" / "dns.yaml").read_text()
LIVE = (SEED / "live.yaml").read_text()
COMMANDS = ("diff", "plan", "annotate", "argocd")


def _repo(tmp_path: Path, desired: str = BASE, live: str = LIVE) -> Path:
    (tmp_path / "desired").mkdir()
    shutil.copy(SEED / "desired" / "pool.yaml", tmp_path / "desired" / "pool.yaml")
    (tmp_path / "desired" / "dns.yaml").write_text(desired)
    (tmp_path / "live.yaml").write_text(live)
    return tmp_path


def _argv(command: str, repo: Path) -> list[str]:
    desired, live = str(repo / "desired"), str(repo / "live.yaml")
    return {
        "diff": ["diff", desired, "--live", live],
        "plan": ["plan", desired, "--live", live],
        "annotate": ["annotate", "--check", desired],
        "argocd": ["argocd", "generate"],
    }[command]


def run_all(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    commands: tuple[str, ...] = COMMANDS,
) -> dict[str, str]:
    """Each command's stderr; each must exit 2 with one line and no traceback."""
    errors = {}
    for command in commands:
        with monkeypatch.context() as patch:
            if command == "argocd":
                patch.chdir(repo / "desired")
            code = main(_argv(command, repo))
        out, err = capsys.readouterr()
        assert code == 2, (command, code, err)
        assert err.count("\n") == 1 and err.startswith("planner: error: "), (command, err)
        assert "Traceback" not in err
        if command == "argocd":
            assert out == ""
        errors[command] = err
    return errors


def _in_tcp_annotations(entry: str) -> str:
    marker = "    metallb.io/loadBalancerIPs: 192.168.10.53\n"
    return BASE.replace(marker, marker + entry, 1)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (_in_tcp_annotations("    5: k\n"), "line 14: field metadata.annotations.5"),
        (BASE.replace("kind: Service\n", "kind: Service\n5: 6\n", 1), "line 6: field 5"),
        (
            BASE.replace("  labels:\n", "  labels:\n    ~: x\n", 1),
            "line 10: field metadata.labels.~",
        ),
    ],
)
def test_a_key_that_is_not_a_string_is_one_line(
    text: str,
    where: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for command, err in run_all(_repo(tmp_path, text), capsys, monkeypatch).items():
        assert "dns.yaml: document 1, " + where in err, (command, err)
        assert "a mapping key must be a string" in err


@pytest.mark.parametrize(
    ("digits", "where", "what"),
    [
        (30, "line 4", "spec.ports[0].port must be a number from 1 to 65535, not a number of 30"),
        (5000, "line 21", "field spec.ports[0].port is a number of 5,000 characters, out of range"),
    ],
)
def test_an_integer_with_many_digits_is_one_line(
    digits: int,
    where: str,
    what: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = BASE.replace("      port: 53", "      port: " + "9" * digits, 1)
    for command, err in run_all(_repo(tmp_path, text), capsys, monkeypatch).items():
        assert "dns.yaml: document 1, " + where in err, (command, err)
        assert what in err
        assert "9" * 25 not in err


def test_an_integer_with_many_digits_in_the_live_snapshot_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = LIVE.replace("nodePort: 31853", "nodePort: " + "9" * 5000, 1)
    errors = run_all(_repo(tmp_path, live=live), capsys, monkeypatch, ("diff", "plan"))
    for err in errors.values():
        assert "live.yaml: document 1, line 39: field items[0].spec.ports[0].nodePort" in err


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_an_out_of_range_port_is_refused_by_every_command(
    port: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = BASE.replace("      port: 53", "      port: " + port, 1)
    for command, err in run_all(_repo(tmp_path, text), capsys, monkeypatch).items():
        assert "dns.yaml: document 1, line 4" in err, (command, err)
        assert "spec.ports[0].port must be a number from 1 to 65535" in err


def test_a_port_whose_digits_are_all_underscores_is_a_string_refused_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`0x_` matches YAML 1.1's int pattern but has no digit: PyYAML's int() fails on it, and
    Kubernetes reads the string. An annotation may hold it; a port may not."""
    text = _in_tcp_annotations("    note: 0x_\n").replace("      port: 53", "      port: 0b_", 1)
    for command, err in run_all(_repo(tmp_path, text), capsys, monkeypatch).items():
        assert "dns.yaml: document 1, line" in err, (command, err)
        assert "spec.ports[0].port must be" in err and "internal error" not in err


def test_a_live_service_whose_spec_is_null_reads_as_one_without_a_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A snapshot cut short after `spec:` (found by the fuzzer) ended in an internal error."""
    live = tmp_path / "live.yaml"
    text = (SAMPLES / "seed-dns-local" / "live.yaml").read_text()
    live.write_text(text[: text.index("  spec:\n") + len("  spec:\n")])
    code = main(["diff", str(SAMPLES / "seed-dns-local" / "desired"), "--live", str(live)])
    assert code in (0, 1), capsys.readouterr().err
    assert "internal error" not in capsys.readouterr().err


def _seed_live_with(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """seed-dns-local's live snapshot with its first Service changed by `change`."""
    snapshot = yaml.safe_load((SAMPLES / "seed-dns-local" / "live.yaml").read_text())
    change(snapshot["items"][0])
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump(snapshot))
    return live


def test_a_live_service_whose_status_is_null_has_no_ip_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status: null` ended in an internal error when the model wrote the Service's IP (a
    systematic sweep of seed-dns-local's live nodes found it); now it reads as no status."""
    live = _seed_live_with(tmp_path, lambda svc: svc.update(status=None))
    code = main(["diff", str(SAMPLES / "seed-dns-local" / "desired"), "--live", str(live)])
    out, err = capsys.readouterr()
    assert code == 1 and "internal error" not in err, err
    assert "joining  dns/dns-tcp" in out


def test_managed_fields_that_are_not_a_list_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live object whose metadata.managedFields is not a list (the API server's is always one)
    ended in an internal error when the diff read what its appliers own."""
    live = _seed_live_with(tmp_path, lambda svc: svc["metadata"].update(managedFields=True))
    code = main(["diff", str(SAMPLES / "seed-dns-local" / "desired"), "--live", str(live)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "metadata.managedFields must be a list, not bool True" in err


def test_an_unknown_ip_family_policy_on_a_live_member_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live Service outside the desired manifests, sharing the IP of one that changes, with an
    ipFamilyPolicy the API server would refuse: the allocator model raised an internal error."""
    source = SAMPLES / "seed-dns-local"
    snapshot = yaml.safe_load((source / "live.yaml").read_text())
    snapshot["items"][1]["spec"]["ipFamilyPolicy"] = "Foo"
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump(snapshot))
    desired = tmp_path / "desired"
    shutil.copytree(source / "desired", desired)
    name = snapshot["items"][1]["metadata"]["name"]
    for path in desired.rglob("*.yaml"):
        docs = [
            d for d in yaml.safe_load_all(path.read_text()) if d and d["metadata"]["name"] != name
        ]
        path.write_text(yaml.safe_dump_all(docs))
    code = main(["diff", str(desired), "--live", str(live)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"Service dns/{name}: field spec.ipFamilyPolicy must be one of SingleStack" in err


@pytest.mark.parametrize("text", ["fe80::1%eth0", "fe80::1%1", "192.168.10.53%eth0"])
def test_an_ipv6_zone_is_not_an_ip_as_go_parses_it(text: str) -> None:
    from planner.model.pools import parse_addresses, parse_ip
    from planner.model.service import ServiceInputError, requested_ips

    with pytest.raises(ValueError):
        parse_ip(text)
    with pytest.raises(ValueError):
        parse_addresses(text.replace("%", "/64%") if ":" in text else text + "/24")
    with pytest.raises(ValueError):
        parse_addresses(f"{text}-{text}")
    svc = {"metadata": {"annotations": {"metallb.io/loadBalancerIPs": text}}, "spec": {}}
    with pytest.raises(ServiceInputError, match="is not a valid IP address"):
        requested_ips(svc)


def test_a_requested_ip_with_a_zone_is_refused_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = BASE.replace("loadBalancerIPs: 192.168.10.53", "loadBalancerIPs: fe80::1%eth0")
    for command, err in run_all(_repo(tmp_path, text), capsys, monkeypatch).items():
        assert "dns.yaml: document 1, line 4" in err, (command, err)
        assert "metallb.io/loadBalancerIPs" in err and "fe80::1%eth0" in err


STATUS = "    loadBalancer:\n      ingress:\n      - ip: 192.168.10.53\n        ipMode: VIP\n"


@pytest.mark.parametrize(
    ("old", "new", "where", "what"),
    [
        (
            "    labels:\n      app.kubernetes.io/name: coredns\n",
            "    labels: [a]\n",
            "line 7",
            "field metadata.labels must be a mapping, not a list",
        ),
        (
            STATUS,
            "    loadBalancer: [x]\n",
            "line 7",
            "field status.loadBalancer must be a mapping",
        ),
        (
            STATUS,
            STATUS.replace(".53", ".53/24"),
            "line 7",
            "ingress[0].ip must be an IP address, not the string '192.168.10.53/24'",
        ),
        (
            STATUS,
            STATUS.replace(".53", ".53%eth0"),
            "line 7",
            "field status.loadBalancer.ingress[0].ip must be an IP address",
        ),
        (
            "    clusterIPs:\n    - 10.96.120.17\n",
            "    clusterIPs:\n    - [10.96.120.17]\n",
            "line 7",
            "field spec.clusterIPs[0] must be an IP address, not a list",
        ),
        (
            "    labels:\n",
            "    labels:\n      5: x\n",
            "line 16",
            "field items[0].metadata.labels.5: a mapping key must be a string",
        ),
    ],
)
def test_the_live_snapshot_is_type_checked_like_desired_manifests(
    old: str,
    new: str,
    where: str,
    what: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert old in LIVE
    live = LIVE.replace(old, new, 1)
    for err in run_all(_repo(tmp_path, live=live), capsys, monkeypatch, ("diff", "plan")).values():
        assert "live.yaml: document 1, " + where in err, err
        assert what in err


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail (not hang) a test that blocks reading a FIFO."""

    def timed_out(signum: int, frame: object) -> None:
        raise TimeoutError("the command blocked")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _fifo(directory: Path) -> None:
    os.mkfifo(directory / "x.yaml")


def _socket(directory: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(directory / "x.yaml"))
    server.close()  # the socket file stays


def _device(directory: Path) -> None:
    (directory / "x.yaml").symlink_to("/dev/zero")


def _self_link(directory: Path) -> None:
    (directory / "x.yaml").symlink_to("x.yaml")


def _link_loop(directory: Path) -> None:
    (directory / "x.yaml").symlink_to("y.yaml")
    (directory / "y.yaml").symlink_to("x.yaml")


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize(
    ("make", "what"),
    [
        (_fifo, "x.yaml: document 1, line 1: a FIFO, not a regular file; refusing to read it"),
        (_socket, "x.yaml: document 1, line 1: cannot read the file"),
        (_device, "refusing to read it"),  # argocd: a link out of the repository
        (_self_link, "Too many levels of symbolic links|Symlink loop"),  # argocd: its own check
        (_link_loop, "Too many levels of symbolic links|Symlink loop"),
    ],
)
def test_a_file_that_is_not_a_regular_file_is_refused_never_read(
    make: Callable[[Path], None],
    what: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _repo(tmp_path)
    make(repo / "desired")
    for command, err in run_all(repo, capsys, monkeypatch, ("diff", "annotate", "argocd")).items():
        assert re.search(what, err) and "x.yaml" in err, (command, err)


def test_a_device_in_a_directory_is_refused_by_its_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _device(tmp_path)
    assert main(["diff", str(tmp_path), "--live", str(SEED / "live.yaml")]) == 2
    err = capsys.readouterr().err
    assert "x.yaml: document 1, line 1: a character device, not a regular file; refusing" in err


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("make", [_self_link, _fifo])
def test_a_named_path_that_is_a_link_loop_or_a_fifo_is_one_line(
    make: Callable[[Path], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make(tmp_path)
    code = main(["diff", str(tmp_path / "x.yaml"), "--live", str(SEED / "live.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"{tmp_path / 'x.yaml'}: document 1, line 1: " in err


def test_a_live_snapshot_may_come_through_a_pipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--live <(kubectl get ...)`: a FIFO named as the live snapshot is read."""
    _fifo(tmp_path)
    writer = threading.Thread(target=(tmp_path / "x.yaml").write_text, args=(LIVE,))
    writer.start()
    code = main(["diff", str(SEED / "desired"), "--live", str(tmp_path / "x.yaml")])
    writer.join()
    assert code in (0, 1, 3), capsys.readouterr().err


def test_a_live_snapshot_pipe_whose_writer_comes_late_is_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO opened before its writer reads as empty: the planner must wait for the writer,
    not read a live snapshot of nothing (that race once hung the suite)."""
    _fifo(tmp_path)
    late = threading.Timer(0.5, (tmp_path / "x.yaml").write_text, args=(LIVE,))
    late.daemon = True  # a planner that did not wait leaves the writer blocked forever
    late.start()
    code = main(["diff", str(SEED / "desired"), "--live", str(tmp_path / "x.yaml"), "-o", "json"])
    late.join(timeout=30)
    out, err = capsys.readouterr()
    assert code in (0, 1, 3), err
    assert {change["op"] for change in json.loads(out)["changes"]} == {"update"}, "read as empty"
