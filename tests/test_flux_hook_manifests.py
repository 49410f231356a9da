"""The Flux pre-sync hook's manifests (plugins/flux/hook/): its RBAC, and its re-run trigger.

The trigger is `app.sha256`, the digest of every file under the Job's --path, written by
`planner flux trigger` (planner/gitops/flux_trigger.py); the tests build the hook with the real
kustomize (`kubectl kustomize`) the way kustomize-controller does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from planner.errors import InputError
from planner.gitops.flux_trigger import TRIGGER_FILE, job_app_path, trigger_of, update_triggers

REPO_ROOT = Path(__file__).resolve().parent.parent
FLUX = REPO_ROOT / "plugins" / "flux"
HOOK = FLUX / "hook"
HOOK_NAME = "shared-ip-planner-pre-sync-dns"
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "shared-ip-planner-pre-sync"}
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) not on PATH")

Doc = dict[str, Any]


def load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc.get("kind") == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def kustomize(directory: Path) -> list[Doc]:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def build_hook(hook: Path) -> tuple[Doc, Doc]:
    """Build the hook like kustomize-controller: its Job and the trigger ConfigMap it mounts."""
    docs = kustomize(hook)
    job = named(docs, "Job", HOOK_NAME)
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    trigger = named(docs, "ConfigMap", volumes["trigger"]["configMap"]["name"])
    return job, trigger


def app_namespaces() -> set[str]:
    """The namespaces of the example app's Services."""
    services = by_kind(load_all(FLUX / "example-app" / "services.yaml"), "Service")
    assert services
    return {s["metadata"].get("namespace", "default") for s in services}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of this repository's plugins/flux as a Git repository of its own."""
    (tmp_path / ".git").mkdir()
    shutil.copytree(FLUX, tmp_path / "plugins" / "flux")
    return tmp_path


# --- RBAC ----------------------------------------------------------------------------------------


def test_hook_rbac_reads_sources_and_writes_only_services() -> None:
    docs = load_all(HOOK / "rbac.yaml")
    read = named(docs, "ClusterRole", "shared-ip-planner-pre-sync-read")
    readable = {
        (g, r) for rule in read["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    for needed in [
        ("source.toolkit.fluxcd.io", "gitrepositories"),
        ("source.toolkit.fluxcd.io", "gitrepositories/status"),
        ("source.toolkit.fluxcd.io", "ocirepositories"),
        ("source.toolkit.fluxcd.io", "ocirepositories/status"),
        ("", "services"),
        ("", "namespaces"),
        ("metallb.io", "ipaddresspools"),
    ]:
        assert needed in readable, needed
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in read["rules"])
    write = named(docs, "ClusterRole", "shared-ip-planner-pre-sync-write")
    assert write["rules"] == [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "patch", "delete"]}
    ]
    # Only reading is granted cluster-wide; writing only through RoleBindings (below).
    bound = {d["roleRef"]["name"] for d in by_kind(docs, "ClusterRoleBinding")}
    assert bound == {read["metadata"]["name"]}


def test_writes_are_bound_only_in_the_apps_namespaces() -> None:
    docs = load_all(HOOK / "rbac.yaml")
    bindings = by_kind(docs, "RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == app_namespaces()
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "shared-ip-planner-pre-sync-write",
        }
        assert binding["subjects"] == [{**SERVICE_ACCOUNT, "namespace": "flux-system"}]


def test_the_apps_namespaces_are_created_if_missing_never_updated_nor_pruned() -> None:
    namespaces = by_kind(load_all(HOOK / "rbac.yaml"), "Namespace")
    assert {n["metadata"]["name"] for n in namespaces} == app_namespaces()
    for namespace in namespaces:
        assert namespace["metadata"]["annotations"] == {
            "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent",
            "kustomize.toolkit.fluxcd.io/prune": "disabled",
        }


@needs_kubectl
def test_the_built_hook_keeps_each_binding_in_its_namespace() -> None:
    docs = kustomize(HOOK)
    (binding,) = by_kind(docs, "RoleBinding")
    assert binding["metadata"]["namespace"] == "dns"
    assert not [d for d in by_kind(docs, "ClusterRoleBinding") if "write" in d["roleRef"]["name"]]
    for kind in ("ServiceAccount", "Job", "ConfigMap"):
        for doc in by_kind(docs, kind):
            assert doc["metadata"]["namespace"] == "flux-system", kind
    job, trigger = build_hook(HOOK)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == SERVICE_ACCOUNT["name"]
    assert re.fullmatch(r"shared-ip-planner-trigger-dns-[a-z0-9]{10}", trigger["metadata"]["name"])


# --- the re-run trigger --------------------------------------------------------------------------


def test_the_shipped_trigger_is_up_to_date() -> None:
    """Edit plugins/flux/example-app? Run `planner flux trigger plugins/flux/hook`."""
    (trigger,) = update_triggers([HOOK], REPO_ROOT, check=True)
    assert trigger.app_dir == REPO_ROOT / "plugins" / "flux" / "example-app"
    assert not trigger.stale, trigger.current


def test_the_trigger_file_is_what_the_hook_generates_its_configmap_from() -> None:
    kustomization = yaml.safe_load((HOOK / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert generator["files"] == [TRIGGER_FILE]  # one file: nothing to list by hand
    assert generator["namespace"] == "flux-system"
    assert "namespace" not in kustomization  # it would move the RoleBindings to flux-system


@needs_kubectl
def test_adding_a_file_under_the_app_path_reruns_the_hook(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = repo / "plugins" / "flux" / "hook"
    job, trigger = build_hook(hook)
    assert trigger["metadata"]["name"].startswith("shared-ip-planner-trigger-dns-")
    assert trigger["metadata"]["namespace"] == "flux-system"
    added = repo / "plugins" / "flux" / "example-app" / "more" / "web.yaml"
    added.parent.mkdir()
    added.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: dns}\n")

    assert main(["flux", "trigger", "--check", "--root", str(repo), str(hook)]) == 1
    assert f"would update {hook / TRIGGER_FILE}" in capsys.readouterr().out
    assert main(["flux", "trigger", str(hook)]) == 0  # the root found through .git
    changed_job, changed_trigger = build_hook(hook)
    assert changed_trigger["metadata"]["name"] != trigger["metadata"]["name"]
    assert changed_job["spec"]["template"] != job["spec"]["template"]
    assert main(["flux", "trigger", "--check", str(hook)]) == 0


@needs_kubectl
def test_hook_reruns_when_any_file_under_the_app_path_changes_and_only_then(repo: Path) -> None:
    hook = repo / "plugins" / "flux" / "hook"
    app = repo / "plugins" / "flux" / "example-app"
    job, trigger = build_hook(hook)

    (repo / "plugins" / "flux" / "README.md").write_text("outside the app's path\n")
    assert not trigger_of(hook).stale
    assert build_hook(hook) == (job, trigger)

    for path, before, after in [
        (app / "services.yaml", "Local", "Cluster"),
        (app / "namespace.yaml", "name: dns", "name: dns\n  labels: {team: edge}"),
    ]:
        path.write_text(path.read_text().replace(before, after))
        update_triggers([hook])
        changed_job, changed_trigger = build_hook(hook)
        assert changed_trigger["metadata"]["name"] != trigger["metadata"]["name"], path.name
        assert changed_job["spec"]["template"] != job["spec"]["template"], path.name
        job, trigger = changed_job, changed_trigger


def test_a_hook_inside_the_app_path_does_not_chase_its_own_digest(repo: Path) -> None:
    app = repo / "plugins" / "flux" / "example-app"
    hook = app / "pre-sync"
    shutil.copytree(HOOK, hook)
    (hook / TRIGGER_FILE).unlink()
    (first,) = update_triggers([hook])
    assert first.stale and first.current is None
    (second,) = update_triggers([hook], check=True)
    assert not second.stale


def test_the_digest_covers_names_links_and_hidden_files_but_not_git(repo: Path) -> None:
    hook = repo / "plugins" / "flux" / "hook"
    app = repo / "plugins" / "flux" / "example-app"
    before = trigger_of(hook).wanted
    (app / ".git").mkdir()
    (app / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert trigger_of(hook).wanted == before
    digests = {before}
    changes = [
        lambda: (app / "services.yaml").rename(app / "renamed.yaml"),
        lambda: (app / ".sourceignore").write_text("*.md\n"),
        lambda: (app / "link.yaml").symlink_to("/etc/hostname"),
    ]
    for change in changes:
        change()
        digests.add(trigger_of(hook).wanted)
    assert len(digests) == 1 + len(changes)


def test_a_job_without_path_or_a_missing_app_is_an_error(repo: Path) -> None:
    hook = repo / "plugins" / "flux" / "hook"
    job = hook / "job.yaml"
    assert job_app_path(job) == "./plugins/flux/example-app"
    job.write_text(job.read_text().replace("./plugins/flux/example-app", "./nowhere"))
    with pytest.raises(InputError, match="--path ./nowhere is no directory"):
        trigger_of(hook)
    job.write_text(job.read_text().replace("- --path\n", ""))
    with pytest.raises(InputError, match="no Job container passes --path"):
        trigger_of(hook)


def test_a_hook_outside_any_git_repository_needs_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(FLUX, tmp_path / "plugins" / "flux")
    hook = tmp_path / "plugins" / "flux" / "hook"
    assert main(["flux", "trigger", "--check", str(hook)]) == 2
    assert "give the artifact root with --root" in capsys.readouterr().err
    assert main(["flux", "trigger", "--check", "--root", str(tmp_path), str(hook)]) == 0


def test_pre_commit_publishes_the_trigger_hook() -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "planner-flux-trigger"]
    assert hook["entry"] == "planner flux trigger"
    assert hook["pass_filenames"] is False and hook["always_run"] is True
