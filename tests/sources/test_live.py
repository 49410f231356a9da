"""planner.sources.live: snapshots, kubectl (a fake one on PATH), and git refs (real repos)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import InputError, Origin, ToolFailedError, ToolMissingError
from planner.objects import ObjectKey
from planner.sources.helm import HelmOptions
from planner.sources.live import load_live_file, load_live_git, load_live_kubectl
from tests.sources.conftest import git, kustomize_available, service_yaml, write

# What `kubectl get svc,ipaddresspools.metallb.io,namespaces -A -o yaml` prints (trimmed).
KUBECTL_LIST = """\
apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      metallb.io/ip-allocated-from-pool: lan
      metallb.universe.tf/allow-shared-ip: dns
    creationTimestamp: "2024-05-01T10:00:00Z"
    name: dns-tcp
    namespace: dns
    resourceVersion: "1234"
    uid: 0b5c6a52-0000-0000-0000-000000000001
  spec:
    clusterIP: 10.96.0.53
    externalTrafficPolicy: Cluster
    ports:
    - name: dns-tcp
      nodePort: 31053
      port: 53
      protocol: TCP
      targetPort: 53
    selector:
      app: dns
    type: LoadBalancer
  status:
    loadBalancer:
      ingress:
      - ip: 192.168.10.53
        ipMode: VIP
- apiVersion: metallb.io/v1beta1
  kind: IPAddressPool
  metadata:
    name: lan
    namespace: metallb-system
  spec:
    addresses:
    - 192.168.10.0/24
- apiVersion: v1
  kind: Namespace
  metadata:
    labels:
      kubernetes.io/metadata.name: dns
    name: dns
kind: List
metadata:
  resourceVersion: ""
"""


def test_a_kubectl_list_snapshot_gives_services_pools_and_namespaces(tmp_path: Path) -> None:
    path = write(tmp_path / "live.yaml", KUBECTL_LIST)
    live = load_live_file(str(path))
    assert [obj.key for obj in live.objects] == [
        ObjectKey("Service", "dns", "dns-tcp"),
        ObjectKey("IPAddressPool", "metallb-system", "lan"),
        ObjectKey("Namespace", "", "dns"),
    ]
    assert live.services["dns/dns-tcp"]["status"]["loadBalancer"]["ingress"][0]["ip"] == (
        "192.168.10.53"
    )
    assert [pool["metadata"]["name"] for pool in live.pools] == ["lan"]
    assert live.namespaces == {"dns": {"kubernetes.io/metadata.name": "dns"}}
    assert live.from_git is False
    lines = KUBECTL_LIST.splitlines()
    item_lines = [n for n, line in enumerate(lines, start=1) if line.startswith("- apiVersion")]
    assert [obj.origin.line for obj in live.objects if obj.origin] == item_lines


def test_a_stream_snapshot_and_a_json_snapshot_read_the_same(tmp_path: Path) -> None:
    import yaml

    body = yaml.safe_load(KUBECTL_LIST)
    stream = "---\n".join(yaml.safe_dump(item) for item in body["items"])
    from_stream = load_live_file(str(write(tmp_path / "live.yml", stream)))
    from_json = load_live_file(str(write(tmp_path / "live.json", json.dumps(body))))
    assert from_stream.services == from_json.services
    assert from_stream.pools == from_json.pools
    assert [o.origin.document for o in from_stream.objects if o.origin] == [0, 1, 2]


def test_a_missing_snapshot_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the live snapshot `.*nope.yaml` does not exist"):
        load_live_file(str(tmp_path / "nope.yaml"))


def test_duplicates_in_a_snapshot_are_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path / "live.yaml", service_yaml("a") + "---\n" + service_yaml("a"))
    with pytest.raises(InputError, match="live.yaml: document 2, line 11: Service default/a is"):
        load_live_file(str(path))


# --- kubectl --------------------------------------------------------------------------------------


def test_load_live_kubectl_runs_kubectl_and_parses_its_output(
    tmp_path: Path, fake_bin: Callable[..., Path]
) -> None:
    calls = tmp_path / "calls"
    snapshot = write(tmp_path / "snapshot.yaml", KUBECTL_LIST)
    fake_bin("kubectl", f'echo "$@" > {calls}\ncat {snapshot}\n')
    live = load_live_kubectl(context="prod")
    assert calls.read_text().split() == [
        "--context", "prod", "--request-timeout=30s",
        "get", "svc,ipaddresspools.metallb.io,namespaces", "-A", "-o", "json",
    ]  # fmt: skip
    assert list(live.services) == ["dns/dns-tcp"]
    assert live.objects[0].origin == Origin(
        "kubectl get svc,ipaddresspools.metallb.io,namespaces (context prod)", 0, 3
    )


def test_a_failing_kubectl_reports_its_exit_code_and_stderr(
    fake_bin: Callable[..., Path],
) -> None:
    fake_bin("kubectl", 'echo "error: context \\"prod\\" does not exist" >&2\nexit 1\n')
    with pytest.raises(ToolFailedError) as caught:
        load_live_kubectl(context="prod")
    assert caught.value.returncode == 1
    assert str(caught.value).endswith('exit code 1: error: context "prod" does not exist')


def test_without_kubectl_the_message_names_kubectl(fake_bin: Callable[..., Path]) -> None:
    with pytest.raises(ToolMissingError, match="`kubectl` was not found on PATH"):
        load_live_kubectl()


# --- git ref --------------------------------------------------------------------------------------


def _commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)


def test_live_git_reads_the_sources_as_they_were_at_the_ref(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(git_repo / "manifests" / "dns.yaml", service_yaml("dns", "dns", ip="192.168.10.53"))
    _commit_all(git_repo, "base")
    write(git_repo / "manifests" / "dns.yaml", service_yaml("dns", "dns", ip="192.168.10.54"))
    write(git_repo / "manifests" / "web.yaml", service_yaml("web", "web"))
    _commit_all(git_repo, "change")
    write(git_repo / "manifests" / "dirty.yaml", service_yaml("dirty"))  # not committed
    status_before = git(git_repo, "status", "--porcelain")
    monkeypatch.chdir(git_repo)

    live = load_live_git("HEAD~1", ["manifests"])
    assert live.from_git is True
    assert list(live.services) == ["dns/dns"]
    annotations = live.services["dns/dns"]["metadata"]["annotations"]
    assert annotations["metallb.universe.tf/loadBalancerIPs"] == "192.168.10.53"
    assert live.objects[0].origin == Origin("HEAD~1:manifests/dns.yaml", 0, 1)
    assert list(load_live_git("main", ["manifests"]).services) == ["dns/dns", "web/web"]
    assert git(git_repo, "status", "--porcelain") == status_before  # the work tree is untouched
    assert git(git_repo, "worktree", "list").count("\n") == 1


def test_live_git_paths_are_relative_to_the_current_directory(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(git_repo / "apps" / "dns" / "svc.yaml", service_yaml("dns"))
    _commit_all(git_repo, "base")
    monkeypatch.chdir(git_repo / "apps")
    live = load_live_git("main", ["dns", "."])
    assert [o.origin.file for o in live.objects if o.origin] == ["main:apps/dns/svc.yaml"]


def test_live_git_reads_a_whole_repository_given_as_dot(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(git_repo / "svc.yaml", service_yaml("dns"))
    _commit_all(git_repo, "base")
    monkeypatch.chdir(git_repo)
    live = load_live_git("main", ["."])
    assert [o.origin.file for o in live.objects if o.origin] == ["main:svc.yaml"]


def test_a_path_that_did_not_exist_at_the_ref_reads_as_empty_with_a_note(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(git_repo / "old" / "svc.yaml", service_yaml("old"))
    _commit_all(git_repo, "base")
    write(git_repo / "new" / "svc.yaml", service_yaml("new"))
    monkeypatch.chdir(git_repo)
    live = load_live_git("main", ["new"])
    assert live.objects == []
    assert live.notes == ["main:new: does not exist at main; read as empty"]


@pytest.mark.skipif(not kustomize_available(), reason="neither kustomize nor kubectl is installed")
def test_a_kustomization_is_rendered_as_it_was_at_the_ref(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(git_repo / "base" / "svc.yaml", service_yaml("dns"))
    write(git_repo / "base" / "kustomization.yaml", "resources:\n- svc.yaml\n")
    write(git_repo / "prod" / "kustomization.yaml", "resources:\n- ../base\nnamespace: edge\n")
    _commit_all(git_repo, "base")
    write(git_repo / "prod" / "kustomization.yaml", "resources:\n- ../base\nnamespace: core\n")
    monkeypatch.chdir(git_repo)
    live = load_live_git("main", ["prod"])
    assert [(str(o.key), o.rendered_by) for o in live.objects] == [
        ("Service edge/dns", "kustomize")
    ]
    assert live.objects[0].origin == Origin("main:prod", 0, 1)


def test_helm_values_files_in_the_repository_are_read_as_at_the_ref(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, fake_bin: Callable[..., Path]
) -> None:
    # The fake helm prints its values files: they stand in for the rendered manifests.
    calls = git_repo.parent / "helm-calls"
    fake_bin(
        "helm",
        f'echo "$@" > {calls}\nwhile [ $# -gt 0 ]; do [ "$1" = --values ] && cat "$2"; shift; done\n',
    )
    write(git_repo / "chart" / "Chart.yaml", "apiVersion: v2\nname: dns\nversion: 0.1.0\n")
    write(git_repo / "values-prod.yaml", service_yaml("at-ref"))
    _commit_all(git_repo, "base")
    write(git_repo / "values-prod.yaml", service_yaml("in-work-tree"))
    monkeypatch.chdir(git_repo)
    helm = HelmOptions(namespace="edge", values=("values-prod.yaml",), kube_version="1.30.0")
    live = load_live_git("main", ["chart"], helm=helm)
    assert list(live.services) == ["edge/at-ref"]
    assert "--namespace edge" in calls.read_text()
    assert "--kube-version 1.30.0" in calls.read_text()


def test_an_unknown_ref_is_an_input_error(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(git_repo / "svc.yaml", service_yaml("dns"))
    _commit_all(git_repo, "base")
    monkeypatch.chdir(git_repo)
    with pytest.raises(InputError, match=r"`origin/main` is not a commit in the git repository"):
        load_live_git("origin/main", ["."])
    with pytest.raises(InputError, match=r"`--upload-pack=x` is not a git ref"):
        load_live_git("--upload-pack=x", ["."])


def test_live_git_outside_a_repository_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="--live-git needs a git repository"):
        load_live_git("main", ["."])


def test_live_git_refuses_paths_outside_the_repository_and_stdin(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(git_repo / "svc.yaml", service_yaml("dns"))
    _commit_all(git_repo, "base")
    monkeypatch.chdir(git_repo)
    with pytest.raises(InputError, match="is outside the git repository"):
        load_live_git("main", [str(tmp_path)])
    with pytest.raises(InputError, match="cannot read stdin"):
        load_live_git("main", ["-"])


def test_a_secrets_string_data_at_a_git_ref_is_no_change(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SOPS Secret written with stringData, untouched by the commit, is unchanged: the live
    side at the ref is folded into data as the desired side is (onedr0p/home-ops, 3 false
    updates of encrypted Secrets)."""
    from planner.cli import main

    monkeypatch.chdir(git_repo)
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: basic-auth\n  namespace: networking\n"
        "stringData:\n  users: ENC[AES256_GCM,data:x]\nsops:\n  mac: ENC[AES256_GCM,data:y]\n"
    )
    write(git_repo / "apps/secret.enc.yaml", secret)
    write(git_repo / "apps/dns.yaml", service_yaml("dns", "dns", "192.168.1.53"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "--quiet", "-m", "one")
    assert main(["diff", "apps", "--live-git", "HEAD", "-q"]) == 0  # no changes
    assert capsys.readouterr().err == ""


def test_kinds_a_cluster_snapshot_does_not_hold_are_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A home-ops app directory holds a Flux Kustomization (or HelmRelease, Deployment...) next
    to its Services; `kubectl get svc,ipaddresspools.metallb.io,namespaces` holds none, so it
    is unknown, not created (before: "1 create", exit 1 for a commit changing nothing)."""
    from planner.cli import main

    monkeypatch.chdir(tmp_path)
    ks = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: dns\n  namespace: flux-system\nspec:\n  path: ./elsewhere\n"
    )
    write(tmp_path / "apps/ks.yaml", ks)
    write(tmp_path / "apps/dns.yaml", service_yaml("dns", "dns", "192.168.1.53"))
    live = service_yaml("dns", "dns", "192.168.1.53").replace(
        "metadata:\n", "metadata:\n  uid: u1\n  resourceVersion: '1'\n"
    )
    write(tmp_path / "live.yaml", live)
    assert main(["diff", "apps", "--live", "live.yaml", "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["changes"]["create"] == 0
    note = "the live state holds no Kustomization: 1 desired object was not compared"
    assert [n for n in report["notes"] if n.startswith("the live state")] == [
        f"{note} (unknown, not created)"
    ]


def test_a_manifest_unreadable_at_the_git_ref_is_not_read_there_but_is_an_error_here(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commit that mends a malformed manifest must be checkable: before, the ref's file
    stopped the run (exit 2), so the fix's own pull request could never pass. At the ref its
    objects are unknown: said, counted in the verdict, and `--fail-on unrendered` blocks."""
    monkeypatch.chdir(git_repo)
    broken = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\nspec: {ports: [\n"
    (git_repo / "app").mkdir()
    (git_repo / "app/svc.yaml").write_text(broken)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "--quiet", "-m", "broken")
    assert main(["diff", "app", "--live-git", "HEAD"]) == 2
    assert capsys.readouterr().err.startswith("planner: error: app/svc.yaml: document 1, line 5")
    (git_repo / "app/svc.yaml").write_text(broken.replace("[\n", "[{port: 53}]}\n"))
    git(git_repo, "commit", "--quiet", "-am", "mended")
    assert main(["diff", "app", "--live-git", "HEAD~1", "--fail-on", "unrendered"]) == 3
    out = capsys.readouterr().out
    assert (
        out.splitlines()[0] == "blocks: 1 file not read (Services unchecked) (--fail-on unrendered)"
    )
    assert (
        "HEAD~1:app/svc.yaml: document 1, line 5: file HEAD~1:app/svc.yaml not read (malformed "
        "YAML: " in out
    )
