"""A plan made in a pull request from a git ref (no cluster access), verified, and applied later to
the cluster.

The cluster is the project's simulated one behind the stand-in kubectl, called in-process
(tests/fakes/fake_cluster.py): MetalLB's allocation there is the model's, from the statuses the
cluster really has, which the plan never saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from planner.cli import main
from tests.fakes.fake_cluster import FakeCluster, start_fake
from tests.sources.conftest import git

TCP, UDP, TLS = "dns/dns-tcp", "dns/dns-udp", "dns/dns-tls"
PREDICTED = "192.168.10.0"  # the model's first free address: it never saw the legacy Service
POOL = (
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
    "metadata: {name: lan, namespace: metallb-system}\nspec: {addresses: [192.168.10.0/24]}\n"
)


def _dns(name: str, protocol: str, port: int, annotations: str = "") -> str:
    return (
        "apiVersion: v1\nkind: Service\n"
        f"metadata: {{name: {name}, namespace: dns, annotations: "
        f"{{metallb.io/allow-shared-ip: dns{annotations}}}}}\n"
        "spec: {type: LoadBalancer, selector: {app: dns}, "
        f"ports: [{{name: dns, port: {port}, protocol: {protocol}}}]}}\n"
    )


def _history(repo: Path, annotations: str = "") -> None:
    """HEAD~1: DNS over TCP and UDP sharing an auto-assigned IP; HEAD: DNS over TLS (TCP 853)
    joins them on it."""
    (repo / "apps").mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "apps" / "pool.yaml").write_text(POOL)
    for name, protocol, port in (("dns-tcp", "TCP", 53), ("dns-udp", "UDP", 53)):
        (repo / "apps" / f"{name}.yaml").write_text(_dns(name, protocol, port, annotations))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dns")
    (repo / "apps" / "dns-tls.yaml").write_text(_dns("dns-tls", "TCP", 853, annotations))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dns: over TLS too")


def _cluster(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    repo: Path,
    dns_ip: str = "192.168.10.1",
    legacy_ip: str = PREDICTED,
) -> FakeCluster:
    """The cluster as it really is: the HEAD~1 Services at `dns_ip` ("": pending), and a
    Service the repository does not hold (another team's) at `legacy_ip`."""
    import yaml

    services: list[dict[str, Any]] = []
    for name in ("dns-tcp", "dns-udp"):
        text = git(repo, "show", f"HEAD~1:apps/{name}.yaml")
        service = yaml.safe_load(text)
        service["status"] = {"loadBalancer": {"ingress": [{"ip": dns_ip}] if dns_ip else []}}
        services.append(service)
    services.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "legacy", "namespace": "other"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": legacy_ip}]}},
        }
    )
    return start_fake(
        tmp_path / "state.json",
        monkeypatch,
        subprocess=False,
        behavior="metallb-0.15",
        services=services,
        pools=[yaml.safe_load(POOL)],
    )


def _plan_from_git(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    annotations: str = "",
) -> tuple[Path, Path]:
    """The history (`_history`) in tmp_path/repo, planned there from `--live-git HEAD~1` into a
    plan file: the repository and the file."""
    repo = tmp_path / "repo"
    _history(repo, annotations)
    monkeypatch.chdir(repo)
    plan_file = tmp_path / "plan.json"
    argv = ["plan", "apps", "--live-git", "HEAD~1", "-o", "json", "--output-file", str(plan_file)]
    assert main(argv) == 0
    capsys.readouterr()
    return repo, plan_file


def test_a_plan_from_a_git_ref_converges_where_the_cluster_allocated_another_ip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The story: a pull request's check plans the commit from `--live-git HEAD~1`, without
    cluster access; the model predicts the group at the pool's first address, which a Service
    outside the repository holds in the cluster. Applied later, the plan waits for any one IP
    of the pool for the group, the same for all three, and converges (it does not wait for the
    prediction until it times out)."""
    repo, plan_file = _plan_from_git(tmp_path, capsys, monkeypatch)
    plan = json.loads(plan_file.read_text())
    # the ref as given, and the commit it named: HEAD~1 names another one after the next commit
    named = git(repo, "rev-parse", "HEAD~1").strip()
    assert plan["live_source"] == {"kind": "git", "ref": "HEAD~1", "commit": named}
    predicted = {"predicted": PREDICTED, "pools": ["lan"]}
    assert plan["expected_ips"] == [{TCP: [[predicted]], TLS: [[predicted]], UDP: [[predicted]]}]

    fake = _cluster(tmp_path, monkeypatch, repo)
    assert main(["apply", str(plan_file), "--yes", "--timeout", "10s"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1:3] == ["  wave 1: done", f"    written: {TCP}, {TLS}, {UDP}"]
    cluster = fake.cluster()
    assert cluster.ips(TCP) == cluster.ips(UDP) == cluster.ips(TLS) == ("192.168.10.1",)
    assert cluster.ips("other/legacy") == (PREDICTED,)


def test_the_dry_run_says_it_would_wait_for_any_ip_of_the_pool_and_the_same_for_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, plan_file = _plan_from_git(tmp_path, capsys, monkeypatch)
    _cluster(tmp_path, monkeypatch, repo)
    assert main(["apply", str(plan_file), "--dry-run"]) == 0
    err = capsys.readouterr().err.splitlines()
    waits = [line.strip() for line in err if "wait for" in line]
    assert waits == [
        f"then wait for {svc}: any IP of pool lan (predicted {PREDICTED})"
        for svc in (TCP, TLS, UDP)
    ] + [
        f"then wait for {TCP}, {TLS}, {UDP} to show the same IP",
    ]


def test_a_group_split_over_two_ips_is_not_at_its_expected_ips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any IP of the pool, but one IP for a group predicted to share one: two IPs of the pool
    are not at the expected IPs, nor is an IP outside the pool."""
    from planner.apply.plan_file import read_plan_file
    from planner.plan.stand_in import StandIns

    plan = read_plan_file(_plan_from_git(tmp_path, capsys, monkeypatch)[1])
    wave = plan.waves[0]
    stand_ins = StandIns.of(plan)
    same = stand_ins.arrivals(wave, {svc: ["192.168.10.9"] for svc in (TCP, TLS, UDP)})
    assert same.waiting == ()
    apart = {TCP: ["192.168.10.9"], TLS: ["192.168.10.9"], UDP: ["192.168.10.8"]}
    assert stand_ins.arrivals(wave, apart).split == ((TCP, TLS, UDP),)
    assert stand_ins.arrivals(wave, apart).waiting == (TCP, TLS, UDP)
    outside = stand_ins.arrivals(wave, {svc: ["10.0.0.9"] for svc in (TCP, TLS, UDP)})
    assert outside.waiting == (TCP, TLS, UDP)  # not an IP of pool lan
    pending = stand_ins.arrivals(wave, {TCP: ["192.168.10.9"], UDP: ["192.168.10.9"]})
    assert pending.waiting == (TLS,)


def test_a_requested_ip_another_service_holds_is_refused_before_wave_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan from the git ref takes the pair to hold the IP it requests; in the cluster a
    Service outside the repository holds it, and the pair is pending. The preconditions (spec,
    labels, annotations) cannot see it: apply refuses before writing, one line per Service."""
    requested = ", metallb.io/loadBalancerIPs: 192.168.10.53"
    repo, plan_file = _plan_from_git(tmp_path, capsys, monkeypatch, requested)
    fake = _cluster(tmp_path, monkeypatch, repo, dns_ip="", legacy_ip="192.168.10.53")
    assert fake.cluster().ips(TCP) == ()
    assert main(["apply", str(plan_file), "--yes", "--timeout", "10s"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("planner apply: refused")
    named = git(repo, "rev-parse", "HEAD~1")[:12]
    made_from = f"  the plan was made from git ref HEAD~1 (commit {named}), without statuses"
    assert out[1].startswith(made_from)
    assert out[2:-1] == [
        f"  {svc}: the plan expects it to keep 192.168.10.53; the cluster shows <pending>"
        for svc in (TCP, UDP)
    ]  # not dns-tls: it does not exist yet
    assert fake.arrivals() == []


def test_verify_says_which_expected_ips_are_predictions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify holds the model to its predicted address as before, and says it is a prediction."""
    _, plan_file = _plan_from_git(tmp_path, capsys, monkeypatch)
    assert main(["verify", str(plan_file)]) == 0
    claims = capsys.readouterr().err.splitlines()
    expected = (
        "proved  fixed         wave 1: every Service of the wave ends at its expected IPs "
        f"(predicted, not known, for {TCP}, {TLS}, {UDP})  ("
    )
    assert any(claim.startswith(expected) for claim in claims), claims


def test_preconditions_read_the_committed_manifest_as_a_subset_of_the_live_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server defaults what the commit left out (clusterIP, ...): that is no change, and
    the story above applies. A field the commit sets and the cluster holds otherwise is one."""
    import copy

    repo, plan_file = _plan_from_git(tmp_path, capsys, monkeypatch)
    fake = _cluster(tmp_path, monkeypatch, repo)
    assert "clusterIP" in fake.cluster().store[TCP]["spec"]
    edited = copy.deepcopy(fake.cluster().store[TCP])
    edited["spec"]["selector"] = {"app": "dns-v2"}
    fake.edit_service(edited)
    assert main(["apply", str(plan_file), "--yes", "--timeout", "10s"]) == 1
    out = capsys.readouterr().out.splitlines()
    named = git(repo, "rev-parse", "HEAD~1")[:12]
    differs = (
        f"{TCP}: differs from its manifest at git ref HEAD~1 (commit {named}) (spec.selector.app)"
    )
    assert out[1:3] == [
        "  the cluster changed since the plan was made; nothing was written",
        f"  {differs}; make the plan again",
    ]
