"""planner.sources.kustomize: detection, the choice of binary, real rendering, a missing tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import InputError, ToolFailedError, ToolMissingError
from planner.sources import load_desired
from planner.sources.kustomize import (
    KUSTOMIZATION_FILES,
    is_kustomization_dir,
    kustomize_argv,
    render_kustomization,
)
from tests.sources.conftest import git, kustomize_available, service_yaml, write


@pytest.mark.parametrize("name", KUSTOMIZATION_FILES)
def test_each_kustomization_file_name_marks_a_kustomize_directory(
    tmp_path: Path, name: str
) -> None:
    assert not is_kustomization_dir(tmp_path)
    write(tmp_path / name, "resources: []\n")
    assert is_kustomization_dir(tmp_path)


def test_standalone_kustomize_is_preferred(tmp_path: Path, fake_bin: Callable[..., Path]) -> None:
    kubectl = fake_bin("kubectl", "exit 1\n")
    assert kustomize_argv("app") == [str(kubectl), "kustomize", "app"]
    kustomize = fake_bin("kustomize", "exit 1\n")
    assert kustomize_argv("app") == [str(kustomize), "build", "app"]


def test_without_kustomize_or_kubectl_the_message_names_both(
    fake_bin: Callable[..., Path],
) -> None:
    with pytest.raises(ToolMissingError) as caught:
        kustomize_argv("app")
    assert caught.value.tool == "kustomize"
    assert "or kubectl, which includes it as `kubectl kustomize`" in str(caught.value)


@pytest.mark.skipif(not kustomize_available(), reason="neither kustomize nor kubectl is installed")
def test_real_kustomize_renders_an_overlay(tmp_path: Path) -> None:
    write(tmp_path / "base" / "svc.yaml", service_yaml("dns"))
    write(tmp_path / "base" / "kustomization.yaml", "resources:\n- svc.yaml\n")
    write(
        tmp_path / "prod" / "kustomization.yaml",
        "resources:\n- ../base\nnamespace: edge\nnamePrefix: prod-\n",
    )
    out = render_kustomization(tmp_path / "prod")
    assert "name: prod-dns" in out
    assert "namespace: edge" in out


@pytest.mark.skipif(not kustomize_available(), reason="neither kustomize nor kubectl is installed")
def test_a_broken_kustomization_is_a_tool_failure_with_its_stderr(tmp_path: Path) -> None:
    write(tmp_path / "kustomization.yaml", "resources:\n- missing.yaml\n")
    with pytest.raises(ToolFailedError) as caught:
        render_kustomization(tmp_path)
    assert caught.value.returncode != 0
    assert "missing.yaml" in caught.value.stderr


# What `kubectl kustomize` prints on stderr when a resource cannot be built (klog's block).
KUBECTL_KUSTOMIZE_FAILURE = r"""# Warning: 'commonLabels' is deprecated. Please use 'labels' instead.
E1203 08:50:18.304882   21527 run.go:72] "command failed" err=<
	accumulating resources: accumulation err='accumulating resources from 'dns': missing'
	: exit status 1
 >
"""


# kubectl v1.32's one-line form (auricom/home-ops: a `ks.yaml` listed, not written).
KUBECTL_KUSTOMIZE_ONE_LINE = (
    'E1204 15:39:54.536851    9071 run.go:72] "command failed" err="accumulating resources: '
    "accumulation err='accumulating resources from './app/ks.yaml': evalsymlink failure on "
    "'/x/app/ks.yaml' : lstat /x/app/ks.yaml: no such file or directory' \\\"quoted\\\"\"\n"
)


# kustomize --enable-helm relays helm's stderr, a traceback or more: run_tool keeps the tail,
# without klog's `err=<` header (Vikaspogu/home-ops, a chart's value file).
KUBECTL_KUSTOMIZE_CUT_OFF = "".join(f"\t  traceback line {n}\n" for n in range(40)) + (
    "\t: unable to run: 'helm template web charts/web' (is 'helm' installed?): exit 1\n >\n"
)


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        # before: "... failed with exit code 1:  >" (the klog block's last line)
        (
            KUBECTL_KUSTOMIZE_FAILURE,
            (
                "accumulating resources: accumulation err='accumulating resources from 'dns': "
                "missing' : exit status 1"
            ),
        ),
        # before: "... failed with exit code 1: E1204 15:39:54.536851    9071 run.go:72] ..."
        (
            KUBECTL_KUSTOMIZE_ONE_LINE,
            (
                "accumulating resources: accumulation err='accumulating resources from "
                "'./app/ks.yaml': evalsymlink failure on '/x/app/ks.yaml' : lstat /x/app/ks.yaml: "
                'no such file or directory\' "quoted"'
            ),
        ),
        # before: "... failed with exit code 1:  >" (the block's start cut off by the tail)
        (
            KUBECTL_KUSTOMIZE_CUT_OFF,
            ": unable to run: 'helm template web charts/web' (is 'helm' installed?): exit 1",
        ),
    ],
)
def test_a_failing_kubectl_kustomize_shows_kustomizes_error_not_klogs_wrapping(
    tmp_path: Path, fake_bin: Callable[..., Path], stderr: str, error: str
) -> None:
    (tmp_path / "stderr.txt").write_text(stderr)
    fake_bin("kubectl", f"cat {tmp_path / 'stderr.txt'} >&2\nexit 1\n")
    write(tmp_path / "app/kustomization.yaml", "resources: [dns]\n")
    with pytest.raises(ToolFailedError) as caught:
        render_kustomization(tmp_path / "app")
    assert str(caught.value).endswith(f"failed with exit code 1: {error}")


def test_a_missing_local_resource_is_one_line_naming_it_before_kustomize_runs(
    tmp_path: Path, fake_bin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """auricom/home-ops at f6924e0: the namespace's kustomization lists `./nut-exporter/ks.yaml`,
    never committed. Flux fails the whole parent; the planner says which entry, not kustomize's
    two absolute paths."""
    log = tmp_path / "ran"
    fake_bin("kubectl", f"touch {log}\nexit 1\n")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "apps/kustomization.yaml", "resources: [./dns/ks.yaml, ./web]\n")
    write(tmp_path / "apps/dns/ks.yaml", service_yaml("dns", "dns"))
    write(
        tmp_path / "apps/web/kustomization.yaml",
        "configMapGenerator:\n  - name: c\n    files: [k=conf.txt]\n",
    )
    with pytest.raises(InputError) as caught:
        load_desired(["apps"])
    assert str(caught.value) == (
        "apps/web/kustomization.yaml (`configMapGenerator` files) names `conf.txt`, which does "
        "not exist; kustomize cannot build it (nor can Flux or Argo CD)"
    )
    write(tmp_path / "apps/web/conf.txt", "x\n")
    (tmp_path / "apps/dns/ks.yaml").unlink()
    with pytest.raises(InputError, match=r"^apps/kustomization.yaml \(`resources`\) names "):
        load_desired(["apps"])
    assert not log.exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"resources:\n  - svc.yaml\n  x: [\n", "line 3: malformed YAML: "),
        (b"resources:\n  - svc.yaml\x1f\n", "line 2: malformed YAML: character U+001F, "),
        (b"resources:\n  - svc.yaml\n# \xff\n", "line 3: the file is not UTF-8 text (byte 26)"),
    ],
)
def test_an_unreadable_kustomization_names_its_line_before_kustomize_runs(
    tmp_path: Path,
    fake_bin: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    problem: str,
) -> None:
    """Before: `... cannot be read as YAML: ReaderError` (or UnicodeDecodeError), no line."""
    log = tmp_path / "ran"
    fake_bin("kubectl", f"touch {log}\nexit 1\n")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "app/svc.yaml", service_yaml("dns", "dns"))
    (tmp_path / "app/kustomization.yaml").write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_desired(["app"])
    assert str(caught.value).startswith(f"app/kustomization.yaml: document 1, {problem}")
    assert not log.exists()


def test_a_remote_resource_leaves_the_build_unrendered_before_kustomize_runs(
    tmp_path: Path, fake_bin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """kustomize would fetch it (a network call; offline, an error naming no entry). The
    repository is valid (Flux and Argo CD fetch it), so this is not an input error: the build
    is unrendered, said, and counted (damacus/home-ops: remote CRDs in 2 of 19 namespaces)."""
    log = tmp_path / "ran"
    fake_bin("kubectl", f"touch {log}\nexit 1\n")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "apps/kustomization.yaml", "resources: [./monitoring, ./dns.yaml]\n")
    write(tmp_path / "apps/dns.yaml", service_yaml("dns", "dns"))
    write(tmp_path / "plain/web.yaml", service_yaml("web", "web"))
    remote = "https://example.invalid/dashboards.yaml"
    write(tmp_path / "apps/monitoring/kustomization.yaml", f"resources:\n  - {remote}\n")
    state = load_desired(["apps", "plain"])
    assert list(state.services) == ["web/web"]  # the rest is still read
    [entry] = state.unrendered
    assert (entry.kind, entry.release) == ("kustomization", "kustomization apps")
    assert str(entry) == (
        "apps/kustomization.yaml: document 1, line 1: kustomization apps not rendered "
        f"(apps/monitoring/kustomization.yaml (`resources`) names the remote `{remote}`, which "
        "the planner does not fetch); its Services were not checked"
    )
    assert not log.exists()


def test_a_remote_generator_file_leaves_the_build_unrendered_too(
    tmp_path: Path, fake_bin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rwlove/home-ops: a Grafana dashboard fetched by a configMapGenerator."""
    fake_bin("kubectl", "exit 1\n")
    monkeypatch.chdir(tmp_path)
    remote = "https://example.invalid/cert-manager.json"
    generator = f"configMapGenerator:\n  - name: dash\n    files: [dash.json={remote}]\n"
    write(tmp_path / "apps/kustomization.yaml", "resources: [./dashboard]\n")
    write(tmp_path / "apps/dashboard/kustomization.yaml", generator)
    [entry] = load_desired(["apps"]).unrendered
    assert "apps/dashboard/kustomization.yaml (`configMapGenerator` files) names the remote" in (
        entry.reason
    )


@pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")
def test_a_remote_resource_at_the_git_ref_too_is_one_entry(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With `--live-git`, the work tree's and the ref's build are the same kustomization: named
    by its path in the repository, counted once; the plain files beside it are checked."""
    remote = "https://example.invalid/crds.yaml"
    write(repo / "apps/upgrade/app/kustomization.yaml", f"resources: [{remote}]\n")
    write(repo / "apps/dns/dns.yaml", service_yaml("dns", "dns"))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "remote CRDs")
    assert main(["diff", "apps", "--live-git", "HEAD", "--fail-on", "unrendered"]) == 3
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "blocks: 1 kustomization not rendered (Services unchecked) (--fail-on unrendered)"
    )
    assert "0 create, 0 update, 0 delete, 1 unchanged" in out  # dns/dns read on both sides
    assert main(["diff", "apps", "--live-git", "HEAD"]) == 0


FLUX_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 1h
  path: ./apps/overlays/home
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""


def overlay_listing_a_file_outside_it(repo: Path, flux: bool) -> None:
    """xunholy/k8s-gitops's layout: the cluster's overlay lists files of the base's apps
    (`../../base/dns/svc.yaml`), outside its own directory."""
    write(repo / "apps/base/dns/svc.yaml", service_yaml("dns", "dns"))
    write(repo / "apps/overlays/home/kustomization.yaml", "resources: [../../base/dns/svc.yaml]\n")
    if flux:
        write(repo / "clusters/home/apps.yaml", FLUX_KUSTOMIZATION)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "layout")


@pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")
def test_a_path_flux_builds_loads_files_from_anywhere_in_the_repository(repo: Path) -> None:
    """kustomize-controller builds with LoadRestrictionsNone (fluxcd/pkg kustomize `Build`):
    before, `kubectl kustomize`'s default refused the file (`security; file ... is not in or
    below ...`), exit 2 on a valid Flux repository."""
    overlay_listing_a_file_outside_it(repo, flux=True)
    assert list(load_desired(["apps/overlays/home"]).services) == ["dns/dns"]


@pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")
def test_without_flux_the_build_keeps_kustomizes_default_restriction(repo: Path) -> None:
    """Argo CD and `kubectl apply -k` build with kustomize's default: the same layout fails
    there, and the planner says so rather than build what they would not."""
    overlay_listing_a_file_outside_it(repo, flux=False)
    with pytest.raises(ToolFailedError, match="is not in or below"):
        load_desired(["apps/overlays/home"])


def test_a_path_flux_builds_loads_nothing_from_outside_the_repository(
    repo: Path, fake_bin: Callable[..., Path]
) -> None:
    """Flux's file system denies what lies outside the source's root; the planner checks the
    files a kustomization loads itself (a patch here) before kustomize runs."""
    log = repo.parent / "ran"
    fake_bin("kubectl", f"touch {log}\nexit 1\n")
    write(repo.parent / "outside.yaml", "kind: Service\n")
    write(repo / "clusters/home/apps.yaml", FLUX_KUSTOMIZATION)
    write(
        repo / "apps/overlays/home/kustomization.yaml",
        "resources: [svc.yaml]\npatches:\n  - path: ../../../../outside.yaml\n",
    )
    write(repo / "apps/overlays/home/svc.yaml", service_yaml("dns", "dns"))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "layout")
    with pytest.raises(InputError) as caught:
        load_desired(["apps/overlays/home"])
    assert str(caught.value) == (
        "apps/overlays/home/kustomization.yaml (`patches`) names `../../../../outside.yaml`, "
        "which lies outside the repository"
    )
    assert not log.exists()


def test_a_kustomization_inflating_helm_charts_is_unrendered_not_an_error(
    tmp_path: Path, fake_bin: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vikaspogu/home-ops: every Argo CD app is a kustomization with `helmCharts`, which Argo
    CD builds with `--enable-helm`. Before: exit 2 on kustomize's `trouble configuring builtin
    HelmChartInflationGenerator`; now, its chart being remote and --fetch-charts not given, that
    build alone is unchecked, said and counted (tests/sources/test_kustomize_helm.py builds
    them)."""
    log = tmp_path / "ran"
    fake_bin("kubectl", f"touch {log}\nexit 1\n")
    monkeypatch.chdir(tmp_path)
    charts = "helmCharts:\n  - name: app-template\n    repo: oci://ghcr.io/example/charts\n"
    write(tmp_path / "apps/web/kustomization.yaml", charts)
    write(tmp_path / "apps/dns/dns.yaml", service_yaml("dns", "dns"))
    state = load_desired(["apps"])
    assert list(state.services) == ["dns/dns"]
    [entry] = state.unrendered
    assert entry.reason == (
        "apps/web/kustomization.yaml (`helmCharts` app-template) names the Helm chart "
        "app-template of oci://ghcr.io/example/charts, which is not in the repository; pass "
        "--fetch-charts to let helm fetch it"
    )
    assert not log.exists()


@pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")
def test_a_kustomization_broken_at_the_git_ref_is_unrendered_there_not_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A commit mending a broken kustomization must be checkable: before, `--live-git HEAD~1`
    stopped on the ref's error (exit 2), so the fix's own pull request could not pass. In the
    work tree the same error still stops the run."""
    write(repo / "apps/dns/dns.yaml", service_yaml("dns", "dns"))
    write(repo / "apps/dns/kustomization.yaml", "resources: [dns.yaml, gone.yaml]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "broken")
    assert main(["diff", "apps/dns", "--live-git", "HEAD"]) == 2
    assert "apps/dns/kustomization.yaml (`resources`) names `gone.yaml`" in capsys.readouterr().err
    write(repo / "apps/dns/kustomization.yaml", "resources: [dns.yaml]\n")
    git(repo, "commit", "--quiet", "-am", "mended")
    assert main(["diff", "apps/dns", "--live-git", "HEAD~1", "--fail-on", "unrendered"]) == 3
    out = capsys.readouterr().out
    assert (
        "HEAD~1:apps/dns/kustomization.yaml: document 1, line 1: kustomization apps/dns not " in out
    )
    assert "names `gone.yaml`, which does not exist" in out


def test_a_kustomization_unreadable_at_the_git_ref_is_unrendered_there(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only a missing entry: a kustomization file that is not YAML at the ref is unrendered
    there too (before: exit 2 for the ref's file, whatever the work tree held)."""
    write(repo / "apps/dns/dns.yaml", service_yaml("dns", "dns"))
    write(repo / "apps/dns/kustomization.yaml", "resources:\n  - dns.yaml\n  x: [\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "broken")
    write(repo / "apps/dns/kustomization.yaml", "resources: [dns.yaml]\n")
    git(repo, "commit", "--quiet", "-am", "mended")
    assert main(["diff", "apps/dns", "--live-git", "HEAD~1", "--fail-on", "unrendered"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("blocks: 1 kustomization not rendered (Services unchecked) (--fail-on ")
    assert "kustomization apps/dns not rendered (malformed YAML: " in out
