"""The Argo CD and Flux integration assets under plugins/: they parse, build and do what they say."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.gitops.argocd import DEFAULT_IMAGE, Nudge, dump_stream, nudge_objects

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGINS = REPO_ROOT / "plugins"
ARGOCD = PLUGINS / "argocd"
FLUX = PLUGINS / "flux"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plugins"

# Files under plugins/ that are YAML but deliberately not Kubernetes-style objects.
NOT_OBJECTS = {ARGOCD / "example" / "marker.shared-ip-planner.yaml"}
BEHAVIORS = {"metallb-0.14", "metallb-0.15", "fixed"}
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) not on PATH")

Doc = dict[str, Any]


def yaml_files() -> list[Path]:
    found = [
        *PLUGINS.rglob("*.yaml"),
        *PLUGINS.rglob("*.yml"),
        ARGOCD / "live-state" / "kubeconfig",
    ]
    return sorted(found)


def load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def load_one(path: Path) -> Doc:
    (doc,) = load_all(path)
    return doc


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc.get("kind") == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def kustomize(directory: Path, *flags: str) -> list[Doc]:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", *flags, str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


# --- every YAML file ---------------------------------------------------------------------------


def test_the_plugins_directory_holds_yaml() -> None:
    assert len(yaml_files()) >= 15


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_every_yaml_parses_and_names_its_api_version_and_kind(path: Path) -> None:
    docs = load_all(path)
    if path in NOT_OBJECTS:
        assert docs == []
        return
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], path
        assert isinstance(doc.get("kind"), str) and doc["kind"], path


# --- Argo CD: plugin.yaml ----------------------------------------------------------------------

PLUGIN = load_one(ARGOCD / "plugin.yaml")
MARKER = ".shared-ip-planner.yaml"


def static_parameters() -> dict[str, Doc]:
    return {p["name"]: p for p in PLUGIN["spec"]["parameters"]["static"]}


def test_plugin_config_has_what_argo_cd_requires() -> None:
    assert PLUGIN["apiVersion"] == "argoproj.io/v1alpha1"
    assert PLUGIN["kind"] == "ConfigManagementPlugin"
    assert PLUGIN["metadata"]["name"] == "shared-ip-planner"
    # No version: Applications then name the plugin `shared-ip-planner`, not `<name>-<version>`.
    assert "version" not in PLUGIN["spec"]
    generate = PLUGIN["spec"]["generate"]
    assert generate["command"] == ["planner", "argocd", "generate"]
    assert not generate.get("args")


def test_discovery_matches_only_directories_with_the_marker_file() -> None:
    pattern = PLUGIN["spec"]["discover"]["fileName"]
    assert "find" not in PLUGIN["spec"]["discover"]
    assert fnmatch.fnmatch(f"./{MARKER}", pattern)
    for unrelated in ("./kustomization.yaml", "./Chart.yaml", "./app.yaml", "./values.yaml"):
        assert not fnmatch.fnmatch(unrelated, pattern)


def test_parameters_are_announced_with_their_defaults() -> None:
    params = static_parameters()
    assert set(params) == {
        "render-mode",
        "helm-values-files",
        "pools",
        "helm-release-name",
        "target-behavior",
        "live-state",
        "lb-class",
    }
    assert params["render-mode"]["string"] == "auto"
    assert params["helm-values-files"]["collectionType"] == "array"
    assert params["pools"]["collectionType"] == "array"
    assert params["target-behavior"]["string"] in BEHAVIORS
    assert params["live-state"]["string"] == "false"
    assert params["lb-class"]["string"] == ""  # MetalLB without --lb-class: no class
    for behavior in BEHAVIORS:
        assert behavior in params["target-behavior"]["tooltip"]


@pytest.mark.parametrize("path", sorted((ARGOCD / "example").glob("*application.yaml")))
def test_example_applications_use_the_plugin_as_announced(path: Path) -> None:
    app = load_one(path)
    plugin = app["spec"]["source"]["plugin"]
    assert plugin["name"] == PLUGIN["metadata"]["name"]
    announced = static_parameters()
    for param in plugin.get("parameters", []):
        assert param["name"] in announced, param["name"]
        if param["name"] == "target-behavior":
            assert param["string"] in BEHAVIORS
    for env in plugin.get("env", []):
        # Argo CD prefixes these with ARGOCD_ENV_; the name the docs promise is this one.
        assert env["name"] == "SHARED_IP_PLANNER_KUBECONFIG"
        assert env["value"] == "/home/argocd/cmp-server/live-state/kubeconfig"


def test_readme_documents_every_parameter_and_its_variable() -> None:
    readme = (ARGOCD / "README.md").read_text()
    for name in static_parameters():
        assert f"`{name}`" in readme
        assert f"PARAM_{name.upper().replace('-', '_')}" in readme
    assert "ARGOCD_ENV_SHARED_IP_PLANNER_KUBECONFIG" in readme


# --- Argo CD: the sidecar, built with the real kustomize ---------------------------------------


def overlay(tmp_path: Path, *components: Path) -> Path:
    """An Argo CD install overlay: the fixture repo-server plus our Component(s)."""
    shutil.copy(FIXTURES / "argocd-repo-server.yaml", tmp_path / "argocd-repo-server.yaml")
    refs = [os.path.relpath(c, tmp_path) for c in components]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "argocd",
        "resources": ["argocd-repo-server.yaml"],
        "components": refs,
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return tmp_path


def pod_spec(docs: list[Doc]) -> Doc:
    return named(docs, "Deployment", "argocd-repo-server")["spec"]["template"]["spec"]


def container(spec: Doc, name: str) -> Doc:
    (found,) = [c for c in spec["containers"] if c["name"] == name]
    return found


def mounts(c: Doc) -> dict[str, Doc]:
    return {m["mountPath"]: m for m in c["volumeMounts"]}


@needs_kubectl
def test_sidecar_patch_builds_against_the_stock_repo_server(tmp_path: Path) -> None:
    docs = kustomize(overlay(tmp_path, ARGOCD))
    spec = pod_spec(docs)
    sidecar = container(spec, "shared-ip-planner")
    volumes = {v["name"]: v for v in spec["volumes"]}

    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"]["runAsUser"] == 999
    assert sidecar["securityContext"]["runAsNonRoot"] is True
    by_path = mounts(sidecar)
    assert by_path["/var/run/argocd"]["name"] == "var-files"
    assert by_path["/home/argocd/cmp-server/plugins"]["name"] == "plugins"
    config = by_path["/home/argocd/cmp-server/config/plugin.yaml"]
    assert config["subPath"] == "plugin.yaml"
    # Its own /tmp: an emptyDir that the repo-server container does not mount.
    tmp_volume = by_path["/tmp"]["name"]
    assert "emptyDir" in volumes[tmp_volume]
    repo_server = container(spec, "argocd-repo-server")
    assert tmp_volume not in {m["name"] for m in repo_server["volumeMounts"]}
    for mount in sidecar["volumeMounts"]:
        assert mount["name"] in volumes, mount["name"]


@needs_kubectl
def test_the_mounted_plugin_config_is_plugin_yaml_byte_for_byte(tmp_path: Path) -> None:
    docs = kustomize(overlay(tmp_path, ARGOCD))
    spec = pod_spec(docs)
    config_volume = mounts(container(spec, "shared-ip-planner"))[
        "/home/argocd/cmp-server/config/plugin.yaml"
    ]["name"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == config_volume]
    config_map = named(docs, "ConfigMap", volume["configMap"]["name"])
    # Hash-suffixed, so a change of plugin.yaml rolls the repo-server.
    assert re.fullmatch(r"shared-ip-planner-plugin-[a-z0-9]{10}", config_map["metadata"]["name"])
    assert config_map["metadata"]["namespace"] == "argocd"
    assert config_map["data"]["plugin.yaml"] == (ARGOCD / "plugin.yaml").read_text()


@needs_kubectl
def test_the_patch_leaves_the_repo_server_container_alone(tmp_path: Path) -> None:
    fixture = load_all(FIXTURES / "argocd-repo-server.yaml")
    before = named(fixture, "Deployment", "argocd-repo-server")["spec"]["template"]["spec"]
    after = pod_spec(kustomize(overlay(tmp_path, ARGOCD)))
    assert container(after, "argocd-repo-server") == container(before, "argocd-repo-server")
    assert after["initContainers"] == before["initContainers"]
    assert after["automountServiceAccountToken"] is False


@needs_kubectl
def test_live_state_component_mounts_a_read_only_kubeconfig(tmp_path: Path) -> None:
    docs = kustomize(overlay(tmp_path, ARGOCD, ARGOCD / "live-state"))
    spec = pod_spec(docs)
    sidecar = container(spec, "shared-ip-planner")
    by_path = mounts(sidecar)
    volumes = {v["name"]: v for v in spec["volumes"]}

    kubeconfig_mount = by_path["/home/argocd/cmp-server/live-state/kubeconfig"]
    token_mount = by_path["/home/argocd/cmp-server/live-state/token"]
    assert kubeconfig_mount["readOnly"] and token_mount["readOnly"]
    token_volume = volumes[token_mount["name"]]["secret"]
    assert token_volume == {"secretName": "shared-ip-planner-reader-token", "optional": True}
    # Nothing turns cluster access on by default.
    assert all(e["name"] != "KUBECONFIG" for e in sidecar.get("env", []))

    kubeconfig_cm = named(docs, "ConfigMap", volumes[kubeconfig_mount["name"]]["configMap"]["name"])
    kubeconfig = yaml.safe_load(kubeconfig_cm["data"]["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    cluster = kubeconfig["clusters"][0]["cluster"]
    assert user == {"tokenFile": "/home/argocd/cmp-server/live-state/token/token"}
    assert cluster["certificate-authority"] == "/home/argocd/cmp-server/live-state/token/ca.crt"

    secret = named(docs, "Secret", "shared-ip-planner-reader-token")
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == (
        "shared-ip-planner-reader"
    )


@needs_kubectl
def test_kubectl_reads_the_live_state_kubeconfig(tmp_path: Path) -> None:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "config", "view", "--kubeconfig", str(ARGOCD / "live-state" / "kubeconfig")]
        + ["-o", "jsonpath={.current-context} {.users[0].user.tokenFile}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stdout == (
        "shared-ip-planner-reader /home/argocd/cmp-server/live-state/token/token"
    )


def test_live_state_role_only_reads() -> None:
    role = named(
        load_all(ARGOCD / "live-state" / "rbac.yaml"), "ClusterRole", "shared-ip-planner-reader"
    )
    granted = {
        (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert granted == {("", "services"), ("", "namespaces"), ("metallb.io", "ipaddresspools")}
    for rule in role["rules"]:
        assert set(rule["verbs"]) == {"get", "list", "watch"}


# --- Argo CD: the metallb-0.14 nudge hook ------------------------------------------------------

NUDGE_EXAMPLE = ARGOCD / "example" / "nudge-hook.yaml"
NUDGE_EXAMPLE_HEADER = """\
# An example of the metallb-0.14 nudge hook that `planner argocd generate` emits: the Sync hook
# Job of one group transition (here dns/dns-tcp + dns/dns-udp in sync wave 2, dns-tcp may stay
# pending, destination namespace `dns`), then its ServiceAccount and a Role + RoleBinding per
# member namespace, one wave earlier. The generator builds these objects in
# planner/gitops/argocd/nudge.py and reads nothing from here; tests/test_plugin_manifests.py
# checks that this file matches. Regenerate it with: python tests/test_plugin_manifests.py
"""
DIGEST = "3f9a0c1d2e3f4a5b6c7d8e9f00112233"
EXAMPLE_NUDGE = Nudge(DIGEST, ("dns/dns-tcp", "dns/dns-udp"), ("dns/dns-tcp",), 2)


def nudge_docs() -> list[Doc]:
    """The objects the generator emits for the example group (Job first, then its RBAC)."""
    return nudge_objects([EXAMPLE_NUDGE], "dns", DEFAULT_IMAGE, {})


def nudge_example_text() -> str:
    return NUDGE_EXAMPLE_HEADER + dump_stream(nudge_docs())


def test_the_nudge_hook_example_is_what_the_generator_emits() -> None:
    assert NUDGE_EXAMPLE.read_text() == nudge_example_text(), (
        "plugins/argocd/example/nudge-hook.yaml is stale: python tests/test_plugin_manifests.py"
    )
    assert load_all(NUDGE_EXAMPLE) == nudge_docs()


def test_nudge_job_is_a_sync_hook_in_the_groups_wave() -> None:
    job = nudge_docs()[0]
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/sync-wave"] == "2"
    assert set(annotations["argocd.argoproj.io/hook-delete-policy"].split(",")) == {
        "BeforeHookCreation",
        "HookSucceeded",
    }
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "shared-ip-planner-nudge"
    assert pod["restartPolicy"] == "Never"
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["MEMBERS"] == "dns/dns-tcp dns/dns-udp"


def test_nudge_rbac_allows_reading_and_patching_services_only() -> None:
    docs = nudge_docs()[1:]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    role = named(docs, "Role", "shared-ip-planner-nudge")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "patch"]}
    ]
    binding = named(docs, "RoleBinding", "shared-ip-planner-nudge")
    sa = named(docs, "ServiceAccount", "shared-ip-planner-nudge")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "dns"}
    ]
    for doc in docs:
        assert doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "1"


# A stand-in for kubectl keeping each Service as files in a state directory: enough for the nudge
# script, and a shell script because it runs a few hundred times per test.
FAKE_KUBECTL = """#!/bin/sh
# argv: get service -n NS NAME -o jsonpath=EXPR | annotate service -n NS NAME --overwrite KEY=VALUE
svc="$FAKE_KUBECTL_STATE/$4.$5"
case "$1" in
  get)
    case "$7" in
      *group-digest*) cat "$svc.digest" ;;
      *) cat "$svc.ips" ;;
    esac ;;
  annotate)
    echo "$4/$5 $7" >> "$FAKE_KUBECTL_STATE/nudges"
    if [ -e "$svc.recovers" ]; then printf 192.168.10.53 > "$svc.ips"; fi ;;
esac
"""


@dataclass(frozen=True)
class Member:
    """One Service as the fake cluster holds it."""

    digest: str
    ips: str
    recovers_when_nudged: bool = False


def run_nudge(
    tmp_path: Path, members: dict[str, Member], timeout_seconds: str
) -> tuple[int, str, list[str]]:
    """Run the Job's script as its container would, against the fake kubectl."""
    job = nudge_docs()[0]
    main = job["spec"]["template"]["spec"]["containers"][0]
    state = tmp_path / "state"
    state.mkdir()
    for key, member in members.items():
        base = state / key.replace("/", ".")
        Path(f"{base}.digest").write_text(member.digest)
        Path(f"{base}.ips").write_text(member.ips)
        if member.recovers_when_nudged:
            Path(f"{base}.recovers").touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    env = {e["name"]: e["value"] for e in main["env"]}
    env.update(
        TIMEOUT_SECONDS=timeout_seconds,
        POLL_SECONDS="0.05",
        FAKE_KUBECTL_STATE=str(state),
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    )
    result = subprocess.run(
        [*main["command"], *main["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    nudges = state / "nudges"
    written = nudges.read_text().splitlines() if nudges.exists() else []
    return result.returncode, result.stdout + result.stderr, written


UDP_OK = Member(DIGEST, "192.168.10.53")


def test_nudge_hook_nudges_the_stuck_member_until_it_has_an_ip(tmp_path: Path) -> None:
    members = {"dns/dns-tcp": Member(DIGEST, "", recovers_when_nudged=True), "dns/dns-udp": UDP_OK}
    code, output, nudges = run_nudge(tmp_path, members, "20")
    assert code == 0, output
    assert nudges == [f"dns/dns-tcp shared-ip-planner.dev/nudge={DIGEST}.1"]
    assert "every member of the group has an IP" in output


def test_nudge_hook_touches_nothing_when_no_member_is_pending(tmp_path: Path) -> None:
    members = {"dns/dns-tcp": Member(DIGEST, "192.168.10.53"), "dns/dns-udp": UDP_OK}
    code, output, nudges = run_nudge(tmp_path, members, "20")
    assert code == 0, output
    assert nudges == []


def test_nudge_hook_fails_the_wave_when_a_member_stays_pending(tmp_path: Path) -> None:
    members = {"dns/dns-tcp": Member(DIGEST, ""), "dns/dns-udp": UDP_OK}
    code, output, nudges = run_nudge(tmp_path, members, "2")
    assert code == 1
    assert "still pending" in output and "dns/dns-tcp" in output
    # Every round wrote a new value: each one is an update MetalLB sees.
    values = [n.split("=", 1)[1] for n in nudges]
    assert len(values) >= 2 and len(set(values)) == len(values)


def test_nudge_hook_waits_for_every_member_to_carry_the_new_digest(tmp_path: Path) -> None:
    members = {"dns/dns-tcp": Member(DIGEST, "192.168.10.53"), "dns/dns-udp": Member("0" * 32, "x")}
    code, output, nudges = run_nudge(tmp_path, members, "1")
    assert code == 1
    assert "dns/dns-udp never carried group digest" in output
    assert nudges == []


# --- Flux --------------------------------------------------------------------------------------

FLUX_KUSTOMIZATIONS = load_all(FLUX / "flux-kustomizations.yaml")
HOOK_NAME = "shared-ip-planner-pre-sync-dns"


def flux_kustomization(name: str) -> Doc:
    return named(FLUX_KUSTOMIZATIONS, "Kustomization", name)


def hook_job() -> Doc:
    return named(load_all(FLUX / "hook" / "job.yaml"), "Job", HOOK_NAME)


def go_duration_seconds(value: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", value)
    assert "".join(n + u for n, u in parts) == value, value
    return sum(int(n) * units[u] for n, u in parts)


def test_hook_kustomization_waits_and_times_out_after_the_job() -> None:
    hook = flux_kustomization(HOOK_NAME)
    assert hook["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert hook["metadata"]["namespace"] == "flux-system"
    assert hook["spec"]["wait"] is True
    assert hook["spec"]["prune"] is True
    job = hook_job()
    assert job["spec"]["activeDeadlineSeconds"] < go_duration_seconds(hook["spec"]["timeout"])


def test_hook_job_is_force_replaced_and_nothing_else_is() -> None:
    hook = flux_kustomization(HOOK_NAME)
    # Documented forms: spec.force on the Kustomization, or the annotation on one object.
    assert hook["spec"].get("force", False) is False
    assert hook_job()["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled"
    for doc in load_all(FLUX / "hook" / "rbac.yaml"):
        assert "kustomize.toolkit.fluxcd.io/force" not in doc["metadata"].get("annotations", {})


def test_app_kustomization_depends_on_the_hook_with_the_same_source() -> None:
    hook = flux_kustomization(HOOK_NAME)
    app = flux_kustomization("dns")
    assert app["spec"]["dependsOn"] == [{"name": HOOK_NAME}]
    assert app["metadata"]["namespace"] == hook["metadata"]["namespace"]
    assert app["spec"]["sourceRef"] == hook["spec"]["sourceRef"]


def test_kustomization_paths_exist_in_this_repository() -> None:
    for doc in FLUX_KUSTOMIZATIONS:
        assert (REPO_ROOT / doc["spec"]["path"]).is_dir(), doc["spec"]["path"]


def test_hook_job_runs_pre_sync_for_the_app_it_guards() -> None:
    job = hook_job()
    app = flux_kustomization("dns")
    assert job["metadata"]["namespace"] == "flux-system"  # where source-controller is reachable
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] > go_duration_seconds(
        flux_kustomization(HOOK_NAME)["spec"]["timeout"]
    )
    pod = job["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[:2] == ["flux", "pre-sync"]
    options = dict(zip(args[2::2], args[3::2], strict=True))
    source = app["spec"]["sourceRef"]
    assert options == {
        "--source": f"{source['kind'].lower()}/{source['name']}",
        "--source-namespace": "flux-system",
        "--path": app["spec"]["path"],
        "--kustomization": app["metadata"]["name"],
    }
    sa_names = {
        d["metadata"]["name"]
        for d in by_kind(load_all(FLUX / "hook" / "rbac.yaml"), "ServiceAccount")
    }
    assert pod["serviceAccountName"] in sa_names


# The hook's RBAC and its re-run trigger: tests/test_flux_hook_manifests.py.


# --- Dockerfiles -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dockerfile", "user", "tools"),
    [
        (ARGOCD / "Dockerfile", "999", {"kubectl", "helm"}),
        (FLUX / "Dockerfile", "65532:65532", {"kubectl"}),
    ],
)
def test_dockerfiles_pin_their_images_and_download_nothing_at_run_time(
    dockerfile: Path, user: str, tools: set[str]
) -> None:
    text = dockerfile.read_text()
    images = re.findall(r"^ARG \w+_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert images
    for image in images:
        assert re.search(r":v?\d+\.\d+", image) and not image.endswith(":latest"), image
    assert not re.search(r"\b(curl|wget)\b|^ADD https?://", text, flags=re.MULTILINE)
    assert re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)[-1] == user
    copied = set(re.findall(r"^COPY --from=\w+ \S+/(\w+) /usr/local/bin/\1$", text, re.MULTILINE))
    assert copied == tools
    assert "pip install --no-cache-dir --no-index" in text
    # The image runs the package as installed from its wheel: nothing else from this repository.
    assert not re.search(r"^COPY (?!--from=)(?!pyproject\.toml|planner )", text, re.MULTILINE)


if __name__ == "__main__":  # regenerate the nudge hook example from the generator
    NUDGE_EXAMPLE.write_text(nudge_example_text())
