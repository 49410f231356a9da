"""Renderers of `planner diff` reports: text (terminals), Markdown (PR comments), JSON (machines),
and the Mermaid picture of a plan's waves (`mermaid_waves`, for `DiffReport.extras["mermaid"]`).

    from planner.render import render
    sys.stdout.write(render(report, "markdown", fail_on="stuck"))

Text and Markdown begin with the verdict line of `planner.analysis.build.verdict`, the function
that also gives the command's exit code.

Renderers only format a `planner.analysis.records.DiffReport`; they compute nothing and never print
Secret values (every Secret patch value goes through `planner.diff.redact_secret` once more).
"""

from __future__ import annotations

from planner.analysis.build import DEFAULT_FAIL_ON
from planner.analysis.records import DiffReport
from planner.render.json_report import load_schema, render_json, report_to_dict
from planner.render.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from planner.render.mermaid import mermaid_waves
from planner.render.text import render_text

FORMATS: tuple[str, ...] = ("text", "markdown", "json")

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


def render(
    report: DiffReport, output: str, color: bool = False, fail_on: str = DEFAULT_FAIL_ON
) -> str:
    """The report in `output` format ("text", "markdown" or "json"), with its verdict under the
    `fail_on` policy; colour applies to text only."""
    if output == "markdown":
        return render_markdown(report, fail_on=fail_on)
    if output == "json":
        return render_json(report, fail_on=fail_on)
    if output == "text":
        return render_text(report, color=color, fail_on=fail_on)
    raise ValueError(f"unknown report format {output!r}; expected one of {', '.join(FORMATS)}")
