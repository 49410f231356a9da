"""`planner diff apps/x --live-git REF` when the commit deletes, creates or never had apps/x
(issue 13, part 3)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.analysis.build import exit_code
from planner.errors import InputError
from planner.pipeline import build_report
from planner.sources.live import LiveSource
from tests.sources.conftest import git, write

DNS = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: dns
  annotations:
    metallb.io/allow-shared-ip: dns
    metallb.io/loadBalancerIPs: 192.168.10.53
spec:
  type: LoadBalancer
  selector:
    app.kubernetes.io/name: coredns
  ports:
  - name: {name}
    port: 53
    protocol: {protocol}
"""
POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lan
  namespace: metallb-system
spec:
  addresses:
  - 192.168.10.0/24
"""


@pytest.fixture
def repo(git_repo: Path) -> Iterator[Path]:
    """A home-lab repo: apps/dns (TCP+UDP on one IP) and the pools under infrastructure/,
    committed; the test runs inside it."""
    write(
        git_repo / "apps/dns/service.yaml",
        DNS.format(name="dns-tcp", protocol="TCP")
        + "---\n"
        + DNS.format(name="dns-udp", protocol="UDP"),
    )
    write(git_repo / "infrastructure/metallb/pools.yaml", POOL)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "--quiet", "-m", "dns")
    before = Path.cwd()
    os.chdir(git_repo)
    try:
        yield git_repo
    finally:
        os.chdir(before)


def test_an_app_the_commit_deletes_is_all_deletions(repo: Path) -> None:
    git(repo, "rm", "-r", "--quiet", "apps/dns")
    git(repo, "commit", "--quiet", "-m", "remove dns")
    report = build_report(["apps/dns"], LiveSource.git("HEAD~1"))
    assert [(c.op, c.key.svc_key) for c in report.changes] == [
        ("delete", "dns/dns-tcp"),
        ("delete", "dns/dns-udp"),
    ]
    assert "apps/dns: does not exist; read as empty (deleted)" in report.notes
    assert exit_code(report) == 1


def test_an_app_only_at_head_is_all_creations(repo: Path) -> None:
    git(repo, "mv", "apps/dns", "apps/coredns")
    git(repo, "commit", "--quiet", "-m", "move dns")
    report = build_report(["apps/coredns"], LiveSource.git("HEAD~1"))
    assert {c.op for c in report.changes} == {"create"}
    assert len(report.changes) == 2
    assert exit_code(report) == 1


def test_a_path_in_neither_is_bad_input(repo: Path) -> None:
    with pytest.raises(InputError, match="`apps/nowhere` does not exist"):
        build_report(["apps/nowhere"], LiveSource.git("HEAD"))
