"""The verdict line: one function gives the exit code and the sentence every report begins with,
what blocks comes first and is never folded, and the command passes its --fail-on through."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from planner.analysis.build import FAIL_ON_POLICIES, exit_code, verdict
from planner.analysis.records import DiffReport
from planner.cli import main
from planner.diff import Change
from planner.objects import ObjectKey
from planner.pipeline import build_report
from planner.render import render
from planner.render.markdown import render_markdown
from planner.render.text import render_text
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES
from tests.render.sample_report import sample_conflicts, sample_report

WARNING_ONLY = sample_conflicts()[1:]


def _no_conflicts(target: str = "metallb-0.15") -> DiffReport:
    return replace(sample_report(), conflicts=WARNING_ONLY, target=target)


def test_a_static_conflict_blocks_whatever_the_policy() -> None:
    for fail_on in FAIL_ON_POLICIES:
        judged = verdict(sample_report(), fail_on)
        assert (judged.code, judged.sentence) == (3, "blocks: 1 static conflict")
    two = replace(sample_report(), conflicts=sample_conflicts()[:1] * 2)
    assert verdict(two).sentence == "blocks: 2 static conflicts"


def test_no_change_passes() -> None:
    unchanged = Change(key=ObjectKey("Service", "a", "b"), op="unchanged")
    report = replace(_no_conflicts(), changes=(unchanged,))
    judged = verdict(report, "pending")
    assert (judged.code, judged.sentence, judged.blocks) == (0, "passes: no changes", False)


def test_stuck_services_block_under_the_stuck_policy_and_are_named() -> None:
    judged = verdict(_no_conflicts("metallb-0.14"), "stuck")
    assert judged.code == 3 and judged.blocks
    assert judged.sentence == "blocks: 1 Service stuck under metallb-0.14 (--fail-on stuck)"
    assert judged.services == ("dns/dns-tcp",)


def test_briefly_pending_services_pass_stuck_and_block_pending() -> None:
    passing = verdict(_no_conflicts(), "stuck")
    assert passing.code == 1
    assert passing.sentence == (
        "passes: changes, none leaves a Service stuck under metallb-0.15 "
        "(1 Service pending for a while)"
    )
    blocking = verdict(_no_conflicts(), "pending")
    assert blocking.code == 3
    assert blocking.sentence == "blocks: 1 Service pending under metallb-0.15 (--fail-on pending)"


def test_never_passes_and_says_what_it_let_through() -> None:
    judged = verdict(_no_conflicts("metallb-0.14"), "never")
    assert judged.code == 1
    assert judged.sentence == (
        "passes: changes; 1 Service stuck under metallb-0.14, allowed by --fail-on never"
    )
    fixed = verdict(_no_conflicts("fixed"), "never")
    assert fixed.sentence == "passes: changes, none makes a Service go pending under fixed"


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="sometimes"):
        verdict(sample_report(), "sometimes")


SAMPLE_DIRS = sorted(
    p.parent for p in SAMPLES.glob("*/expected.yaml") if (p.parent / "desired").is_dir()
)


@pytest.mark.parametrize("sample", SAMPLE_DIRS, ids=lambda p: p.name)
def test_every_report_begins_with_the_verdict_of_its_exit_code(sample: Path) -> None:
    report = build_report([str(sample / "desired")], LiveSource.file(str(sample / "live.yaml")))
    for fail_on in FAIL_ON_POLICIES:
        judged = verdict(report, fail_on)
        assert exit_code(report, fail_on) == judged.code
        assert render_text(report, fail_on=fail_on).splitlines()[0] == judged.sentence
        first = render_markdown(report, fail_on=fail_on).splitlines()[0]
        assert first == f"{'❌' if judged.blocks else '✅'} **{judged.sentence}**"
        data = json.loads(render(report, "json", fail_on=fail_on))
        assert (data["verdict"]["exit_code"], data["verdict"]["text"]) == (
            judged.code,
            judged.sentence,
        )


def test_the_swap_sample_blocks_on_its_two_stuck_services() -> None:
    sample = SAMPLES / "swap-ips"
    report = build_report([str(sample / "desired")], LiveSource.file(str(sample / "live.yaml")))
    text = render_text(report, fail_on="stuck")
    assert text.startswith("blocks: 2 Services stuck under metallb-0.15 (--fail-on stuck)\n")
    blocking = text.index("Blocking: Services under metallb-0.15 (--fail-on stuck)")
    assert blocking < text.index("Summary")
    assert "  shop/blue: pending, stuck" in text[blocking : text.index("Summary")]


def test_the_command_prints_the_verdict_of_its_own_fail_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = SAMPLES / "seed-dns-local"
    args = [str(seed / "desired"), "--live", str(seed / "live.yaml"), "--target", "metallb-0.14"]
    for fail_on, code, first in (
        ("stuck", 3, "blocks: 2 Services stuck under metallb-0.14 (--fail-on stuck)"),
        (
            "never",
            1,
            "passes: changes; 2 Services stuck under metallb-0.14, allowed by --fail-on never",
        ),
    ):
        assert main(["diff", *args, "--fail-on", fail_on]) == code
        assert capsys.readouterr().out.splitlines()[0] == first


def _outside_details(markdown: str) -> str:
    return re.sub(r"<details>.*?</details>", "", markdown, flags=re.DOTALL)


def test_blocking_conflicts_come_first_and_unfolded_in_markdown() -> None:
    text = render_markdown(sample_report())
    error = "TCP/80 is used twice on 192.168.10.80"
    assert text.index(error) < text.index("## shared-ip planner") < text.index("<details>")
    assert error in _outside_details(text)
    assert "sharing across namespaces" not in _outside_details(text)  # a warning stays folded


def test_blocking_services_come_first_and_unfolded_in_markdown() -> None:
    text = render_markdown(_no_conflicts("metallb-0.14"))
    assert text.startswith("❌ **blocks: 1 Service stuck under metallb-0.14 (--fail-on stuck)**")
    head = _outside_details(text)
    assert "### ❌ Blocking: Services under metallb-0.14 (`--fail-on stuck`)" in head
    assert (
        "- **dns/dns-tcp**: pending, stuck (in some orders) until the next Namespace or pool"
        " change, a controller restart, or a nudge: MetalLB says can't change"
    ) in head
    assert head.index("Blocking") < head.index("## shared-ip planner")


def test_a_passing_report_has_no_blocking_section() -> None:
    assert "Blocking" not in render_text(_no_conflicts())
    assert "Blocking" not in render_markdown(_no_conflicts())


def test_the_markdown_report_links_the_glossary() -> None:
    assert "[glossary](docs/glossary.md)" in render_markdown(sample_report())
