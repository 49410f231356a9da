"""An Argo CD Application whose source is a kustomization of this repository, with `kustomize`
settings: built as Argo CD's repo server builds it (its `kustomize edit` commands written into a
private copy of the kustomization, then the real `kubectl kustomize` on PATH), the repository
left as it is; what cannot be evaluated here is said and counted, never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from planner.cli import main
from planner.sources import load_desired
from planner.sources.states import DesiredState
from tests.conftest import SAMPLES
from tests.sources.conftest import git, kustomize_available, write

pytestmark = pytest.mark.skipif(
    not kustomize_available(), reason="neither kustomize nor kubectl is on PATH"
)

REPO_URL = "https://github.com/example/home-ops.git"
# Blocky's DNS on one address for TCP and UDP, `Local`: the selector is part of the sharing key.
SERVICES = """\
apiVersion: v1
kind: Service
metadata:
  name: dns-tcp
  annotations: {metallb.io/allow-shared-ip: blocky, metallb.io/loadBalancerIPs: 192.168.10.53}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app.kubernetes.io/name: blocky}
  ports: [{name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata:
  name: dns-udp
  annotations: {metallb.io/allow-shared-ip: blocky, metallb.io/loadBalancerIPs: 192.168.10.53}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app.kubernetes.io/name: blocky}
  ports: [{name: dns-udp, port: 53, protocol: UDP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: blocky}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: blocky}}
  template:
    metadata: {labels: {app.kubernetes.io/name: blocky}}
    spec: {containers: [{name: blocky, image: ghcr.io/0xerr0r/blocky:v0.24}]}
"""
KUSTOMIZATION = "resources: [services.yaml]\ncommonLabels: {app.kubernetes.io/part-of: dns}\n"


def application(kustomize: str, name: str = "blocky", path: str = "apps/blocky") -> str:
    """An Application syncing `path` with these `kustomize` settings (indented under it)."""
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        f"metadata: {{name: {name}, namespace: argocd}}\n"
        f"spec:\n  project: home\n  source:\n    repoURL: {REPO_URL}\n    path: {path}\n"
        "    targetRevision: HEAD\n"
        + (f"    kustomize:\n{kustomize}" if kustomize else "")
        + "  destination:\n    server: https://kubernetes.default.svc\n    namespace: network\n"
    )


@pytest.fixture
def app_repo(repo: Path) -> Path:
    """A committed repository with a remote and the blocky kustomization in apps/blocky."""
    git(repo, "remote", "add", "origin", REPO_URL)
    write(repo / "apps/blocky/services.yaml", SERVICES)
    write(repo / "apps/blocky/kustomization.yaml", KUSTOMIZATION)
    write(repo / "components/shared-ip/kustomization.yaml", COMPONENT)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "blocky")
    return repo


COMPONENT = """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- target: {kind: Service}
  patch: |
    - {op: replace, path: /metadata/annotations/metallb.io~1allow-shared-ip, value: dns}
"""


def synced(repo: Path, kustomize: str, *others: str) -> DesiredState:
    """The desired state of argo/ holding the blocky Application with these settings."""
    write(repo / "argo/blocky.yaml", application(kustomize))
    for number, other in enumerate(others):
        write(repo / f"argo/other-{number}.yaml", other)
    return load_desired(["argo"])


def body(state: DesiredState, kind: str, key: str) -> dict[str, Any]:
    """The object of `kind` at `namespace/name`."""
    [found] = [obj.body for obj in state.objects if obj.key.kind == kind and obj.key.svc_key == key]
    return dict(found)


def test_name_prefix_suffix_and_namespace_place_the_services_as_argo_cd_does(
    app_repo: Path,
) -> None:
    settings = "      namePrefix: lab-\n      nameSuffix: -v2\n      namespace: dns-lab\n"
    state = synced(app_repo, settings)
    assert state.unrendered == ()
    assert sorted(state.services) == ["dns-lab/lab-dns-tcp-v2", "dns-lab/lab-dns-udp-v2"]
    # the repository is left as it is: the edits went into a private copy
    assert git(app_repo, "status", "--porcelain", "apps", "components") == ""


def test_without_settings_the_destination_namespace_places_them(app_repo: Path) -> None:
    assert sorted(synced(app_repo, "").services) == ["network/dns-tcp", "network/dns-udp"]


def test_common_labels_join_the_selector_with_the_build_variables_expanded(
    app_repo: Path,
) -> None:
    state = synced(app_repo, "      commonLabels: {app.kubernetes.io/instance: $ARGOCD_APP_NAME}\n")
    selector = state.services["network/dns-tcp"]["spec"]["selector"]
    assert selector == {
        "app.kubernetes.io/name": "blocky",
        "app.kubernetes.io/part-of": "dns",
        "app.kubernetes.io/instance": "blocky",
    }


def test_a_common_label_the_file_has_needs_force_common_labels(app_repo: Path) -> None:
    labels = "      commonLabels: {app.kubernetes.io/part-of: home}\n"
    [entry] = [str(e) for e in synced(app_repo, labels).unrendered]
    assert "its common label `app.kubernetes.io/part-of` is already in the kustomization" in entry
    state = synced(app_repo, labels + "      forceCommonLabels: true\n")
    assert state.services["network/dns-tcp"]["spec"]["selector"]["app.kubernetes.io/part-of"] == (
        "home"
    )


def test_label_without_selector_labels_objects_not_selectors(app_repo: Path) -> None:
    labels = "      commonLabels: {team: dns}\n      labelWithoutSelector: true\n"
    state = synced(app_repo, labels)
    service = state.services["network/dns-tcp"]
    assert service["metadata"]["labels"]["team"] == "dns"
    assert "team" not in service["spec"]["selector"]
    template = body(state, "Deployment", "network/blocky")["spec"]["template"]["metadata"]
    assert "team" not in template["labels"]
    state = synced(app_repo, labels + "      labelIncludeTemplates: true\n")
    template = body(state, "Deployment", "network/blocky")["spec"]["template"]["metadata"]
    assert template["labels"]["team"] == "dns"


def test_common_annotations_expand_only_when_asked(app_repo: Path) -> None:
    annotations = "      commonAnnotations: {owner: $ARGOCD_APP_PROJECT_NAME}\n"
    state = synced(app_repo, annotations)
    assert state.services["network/dns-tcp"]["metadata"]["annotations"]["owner"] == (
        "$ARGOCD_APP_PROJECT_NAME"
    )
    state = synced(app_repo, annotations + "      commonAnnotationsEnvsubst: true\n")
    assert state.services["network/dns-tcp"]["metadata"]["annotations"]["owner"] == "home"


def test_a_common_annotation_can_change_the_sharing_key(app_repo: Path) -> None:
    shared = "      commonAnnotations: {metallb.io/allow-shared-ip: dns}\n"
    state = synced(app_repo, shared)
    for name in ("dns-tcp", "dns-udp"):
        annotations = state.services[f"network/{name}"]["metadata"]["annotations"]
        assert annotations["metallb.io/allow-shared-ip"] == "dns"


def built_image(repo: Path, own: str, images: str) -> str:
    """blocky's image, built with `own` added to the kustomization and `images` set."""
    write(repo / "apps/blocky/kustomization.yaml", KUSTOMIZATION + own)
    deployment = body(synced(repo, f"      images: ['{images}']\n"), "Deployment", "network/blocky")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def test_images_are_set_as_kustomize_edit_set_image_sets_them(app_repo: Path) -> None:
    own = "images: [{name: ghcr.io/0xerr0r/blocky, newTag: v0.23}]\n"
    renamed = "ghcr.io/0xerr0r/blocky=mirror.lan/blocky:$ARGOCD_APP_NAME"
    assert built_image(app_repo, own, renamed) == "mirror.lan/blocky:blocky"
    kept = "ghcr.io/0xerr0r/blocky=mirror.lan/blocky:*"  # `*` keeps the file's tag
    assert built_image(app_repo, own, kept) == "mirror.lan/blocky:v0.23"


def test_an_image_of_the_deprecated_image_tags_is_replaced_too(app_repo: Path) -> None:
    own = "imageTags: [{name: ghcr.io/0xerr0r/blocky, newTag: v0.23}]\n"
    tagged = "ghcr.io/0xerr0r/blocky:v0.25"
    assert built_image(app_repo, own, tagged) == tagged  # not re-tagged by the file


def test_replicas_are_set(app_repo: Path) -> None:
    state = synced(app_repo, "      replicas: [{name: blocky, count: '3'}]\n")
    assert body(state, "Deployment", "network/blocky")["spec"]["replicas"] == 3


def test_patches_are_appended_to_the_files_own(app_repo: Path) -> None:
    patch = (
        "      patches:\n      - target: {kind: Service, name: dns-udp}\n"
        "        patch: |\n"
        "          - {op: replace, path: /spec/externalTrafficPolicy, value: Cluster}\n"
    )
    state = synced(app_repo, patch)
    assert state.services["network/dns-udp"]["spec"]["externalTrafficPolicy"] == "Cluster"
    assert state.services["network/dns-tcp"]["spec"]["externalTrafficPolicy"] == "Local"


def test_components_are_added_relative_to_the_source(app_repo: Path) -> None:
    state = synced(app_repo, "      components: [../../components/shared-ip]\n")
    annotations = state.services["network/dns-tcp"]["metadata"]["annotations"]
    assert annotations["metallb.io/allow-shared-ip"] == "dns"


def test_a_missing_component_is_skipped_only_when_argo_cd_skips_it(app_repo: Path) -> None:
    components = "      components: [../../components/gone, ../../components/shared-ip]\n"
    [entry] = [str(e) for e in synced(app_repo, components).unrendered]
    assert "its component `../../components/gone` does not exist" in entry
    state = synced(app_repo, components + "      ignoreMissingComponents: true\n")
    annotations = state.services["network/dns-tcp"]["metadata"]["annotations"]
    assert annotations["metallb.io/allow-shared-ip"] == "dns"


def test_kube_version_and_api_versions_reach_only_helm_charts_and_change_nothing(
    app_repo: Path,
) -> None:
    versions = "      kubeVersion: '1.31'\n      apiVersions: [monitoring.coreos.com/v1]\n"
    state = synced(app_repo, versions)
    assert state.unrendered == ()
    assert state.services == synced(app_repo, "").services


def test_settings_argo_cd_normalises_away_leave_the_source_as_detected(app_repo: Path) -> None:
    # only flags: `kustomize` is zero, Argo CD drops it and reads the plain directory as usual
    write(app_repo / "apps/plain/services.yaml", SERVICES)
    flags = "      forceCommonLabels: true\n      labelWithoutSelector: true\n"
    write(app_repo / "argo/blocky.yaml", application(flags, path="apps/plain"))
    state = load_desired(["argo"])
    assert state.unrendered == ()
    assert sorted(state.services) == ["network/dns-tcp", "network/dns-udp"]


def test_a_kustomize_source_among_spec_sources_is_built_with_its_settings(app_repo: Path) -> None:
    listed = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata: {name: blocky, namespace: argocd}\n"
        "spec:\n  project: home\n  sources:\n"
        f"  - {{repoURL: {REPO_URL}, targetRevision: HEAD, ref: values}}\n"
        f"  - repoURL: {REPO_URL}\n    path: apps/blocky\n"
        "    kustomize: {namePrefix: prod-}\n"
        "  destination: {server: https://kubernetes.default.svc, namespace: network}\n"
    )
    write(app_repo / "argo/blocky.yaml", listed)
    state = load_desired(["argo"])
    assert state.unrendered == ()
    assert sorted(state.services) == ["network/prod-dns-tcp", "network/prod-dns-udp"]


def test_one_directory_synced_by_two_applications_is_built_for_each(app_repo: Path) -> None:
    lab = application("      namePrefix: lab-\n      namespace: dns-lab\n", name="blocky-lab")
    state = synced(app_repo, "      namespace: dns\n", lab)
    assert sorted(state.services) == [
        "dns-lab/lab-dns-tcp",
        "dns-lab/lab-dns-udp",
        "dns/dns-tcp",
        "dns/dns-udp",
    ]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ("      version: v5.4.3\n", "`kustomize.version` (v5.4.3) selects a kustomize binary"),
        ("      images: [ghcr.io/0xerr0r/blocky]\n", "gives no new name, tag or digest"),
        (
            "      images: ['blocky:$ARGOCD_APP_REVISION_SHORT']\n",
            "names $ARGOCD_APP_REVISION_SHORT, the revision Argo CD syncs",
        ),
        ("      replicas: [{name: blocky, count: many}]\n", "count `many` for `blocky`"),
        (
            "      commonLabels: {team: dns}\n      labelIncludeTemplates: true\n",
            "`kustomize.labelIncludeTemplates` needs `labelWithoutSelector`",
        ),
        (
            "      components: [https://github.com/example/c//shared?ref=v1]\n",
            "is remote and not fetched",
        ),
        ("      components: ['../../components/*']\n", "is a glob, not evaluated"),
        ("      components: [../../../outside]\n", "lies outside the repository"),
        ("      namePrefix: 7\n", "`kustomize.namePrefix` is not a string"),
    ],
)
def test_what_cannot_be_evaluated_is_said_and_counted(
    app_repo: Path, settings: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    [entry] = [str(e) for e in synced(app_repo, settings).unrendered]
    assert "Application argocd/blocky not followed" in entry and reason in entry
    live = str(SAMPLES / "seed-dns-local" / "live.yaml")
    assert main(["diff", "argo", "--live", live, "--fail-on", "unrendered"]) == 3
    assert "1 Application not followed (Services unchecked)" in capsys.readouterr().out


def test_a_component_naming_a_remote_resource_is_not_followed(app_repo: Path) -> None:
    """A local component whose own kustomization fetches: not followed, said, not exit 2."""
    remote = "https://example.invalid/crds.yaml"
    write(
        app_repo / "components/crds/kustomization.yaml",
        f"apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [{remote}]\n",
    )
    [entry] = [
        str(e) for e in synced(app_repo, "      components: [../../components/crds]\n").unrendered
    ]
    assert "Application argocd/blocky not followed" in entry
    assert f"components/crds/kustomization.yaml (`resources`) names the remote `{remote}`" in entry


def test_settings_on_a_directory_without_a_kustomization_are_not_followed(
    app_repo: Path,
) -> None:
    write(app_repo / "apps/plain/services.yaml", SERVICES)
    write(app_repo / "argo/blocky.yaml", application("      namePrefix: x-\n", path="apps/plain"))
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "`kustomize` settings, but `apps/plain` holds no kustomization" in entry


def test_helm_and_kustomize_settings_together_are_not_followed(app_repo: Path) -> None:
    both = application("      namePrefix: x-\n").replace(
        "    kustomize:", "    helm: {releaseName: x}\n    kustomize:"
    )
    write(app_repo / "argo/blocky.yaml", both)
    [entry] = [str(e) for e in load_desired(["argo"]).unrendered]
    assert "both `helm` and `kustomize` settings" in entry


def test_the_sample_s_verdict_differs_from_reading_the_directory_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """samples/real-argocd-kustomize-settings: the commit adds a common label to an
    Application; as Argo CD builds it, the group on 192.168.10.53 changes its sharing key."""
    from tests.test_real_samples import build_history

    top = build_history(SAMPLES / "real-argocd-kustomize-settings", tmp_path / "cluster")
    monkeypatch.chdir(top)
    assert main(["diff", "argocd", "--live-git", "HEAD~1", "--fail-on", "pending"]) == 3
    out = capsys.readouterr().out
    assert "members  dns/blocky-dns-tcp, dns/blocky-dns-udp" in out
    assert "dns/blocky-dns-tcp changes selector" in out
    as_written = ["diff", "kubernetes/apps/dns/blocky", "--live-git", "HEAD~1"]
    assert main([*as_written, "--fail-on", "pending"]) == 0
    assert capsys.readouterr().out.startswith("passes: no changes\n")
    as_written_services = load_desired(["kubernetes/apps/dns/blocky"]).services
    assert sorted(as_written_services) == ["default/dns-tcp", "default/dns-udp"]


def test_a_build_the_settings_break_is_one_line_naming_the_application(
    app_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(app_repo / "argo/blocky.yaml", application("      replicas: [{name: gone, count: 2}]\n"))
    assert main(["diff", "argo", "--live", str(SAMPLES / "seed-dns-local" / "live.yaml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert "kustomize apps/blocky (as the kustomize settings of Application argocd/blocky " in line
    assert "shared-ip-planner-kustomize-" not in line  # no temporary path
