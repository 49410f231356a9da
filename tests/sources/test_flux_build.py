"""Flux post-build substitution while desired state is read: the Flux Kustomization whose
`spec.path` encloses a file substitutes it (`substitute`, `substituteFrom` ConfigMaps/Secrets of
the repository); a Service or pool reading a variable the planner cannot resolve is set aside
(not checked, said and counted), and one whose name reads one is bad input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import InputError
from planner.sources import load_desired
from planner.sources.desired import find_sources, load_sources
from tests.sources.conftest import git, service_yaml, write

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: dns
  namespace: dns
  annotations:
    metallb.io/allow-shared-ip: ${KEY:=dns}
spec:
  type: LoadBalancer
  loadBalancerIP: ${DNS_IP}
  ports:
    - port: ${PORT}
      protocol: UDP
"""
REFS = "[{kind: ConfigMap, name: cluster-settings}]"
EMPTY_LIVE = "apiVersion: v1\nkind: List\nitems: []\n"


def kustomization(path: str, substitute: str = "", substitute_from: str = "") -> str:
    text = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata:\n  name: apps\n  namespace: flux-system\nspec:\n  path: {path}\n"
        "  sourceRef: {kind: GitRepository, name: flux-system}\n  postBuild:\n"
    )
    if substitute:
        text += f"    substitute: {substitute}\n"
    if substitute_from:
        text += f"    substituteFrom: {substitute_from}\n"
    return text


def config_map(name: str, data: str, kind: str = "ConfigMap", field: str = "data") -> str:
    return (
        f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: flux-system\n"
        f"{field}: {data}\n"
    )


def test_the_enclosing_kustomizations_variables_are_substituted_and_typed(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    secret = base64.b64encode(b"192.168.10.53").decode()
    write(
        repo / "clusters/home/apps.yaml",
        kustomization(
            "./apps/dns",
            substitute="{PORT: '53'}",
            substitute_from="[{kind: ConfigMap, name: settings}, {kind: Secret, name: ips}]",
        ),
    )
    write(repo / "clusters/home/settings.yaml", config_map("settings", "{DNS_IP: 10.0.0.1}"))
    write(repo / "clusters/home/ips.yaml", config_map("ips", f"{{DNS_IP: {secret}}}", "Secret"))
    state = load_desired(["apps/dns"])
    service = state.services["dns/dns"]
    assert service["spec"]["loadBalancerIP"] == "192.168.10.53"  # the later source wins
    assert service["spec"]["ports"][0]["port"] == 53  # typed as Flux's YAML round trip types it
    assert service["metadata"]["annotations"]["metallb.io/allow-shared-ip"] == "dns"


def test_inline_substitute_overrides_substitute_from(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(
        repo / "apps/ks.yaml",
        kustomization(
            "apps/dns",
            substitute="{DNS_IP: 10.0.0.9, PORT: '53'}",
            substitute_from="[{kind: ConfigMap, name: settings}]",
        ),
    )
    write(repo / "apps/settings.yaml", config_map("settings", "{DNS_IP: 10.0.0.1}"))
    assert load_desired(["apps/dns"]).services["dns/dns"]["spec"]["loadBalancerIP"] == "10.0.0.9"


def test_files_no_flux_kustomization_builds_are_left_alone(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE.replace("${PORT}", "53").replace("${DNS_IP}", ""))
    write(repo / "clusters/ks.yaml", kustomization("./apps/other", substitute="{KEY: x}"))
    metadata = load_desired(["apps/dns"]).services["dns/dns"]["metadata"]
    assert metadata["annotations"]["metallb.io/allow-shared-ip"] == "${KEY:=dns}"


def test_the_disabled_annotation_and_the_escape_keep_the_text(repo: Path) -> None:
    script = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\n  namespace: dns\n"
        "data:\n  a: $${HOME} ${NAME}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\n  namespace: dns\n"
        "  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}\n"
        "data:\n  a: ${NAME}\n"
    )
    write(repo / "apps/dns/cm.yaml", script)
    write(repo / "ks.yaml", kustomization("./apps", substitute="{NAME: dns}"))
    objects = {o.key.name: o.body for o in load_desired(["apps/dns"]).objects}
    assert objects["script"]["data"]["a"] == "${HOME} dns"
    assert objects["raw"]["data"]["a"] == "${NAME}"


def test_a_service_reading_an_unknown_variable_is_set_aside_said_and_counted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """edgard/home-ops: `loadBalancerIPs: ${SECRET_LAN_PREFIX}.11`, the prefix in a SOPS Secret.
    Flux applies it; the planner cannot know the IP, so that Service is not checked (said,
    counted, `--fail-on unrendered` blocks) and the rest is: no longer exit 2 for all."""
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(repo / "apps/dns/web.yaml", service_yaml("web", "dns", "10.0.0.2"))
    # cluster-secrets lives only in the cluster (or is SOPS-encrypted): DNS_IP is unknown
    write(
        repo / "ks.yaml",
        kustomization(
            "./apps/dns",
            substitute="{PORT: '53', KEY: dns}",
            substitute_from="[{kind: Secret, name: cluster-secrets, optional: true}]",
        ),
    )
    state = load_desired(["apps/dns"])
    assert sorted(state.services) == ["dns/web"]
    [entry] = state.unrendered
    assert str(entry).startswith(
        "apps/dns/service.yaml: document 1, line 10: Service dns/dns not checked (`${DNS_IP}` in "
        "`spec` cannot be resolved: a substituteFrom source of Flux Kustomization flux-system/apps"
    )
    live = write(repo / "live.yaml", EMPTY_LIVE)
    assert main(["diff", "apps/dns", "--live", str(live)]) == 1  # web is created
    out = capsys.readouterr().out
    assert "1 Service not checked (Services unchecked)" in out.splitlines()[0]
    assert main(["diff", "apps/dns", "--live", str(live), "--fail-on", "unrendered"]) == 3


def test_an_unknown_variable_in_an_annotation_nobody_here_reads_leaves_it_checked(
    repo: Path,
) -> None:
    """tscibilia/home-ops: `external-dns.alpha.kubernetes.io/hostname: pg.${SECRET_DOMAIN}`.
    Neither MetalLB nor the planner reads it: the Service is checked, the annotation as written."""
    hostname = (
        "  annotations:\n    external-dns.alpha.kubernetes.io/hostname: pg.${SECRET_DOMAIN}\n"
    )
    service = service_yaml("pg", "db", "10.0.0.5").replace("  annotations:\n", hostname)
    write(repo / "apps/db/service.yaml", service)
    write(repo / "ks.yaml", kustomization("./apps", substitute_from="[{kind: Secret, name: s}]"))
    state = load_desired(["apps/db"])
    assert state.unrendered == ()
    annotations = state.services["db/pg"]["metadata"]["annotations"]
    assert annotations["external-dns.alpha.kubernetes.io/hostname"] == "pg.${SECRET_DOMAIN}"
    assert annotations["metallb.universe.tf/loadBalancerIPs"] == "10.0.0.5"


def test_each_cluster_of_a_repository_substitutes_from_its_own_settings(repo: Path) -> None:
    """tyriis/home-ops: kubernetes/kube-nas and kubernetes/talos-flux each hold a
    flux-system/cluster-settings; talos-flux's pool took kube-nas's (the first found), which
    lacks its range: a false error at best, another cluster's value at worst."""
    for cluster, address in (("a", "10.0.0.1"), ("b", "10.0.1.1")):
        flux = repo / f"clusters/{cluster}/flux"
        root = kustomization(f"./clusters/{cluster}/flux").replace("name: apps", "name: flux")
        write(flux / "flux.yaml", root.split("  postBuild:")[0])
        write(flux / "apps.yaml", kustomization(f"./clusters/{cluster}/apps", substitute_from=REFS))
        write(flux / "settings.yaml", config_map("cluster-settings", f"{{LB_ADDR: {address}}}"))
    write(repo / "clusters/b/apps/dns/service.yaml", service_yaml("dns", "dns", "${LB_ADDR}"))
    state = load_desired(["clusters/b/apps/dns"])
    annotations = state.services["dns/dns"]["metadata"]["annotations"]
    assert annotations["metallb.universe.tf/loadBalancerIPs"] == "10.0.1.1"


def test_a_kustomization_of_another_repository_substitutes_nothing_here(repo: Path) -> None:
    """tyriis/home-ops (2022): `crds-*` Kustomizations without `spec.path` build `./` of
    upstream repositories; their root encloses every path of this one, and their variables
    were taken for this repository's (a Service got another repository's address)."""
    git(repo, "remote", "add", "origin", "https://github.com/example/home-ops.git")
    upstream = (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        "metadata: {name: upstream, namespace: flux-system}\n"
        "spec: {url: 'https://github.com/other/crds.git'}\n---\n"
    )
    foreign = kustomization("./", substitute="{LB_ADDR: 10.9.9.9}").replace(
        "{kind: GitRepository, name: flux-system}", "{kind: GitRepository, name: upstream}"
    )
    write(repo / "clusters/home/crds.yaml", upstream + foreign)
    write(repo / "apps/dns/service.yaml", service_yaml("dns", "dns", "${LB_ADDR}"))
    # nothing of this repository substitutes apps/dns: applied as written, `${LB_ADDR}` is no IP
    with pytest.raises(InputError, match=r"'\$\{LB_ADDR\}' is not a valid IP address"):
        load_desired(["apps/dns"])


def test_a_set_aside_service_is_not_deleted_from_the_cluster(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(repo / "apps/dns/web.yaml", service_yaml("web", "dns", "10.0.0.2"))
    refs = "[{kind: Secret, name: cluster-secrets}]"
    write(
        repo / "ks.yaml",
        kustomization("./apps/dns", substitute="{PORT: '53'}", substitute_from=refs),
    )
    # the cluster runs both, applied by the same Flux Kustomization (prune: tracked)
    flux = "labels: {kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}"
    live = "---\n".join(
        service_yaml(name, "dns", ip).replace("metadata:\n", f"metadata:\n  {flux}\n")
        for name, ip in (("dns", "10.0.0.1"), ("web", "10.0.0.2"))
    )
    assert main(["diff", "apps/dns", "--live", str(write(repo / "live.yaml", live))]) == 0
    out = capsys.readouterr().out
    assert "0 delete" in out and "delete Service dns/dns" not in out


def test_a_pool_reading_an_unknown_variable_is_not_read(repo: Path) -> None:
    pool = (
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata:\n  name: lan\n  namespace: metallb-system\n"
        "spec:\n  addresses:\n    - ${METALLB_RANGE}\n"
    )
    write(repo / "apps/metallb/pool.yaml", pool)
    write(repo / "ks.yaml", kustomization("./apps", substitute_from="[{kind: Secret, name: s}]"))
    state = load_desired(["apps/metallb"])
    assert state.objects == []
    [entry] = state.unrendered
    assert (entry.release, entry.missed) == ("IPAddressPool metallb-system/lan", "not read")


def test_an_unknown_variable_in_a_service_name_is_one_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE.replace("name: dns\n", "name: ${NAME}\n", 1))
    write(
        repo / "ks.yaml", kustomization("./apps/dns", substitute_from="[{kind: Secret, name: s}]")
    )
    with pytest.raises(InputError, match=r"`\$\{NAME\}` in `metadata.name` cannot be resolved"):
        load_desired(["apps/dns"])
    assert main(["diff", "apps/dns", "--live", str(write(repo / "live.yaml", EMPTY_LIVE))]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unknown_variable_elsewhere_stays_as_written(repo: Path) -> None:
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dns\n  namespace: dns\n"
        "spec:\n  replicas: 1\n  template:\n    spec:\n      hostname: ${HOST}\n"
    )
    write(repo / "apps/dns/deploy.yaml", deployment)
    write(repo / "ks.yaml", kustomization("./apps", substitute_from="[{kind: Secret, name: s}]"))
    [obj] = load_desired(["apps/dns"]).objects
    assert obj.body["spec"]["template"]["spec"]["hostname"] == "${HOST}"


def test_a_source_after_an_unknown_one_is_sure_again(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    refs = "[{kind: Secret, name: elsewhere}, {kind: ConfigMap, name: settings}]"
    write(repo / "ks.yaml", kustomization("./apps", substitute_from=refs))
    write(repo / "settings.yaml", config_map("settings", "{DNS_IP: 10.0.0.1, PORT: '53', KEY: k}"))
    assert load_desired(["apps/dns"]).services["dns/dns"]["spec"]["loadBalancerIP"] == "10.0.0.1"
    # ...but not the other way round: `elsewhere` could override what `settings` set
    refs = "[{kind: ConfigMap, name: settings}, {kind: Secret, name: elsewhere}]"
    write(repo / "ks.yaml", kustomization("./apps", substitute_from=refs))
    [entry] = load_desired(["apps/dns"]).unrendered
    assert "`${KEY}`" in entry.reason


def test_strict_substitution_refuses_an_undefined_variable(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(repo / "ks.yaml", kustomization("./apps", substitute="{PORT: '53'}"))
    # not strict: undefined is empty, as Flux does by default
    assert load_desired(["apps/dns"]).services["dns/dns"]["spec"]["loadBalancerIP"] is None
    with pytest.raises(InputError) as caught:
        load_desired(["apps/dns"], strict_substitution=True)
    assert str(caught.value) == (
        "apps/dns/service.yaml: document 1, line 10: Flux substitution failed: "
        "`${DNS_IP}`: variable not set (strict mode)"
    )


def test_an_invalid_variable_name_is_refused_as_flux_refuses_it(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(repo / "ks.yaml", kustomization("./apps", substitute="{'1BAD': x}"))
    with pytest.raises(InputError, match="variable name `1BAD` is invalid"):
        load_desired(["apps/dns"])


def test_a_secret_that_is_not_base64_is_refused_without_its_value(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(repo / "ks.yaml", kustomization("./apps", substitute_from="[{kind: Secret, name: s}]"))
    write(repo / "s.yaml", config_map("s", "{DNS_IP: 'hunter2!!'}", "Secret"))
    with pytest.raises(InputError) as caught:
        load_desired(["apps/dns"])
    assert "hunter2" not in str(caught.value)
    assert "not base64" in str(caught.value)


def test_two_kustomizations_building_the_same_path_differently_get_a_note(repo: Path) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE.replace("${PORT}", "53"))
    write(repo / "a.yaml", kustomization("./apps", substitute="{DNS_IP: 10.0.0.1}"))
    other = kustomization("./apps", substitute="{DNS_IP: 10.0.0.2}").replace(
        "name: apps", "name: b"
    )
    write(repo / "b.yaml", other)
    write(repo / "apps/dns/other.yaml", service_yaml("other", "dns", "${X:=192.168.10.54}"))
    state = load_desired(["apps/dns"])
    assert state.services["dns/dns"]["spec"]["loadBalancerIP"] == "10.0.0.1"
    # one note for the path, not one per file
    [note] = [note for note in state.notes if "several Flux Kustomizations" in note]
    assert note.startswith("apps: built by several Flux Kustomizations with different variables")


def test_nothing_is_scanned_without_a_variable_or_a_helmrelease(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nor for the named path: no file of the repository names the Flux Kustomization API
    (flux_build's prefilter reads bytes, parses nothing)."""
    write(repo / "apps/dns/service.yaml", service_yaml("dns", "dns", "192.168.10.53"))
    write(repo / "apps/kustomization.yaml", "resources: [dns/service.yaml]\n")

    def refuse(*_: object) -> None:
        raise AssertionError("the repository was scanned")

    monkeypatch.setattr("planner.sources.flux_repository.FluxIndex.scan", refuse)
    assert "dns/dns" in load_desired(["apps/dns"]).services


def test_a_flux_kustomization_of_another_directory_scans_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Flux Kustomization whose path neither is, encloses nor lies below the named directory
    cannot build it: the prefilter finds no file naming that path (or the root)."""
    write(
        repo / "clusters/home/web.yaml", kustomization("./web").replace("name: apps", "name: web")
    )
    write(repo / "apps/dns/service.yaml", service_yaml("dns", "dns", "192.168.10.53"))

    def refuse(*_: object) -> None:
        raise AssertionError("the repository was scanned")

    monkeypatch.setattr("planner.sources.flux_repository.FluxIndex.scan", refuse)
    assert "dns/dns" in load_desired(["apps/dns"]).services


def test_nothing_is_scanned_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path in no repository (the generated bench repos) has no Flux Kustomization to look
    for: nothing is scanned."""
    write(tmp_path / "out/apps/dns/service.yaml", service_yaml("dns", "dns", "192.168.10.53"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the current directory holds it neither

    def refuse(*_: object) -> None:
        raise AssertionError("the repository was scanned")

    monkeypatch.setattr("planner.sources.flux_repository.FluxIndex.scan", refuse)
    assert "dns/dns" in load_desired([str(tmp_path / "out/apps/dns")]).services


def test_a_variable_in_a_repository_without_flux_kustomizations_scans_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kid/home-ops (Argo CD, 198 rendered files): one DaemonSet's shell script holds `${`, and
    reading every file that names a ConfigMap or Secret cost 2.7 s. No file names the Flux
    Kustomization API, so nothing can substitute it: the text stays as written, unscanned."""
    script = "echo ${NODE_NAME}"
    write(repo / "apps/dns/service.yaml", service_yaml("dns", "dns", "192.168.10.53"))
    write(
        repo / "apps/dns/config.yaml",
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: dns}}\n"
        f"data: {{run.sh: '{script}'}}\n",
    )

    def refuse(*_: object) -> None:
        raise AssertionError("the repository was scanned")

    monkeypatch.setattr("planner.sources.flux_repository.FluxIndex.scan", refuse)
    state = load_desired(["apps/dns"])
    assert "dns/dns" in state.services
    [config] = [o for o in state.objects if o.key.kind == "ConfigMap"]
    assert config.body["data"] == {"run.sh": script}


def test_a_repository_is_scanned_once_for_named_paths_and_substitution(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding the Flux Kustomization that builds a named path and substituting share one
    scan of the repository."""
    from planner.sources.flux_repository import FluxIndex

    write(repo / "ks.yaml", kustomization("./apps", substitute="{DNS_IP: 10.0.0.1, PORT: '53'}"))
    write(repo / "apps/dns/service.yaml", SERVICE)
    write(repo / "apps/web/service.yaml", service_yaml("web", "web", "192.168.10.80"))
    scans: list[object] = []
    scan = FluxIndex.scan

    def counted(repository: object) -> FluxIndex:
        scans.append(repository)
        return scan(repository)  # type: ignore[arg-type]

    monkeypatch.setattr("planner.sources.flux_repository.FluxIndex.scan", counted)
    state = load_desired(["apps/dns", "apps/web", "apps"])
    assert sorted(state.services) == ["dns/dns", "web/web"]
    assert len(scans) == 1


def test_gitops_callers_take_documents_as_written(repo: Path) -> None:
    """argocd generate and the Flux hook apply what they read: no substitution, no rendering."""
    text = SERVICE.replace("${DNS_IP}", "192.168.10.53").replace("${PORT}", "53")
    write(repo / "apps/dns/service.yaml", text)
    write(repo / "ks.yaml", kustomization("./apps", substitute="{KEY: k}"))
    sources = find_sources("apps/dns")
    key = "metallb.io/allow-shared-ip"
    as_written = load_sources(sources, evaluate_flux=False).objects[0].body
    assert as_written["metadata"]["annotations"][key] == "${KEY:=dns}"
    assert load_sources(sources).objects[0].body["metadata"]["annotations"][key] == "k"


@pytest.mark.parametrize(
    ("post_build", "message"),
    [
        ("[]", "`spec.postBuild` must be a mapping, not list"),
        ("{substituteFrom: {kind: ConfigMap}}", "`spec.postBuild.substituteFrom` must be a list"),
        ("{substituteFrom: [ConfigMap]}", "an entry of `spec.postBuild.substituteFrom` is not a"),
        ("{substitute: [A]}", "`spec.postBuild.substitute` must be a mapping, not list"),
    ],
)
def test_a_malformed_flux_kustomization_is_one_line_naming_it(
    repo: Path, post_build: str, message: str
) -> None:
    write(repo / "apps/dns/service.yaml", SERVICE)
    text = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata: {{name: apps, namespace: flux-system}}\nspec:\n  path: ./apps\n"
        f"  postBuild: {post_build}\n"
    )
    write(repo / "ks.yaml", text)
    with pytest.raises(InputError) as caught:
        load_desired(["apps/dns"])
    assert str(caught.value).startswith("ks.yaml: document 1, line 1: ")
    assert message in str(caught.value)
