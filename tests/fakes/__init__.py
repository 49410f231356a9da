"""Stand-ins for external programs (kubectl, helm), backed by the project's MetalLB model."""

import shlex
import sys
from pathlib import Path


def put_python_on_path(bin_dir: Path) -> None:
    """`python3` in `bin_dir` running this test's interpreter, virtualenv and all, for stand-ins
    whose shebang is `/usr/bin/env python3`. A wrapper, not a symlink: a symlinked venv python
    outside its venv does not find pyvenv.cfg and runs without the venv's packages."""
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
