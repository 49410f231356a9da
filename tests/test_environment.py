"""tests/conftest.py refuses to run the suite in an interpreter that is not the project's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _MissingImports, environment_problems, missing_modules


def _pyproject(tmp_path: Path, dependencies: list[str], test: list[str]) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        f'[project]\nname = "pytest"\ndependencies = {dependencies!r}\n'
        f"[project.optional-dependencies]\ntest = {test!r}\n".replace("'", '"'),
        encoding="utf-8",
    )
    return path


def test_a_missing_dependency_and_a_version_out_of_range_are_named(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, ["no-such-distribution-xyz>=1"], ["pytest<1"])
    problems = environment_problems(pyproject)
    assert problems[0] == "no-such-distribution-xyz>=1 (not installed)"
    assert problems[1].startswith("pytest<1 (") and problems[1].endswith(" installed)")
    assert len(problems) == 2


def test_the_projects_own_environment_has_no_problem() -> None:
    assert environment_problems() == []


def test_pytest_xdist_may_be_missing(tmp_path: Path) -> None:
    assert environment_problems(_pyproject(tmp_path, [], ["pytest-xdist>=999"])) == []


def test_missing_distributions_are_named_by_the_module_they_are_imported_as(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, ["ruamel.yaml-xyz-absent>=1", "pytest"], ["no-such-pkg-xyz"])
    assert missing_modules(pyproject) == {"ruamel", "no_such_pkg_xyz"}


def test_an_attempt_to_import_a_missing_module_is_noted_and_still_fails() -> None:
    recorder = _MissingImports(frozenset({"no_such_module_xyz"}))
    import sys

    sys.meta_path.insert(0, recorder)
    try:
        with pytest.raises(ModuleNotFoundError):
            __import__("no_such_module_xyz.sub")
    finally:
        sys.meta_path.remove(recorder)
    assert recorder.tried == {"no_such_module_xyz"}
