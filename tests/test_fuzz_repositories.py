"""The fuzz test of real repository layouts: the samples/real-* histories (Flux Kustomizations,
Argo CD Applications and ApplicationSets, kustomize overlays), one file mutated, reviewed as
`planner diff APP --live-git HEAD~1` and `planner plan` at the repository's top, in-process.

tests/test_fuzz.py mutates plain `desired/` directories; the code that follows a repository
(flux_follow, argocd_follow, argocd_appset, kustomize and its safety checks, the export of a git
ref) reads other files, on both sides of the review: the mutated file is either the commit's (the
work tree) or the base's (HEAD~1). Each command must keep the rules of tests/test_fuzz.py: exit 0,
1, 2 or 3, no traceback, on 2 exactly one line and no file written. kustomize runs for real
(`kubectl kustomize`, as in tests/test_real_samples.py).

CI runs a few derandomized examples (git and kustomize run for each: 3 s an example); run it
longer with `PLANNER_FUZZ_EXAMPLES=500` (then at random).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from planner.cli import main
from tests.sources.conftest import kustomize_available
from tests.test_fuzz import (
    EXAMPLES_ENV,
    Outcome,
    check_outcome,
    dump_yaml,
    mutate_bytes,
    mutate_tree,
)
from tests.test_real_samples import SAMPLE_DIRS, build_history

REF = "HEAD~1"
CI_EXAMPLES = 6
SIDES = ("commit", "base")  # the work tree's file, or the same file as HEAD~1 has it


def _yaml_files(top: Path) -> list[str]:
    """The repository's YAML files, relative to its top (the .git directory left out)."""
    return sorted(
        str(p.relative_to(top))
        for p in top.rglob("*")
        if p.suffix in (".yaml", ".yml") and ".git" not in p.parts and p.is_file()
    )


def _mutated(raw: bytes, data: st.DataObject) -> bytes:
    if data.draw(st.booleans(), label="by bytes"):
        return mutate_bytes(raw, data)
    try:
        docs = list(yaml.safe_load_all(raw))
    except yaml.YAMLError:
        return mutate_bytes(raw, data)
    return dump_yaml(mutate_tree(docs, data)) if docs else mutate_bytes(raw, data)


def build_mutated_history(work: Path, data: st.DataObject) -> tuple[Path, str]:
    """A sample's history under `work` with one YAML file mutated on one side (the commit's in
    the work tree, or the base's before it is committed); the repository and the app to review."""
    sample = data.draw(st.sampled_from(SAMPLE_DIRS), label="sample")
    app: str = yaml.safe_load((sample / "expected.yaml").read_text())["history"]["app"]
    top = work / "repo"
    if data.draw(st.sampled_from(SIDES), label="side") == "base":
        copy = work / "sample"
        shutil.copytree(sample, copy)
        path = copy / "repo" / data.draw(st.sampled_from(_yaml_files(copy / "repo")), label="file")
        path.write_bytes(_mutated(path.read_bytes(), data))
        return build_history(copy, top), app
    build_history(sample, top)
    path = top / data.draw(st.sampled_from(_yaml_files(top)), label="file")
    path.write_bytes(_mutated(path.read_bytes(), data))
    return top, app


def _files(top: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(top)): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(top).parts
    }


def run_command(
    argv: list[str], top: Path, capsys: pytest.CaptureFixture[str], label: str
) -> Outcome:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(top)
        code = main(argv)
    out, err = capsys.readouterr()
    return Outcome(label, code, out, err)


@pytest.mark.skipif(not kustomize_available(), reason="needs kubectl kustomize")
@settings(
    max_examples=int(os.environ.get(EXAMPLES_ENV, "0") or 0) or CI_EXAMPLES,
    derandomize=not os.environ.get(EXAMPLES_ENV),  # CI: the same examples every run
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),  # explaining takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_diff_and_plan_survive_a_mutated_repository(
    data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-repo-") as work:
        top, app = build_mutated_history(Path(work), data)
        commands = {
            "diff": ["diff", app, "--live-git", REF, "-o", "json"],
            "plan": ["plan", app, "--live-git", REF],
        }
        for label, argv in commands.items():
            before = _files(top)
            outcome = run_command(argv, top, capsys, label)
            event(f"{label} exit {outcome.code}")
            check_outcome(outcome, before, _files(top))
