"""`planner argocd generate`, run as Argo CD's CMP server runs it, and its parts in-process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError, Origin
from planner.gitops.argocd import BEHAVIORS as ARGO_BEHAVIORS
from planner.gitops.argocd import (
    DEFAULT_IMAGE,
    DEFAULT_KUBECONFIG,
    dump_stream,
    generate,
    helm_options,
    options_of,
    place_waves,
    read_context,
    repository_root,
)
from planner.model.controller import BEHAVIORS, DEFAULT_TARGET
from planner.model.group_annotations import desired_sharing_groups
from planner.objects import KubeObject, ObjectKey
from planner.sources.documents import parse_yaml, read_documents
from planner.sources.helm import helm_template_argv
from planner.sources.live import load_live_file
from tests.conftest import with_lb_class

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "samples"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argocd"
KUBECTL = shutil.which("kubectl")
HELM = shutil.which("helm")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) not on PATH")
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not on PATH: Helm apps not rendered")

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
DIGEST = "shared-ip-planner.dev/group-digest"
MARKER = ".shared-ip-planner.yaml"

Doc = dict[str, Any]


# --- running the command as the CMP server does -------------------------------------------------


def copy_app(tmp_path: Path, source: Path, source_path: str) -> Path:
    """A fresh copy of a repository holding `source` at `source_path`, with the marker file."""
    target = tmp_path / "repo" / source_path
    shutil.copytree(source, target)
    (target / MARKER).write_text("")
    return target


def outside_any_repository(tmp_path: Path, source: Path) -> Path:
    """A copy of an app directory in no git repository: without ARGOCD_APP_SOURCE_PATH the
    generator takes the enclosing repository as the root, and this checkout may hold a
    virtualenv whose symlinks point outside it (the README's `.venv`)."""
    target = tmp_path / "app"
    shutil.copytree(source, target)
    return target


def argo_env(app: str, namespace: str, source_path: str, **params: str) -> dict[str, str]:
    """The variables argocd-cmp-server sets for `generate` (parameters as PARAM_<NAME>)."""
    env = {
        "ARGOCD_APP_NAME": app,
        "ARGOCD_APP_NAMESPACE": namespace,
        "ARGOCD_APP_REVISION": "4f7c2a1d9e0b3c5a6f8d7e9c1b2a3d4e5f6a7b8c",
        "ARGOCD_APP_SOURCE_PATH": source_path,
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/platform/edge.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "main",
        "KUBE_VERSION": "1.32.4",
        "KUBE_API_VERSIONS": "v1,apps/v1,batch/v1,metallb.io/v1beta1",
    }
    for name, value in params.items():
        env["PARAM_" + name.upper()] = value
    return env


def run_generate(
    cwd: Path, env: Mapping[str, str], path: str | None = None, args: Sequence[str] = ()
) -> subprocess.CompletedProcess[bytes]:
    """`python -m planner.cli argocd generate [args]` in `cwd`, stdin closed, only the given env
    (`args` as the sidecar's plugin.yaml would give them)."""
    full_env = {
        "PATH": os.environ.get("PATH", os.defpath) if path is None else path,
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO_ROOT),
        # Compiled modules kept outside the repository, shared by the runs of this session.
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "planner-test-argocd-pycache"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "planner.cli", "argocd", "generate", *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=180,
        check=False,
    )


def documents(stdout: bytes) -> list[Doc]:
    """The stream as Kubernetes reads it (timestamps stay strings); every document an object."""
    parsed = parse_yaml(stdout.decode("utf-8"), "<stdout>")
    assert not parsed.notes
    for doc in (d.body for d in parsed.documents):
        assert isinstance(doc["apiVersion"], str) and isinstance(doc["kind"], str)
        assert doc["metadata"]["name"]
    return [d.body for d in parsed.documents]


def annotations(doc: Doc) -> dict[str, str]:
    return doc["metadata"].get("annotations") or {}


def services(docs: list[Doc]) -> dict[str, Doc]:
    return {
        f"{d['metadata'].get('namespace', 'default')}/{d['metadata']['name']}": d
        for d in docs
        if d["kind"] == "Service"
    }


def wave(doc: Doc) -> int:
    return int(annotations(doc).get(SYNC_WAVE, "0"))


def assert_failed_cleanly(result: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    """Non-zero exit, nothing on stdout, one `planner: error:` line naming `needles`."""
    assert result.returncode != 0
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith("planner: error: ") and stderr.count("\n") == 1, stderr
    for needle in needles:
        assert needle in stderr, stderr
    return stderr


def assert_groups_stamped(docs: list[Doc], expected_members: list[list[str]]) -> None:
    """Every member of every sharing group carries its group's digest, and only they do."""
    by_svc = services(docs)
    groups = desired_sharing_groups(list(by_svc.values()))
    assert [list(g.members) for g in groups] == expected_members
    for group in groups:
        assert {annotations(by_svc[m])[DIGEST] for m in group.members} == {group.digest}
    members = {m for g in groups for m in g.members}
    for svc, doc in by_svc.items():
        assert (DIGEST in annotations(doc)) == (svc in members)


# --- sample repositories, plain YAML ------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> list[subprocess.CompletedProcess[bytes]]:
    """The seed sample generated twice, from two copies with different revisions."""
    runs = []
    for copy_index, revision in enumerate(("aaaa", "bbbb")):
        tmp = tmp_path_factory.mktemp(f"seed{copy_index}")
        app = copy_app(tmp, SAMPLES / "seed-dns-local" / "desired", "apps/dns")
        env = {**argo_env("dns", "dns", "apps/dns"), "ARGOCD_APP_REVISION": revision}
        runs.append(run_generate(app, env))
    return runs


def test_seed_sample_prints_only_objects_with_one_digest_per_group(
    seed_runs: list[subprocess.CompletedProcess[bytes]],
) -> None:
    result = seed_runs[0]
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    docs = documents(result.stdout)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("IPAddressPool", "lan"),
        ("Service", "dns-tcp"),
        ("Service", "dns-udp"),
    ]
    assert_groups_stamped(docs, [["dns/dns-tcp", "dns/dns-udp"]])
    assert {wave(d) for d in docs} == {0}  # one plan wave: nothing moves


def test_two_runs_from_two_copies_give_identical_bytes(
    seed_runs: list[subprocess.CompletedProcess[bytes]],
) -> None:
    assert seed_runs[0].returncode == 0
    assert seed_runs[0].stdout == seed_runs[1].stdout


def test_join_group_sample_stamps_all_three_members(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "join-group" / "desired", "ingress")
    result = run_generate(app, argo_env("ingress", "ingress", "ingress"))
    assert result.returncode == 0, result.stderr
    members = ["ingress/ingress-http", "ingress/ingress-http3", "ingress/ingress-https"]
    assert_groups_stamped(documents(result.stdout), [members])


def test_waves_put_the_group_before_what_could_take_its_address_and_keep_objects(
    tmp_path: Path,
) -> None:
    app = copy_app(tmp_path, FIXTURES / "waves", "web")
    result = run_generate(app, argo_env("web", "web", "web"))
    assert result.returncode == 0, result.stderr
    docs = documents(result.stdout)
    by_svc = services(docs)
    assert_groups_stamped(docs, [["web/web-http", "web/web-https"]])
    assert wave(by_svc["web/web-http"]) == wave(by_svc["web/web-https"]) == 0
    assert wave(by_svc["web/batch"]) == 1  # auto-assigned: after the requested 10.20.0.10
    assert SYNC_WAVE not in annotations(by_svc["web/web-internal"])
    assert_others_unchanged(docs, sorted((FIXTURES / "waves").glob("*.yaml")))


def assert_others_unchanged(docs: list[Doc], files: list[Path]) -> None:
    """Every non-Service object of `files` is in the output with exactly its content."""
    originals = [
        d.body
        for path in files
        for d in read_documents(path).documents
        if d.body["kind"] != "Service"
    ]
    emitted = [d for d in docs if d["kind"] != "Service"]
    key = lambda d: (d["kind"], d["metadata"]["name"])
    assert sorted(emitted, key=key) == sorted(originals, key=key)


def test_the_marker_file_is_not_read_as_a_manifest(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "dns")
    (app / MARKER).write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: marker}\n")
    result = run_generate(app, argo_env("dns", "dns", "dns"))
    assert result.returncode == 0, result.stderr
    assert "marker" not in {d["metadata"]["name"] for d in documents(result.stdout)}


# --- kustomize and helm through the real binaries ----------------------------------------------


@needs_kubectl
def test_kustomize_overlay_through_real_kubectl(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "kustomize-overlay", tmp_path / "repo" / "dns")
    app = tmp_path / "repo" / "dns" / "overlays" / "local"
    (app / MARKER).write_text("")
    result = run_generate(app, argo_env("dns", "dns", "dns/overlays/local"))
    assert result.returncode == 0, result.stderr
    docs = documents(result.stdout)
    assert_groups_stamped(docs, [["dns/dns-tcp", "dns/dns-udp"]])
    for svc in services(docs).values():
        assert svc["spec"]["externalTrafficPolicy"] == "Local"  # the overlay's patch applied
    assert KUBECTL is not None
    plain = subprocess.run(
        [KUBECTL, "kustomize", str(app)], capture_output=True, text=True, check=True, timeout=60
    )
    rendered = [d.body for d in parse_yaml(plain.stdout, "kustomize").documents]
    assert [d for d in docs if d["kind"] != "Service"] == [
        d for d in rendered if d["kind"] != "Service"
    ]


def test_kustomize_without_kubectl_or_kustomize_on_path_fails_cleanly(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "kustomize-overlay", tmp_path / "repo")
    app = tmp_path / "repo" / "overlays" / "local"
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_generate(app, argo_env("dns", "dns", "overlays/local"), path=str(empty))
    assert_failed_cleanly(result, "`kustomize` was not found on PATH")


def kustomize_app(tmp_path: Path, resources: list[str]) -> Path:
    app = tmp_path / "repo" / "apps" / "dns"
    shutil.copytree(SAMPLES / "seed-dns-local" / "desired", app)
    (app / "kustomization.yaml").write_text(yaml.safe_dump({"resources": resources}))
    return app


@pytest.mark.parametrize(
    "entry",
    [
        "https://github.com/example/base?ref=v1",
        "github.com/example/base//dns?ref=v1",
        "git@github.com:example/base.git",
    ],
)
def test_a_remote_kustomize_resource_is_refused_before_any_network_use(
    tmp_path: Path, entry: str
) -> None:
    app = kustomize_app(tmp_path, ["dns.yaml", entry])
    with pytest.raises(InputError, match="names the remote resource"):
        generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "apps/dns"}))


def test_a_kustomize_base_outside_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "kustomization.yaml").write_text("resources: []\n")
    app = kustomize_app(tmp_path, ["dns.yaml", "../../../elsewhere"])
    with pytest.raises(InputError, match="`../../../elsewhere`, which lies outside the repository"):
        generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "apps/dns"}))


def test_a_remote_resource_in_an_included_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "repo" / "base"
    base.mkdir(parents=True)
    (base / "kustomization.yaml").write_text("resources: [https://example.com/x.yaml]\n")
    app = kustomize_app(tmp_path, ["dns.yaml", "../../base"])
    with pytest.raises(
        InputError, match=r"^base/kustomization.yaml \(`resources`\) names the remote"
    ):
        generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "apps/dns"}))


@needs_helm
def test_helm_chart_through_real_helm(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "helm-chart" / "chart", "charts/dns")
    result = run_generate(app, argo_env("dns", "dns", "charts/dns", render_mode="helm"))
    assert result.returncode == 0, result.stderr
    docs = documents(result.stdout)
    assert len(desired_sharing_groups(list(services(docs).values()))) == 1


def test_helm_app_without_helm_on_path_fails_cleanly(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "helm-chart" / "chart", "charts/dns")
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_generate(app, argo_env("dns", "dns", "charts/dns"), path=str(empty))
    assert_failed_cleanly(result, "`helm` was not found on PATH")


# --- metallb-0.14: the nudge hook --------------------------------------------------------------


def test_metallb_014_adds_a_sync_hook_job_in_the_groups_wave_with_its_rbac(tmp_path: Path) -> None:
    app = copy_app(tmp_path, FIXTURES / "waves", "web")
    env = {**argo_env("web", "edge", "web", target_behavior="metallb-0.14")}
    result = run_generate(app, env)
    assert result.returncode == 0, result.stderr
    docs = documents(result.stdout)
    by_svc = services(docs)
    (job,) = [d for d in docs if d["kind"] == "Job"]
    hook = annotations(job)
    assert hook["argocd.argoproj.io/hook"] == "Sync"
    assert hook["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation,HookSucceeded"
    assert int(hook[SYNC_WAVE]) == wave(by_svc["web/web-http"])
    digest = annotations(by_svc["web/web-http"])[DIGEST]
    assert job["metadata"]["name"] == f"shared-ip-planner-nudge-{digest[:10]}"
    assert job["metadata"]["namespace"] == "edge"
    env_of = {
        e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env_of["GROUP_DIGEST"] == digest
    assert env_of["MEMBERS"] == env_of["STUCK"] == "web/web-http web/web-https"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == DEFAULT_IMAGE
    rbac = {
        (d["kind"], d["metadata"]["namespace"]) for d in docs if "nudge" in d["metadata"]["name"]
    }
    assert rbac == {
        ("Job", "edge"),
        ("ServiceAccount", "edge"),
        ("Role", "web"),
        ("RoleBinding", "web"),
    }
    for doc in docs:
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            assert wave(doc) == wave(job) - 1


def test_the_nudge_rbac_waits_for_a_namespace_the_app_creates(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "waves", tmp_path / "app")
    (tmp_path / "app" / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
    )
    context = read_context(argo_env("web", "web", "", target_behavior="metallb-0.14"))
    docs = list(yaml.safe_load_all(generate(tmp_path / "app", context)))
    rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    assert len(rbac) == 3
    assert {wave(d) for d in rbac} == {0}  # the Namespace's wave, not -1 before it exists


@pytest.mark.parametrize("behavior", ["metallb-0.15", "fixed"])
def test_other_targets_add_no_hook(behavior: str, tmp_path: Path) -> None:
    context = read_context(argo_env("web", "web", "", target_behavior=behavior))
    app = outside_any_repository(tmp_path, FIXTURES / "waves")
    kinds = {d["kind"] for d in yaml.safe_load_all(generate(app, context))}
    assert "Job" not in kinds and "Role" not in kinds


# --- live state through a configured kubeconfig ------------------------------------------------


def fake_kubectl(tmp_path: Path, snapshot: Path) -> tuple[Path, Path]:
    """A kubectl that records its argv and prints a saved snapshot; returns (bin dir, log)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    script = bin_dir / "kubectl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write(open({str(snapshot)!r}).read())\n"
    )
    script.chmod(0o755)
    return bin_dir, log


def test_live_state_orders_the_release_before_the_claim(tmp_path: Path) -> None:
    app = copy_app(tmp_path, FIXTURES / "live-order" / "desired", "dns")
    bin_dir, log = fake_kubectl(tmp_path, FIXTURES / "live-order" / "live.yaml")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    env = {
        **argo_env("dns", "dns", "dns", live_state="true"),
        "ARGOCD_ENV_SHARED_IP_PLANNER_KUBECONFIG": str(kubeconfig),
    }
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    result = run_generate(app, env, path=path)
    assert result.returncode == 0, result.stderr
    by_svc = services(documents(result.stdout))
    assert wave(by_svc["dns/old-dns"]) == 0  # releases 10.30.0.53
    assert wave(by_svc["dns/dns-tcp"]) == wave(by_svc["dns/dns-udp"]) == 1  # claim it
    (argv,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert argv[:2] == ["--kubeconfig", str(kubeconfig)] and "get" in argv


def test_live_state_lands_a_swap_in_one_wave_without_a_detour(tmp_path: Path) -> None:
    # Sync waves carry the repo's final objects only, so the detour `planner plan` takes under a
    # stock target (an interim address) cannot be one: the swap's two Services share a wave.
    samples = Path(__file__).resolve().parents[2] / "samples" / "swap-ips"
    app = copy_app(tmp_path, samples / "desired", "shop")
    bin_dir, _ = fake_kubectl(tmp_path, samples / "live.yaml")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    env = {
        **argo_env("shop", "shop", "shop", live_state="true"),
        "ARGOCD_ENV_SHARED_IP_PLANNER_KUBECONFIG": str(kubeconfig),
    }
    result = run_generate(app, env, path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert result.returncode == 0, result.stderr
    by_svc = services(documents(result.stdout))
    assert wave(by_svc["shop/blue"]) == wave(by_svc["shop/green"])
    assert "192.168.10.254" not in result.stdout.decode()


def test_without_live_state_kubectl_is_never_run(tmp_path: Path) -> None:
    app = copy_app(tmp_path, FIXTURES / "live-order" / "desired", "dns")
    bin_dir, log = fake_kubectl(tmp_path, FIXTURES / "live-order" / "live.yaml")
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    result = run_generate(app, argo_env("dns", "dns", "dns"), path=path)
    assert result.returncode == 0, result.stderr
    assert not log.exists()
    # Without live state the release cannot be seen: both land in the same wave.
    assert {wave(d) for d in services(documents(result.stdout)).values()} == {0}


def test_live_state_with_an_unreadable_kubeconfig_fails_cleanly(tmp_path: Path) -> None:
    app = copy_app(tmp_path, FIXTURES / "live-order" / "desired", "dns")
    env = {
        **argo_env("dns", "dns", "dns", live_state="true"),
        "ARGOCD_ENV_SHARED_IP_PLANNER_KUBECONFIG": str(tmp_path / "missing"),
    }
    assert_failed_cleanly(run_generate(app, env), "kubeconfig", "missing")


def test_metallb_014_with_live_state_nudges_only_groups_whose_key_changes(tmp_path: Path) -> None:
    context = read_context(argo_env("dns", "dns", "", target_behavior="metallb-0.14"))
    live = load_live_file(str(SAMPLES / "join-group" / "live.yaml"))
    joined = generate(
        outside_any_repository(tmp_path, SAMPLES / "join-group" / "desired"), context, live
    )
    assert "Job" not in {d["kind"] for d in yaml.safe_load_all(joined)}  # same key: no nudge
    live = load_live_file(str(SAMPLES / "seed-dns-local" / "live.yaml"))
    seed = outside_any_repository(tmp_path / "seed", SAMPLES / "seed-dns-local" / "desired")
    seeded = list(yaml.safe_load_all(generate(seed, context, live)))
    (job,) = [d for d in seeded if d["kind"] == "Job"]
    env_of = {
        e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env_of["STUCK"] == "dns/dns-tcp dns/dns-udp"


# --- MetalLB run with --lb-class ---------------------------------------------------------------

OWN_CLASS = "example.com/edge-lb"


def classed_copy(source: Path, target: Path, lb_class: str = OWN_CLASS) -> Path:
    """A copy of `source` (a directory or a file) with every Service of class `lb_class`."""
    if source.is_file():
        target.write_text(with_lb_class(source.read_text(), lb_class))
        return target
    shutil.copytree(source, target)
    for path in sorted(target.glob("*.yaml")):
        path.write_text(with_lb_class(path.read_text(), lb_class))
    return target


def classless(docs: list[Doc]) -> list[Doc]:
    """The documents without the Services' loadBalancerClass (the only field a classed copy adds)."""
    for doc in docs:
        if doc["kind"] == "Service":
            doc["spec"].pop("loadBalancerClass", None)
    return docs


def test_a_group_of_metallbs_class_is_stamped_and_waved_through_the_parameter(
    tmp_path: Path,
) -> None:
    """MetalLB started with `--lb-class X` handles the Services of class X as it handles those
    without a class when it runs without one: the lb-class parameter (PARAM_LB_CLASS, as Argo CD
    sets it) gives them the stream the class-less app gets; without it they are in no group."""
    plain_app = copy_app(tmp_path / "plain", SAMPLES / "seed-dns-local" / "desired", "dns")
    plain = run_generate(plain_app, argo_env("dns", "dns", "dns"))
    app = classed_copy(SAMPLES / "seed-dns-local" / "desired", tmp_path / "repo" / "dns")
    (app / MARKER).write_text("")
    own = run_generate(app, argo_env("dns", "dns", "dns", lb_class=OWN_CLASS))
    assert plain.returncode == own.returncode == 0, own.stderr
    assert classless(documents(own.stdout)) == documents(plain.stdout)
    assert all(DIGEST in annotations(d) for d in services(documents(own.stdout)).values())
    none = run_generate(app, argo_env("dns", "dns", "dns"))
    assert none.returncode == 0, none.stderr
    assert all(DIGEST not in annotations(d) for d in services(documents(none.stdout)).values())


def test_the_sidecars_lb_class_flag_holds_unless_the_application_sets_the_parameter(
    tmp_path: Path,
) -> None:
    app = classed_copy(SAMPLES / "seed-dns-local" / "desired", tmp_path / "repo" / "dns")
    (app / MARKER).write_text("")
    flagged = run_generate(app, argo_env("dns", "dns", "dns"), args=["--lb-class", OWN_CLASS])
    assert flagged.returncode == 0, flagged.stderr
    assert all(DIGEST in annotations(d) for d in services(documents(flagged.stdout)).values())
    assert options_of(read_context({}), OWN_CLASS).lb_class == OWN_CLASS
    # An Application's own parameter wins, "" (MetalLB without --lb-class) included.
    assert options_of(read_context({"PARAM_LB_CLASS": ""}), OWN_CLASS).lb_class == ""
    given = json.dumps([{"name": "lb-class", "string": "example.com/core"}])
    context = read_context({"ARGOCD_APP_PARAMETERS": given})
    assert options_of(context, OWN_CLASS).lb_class == "example.com/core"


def test_metallb_014_with_live_state_nudges_a_group_of_metallbs_class(tmp_path: Path) -> None:
    """Against live state (the plan's releases and v0.14's stuck members) a group of class X
    under lb-class X gets what a class-less group gets without: the same waves, the same hook."""
    seed = SAMPLES / "seed-dns-local"
    desired = classed_copy(seed / "desired", tmp_path / "desired")
    live = classed_copy(seed / "live.yaml", tmp_path / "live.yaml")

    def stream(app: Path, live: Path, **params: str) -> list[Doc]:
        context = read_context(argo_env("dns", "dns", "", target_behavior="metallb-0.14", **params))
        return list(yaml.safe_load_all(generate(app, context, load_live_file(str(live)))))

    plain = stream(outside_any_repository(tmp_path / "plain", seed / "desired"), seed / "live.yaml")
    assert "Job" in {d["kind"] for d in plain}
    assert classless(stream(desired, live, lb_class=OWN_CLASS)) == plain
    assert "Job" not in {d["kind"] for d in stream(desired, live)}


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"PARAM_LB_CLASS": "edge lb"}, [], "parameter `lb-class` is 'edge lb'"),
        ({}, ["--lb-class", "-edge"], "--lb-class is '-edge'"),
    ],
)
def test_a_bad_lb_class_fails_cleanly_naming_where_it_was_given(
    tmp_path: Path, env: dict[str, str], args: list[str], named: str
) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "dns")
    result = run_generate(app, {**argo_env("dns", "dns", "dns"), **env}, args=args)
    assert result.returncode == 2
    assert_failed_cleanly(result, named, "qualified name")


# --- failures: non-zero exit, one clear line, empty stdout -------------------------------------


def test_malformed_yaml_fails_cleanly_without_printing_secret_values(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "dns")
    (app / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
        "stringData:\n  password: hunter2-do-not-print\n   broken: [\n"
    )
    result = run_generate(app, argo_env("dns", "dns", "dns"))
    stderr = assert_failed_cleanly(result, "secret.yaml", "malformed YAML")
    assert "hunter2" not in stderr


def test_a_symlink_pointing_out_of_the_repository_fails_naming_it(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "apps/dns")
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n")
    (app / "extra.yaml").symlink_to(outside)
    result = run_generate(app, argo_env("dns", "dns", "apps/dns"))
    assert_failed_cleanly(result, "`apps/dns/extra.yaml` is a symlink", "outside the repository")


def test_a_symlink_inside_the_repository_is_read(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "apps/dns")
    shared = tmp_path / "repo" / "shared" / "cm.yaml"
    shared.parent.mkdir()
    shared.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: dns}\n")
    (app / "cm.yaml").symlink_to(Path("../../shared/cm.yaml"))
    result = run_generate(app, argo_env("dns", "dns", "apps/dns"))
    assert result.returncode == 0, result.stderr
    assert "shared" in {d["metadata"]["name"] for d in documents(result.stdout)}


def test_a_symlink_loop_is_an_error_naming_it(tmp_path: Path) -> None:
    app = tmp_path / "repo"
    shutil.copytree(SAMPLES / "seed-dns-local" / "desired", app)
    (app / "a.yaml").symlink_to("b.yaml")
    (app / "b.yaml").symlink_to("a.yaml")
    with pytest.raises(InputError, match="`a.yaml` is a symlink that cannot be resolved"):
        generate(app, read_context({}))


def test_helm_is_called_with_argo_cds_release_namespace_values_and_versions(
    tmp_path: Path,
) -> None:
    env = {
        **argo_env("ingress", "edge", "chart"),
        "ARGOCD_APP_PARAMETERS": json.dumps(
            [{"name": "helm-values-files", "array": ["values.yaml", "../prod.yaml"]}]
        ),
    }
    context = read_context(env)
    chart = tmp_path / "chart"
    options = helm_options(chart, context, options_of(context))
    assert helm_template_argv("helm", "chart", options) == [
        *("helm", "template", "ingress", "chart", "--namespace", "edge"),
        *("--values", "values.yaml", "--values", "../prod.yaml", "--kube-version", "1.32.4"),
        *("--api-versions", "v1", "--api-versions", "apps/v1", "--api-versions", "batch/v1"),
        *("--api-versions", "metallb.io/v1beta1"),
    ]


def test_a_helm_values_file_outside_the_repository_is_refused(tmp_path: Path) -> None:
    context = read_context(
        {"ARGOCD_APP_SOURCE_PATH": "chart", "PARAM_HELM_VALUES_FILES_0": "../../values.yaml"}
    )
    with pytest.raises(InputError, match="`../../values.yaml` lies outside the repository"):
        helm_options(tmp_path / "repo" / "chart", context, options_of(context))


def test_an_app_that_renders_nothing_fails_instead_of_printing_an_empty_stream(
    tmp_path: Path,
) -> None:
    app = tmp_path / "repo" / "empty"
    app.mkdir(parents=True)
    (app / MARKER).write_text("")
    (app / "README.md").write_text("nothing to deploy\n")
    assert_failed_cleanly(run_generate(app, argo_env("e", "e", "empty")), "renders no Kubernetes")


def test_an_unknown_parameter_value_fails_naming_the_parameter(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "dns")
    result = run_generate(app, argo_env("dns", "dns", "dns", target_behavior="metallb-0.13"))
    assert_failed_cleanly(result, "`target-behavior`", "metallb-0.13")


def test_target_behavior_defaults_to_the_default_target_and_lists_every_behaviour() -> None:
    assert options_of(read_context({})).target_behavior == DEFAULT_TARGET
    assert type(options_of(read_context({})).target_behavior) is str  # it reaches YAML
    assert sorted(ARGO_BEHAVIORS) == sorted(BEHAVIORS)
    with pytest.raises(InputError, match="expected one of metallb-0.15, metallb-0.14, fixed$"):
        options_of(read_context({"PARAM_TARGET_BEHAVIOR": "metallb-0.13"}))


# --- in-process: parameters, waves, serialisation ----------------------------------------------


def test_parameters_come_from_the_json_before_param_variables() -> None:
    env = {
        "ARGOCD_APP_PARAMETERS": json.dumps(
            [
                {"name": "render-mode", "string": "helm"},
                {"name": "helm-values-files", "array": ["values.yaml", "values-prod.yaml"]},
                {"name": "live-state", "string": "true"},
            ]
        ),
        "PARAM_RENDER_MODE": "plain",
        "ARGOCD_ENV_SHARED_IP_PLANNER_IMAGE": "mirror.example.org/planner:1",
    }
    options = options_of(read_context(env))
    assert options.render_mode == "helm"
    assert options.helm_values_files == ("values.yaml", "values-prod.yaml")
    assert options.live_state is True
    assert options.kubeconfig == DEFAULT_KUBECONFIG
    assert options.image == "mirror.example.org/planner:1"


def test_parameters_fall_back_to_param_variables_with_arrays() -> None:
    env = {
        "PARAM_RENDER_MODE": "kustomize",
        "PARAM_HELM_VALUES_FILES_0": "a.yaml",
        "PARAM_HELM_VALUES_FILES_1": "b.yaml",
        "PARAM_TARGET_BEHAVIOR": "fixed",
    }
    options = options_of(read_context(env))
    assert (options.render_mode, options.target_behavior) == ("kustomize", "fixed")
    assert options.helm_values_files == ("a.yaml", "b.yaml")
    assert options_of(read_context({})).target_behavior == "metallb-0.15"


def test_malformed_parameters_json_is_an_input_error() -> None:
    with pytest.raises(InputError, match="ARGOCD_APP_PARAMETERS is not valid JSON"):
        read_context({"ARGOCD_APP_PARAMETERS": "[{"})


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_parameters_json_is_one_input_error(depth: int) -> None:
    nested = json.dumps([{"name": "render-mode", "array": []}])[:-1] + "," + "[" * depth
    raw = nested + "]" * depth + "]"
    with pytest.raises(InputError, match="ARGOCD_APP_PARAMETERS is nested too deeply"):
        read_context({"ARGOCD_APP_PARAMETERS": raw})


def test_a_list_or_object_where_a_parameter_string_belongs_is_refused() -> None:
    for entry in (
        {"name": "helm-values-files", "array": ["a.yaml", [[["b.yaml"]]]]},
        {"name": "render-mode", "string": {"nested": "helm"}},
    ):
        with pytest.raises(InputError, match=f"parameter `{entry['name']}` .* where a string"):
            read_context({"ARGOCD_APP_PARAMETERS": json.dumps([entry])})


def test_deeply_nested_parameters_fail_the_command_cleanly(tmp_path: Path) -> None:
    app = copy_app(tmp_path, SAMPLES / "seed-dns-local" / "desired", "dns")
    env = {**argo_env("dns", "dns", "dns"), "ARGOCD_APP_PARAMETERS": "[" * 50_000 + "]" * 50_000}
    result = run_generate(app, env)
    assert result.returncode == 2
    assert_failed_cleanly(result, "ARGOCD_APP_PARAMETERS is nested too deeply")


def test_repository_root_strips_the_source_path(tmp_path: Path) -> None:
    app = tmp_path / "apps" / "dns"
    app.mkdir(parents=True)
    assert repository_root(app, "apps/dns") == tmp_path.resolve()
    assert repository_root(app, "other/dns") == app.resolve()
    assert repository_root(app, "") == app.resolve()


def obj(kind: str, name: str, wave_value: str | None = None, namespace: str = "ns") -> KubeObject:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if wave_value is not None:
        metadata["annotations"] = {SYNC_WAVE: wave_value}
    body = {"apiVersion": "v1", "kind": kind, "metadata": metadata}
    return KubeObject(ObjectKey(kind, namespace, name), body, Origin(f"{name}.yaml"))


def test_planner_waves_go_into_free_waves_after_the_users_own() -> None:
    objects = [
        obj("ConfigMap", "early", "-5"),
        obj("Service", "a", "2"),
        obj("Service", "b", "2"),
        obj("Service", "c", "2"),
        obj("Service", "d"),
        obj("Job", "late", "9"),
    ]
    levels = {"ns/a": 0, "ns/b": 3, "ns/c": 7, "ns/d": 7}
    # Levels used at wave 2 are ranked (0, 3, 7 -> 0, 1, 2); d is alone at wave 0.
    assert place_waves(objects, levels) == {"ns/a": 2, "ns/b": 3, "ns/c": 4, "ns/d": 0}


def test_a_user_wave_in_the_way_is_an_error_naming_it() -> None:
    objects = [obj("Service", "a"), obj("Service", "b"), obj("ConfigMap", "next", "1")]
    with pytest.raises(InputError, match="wave 1 is already used by ConfigMap ns/next"):
        place_waves(objects, {"ns/a": 0, "ns/b": 1})


def test_a_non_integer_sync_wave_is_an_error() -> None:
    with pytest.raises(InputError, match="must be an integer"):
        place_waves([obj("Service", "a", "soon")], {})


def test_group_members_in_different_user_waves_are_an_error(tmp_path: Path) -> None:
    docs = list(
        yaml.safe_load_all((SAMPLES / "seed-dns-local" / "desired" / "dns.yaml").read_text())
    )
    docs[1]["metadata"]["annotations"][SYNC_WAVE] = "3"
    (tmp_path / "dns.yaml").write_text(yaml.safe_dump_all(docs))
    with pytest.raises(InputError, match=r"carry different sync waves \(0, 3\)"):
        generate(tmp_path, read_context({}))


def test_a_service_without_namespace_is_grouped_in_the_destination_namespace(
    tmp_path: Path,
) -> None:
    docs = list(
        yaml.safe_load_all((SAMPLES / "seed-dns-local" / "desired" / "dns.yaml").read_text())
    )
    for doc in docs:
        del doc["metadata"]["namespace"]
        doc["metadata"]["annotations"][SYNC_WAVE] = "3"
    (tmp_path / "dns.yaml").write_text(yaml.safe_dump_all(docs))
    out = list(
        yaml.safe_load_all(generate(tmp_path, read_context({"ARGOCD_APP_NAMESPACE": "edge"})))
    )
    for doc in out:
        assert "namespace" not in doc["metadata"]
        assert annotations(doc)[SYNC_WAVE] == "3"
        assert (
            annotations(doc)["shared-ip-planner.dev/group-members"] == "edge/dns-tcp,edge/dns-udp"
        )


def test_hooks_of_other_phases_take_no_part_in_the_waves() -> None:
    objects = [obj("Service", "a"), obj("Service", "b"), obj("Job", "migrate", "1")]
    objects[2].body["metadata"]["annotations"]["argocd.argoproj.io/hook"] = "PreSync"
    assert place_waves(objects, {"ns/a": 0, "ns/b": 1}) == {"ns/a": 0, "ns/b": 1}


# Values a YAML emitter has to quote or escape to keep them what they are.
_scalars = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["0123", "yes", "no", "on", "~", "null", "1e3", "2024-01-01", "1_000", "-", ""]
    ),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=" \n\tab#:'\"", max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(data=st.dictionaries(st.text(min_size=1, max_size=8), _values, max_size=5))
def test_emitted_documents_read_back_as_exactly_the_same_content(data: dict[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data}
    (document,) = parse_yaml(dump_stream([body]), "<out>").documents
    assert document.body == body


def two_services_app(gateway_class: str | None, web_class: str | None) -> str:
    """A pool, a Service `gateway` requesting an IP and a Service `web` auto-assigned, each of
    the given loadBalancerClass (None: no class)."""

    def service(name: str, lb_class: str | None, annotations: str) -> str:
        spec_class = f"  loadBalancerClass: {lb_class}\n" if lb_class else ""
        return (
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: web\n"
            f"  annotations: {{{annotations}}}\nspec:\n  type: LoadBalancer\n{spec_class}"
            f"  selector: {{app: {name}}}\n  ports: [{{port: 443}}]\n"
        )

    pool = (
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata: {name: edge, namespace: metallb-system}\n"
        "spec: {addresses: [192.168.10.0/24]}\n"
    )
    gateway = service("gateway", gateway_class, "metallb.io/loadBalancerIPs: 192.168.10.7")
    return "---\n".join([pool, gateway, service("web", web_class, "")])


@pytest.mark.parametrize(
    ("lb_class", "gateway_class", "web_class", "web_wave"),
    [
        ("", None, None, 1),  # both MetalLB's: the requested IP goes first
        ("", "example.com/other", None, 0),
        (OWN_CLASS, "example.com/other", OWN_CLASS, 0),
        (OWN_CLASS, OWN_CLASS, OWN_CLASS, 1),
    ],
)
def test_a_service_of_another_class_adds_no_wave_without_live_state(
    lb_class: str, gateway_class: str | None, web_class: str | None, web_wave: int, tmp_path: Path
) -> None:
    """Without live state, requested IPs go a wave before auto-assignment; a Service that is not
    MetalLB's (not of its --lb-class) asks MetalLB for nothing, so it adds no wave."""
    app = tmp_path / "repo" / "web"
    app.mkdir(parents=True)
    (app / "services.yaml").write_text(two_services_app(gateway_class, web_class))
    (app / MARKER).write_text("")
    result = run_generate(app, argo_env("web", "web", "web", lb_class=lb_class))
    assert result.returncode == 0, result.stderr
    by_svc = services(documents(result.stdout))
    assert (wave(by_svc["web/gateway"]), wave(by_svc["web/web"])) == (0, web_wave)


UNKNOWN_FIELD_POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
colour: blue
spec: {addresses: [ADDRESSES]}
"""


@pytest.mark.parametrize("addresses", ["192.168.10.0/24", ""])
def test_a_warning_is_printed_only_with_the_stream_it_belongs_to(
    addresses: str, tmp_path: Path
) -> None:
    """Fields Kubernetes drops are warned about beside the stream; a failing run (here a pool
    without addresses) says only its error, on one line, as every command's user error does."""
    app = tmp_path / "repo" / "lan"
    app.mkdir(parents=True)
    (app / "pool.yaml").write_text(UNKNOWN_FIELD_POOL.replace("ADDRESSES", addresses))
    (app / MARKER).write_text("")
    result = run_generate(app, argo_env("lan", "lan", "lan"))
    if addresses:
        assert result.returncode == 0, result.stderr
        assert b"field `colour` is not in the MetalLB IPAddressPool schema" in result.stderr
        assert documents(result.stdout)
    else:
        assert_failed_cleanly(result, "pool.yaml: document 1", "no prefixes defined")
