"""Pools kept outside the desired paths: --pools, the whole repository with --live-git, and the
stand-in when no pool is known at all (issue 13, part 1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.analysis.build import exit_code
from planner.diff.scenario import NO_POOLS_NOTE, UNKNOWN_POOL
from planner.errors import InputError
from planner.pipeline import DiffOptions, build_report, load_scenario
from planner.sources.flux_build import FluxContext
from planner.sources.live import LiveSource
from planner.sources.pools import find_pools, repository_pools
from tests.sources.conftest import git, write

# A home-lab layout: the app under apps/, MetalLB installed by Flux from infrastructure/.
WEB = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: web
  annotations:
    metallb.io/allow-shared-ip: {key}
    metallb.io/loadBalancerIPs: 192.168.10.20
spec:
  type: LoadBalancer
  ports:
  - port: {port}
    protocol: {protocol}
"""
AUTO = """\
apiVersion: v1
kind: Service
metadata:
  name: dashboard
  namespace: web
spec:
  type: LoadBalancer
  ports:
  - port: 8443
    protocol: TCP
"""
HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: metallb
  namespace: metallb-system
spec:
  interval: 30m
  chart:
    spec:
      chart: metallb
      version: 0.12.1
      sourceRef:
        kind: HelmRepository
        name: metallb
  values:
    configInline:
      address-pools:
      - name: lan
        protocol: layer2
        addresses:
        - 192.168.10.0/24
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


def _app(repo: Path, key: str) -> None:
    write(
        repo / "apps/web/services.yaml",
        "---\n".join(
            [
                WEB.format(name="web-tcp", key=key, port=80, protocol="TCP"),
                WEB.format(name="web-udp", key=key, port=443, protocol="UDP"),
                AUTO,
            ]
        ),
    )


@pytest.fixture
def in_repo(git_repo: Path) -> Iterator[Path]:
    """The test runs inside the repository (as `planner diff apps/web --live-git` in CI)."""
    before = Path.cwd()
    os.chdir(git_repo)
    try:
        yield git_repo
    finally:
        os.chdir(before)


def _commit_key_change(repo: Path, infra: dict[str, str]) -> None:
    """Commit the app with key "web" (and `infra` files), then change the key in the work tree."""
    _app(repo, "web")
    for path, text in infra.items():
        write(repo / path, text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "web")
    _app(repo, "web-v2")


def test_live_git_finds_a_helmrelease_configinline_anywhere_in_the_repository(
    in_repo: Path,
) -> None:
    _commit_key_change(in_repo, {"infrastructure/metallb/release.yaml": HELMRELEASE})
    scenario = load_scenario(["apps/web"], LiveSource.git("HEAD"))
    assert scenario.pools_known
    assert [p.name for p in scenario.pools] == ["lan"]
    assert [p.name for p in scenario.live_pools] == ["lan"]
    report = build_report(["apps/web"], LiveSource.git("HEAD"))
    assert NO_POOLS_NOTE not in report.notes
    assert not [c for c in report.conflicts if c.severity == "error"]


FLUX_APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infrastructure
  namespace: flux-system
spec:
  path: ./infrastructure
  sourceRef: {kind: GitRepository, name: flux-system}
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  METALLB_LB_RANGE: 192.168.10.0/24
"""


def test_a_pool_written_with_flux_variables_is_substituted_at_both_refs(in_repo: Path) -> None:
    """rwlove/home-ops: `addresses: ["${METALLB_LB_RANGE}"]`; before, "pool not used: ...
    invalid CIDR" at both refs and "no MetalLB pool is known"."""
    pool = POOL.replace("192.168.10.0/24", '"${METALLB_LB_RANGE}"')
    release = HELMRELEASE.replace("192.168.10.0/24", "${METALLB_LB_RANGE}")
    infra = {
        "clusters/home/infrastructure.yaml": FLUX_APPS,
        "infrastructure/metallb/pool.yaml": pool,
    }
    _commit_key_change(in_repo, infra)
    report = build_report(["apps/web"], LiveSource.git("HEAD"))
    assert [n for n in report.notes if "pool" in n] == []
    scenario = load_scenario(["apps/web"], LiveSource.git("HEAD"))
    assert [p.name for p in scenario.pools] == [p.name for p in scenario.live_pools] == ["lan"]
    write(in_repo / "infrastructure/metallb/pool.yaml", release)  # a configInline too
    found = repository_pools(in_repo, "", FluxContext())
    assert found.objects[0].body["data"]["config"].count("192.168.10.0/24") == 1


def test_pools_option_reads_a_directory_outside_the_desired_paths(
    in_repo: Path, tmp_path: Path
) -> None:
    _app(in_repo, "web")
    live = write(tmp_path / "live.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    write(tmp_path / "cluster/pools/lan.yaml", POOL)
    options = DiffOptions(pools=(str(tmp_path / "cluster/pools"),))
    scenario = load_scenario(["apps/web"], LiveSource.file(str(live)), pools=options.pools)
    assert [p.cidrs for p in scenario.pools] == [("192.168.10.0/24",)]
    assert [p.name for p in scenario.live_pools] == ["lan"]
    report = build_report(["apps/web"], LiveSource.file(str(live)), options)
    assert NO_POOLS_NOTE not in report.notes


def test_pools_option_names_a_missing_path() -> None:
    with pytest.raises(InputError, match="the pools path `nowhere/pools` does not exist"):
        find_pools(["nowhere/pools"])


def test_a_values_file_configinline_is_a_legacy_configmap(tmp_path: Path) -> None:
    write(
        tmp_path / "metallb/values.yaml",
        "configInline:\n  address-pools:\n  - name: lan\n    protocol: layer2\n"
        "    addresses: [192.168.10.0/24]\n",
    )
    write(tmp_path / "notes.yaml", "configInline: [unclosed\n")
    found = repository_pools(tmp_path, "")
    assert [(o.key.kind, o.key.name) for o in found.objects] == [
        ("ConfigMap", "values-config-inline")
    ]
    assert found.notes == ["notes.yaml: not read for pools (it does not parse)"]


def test_no_pool_anywhere_is_one_note_and_never_blocks(in_repo: Path) -> None:
    _commit_key_change(in_repo, {})
    scenario = load_scenario(["apps/web"], LiveSource.git("HEAD"))
    assert not scenario.pools_known
    assert [p.name for p in scenario.pools] == [UNKNOWN_POOL]
    report = build_report(["apps/web"], LiveSource.git("HEAD"))
    assert report.notes[0] == NO_POOLS_NOTE
    assert report.notes.count(NO_POOLS_NOTE) == 1
    assert not [c for c in report.conflicts if "outside every IPAddressPool" in c.message]
    target = report.predictions[report.target]
    # the auto-assigned dashboard gets an IP from the unknown pool: never stuck nor pending
    assert "web/dashboard" not in {f.service for f in target.fates}
    assert not any(f.stuck for f in target.fates)
    # a requested-IP group changing its key is still predicted (it does not depend on pools)
    assert {f.service for f in report.predictions["metallb-0.14"].fates} >= {
        "web/web-tcp",
        "web/web-udp",
    }
    assert exit_code(report, "stuck") != 3


def test_a_fifo_in_the_repository_is_skipped_with_a_note_not_read(tmp_path: Path) -> None:
    """Reading a FIFO named *.yaml would block the scan for ever (no writer comes)."""
    write(tmp_path / "infra/pools.yaml", POOL)
    os.mkfifo(tmp_path / "infra/pipe.yaml")
    found = repository_pools(tmp_path, "")
    assert [o.key.name for o in found.objects] == ["lan"]
    assert found.notes == ["infra/pipe.yaml: not read for pools (it does not parse)"]


def test_a_pools_path_that_is_not_utf8_is_one_input_error(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_bytes(b"kind: IPAddressPool\n\xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        find_pools([str(tmp_path / "pools.yaml")])
