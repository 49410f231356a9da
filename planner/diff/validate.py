"""The type checks of the fields the planner reads now run as sources are read
(planner/sources/validate.py), so every command refuses the same input; kept for its importers."""

from __future__ import annotations

from planner.sources.validate import check_fields

__all__ = ["check_fields"]
