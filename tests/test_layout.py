"""The layout's rules, checked: imports only point down the pipeline, and the pure stages do no
I/O (the import-linter contracts in pyproject.toml; docs/DESIGN.md explains them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, needs

pytestmark = needs("import-linter")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's own command on the package under `root`, with no cache."""
    command = [
        sys.executable,
        "-c",
        (
            "import sys; from importlinter.cli import lint_imports_command;"
            " sys.exit(lint_imports_command())"
        ),
        "--no-cache",
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    # The check can fail: a copy of the package whose model imports the CLI is refused.
    shutil.copytree(REPO_ROOT / "planner", tmp_path / "planner")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    pools = tmp_path / "planner" / "model" / "pools.py"
    pools.write_text("import planner.cli\n" + pools.read_text(encoding="utf-8"), encoding="utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "planner.model is not allowed to import planner.cli" in result.stdout
