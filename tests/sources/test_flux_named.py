"""A path named on the command line that a Flux Kustomization builds (its `spec.path`, a file in
it, or a directory below it) is read as kustomize-controller builds it: targetNamespace,
patches, namePrefix, components, images, commonMetadata, with one note naming the Kustomization.

Before, only its postBuild substitution was applied: `planner diff apps/dns/app`, the most
natural command line, checked the Services as written (in `default`, unpatched, unprefixed),
a false create and delete against the live state. Real files and the real `kubectl kustomize`
(or kustomize); the repository is a tmp git repository."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from planner.cli import main
from planner.objects import Manifest
from planner.sources import load_desired
from planner.sources.live import load_live_git
from tests.sources.conftest import git, kustomize_available, write
from tests.sources.test_flux_overlay import (
    COMMON_METADATA,
    LIVE,
    PATCH_TO_LOCAL,
    dns_app,
    dns_service,
    ks_yaml,
)

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")

KS = "Flux Kustomization flux-system/dns (apps/dns/ks.yaml)"


def policies(services: Mapping[str, Manifest]) -> set[str]:
    return {s["spec"]["externalTrafficPolicy"] for s in services.values()}


def test_the_app_directory_is_read_as_its_kustomization_builds_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files name no namespace and say Cluster (as live); ks.yaml places them in `dns` and
    patches them to Local: the seed's key change, found naming the app directory itself."""
    dns_app(repo, PATCH_TO_LOCAL)
    state = load_desired(["apps/dns/app"])
    assert sorted(state.services) == ["dns/dns-tcp", "dns/dns-udp"]  # before: default/...
    assert policies(state.services) == {"Local"}  # before: Cluster (no key change found)
    assert state.notes == [f"apps/dns/app: read as {KS} builds it (targetNamespace, patches)"]
    # what following it from ks.yaml reads, the Kustomization aside
    followed = load_desired(["apps/dns/ks.yaml"])
    assert state.services == followed.services
    assert main(["diff", "apps/dns/app", "--live", str(LIVE), "--output", "json"]) == 1
    report = yaml.safe_load(capsys.readouterr().out)
    assert {(c["namespace"], c["name"], c["op"]) for c in report["changes"]} == {
        ("dns", "dns-tcp", "update"),
        ("dns", "dns-udp", "update"),
    }
    assert main(["diff", "apps/dns/app", "--live", str(LIVE), "--target", "metallb-0.14"]) == 3


def test_its_kustomization_file_named_stands_for_the_directory(repo: Path) -> None:
    dns_app(repo, PATCH_TO_LOCAL)
    named = load_desired(["apps/dns/app/kustomization.yaml"])
    assert named.services == load_desired(["apps/dns/app"]).services
    assert named.notes == [f"apps/dns/app: read as {KS} builds it (targetNamespace, patches)"]


def test_without_fields_kustomize_applies_the_files_are_read_one_by_one(repo: Path) -> None:
    """targetNamespace and commonMetadata alone need no build: origins stay the files'."""
    dns_app(repo, COMMON_METADATA, kustomization=False)
    for name in ("tcp", "udp"):  # the files' own label, which commonMetadata overrides
        text = dns_service(f"dns-{name}", name.upper()).replace(
            "name: coredns\n  annot", "name: x\n  annot"
        )
        write(repo / f"apps/dns/app/{name}.yaml", text)
    state = load_desired(["apps/dns/app"])
    services = [o for o in state.objects if o.key.kind == "Service"]
    assert [(o.key.namespace, o.origin.file) for o in services if o.origin] == [
        ("dns", "apps/dns/app/tcp.yaml"),
        ("dns", "apps/dns/app/udp.yaml"),
    ]
    assert {o.body["metadata"]["labels"]["app.kubernetes.io/name"] for o in services} == {"coredns"}
    assert main(["diff", "apps/dns/app", "--live", str(LIVE)]) == 0  # no false change


def test_a_file_in_it_is_read_from_the_build_of_the_whole(repo: Path) -> None:
    """A namePrefix or a patch cannot be applied to one file: kustomize builds the directory,
    and the objects that come from the named file are read (the build's origin annotation)."""
    dns_app(repo, "  namePrefix: home-\n" + PATCH_TO_LOCAL)
    state = load_desired(["apps/dns/app/tcp.yaml"])
    assert sorted(state.services) == ["dns/home-dns-tcp"]
    assert policies(state.services) == {"Local"}
    annotations = state.services["dns/home-dns-tcp"]["metadata"]["annotations"]
    assert "config.kubernetes.io/origin" not in annotations  # the planner's, not the repo's
    assert state.notes == [
        (
            f"apps/dns/app/tcp.yaml: read as part of `apps/dns/app`, as {KS} builds it "
            "(targetNamespace, namePrefix, patches)"
        )
    ]


def test_a_directory_below_the_path_is_read_from_the_build_of_the_whole(repo: Path) -> None:
    """The Kustomization builds `apps/dns` (no kustomization file: Flux lists every manifest);
    `apps/dns/tcp` is named: its objects as that build makes them."""
    write(repo / "clusters/home/dns.yaml", ks_yaml("  namePrefix: home-\n", path="./apps/dns"))
    write(repo / "apps/dns/tcp/service.yaml", dns_service("dns-tcp", "TCP"))
    write(repo / "apps/dns/udp/service.yaml", dns_service("dns-udp", "UDP"))
    assert sorted(load_desired(["apps/dns/tcp"]).services) == ["dns/home-dns-tcp"]
    assert sorted(load_desired(["apps/dns"]).services) == ["dns/home-dns-tcp", "dns/home-dns-udp"]


def test_the_folder_of_ks_yaml_and_app_reads_app_as_built(repo: Path) -> None:
    """`apps/dns` holds ks.yaml and app/: app/ is rendered on its own by the walk, and is read as
    ks.yaml builds it (before: as written, and following it was skipped as already read)."""
    dns_app(repo, PATCH_TO_LOCAL)
    folder = load_desired(["apps/dns"])
    assert folder.services == load_desired(["apps/dns/app"]).services
    assert policies(folder.services) == {"Local"}


def test_several_kustomizations_of_one_path_are_read_as_the_first(repo: Path) -> None:
    dns_app(repo, "")
    other = ks_yaml().replace("  name: dns\n", "  name: other\n")
    write(repo / "apps/dns/other.yaml", other.replace("targetNamespace: dns", "targetNamespace: x"))
    state = load_desired(["apps/dns/app"])
    assert sorted(state.services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert state.notes == [
        f"apps/dns/app: read as {KS} builds it (targetNamespace)",
        (
            "apps/dns/app: `apps/dns/app` is built by several Flux Kustomizations with different "
            f"fields; read as the first, {KS}, builds it, not as Flux Kustomization "
            "flux-system/other (apps/dns/other.yaml)"
        ),
    ]


def test_a_suspended_kustomization_leaves_the_directory_as_written(repo: Path) -> None:
    dns_app(repo, "  suspend: true\n")
    state = load_desired(["apps/dns/app"])
    assert sorted(state.services) == ["default/dns-tcp", "default/dns-udp"]
    assert state.notes == [f"apps/dns/app: {KS} is suspended: its fields were not applied"]


def test_a_field_the_planner_does_not_apply_leaves_it_unchecked(repo: Path) -> None:
    """As when following it: not read, counted as unchecked in the verdict."""
    dns_app(repo, "  patchesStrategicMerge: [{kind: Service}]\n")
    state = load_desired(["apps/dns/app"])
    assert state.services == {}
    [unbuilt] = state.unrendered
    assert str(unbuilt).startswith("apps/dns/ks.yaml: document 1, line 1: Flux Kustomization")
    assert "not built (sets spec.patchesStrategicMerge" in str(unbuilt)


def test_the_live_side_at_a_git_ref_is_read_the_same_way(repo: Path) -> None:
    dns_app(repo, PATCH_TO_LOCAL)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dns")
    live = load_live_git("HEAD", ["apps/dns/app"])
    assert sorted(live.services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert policies(live.services) == {"Local"}
    assert f"HEAD:apps/dns/app: read as {KS.replace('(', '(HEAD:')} builds it" in live.notes[0]


def test_a_parent_patching_only_its_children_changes_nothing_of_a_part(repo: Path) -> None:
    """The home-ops parent (`cluster-apps`, path ./apps) patches every child Kustomization's
    postBuild: that is evaluated where it matters (flux_patches); a directory below its path
    is read file by file as before, with no note."""
    parent = ks_yaml(path="./apps").replace("  name: dns\n", "  name: cluster-apps\n")
    children_only = (
        "  patches:\n    - patch: |\n        - {op: add, path: /spec/wait, value: true}\n"
        "      target: {group: kustomize.toolkit.fluxcd.io, kind: Kustomization}\n"
    )
    write(
        repo / "clusters/home/apps.yaml",
        parent.replace("  targetNamespace: dns\n", "") + children_only,
    )
    write(repo / "apps/web/service.yaml", dns_service("web", "TCP"))
    state = load_desired(["apps/web"])
    assert sorted(state.services) == ["default/web"]
    assert [o.origin.file for o in state.objects if o.origin] == ["apps/web/service.yaml"]
    assert state.notes == []


def test_without_a_flux_kustomization_a_directory_is_read_as_before(repo: Path) -> None:
    write(repo / "apps/dns/app/tcp.yaml", dns_service("dns-tcp", "TCP"))
    state = load_desired(["apps/dns/app"])
    assert sorted(state.services) == ["default/dns-tcp"]
    assert state.notes == []
