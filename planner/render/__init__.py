"""Renderers of `planner diff` reports: text (terminals), Markdown (PR comments), JSON (machines),
and the Mermaid picture of a plan's waves (`mermaid_waves`, for `DiffReport.extras["mermaid"]`).

    from planner.render import render
    sys.stdout.write(render(report, "markdown", fail_on="stuck"))

Text and Markdown begin with the verdict line of `planner.analysis.build.verdict`, the function
that also gives the command's exit code.

Renderers only format a `planner.analysis.records.DiffReport`; they compute nothing and never print
Secret values (every Secret patch value goes through `planner.diff.redact_secret` once more).

Each format's module is imported when that format is rendered (or its name is first read from
this package): a text diff never loads Markdown, Mermaid (which imports the plan stage) or JSON.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from planner.analysis.build import DEFAULT_FAIL_ON
from planner.analysis.records import DiffReport

if TYPE_CHECKING:  # the names this package re-exports, for type checkers
    from planner.render.json_report import load_schema, render_json, report_to_dict
    from planner.render.markdown import GITHUB_COMMENT_LIMIT, render_markdown
    from planner.render.mermaid import mermaid_waves
    from planner.render.text import render_text

FORMATS: tuple[str, ...] = ("text", "markdown", "json")

# name -> the module that defines it (imported on first use, see __getattr__)
_LAZY: dict[str, str] = {
    "GITHUB_COMMENT_LIMIT": "planner.render.markdown",
    "load_schema": "planner.render.json_report",
    "mermaid_waves": "planner.render.mermaid",
    "render_json": "planner.render.json_report",
    "render_markdown": "planner.render.markdown",
    "render_text": "planner.render.text",
    "report_to_dict": "planner.render.json_report",
}

__all__ = [
    "FORMATS",
    "GITHUB_COMMENT_LIMIT",
    "load_schema",
    "mermaid_waves",
    "render",
    "render_json",
    "render_markdown",
    "render_text",
    "report_to_dict",
]


def __getattr__(name: str) -> Any:
    """A re-exported name, importing its module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later reads skip this function
    return value


def render(
    report: DiffReport, output: str, color: bool = False, fail_on: str = DEFAULT_FAIL_ON
) -> str:
    """The report in `output` format ("text", "markdown" or "json"), with its verdict under the
    `fail_on` policy; colour applies to text only."""
    if output == "markdown":
        from planner.render.markdown import render_markdown

        return render_markdown(report, fail_on=fail_on)
    if output == "json":
        from planner.render.json_report import render_json

        return render_json(report, fail_on=fail_on)
    if output == "text":
        from planner.render.text import render_text

        return render_text(report, color=color, fail_on=fail_on)
    raise ValueError(f"unknown report format {output!r}; expected one of {', '.join(FORMATS)}")
