"""planner.sources.kustomize_reuse: a build at a git ref reuses the work tree's output only when
every file it can load holds the same bytes; real kustomize (kubectl's) builds both ways.

The "ref" here is a second directory laid out as the repository, as `--live-git` exports one,
read through a FluxContext naming the work tree as its git top (what load_live_git hands on).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.cli import main
from planner.sources.desired import Source
from planner.sources.flux_build import FluxContext
from planner.sources.flux_overlay import BuildFields, render_with_fields
from planner.sources.flux_repository import Repository
from planner.sources.kustomize import render_kustomization
from planner.sources.kustomize_copy import RewrittenKustomization, render_rewritten
from planner.sources.kustomize_reuse import reuse_session, reused_or_built
from planner.sources.live import LiveSource
from tests.sources.conftest import (
    LB_SERVICE_CHART,
    git,
    kustomize_available,
    with_stand_in_helm,
    write,
)

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="needs kustomize or kubectl")

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  annotations:
    written: one
spec:
  type: LoadBalancer
  ports:
  - port: 80
"""

# One app naming a file of every kind kustomize loads; each holds "one", which reaches the
# output: writing "two" there changes what kustomize prints.
APP = {
    "apps/web/kustomization.yaml": """\
resources:
- service.yaml
- ../../bases/common
components:
- ../../components/team
commonAnnotations:
  level: one
labels:
- pairs:
    team: web
patches:
- path: patch.yaml
patchesStrategicMerge:
- psm.yaml
patchesJson6902:
- target: {version: v1, kind: Service, name: web}
  path: json6902.yaml
configMapGenerator:
- name: settings
  files: [settings.txt]
  envs: [settings.env]
secretGenerator:
- name: token
  files: [token=token.txt]
replacements:
- path: replacement.yaml
configurations:
- configuration.yaml
transformers:
- transformer.yaml
""",
    "apps/web/service.yaml": SERVICE.format(name="web"),
    "apps/web/patch.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
    "  annotations:\n    patched: one\n",
    "apps/web/psm.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
    "  annotations:\n    merged: one\n",
    "apps/web/json6902.yaml": "- op: add\n  path: /metadata/annotations/json6902\n  value: one\n",
    "apps/web/settings.txt": "one\n",
    "apps/web/settings.env": "KEY=one\n",
    "apps/web/token.txt": "one\n",
    "apps/web/replacement.yaml": """\
- source: {kind: ConfigMap, name: settings, fieldPath: data.KEY}
  targets:
  - select: {kind: Service, name: web}
    fieldPaths: [metadata.annotations.one]
    options: {create: true}
""",
    "apps/web/configuration.yaml": "commonAnnotations:\n- path: spec/one/annotations\n"
    "  create: true\n  kind: Service\n",
    "apps/web/transformer.yaml": """\
apiVersion: builtin
kind: AnnotationsTransformer
metadata: {name: notes}
annotations: {transformed: one}
fieldSpecs: [{path: metadata/annotations, create: true}]
""",
    "bases/common/kustomization.yaml": "resources:\n- service.yaml\n"
    "commonAnnotations:\n  base: one\n",
    "bases/common/service.yaml": SERVICE.format(name="common"),
    "components/team/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
commonAnnotations: {component: one}
patches:
- path: owner.yaml
  target: {kind: Service}
""",
    "components/team/owner.yaml": "- op: add\n  path: /metadata/annotations/owner\n  value: one\n",
}
WEB = "apps/web"


class Builds:
    """The work tree `work` and the tree at the ref `ref` (each a copy of the files), and a
    counter of the kustomize builds actually run."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.work, self.ref = root / "work", root / "ref"
        for tree in (self.work, self.ref):
            for path, text in files.items():
                write(tree / path, text)
        git(self.work, "init", "--quiet")  # its root is git's
        self.runs = 0
        self.helm = ""

    def build(self, tree: Path, directory: str = WEB, flux: FluxContext | None = None) -> str:
        """`directory` built in `tree` through reused_or_built, as desired.py builds it."""
        source = Source(tree / directory, directory, "kustomize")

        def run() -> tuple[str, list[str]]:
            self.runs += 1
            return render_kustomization(source.path, helm=self.helm), []

        return reused_or_built(source, False, flux or self.context(tree), False, run)[0]

    def context(self, tree: Path) -> FluxContext:
        """How load_sources reads `tree`: the work tree on its own, the ref's as exported from it."""
        if tree == self.work:
            return FluxContext()
        return FluxContext(Repository(self.ref, "REF:"), git_top=self.work)

    def fresh(self, tree: Path, directory: str = WEB) -> str:
        """What kustomize prints for `directory` in `tree`, built now."""
        return render_kustomization(tree / directory, helm=self.helm)


@pytest.fixture
def builds(tmp_path: Path) -> Iterator[Builds]:
    with reuse_session():
        yield Builds(tmp_path, APP)


def test_a_build_the_commit_leaves_alone_is_the_work_trees_output_not_built_again(
    builds: Builds,
) -> None:
    work = builds.build(builds.work)
    assert builds.build(builds.ref) == work == builds.fresh(builds.ref)
    assert builds.runs == 1


@pytest.mark.parametrize("changed", sorted(APP))
def test_a_file_changed_only_at_the_ref_is_built_again(builds: Builds, changed: str) -> None:
    work = builds.build(builds.work)
    at_ref = builds.ref / changed
    at_ref.write_text(re.sub(r"\bone\b", "two", at_ref.read_text()))
    fresh = builds.fresh(builds.ref)
    assert fresh != work  # the change reaches the output: a reuse would show
    assert builds.build(builds.ref) == fresh
    assert builds.runs == 2


# The inputs whose change need not reach the output: kustomize's OpenAPI schema and CRD
# definitions, and a transformer directory's kustomization.
SCHEMAS = {
    "apps/web/kustomization.yaml": "resources:\n- service.yaml\nopenapi:\n  path: schema.json\n"
    "crds:\n- crd.json\ntransformers:\n- notes\n",
    "apps/web/service.yaml": SERVICE.format(name="web"),
    "apps/web/schema.json": '{"definitions": {}}\n',
    "apps/web/crd.json": "{}\n",
    "apps/web/notes/kustomization.yaml": "resources:\n- annotate.yaml\n",
    "apps/web/notes/annotate.yaml": APP["apps/web/transformer.yaml"],
}


@pytest.mark.parametrize("changed", [None, *sorted(set(SCHEMAS) - {"apps/web/service.yaml"})])
def test_a_schema_or_transformer_directory_changed_only_at_the_ref_is_built_again(
    tmp_path: Path, changed: str | None
) -> None:
    """Unchanged, reused; changed in any byte at the ref, built again."""
    builds = Builds(tmp_path, SCHEMAS)
    with reuse_session():
        builds.build(builds.work)
        if changed is not None:
            (builds.ref / changed).write_text((builds.ref / changed).read_text() + "\n\n")
        assert builds.build(builds.ref) == builds.fresh(builds.ref)
    assert builds.runs == (1 if changed is None else 2)


EXTRA = "components/extra"


@pytest.mark.parametrize("changed", [None, f"{EXTRA}/kustomization.yaml", f"{EXTRA}/extra.yaml"])
def test_a_component_a_flux_kustomization_adds_is_part_of_the_build(
    tmp_path: Path, changed: str | None
) -> None:
    """`spec.components` of the Flux Kustomization building the app (flux_overlay writes them
    into its kustomization): changed only at the ref, built again."""
    files = {
        **APP,
        f"{EXTRA}/kustomization.yaml": "kind: Component\ncommonAnnotations: {kind: one}\npatches:\n- path: extra.yaml\n"
        "  target: {kind: Service}\n",
        f"{EXTRA}/extra.yaml": "- op: add\n  path: /metadata/annotations/extra\n  value: one\n",
    }
    builds = Builds(tmp_path, files)
    texts = []
    with reuse_session():
        for tree in (builds.work, builds.ref):
            if changed is not None and tree == builds.ref:
                (tree / changed).write_text(re.sub(r"\bone\b", "two", (tree / changed).read_text()))
                (tree / changed).write_text((tree / changed).read_text() + "# changed\n")
            fields = BuildFields(
                "Flux Kustomization flux-system/web", tree, components=("../../components/extra",)
            )
            source = Source(tree / WEB, WEB, "kustomize", "web", build=fields)

            def run(source: Source = source, fields: BuildFields = fields) -> tuple[str, list[str]]:
                builds.runs += 1
                return render_with_fields(source.path, WEB, fields, "web"), []

            texts.append(reused_or_built(source, True, builds.context(tree), False, run)[0])
        fresh = render_with_fields(builds.ref / WEB, WEB, fields, "web")
    assert texts[1] == fresh
    assert builds.runs == (1 if changed is None else 2)
    assert (texts[0] == fresh) == (changed is None)


@pytest.mark.parametrize("prefix_at_ref", ["web-", "old-"])
def test_an_argo_cd_rewritten_kustomization_is_reused_only_as_rewritten_the_same(
    tmp_path: Path, prefix_at_ref: str
) -> None:
    """An Application's `kustomize` settings rewrite the kustomization file (kustomize_copy):
    the rewritten text is part of the build, and a prefix changed at the ref builds again."""
    builds = Builds(tmp_path, APP)
    texts = []
    with reuse_session():
        for tree, prefix in ((builds.work, "web-"), (builds.ref, prefix_at_ref)):
            own = (tree / WEB / "kustomization.yaml").read_text() + f"namePrefix: {prefix}\n"
            rewritten = RewrittenKustomization(tree, "kustomization.yaml", own, "Application web")
            source = Source(tree / WEB, WEB, "kustomize", kustomization=rewritten)

            def run(source: Source = source) -> tuple[str, list[str]]:
                builds.runs += 1
                assert source.kustomization is not None
                return render_rewritten(source.path, WEB, source.kustomization), []

            texts.append(reused_or_built(source, False, builds.context(tree), False, run)[0])
        fresh = render_rewritten(builds.ref / WEB, WEB, rewritten)
    assert texts[1] == fresh
    assert builds.runs == (1 if prefix_at_ref == "web-" else 2)
    assert (texts[0] == fresh) == (prefix_at_ref == "web-")


def test_a_second_kustomization_file_at_the_ref_is_built_again(builds: Builds) -> None:
    builds.build(builds.work)
    write(builds.ref / WEB / "kustomization.yml", "resources: []\n")  # kustomize refuses both
    with pytest.raises(Exception, match="[Ff]ound multiple kustomization files"):
        builds.build(builds.ref)
    assert builds.runs == 2


@pytest.mark.parametrize("tree", ["work", "ref"])
def test_a_link_on_either_side_is_built_again(builds: Builds, tree: str) -> None:
    """The same bytes through a link: the link could point anywhere, so nothing is assumed."""
    side = builds.work if tree == "work" else builds.ref
    patch = side / WEB / "patch.yaml"
    (side / WEB / "elsewhere.yaml").write_bytes(patch.read_bytes())
    patch.unlink()
    patch.symlink_to("elsewhere.yaml")
    builds.build(builds.work)
    assert builds.build(builds.ref) == builds.fresh(builds.ref)
    assert builds.runs == 2


def test_a_build_of_another_repository_is_not_reused(builds: Builds, tmp_path: Path) -> None:
    builds.build(builds.work)
    other = FluxContext(Repository(builds.ref, "REF:"), git_top=tmp_path / "other")
    builds.build(builds.ref, flux=other)
    assert builds.runs == 2


def test_without_a_session_every_build_runs(tmp_path: Path) -> None:
    builds = Builds(tmp_path, APP)
    builds.build(builds.work)
    builds.build(builds.ref)
    assert builds.runs == 2


def test_an_output_naming_the_work_tree_is_not_reused(builds: Builds) -> None:
    """kustomize printed an absolute path: at the ref it would print the ref's."""
    service = builds.work / WEB / "service.yaml"
    named = service.read_text().replace("written: one", f"written: {builds.work}")
    for tree in (builds.work, builds.ref):
        (tree / WEB / "service.yaml").write_text(named)
    builds.build(builds.work)
    builds.build(builds.ref)
    assert builds.runs == 2


def test_a_field_not_known_here_records_nothing(builds: Builds) -> None:
    """kustomize accepts the deprecated `helmChartInflationGenerator`; nothing here says which
    files it loads, so the build is not recorded."""
    for tree in (builds.work, builds.ref):
        kustomization = tree / WEB / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text() + "helmChartInflationGenerator: []\n")
    work = builds.build(builds.work)
    assert builds.build(builds.ref) == work
    assert builds.runs == 2


CHART_APP = {
    **{f"apps/chart/{path}": text for path, text in LB_SERVICE_CHART.items()},
    "apps/chart/kustomization.yaml": """\
helmCharts:
- name: lb-service
  releaseName: web
  namespace: default
  valuesFile: values.yaml
  additionalValuesFiles: [more.yaml]
""",
    "apps/chart/values.yaml": "service:\n  ports:\n  - port: 80\n",
    "apps/chart/more.yaml": "service:\n  annotations: {owner: one}\n",
}


@pytest.mark.parametrize("changed", [None, *sorted(CHART_APP)])
def test_a_helm_chart_build_is_reused_only_with_the_same_chart_and_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str | None
) -> None:
    """`--enable-helm` with the stand-in helm (tests/fakes/helm renders lb-service from its
    values): a values file or a file of the chart's tree changed at the ref is built again."""
    kubectl = shutil.which("kubectl") or shutil.which("kustomize")
    with_stand_in_helm(tmp_path / "unused", tmp_path, monkeypatch)
    assert kubectl is not None
    (tmp_path / "bin" / Path(kubectl).name).symlink_to(kubectl)
    builds = Builds(tmp_path, CHART_APP)
    builds.helm = str(tmp_path / "bin" / "helm")
    with reuse_session():
        work = builds.build(builds.work, "apps/chart")
        if changed is not None:
            text = (builds.ref / changed).read_text()
            (builds.ref / changed).write_text(re.sub(r"\bone\b", "two", text) + "# changed\n")
        fresh = builds.fresh(builds.ref, "apps/chart")
        assert builds.build(builds.ref, "apps/chart") == fresh
    assert builds.runs == (1 if changed is None else 2)
    if changed is None:
        assert fresh == work


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of two apps, as the current directory, whose work tree changes one app's
    Service since HEAD; `kubectl` on PATH is a wrapper logging each run to kubectl.log."""
    repo = tmp_path / "repo"
    for app in ("web", "dns"):
        write(repo / f"apps/{app}/kustomization.yaml", "resources:\n- service.yaml\n")
        write(repo / f"apps/{app}/service.yaml", SERVICE.format(name=app))
    git(repo, "init", "--quiet")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "apps")
    dns = repo / "apps/dns/service.yaml"
    dns.write_text(dns.read_text().replace("port: 80", "port: 8053"))
    wrapper = tmp_path / "bin" / "kubectl"
    real = shutil.which("kubectl")
    if real is None:
        pytest.skip("needs kubectl (the logging wrapper execs it)")
    write(wrapper, f'#!/bin/sh\necho "$*" >> {tmp_path}/kubectl.log\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    path = [str(wrapper.parent), *os.environ["PATH"].split(os.pathsep)]
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in path if not _has_kustomize(p)))
    monkeypatch.chdir(repo)
    return repo


def _has_kustomize(directory: str) -> bool:
    return os.path.exists(os.path.join(directory, "kustomize"))


def _diff(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["diff", "apps", "--live-git", "HEAD", "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    report.pop("live_source", None)
    return code, report


def test_planner_diff_live_git_builds_at_the_ref_only_the_changed_app(
    history: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same report as building every app at the ref, with one kustomize run fewer."""
    log = history.parent / "kubectl.log"
    reused = _diff(capsys)
    runs = log.read_text().splitlines()
    log.unlink()
    monkeypatch.setattr(LiveSource, "sharing_builds", lambda _self: contextlib.nullcontext())
    assert _diff(capsys) == reused
    assert len(log.read_text().splitlines()) == 4  # both apps, both sides
    assert len(runs) == 3  # dns at the ref only
    assert [run for run in runs if "planner-git-" in run] == [_at_ref(runs, "apps/dns")]


def _at_ref(runs: list[str], app: str) -> str:
    return next(run for run in runs if "planner-git-" in run and run.endswith(app))


def test_a_commit_changing_only_argo_cds_build_options_builds_at_the_ref_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commit lifts kustomize's load restrictor in argocd-cm and touches nothing the overlay
    loads: the ref's build runs with the ref's options (the restrictor refuses the shared patch
    there), not the work tree's output reused (argocm17 and refkust17 merged)."""
    repo = tmp_path / "repo"
    write(repo / "apps/web/base/kustomization.yaml", "resources:\n- service.yaml\n")
    write(repo / "apps/web/base/service.yaml", SERVICE.format(name="web"))
    write(repo / "shared/patch.yaml", "- op: add\n  path: /metadata/labels\n  value: {a: b}\n")
    write(
        repo / "apps/web/home/kustomization.yaml",
        "resources:\n- ../base\npatches:\n- path: ../../../shared/patch.yaml\n"
        "  target: {kind: Service}\n",
    )
    options = "configs:\n  cm:\n    kustomize.buildOptions: --enable-helm{}\n"
    write(repo / "argocd/values.yaml", options.format(""))
    git(repo, "init", "--quiet")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "restricted")
    write(repo / "argocd/values.yaml", options.format(" --load-restrictor LoadRestrictionsNone"))
    monkeypatch.chdir(repo)
    main(["diff", "apps/web/home", "--live-git", "HEAD", "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    assert [entry.split(": ", 1)[0] for entry in report["unrendered"]] == [
        "HEAD:apps/web/home/kustomization.yaml"
    ]
    assert "is not in or below" in report["unrendered"][0]
