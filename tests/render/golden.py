"""Golden snapshots of rendered reports in tests/golden/render/.

Regenerate after a deliberate change with `PLANNER_UPDATE_GOLDEN=1 python -m pytest tests/render`,
then read the diff of the snapshot files before committing them.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden" / "render"


def assert_matches_golden(name: str, actual: str) -> None:
    """Fail unless `actual` equals the snapshot file `name` byte for byte."""
    path = GOLDEN_DIR / name
    if os.environ.get("PLANNER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"no snapshot {path}; create it with PLANNER_UPDATE_GOLDEN=1"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"{name} differs from its snapshot (PLANNER_UPDATE_GOLDEN=1 updates)"
