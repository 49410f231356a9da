"""sources.safety: the repository root is found the way git finds it (issue 13, section 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.errors import InputError
from planner.sources.safety import check_kustomize_references, git_root, repository_root

BASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [service.yaml]
"""
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: dns
resources: [../base]
"""


def home_lab(tmp_path: Path, git: str = "dir") -> Path:
    """A home-lab repo: apps/blocky/{base,home} (an overlay over `../base`), .git at the top."""
    repo = tmp_path / "home-ops"
    (repo / "apps" / "blocky" / "base").mkdir(parents=True)
    (repo / "apps" / "blocky" / "home").mkdir()
    (repo / "apps" / "blocky" / "base" / "kustomization.yaml").write_text(BASE)
    (repo / "apps" / "blocky" / "base" / "service.yaml").write_text("kind: Service\n")
    (repo / "apps" / "blocky" / "home" / "kustomization.yaml").write_text(OVERLAY)
    if git == "dir":
        (repo / ".git").mkdir()
    elif git == "file":  # a worktree or a submodule: .git is a file naming the real one
        (repo / ".git").write_text("gitdir: /elsewhere/.git/worktrees/home-ops\n")
    return repo / "apps" / "blocky" / "home"


@pytest.mark.parametrize("git", ["dir", "file"])
def test_without_a_source_path_the_root_is_the_nearest_dot_git(tmp_path: Path, git: str) -> None:
    app = home_lab(tmp_path, git)
    root = repository_root(app, "")
    assert root == (tmp_path / "home-ops").resolve()
    check_kustomize_references(app, root)  # `../base` is inside the repository: no error


def test_a_matching_source_path_still_decides(tmp_path: Path) -> None:
    app = home_lab(tmp_path)
    assert repository_root(app, "blocky/home") == (tmp_path / "home-ops" / "apps").resolve()


def test_without_dot_git_or_source_path_the_app_is_the_root_and_its_base_outside(
    tmp_path: Path,
) -> None:
    if git_root(tmp_path.resolve()) is not None:
        pytest.skip("the temporary directory lies inside a git repository")
    app = home_lab(tmp_path, git="none")
    root = repository_root(app, "")
    assert root == app.resolve()
    with pytest.raises(InputError, match="`../base`, which lies outside the repository"):
        check_kustomize_references(app, root)


def test_the_plugins_check_refuses_a_remote_generator_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    app = root / "apps" / "dash"
    app.mkdir(parents=True)
    (app / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: x\n    envs: [https://example.invalid/x.env]\n"
    )
    with pytest.raises(InputError, match="names the remote resource `https://example.invalid/x"):
        check_kustomize_references(app, root)


def test_the_plugins_check_refuses_a_missing_local_resource_before_kustomize_runs(
    tmp_path: Path,
) -> None:
    """kustomize fails on it too, but names it only among absolute paths of the plugin's copy."""
    app = home_lab(tmp_path)
    (app.parent / "base" / "service.yaml").unlink()
    with pytest.raises(InputError) as caught:
        check_kustomize_references(app, repository_root(app, ""))
    assert str(caught.value) == (
        "apps/blocky/base/kustomization.yaml (`resources`) names `service.yaml`, which does not "
        "exist; kustomize cannot build it (nor can Flux or Argo CD)"
    )


def test_the_plugins_check_refuses_helm_chart_inflation(tmp_path: Path) -> None:
    """The plugin and the hook hand on everything they render: they cannot leave it out."""
    app = home_lab(tmp_path)
    (app / "kustomization.yaml").write_text("helmCharts:\n  - name: app-template\n")
    with pytest.raises(InputError, match=r"inflates Helm charts \(`helmCharts`"):
        check_kustomize_references(app, repository_root(app, ""))
