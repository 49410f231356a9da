"""Builds reused within one run when every input is the same bytes (kustomize_cache): `--live-git`
builds each app at the work tree and at the ref, and most commits change few apps. GizmoTickler/
home-ops, `diff kubernetes/apps --live-git HEAD~1`: 142 builds, 61 s (docs/real-repositories.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from planner.cli import main
from planner.sources.kustomize_cache import build_cache, inputs_key
from tests.sources.conftest import git, service_yaml, write

OPTIONS = ["kustomize", "build"]


def _app(root: Path) -> Path:
    write(root / "components/common/kustomization.yaml", "kind: Component\nresources: [cm.yaml]\n")
    write(root / "components/common/cm.yaml", "kind: ConfigMap\nmetadata: {name: settings}\n")
    app = root / "apps/dns"
    kustomization = (
        "resources: [service.yaml]\ncomponents: [../../components/common]\n"
        "patches: [{path: patch.yaml}]\n"
    )
    write(app / "kustomization.yaml", kustomization)
    write(app / "service.yaml", service_yaml("dns", "dns"))
    write(app / "patch.yaml", "kind: Service\nmetadata: {name: dns}\n")
    write(app / "README.md", "not read by kustomize\n")
    return app


def test_the_same_inputs_at_another_root_have_the_same_key(tmp_path: Path) -> None:
    app, other = _app(tmp_path / "work"), _app(tmp_path / "ref")
    with build_cache():
        key = inputs_key(app, tmp_path / "work", OPTIONS)
        assert key is not None
        assert inputs_key(other, tmp_path / "ref", OPTIONS) == key
        write(other / "README.md", "changed, and still not read\n")
        assert inputs_key(other, tmp_path / "ref", OPTIONS) == key
        assert inputs_key(other, tmp_path / "ref", [*OPTIONS, "--enable-helm"]) != key
        own = ("kustomization.yaml", "resources: [service.yaml]\nnamePrefix: a-\n")
        assert inputs_key(other, tmp_path / "ref", OPTIONS, own) != key
        write(tmp_path / "ref/components/common/cm.yaml", "kind: ConfigMap\nmetadata: {name: x}\n")
        assert inputs_key(other, tmp_path / "ref", OPTIONS) != key
        write(app / "kustomization.yaml", "resources: [https://example.com/x.yaml]\n")
        assert inputs_key(app, tmp_path / "work", OPTIONS) is None  # a URL: never reused
        write(app / "kustomization.yaml", "resources: [../../../outside.yaml]\n")
        assert inputs_key(app, tmp_path / "work", OPTIONS) is None
    assert inputs_key(other, tmp_path / "ref", OPTIONS) is None  # no run keeps builds


def test_a_diff_at_a_ref_builds_an_unchanged_app_once(
    repo: Path, fake_bin: Callable[..., Path], tmp_path: Path
) -> None:
    log = tmp_path / "kustomize.log"
    # a stand-in kustomize: logs the directory it builds and prints its service.yaml
    fake_bin("kustomize", f'for a; do d="$a"; done\necho "$d" >> {log}\ncat "$d/service.yaml"\n')
    for name in ("dns", "web"):
        write(repo / f"apps/{name}/kustomization.yaml", "resources: [service.yaml]\n")
        write(repo / f"apps/{name}/service.yaml", service_yaml(name, name, "10.0.0.1"))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "apps")
    write(repo / "apps/web/service.yaml", service_yaml("web", "web", "10.0.0.2"))
    assert main(["diff", "apps", "--live-git", "HEAD", "-o", "json"]) == 1
    built = [Path(line).parts[-2:] for line in log.read_text().splitlines()]
    assert sorted(built) == [("apps", "dns"), ("apps", "web"), ("apps", "web")]
