"""planner.kubectl: the argv it builds (checked against the real kubectl where present) and its
calls answered by the stand-in kubectl backed by the simulated cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from planner.errors import ToolFailedError, ToolMissingError
from planner.kubectl import FIELD_MANAGER, Kubectl, KubectlCall, UnexpectedOutputError
from planner.model.group_annotations import NUDGE_ANNOTATION
from tests.fakes.fake_cluster import FakeCluster, write_state
from tests.fakes.plans import SHARED_IP, TCP, UDP, seed_desired, seed_live

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "dns-tcp", "namespace": "dns"},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 53, "protocol": "TCP"}]},
}


def _kubectl(**kwargs: str) -> Kubectl:
    return Kubectl(binary="/bin/kubectl", **kwargs)


# --- argv builders -------------------------------------------------------------------------------


def test_base_argv_carries_context_kubeconfig_and_request_timeout() -> None:
    argv = _kubectl(context="prod", kubeconfig="/k/config").base_argv()
    assert argv == [
        "/bin/kubectl",
        "--kubeconfig",
        "/k/config",
        "--context",
        "prod",
        "--request-timeout=30s",
    ]


def test_base_argv_leaves_out_unset_context_and_kubeconfig() -> None:
    assert _kubectl().base_argv() == ["/bin/kubectl", "--request-timeout=30s"]


def test_server_dry_run_is_a_server_side_apply_with_our_field_manager() -> None:
    call = _kubectl().apply_call([SERVICE, SERVICE], server_dry_run=True)
    assert call.argv[2:] == (
        "apply",
        "--server-side",
        "--dry-run=server",
        f"--field-manager={FIELD_MANAGER}",
        "--force-conflicts",
        "-f",
        "-",
    )
    assert not call.mutating
    body = json.loads(call.stdin or "")
    assert body["kind"] == "List" and body["items"] == [SERVICE, SERVICE]


def test_real_apply_is_the_same_call_without_dry_run_and_is_mutating() -> None:
    call = _kubectl().apply_call([SERVICE], server_dry_run=False)
    assert "--dry-run=server" not in call.argv and "--server-side" in call.argv
    assert call.mutating
    assert call.summary == "Service dns/dns-tcp"


def test_delete_call_ignores_missing_and_does_not_wait() -> None:
    call = _kubectl().delete_call("dns/dns-tcp", server_dry_run=False)
    assert call.argv[2:] == (
        "delete",
        "service",
        "dns-tcp",
        "-n",
        "dns",
        "--ignore-not-found",
        "--wait=false",
    )
    assert call.mutating
    dry = _kubectl().delete_call("dns/dns-tcp", server_dry_run=True)
    assert "--dry-run=server" in dry.argv and not dry.mutating


def test_get_services_call_sorts_names_and_asks_for_json() -> None:
    call = _kubectl().get_services_call("dns", ["dns-udp", "dns-tcp"])
    assert call.argv[2:] == (
        "get",
        "services",
        "dns-tcp",
        "dns-udp",
        "-n",
        "dns",
        "-o",
        "json",
        "--ignore-not-found",
    )


def test_get_object_call_for_a_flux_source_fails_when_missing() -> None:
    strict = _kubectl().get_object_call("gitrepository", "flux-system", "app", missing_ok=False)
    assert strict.argv[2:] == ("get", "gitrepository/app", "-n", "flux-system", "-o", "json")
    lenient = _kubectl().get_object_call("configmap", "ops", "journal", missing_ok=True)
    assert lenient.argv[-1] == "--ignore-not-found"


def test_live_state_call_reads_services_pools_and_namespaces_of_every_namespace() -> None:
    call = _kubectl().get_live_state_call()
    assert call.argv[2:] == ("get", "svc,ipaddresspools.metallb.io,namespaces", "-A", "-o", "json")


def test_nudge_is_an_annotate_with_overwrite_and_our_field_manager() -> None:
    call = _kubectl().nudge_call("dns/dns-tcp", NUDGE_ANNOTATION, "v1")
    assert call.argv[2:] == (
        "annotate",
        "service",
        "dns-tcp",
        "-n",
        "dns",
        "--overwrite",
        f"--field-manager={FIELD_MANAGER}",
        f"{NUDGE_ANNOTATION}=v1",
    )
    assert call.mutating


def test_shown_quotes_for_a_shell_and_names_what_stdin_holds() -> None:
    call = KubectlCall(("kubectl", "get", "a b"), "{}", True, "Service dns/x")
    assert call.shown() == "kubectl get 'a b' <<< Service dns/x"


def test_a_missing_kubectl_names_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="install kubectl"):
        Kubectl()


def test_output_that_is_not_json_is_one_clear_error() -> None:
    kubectl = Kubectl(binary="/bin/kubectl", runner=lambda argv, stdin=None: "Error: nope")
    with pytest.raises(UnexpectedOutputError, match="did not print JSON"):
        kubectl.get_services(["dns/dns-tcp"])


# --- every argv accepted by the real kubectl ------------------------------------------------------

REAL_KUBECTL = shutil.which("kubectl", path="/usr/local/bin:/usr/bin:/bin")
needs_kubectl = pytest.mark.skipif(REAL_KUBECTL is None, reason="no real kubectl on this machine")

NOWHERE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: nobody, user: {token: not-a-secret}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
"""


def _run_real(call: KubectlCall) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(call.argv),
        input=call.stdin or "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _reached_the_network(done: subprocess.CompletedProcess[str]) -> bool:
    """kubectl parsed and validated argv and then tried to reach 127.0.0.1:1.

    Flag errors (unknown flag, bad combination, missing argument) are reported before any
    connection, so a connection error means kubectl accepted the command line.
    """
    return "127.0.0.1:1" in done.stderr and "connection refused" in done.stderr


def _real_calls(kubectl: Kubectl) -> dict[str, KubectlCall]:
    return {
        "server dry-run": kubectl.apply_call([SERVICE], server_dry_run=True),
        "apply": kubectl.apply_call([SERVICE], server_dry_run=False),
        "delete": kubectl.delete_call("dns/dns-tcp", server_dry_run=False),
        "delete dry-run": kubectl.delete_call("dns/dns-tcp", server_dry_run=True),
        "get services": kubectl.get_services_call("dns", ["dns-tcp", "dns-udp"]),
        "get flux source": kubectl.get_object_call("gitrepository", "f", "app", missing_ok=False),
        "get configmap": kubectl.get_object_call("configmap", "ops", "j", missing_ok=True),
        "nudge": kubectl.nudge_call("dns/dns-tcp", NUDGE_ANNOTATION, "1"),
        "live state": kubectl.get_live_state_call(),
        "put configmap": kubectl.apply_call(
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {}}],
            server_dry_run=False,
        ),
    }


@needs_kubectl
def test_real_kubectl_accepts_every_command_line_the_adapter_builds(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(NOWHERE_KUBECONFIG, encoding="utf-8")
    kubectl = Kubectl(
        kubeconfig=str(config), binary=REAL_KUBECTL, context="nowhere", request_timeout="2s"
    )
    answers = {name: _run_real(call) for name, call in _real_calls(kubectl).items()}
    refused = {
        name: done.stderr.strip().splitlines()[-1:]
        for name, done in answers.items()
        if not _reached_the_network(done)
    }
    assert refused == {}


@needs_kubectl
def test_the_acceptance_check_catches_a_command_line_kubectl_refuses(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(NOWHERE_KUBECONFIG, encoding="utf-8")
    kubectl = Kubectl(kubeconfig=str(config), binary=REAL_KUBECTL, request_timeout="2s")
    good = kubectl.apply_call([SERVICE], server_dry_run=True)
    bad_flag = KubectlCall((*good.argv[:-2], "--no-such-flag", "-f", "-"), good.stdin)
    bad_mix = KubectlCall(
        tuple(a.replace("--dry-run=server", "--dry-run=client") for a in good.argv), good.stdin
    )
    assert not _reached_the_network(_run_real(bad_flag))
    assert not _reached_the_network(_run_real(bad_mix))


# --- calls answered by the stand-in kubectl ------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    services, pools = seed_live()
    state = tmp_path / "state.json"
    write_state(state, behavior="metallb-0.15", services=services, pools=pools)
    objects = {"gitrepository/flux-system/app": {"kind": "GitRepository", "status": {"x": 1}}}
    state_data = json.loads(state.read_text())
    state_data["objects"] = objects
    state.write_text(json.dumps(state_data))
    cluster = FakeCluster(state)
    for name, value in cluster.env().items():
        monkeypatch.setenv(name, value)
    return cluster


def test_get_services_returns_live_objects_and_none_for_missing(fake: FakeCluster) -> None:
    found = Kubectl().get_services([TCP, UDP, "dns/absent", "other/none"])
    assert sorted(found) == ["dns/absent", TCP, UDP, "other/none"]
    assert found["dns/absent"] is None and found["other/none"] is None
    assert found[TCP]["status"]["loadBalancer"]["ingress"][0]["ip"] == SHARED_IP


def test_apply_reaches_the_controller_model(fake: FakeCluster) -> None:
    kubectl = Kubectl()
    tcp = next(m for m in seed_desired() if m["metadata"]["name"] == "dns-tcp")
    kubectl.apply(tcp)
    live = kubectl.get_services([TCP])[TCP]
    assert live["spec"]["externalTrafficPolicy"] == "Local"
    # metallb-0.15, each write handled before the next: the first mover loses the shared IP.
    assert fake.cluster().statuses(TCP) == [(SHARED_IP,), ()]


def test_server_dry_run_changes_nothing(fake: FakeCluster) -> None:
    Kubectl().server_dry_run(seed_desired())
    assert fake.arrivals() == []


def test_a_failed_apply_is_tool_failed_with_kubectls_stderr_line(fake: FakeCluster) -> None:
    fake.set_faults(fail_apply={"service": TCP})
    tcp = next(m for m in seed_desired() if m["metadata"]["name"] == "dns-tcp")
    with pytest.raises(ToolFailedError, match="injected fault") as raised:
        Kubectl().apply(tcp)
    assert raised.value.returncode == 1
    assert "externalTrafficPolicy" not in str(raised.value)  # bodies never reach messages


def test_flux_source_is_read_and_a_missing_one_is_kubectls_not_found(fake: FakeCluster) -> None:
    kubectl = Kubectl()
    assert kubectl.get_flux_source("gitrepository", "flux-system", "app")["status"] == {"x": 1}
    with pytest.raises(ToolFailedError, match="NotFound"):
        kubectl.get_flux_source("gitrepository", "flux-system", "missing")


def test_configmap_round_trip(fake: FakeCluster) -> None:
    kubectl = Kubectl()
    assert kubectl.get_configmap("ops", "journal") is None
    kubectl.put_configmap("ops", "journal", {"b": "2", "a": "1"})
    assert kubectl.get_configmap("ops", "journal")["data"] == {"a": "1", "b": "2"}


def test_nudge_is_a_write_the_controller_handles(fake: FakeCluster) -> None:
    Kubectl().nudge(TCP, NUDGE_ANNOTATION, "n1")
    live = Kubectl().get_services([TCP])[TCP]
    assert live["metadata"]["annotations"][NUDGE_ANNOTATION] == "n1"
    assert fake.arrivals() == [TCP]
