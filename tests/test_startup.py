"""Start-up: the CLI imports a verb's library only when that verb runs (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from planner.cli import cli
from planner.commands import COMMANDS, VERBS, LazyCommands
from planner.commands._lazy import LazyChoice, LazyValue, resolve

ROOT = Path(__file__).resolve().parent.parent

# Run `planner ARGS` in a fresh interpreter and print which modules it imported.
# Only what the run imported counts: an interpreter's site hooks (.pth files) may load modules
# such as random or tempfile before any planner code runs (the machine's own Python here does).
_PROBE = """
import sys
started = set(sys.modules)
import contextlib, io, json
from planner.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(set(sys.modules) - started)}))
"""

# The pipeline's stages: none of them is needed to print the group's help or a version.
_STAGES = ("model", "sources", "diff", "simulate", "analysis", "plan", "render", "apply", "gitops")
# Heavy libraries that neither `--help` nor a text diff needs (networkx orders plan units,
# jsonschema checks JSON reports and Argo CD inputs, ruamel.yaml edits files for annotate).
_HEAVY = ("networkx", "jsonschema", "ruamel")
# What a text diff never needs: the plan stage and the other report formats.
_NOT_FOR_A_DIFF = (
    "planner.plan",
    "planner.apply",
    "planner.gitops",
    "planner.render.markdown",
    "planner.render.mermaid",
    "planner.render.json_report",
    "planner.render.plan",
    "tarfile",  # --live-git only
    "shlex",  # showing a kubectl command line only
    "click.shell_completion",  # `planner completion` only
    "subprocess",  # running a program (kustomize, helm, git, kubectl) only
    "tempfile",  # a HelmRelease's values file, a git ref's tree only
    "shutil",  # what tempfile brought (with bz2 and lzma)
    "planner.kubectl",  # --live-kubectl only
    "planner.files",  # --output-file only (secrets, hmac)
    "planner.sources.flux_repository",  # a `${`, `$$` or HelmRelease in a document only
    "planner.sources.flux_substitute",
    "planner.sources.helmrelease",
    "planner.sources.safety",
    "planner.sources.argocd_follow",  # an Argo CD Application among the documents only
    "planner.sources.argocd_kustomize",
    "planner.sources.argocd_appset",  # an ApplicationSet among the documents only
    "planner.sources.argocd_template",
    "planner.sources.kustomize_copy",  # a kustomization rewritten (Flux fields, Argo CD settings)
    "planner.simulate.poolsplit",  # pieces split from one pool, and a plan's wave ends only
    "planner.simulate.symmetry",  # a shape: only for components of equal size (World.shape)
    "planner.model.selectors",  # a pool (or a Flux patch) with a label selector only
    "random",  # a seeded pool order or drawn schedules only (a small diff explores every order)
    "hashlib",  # OpenSSL's libcrypto: the digests use CPython's own sha256 (planner.digest)
    "_hashlib",
    # the other verbs' modules: the CLI imports a verb's module when the verb is looked up
    "planner.commands.annotate",
    "planner.commands.apply",
    "planner.commands.argocd",
    "planner.commands.completion",
    "planner.commands.flux",
    "planner.commands.plan",
)


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules of `modules` that are one of `names` or inside one of them."""
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


def _imported(*args: str) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    answer = json.loads(result.stdout)
    return int(answer["code"]), set(answer["modules"])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["completion", "bash"]])
def test_group_help_imports_no_library(args: list[str]) -> None:
    code, modules = _imported(*args)
    assert code == 0
    assert "networkx" not in modules
    assert _loaded(modules, _HEAVY) == []
    assert "yaml" not in modules
    stages = sorted(m for m in modules if m.split(".")[1:2] and m.split(".")[1] in _STAGES)
    assert stages == []


def test_diff_imports_the_pipeline_but_not_networkx() -> None:
    # networkx orders plan units (planner.plan.graph); a diff does not plan, so it never pays it.
    # The probe can tell: a diff does load the pipeline (so the checks above are not vacuous).
    sample = ROOT / "samples" / "seed-dns-local"
    code, modules = _imported("diff", str(sample / "desired"), "--live", str(sample / "live.yaml"))
    assert code == 1
    assert "planner.pipeline" in modules
    assert "networkx" not in modules
    assert _loaded(modules, _HEAVY) == []
    assert _loaded(modules, _NOT_FOR_A_DIFF) == []
    assert "planner.render.text" in modules


def test_markdown_diff_and_plan_import_what_they_need() -> None:
    # The lazy imports still load what a command uses (the probes above are not vacuous).
    sample = ROOT / "samples" / "seed-dns-local"
    desired, live = str(sample / "desired"), str(sample / "live.yaml")
    _, markdown = _imported("diff", desired, "--live", live, "--output", "markdown")
    assert "planner.render.markdown" in markdown
    assert "planner.render.json_report" not in markdown
    _, json_diff = _imported("diff", desired, "--live", live, "--output", "json")
    assert "planner.render.json_report" in json_diff
    _, planned = _imported("plan", desired, "--live", live)
    assert "planner.plan.build" in planned
    assert "graphlib" in planned  # networkx only for a plan with a cycle (test_import_laziness)


def test_a_plan_of_several_waves_still_imports_what_it_defers() -> None:
    # Modules a diff defers, loaded where a plan uses them: a second wave starts from the
    # first one's end state (planner.simulate.world.end_state, with poolsplit.disjoint_fresh).
    sample = ROOT / "samples" / "swap-ips"
    code, modules = _imported("plan", str(sample / "desired"), "--live", str(sample / "live.yaml"))
    assert code == 0
    assert "planner.simulate.poolsplit" in modules


def test_a_diff_of_same_sized_components_imports_the_shapes(tmp_path: Path) -> None:
    # The seed sample has one component, so no shape is computed (and symmetry stays out); a
    # templated repo's groups are the same size, so their shapes are compared.
    from bench.generate import write_repo

    write_repo(tmp_path, services=80, group_size=4, seed=1)
    desired, live = str(tmp_path / "desired"), str(tmp_path / "live.yaml")
    code, modules = _imported("diff", desired, "--live", live)
    assert code == 1
    assert "planner.simulate.symmetry" in modules


_SELECTING_POOL = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24]
  serviceAllocation: {serviceSelectors: [{matchLabels: {app.kubernetes.io/name: coredns}}]}
"""


def test_a_diff_with_a_selecting_pool_imports_the_label_selectors(tmp_path: Path) -> None:
    seed = ROOT / "samples" / "seed-dns-local"
    (tmp_path / "dns.yaml").write_text((seed / "desired" / "dns.yaml").read_text())
    (tmp_path / "pool.yaml").write_text(_SELECTING_POOL)
    code, modules = _imported("diff", str(tmp_path), "--live", str(seed / "live.yaml"))
    assert code == 1
    assert "planner.model.selectors" in modules


def test_group_help_lists_every_verb_and_version_imports_none() -> None:
    # `--help` lists every verb (so it imports their modules); `--version` needs none of them.
    _, helped = _imported("--help")
    assert _loaded(helped, tuple(_verb_modules())) == sorted(_verb_modules())
    _, versioned = _imported("--version")
    assert _loaded(versioned, tuple(_verb_modules())) == []


def _verb_modules() -> set[str]:
    return {spec.partition(":")[0] for spec in VERBS.values()}


def test_every_verb_resolves_to_its_command() -> None:
    assert sorted(cli.commands) == sorted(VERBS)
    for name in VERBS:
        assert cli.commands[name].name == name
    assert [command.name for command in COMMANDS] == list(VERBS)
    assert cli.commands.get("no-such-verb") is None


def test_lazy_commands_refuse_an_entry_that_is_not_the_named_command() -> None:
    with pytest.raises(TypeError, match="not the click command 'plan'"):
        _ = LazyCommands({"plan": "planner.commands.diff:diff"})["plan"]
    with pytest.raises(TypeError, match="not the click command"):
        _ = LazyCommands({"diff": "planner.commands._shared:COLOR_MODES"})["diff"]


def test_an_unknown_verb_is_refused_as_before() -> None:
    argv = [sys.executable, "-c", _PROBE, "no-such-verb"]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    assert "No such command 'no-such-verb'" in result.stderr


_FLUX_DOCUMENTS = """\
apiVersion: v1
kind: Service
metadata:
  name: dns
  annotations: {owner: "${TENANT}"}
spec:
  type: LoadBalancer
  ports: [{port: 53}]
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  chart: {spec: {chart: ./charts/web, sourceRef: {kind: GitRepository, name: repo}}}
"""


def test_a_diff_of_flux_documents_imports_the_flux_modules(tmp_path: Path) -> None:
    # The Flux modules are deferred, not dropped: a `${VAR}` or a HelmRelease still loads them.
    (tmp_path / "apps.yaml").write_text(_FLUX_DOCUMENTS)
    live = ROOT / "samples" / "seed-dns-local" / "live.yaml"
    _, modules = _imported("diff", str(tmp_path / "apps.yaml"), "--live", str(live))
    flux = ("planner.sources.flux_repository", "planner.sources.flux_substitute")
    assert _loaded(modules, (*flux, "planner.sources.helmrelease")) == sorted(
        [*flux, "planner.sources.helmrelease"]
    )


def test_render_package_names_resolve_lazily() -> None:
    # Each name planner.render re-exports is importable from it, as before the lazy imports.
    import planner.render

    for name in planner.render.__all__:
        assert getattr(planner.render, name) is not None, name
    with pytest.raises(AttributeError):
        _ = planner.render.no_such_name


def _params() -> list[tuple[str, click.Parameter]]:
    found: list[tuple[str, click.Parameter]] = []

    def walk(command: click.Command, path: str) -> None:
        found.extend((f"{path} {param.name}", param) for param in command.params)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "planner")
    return found


def test_every_lazy_option_resolves() -> None:
    lazy = 0
    for where, param in _params():
        if isinstance(param.type, LazyChoice):
            lazy += 1
            assert param.type.choices == tuple(resolve(param.type.spec)), where
            assert param.type.choices, where
        if isinstance(param.default, LazyValue):
            lazy += 1
            ctx = click.Context(cli)
            assert param.get_default(ctx) == resolve(param.default.spec), where
            assert param.type.convert(param.get_default(ctx), param, ctx) is not None, where
    assert lazy >= 10  # every verb's choices are lazy; a new option names its module the same way


def test_lazy_choice_converts_and_refuses_like_choice() -> None:
    choice = LazyChoice("planner.render.plan:GRAPH_FORMATS")
    assert choice.convert("dot", None, None) == "dot"
    with pytest.raises(click.BadParameter, match="mermaid"):
        choice.convert("svg", None, None)


def test_lazy_value_shows_its_value_in_help() -> None:
    value = LazyValue("planner.analysis.build:DEFAULT_FAIL_ON")
    assert str(value) == "stuck"
    assert value() == "stuck"
    help_text = " ".join(cli.commands["diff"].get_help(click.Context(cli.commands["diff"])).split())
    assert "[default: stuck]" in help_text
    assert "dynamic" not in help_text
