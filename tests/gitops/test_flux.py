"""planner flux pre-sync end to end: a real tarball served on 127.0.0.1, the stand-in kubectl
(tests/fakes/kubectl) whose API server and MetalLB controller are the simulated cluster.

Most tests call the fake in-process; those marked `kubectl_subprocess` run the stand-in executable,
so that the argv, exit-code and stderr path stays covered."""

from __future__ import annotations

import copy
import hashlib
import http.server
import io
import os
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from planner.apply.engine import PollPolicy
from planner.cli import main
from planner.errors import InputError
from planner.gitops.flux import (
    APPLIED,
    NOTHING_TO_DO,
    PreSyncOptions,
    app_directory,
    hook_plan,
    normalised_path,
    parse_source_ref,
    pre_sync,
    render_app,
)
from planner.kubectl import Kubectl
from planner.model.service import GROUP_ANNOTATION, GROUP_MEMBERS_ANNOTATION
from planner.model.simcluster import SimulatedCluster
from planner.plan.records import PendingWindow, Plan, PlannedUnit, PlannedWave, PlanPrediction
from planner.plan.units import APPLY, Write
from planner.plan.verify import Claim, VerifyReport
from planner.simulate import world
from tests.conftest import with_lb_class
from tests.fakes.fake_cluster import FakeCluster, start_fake
from tests.fakes.progress import RecordingProgress

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SHARED_IP = "192.168.10.53"
TCP, UDP = "dns/dns-tcp", "dns/dns-udp"
SOURCE = "gitrepository/apps"
SOURCE_KEY = "gitrepositories.source.toolkit.fluxcd.io/flux-system/apps"
KUSTOMIZATION_KEY = "kustomizations.kustomize.toolkit.fluxcd.io/flux-system/dns"
APP_PATH = "./clusters/lab/dns"
FAST = PollPolicy(first=0.05, factor=1.5, longest=0.3, nudge_grace=0.2)
WRITES = ("apply", "delete", "annotate")


# --- the artifact server -------------------------------------------------------------------------


class ArtifactServer:
    """Serves tarballs by path on 127.0.0.1 and counts the requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                server.requests.append(self.path)
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: shutdown() waits for the loop to look (0.5 s by default, per test).
        serve = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        serve.start()

    def publish(self, path: str, body: bytes) -> str:
        """Serve `body` at `path`; its URL."""
        self.files[path] = body
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[ArtifactServer]:
    served = ArtifactServer()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def tarball(files: dict[str, bytes], extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    """A .tar.gz of `files` (path → content), plus raw members such as links or `..` paths."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.size else None)
    return buffer.getvalue()


def sample_tree(sample: str, under: str = APP_PATH) -> dict[str, bytes]:
    """A sample's desired files placed at `under` in the repository, as Flux tars a repo."""
    folder = SAMPLES / sample / "desired"
    prefix = normalised_path(under)
    return {f"{prefix}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}


def sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def git_repository(url: str, digest: str, revision: str = "main@sha1:1c0ffee1") -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"url": "https://git.example.com/apps.git", "interval": "1m"},
        "status": {"artifact": {"url": url, "digest": digest, "revision": revision}},
    }


def app_kustomization(**spec: Any) -> dict[str, Any]:
    body = {
        "sourceRef": {"kind": "GitRepository", "name": "apps"},
        "path": APP_PATH,
        "prune": True,
        **spec,
    }
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "dns", "namespace": "flux-system"},
        "spec": body,
    }


# --- the cluster ---------------------------------------------------------------------------------


def sample_live(sample: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    items = yaml.safe_load((SAMPLES / sample / "live.yaml").read_text(encoding="utf-8"))["items"]
    return (
        [i for i in items if i["kind"] == "Service"],
        [i for i in items if i["kind"] == "IPAddressPool"],
    )


MakeFake = Callable[..., FakeCluster]


@pytest.fixture
def make_fake(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: ArtifactServer,
    stand_in_subprocess: bool,
) -> MakeFake:
    """A simulated cluster with a sample's live state and a GitRepository whose artifact is the
    sample's desired directory (or `archive`, published with `digest`). With `lb_class`, MetalLB
    runs with `--lb-class lb_class` and every Service, desired and live, is of that class."""

    def make(
        behavior: str = "fixed",
        sample: str = "seed-dns-local",
        archive: bytes | None = None,
        digest: str | None = None,
        objects: dict[str, Any] | None = None,
        lb_class: str = "",
    ) -> FakeCluster:
        tree = sample_tree(sample)
        services, pools = sample_live(sample)
        if lb_class:
            tree = {
                path: with_lb_class(text.decode(), lb_class).encode() for path, text in tree.items()
            }
            for service in services:
                service["spec"]["loadBalancerClass"] = lb_class
        body = archive if archive is not None else tarball(tree)
        url = server.publish("/gitrepository/flux-system/apps/1c0ffee1.tar.gz", body)
        source = git_repository(url, digest or sha256(body))
        return start_fake(
            tmp_path / "state.json",
            monkeypatch,
            subprocess=stand_in_subprocess,
            behavior=behavior,
            services=services,
            pools=pools,
            objects={SOURCE_KEY: source, **(objects or {})},
            lb_class=lb_class,
        )

    return make


def writes(fake: FakeCluster) -> list[list[str]]:
    """Every call that could change the cluster (dry runs included)."""
    return [c for c in fake.calls() if c and any(verb in c for verb in WRITES)]


def options(target: str = "fixed", **more: Any) -> PreSyncOptions:
    return PreSyncOptions(parse_source_ref(SOURCE), APP_PATH, target=target, timeout=20, **more)


def run_cli(*extra: str) -> int:
    return main(["flux", "pre-sync", "--source", SOURCE, "--path", APP_PATH, *extra])


# --- the seed scenario ---------------------------------------------------------------------------


def assert_seed_transition_landed(cluster: SimulatedCluster) -> None:
    """Both DNS Services under Local on the shared IP, stamped as one group."""
    for svc in (TCP, UDP):
        assert cluster.ips(svc) == (SHARED_IP,)
        assert cluster.store[svc]["spec"]["externalTrafficPolicy"] == "Local"
        annotations = cluster.store[svc]["metadata"]["annotations"]
        assert annotations[GROUP_MEMBERS_ANNOTATION] == f"{TCP},{UDP}"


@pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15", "fixed"])
def test_pre_sync_lands_the_seed_transition_for_each_behaviour(
    make_fake: MakeFake, behavior: str
) -> None:
    fake = make_fake(behavior)
    report = pre_sync(options(behavior), Kubectl(), progress=RecordingProgress(), poll=FAST)
    assert (report.status, report.exit_code) == (APPLIED, 0)
    cluster = fake.cluster()
    assert_seed_transition_landed(cluster)
    pending = {svc for svc in (TCP, UDP) if cluster.went_pending(svc)}
    if behavior == "fixed":
        assert pending == set()
    else:
        assert pending and not any(cluster.stuck_at_end(s) for s in (TCP, UDP))
    if behavior == "metallb-0.14":
        assert report.applied is not None and report.applied.waves[0].nudged
    applies = fake.calls("apply")
    assert applies and all("--field-manager=shared-ip-planner" in c for c in applies)
    assert all("--server-side" in c for c in applies)


@pytest.mark.kubectl_subprocess
def test_rerunning_changes_nothing(make_fake: MakeFake, capsys: pytest.CaptureFixture[str]) -> None:
    fake = make_fake("fixed")
    assert run_cli("--target", "fixed") == 0
    before = (fake.arrivals(), len(writes(fake)))
    capsys.readouterr()
    assert run_cli("--target", "fixed") == 0
    assert (fake.arrivals(), len(writes(fake))) == before
    assert "planner flux pre-sync: nothing to do" in capsys.readouterr().out


def publish_commit(fake: FakeCluster, server: ArtifactServer, tree: dict[str, bytes]) -> None:
    """A new revision: its tarball served, the GitRepository's status pointing at it."""
    body = tarball(tree)
    url = server.publish("/gitrepository/flux-system/apps/2badcafe.tar.gz", body)
    fake.put_object(SOURCE_KEY, git_repository(url, sha256(body), "main@sha1:2badcafe"))


SITE = """apiVersion: v1
kind: Service
metadata:
  name: site
  namespace: web
  annotations:
    metallb.io/loadBalancerIPs: 192.168.10.80
spec:
  type: LoadBalancer
  selector: {app: site}
  ports:
    - {name: http, port: 80, protocol: TCP, targetPort: 8080}
"""


def test_a_change_without_group_transition_is_left_to_flux(
    make_fake: MakeFake, server: ArtifactServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("fixed")
    assert run_cli("--target", "fixed") == 0
    before = len(writes(fake))
    tree = sample_tree("seed-dns-local")
    tree[f"{normalised_path(APP_PATH)}/site.yaml"] = SITE.encode()
    publish_commit(fake, server, tree)
    capsys.readouterr()
    assert run_cli("--target", "fixed") == 0
    out = capsys.readouterr().out
    assert "planner flux pre-sync: nothing to do" in out
    assert "no group transition to order; Flux applies the 1 unit(s) of the plan" in out
    assert len(writes(fake)) == before and "web/site" not in fake.cluster().store


def test_the_hook_warns_on_a_field_the_api_server_drops(
    make_fake: MakeFake, server: ArtifactServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("fixed")
    tree = sample_tree("seed-dns-local")
    misplaced = SITE.replace("  selector:", "  annotations: {team: web}\n  selector:")
    tree[f"{normalised_path(APP_PATH)}/site.yaml"] = misplaced.encode()
    publish_commit(fake, server, tree)
    assert run_cli("--target", "fixed") == 0
    err = capsys.readouterr().err
    assert (
        "clusters/lab/dns/site.yaml: document 1, line 1: warning: Service web/site: field "
        "`spec.annotations` is not in the Kubernetes Service schema (the API server drops it); "
        "it probably belongs at `metadata.annotations`"
    ) in err


def test_a_refused_commit_says_only_its_error_without_the_warnings_before_it(
    make_fake: MakeFake, server: ArtifactServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input is one line and exit 2: the notes on what was read (here a field the API
    server drops) are printed only once the desired and live state are both read."""
    fake = make_fake("fixed")
    tree = sample_tree("seed-dns-local")
    app = normalised_path(APP_PATH)
    tree[f"{app}/site.yaml"] = SITE.replace(
        "  selector:", "  annotations: {a: b}\n  selector:"
    ).encode()
    tree[f"{app}/pool.yaml"] = tree[f"{app}/pool.yaml"].replace(
        b"    - 192.168.10.0/24\n", b"    []\n"
    )
    publish_commit(fake, server, tree)
    capsys.readouterr()
    assert run_cli("--target", "fixed") == 2
    err = capsys.readouterr().err
    assert err.startswith("planner: error: ") and err.count("\n") == 1, err
    assert "pool has no prefixes defined" in err
    assert writes(fake) == []


def test_a_dissolved_group_loses_the_annotations_the_hook_wrote(
    make_fake: MakeFake, server: ArtifactServer
) -> None:
    fake = make_fake("fixed")
    assert pre_sync(options(), Kubectl(), progress=RecordingProgress(), poll=FAST).exit_code == 0
    tree = sample_tree("seed-dns-local")
    dns_file = f"{normalised_path(APP_PATH)}/dns.yaml"
    docs = [d for d in yaml.safe_load_all(tree[dns_file]) if d]
    # The next commit moves dns-udp to its own address: the group dissolves, dns-tcp is unchanged.
    docs[1]["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.54"
    tree[dns_file] = yaml.safe_dump_all(docs).encode()
    publish_commit(fake, server, tree)
    report = pre_sync(options(), Kubectl(), progress=RecordingProgress(), poll=FAST)
    assert (report.status, report.exit_code) == (APPLIED, 0)
    cluster = fake.cluster()
    assert (cluster.ips(TCP), cluster.ips(UDP)) == ((SHARED_IP,), ("192.168.10.54",))
    for svc in (TCP, UDP):
        annotations = cluster.store[svc]["metadata"].get("annotations") or {}
        assert GROUP_ANNOTATION not in annotations and GROUP_MEMBERS_ANNOTATION not in annotations


# --- MetalLB run with --lb-class ---------------------------------------------------------------

OWN_CLASS = "example.com/edge-lb"


def test_under_metallbs_own_class_the_hook_lands_a_group_of_that_class(make_fake: MakeFake) -> None:
    """MetalLB started with `--lb-class X` handles a group of class X as it handles a group
    without a class when it runs without one: `--lb-class X` lands the seed transition the same."""
    fake = make_fake("fixed", lb_class=OWN_CLASS)
    assert run_cli("--target", "fixed", "--lb-class", OWN_CLASS) == 0
    assert_seed_transition_landed(fake.cluster())
    assert fake.calls("apply")


def test_without_lb_class_a_group_of_a_class_is_left_to_flux(make_fake: MakeFake) -> None:
    """Run as for a MetalLB without --lb-class, the hook does not take Services of a class for
    MetalLB's: no group, nothing to order, nothing written (Flux applies them as they are)."""
    fake = make_fake("fixed", lb_class=OWN_CLASS)
    report = pre_sync(options(), Kubectl(), progress=RecordingProgress(), poll=FAST)
    assert (report.status, report.exit_code) == (NOTHING_TO_DO, 0)
    assert writes(fake) == [] and fake.arrivals() == []


def test_a_bad_lb_class_is_refused_before_any_call(make_fake: MakeFake) -> None:
    fake = make_fake("fixed")
    with pytest.raises(InputError, match="^--lb-class is 'edge lb'; expected a loadBalancerClass"):
        pre_sync(options(lb_class="edge lb"), Kubectl(), progress=RecordingProgress(), poll=FAST)
    assert fake.calls() == []


# --- refusals before any write -------------------------------------------------------------------


@pytest.mark.kubectl_subprocess
def test_a_static_conflict_exits_3_before_any_write(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("fixed", sample="port-clash")
    assert run_cli("--target", "fixed") == 3
    assert writes(fake) == [] and fake.arrivals() == []
    assert "cannot plan" in capsys.readouterr().err


def test_a_wrong_digest_exits_2_before_any_write(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("fixed", digest=sha256(b"another commit"))
    assert run_cli() == 2
    assert writes(fake) == [] and fake.arrivals() == []
    assert "expected sha256:" in capsys.readouterr().err


def test_a_traversal_archive_exits_2_before_any_write(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    escape = tarfile.TarInfo("../../etc/evil.yaml")
    escape.size = 1
    fake = make_fake("fixed", archive=tarball(sample_tree("seed-dns-local"), [escape]))
    assert run_cli() == 2
    assert writes(fake) == [] and fake.arrivals() == []
    assert "contains '..'" in capsys.readouterr().err


def test_a_path_leaving_the_artifact_is_an_error(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("fixed")
    code = main(["flux", "pre-sync", "--source", SOURCE, "--path", "clusters/../../etc"])
    assert code == 2 and fake.calls() == []
    assert "leads outside the source artifact" in capsys.readouterr().err


def test_a_path_missing_from_the_artifact_is_an_error(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    make_fake("fixed")
    assert main(["flux", "pre-sync", "--source", SOURCE, "--path", "./clusters/prod"]) == 2
    assert "--path './clusters/prod' is not a directory" in capsys.readouterr().err


def test_a_plan_that_does_not_verify_exits_3_before_any_write(
    make_fake: MakeFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = Claim("fixed", 1, "no Service is ever pending", False, 4, True, "went pending: x")
    monkeypatch.setattr(
        "planner.gitops.flux.verify_plan", lambda plan, seed: VerifyReport((failed,))
    )
    fake = make_fake("fixed")
    assert run_cli("--target", "fixed") == 3
    assert writes(fake) == [] and fake.arrivals() == []
    err = capsys.readouterr().err
    assert "FAILED  fixed" in err and "went pending: x" in err
    assert "the plan does not verify (fixed, wave 1: no Service is ever pending)" in err


def test_a_sampled_verdict_is_refused_unless_accepted(
    make_fake: MakeFake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = make_fake("fixed")
    # Explore nothing: the seed transition's claims then rest on sampled schedules only.
    with (
        mock.patch.object(world, "STATES_MAX_WRITES", 0),
        mock.patch.object(world, "FIXED_STATES_MAX_WRITES", 0),
    ):
        assert run_cli("--target", "fixed") == 3
        assert writes(fake) == [] and fake.arrivals() == []
        err = capsys.readouterr().err
        assert "claim(s) only held on sampled schedules" in err
        assert "nothing was written: pass --accept-sampled" in err
        assert run_cli("--target", "fixed", "--accept-sampled") == 0
    assert fake.cluster().store[TCP]["spec"]["externalTrafficPolicy"] == "Local"


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [github.com/org/repo//base?ref=v1]", "names the remote resource"),
        ("resources: [../../../../outside]", "lies outside the repository"),
    ],
)
def test_render_app_refuses_kustomizations_reaching_out(
    tmp_path: Path, kustomization: str, message: str
) -> None:
    app = tmp_path / "artifact" / "clusters" / "lab"
    app.mkdir(parents=True)
    (app / "kustomization.yaml").write_text(kustomization, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        render_app(tmp_path / "artifact", "./clusters/lab")


def test_render_app_reads_plain_yaml_with_labels_from_the_artifact_root(tmp_path: Path) -> None:
    app = tmp_path / "artifact" / "clusters" / "lab"
    app.mkdir(parents=True)
    (app / "site.yaml").write_text(SITE, encoding="utf-8")
    desired = render_app(tmp_path / "artifact", "/clusters/lab/")
    assert [o.origin.file for o in desired.objects] == ["clusters/lab/site.yaml"]
    assert list(desired.services) == ["web/site"]


SUBSTITUTED_SITE = """\
apiVersion: v1
kind: Service
metadata:
  name: blocky-dns-tcp
  namespace: network
  annotations:
    metallb.io/allow-shared-ip: ${APP}
    metallb.io/loadBalancerIPs: 192.168.10.53
spec:
  type: LoadBalancer
  ports:
    - port: 53
      protocol: TCP
"""


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        # a valid-looking value: before, the hook planned the sharing key "${APP}"
        ((), r"^clusters/lab/site.yaml: document 1, line 1: `\$\{APP\}` in `metadata.annotations`"),
        ((("${APP}", "$${APP}"),), None),  # Flux's escape: a literal `${APP}`, not a variable
        # an invalid one: before, only "is not a valid IP address"
        (
            (("${APP}", "blocky"), ("  type:", "  loadBalancerIP: ${SVC_BLOCKY_ADDR}\n  type:")),
            r"'\$\{SVC_BLOCKY_ADDR\}' is not a valid IP address; `\$\{...\}` is Flux post-build",
        ),
    ],
)
def test_render_app_refuses_flux_variables_it_would_apply_as_written(
    tmp_path: Path, edits: tuple[tuple[str, str], ...], message: str | None
) -> None:
    """rwlove/home-ops and the onedr0p template: `${APP}`, `${SVC_..._ADDR}` in app Services."""
    text = SUBSTITUTED_SITE
    for old, new in edits:
        text = text.replace(old, new)
    app = tmp_path / "artifact" / "clusters" / "lab"
    app.mkdir(parents=True)
    (app / "site.yaml").write_text(text, encoding="utf-8")
    if message is None:
        services = render_app(tmp_path / "artifact", "clusters/lab").services
        assert list(services) == ["network/blocky-dns-tcp"]
        return
    with pytest.raises(InputError, match=message) as caught:
        render_app(tmp_path / "artifact", "clusters/lab")
    assert str(caught.value).endswith(
        "which the hook does not evaluate: it would apply the text as written, so it refuses an "
        "app whose Kustomization substitutes variables"
    )


@pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="needs kustomize or kubectl"
)
def test_render_app_builds_the_plugins_example_with_kustomize(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "plugins" / "flux" / "example-app"
    shutil.copytree(example, tmp_path / "artifact" / "apps" / "dns")
    desired = render_app(tmp_path / "artifact", "./apps/dns")
    assert sorted(desired.services) == [TCP, UDP]
    assert {o.origin.file for o in desired.objects} == {"apps/dns"}


@pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="needs kustomize or kubectl"
)
def test_render_app_loads_files_outside_the_kustomization_as_flux_does(tmp_path: Path) -> None:
    """kustomize-controller builds with LoadRestrictionsNone: an overlay listing a base's file
    (xunholy/k8s-gitops) builds in Flux, so the hook builds it too (before: kustomize's
    `security; file ... is not in or below ...`, exit 2)."""
    root = tmp_path / "artifact"
    (root / "apps" / "base").mkdir(parents=True)
    (root / "apps" / "base" / "site.yaml").write_text(SITE, encoding="utf-8")
    (root / "apps" / "home").mkdir()
    (root / "apps" / "home" / "kustomization.yaml").write_text("resources: [../base/site.yaml]\n")
    assert list(render_app(root, "apps/home").services) == ["web/site"]


def test_app_directory_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "artifact"
    root.mkdir()
    (root / "apps").symlink_to(tmp_path)
    with pytest.raises(InputError, match="outside the source artifact"):
        app_directory(root, "apps")
    assert app_directory(root, "/") == root.resolve()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("./a/b", "a/b"), ("/a/./b/", "a/b"), ("", "."), ("./", "."), ("a/../b", "b")],
)
def test_normalised_path_follows_flux(text: str, expected: str) -> None:
    assert normalised_path(text) == expected


@pytest.mark.parametrize("text", ["bucket/apps", "gitrepository", "gitrepository/", "a/b/c"])
def test_parse_source_ref_refuses_other_kinds(text: str) -> None:
    with pytest.raises(InputError, match="expected gitrepository/NAME or ocirepository/NAME"):
        parse_source_ref(text)


def test_parse_source_ref_reads_oci_sources() -> None:
    ref = parse_source_ref("OCIRepository/podinfo", "apps")
    assert (ref.kind, ref.resource, ref.namespace, ref.name) == (
        "OCIRepository",
        "ocirepositories.source.toolkit.fluxcd.io",
        "apps",
        "podinfo",
    )


# --- the app Kustomization -----------------------------------------------------------------------


def test_a_suspended_kustomization_is_nothing_to_do_and_fetches_nothing(
    make_fake: MakeFake, server: ArtifactServer
) -> None:
    fake = make_fake("fixed", objects={KUSTOMIZATION_KEY: app_kustomization(suspend=True)})
    report = pre_sync(options(kustomization="dns"), Kubectl(), progress=RecordingProgress())
    assert (report.status, report.exit_code) == (NOTHING_TO_DO, 0)
    assert server.requests == [] and writes(fake) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "./clusters/prod"}, "has spec.path './clusters/prod', not --path"),
        ({"sourceRef": {"kind": "GitRepository", "name": "other"}}, "not --source"),
        ({"postBuild": {"substitute": {"IP": "192.168.10.53"}}}, "sets spec.postBuild"),
        ({"patchesStrategicMerge": [{"kind": "Service"}]}, "sets spec.patchesStrategicMerge"),
    ],
)
def test_a_kustomization_the_hook_cannot_follow_is_refused(
    make_fake: MakeFake, spec: dict[str, Any], message: str
) -> None:
    fake = make_fake("fixed", objects={KUSTOMIZATION_KEY: app_kustomization(**spec)})
    with pytest.raises(InputError, match=message):
        pre_sync(options(kustomization="flux-system/dns"), Kubectl())
    assert writes(fake) == []


KEEP_CLUSTER = """\
apiVersion: v1
kind: Service
metadata:
  name: not-used
spec:
  externalTrafficPolicy: Cluster
"""


@pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="needs kustomize or kubectl"
)
def test_the_hook_applies_the_kustomizations_fields_as_diff_does(
    make_fake: MakeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed commit (Cluster → Local) undone by the app Kustomization's own patch: Flux
    applies Cluster, and so does the hook (it only stamps the group's annotations): nobody goes
    pending. Before, the hook refused the Kustomization."""
    real = shutil.which("kustomize") or f"{shutil.which('kubectl')} kustomize"
    shim = tmp_path / "kustomize-bin" / "kustomize"  # the stand-in kubectl renders nothing
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nshift\nexec {real} "$@"\n')
    shim.chmod(0o755)
    spec = {
        "patches": [{"patch": KEEP_CLUSTER, "target": {"kind": "Service"}}],
        "commonMetadata": {"labels": {"app.kubernetes.io/name": "coredns"}},
    }
    fake = make_fake("fixed", objects={KUSTOMIZATION_KEY: app_kustomization(**spec)})
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    report = pre_sync(options(kustomization="dns"), Kubectl(), progress=RecordingProgress())
    assert report.exit_code == 0
    cluster = fake.cluster()
    for svc in (TCP, UDP):
        assert cluster.store[svc]["spec"]["externalTrafficPolicy"] == "Cluster"
        assert cluster.ips(svc) == (SHARED_IP,) and not cluster.went_pending(svc)


@pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="needs kustomize or kubectl"
)
def test_render_app_and_diff_read_a_kustomizations_fields_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook renders the app with the Kustomization read from the cluster; diff follows the
    same Kustomization from its file: the same Services, byte for byte."""
    from planner.sources import load_desired
    from tests.sources.conftest import git

    root = tmp_path / "artifact"
    for path, text in sample_tree("seed-dns-local").items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(text)
    component = root / "components/cluster"
    component.mkdir(parents=True)
    (component / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        + yaml.safe_dump({"patches": [{"patch": KEEP_CLUSTER, "target": {"kind": "Service"}}]})
    )
    spec = {
        "targetNamespace": "lab",
        "namePrefix": "home-",
        "components": ["../../../components/cluster"],
    }
    kustomization = app_kustomization(**spec)
    (root / "ks.yaml").write_text(yaml.safe_dump(kustomization))
    hook = render_app(root, APP_PATH, kustomization)
    git(root, "init", "--quiet")
    monkeypatch.chdir(root)
    followed = load_desired(["ks.yaml"])
    assert sorted(hook.services) == ["lab/home-dns-tcp", "lab/home-dns-udp"]
    assert hook.services == followed.services
    assert {s["spec"]["externalTrafficPolicy"] for s in hook.services.values()} == {"Cluster"}


# --- which units the hook applies ----------------------------------------------------------------


def _unit(uid: str, kind: str, svc: str, waits_for: tuple[str, ...] = ()) -> PlannedUnit:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc.split("/")[1]}}
    write = Write(svc, APPLY, copy.deepcopy(manifest))
    return PlannedUnit(uid, kind, (svc,), (svc,), (write,), waits_for)


def test_hook_plan_keeps_transitions_what_they_wait_for_and_what_waits_for_them() -> None:
    release = _unit("u-release", "service", "a/old")
    transition = _unit("u-move", "group-transition", "a/dns", ("u-release",))
    unrelated = _unit("u-other", "service", "b/web")
    after = _unit("u-after", "service", "a/new", ("u-move",))
    waves = (
        PlannedWave(1, (release, unrelated), {"a/old": (), "b/web": (("10.0.0.9",),)}),
        PlannedWave(2, (transition,), {"a/dns": (("10.0.0.1",),)}, {"metallb-0.14": ("a/dns",)}),
        PlannedWave(3, (after,), {"a/new": (("10.0.0.2",),)}),
    )
    windows = (PendingWindow("a/dns", 2, "nudge"), PendingWindow("b/web", 1, "end-of-wave"))
    plan = Plan(
        "atomic",
        waves,
        {"metallb-0.14": PlanPrediction("metallb-0.14", windows)},
        {"a/old": "x", "b/web": "y", "a/dns": "z", "a/new": "absent"},
    )
    hook = hook_plan(plan)
    assert [[u.id for u in w.units] for w in hook.waves] == [
        ["u-release"],
        ["u-move"],
        ["u-after"],
    ]
    assert [w.index for w in hook.waves] == [1, 2, 3]
    assert dict(hook.waves[0].expected_ips) == {"a/old": ()}
    assert hook.waves[1].nudges == {"metallb-0.14": ("a/dns",)}
    assert hook.predictions["metallb-0.14"].windows == (PendingWindow("a/dns", 2, "nudge"),)
    assert set(hook.preconditions) == {"a/old", "a/dns", "a/new"}


def test_hook_plan_keeps_the_predicted_addresses_of_the_services_it_keeps() -> None:
    """A plan made with no pool known: the hook waits for any IP where the stand-in pool's
    address stands, as `planner apply` does."""
    transition = _unit("u-move", "group-transition", "a/dns")
    unrelated = _unit("u-other", "service", "b/web")
    expected = {"a/dns": (("0.0.0.1",),), "b/web": (("0.0.0.2",),)}
    predicted = {"a/dns": {"0.0.0.1": ("unknown-pool",)}, "b/web": {"0.0.0.2": ("unknown-pool",)}}
    wave = PlannedWave(1, (transition, unrelated), expected, predicted_ips=predicted)
    hook = hook_plan(Plan("atomic", (wave,), {}, {"a/dns": "x", "b/web": "y"}))
    assert hook.waves[0].predicted_ips == {"a/dns": {"0.0.0.1": ("unknown-pool",)}}


def test_hook_plan_without_transitions_is_empty() -> None:
    plan = Plan("atomic", (PlannedWave(1, (_unit("u", "service", "a/web"),), {}),), {}, {})
    assert hook_plan(plan).waves == ()


def test_hook_plan_keeps_a_detour_and_the_chain_it_starts() -> None:
    # Flux applies the repo's final objects at once, which would land the swap as a cycle: the
    # detour, the writes waiting for it and the detoured Service's last write are the hook's.
    detour = _unit("u-detour", "detour", "shop/blue")
    green = _unit("u-green", "service", "shop/green", ("u-detour",))
    blue = _unit("u-blue", "service", "shop/blue", ("u-green",))
    unrelated = _unit("u-other", "service", "b/web")
    waves = (
        PlannedWave(1, (detour, unrelated), {"shop/blue": (("10.0.0.254",),)}),
        PlannedWave(2, (green,), {"shop/green": (("10.0.0.1",),)}),
        PlannedWave(3, (blue,), {"shop/blue": (("10.0.0.2",),)}),
    )
    plan = Plan("atomic", waves, {}, {"shop/blue": "x", "shop/green": "y", "b/web": "z"})
    assert [[u.id for u in w.units] for w in hook_plan(plan).waves] == [
        ["u-detour"],
        ["u-green"],
        ["u-blue"],
    ]
