"""An Argo CD ApplicationSet generates its Applications as the controller would (list, git
directories and files of this repository, the in-cluster cluster, a matrix of them; templates in
fasttemplate or Go template form), and each generated Application is followed as a written one
is. What cannot be generated exactly makes the set not followed, with the reason, counted.
The whole layout is tests/test_real_samples.py's real-argocd-applicationset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from planner.cli import main
from planner.sources import load_desired
from planner.sources.argocd_env import NotEvaluated
from planner.sources.argocd_template import Mode, go_text, replace
from planner.sources.states import DesiredState
from tests.conftest import SAMPLES
from tests.sources.conftest import git, service_yaml, write

SEED = SAMPLES / "seed-dns-local"
REPO_URL = "https://github.com/example/home-ops.git"
GIT_DIRECTORIES = f"- git:\n    repoURL: {REPO_URL}\n    revision: HEAD\n    directories:\n"
TEMPLATE = (
    "  template:\n    metadata:\n      name: '{name}'\n    spec:\n      project: default\n"
    f"      source:\n        repoURL: {REPO_URL}\n        targetRevision: HEAD\n"
    "        path: '{path}'\n"
    "      destination:\n        {destination}\n        namespace: '{namespace}'\n"
)


def appset(
    generators: str,
    name: str = "{{path.basename}}",
    path: str = "{{path}}",
    namespace: str = "{{path.basename}}",
    destination: str = "server: https://kubernetes.default.svc",
    spec: str = "",
) -> str:
    """An ApplicationSet `argocd/apps` with these generators (YAML list items, unindented)."""
    listed = "".join(f"  {line}\n" for line in generators.splitlines())
    template = TEMPLATE.format(name=name, path=path, namespace=namespace, destination=destination)
    return (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\n"
        "metadata:\n  name: apps\n  namespace: argocd\n"
        f"spec:\n{spec}  generators:\n{listed}{template}"
    )


def directories(*entries: str) -> str:
    return GIT_DIRECTORIES + "".join(f"    - {entry}\n" for entry in entries)


@pytest.fixture
def apps_repo(repo: Path) -> Path:
    """Two app directories (`apps/dns`: the seed's DNS Services; `apps/web`: one Service without
    a namespace), a remote, and argo/ for the ApplicationSet."""
    git(repo, "remote", "add", "origin", REPO_URL)
    shutil.copy(SEED / "desired/dns.yaml", repo / "dns.yaml")
    (repo / "apps/dns").mkdir(parents=True)
    shutil.move(repo / "dns.yaml", repo / "apps/dns/dns.yaml")
    write(repo / "apps/web/service.yaml", service_yaml("web"))
    return repo


def loaded(written: str) -> DesiredState:
    """The desired state of `argo/` holding the ApplicationSet `written`."""
    write(Path("argo/appset.yaml"), written)
    return load_desired(["argo"])


def services(written: str) -> list[str]:
    return sorted(loaded(written).services)


def unchecked(written: str) -> list[str]:
    return [str(entry) for entry in loaded(written).unrendered]


def not_followed(written: str, reason: str) -> None:
    """The set is one note, not followed for `reason`, counted and blocking `--fail-on`."""
    [entry] = unchecked(written)
    assert entry.startswith(
        "argo/appset.yaml: document 1, line 1: ApplicationSet argocd/apps not followed ("
    ), entry
    assert reason in entry, entry
    live = str(SEED / "live.yaml")
    assert main(["diff", "argo", "--live", live, "--fail-on", "unrendered"]) == 3


# --- generators ---------------------------------------------------------------------------


def test_git_directories_find_the_seed_key_change(
    apps_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(apps_repo / "argo/appset.yaml", appset(directories("path: apps/*")))
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml")]) == 1
    out = capsys.readouterr().out
    assert "update Service dns/dns-tcp" in out and "update Service dns/dns-udp" in out
    assert "create Service web/web" in out  # placed in its generated destination namespace
    assert "not followed" not in out


def test_directory_patterns_are_go_path_match_where_star_stays_in_a_directory(
    apps_repo: Path,
) -> None:
    write(apps_repo / "apps/web/nested/service.yaml", service_yaml("nested"))
    assert services(appset(directories("path: apps/*"))) == [
        "dns/dns-tcp", "dns/dns-udp", "web/web",
    ]  # fmt: skip
    # `**` is no more than `*` in path.Match: apps/web/nested is still not generated
    assert services(appset(directories("path: apps/**"))) == [
        "dns/dns-tcp", "dns/dns-udp", "web/web",
    ]  # fmt: skip
    assert services(appset(directories("path: apps/*/*"))) == ["nested/nested"]
    assert services(appset(directories("path: apps/[d]*"))) == ["dns/dns-tcp", "dns/dns-udp"]


def test_an_exclude_entry_drops_what_it_matches(apps_repo: Path) -> None:
    written = appset(directories("path: apps/*", "{path: apps/dns, exclude: true}"))
    assert services(written) == ["web/web"]


def test_hidden_directories_are_never_generated(apps_repo: Path) -> None:
    write(apps_repo / "apps/.hidden/service.yaml", service_yaml("hidden"))
    assert "hidden/hidden" not in services(appset(directories("path: apps/*")))


def test_path_segments_and_normalized_basename(apps_repo: Path) -> None:
    shutil.move(apps_repo / "apps/web", apps_repo / "apps/Web_App")
    written = appset(
        directories("path: apps/*"), name="{{path[0]}}-{{path.basenameNormalized}}"
    ).replace("namespace: '{{path.basename}}'", "namespace: '{{path.basenameNormalized}}'")
    assert "web-app/web" in services(written)


def test_git_files_are_flattened_with_dots(apps_repo: Path) -> None:
    config = {"app": {"name": "frontend", "namespace": "front"}, "ports": [80]}
    write(apps_repo / "apps/web/config.json", json.dumps(config))
    generators = f"- git:\n    repoURL: {REPO_URL}\n    revision: HEAD\n    files:\n"
    generators += "    - path: apps/*/config.json\n"
    written = appset(generators, name="{{app.name}}-{{ports.0}}", namespace="{{app.namespace}}")
    assert services(written) == ["front/web"]
    [entry] = load_desired(["argo"]).unrendered or [None]
    assert entry is None


def test_a_git_file_holding_a_list_generates_one_application_each(apps_repo: Path) -> None:
    write(apps_repo / "clusters.yaml", "- {ns: one}\n- {ns: two}\n")
    generators = f"- git:\n    repoURL: {REPO_URL}\n    revision: HEAD\n    files:\n"
    generators += "    - path: clusters.yaml\n"
    written = appset(generators, name="web-{{ns}}", path="apps/web", namespace="{{ns}}")
    # one directory synced by two generated Applications is read once (as for written ones)
    assert services(written) == ["one/web"]
    assert unchecked(written) == []


def test_a_file_pattern_the_globbing_setting_decides_is_not_followed(apps_repo: Path) -> None:
    write(apps_repo / "apps/web/deep/config.json", "{}")
    generators = f"- git:\n    repoURL: {REPO_URL}\n    revision: HEAD\n    files:\n"
    generators += "    - path: apps/*/config.json\n"  # git's `*` crosses `/`, doublestar's not
    not_followed(appset(generators), "depend on the controller's new git file globbing")


def test_list_elements_render_the_fasttemplate(apps_repo: Path) -> None:
    generators = "- list:\n    elements:\n    - {app: web, ns: edge}\n"
    written = appset(generators, name="{{ app }}", path="apps/{{app}}", namespace="{{ns}}")
    assert services(written) == ["edge/web"]


def test_list_values_and_literal_elements_yaml(apps_repo: Path) -> None:
    generators = (
        "- list:\n    elements:\n    - {app: web, values: {ns: edge}}\n"
        "    elementsYaml: |\n      - {app: web, values.ns: lab}\n"
    )
    written = appset(generators, name="{{app}}-{{values.ns}}", path="apps/{{app}}")
    written = written.replace("namespace: '{{path.basename}}'", "namespace: '{{values.ns}}'")
    state = loaded(written)
    assert sorted(state.services) == ["edge/web"]  # lab's copy of the directory is read once
    assert state.unrendered == ()


def test_a_list_element_that_is_not_a_string_is_not_followed(apps_repo: Path) -> None:
    generators = "- list:\n    elements:\n    - {app: web, replicas: 2}\n"
    not_followed(appset(generators, name="{{app}}"), "list element key `replicas` is not a string")


def test_clusters_generate_for_the_in_cluster_cluster_with_a_note(apps_repo: Path) -> None:
    generators = "- clusters: {values: {app: web}}\n"
    written = appset(
        generators,
        name="{{name}}-{{values.app}}",
        path="apps/{{values.app}}",
        namespace="{{nameNormalized}}",
        destination="server: '{{server}}'",
    )
    state = loaded(written)
    assert sorted(state.services) == ["in-cluster/web"]
    assert any("read as the in-cluster cluster only" in note for note in state.notes)


def test_clusters_registered_in_the_repository_are_not_evaluated(apps_repo: Path) -> None:
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: local\n  namespace: argocd\n"
        "  labels:\n    argocd.argoproj.io/secret-type: cluster\n"
        "stringData:\n  name: local\n  server: https://kubernetes.default.svc\n"
    )
    write(apps_repo / "argocd/clusters/local.yaml", secret)  # it renames the in-cluster one
    not_followed(
        appset("- clusters: {}\n", name="{{name}}-web", path="apps/web"),
        "`argocd/clusters/local.yaml` registers a cluster with Argo CD",
    )


def test_a_clusters_selector_is_not_followed(apps_repo: Path) -> None:
    generators = "- clusters:\n    selector:\n      matchLabels: {env: prod}\n"
    not_followed(appset(generators), "selects clusters by their Secrets' labels")


def test_a_matrix_combines_directories_with_a_list(apps_repo: Path) -> None:
    generators = (
        "- matrix:\n    generators:\n"
        + "".join(f"    {line}\n" for line in directories("path: apps/web").splitlines())
        + "    - list:\n        elements:\n        - {env: lab}\n        - {env: prod}\n"
    )
    written = appset(generators, name="{{path.basename}}-{{env}}", namespace="{{env}}")
    state = loaded(written)
    assert sorted(state.services) == ["lab/web"]  # apps/web read once for both
    assert state.unrendered == ()


def test_a_generator_selector_keeps_the_sets_it_matches(apps_repo: Path) -> None:
    generators = (
        "- list:\n    elements:\n    - {app: web, tier: edge}\n    - {app: dns, tier: core}\n"
        "  selector:\n    matchLabels: {tier: edge}\n"
    )
    written = appset(generators, name="{{app}}", path="apps/{{app}}", namespace="{{app}}")
    assert services(written) == ["web/web"]


def test_git_values_are_templated_with_the_path(apps_repo: Path) -> None:
    generators = directories("path: apps/web") + "    values:\n      ns: 'team-{{path.basename}}'\n"
    written = appset(generators).replace(
        "namespace: '{{path.basename}}'", "namespace: '{{values.ns}}'"
    )
    assert services(written) == ["team-web/web"]


def test_a_generator_template_is_merged_over_the_sets(apps_repo: Path) -> None:
    generators = directories("path: apps/web") + "    template:\n      spec:\n"
    generators += "        destination: {namespace: own}\n      metadata: {}\n"
    assert services(appset(generators)) == ["own/web"]


# --- Go templates -------------------------------------------------------------------------


GO = "  goTemplate: true\n"


def test_go_template_fields_index_and_functions(apps_repo: Path) -> None:
    written = appset(
        directories("path: apps/web"),
        name="{{ .path.basename | upper | lower }}",
        path="{{ .path.path }}",
        namespace='{{ index .path.segments 0 }}-{{ default "x" .missing }}',
        spec=GO,
    )
    assert services(written) == ["apps-x/web"]


def test_go_template_missing_key_prints_no_value_unless_an_error(apps_repo: Path) -> None:
    written = appset(
        directories("path: apps/web"), path="{{ .path.path }}{{ .nothing }}", spec=GO
    ).replace("{{path.basename}}", "{{ .path.basename }}")
    [entry] = unchecked(written)  # Go prints `<no value>`: the path is not in the repository
    assert "its path `apps/web<no value>` is not a directory" in entry
    assert "(generated by ApplicationSet argocd/apps)" in entry
    strict = written.replace(GO, GO + "  goTemplateOptions: ['missingkey=error']\n")
    not_followed(strict, "`.nothing` names a missing key under missingkey=error")


def test_normalize_is_argo_cds_own(apps_repo: Path) -> None:
    shutil.move(apps_repo / "apps/web", apps_repo / "apps/Web_App.")
    written = appset(
        directories("path: apps/Web*"),
        name="{{ .path.basename | normalize }}",
        path="{{ .path.path }}",
        namespace="{{ normalize .path.basename }}",
        spec=GO,
    )
    assert services(written) == ["web-app/web"]


@pytest.mark.parametrize(
    "text",
    [
        '{{ printf "%d" .n }}',
        '{{ printf "%s" .n }}',
        '{{ printf "%s" .name .n }}',
        "{{ toYaml . }}",
        "{{ .n.x }}",  # into a number: Go fails
        "{{ .gone.x }}",  # into a missing map: Go fails
        "{{ lower .n }}",
    ],
)
def test_go_forms_not_evaluated_are_refused(text: str) -> None:
    with pytest.raises(NotEvaluated) as refused:
        replace(text, {"name": "web", "n": 12345}, Mode(go_template=True))
    assert "12345" not in str(refused.value)  # parameter values may come from files


def test_a_go_expression_not_evaluated_makes_the_set_not_followed(apps_repo: Path) -> None:
    written = appset(
        directories("path: apps/*"), name="{{ if .path }}x{{ end }}", path="{{.path.path}}",
        spec=GO,
    )  # fmt: skip
    not_followed(written, "`if` in `{{ if .path }}x{{ end }}` is not evaluated")


@pytest.mark.parametrize(
    ("value", "printed"),
    [(8080, "8080"), (1000000, "1e+06"), (123456, "123456"), (1.5, "1.5"), (0.00001, "1e-05"),
     (True, "true"), (None, "<no value>")],
)  # fmt: skip
def test_numbers_print_as_go_prints_a_float64(value: object, printed: str) -> None:
    assert go_text(value) == printed


# --- what is not followed -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("generators", "reason"),
    [
        ("- scmProvider: {github: {organization: example}}\n", "`scmProvider` generator lists"),
        ("- pullRequest: {github: {owner: example, repo: x}}\n", "`pullRequest` generator lists"),
        ("- plugin: {configMapRef: {name: p}}\n", "`plugin` generator asks a plugin"),
        ("- clusterDecisionResource: {configMapRef: x}\n", "reads a resource in the cluster"),
        (
            GIT_DIRECTORIES.replace(REPO_URL, "https://github.com/someone/else")
            + "    - path: a\n",
            "reads https://github.com/someone/else, which is not a remote of this repository",
        ),
        (
            GIT_DIRECTORIES.replace("HEAD", "v1.0.0") + "    - path: a\n",
            "reads revision `v1.0.0`, not the checked-out branch",
        ),
    ],
)
def test_generators_not_evaluated_are_said_and_counted(
    apps_repo: Path, generators: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    not_followed(appset(generators), reason)
    capsys.readouterr()
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "passes: no changes; 1 ApplicationSet not followed (Services unchecked)"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("  templatePatch: '{}'\n", "its `templatePatch` is not evaluated"),
        ("  syncPolicy: {applicationsSync: create-only}\n", "keeps an existing Application"),
        (
            "  ignoreApplicationDifferences:\n  - jsonPointers: [/spec/source/targetRevision]\n",
            "keeps fields of the live Applications",
        ),
    ],
)
def test_what_changes_what_is_synced_and_is_not_evaluated(
    apps_repo: Path, spec: str, reason: str
) -> None:
    not_followed(appset(directories("path: apps/*"), spec=spec), reason)


def test_what_does_not_change_what_is_synced_is_ignored(apps_repo: Path) -> None:
    spec = (
        "  syncPolicy: {preserveResourcesOnDeletion: true, applicationsSync: create-update}\n"
        "  ignoreApplicationDifferences:\n  - jsonPointers: [/spec/syncPolicy]\n"
        "  strategy: {type: RollingSync, rollingSync: {steps: []}}\n"
    )
    assert services(appset(directories("path: apps/web"), spec=spec)) == ["web/web"]


def test_two_applications_of_one_name_are_not_followed(apps_repo: Path) -> None:
    not_followed(appset(directories("path: apps/*"), name="same"), "two Applications named `same`")


def test_a_generated_application_not_followed_is_named_with_its_set(
    apps_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = appset(directories("path: apps/web"), destination="name: edge")
    assert unchecked(written) == [
        (
            "argo/appset.yaml: document 1, line 1: Application argocd/web (generated by "
            "ApplicationSet argocd/apps) not followed (its destination is the cluster named "
            "`edge`, not in-cluster: its Services are not in this plan); its Services were not "
            "checked"
        )
    ]
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "passes: no changes; 1 Application not followed (Services unchecked)"


def test_the_generator_reads_another_branch_as_checked_out_with_a_note(apps_repo: Path) -> None:
    git(apps_repo, "add", "-A")
    git(apps_repo, "commit", "--quiet", "-m", "apps")
    git(apps_repo, "branch", "release")
    written = appset(GIT_DIRECTORIES.replace("HEAD", "release") + "    - path: apps/web\n")
    state = loaded(written)
    assert sorted(state.services) == ["web/web"]
    assert (
        "argo/appset.yaml: document 1, line 1: ApplicationSet argocd/apps: its git generator's "
        "revision `release` is not the checked-out branch (main); its files were read as "
        "checked out"
    ) in state.notes


def test_generation_runs_on_the_tree_at_the_git_ref(
    apps_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(apps_repo / "argo/appset.yaml", appset(directories("path: apps/*")))
    shutil.rmtree(apps_repo / "apps/web")
    git(apps_repo, "add", "-A")
    git(apps_repo, "commit", "--quiet", "-m", "before: dns only")
    write(apps_repo / "apps/web/service.yaml", service_yaml("web"))
    git(apps_repo, "add", "-A")
    git(apps_repo, "commit", "--quiet", "-m", "web added: the set generates its Application")
    assert main(["diff", "argo", "--live-git", "HEAD~1"]) == 1
    out = capsys.readouterr().out
    assert "create Service web/web" in out and "update Service" not in out


def test_a_merge_overrides_the_first_generators_sets_by_merge_key(apps_repo: Path) -> None:
    generators = (
        "- merge:\n    mergeKeys: [app]\n    generators:\n"
        "    - list: {elements: [{app: web, ns: lab}, {app: dns, ns: dns}]}\n"
        "    - list: {elements: [{app: web, ns: edge}, {app: gone, ns: gone}]}\n"
    )
    written = appset(generators, name="{{app}}", path="apps/{{app}}", namespace="{{ns}}")
    state = loaded(written)
    assert sorted(state.services) == ["dns/dns-tcp", "dns/dns-udp", "edge/web"]
    assert state.unrendered == ()


def test_a_merge_key_repeated_in_one_generator_is_not_followed(apps_repo: Path) -> None:
    generators = (
        "- merge:\n    mergeKeys: [app]\n    generators:\n"
        "    - list: {elements: [{app: web}, {app: web}]}\n"
        "    - list: {elements: [{app: web}]}\n"
    )
    not_followed(appset(generators, name="{{app}}"), "sets repeat the merge key")


def test_the_json_report_lists_a_generated_application_not_followed(
    apps_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(apps_repo / "argo/appset.yaml", appset(directories("path: apps/web"), path="gone"))
    assert main(["diff", "argo", "--live", str(SEED / "live.yaml"), "-o", "json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["unrendered"]
    assert "Application argocd/web (generated by ApplicationSet argocd/apps) not followed" in entry
    assert "its path `gone` is not a directory of the repository" in entry


def test_a_path_param_prefix_names_the_parameters(apps_repo: Path) -> None:
    generators = directories("path: apps/web") + "    pathParamPrefix: app\n"
    written = appset(
        generators, name="{{app.path.basename}}", path="{{app.path}}", namespace="{{app.path[1]}}"
    )
    assert services(written) == ["web/web"]


def test_a_matrix_reads_each_directorys_file_named_by_the_first_generator(
    apps_repo: Path,
) -> None:
    write(apps_repo / "apps/web/env.yaml", "namespace: edge\n")
    git_files = f"- git:\n    repoURL: {REPO_URL}\n    revision: HEAD\n    files:\n"
    git_files += "    - path: '{{path}}/env.yaml'\n    pathParamPrefix: env\n"
    generators = (
        "- matrix:\n    generators:\n"
        + "".join(f"    {line}\n" for line in directories("path: apps/*").splitlines())
        + "".join(f"    {line}\n" for line in git_files.splitlines())
    )
    # apps/dns has no env.yaml: the second generator gives it no set, so no Application
    assert services(appset(generators, namespace="{{namespace}}")) == ["edge/web"]


def test_go_template_files_keep_their_objects(apps_repo: Path) -> None:
    write(apps_repo / "apps/web/config.yaml", "app: {namespace: front}\nreplicas: 2\n")
    generators = f"- git:\n    repoURL: {REPO_URL}\n    revision: HEAD\n    files:\n"
    generators += "    - path: apps/web/config.yaml\n"
    written = appset(
        generators,
        name="{{ .path.basename }}",
        path="{{ .path.path }}",
        namespace='{{ .app.namespace | quote | trimPrefix `"` | trimSuffix `"` }}',
        spec=GO,
    )
    state = loaded(written)
    assert sorted(state.services) == ["front/web"]
    assert state.unrendered == ()


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("{{ .name }}-{{- .n -}}  !", "web-2!"),  # trim markers take the spaces around
        ("{{ .name }} - {{ .n }}", "web - 2"),
        ("{{ index .segments 1 | upper }}", "B"),
        ("{{ (index .segments 0) }}/{{ .name | replace `e` `a` }}", "a/wab"),
        ('{{ default .name .empty }}{{ default "x" .n }}', "web2"),
        ("{{ .deep.key }}", "v"),
        ("{{ .missing }}", "<no value>"),
        ("{{ $.name }}", "web"),
        ('{{ printf "%s-%v%%" .name .n }}', "web-2%"),
        ("{{ base `apps/web/` }}{{ `apps/x` | base }}", "webx"),
        ("{{ quote .name .n }}", '"web" "2"'),
        ('{{ quote "a\\"b" }}', '"a\\"b"'),
        ("{{ toJson .deep }}{{ toJson .segments }}", '{"key":"v"}["a","b"]'),
        (
            '{{ toJson "<&>" }} {{ toJson 1000000 }} {{ toJson 0.0000001 }}',
            '"\\u003c\\u0026\\u003e" 1000000 1e-7',
        ),
    ],
)
def test_go_template_forms(text: str, printed: str) -> None:
    data = {"name": "web", "n": 2, "segments": ["a", "b"], "empty": "", "deep": {"key": "v"}}
    assert replace(text, data, Mode(go_template=True)) == printed


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("{{path}}", "apps/web"),
        ("{{ path }}-x", "apps/web-x"),
        ("{{unknown}}", "{{unknown}}"),  # written back as it was
        ("{{n}}", "{{n}}"),  # not a string parameter: written back
        ("no tags {{", "no tags {{"),  # no `{{…}}` on a line: not templated at all
    ],
)
def test_fasttemplate_forms(text: str, printed: str) -> None:
    assert replace(text, {"path": "apps/web", "n": 2}, Mode()) == printed


def test_a_matrix_lists_each_files_apps_through_to_json(apps_repo: Path) -> None:
    """A common layout: one file per cluster listing its apps, a matrix turning the list into
    elements (`elementsYaml: "{{ .apps | toJson }}"`)."""
    write(apps_repo / "clusters/lab.yaml", "cluster: lab\napps:\n  - {name: web, ns: edge}\n")
    generators = (
        "- matrix:\n    generators:\n"
        f"    - git:\n        repoURL: {REPO_URL}\n        revision: HEAD\n"
        "        files: [{path: clusters/*.yaml}]\n"
        "    - list:\n        elementsYaml: '{{ .apps | toJson }}'\n"
    )
    written = appset(
        generators,
        name="{{ .cluster }}-{{ .name }}",
        path="apps/{{ .name }}",
        namespace="{{ .ns }}",
        spec=GO,
    )
    state = loaded(written)
    assert sorted(state.services) == ["edge/web"]
    assert state.unrendered == ()
