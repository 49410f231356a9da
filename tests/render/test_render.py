"""The renderers as a whole: format dispatch, and no Secret value in any output."""

from __future__ import annotations

import base64

import pytest

from planner.render import FORMATS, render
from tests.render.sample_report import SECRET_PLAIN, SECRET_VALUE, sample_report


@pytest.mark.parametrize("output", FORMATS)
@pytest.mark.parametrize("color", [False, True])
def test_no_secret_value_in_any_output(output: str, color: bool) -> None:
    text = render(sample_report(), output, color=color)
    for secret in (SECRET_VALUE, SECRET_PLAIN, base64.b64decode(SECRET_VALUE).decode()):
        assert secret not in text
    assert "Secret dns/tsig-key" in text or '"tsig-key"' in text  # the change itself is shown
    assert "<redacted>" in text


def test_each_format_is_its_own() -> None:
    report = sample_report()
    assert render(report, "text").startswith("planner diff: target metallb-0.15")
    assert render(report, "markdown").startswith("## shared-ip planner")
    assert render(report, "json").startswith("{")
    assert "\x1b[" in render(report, "text", color=True)
    assert "\x1b[" not in render(report, "markdown", color=True)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="yaml"):
        render(sample_report(), "yaml")
