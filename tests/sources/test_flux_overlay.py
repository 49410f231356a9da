"""A followed Flux Kustomization's own spec fields (patches, components, namePrefix/nameSuffix,
images, commonMetadata) are applied to what it builds, as kustomize-controller applies them.

Before, they were ignored: a Service patched by its Kustomization was checked as written, a
namePrefix gave false create and delete pairs, commonMetadata labels false label changes. Real
files and the real `kubectl kustomize` (or kustomize); the repository is a tmp git repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.cli import main
from planner.errors import InputError, Origin
from planner.sources import load_desired
from planner.sources.documents import Document
from planner.sources.flux_overlay import build_fields, with_common_metadata
from tests.conftest import SAMPLES
from tests.sources.conftest import kustomize_available, write

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")

LIVE = SAMPLES / "seed-dns-local" / "live.yaml"  # dns-tcp + dns-udp sharing, Cluster, pool lan
PATCH_TO_LOCAL = """\
  patches:
    - patch: |
        apiVersion: v1
        kind: Service
        metadata:
          name: not-used
        spec:
          externalTrafficPolicy: Local
      target:
        kind: Service
        labelSelector: app.kubernetes.io/name=coredns
"""


def dns_service(name: str, protocol: str) -> str:
    """One of the seed's shared pair as the repository writes it: Cluster, no namespace."""
    return f"""\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: coredns
  annotations:
    metallb.io/allow-shared-ip: dns-192.168.10.53
    metallb.io/loadBalancerIPs: 192.168.10.53
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  selector:
    app.kubernetes.io/name: coredns
  ports:
    - name: dns-{protocol.lower()}
      port: 53
      protocol: {protocol}
      targetPort: 53
"""


def ks_yaml(extra: str = "", path: str = "./apps/dns/app") -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata:\n  name: dns\n  namespace: flux-system\n"
        f"spec:\n  path: {path}\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n"
        "  targetNamespace: dns\n" + extra
    )


def dns_app(repo: Path, extra: str, prefix: str = "", kustomization: bool = True) -> None:
    """apps/dns/ks.yaml with `extra` spec lines, and the app directory it builds."""
    write(repo / "apps/dns/ks.yaml", ks_yaml(extra))
    write(repo / "apps/dns/app/tcp.yaml", dns_service(f"{prefix}dns-tcp", "TCP"))
    write(repo / "apps/dns/app/udp.yaml", dns_service(f"{prefix}dns-udp", "UDP"))
    if kustomization:
        write(repo / "apps/dns/app/kustomization.yaml", "resources: [tcp.yaml, udp.yaml]\n")


def test_a_patch_flipping_the_traffic_policy_of_a_shared_pair_is_found(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files say Cluster (as live); the Kustomization's patch says Local: the seed's key
    change. Before, the pair was checked unpatched: `passes: no changes`, exit 0."""
    dns_app(repo, PATCH_TO_LOCAL)
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE), "--output", "json"]) == 1
    report = yaml.safe_load(capsys.readouterr().out)
    changed = {c["name"] for c in report["changes"] if c["op"] == "update"}
    assert changed == {"dns-tcp", "dns-udp"}
    assert report["summary"]["groups_key_changing"] == 1
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE), "--target", "metallb-0.14"]) == 3


def test_a_patch_is_built_before_substitution(repo: Path) -> None:
    """Flux builds (patches included), then substitutes: a `${VAR}` in a patch takes the
    Kustomization's own postBuild value."""
    patch = PATCH_TO_LOCAL.replace("Local", "${POLICY}")
    dns_app(repo, patch + "  postBuild:\n    substitute: {POLICY: Local}\n")
    services = load_desired(["apps/dns/ks.yaml"]).services
    assert {s["spec"]["externalTrafficPolicy"] for s in services.values()} == {"Local"}


def test_a_name_prefix_matches_the_live_names(repo: Path) -> None:
    """The files name `dns-tcp`; the Kustomization's namePrefix makes it the live `home-dns-tcp`
    (here: files `tcp`, prefix `dns-`). Before: create `dns/tcp` and delete `dns/dns-tcp`."""
    write(repo / "apps/dns/ks.yaml", ks_yaml("  namePrefix: dns-\n"))
    write(repo / "apps/dns/app/tcp.yaml", dns_service("tcp", "TCP"))
    write(repo / "apps/dns/app/udp.yaml", dns_service("udp", "UDP"))
    assert sorted(load_desired(["apps/dns/ks.yaml"]).services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE)]) == 0


def test_common_metadata_labels_give_no_false_change(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live pair carries `app.kubernetes.io/name: coredns`, which the files leave to the
    Kustomization's commonMetadata (set after the build, over the objects' own labels)."""
    write(repo / "apps/dns/ks.yaml", ks_yaml(COMMON_METADATA))
    for name, protocol in (("dns-tcp", "TCP"), ("dns-udp", "UDP")):
        text = dns_service(name, protocol).replace("coredns\n  annotations", "other\n  annotations")
        write(repo / f"apps/dns/app/{name}.yaml", text)
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE)]) == 0
    assert "passes: no changes" in capsys.readouterr().out


COMMON_METADATA = "  commonMetadata:\n    labels:\n      app.kubernetes.io/name: coredns\n"


def test_common_metadata_alone_needs_no_kustomize_build(repo: Path) -> None:
    """A plain directory whose Kustomization sets only commonMetadata is read file by file, as
    before (origins stay the files'), with the labels set."""
    dns_app(repo, COMMON_METADATA, kustomization=False)
    state = load_desired(["apps/dns/ks.yaml"])
    services = [o for o in state.objects if o.key.kind == "Service"]
    assert [o.origin.file for o in services if o.origin] == [
        "apps/dns/app/tcp.yaml",
        "apps/dns/app/udp.yaml",
    ]


def test_components_are_applied_relative_to_the_path(repo: Path) -> None:
    """The onedr0p template: `components: [../../../components/common]` on ks.yaml, relative to
    the Kustomization's path; the component here patches the Services to Local."""
    component = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + (
        PATCH_TO_LOCAL.replace("  patches:", "patches:").replace("\n    ", "\n  ")
    )
    write(repo / "components/local/kustomization.yaml", component)
    dns_app(repo, "  components: [../../../components/local]\n", kustomization=False)
    services = load_desired(["apps/dns/ks.yaml"]).services
    assert sorted(services) == ["dns/dns-tcp", "dns/dns-udp"]
    assert {s["spec"]["externalTrafficPolicy"] for s in services.values()} == {"Local"}
    assert not list(repo.glob("apps/dns/app/kustomization*"))  # nothing written in the tree


@pytest.mark.parametrize(
    "component",
    ["github.com/org/repo//components/common?ref=v1", "https://example.com/components.tar.gz"],
)
def test_a_remote_component_leaves_the_build_unrendered(
    repo: Path, capsys: pytest.CaptureFixture[str], component: str
) -> None:
    """kustomize-controller fetches it; the planner never does: said and counted, not exit 2."""
    dns_app(repo, f"  components: ['{component}']\n")
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE), "--fail-on", "unrendered"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("blocks: 1 kustomization not rendered (Services unchecked)")
    assert f"(`spec.components`) names the remote `{component}`" in out


@pytest.mark.parametrize(
    ("component", "message"),
    [
        ("../../../../outside", "lies outside the repository"),
        ("/etc", "Flux takes only a relative path"),
    ],
)
def test_an_outside_component_is_refused_in_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str], component: str, message: str
) -> None:
    dns_app(repo, f"  components: ['{component}']\n")
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "Flux Kustomization flux-system/dns (`spec.components`)" in line and message in line


def test_a_missing_component_is_skipped_when_flux_ignores_it(repo: Path) -> None:
    dns_app(repo, "  components: [../gone]\n  ignoreMissingComponents: true\n")
    assert sorted(load_desired(["apps/dns/ks.yaml"]).services) == ["dns/dns-tcp", "dns/dns-udp"]


def test_a_failing_build_names_the_directory_not_the_temporary_copy(repo: Path) -> None:
    dns_app(repo, "  components: [../gone]\n")
    with pytest.raises(Exception, match="apps/dns/app") as caught:
        load_desired(["apps/dns/ks.yaml"])
    assert "shared-ip-planner-flux-" not in str(caught.value)


def test_a_field_the_planner_does_not_apply_leaves_the_services_unchecked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """v1beta2's patchesStrategicMerge: not read, and counted in the verdict, not a pass."""
    dns_app(repo, "  patchesStrategicMerge:\n    - {kind: Service, metadata: {name: dns-tcp}}\n")
    state = load_desired(["apps/dns/ks.yaml"])
    assert state.services == {}
    [unbuilt] = state.unrendered
    assert str(unbuilt) == (
        "apps/dns/ks.yaml: document 1, line 1: Flux Kustomization flux-system/dns not built "
        "(sets spec.patchesStrategicMerge, which the planner does not apply); its Services were "
        "not checked"
    )
    assert main(["diff", "apps/dns/ks.yaml", "--live", str(LIVE), "--fail-on", "unrendered"]) == 3
    verdict = capsys.readouterr().out.splitlines()[0]
    assert (
        verdict
        == "blocks: 1 Flux Kustomization not built (Services unchecked) (--fail-on unrendered)"
    )


def test_without_those_fields_the_directory_is_read_as_before(repo: Path) -> None:
    dns_app(repo, "")
    [source_kind] = {o.rendered_by for o in load_desired(["apps/dns/app"]).objects}
    state = load_desired(["apps/dns/ks.yaml"])
    assert {o.rendered_by for o in state.objects if o.key.kind == "Service"} == {source_kind}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"namePrefix": 5}, "`spec.namePrefix` must be a string, not int"),
        ({"patches": [{"target": {}}]}, "every entry of `spec.patches` must have a `patch`"),
        ({"components": "../c"}, "`spec.components` must be a list, not str"),
        ({"commonMetadata": {"labels": ["a"]}}, "`spec.commonMetadata.labels` must be a mapping"),
    ],
)
def test_a_field_of_the_wrong_shape_is_bad_input(spec: dict[str, object], message: str) -> None:
    body = {"metadata": {"name": "dns", "namespace": "flux-system"}, "spec": spec}
    with pytest.raises(InputError, match=message):
        build_fields(body, Origin("ks.yaml"), Path("."))


def test_common_metadata_overrides_the_objects_own_keys() -> None:
    body = {"spec": {"commonMetadata": {"labels": {"a": "x"}, "annotations": {"n": "1"}}}}
    fields, _ = build_fields(body, Origin("ks.yaml"), Path("."))
    metadata = {"name": "s", "labels": {"a": "y", "b": "z"}}
    document = Document({"kind": "Service", "metadata": metadata}, Origin("s.yaml"))
    [labelled] = with_common_metadata([document], fields)
    assert labelled.body["metadata"] == {
        "name": "s",
        "labels": {"a": "x", "b": "z"},
        "annotations": {"n": "1"},
    }


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dns
spec:
  selector: {matchLabels: {app: dns}}
  template:
    metadata: {labels: {app: dns}}
    spec:
      containers: [{name: dns, image: "coredns/coredns"}]
"""


def test_images_merge_with_the_files_own_by_name(repo: Path) -> None:
    """kustomize-controller merges an image of the same name into the file's entry: newName
    kept, newTag and digest set together (the file's digest cleared)."""
    write(
        repo / "apps/dns/ks.yaml", ks_yaml("  images: [{name: coredns/coredns, newTag: '1.12'}]\n")
    )
    write(repo / "apps/dns/app/deployment.yaml", DEPLOYMENT)
    own = "images: [{name: coredns/coredns, newName: mirror/coredns, digest: 'sha256:%s'}]\n"
    write(
        repo / "apps/dns/app/kustomization.yaml",
        "resources: [deployment.yaml]\n" + own % ("0" * 64),
    )
    [deployment] = [
        o for o in load_desired(["apps/dns/ks.yaml"]).objects if o.key.kind == "Deployment"
    ]
    [container] = deployment.body["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "mirror/coredns:1.12"


def test_an_entry_that_cannot_be_copied_is_one_line(repo: Path) -> None:
    """A named pipe in the app directory: the temporary copy cannot take it."""
    import os

    dns_app(repo, "  namePrefix: home-\n")
    os.mkfifo(repo / "apps/dns/app/pipe")
    with pytest.raises(InputError, match="`apps/dns/app` cannot be read to build it"):
        load_desired(["apps/dns/ks.yaml"])


def test_a_linked_kustomization_file_is_not_written_through(repo: Path) -> None:
    """The app's kustomization.yaml links to a shared one: the extended copy replaces the link
    in the temporary tree; the repository's file stays as it was."""
    dns_app(repo, "  namePrefix: home-\n", kustomization=False)
    shared = write(repo / "apps/shared/kustomization.yaml", "resources: [tcp.yaml, udp.yaml]\n")
    (repo / "apps/dns/app/kustomization.yaml").symlink_to("../../shared/kustomization.yaml")
    before = shared.read_text()
    load_desired(["apps/dns/ks.yaml"])
    assert shared.read_text() == before
